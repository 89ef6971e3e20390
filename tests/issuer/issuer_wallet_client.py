"""A minimal OpenID4VCI 1.0 wallet client for the tests, written from the specification, over real HTTP.

It deliberately does not import the issuer: it sees only the wire.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any, Callable

import sdjwt
from sdjwt.jws import sign_compact

PRE_AUTH = "urn:ietf:params:oauth:grant-type:pre-authorized_code"


class HTTPFailure(Exception):
    def __init__(self, status: int, body: Any, headers: Any) -> None:
        super().__init__(f"HTTP {status}: {body}")
        self.status = status
        self.body = body
        self.headers = headers


@dataclass
class Response:
    status: int
    body: Any
    headers: Any
    text: str


def http(method: str, url: str, *, form: dict[str, str] | None = None, json_body: Any = None,
         headers: dict[str, str] | None = None, raw: bytes | None = None) -> Response:
    data = None
    hdrs = dict(headers or {})
    if form is not None:
        data = urllib.parse.urlencode(form).encode()
        hdrs["Content-Type"] = "application/x-www-form-urlencoded"
    elif json_body is not None:
        data = json.dumps(json_body).encode()
        hdrs["Content-Type"] = "application/json"
    elif raw is not None:
        data = raw
    request = urllib.request.Request(url, data=data, method=method, headers=hdrs)
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            text = resp.read().decode()
            status, rheaders = resp.status, resp.headers
    except urllib.error.HTTPError as exc:
        text = exc.read().decode()
        status, rheaders = exc.code, exc.headers
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    return Response(status, body, rheaders, text)


def check(resp: Response) -> Any:
    if resp.status >= 300:
        raise HTTPFailure(resp.status, resp.body, resp.headers)
    return resp.body


def make_proof(key: sdjwt.PrivateKey, *, aud: str, nonce: str | None, iat: int, typ: str = "openid4vci-proof+jwt",
               extra_header: dict[str, Any] | None = None, jwk_key: sdjwt.PrivateKey | None = None) -> str:
    """Appendix F.1: header typ/alg/jwk, claims aud/iat/nonce."""
    header = {"typ": typ, "jwk": (jwk_key or key).public_key().public_jwk(), **(extra_header or {})}
    payload: dict[str, Any] = {"aud": aud, "iat": iat}
    if nonce is not None:
        payload["nonce"] = nonce
    return sign_compact(header, payload, key)


class WalletClient:
    def __init__(self, clock: Callable[[], int]) -> None:
        self.clock = clock

    def resolve_offer(self, link: str) -> dict[str, Any]:
        """Section 4.1.3: the offer link carries credential_offer_uri; GET it."""
        scheme, rest = link.split("://", 1)
        assert scheme == "openid-credential-offer"
        query = urllib.parse.parse_qs(urllib.parse.urlsplit("x://" + rest).query)
        assert list(query) == ["credential_offer_uri"]
        return check(http("GET", query["credential_offer_uri"][0]))  # type: ignore[no-any-return]

    def metadata(self, issuer: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """Section 12.2.2 and RFC 8414 section 3."""
        meta = check(http("GET", issuer + "/.well-known/openid-credential-issuer"))
        assert meta["credential_issuer"] == issuer
        as_meta = check(http("GET", issuer + "/.well-known/oauth-authorization-server"))
        return meta, as_meta

    def token(self, as_meta: dict[str, Any], code: str, tx_code: str | None) -> Response:
        form = {"grant_type": PRE_AUTH, "pre-authorized_code": code}
        if tx_code is not None:
            form["tx_code"] = tx_code
        return http("POST", as_meta["token_endpoint"], form=form)

    def nonce(self, meta: dict[str, Any]) -> str:
        resp = http("POST", meta["nonce_endpoint"])
        assert "no-store" in resp.headers["Cache-Control"]
        return check(resp)["c_nonce"]  # type: ignore[no-any-return]

    def credential(self, meta: dict[str, Any], access_token: str, configuration_id: str, proofs: list[str]) -> Response:
        return http(
            "POST",
            meta["credential_endpoint"],
            json_body={"credential_configuration_id": configuration_id, "proofs": {"jwt": proofs}},
            headers={"Authorization": f"Bearer {access_token}"},
        )

    def receive(self, link: str, tx_code: str, copies: int = 1, alg: str = "EdDSA") -> tuple[list[str], list[sdjwt.PrivateKey]]:
        """The whole pre-authorized flow; returns the credentials and the holder keys."""
        offer = self.resolve_offer(link)
        grant = offer["grants"][PRE_AUTH]
        meta, as_meta = self.metadata(offer["credential_issuer"])
        token = check(self.token(as_meta, grant["pre-authorized_code"], tx_code))
        assert token["token_type"] == "Bearer"
        nonce = self.nonce(meta)
        keys: list[sdjwt.PrivateKey] = [
            sdjwt.Ed25519PrivateKey.generate() if alg == "EdDSA" else sdjwt.P256PrivateKey.generate() for _ in range(copies)
        ]
        proofs = [make_proof(k, aud=meta["credential_issuer"], nonce=nonce, iat=self.clock()) for k in keys]
        body = check(self.credential(meta, token["access_token"], offer["credential_configuration_ids"][0], proofs))
        return [c["credential"] for c in body["credentials"]], keys
