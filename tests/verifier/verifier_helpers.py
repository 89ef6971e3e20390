"""Test-side actors for the verifier tests: an issuer, a registry stand-in and a wallet.

The issuer issues real SD-JWT VCs with :func:`sdjwt.issue` and signs real
status lists; the registry stand-in implements :class:`registry.trust.TrustSource`
with the typed refusals the ledger raises (``KeyNotValid`` with its rule,
``UnknownDID``); the wallet answers OpenID4VP requests the way the
specification says a wallet does (fetch the request object by reference,
check its signature against the ``decentralized_identifier`` client id, build
the ``vp_token`` from the DCQL query, ``direct_post`` it).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Mapping

import sdjwt
from registry.errors import KeyNotValid, UnknownDID
from registry.trust import StaticTrust
from sdjwt.jws import CompactJWS

NATIONAL_ID = "urn:civicid:national_id:1"
RESIDENCE = "urn:civicid:residence_permit:1"
BENEFIT = "urn:civicid:benefit_eligibility:1"
T0 = 1_800_000_000
STATUS_URI = "https://issuer.example/status/1"
ISSUER_DID = "did:civic:QmTestIssuer0000000000000000000000000000000000"

CANARY = "CANARY-7f3a9c"


def counter_random(seed: int = 0) -> Any:
    state = {"n": seed}

    def random(n: int) -> bytes:
        state["n"] += 1
        return (state["n"].to_bytes(8, "big") * ((n // 8) + 1))[:n]

    return random


def national_id_claims(*, age65: bool = True, city: str = "Shenzhen", canary: str | None = None) -> dict[str, Any]:
    mark = canary or ""
    return {
        "given_name": "Mei" + mark,
        "family_name": "Li" + mark,
        "birthdate": "1950-01-01",
        "sex": 2,
        "nationalities": ["CN"],
        "personal_identifier": "440300195001010000" + mark,
        "address": {
            "street_address": "1 Shennan Road" + mark,
            "locality": city,
            "region": "Guangdong",
            "postal_code": "518000" + mark,
            "country": "CN",
        },
        "age_equal_or_over": {"18": True, "65": age65},
    }


NATIONAL_ID_DISCLOSABLE: list[tuple[Any, ...]] = [
    ("given_name",), ("family_name",), ("birthdate",), ("sex",), ("personal_identifier",),
    ("nationalities", None), ("address",), ("address", "street_address"), ("address", "locality"),
    ("address", "region"), ("address", "postal_code"), ("address", "country"),
    ("age_equal_or_over",), ("age_equal_or_over", "18"), ("age_equal_or_over", "65"),
]


class LedgerTrust(StaticTrust):
    """StaticTrust with the ledger's typed refusals: unknown DIDs, key windows and compromise."""

    compromised: dict[tuple[str, str], int]

    def __init__(self) -> None:
        super().__init__()
        self.compromised = {}

    def compromise(self, did: str, kid: str, since: int) -> None:
        self.compromised[(did, kid)] = since

    def key_at(self, did: str, kid: str | None, at: int | None) -> sdjwt.PublicKey:
        if did.startswith("did:key:"):
            return super().key_at(did, kid, at)
        if not any(d == did for d, _ in self.keys):
            raise UnknownDID(f"{did} is not in the ledger")
        found = self.keys.get((did, kid or ""))
        if found is None:
            raise KeyNotValid("no such key", rule="unknown_kid")
        key, valid_from, valid_until = found
        since = self.compromised.get((did, kid or ""))
        if since is not None and at is not None and at >= since:
            raise KeyNotValid("key compromised", rule="compromised")
        if at is None or at < valid_from:
            raise KeyNotValid("not yet added", rule="not_yet_added")
        if valid_until is not None and at >= valid_until:
            raise KeyNotValid("removed", rule="removed")
        return key


@dataclass
class Issuer:
    """An issuing office: a registry DID, a key, a status list served through an injected fetcher."""

    trust: LedgerTrust
    did: str = ISSUER_DID
    kid: str = ISSUER_DID + "#key-1"
    key: sdjwt.Ed25519PrivateKey = field(default_factory=lambda: sdjwt.Ed25519PrivateKey(b"\x11" * 32))
    statuses: dict[int, int] = field(default_factory=dict)
    next_idx: int = 0
    served: dict[str, str] = field(default_factory=dict)
    list_ttl: int = 300

    def __post_init__(self) -> None:
        self.trust.add_key(self.did, self.kid, self.key.public_key(), valid_from=T0 - 10 * 365 * 86400)
        for vct in (NATIONAL_ID, RESIDENCE, BENEFIT):
            self.trust.accredit(self.did, vct, valid_from=T0 - 10 * 365 * 86400)

    def issue(
        self,
        holder: sdjwt.PrivateKey,
        claims: Mapping[str, Any] | None = None,
        *,
        vct: str = NATIONAL_ID,
        iat: int = T0,
        exp: int | None = T0 + 10 * 365 * 86400,
        disclosable: list[tuple[Any, ...]] | None = None,
        key: sdjwt.PrivateKey | None = None,
        kid: str | None = None,
        iss: str | None = None,
    ) -> str:
        idx = self.next_idx
        self.next_idx += 1
        issued = sdjwt.issue(
            claims if claims is not None else national_id_claims(),
            disclosable=disclosable if disclosable is not None else NATIONAL_ID_DISCLOSABLE,
            issuer_key=key or self.key,
            kid=kid or self.kid,
            iss=iss or self.did,
            vct=vct,
            iat=iat,
            exp=exp,
            random=counter_random(idx * 1000),
            holder_jwk=holder.public_key().public_jwk(),
            status=sdjwt.StatusReference(idx, STATUS_URI),
            decoys=2,
        )
        return issued.serialize()

    def set_status(self, idx: int, value: int) -> None:
        self.statuses[idx] = value

    def status_token(self, iat: int = T0) -> str:
        lst = sdjwt.StatusList.empty(1024, bits=2).with_status(self.statuses)
        return sdjwt.sign_status_list(lst, uri=STATUS_URI, key=self.key, kid=self.kid, iat=iat, ttl=self.list_ttl)

    def fetcher(self, now: Any = lambda: T0) -> Any:
        calls: list[str] = []

        def fetch(uri: str) -> str:
            calls.append(uri)
            if uri != STATUS_URI:
                raise OSError("no such list")
            return self.status_token(now())

        fetch.calls = calls  # type: ignore[attr-defined]
        return fetch


def present(credential: str, paths: list[tuple[Any, ...]], holder: sdjwt.PrivateKey, *, aud: str, nonce: str, iat: int) -> str:
    return sdjwt.create_presentation(credential, paths, holder_key=holder, aud=aud, nonce=nonce, iat=iat)


class Wallet:
    """A minimal OpenID4VP 1.0 wallet over HTTP (urllib), for the end-to-end tests."""

    def __init__(self, holder: sdjwt.PrivateKey, credentials: Mapping[str, str], now: Any) -> None:
        self.holder = holder
        self.credentials = dict(credentials)  # vct -> SD-JWT
        self.now = now

    def fetch_request(self, uri: str) -> tuple[dict[str, Any], str]:
        parsed = urllib.parse.urlsplit(uri)
        assert parsed.scheme == "openid4vp"
        query = dict(urllib.parse.parse_qsl(parsed.query))
        client_id = query["client_id"]
        with urllib.request.urlopen(query["request_uri"], timeout=10) as response:
            assert response.headers["Content-Type"].startswith("application/oauth-authz-req+jwt")
            token = response.read().decode("ascii")
        jws = CompactJWS.parse(token)
        assert jws.header["typ"] == "oauth-authz-req+jwt"
        prefix = "decentralized_identifier:"
        assert client_id.startswith(prefix)
        did = client_id[len(prefix):]
        assert jws.header["kid"].partition("#")[0] == did
        jws.verify_signature(sdjwt.key_from_did(did))
        request = jws.payload
        assert request["client_id"] == client_id
        return request, client_id

    def build_vp_token(self, request: Mapping[str, Any], *, nonce: str | None = None, aud: str | None = None) -> dict[str, list[str]]:
        token: dict[str, list[str]] = {}
        for query in request["dcql_query"]["credentials"]:
            vct = next(v for v in query["meta"]["vct_values"] if v in self.credentials)
            paths = [tuple(c["path"]) for c in query["claims"]]
            token[query["id"]] = [
                present(self.credentials[vct], paths, self.holder, aud=aud or request["client_id"],
                        nonce=nonce or request["nonce"], iat=self.now())
            ]
        return token

    def post(self, response_uri: str, form: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
        body = urllib.parse.urlencode(form).encode("utf-8")
        req = urllib.request.Request(response_uri, data=body, headers={"Content-Type": "application/x-www-form-urlencoded"})
        try:
            with urllib.request.urlopen(req, timeout=10) as response:
                return response.status, json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"{}")

    def answer(self, uri: str, **kw: Any) -> tuple[int, dict[str, Any]]:
        request, _ = self.fetch_request(uri)
        vp_token = self.build_vp_token(request, **kw)
        return self.post(request["response_uri"], {"vp_token": json.dumps(vp_token), "state": request["state"]})


def http_json(method: str, url: str, body: Any = None, token: str | None = None) -> tuple[int, Any, Mapping[str, str]]:
    headers = {"Accept": "application/json"}
    data = None
    if body is not None:
        data = json.dumps(body).encode("utf-8")
        headers["Content-Type"] = "application/json"
    if token:
        headers["Authorization"] = "Bearer " + token
    req = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as response:
            raw = response.read()
            return response.status, (json.loads(raw) if raw else None), dict(response.headers)
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        try:
            parsed = json.loads(raw)
        except ValueError:
            parsed = raw.decode("utf-8", "replace")
        return exc.code, parsed, dict(exc.headers)
