"""Generate the verifier attack vectors: ``python tests/vectors/attacks/generate.py``.

Deterministic: every key is a fixed seed, every salt comes from a counter, every
time is fixed relative to ``T0``, and Ed25519 signatures are deterministic, so a
rerun rewrites byte-identical files (``tests/security/test_verifier_attacks.py``
checks that). It writes:

* ``world.json``: the trust world the verifier runs in (issuers, their keys with
  validity windows and compromise times, accreditations, signed status lists, the
  verifier's clock, ``client_id`` and the OpenID4VP nonce);
* one ``<attack>.json`` per case: the HTTP request(s) an attacker sends to the
  verifier and the answer expected (HTTP status, decision, reason code).

Each case is named for the attack. A case sent to ``/api/verify`` carries its own
nonce (so cases never collide in the replay guard); a case sent to the OpenID4VP
response URI (``oid4vp-*``) is bound to ``oid4vp_nonce``, which the test's
verifier issues by drawing its randomness from a constant source.
"""

from __future__ import annotations

import base64
import hashlib
import json
import sys
from pathlib import Path
from typing import Any, Callable

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2]))

import sdjwt  # noqa: E402
from sdjwt.encoding import b64url_encode, json_dumps  # noqa: E402
from sdjwt.jws import sign_compact  # noqa: E402

T0 = 1_800_000_000
NOW = T0 + 100
YEAR = 365 * 86400
NATIONAL_ID = "urn:civicid:national_id:1"
RESIDENCE = "urn:civicid:residence_permit:1"
BENEFIT = "urn:civicid:benefit_eligibility:1"

VERIFIER_SEED = b"\x44" * 32
CLIENT_ID = "decentralized_identifier:" + sdjwt.did_from_key(sdjwt.Ed25519PrivateKey(VERIFIER_SEED).public_key())
OID4VP_RANDOM = b"\xa7" * 32
OID4VP_NONCE = b64url_encode(OID4VP_RANDOM)
HOLDER = sdjwt.Ed25519PrivateKey(b"\x22" * 32)
OTHER_HOLDER = sdjwt.Ed25519PrivateKey(b"\x23" * 32)
ATTACKER = sdjwt.Ed25519PrivateKey(b"\x66" * 32)
AGE18 = [("age_equal_or_over", "18")]


def _did(name: str) -> str:
    return "did:civic:Qm" + (name + "0" * 44)[:44]


# The world ---------------------------------------------------------------------------------

ISSUERS: dict[str, dict[str, Any]] = {
    "office": {"keys": [("key-1", 0x11, T0 - 10 * YEAR, None, None)], "accredit": [(NATIONAL_ID, T0 - 10 * YEAR, 2**62),
                                                                                    (RESIDENCE, T0 - 10 * YEAR, 2**62),
                                                                                    (BENEFIT, T0 - 10 * YEAR, 2**62)]},
    # key-1 was rotated out at T0 - 1000; key-2 signs from then on.
    "rotated": {"keys": [("key-1", 0x12, T0 - 10 * YEAR, T0 - 1000, None), ("key-2", 0x13, T0 - 1000, None, None)],
                "accredit": [(NATIONAL_ID, T0 - 10 * YEAR, 2**62)]},
    # key-1 was reported compromised from T0 - 500 (a recovery entry); key-2 replaced it.
    "compromised": {"keys": [("key-1", 0x14, T0 - 10 * YEAR, None, T0 - 500), ("key-2", 0x17, T0 - 500, None, None)],
                    "accredit": [(NATIONAL_ID, T0 - 10 * YEAR, 2**62)]},
    # Registered, but accredited for benefit credentials only.
    "unaccredited": {"keys": [("key-1", 0x15, T0 - 10 * YEAR, None, None)], "accredit": [(BENEFIT, T0 - 10 * YEAR, 2**62)]},
    # Its accreditation for national IDs ended at T0 - 2000 (withdrawn).
    "lapsed": {"keys": [("key-1", 0x16, T0 - 10 * YEAR, None, None)], "accredit": [(NATIONAL_ID, T0 - 10 * YEAR, T0 - 2000)]},
}
for _name, _spec in ISSUERS.items():
    _spec["did"] = _did(_name.capitalize())


def issuer_key(name: str, kid: str = "key-1") -> sdjwt.Ed25519PrivateKey:
    for k, seed, *_ in ISSUERS[name]["keys"]:
        if k == kid:
            return sdjwt.Ed25519PrivateKey(bytes([seed]) * 32)
    raise KeyError(kid)


def status_uri(name: str, list_id: str = "1") -> str:
    return f"https://{name}.example/status/{list_id}"


def world() -> dict[str, Any]:
    issuers = []
    lists: dict[str, str] = {}
    for name, spec in ISSUERS.items():
        keys = [{"kid": f"{spec['did']}#{kid}", "jwk": sdjwt.Ed25519PrivateKey(bytes([seed]) * 32).public_key().public_jwk(),
                 "valid_from": start, "valid_until": until, "compromised_since": compromised}
                for kid, seed, start, until, compromised in spec["keys"]]
        issuers.append({"name": name, "did": spec["did"], "keys": keys,
                        "accreditations": [{"vct": v, "valid_from": a, "valid_until": b} for v, a, b in spec["accredit"]]})
        current = spec["keys"][-1][0]
        statuses = {1: 1, 2: 2} if name == "office" else {}
        token = sdjwt.sign_status_list(sdjwt.StatusList.empty(1024, bits=2).with_status(statuses), uri=status_uri(name),
                                       key=issuer_key(name, current), kid=f"{spec['did']}#{current}", iat=NOW - 50, ttl=3600)
        lists[status_uri(name)] = token
    # A list for the office's URI signed by an attacker (the verifier must check the signer).
    forged = status_uri("office", "forged")
    lists[forged] = sdjwt.sign_status_list(sdjwt.StatusList.empty(1024, bits=2), uri=forged, key=ATTACKER,
                                           kid=f"{ISSUERS['office']['did']}#key-1", iat=NOW - 50, ttl=3600)
    return {"now": NOW, "client_id": CLIENT_ID, "verifier_seed": b64url_encode(VERIFIER_SEED),
            "oid4vp_random": b64url_encode(OID4VP_RANDOM), "oid4vp_nonce": OID4VP_NONCE,
            "issuers": issuers, "status_lists": lists}


# Building blocks ---------------------------------------------------------------------------

def counter_random(label: str) -> Callable[[int], bytes]:
    state = {"n": 0}

    def random(n: int) -> bytes:
        state["n"] += 1
        return hashlib.sha256(f"{label}/{state['n']}".encode()).digest()[:n].ljust(n, b"\0")

    return random


def national_id_claims(age18: bool = True) -> dict[str, Any]:
    return {
        "given_name": "Mei", "family_name": "Li", "birthdate": "2000-01-01", "nationalities": ["CN"],
        "address": {"locality": "Shenzhen", "country": "CN"},
        "age_equal_or_over": {"18": age18, "65": False},
    }


DISCLOSABLE: list[tuple[Any, ...]] = [("given_name",), ("family_name",), ("birthdate",), ("nationalities", None),
                                      ("address",), ("address", "locality"), ("address", "country"),
                                      ("age_equal_or_over",), ("age_equal_or_over", "18"), ("age_equal_or_over", "65")]


def credential(label: str, *, issuer: str = "office", kid: str = "key-1", key: sdjwt.PrivateKey | None = None,
               iss: str | None = None, kid_url: str | None = None, claims: dict[str, Any] | None = None,
               vct: str = NATIONAL_ID, iat: int = T0, exp: int | None = None, nbf: int | None = None, idx: int = 0,
               uri: str | None = None, holder: sdjwt.PrivateKey = HOLDER,
               disclosable: list[tuple[Any, ...]] | None = None) -> str:
    did = ISSUERS[issuer]["did"] if issuer in ISSUERS else issuer
    return sdjwt.issue(
        claims if claims is not None else national_id_claims(),
        disclosable=disclosable if disclosable is not None else DISCLOSABLE,
        issuer_key=key or issuer_key(issuer, kid),
        kid=kid_url or f"{did}#{kid}",
        iss=iss or did,
        vct=vct, iat=iat, exp=exp if exp is not None else iat + 10 * YEAR, nbf=nbf,
        random=counter_random(label), holder_jwk=holder.public_key().public_jwk(),
        status=sdjwt.StatusReference(idx, uri or status_uri(issuer if issuer in ISSUERS else "office")), decoys=2,
    ).serialize()


def present(cred: str, nonce: str, paths: list[tuple[Any, ...]] = AGE18, *, holder: sdjwt.PrivateKey = HOLDER,
            aud: str = CLIENT_ID, iat: int = NOW) -> str:
    return sdjwt.create_presentation(cred, paths, holder_key=holder, aud=aud, nonce=nonce, iat=iat)


def selected(cred: str, paths: list[tuple[Any, ...]] = AGE18) -> str:
    """The SD-JWT with only ``paths`` disclosed and no KB-JWT (ends with '~')."""
    return sdjwt.create_presentation(cred, paths, holder_key=None)


def b64(data: str | bytes) -> str:
    return b64url_encode(data.encode("utf-8") if isinstance(data, str) else data)


def unb64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def sign_raw(header_text: str, payload_text: str, key: sdjwt.PrivateKey) -> str:
    signing_input = b64(header_text) + "." + b64(payload_text)
    return signing_input + "." + b64url_encode(key.sign(signing_input.encode("ascii")))


def kb_jwt(body: str, nonce: str, *, holder: sdjwt.PrivateKey = HOLDER, aud: Any = CLIENT_ID, iat: Any = NOW,
           header: dict[str, Any] | None = None, payload: dict[str, Any] | None = None, drop: tuple[str, ...] = (),
           raw_payload: str | None = None, raw_header: str | None = None) -> str:
    """A Key Binding JWT over ``body`` (which ends with '~'), with overrides for the attacks."""
    claims: dict[str, Any] = {"iat": iat, "aud": aud, "nonce": nonce, "sd_hash": sdjwt.sd_hash(body)}
    claims.update(payload or {})
    for name in drop:
        claims.pop(name, None)
    head = {"alg": holder.alg, "typ": "kb+jwt", **(header or {})}
    return sign_raw(raw_header or json_dumps(head), raw_payload or json_dumps(claims), holder)


def split_jwt(cred: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    jwt = cred.split("~", 1)[0]
    h, p, _ = jwt.split(".")
    return json.loads(unb64(h)), json.loads(unb64(p)), jwt


def resign(cred: str, *, header: dict[str, Any] | None = None, payload: Callable[[dict[str, Any]], None] | None = None,
           drop_header: tuple[str, ...] = (), key: sdjwt.PrivateKey | None = None, issuer: str = "office",
           raw_header: str | None = None, raw_payload: Callable[[str], str] | None = None) -> str:
    """Change the issuer-signed JWT's header or payload and sign it again (by the issuer's key unless ``key``)."""
    h, p, jwt = split_jwt(cred)
    h.update(header or {})
    for name in drop_header:
        h.pop(name, None)
    if payload is not None:
        payload(p)
    payload_text = json_dumps(p)
    if raw_payload is not None:
        payload_text = raw_payload(payload_text)
    new = sign_raw(raw_header or json_dumps(h), payload_text, key or issuer_key(issuer))
    return new + cred[len(jwt):]


def with_jwt(cred: str, jwt: str) -> str:
    return jwt + cred[len(cred.split("~", 1)[0]):]


def bound(sd: str, nonce: str, **kw: Any) -> str:
    """Append a fresh KB-JWT to an SD-JWT that ends with '~'."""
    return sd + kb_jwt(sd, nonce, **kw)


def disclosures(sd: str) -> list[tuple[str, list[Any]]]:
    return [(d, json.loads(unb64(d))) for d in sd.split("~")[1:-1]]


# The attacks -------------------------------------------------------------------------------

Builder = Callable[[str], Any]
CASES: list[dict[str, Any]] = []


def attack(name: str, category: str, code: str, *, policy: str = "age-over-18", via: tuple[str, ...] = ("api",),
           status: int = 200, kind: str = "presentation", description: str = "") -> Callable[[Builder], Builder]:
    """Register a case. ``kind``: the builder returns a presentation, a vp_token, a raw body, or a list of steps."""

    def register(build: Builder) -> Builder:
        CASES.append({"name": name, "category": category, "code": code, "policy": policy, "via": via,
                      "status": status, "kind": kind, "build": build, "description": description or (build.__doc__ or "").strip()})
        return build

    return register


def _base(label: str = "base", **kw: Any) -> str:
    return credential(label, **kw)


# Controls (accepted): the suite proves its world is sound before attacking it.

@attack("control-valid-presentation", "control", "", via=("api", "oid4vp"))
def _(n: str) -> str:
    """An honest presentation: accepted (decision true)."""
    return present(_base("control"), n)


@attack("control-rotated-issuer-old-credential", "control", "")
def _(n: str) -> str:
    """A credential signed by a key before its rotation stays valid."""
    return present(credential("rot-old", issuer="rotated", iat=T0 - 2000), n)


# Signature.

@attack("sig-payload-altered", "signature", "signature_invalid", via=("api", "oid4vp"))
def _(n: str) -> str:
    """One signed claim changed (exp extended), signature kept."""
    h, p, jwt = split_jwt(_base())
    p["exp"] += 10 * YEAR
    forged = jwt.split(".")[0] + "." + b64(json_dumps(p)) + "." + jwt.split(".")[2]
    return bound(with_jwt(selected(_base()), forged), n)


@attack("sig-byte-flipped", "signature", "signature_invalid")
def _(n: str) -> str:
    """The last byte of the issuer signature flipped (canonical base64url kept)."""
    jwt = _base().split("~", 1)[0]
    head, body, sig = jwt.split(".")
    raw = bytearray(unb64(sig))
    raw[0] ^= 0x01
    return bound(with_jwt(selected(_base()), f"{head}.{body}.{b64url_encode(bytes(raw))}"), n)


@attack("sig-truncated", "signature", "signature_invalid")
def _(n: str) -> str:
    """The signature cut to 32 bytes."""
    jwt = _base().split("~", 1)[0]
    head, body, sig = jwt.split(".")
    return bound(with_jwt(selected(_base()), f"{head}.{body}.{b64url_encode(unb64(sig)[:32])}"), n)


@attack("sig-empty", "signature", "signature_invalid")
def _(n: str) -> str:
    """An empty signature part."""
    jwt = _base().split("~", 1)[0]
    head, body, _sig = jwt.split(".")
    return bound(with_jwt(selected(_base()), f"{head}.{body}."), n)


@attack("sig-stripped-two-parts", "signature", "presentation_malformed")
def _(n: str) -> str:
    """An unsigned JWT: header and payload only."""
    jwt = _base().split("~", 1)[0]
    return bound(with_jwt(selected(_base()), jwt.rsplit(".", 1)[0]), n)


@attack("sig-by-attacker-key-with-office-kid", "signature", "signature_invalid", via=("api", "oid4vp"))
def _(n: str) -> str:
    """A forger's key, naming the office's registered kid."""
    return present(credential("forged", key=ATTACKER), n)


@attack("sig-spliced-from-other-credential", "signature", "signature_invalid")
def _(n: str) -> str:
    """A valid signature from another credential of the same issuer pasted on this one."""
    other = credential("other", claims=national_id_claims(age18=True) | {"given_name": "Other"})
    mine = credential("mine", claims=national_id_claims(age18=False))
    sig = other.split("~", 1)[0].rsplit(".", 1)[1]
    jwt = mine.split("~", 1)[0].rsplit(".", 1)[0] + "." + sig
    return bound(with_jwt(selected(mine), jwt), n)


@attack("sig-header-altered", "signature", "signature_invalid")
def _(n: str) -> str:
    """A harmless-looking header member added after signing."""
    jwt = _base().split("~", 1)[0]
    head, body, sig = jwt.split(".")
    h = json.loads(unb64(head)) | {"cty": "x"}
    return bound(with_jwt(selected(_base()), f"{b64(json_dumps(h))}.{body}.{sig}"), n)


# Algorithm: none and confusion.

@attack("alg-none", "algorithm", "algorithm_not_allowed", via=("api", "oid4vp"))
def _(n: str) -> str:
    """alg 'none' with an empty signature."""
    h, p, _ = split_jwt(_base())
    jwt = b64(json_dumps(h | {"alg": "none"})) + "." + b64(json_dumps(p)) + "."
    return bound(with_jwt(selected(_base()), jwt), n)


@attack("alg-none-capitalised", "algorithm", "algorithm_not_allowed")
def _(n: str) -> str:
    """alg 'None' (case games on the allow-list)."""
    h, p, _ = split_jwt(_base())
    jwt = b64(json_dumps(h | {"alg": "None"})) + "." + b64(json_dumps(p)) + "."
    return bound(with_jwt(selected(_base()), jwt), n)


@attack("alg-hs256-with-public-key-as-secret", "algorithm", "algorithm_not_allowed")
def _(n: str) -> str:
    """Key confusion: HMAC-SHA256 keyed with the issuer's public key bytes."""
    import hmac as _hmac

    h, p, _ = split_jwt(_base())
    signing_input = b64(json_dumps(h | {"alg": "HS256"})) + "." + b64(json_dumps(p))
    secret = issuer_key("office").public_key().public_jwk()["x"].encode()
    jwt = signing_input + "." + b64url_encode(_hmac.new(secret, signing_input.encode(), "sha256").digest())
    return bound(with_jwt(selected(_base()), jwt), n)


@attack("alg-es256-header-on-ed25519-key", "algorithm", "algorithm_not_allowed")
def _(n: str) -> str:
    """Header says ES256 (allow-listed), the registry key is Ed25519: the key decides, not the header."""
    return bound(resign(selected(_base()), header={"alg": "ES256"}), n)


@attack("alg-rs256", "algorithm", "algorithm_not_allowed")
def _(n: str) -> str:
    """An algorithm civicid never accepts."""
    return bound(resign(selected(_base()), header={"alg": "RS256"}), n)


@attack("alg-missing", "algorithm", "algorithm_not_allowed")
def _(n: str) -> str:
    """No alg member at all."""
    return bound(resign(selected(_base()), drop_header=("alg",)), n)


@attack("alg-not-a-string", "algorithm", "algorithm_not_allowed")
def _(n: str) -> str:
    """alg as an array holding the allowed value."""
    return bound(resign(selected(_base()), header={"alg": ["EdDSA"]}), n)


@attack("alg-ed25519-fully-specified", "algorithm", "algorithm_not_allowed")
def _(n: str) -> str:
    """A name off the allow-list even though the key could verify it."""
    return bound(resign(selected(_base()), header={"alg": "Ed25519"}), n)


@attack("sd-alg-sha1-signed-by-issuer", "algorithm", "algorithm_not_allowed")
def _(n: str) -> str:
    """A (buggy) issuer signs _sd_alg sha-1: refused even though the signature verifies."""
    return bound(resign(selected(_base()), payload=lambda p: p.update({"_sd_alg": "sha-1"})), n)


@attack("kb-alg-none", "algorithm", "key_binding_invalid", via=("api", "oid4vp"))
def _(n: str) -> str:
    """A KB-JWT with alg none and no signature."""
    sd = selected(_base())
    kb = b64(json_dumps({"alg": "none", "typ": "kb+jwt"})) + "." + b64(json_dumps(
        {"iat": NOW, "aud": CLIENT_ID, "nonce": n, "sd_hash": sdjwt.sd_hash(sd)})) + "."
    return sd + kb


@attack("kb-alg-hs256", "algorithm", "key_binding_invalid")
def _(n: str) -> str:
    """A KB-JWT 'signed' with HS256 keyed by the holder's public key."""
    import hmac as _hmac

    sd = selected(_base())
    signing_input = b64(json_dumps({"alg": "HS256", "typ": "kb+jwt"})) + "." + b64(json_dumps(
        {"iat": NOW, "aud": CLIENT_ID, "nonce": n, "sd_hash": sdjwt.sd_hash(sd)}))
    secret = HOLDER.public_key().public_jwk()["x"].encode()
    return sd + signing_input + "." + b64url_encode(_hmac.new(secret, signing_input.encode(), "sha256").digest())


# Header key injection and kid tricks.

def _base_jwt_of(cred: str) -> str:
    return cred.split("~", 1)[0]


def _header_injected(cred: str, member: str, value: Any) -> str:
    h, p, _ = split_jwt(cred)
    return sign_raw(json_dumps(h | {member: value}), json_dumps(p), ATTACKER)


ATTACKER_JWK = ATTACKER.public_key().public_jwk()
for _member, _value in (("jwk", ATTACKER_JWK), ("jku", "https://attacker.example/jwks.json"),
                        ("x5u", "https://attacker.example/cert.pem"), ("x5c", ["MIIBfake"]),
                        ("crit", ["exp"]), ("b64", False)):
    def _make(member: str = _member, value: Any = _value) -> Builder:
        def build(n: str) -> str:
            cred = credential(f"inj-{member}", key=ATTACKER)
            sd = with_jwt(selected(cred), _header_injected(cred, member, value))
            return bound(sd, n)
        build.__doc__ = f"The issuer JWT header carries {member!r}, signed by the attacker whose key it names."
        return build
    attack(f"header-{_member}-injection", "header-injection", "presentation_malformed",
           via=("api", "oid4vp") if _member == "jwk" else ("api",))(_make())


@attack("kid-of-another-issuer", "header-injection", "issuer_key_unknown")
def _(n: str) -> str:
    """iss is the office, kid names the unaccredited issuer's key, signed by that key."""
    return present(credential("kid-other", kid_url=ISSUERS["unaccredited"]["did"] + "#key-1", key=issuer_key("unaccredited")), n)


@attack("kid-path-traversal", "header-injection", "issuer_key_unknown")
def _(n: str) -> str:
    """kid '../../etc/passwd'."""
    return present(credential("kid-trav", kid_url="../../etc/passwd"), n)


@attack("kid-sql-injection", "header-injection", "issuer_key_unknown")
def _(n: str) -> str:
    """kid with SQL metacharacters."""
    return present(credential("kid-sql", kid_url="x' OR '1'='1' --"), n)


@attack("kid-missing", "header-injection", "issuer_key_unknown")
def _(n: str) -> str:
    """No kid: the verifier must not guess a key."""
    return bound(resign(selected(_base()), drop_header=("kid",)), n)


@attack("kid-not-a-string", "header-injection", "presentation_malformed")
def _(n: str) -> str:
    """kid as a number."""
    return bound(resign(selected(_base()), header={"kid": 1}), n)


@attack("kid-attacker-did-key", "header-injection", "issuer_key_unknown")
def _(n: str) -> str:
    """kid names the attacker's did:key while iss stays the office."""
    did = sdjwt.did_from_key(ATTACKER.public_key())
    return present(credential("kid-didkey", kid_url=did + "#" + did.split(":")[-1], key=ATTACKER), n)


@attack("iss-self-issued-did-key", "issuer", "issuer_not_accredited", via=("api", "oid4vp"))
def _(n: str) -> str:
    """A self-issued credential: iss is the attacker's did:key (its key is in the DID), never accredited."""
    did = sdjwt.did_from_key(ATTACKER.public_key())
    return present(credential("self", issuer=did, key=ATTACKER, kid_url=did + "#" + did.split(":")[-1]), n)


@attack("kb-header-jwk-injection", "header-injection", "key_binding_invalid")
def _(n: str) -> str:
    """The KB-JWT names and is signed by the attacker's key (jwk header), not the cnf key."""
    sd = selected(_base())
    return sd + kb_jwt(sd, n, holder=ATTACKER, header={"jwk": ATTACKER_JWK})


@attack("typ-jwt-instead-of-dc-sd-jwt", "header-injection", "presentation_malformed")
def _(n: str) -> str:
    """Issuer JWT typ 'JWT' (type confusion with other JWTs the issuer signs)."""
    return bound(resign(selected(_base()), header={"typ": "JWT"}), n)


@attack("typ-statuslist-confusion", "header-injection", "presentation_malformed")
def _(n: str) -> str:
    """A status list token's typ on a credential."""
    return bound(resign(selected(_base()), header={"typ": "statuslist+jwt"}), n)


# Digests and disclosures.

@attack("disclosure-forged-unreferenced", "disclosure", "disclosure_invalid", via=("api", "oid4vp"))
def _(n: str) -> str:
    """A disclosure the issuer never signed a digest for."""
    sd = selected(_base(), [])
    forged = sdjwt.Disclosure.create("c2FsdHNhbHRzYWx0", "age_equal_or_over", {"18": True}).encoded
    return bound(sd + forged + "~", n)


@attack("disclosure-value-flipped", "disclosure", "disclosure_invalid")
def _(n: str) -> str:
    """The '18' disclosure's value changed from false to true, salt kept."""
    sd = selected(credential("flip", claims=national_id_claims(age18=False)))
    out = []
    for enc, value in disclosures(sd):
        if len(value) == 3 and value[1] == "18":
            enc = b64(json_dumps([value[0], "18", True]))
        out.append(enc)
    return bound(sd.split("~", 1)[0] + "~" + "~".join(out) + "~", n)


@attack("disclosure-duplicated", "disclosure", "disclosure_invalid")
def _(n: str) -> str:
    """The same disclosure sent twice."""
    sd = selected(_base())
    first = sd.split("~")[1]
    return bound(sd + first + "~", n)


@attack("disclosure-reserved-name-sd", "disclosure", "presentation_malformed")
def _(n: str) -> str:
    """A holder-made disclosure named '_sd' (never referenced)."""
    sd = selected(_base())
    return bound(sd + b64(json_dumps(["c2FsdHNhbHRzYWx0", "_sd", ["x"]])) + "~", n)


@attack("disclosure-not-base64url", "encoding", "presentation_malformed")
def _(n: str) -> str:
    """A disclosure in the standard alphabet ('+', '/')."""
    sd = selected(_base())
    return bound(sd + "WyJhYmMiLCJ4Ijoi+/8iXQ~", n)


@attack("disclosure-not-json", "encoding", "presentation_malformed")
def _(n: str) -> str:
    """A disclosure that decodes to text that is not JSON."""
    return bound(selected(_base()) + b64("not json at all") + "~", n)


@attack("disclosure-four-elements", "disclosure", "presentation_malformed")
def _(n: str) -> str:
    """A disclosure array with four elements."""
    return bound(selected(_base()) + b64(json_dumps(["salt", "x", 1, 2])) + "~", n)


@attack("disclosure-duplicate-json-keys", "duplicate-keys", "presentation_malformed")
def _(n: str) -> str:
    """A disclosure whose object value repeats a member name."""
    return bound(selected(_base()) + b64('["c2FsdA","age_equal_or_over",{"18":false,"18":true}]') + "~", n)


@attack("digest-duplicated-signed", "disclosure", "disclosure_invalid")
def _(n: str) -> str:
    """A (buggy) issuer signs the same digest twice in _sd."""
    return bound(resign(selected(_base()), payload=lambda p: p["_sd"].append(p["_sd"][0])), n)


@attack("digest-not-a-string-signed", "disclosure", "presentation_malformed")
def _(n: str) -> str:
    """A signed _sd holding a number."""
    return bound(resign(selected(_base()), payload=lambda p: p["_sd"].append(7)), n)


# Key binding: replay and swapping.

@attack("kb-missing", "key-binding", "key_binding_missing", via=("api", "oid4vp"))
def _(n: str) -> str:
    """No KB-JWT after the last '~'."""
    return selected(_base())


@attack("kb-wrong-nonce", "key-binding", "nonce_mismatch")
def _(n: str) -> str:
    """Made for another request's nonce."""
    return present(_base(), "a-nonce-from-another-request-0001")


@attack("kb-nonce-missing", "key-binding", "nonce_mismatch")
def _(n: str) -> str:
    """No nonce claim."""
    sd = selected(_base())
    return sd + kb_jwt(sd, n, drop=("nonce",))


@attack("kb-wrong-audience", "key-binding", "audience_mismatch", via=("api", "oid4vp"))
def _(n: str) -> str:
    """Made for another verifier (a colluding or phishing verifier relays it)."""
    return present(_base(), n, aud="decentralized_identifier:did:key:z6MkOtherCounter")


@attack("kb-audience-array", "key-binding", "audience_mismatch")
def _(n: str) -> str:
    """aud as an array containing our client_id."""
    sd = selected(_base())
    return sd + kb_jwt(sd, n, aud=[CLIENT_ID])


@attack("kb-stale", "times", "key_binding_stale")
def _(n: str) -> str:
    """A KB-JWT an hour old."""
    return present(_base(), n, iat=NOW - 3600)


@attack("kb-from-the-future", "times", "key_binding_stale")
def _(n: str) -> str:
    """A KB-JWT an hour in the future (pre-made for later use)."""
    return present(_base(), n, iat=NOW + 3600)


@attack("kb-iat-string", "key-binding", "key_binding_invalid")
def _(n: str) -> str:
    """KB-JWT iat as a string."""
    sd = selected(_base())
    return sd + kb_jwt(sd, n, iat=str(NOW))


@attack("kb-signed-by-other-key", "key-binding", "key_binding_invalid")
def _(n: str) -> str:
    """A thief with the credential but not the holder key signs the KB-JWT."""
    sd = selected(_base())
    return sd + kb_jwt(sd, n, holder=ATTACKER)


@attack("kb-swapped-between-holders", "key-binding", "key_binding_invalid", via=("api", "oid4vp"))
def _(n: str) -> str:
    """Another citizen's credential with the attacker holder's valid KB-JWT."""
    other = credential("other-holder", holder=OTHER_HOLDER)
    return present(other, n, holder=HOLDER)


@attack("kb-swapped-between-presentations", "key-binding", "sd_hash_mismatch")
def _(n: str) -> str:
    """A KB-JWT lifted from a presentation with other disclosures."""
    cred = _base()
    donor = present(cred, n, [("address", "locality")])
    return selected(cred) + donor.rsplit("~", 1)[1]


@attack("kb-disclosure-added-after-binding", "key-binding", "sd_hash_mismatch")
def _(n: str) -> str:
    """A disclosure inserted after the KB-JWT was made (sd_hash covers the original)."""
    cred = _base()
    original = present(cred, n)
    body, kb = original.rsplit("~", 1)
    extra = selected(cred, [("address", "locality")]).split("~")[1:-1]
    return body + "~" + "~".join(extra) + "~" + kb


@attack("kb-sd-hash-missing", "key-binding", "sd_hash_mismatch")
def _(n: str) -> str:
    """No sd_hash claim."""
    sd = selected(_base())
    return sd + kb_jwt(sd, n, drop=("sd_hash",))


@attack("kb-typ-jwt", "key-binding", "key_binding_invalid")
def _(n: str) -> str:
    """KB-JWT typ 'JWT' (a holder-signed token of another kind)."""
    sd = selected(_base())
    return sd + kb_jwt(sd, n, header={"typ": "JWT"})


@attack("kb-signature-non-canonical", "encoding", "key_binding_invalid")
def _(n: str) -> str:
    """The KB-JWT signature re-spelled with non-zero trailing bits (same bytes, other text)."""
    p = present(_base(), n)
    sig = p.rsplit(".", 1)[1]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    # 64 bytes take 86 characters: the last one carries 4 unused bits, zero when canonical.
    return p[:-1] + alphabet[alphabet.index(sig[-1]) | 1]


@attack("kb-duplicate-json-keys", "duplicate-keys", "key_binding_invalid")
def _(n: str) -> str:
    """A KB-JWT payload naming the nonce twice (parser differentials)."""
    sd = selected(_base())
    raw = json_dumps({"iat": NOW, "aud": CLIENT_ID, "nonce": "x" * 20, "sd_hash": sdjwt.sd_hash(sd)})
    raw = raw[:-1] + ',"nonce":' + json.dumps(n) + "}"
    return sd + kb_jwt(sd, n, raw_payload=raw)


@attack("kb-replayed", "key-binding", "presentation_replayed", kind="steps", via=("api",))
def _(n: str) -> list[dict[str, Any]]:
    """The same valid presentation sent twice: accepted once, then refused."""
    p = present(credential("replay"), n)
    return [{"presentation": p, "expect": {"status": 200, "decision": True}},
            {"presentation": p, "expect": {"status": 200, "decision": False, "code": "presentation_replayed"}}]


# Times.

@attack("time-expired", "times", "credential_expired", via=("api", "oid4vp"))
def _(n: str) -> str:
    """exp an hour ago."""
    return present(credential("expired", iat=T0 - 1000, exp=NOW - 3600), n)


@attack("time-not-yet-valid-nbf", "times", "credential_not_yet_valid")
def _(n: str) -> str:
    """nbf a day ahead."""
    return present(credential("nbf", nbf=NOW + 86400), n)


@attack("time-issued-in-the-future", "times", "credential_not_yet_valid")
def _(n: str) -> str:
    """iat a day ahead (a backdating or clock attack the other way)."""
    return present(credential("iat-future", iat=NOW + 86400), n)


@attack("time-too-old-for-policy", "times", "credential_too_old", policy="benefit")
def _(n: str) -> str:
    """A benefit credential two years old (the policy accepts one year)."""
    cred = credential("old-benefit", vct=BENEFIT, iat=NOW - 2 * YEAR, exp=NOW + YEAR,
                      claims={"benefit_type": "senior_allowance", "eligible": True},
                      disclosable=[("benefit_type",), ("eligible",)])
    return present(cred, n, [("benefit_type",), ("eligible",)])


@attack("time-iat-string-signed", "times", "presentation_malformed")
def _(n: str) -> str:
    """A signed iat that is a string."""
    return bound(resign(selected(_base()), payload=lambda p: p.update({"iat": str(T0)})), n)


@attack("time-iat-missing-signed", "times", "presentation_malformed")
def _(n: str) -> str:
    """No iat: civicid checks keys as of issuance, so iat is required."""
    return bound(resign(selected(_base()), payload=lambda p: p.pop("iat")), n)


@attack("time-iat-boolean-signed", "times", "presentation_malformed")
def _(n: str) -> str:
    """iat true (a bool is an int in Python)."""
    return bound(resign(selected(_base()), payload=lambda p: p.update({"iat": True})), n)


@attack("time-exp-infinite-signed", "encoding", "presentation_malformed")
def _(n: str) -> str:
    """exp 1e400 (parses as infinity)."""
    return bound(resign(selected(_base()), raw_payload=lambda t: t.replace('"exp":' + str(T0 + 10 * YEAR), '"exp":1e400')), n)


# Status.

@attack("status-revoked", "status", "status_revoked", via=("api", "oid4vp"))
def _(n: str) -> str:
    """The office revoked index 1."""
    return present(credential("revoked", idx=1), n)


@attack("status-suspended", "status", "status_suspended")
def _(n: str) -> str:
    """The office suspended index 2."""
    return present(credential("suspended", idx=2), n)


@attack("status-list-forged", "status", "status_unavailable")
def _(n: str) -> str:
    """The credential points at a list signed by someone else with the office's kid."""
    return present(credential("forged-list", uri=status_uri("office", "forged")), n)


@attack("status-list-unreachable", "status", "status_unavailable")
def _(n: str) -> str:
    """The credential points at a list nobody serves."""
    return present(credential("no-list", uri="https://nowhere.example/status/9"), n)


@attack("status-index-out-of-range", "status", "status_unavailable")
def _(n: str) -> str:
    """An index beyond the list's size."""
    return present(credential("idx-big", idx=10**9), n)


@attack("status-claim-removed-signed", "status", "status_unavailable")
def _(n: str) -> str:
    """A (buggy) issuer omits the status claim: revocation cannot be checked, so no."""
    return bound(resign(selected(_base()), payload=lambda p: p.pop("status")), n)


@attack("status-index-negative-signed", "status", "status_unavailable")
def _(n: str) -> str:
    """A signed negative index."""
    return bound(resign(selected(_base()), payload=lambda p: p["status"]["status_list"].update({"idx": -1})), n)


# Issuers: unknown, unaccredited, lapsed, rotated, compromised; type.

@attack("issuer-unknown", "issuer", "issuer_unknown", via=("api", "oid4vp"))
def _(n: str) -> str:
    """A DID the registry has never seen."""
    did = _did("Nobody")
    return present(credential("unknown", issuer=did, key=ATTACKER, kid_url=did + "#key-1"), n)


@attack("issuer-unaccredited-for-type", "issuer", "issuer_not_accredited", via=("api", "oid4vp"))
def _(n: str) -> str:
    """A registered issuer accredited for benefits only issues a national ID."""
    return present(credential("unacc", issuer="unaccredited"), n)


@attack("issuer-accreditation-withdrawn-before-iat", "issuer", "issuer_not_accredited")
def _(n: str) -> str:
    """Issued after the ministry withdrew the accreditation."""
    return present(credential("lapsed", issuer="lapsed"), n)


@attack("issuer-rotated-key-used-after-removal", "issuer", "key_not_valid_at_issuance", via=("api", "oid4vp"))
def _(n: str) -> str:
    """Signed with key-1 after it was rotated out (a stolen retired key)."""
    return present(credential("rot-after", issuer="rotated", kid="key-1"), n)


@attack("issuer-new-key-backdated-before-added", "issuer", "key_not_valid_at_issuance")
def _(n: str) -> str:
    """Signed with key-2 but dated before key-2 existed."""
    return present(credential("rot-before", issuer="rotated", kid="key-2", iat=T0 - 5000), n)


@attack("issuer-compromised-key", "issuer", "key_compromised", via=("api", "oid4vp"))
def _(n: str) -> str:
    """Signed with key-1 after the office reported it compromised."""
    return present(credential("comp", issuer="compromised", kid="key-1"), n)


@attack("type-residence-permit-for-national-id-query", "issuer", "credential_type_mismatch")
def _(n: str) -> str:
    """A valid residence permit offered where a national ID is asked for."""
    return present(credential("res", vct=RESIDENCE), n)


@attack("type-vct-swapped-signature-kept", "signature", "signature_invalid")
def _(n: str) -> str:
    """vct rewritten from benefit to national ID without re-signing."""
    cred = credential("vct-swap", vct=BENEFIT)
    h, p, jwt = split_jwt(cred)
    p["vct"] = NATIONAL_ID
    head, _body, sig = jwt.split(".")
    return bound(with_jwt(selected(cred), f"{head}.{b64(json_dumps(p))}.{sig}"), n)


# Oversize, nesting, encodings, duplicate keys.

@attack("oversize-presentation", "size", "presentation_too_large")
def _(n: str) -> str:
    """A 70 KiB presentation (limit 64 KiB)."""
    return bound(selected(_base()) + b64("x" * 52_000) + "~", n)


@attack("oversize-vp-token-string", "size", "presentation_too_large", kind="vp_token")
def _(n: str) -> str:
    """A vp_token JSON text of 60,000 characters (limit 48 KiB)."""
    return json.dumps({"national_id": ["x" * 60_000]})


@attack("too-many-disclosures", "size", "presentation_too_large")
def _(n: str) -> str:
    """300 disclosures (limit 256)."""
    extra = "".join(sdjwt.Disclosure.create(f"salt{i:04d}", f"c{i}", i).encoded + "~" for i in range(300))
    return bound(selected(_base()) + extra, n)


@attack("deep-nesting-disclosure", "nesting", "presentation_too_large")
def _(n: str) -> str:
    """A disclosure value nested 2,000 levels deep."""
    return bound(selected(_base()) + b64('["c2FsdA","x",' + "[" * 2000 + "]" * 2000 + "]") + "~", n)


@attack("deep-nesting-header", "nesting", "presentation_too_large")
def _(n: str) -> str:
    """An issuer JWT header nested 2,000 levels deep."""
    h, p, _ = split_jwt(_base())
    raw = json_dumps(h)[:-1] + ',"x":' + "[" * 2000 + "]" * 2000 + "}"
    return bound(resign(selected(_base()), raw_header=raw), n)


@attack("deep-nesting-kb-payload", "nesting", "key_binding_invalid")
def _(n: str) -> str:
    """A KB-JWT payload nested 2,000 levels deep."""
    sd = selected(_base())
    raw = json_dumps({"iat": NOW, "aud": CLIENT_ID, "nonce": n, "sd_hash": sdjwt.sd_hash(sd)})[:-1] + ',"x":' + "[" * 2000 + "]" * 2000 + "}"
    return sd + kb_jwt(sd, n, raw_payload=raw)


@attack("deep-nesting-vp-token", "nesting", "presentation_too_large", kind="vp_token", via=("api", "oid4vp"))
def _(n: str) -> str:
    """A vp_token text nested 5,000 levels deep (was an uncaught RecursionError: HTTP 500)."""
    return '{"national_id":' + "[" * 5000 + "]" * 5000 + "}"


@attack("deep-nesting-request-body", "nesting", "bad_request", kind="raw", status=400)
def _(n: str) -> str:
    """The /api/verify JSON body nested 5,000 levels deep (was an uncaught RecursionError: HTTP 500)."""
    return '{"policy":"age-over-18","nonce":"' + n + '","vp_token":' + "[" * 5000 + "]" * 5000 + "}"


@attack("duplicate-keys-request-body", "duplicate-keys", "bad_request", kind="raw", status=400)
def _(n: str) -> str:
    """Two 'policy' members in the /api/verify body: which one would a proxy log? Refused."""
    return json.dumps({"policy": "benefit", "nonce": n})[:-1] + ', "policy": "age-over-18", "presentation": "x~"}'


@attack("duplicate-keys-vp-token", "duplicate-keys", "response_malformed", kind="vp_token", via=("api", "oid4vp"))
def _(n: str) -> str:
    """The same credential query id twice in vp_token (last-wins parsers would pick the second)."""
    good = json.dumps(present(credential("dup-vp"), n))
    return '{"national_id":["x~"],"national_id":[' + good + "]}"


@attack("duplicate-keys-issuer-header", "duplicate-keys", "presentation_malformed")
def _(n: str) -> str:
    """Two alg members in the issuer JWT header."""
    h, _p, _ = split_jwt(_base())
    raw = '{"alg":"none",' + json_dumps(h)[1:]
    return bound(resign(selected(_base()), raw_header=raw), n)


@attack("duplicate-keys-issuer-payload", "duplicate-keys", "presentation_malformed")
def _(n: str) -> str:
    """Two iss members in the signed payload."""
    return bound(resign(selected(_base()), raw_payload=lambda t: '{"iss":"' + _did("Nobody") + '",' + t[1:]), n)


@attack("encoding-base64-padding", "encoding", "presentation_malformed")
def _(n: str) -> str:
    """'=' padding on the issuer JWT payload."""
    jwt = _base().split("~", 1)[0]
    head, body, sig = jwt.split(".")
    return bound(with_jwt(selected(_base()), f"{head}.{body}==.{sig}"), n)


@attack("encoding-standard-alphabet", "encoding", "presentation_malformed")
def _(n: str) -> str:
    """A '+' in the issuer JWT signature (standard, not url-safe, alphabet)."""
    jwt = _base().split("~", 1)[0]
    head, body, sig = jwt.split(".")
    return bound(with_jwt(selected(_base()), f"{head}.{body}.+{sig[1:]}"), n)


@attack("encoding-non-ascii", "encoding", "presentation_malformed")
def _(n: str) -> str:
    """A non-ASCII character in the presentation."""
    return bound(selected(_base()), n) + "\u00e9"


@attack("encoding-nul-byte", "encoding", "presentation_malformed")
def _(n: str) -> str:
    """A NUL character inside the issuer JWT."""
    return "\x00" + present(_base(), n)


@attack("encoding-invalid-utf8-payload", "encoding", "presentation_malformed")
def _(n: str) -> str:
    """An issuer JWT payload that is not UTF-8."""
    jwt = _base().split("~", 1)[0]
    head, _body, sig = jwt.split(".")
    bad = b64url_encode(b'{"iss":"' + bytes([0xFF, 0xFE]) + b'"}')
    return bound(with_jwt(selected(_base()), f"{head}.{bad}.{sig}"), n)


@attack("encoding-lone-surrogate-disclosure", "encoding", "presentation_malformed")
def _(n: str) -> str:
    """A disclosure holding an unpaired surrogate escape (\\ud800)."""
    return bound(selected(_base()) + b64('["c2FsdA","given_name","\\ud800"]') + "~", n)


@attack("encoding-nan-in-payload-signed", "encoding", "presentation_malformed")
def _(n: str) -> str:
    """NaN in the signed payload."""
    return bound(resign(selected(_base()), raw_payload=lambda t: t[:-1] + ',"x":NaN}'), n)


@attack("encoding-empty-presentation", "encoding", "presentation_malformed")
def _(n: str) -> str:
    """An empty string."""
    return ""


@attack("encoding-only-tildes", "encoding", "presentation_malformed")
def _(n: str) -> str:
    """'~~~~'."""
    return "~~~~"


@attack("vp-token-not-an-object", "response", "response_malformed", kind="vp_token", via=("api", "oid4vp"))
def _(n: str) -> str:
    """vp_token as a JSON array."""
    return json.dumps([present(_base(), n)])


@attack("vp-token-unknown-query-id", "response", "response_malformed", kind="vp_token")
def _(n: str) -> str:
    """An answer to a query that was not asked."""
    return json.dumps({"national_id": [present(_base(), n)], "extra": ["x"]})


@attack("vp-token-two-presentations", "response", "response_malformed", kind="vp_token")
def _(n: str) -> str:
    """Two presentations for one query (multiple was not requested)."""
    p = present(_base(), n)
    return json.dumps({"national_id": [p, p]})


@attack("vp-token-presentation-not-a-string", "response", "response_malformed", kind="vp_token")
def _(n: str) -> str:
    """A number where the presentation belongs."""
    return json.dumps({"national_id": [5]})


@attack("vp-token-query-missing", "response", "claim_missing", kind="vp_token")
def _(n: str) -> str:
    """The asked query left out."""
    return json.dumps({})


# Policy evasion.

@attack("policy-claim-withheld", "policy", "claim_missing", via=("api", "oid4vp"))
def _(n: str) -> str:
    """The required claim not disclosed (hoping absence passes)."""
    return present(_base(), n, [("address", "locality")])


@attack("policy-claim-false", "policy", "policy_not_satisfied", via=("api", "oid4vp"))
def _(n: str) -> str:
    """A valid credential that says under 18."""
    return present(credential("minor", claims=national_id_claims(age18=False)), n)


@attack("policy-claim-injected-undisclosable", "policy", "disclosure_invalid")
def _(n: str) -> str:
    """A minor adds a holder-made '18: true' disclosure next to the issuer's parent object."""
    sd = selected(credential("inject", claims=national_id_claims(age18=False)), [("age_equal_or_over",)])
    return bound(sd + sdjwt.Disclosure.create("c2FsdHNhbHRzYWx0", "18", True).encoded + "~", n)


# Writing ------------------------------------------------------------------------------------

def vector(case: dict[str, Any], via: str) -> dict[str, Any]:
    name = case["name"] if via == "api" else "oid4vp-" + case["name"]
    nonce = OID4VP_NONCE if via == "oid4vp" else "attack-nonce-" + hashlib.sha256(name.encode()).hexdigest()[:24]
    built = case["build"](nonce)
    out: dict[str, Any] = {"name": name, "attack": case["description"], "category": case["category"], "via": via,
                           "policy": case["policy"], "nonce": nonce}
    decision_expected = case["code"] == ""
    if case["kind"] == "steps":
        out["steps"] = built
        return out
    step: dict[str, Any] = {}
    if case["kind"] == "presentation":
        step["presentation"] = built
    elif case["kind"] == "vp_token":
        step["vp_token"] = built
    else:
        step["raw_body"] = built
    if via == "oid4vp":
        ok = decision_expected or case["code"] == "policy_not_satisfied"
        step["expect"] = {"status": 200 if ok else 400, "decision": decision_expected}
        if not decision_expected:
            step["expect"]["code"] = case["code"]
    elif case["status"] != 200:
        step["expect"] = {"status": case["status"], "problem": case["code"]}
    else:
        step["expect"] = {"status": 200, "decision": decision_expected}
        if not decision_expected:
            step["expect"]["code"] = case["code"]
    out["steps"] = [step]
    return out


def main(out: Path = HERE) -> int:
    written = set()
    out.mkdir(parents=True, exist_ok=True)
    (out / "world.json").write_text(json.dumps(world(), indent=1, sort_keys=True) + "\n")
    for case in CASES:
        for via in case["via"]:
            v = vector(case, via)
            assert v["name"] not in written, v["name"]
            written.add(v["name"])
            (out / f"{v['name']}.json").write_text(json.dumps(v, indent=1, sort_keys=True, ensure_ascii=True) + "\n")
    for stale in out.glob("*.json"):
        if stale.stem not in written and stale.name != "world.json":
            stale.unlink()
    return len(written)


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE
    print(f"{main(target)} vectors in {target}")
