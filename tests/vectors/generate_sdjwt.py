"""Deterministic generator of the SD-JWT issuance -> presentation -> verification cases.

Run ``python tests/vectors/generate_sdjwt.py`` to rewrite every file in
``tests/vectors/sdjwt/``. Keys come from fixed seeds and private values, salts
from a seeded hash counter, times are fixed, and ES256 signatures use RFC 6979
deterministic nonces, so two runs write byte-identical files (a test checks it).

Each case is one JSON file named for what it tests or what was mutated; the
format is described in ``tests/vectors/sdjwt/README.md``. Valid cases come from
:func:`sdjwt.issue` and :func:`sdjwt.create_presentation`; negative cases take
a valid credential and change one thing, re-signing with the issuer's key when
the point is that the issuer signed something the specs forbid (so the check
under test, not the signature, is what refuses it).
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import re
import sys
from pathlib import Path
from typing import Any, Callable

# Run as a script, Python puts this folder first on sys.path, where the case
# folder ``sdjwt/`` would shadow the real package as a namespace package.
_HERE = str(Path(__file__).resolve().parent)
sys.path[:] = [entry for entry in sys.path if str(Path(entry or ".").resolve()) != _HERE]

from cryptography.hazmat.primitives import hashes  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from sdjwt import (  # noqa: E402
    Ed25519PrivateKey,
    P256PublicKey,
    StatusList,
    StatusReference,
    create_presentation,
    issue,
    sd_hash,
    sign_status_list,
)
from sdjwt.disclosure import Disclosure  # noqa: E402
from sdjwt.encoding import b64url_decode, b64url_encode, json_dumps

OUT = Path(__file__).resolve().parent / "sdjwt"

# Fixed times: NOW is 2026-01-01T00:00:00Z; the credential was issued an hour earlier.
NOW = 1767225600
IAT = NOW - 3600
EXP = NOW + 365 * 86400
DAY = 86400

ISS = "https://issuer.civicid.test"
VCT = "https://civicid.test/vct/person"
KID_ED = "issuer-ed25519-1"
KID_P256 = "issuer-p256-1"
AUD = "https://verifier.civicid.test"
NONCE = "n-8Jk2q0Zr4TxW"
STATUS_URI = "https://issuer.civicid.test/status/1"


class DeterministicP256:
    """An ES256 signing key with RFC 6979 nonces (pyca/cryptography), so vectors are reproducible."""

    alg = "ES256"

    def __init__(self, private_value: int) -> None:
        self._key = ec.derive_private_key(private_value, ec.SECP256R1())
        self._public = P256PublicKey.from_cryptography(self._key.public_key())

    def sign(self, signing_input: bytes) -> bytes:
        der = self._key.sign(signing_input, ec.ECDSA(hashes.SHA256(), deterministic_signing=True))
        r, s = decode_dss_signature(der)
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")

    def public_key(self) -> P256PublicKey:
        return self._public


def _seed(label: str) -> bytes:
    return hashlib.sha256(b"civicid test key: " + label.encode()).digest()


ISSUER_ED = Ed25519PrivateKey(_seed("issuer ed25519"))
ISSUER_P256 = DeterministicP256(int.from_bytes(_seed("issuer p256"), "big") >> 8)
HOLDER_ED = Ed25519PrivateKey(_seed("holder ed25519"))
HOLDER_P256 = DeterministicP256(int.from_bytes(_seed("holder p256"), "big") >> 8)
ATTACKER_ED = Ed25519PrivateKey(_seed("attacker ed25519"))
ATTACKER_P256 = DeterministicP256(int.from_bytes(_seed("attacker p256"), "big") >> 8)


class SeededRandom:
    """A salt and decoy source: SHA-256 over a label and a counter. Never use outside tests."""

    def __init__(self, label: str) -> None:
        self.label = label.encode()
        self.counter = 0

    def __call__(self, n: int) -> bytes:
        out = b""
        while len(out) < n:
            out += hashlib.sha256(self.label + self.counter.to_bytes(8, "big")).digest()
            self.counter += 1
        return out[:n]


CLAIMS: dict[str, Any] = {
    "given_name": "Ada",
    "family_name": "Lovelace",
    "birthdate": "1815-12-10",
    "address": {"street_address": "12 Analytical Row", "locality": "London", "country": "GB"},
    "nationalities": ["GB", "IT"],
}

# Every claim disclosable, the address both as a whole and part by part (recursive).
DISCLOSABLE: list[tuple[Any, ...]] = [
    ("given_name",),
    ("family_name",),
    ("birthdate",),
    ("address",),
    ("address", "street_address"),
    ("address", "locality"),
    ("address", "country"),
    ("nationalities", None),
]

ISSUER_KEYS = [
    {"iss": ISS, "kid": KID_ED, "jwk": ISSUER_ED.public_key().public_jwk()},
    {"iss": ISS, "kid": KID_P256, "jwk": ISSUER_P256.public_key().public_jwk()},
]


def verifier(**overrides: Any) -> dict[str, Any]:
    options: dict[str, Any] = {
        "algorithms": ["EdDSA"],
        "now": NOW,
        "audience": AUD,
        "nonce": NONCE,
        "require_key_binding": True,
    }
    options.update(overrides)
    return options


def credential(
    label: str,
    *,
    claims: dict[str, Any] | None = None,
    disclosable: list[tuple[Any, ...]] | None = None,
    holder: Any = HOLDER_ED,
    issuer: Any = ISSUER_ED,
    kid: str = KID_ED,
    **kwargs: Any,
) -> str:
    """A freshly issued SD-JWT (no KB-JWT), salts seeded by ``label``."""
    options: dict[str, Any] = {"iat": IAT, "exp": EXP}
    options.update(kwargs)
    issued = issue(
        copy.deepcopy(CLAIMS if claims is None else claims),
        disclosable=DISCLOSABLE if disclosable is None else disclosable,
        issuer_key=issuer,
        kid=kid,
        iss=ISS,
        vct=VCT,
        random=SeededRandom(label),
        holder_jwk=None if holder is None else holder.public_key().public_jwk(),
        **options,
    )
    return issued.serialize()


def present(sd_jwt: str, paths: list[tuple[Any, ...]], holder: Any = HOLDER_ED, **kb: Any) -> str:
    options: dict[str, Any] = {"aud": AUD, "nonce": NONCE, "iat": NOW - 10}
    options.update(kb)
    return create_presentation(sd_jwt, paths, holder_key=holder, **options)


def raw_jws(header_json: str, payload_json: str, key: Any) -> str:
    """A compact JWS over JSON text given verbatim (to carry duplicate names or odd headers)."""
    signing_input = b64url_encode(header_json.encode()) + "." + b64url_encode(payload_json.encode())
    return signing_input + "." + b64url_encode(key.sign(signing_input.encode("ascii")))


def jws(header: dict[str, Any], payload: dict[str, Any], key: Any) -> str:
    """Sign ``header`` exactly as given (``alg`` included), unlike :func:`sdjwt.jws.sign_compact`."""
    return raw_jws(_ascii_json(header), _ascii_json(payload), key)


def _ascii_json(value: Any) -> str:
    # ASCII with escapes, so crafted values may hold anything JSON can (even lone surrogates).
    return json.dumps(value, separators=(",", ":"))


def decode_jwt(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    header, payload, _ = token.split(".")
    return json.loads(b64url_decode(header)), json.loads(b64url_decode(payload))


def resign(
    sd_jwt: str,
    *,
    header: Callable[[dict[str, Any]], None] | None = None,
    payload: Callable[[dict[str, Any]], None] | None = None,
    key: Any = ISSUER_ED,
) -> tuple[str, list[str]]:
    """Re-sign the issuer JWT of ``sd_jwt`` after editing it; return the JWT and the disclosures."""
    parts = sd_jwt.split("~")
    h, p = decode_jwt(parts[0])
    if header:
        header(h)
    if payload:
        payload(p)
    return jws(h, p, key), [d for d in parts[1:-1]]


def assemble(jwt: str, disclosures: list[str], holder: Any = HOLDER_ED, **kb: Any) -> str:
    """``<JWT>~<D>~...~<KB-JWT>``, the KB-JWT over exactly these parts (``holder=None``: no KB-JWT)."""
    body = "".join([jwt, "~", *(d + "~" for d in disclosures)])
    if holder is None:
        return body
    claims: dict[str, Any] = {"iat": NOW - 10, "aud": AUD, "nonce": NONCE, "sd_hash": sd_hash(body)}
    claims.update(kb)
    return body + jws({"alg": holder.alg, "typ": "kb+jwt"}, claims, holder)


def raw_disclosure(array_json: str) -> str:
    return b64url_encode(array_json.encode())


def find(disclosures: list[str], name: str | None, value: Any = None) -> str:
    """The encoded disclosure for ``name`` (or the array element ``value`` when ``name`` is None)."""
    for encoded in disclosures:
        parsed = Disclosure.parse(encoded)
        if parsed.name == name and (name is not None or parsed.value == value):
            return encoded
    raise LookupError(name)


def digest_of(encoded: str) -> str:
    return b64url_encode(hashlib.sha256(encoded.encode("ascii")).digest())


def parts(sd_jwt: str) -> tuple[str, list[str]]:
    split = sd_jwt.split("~")
    return split[0], split[1:-1]


def flip_last_bit(b64: str) -> str:
    raw = bytearray(b64url_decode(b64))
    raw[len(raw) // 2] ^= 0x01
    return b64url_encode(bytes(raw))


def respell_last_char(b64: str) -> str:
    """The same bytes with the last base64url character's spare low bit flipped."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    other = b64[:-1] + alphabet[alphabet.index(b64[-1]) ^ 1]
    # Lenient decoding (the stdlib's), which ignores spare bits: the bytes are unchanged.
    assert base64.urlsafe_b64decode(other + "==") == base64.urlsafe_b64decode(b64 + "==")
    return other


# ---------------------------------------------------------------------------
# The cases.
# ---------------------------------------------------------------------------

BASE = credential("base")
BASE_JWT, BASE_DISCLOSURES = parts(BASE)
ISSUER_CLAIMS = {"iss": ISS, "iat": IAT, "exp": EXP, "vct": VCT}


def holder_cnf(holder: Any) -> dict[str, Any]:
    return {"jwk": holder.public_key().public_jwk()}


def valid(description: str, presentation: str, claims: dict[str, Any], disclosed: list[list[Any]], **kw: Any) -> dict[str, Any]:
    return {
        "description": description,
        "operation": "verify",
        "presentation": presentation,
        "issuer_keys": ISSUER_KEYS,
        "verifier": kw.pop("verifier", verifier()),
        **kw,
        "expect": {"claims": claims, "disclosed": disclosed},
    }


def invalid(description: str, presentation: str, error: str, match: str, **kw: Any) -> dict[str, Any]:
    return {
        "description": description,
        "operation": "verify",
        "presentation": presentation,
        "issuer_keys": ISSUER_KEYS,
        "verifier": kw.pop("verifier", verifier()),
        **kw,
        "expect": {"error": error, "match": match},
    }


def valid_cases() -> dict[str, dict[str, Any]]:
    cases: dict[str, dict[str, Any]] = {}
    # Both nationalities are disclosures: when neither is disclosed the array is empty.
    bound = {**ISSUER_CLAIMS, "cnf": holder_cnf(HOLDER_ED), "nationalities": []}

    cases["valid-top-level"] = valid(
        "Top-level claims disclosed; the others stay hidden.",
        present(BASE, [("given_name",), ("birthdate",)]),
        {**bound, "given_name": "Ada", "birthdate": "1815-12-10"},
        [["given_name"], ["birthdate"]],
    )
    cases["valid-nested-object-property"] = valid(
        "Selecting address/locality pulls in the address disclosure (its parent) and nothing else of it.",
        present(BASE, [("address", "locality")]),
        {**bound, "address": {"locality": "London"}},
        [["address"], ["address", "locality"]],
    )
    cases["valid-recursive-object-and-children"] = valid(
        "The address is disclosable as a whole and part by part; selecting it discloses all its parts.",
        present(BASE, [("address",)]),
        {**bound, "address": CLAIMS["address"]},
        [["address"], ["address", "country"], ["address", "locality"], ["address", "street_address"]],
    )
    cases["valid-array-every-element"] = valid(
        "('nationalities', None): every array element disclosed.",
        present(BASE, [("nationalities", None)]),
        {**bound, "nationalities": ["GB", "IT"]},
        [["nationalities", 0], ["nationalities", 1]],
    )
    cases["valid-array-single-index"] = valid(
        "One array element disclosed; the undisclosed one is removed, so the disclosed one moves to index 0.",
        present(BASE, [("nationalities", 1)]),
        {**bound, "nationalities": ["IT"]},
        [["nationalities", 0]],
    )
    cases["valid-zero-disclosures"] = valid(
        "A presentation with no disclosures at all, key-bound: only always-visible claims.",
        present(BASE, []),
        {**bound, "nationalities": []},
        [],
    )
    decoyed = credential("decoys", decoys=3)
    cases["valid-decoys"] = valid(
        "Three decoy digests in every '_sd' array are ignored.",
        present(decoyed, [("family_name",), ("address", "country")]),
        {**bound, "family_name": "Lovelace", "address": {"country": "GB"}},
        [["family_name"], ["address"], ["address", "country"]],
    )
    es_holder = credential("es256-holder", holder=HOLDER_P256)
    cases["valid-holder-es256"] = valid(
        "Key binding with an ES256 (P-256) holder key.",
        present(es_holder, [("given_name",)], holder=HOLDER_P256),
        {**ISSUER_CLAIMS, "cnf": holder_cnf(HOLDER_P256), "given_name": "Ada", "nationalities": []},
        [["given_name"]],
    )
    cases["valid-holder-eddsa"] = valid(
        "Key binding with an EdDSA (Ed25519) holder key.",
        present(BASE, [("given_name",)], holder=HOLDER_ED),
        {**bound, "given_name": "Ada", "nationalities": []},
        [["given_name"]],
    )
    es_issuer = credential("es256-issuer", issuer=ISSUER_P256, kid=KID_P256)
    cases["valid-issuer-es256-allowed"] = valid(
        "An ES256 issuer signature is accepted when the verifier allows ES256.",
        present(es_issuer, [("given_name",)]),
        {**bound, "given_name": "Ada", "nationalities": []},
        [["given_name"]],
        verifier=verifier(algorithms=["EdDSA", "ES256"]),
    )
    cases["valid-no-key-binding-when-not-required"] = valid(
        "Without require_key_binding, a presentation with no KB-JWT is accepted.",
        create_presentation(BASE, [("given_name",)], holder_key=None),
        {**bound, "given_name": "Ada", "nationalities": []},
        [["given_name"]],
        verifier=verifier(require_key_binding=False, audience=None, nonce=None),
    )
    statused = credential("status-valid", status=StatusReference(1, STATUS_URI))
    cases["valid-status-valid"] = valid(
        "The status list entry is VALID (0).",
        present(statused, [("given_name",)]),
        {**bound, "status": {"status_list": {"idx": 1, "uri": STATUS_URI}}, "given_name": "Ada", "nationalities": []},
        [["given_name"]],
        status_list=STATUS_LIST,
    )
    return cases


STATUS_LIST = {
    "uri": STATUS_URI,
    "algorithms": ["EdDSA"],
    "token": sign_status_list(
        StatusList.empty(16, bits=2).with_status({3: 1, 5: 2}),
        uri=STATUS_URI,
        key=ISSUER_ED,
        kid=KID_ED,
        iat=NOW - 600,
        exp=NOW + DAY,
    ),
}


def _nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": "x"}
    for _ in range(depth):
        value = {"a": value}
    return value


def invalid_cases() -> dict[str, dict[str, Any]]:
    c: dict[str, dict[str, Any]] = {}
    good = present(BASE, [("given_name",), ("address", "locality")])
    jwt, discs = parts(good)
    kb = good.rsplit("~", 1)[1]
    given = find(BASE_DISCLOSURES, "given_name")

    def signed(
        description: str,
        error: str,
        match: str,
        *,
        header: Callable[[dict[str, Any]], None] | None = None,
        payload: Callable[[dict[str, Any]], None] | None = None,
        key: Any = ISSUER_ED,
        disclosures: list[str] | None = None,
        **kw: Any,
    ) -> dict[str, Any]:
        new_jwt, _ = resign(BASE, header=header, payload=payload, key=key)
        return invalid(description, assemble(new_jwt, [given] if disclosures is None else disclosures), error, match, **kw)

    # Issuer-signed JWT: signature and header.
    h, p, s = BASE_JWT.split(".")
    c["issuer-signature-tampered"] = invalid(
        "One bit of the issuer signature flipped.",
        assemble(f"{h}.{p}.{flip_last_bit(s)}", [given]),
        "SignatureInvalid", "signature does not verify",
    )
    _, payload = decode_jwt(BASE_JWT)
    payload_text = json_dumps(payload).replace(VCT, VCT[:-1] + "N", 1)
    c["payload-byte-flipped"] = invalid(
        "One byte of the issuer payload changed after signing.",
        assemble(f"{h}.{b64url_encode(payload_text.encode())}.{s}", [given]),
        "SignatureInvalid", "signature does not verify",
    )
    none_header, _ = decode_jwt(BASE_JWT)
    none_header["alg"] = "none"
    c["alg-none"] = invalid(
        "alg 'none' with an empty signature.",
        assemble(f"{b64url_encode(json_dumps(none_header).encode())}.{p}.", [given]),
        "UnsupportedAlgorithm", "alg is not allowed",
    )
    hs_header = {**none_header, "alg": "HS256"}
    hs_input = f"{b64url_encode(json_dumps(hs_header).encode())}.{p}"
    secret = json_dumps(ISSUER_ED.public_key().public_jwk()).encode()
    hs_sig = b64url_encode(hmac.new(secret, hs_input.encode(), hashlib.sha256).digest())
    c["alg-HS256"] = invalid(
        "HS256 keyed with the issuer's public JWK (the classic key-confusion attack).",
        assemble(f"{hs_input}.{hs_sig}", [given]),
        "UnsupportedAlgorithm", "alg is not allowed",
    )
    es_issuer = credential("es256-issuer", issuer=ISSUER_P256, kid=KID_P256)
    c["alg-not-in-allow-list"] = invalid(
        "A genuine ES256 issuer signature, but this verifier allows only EdDSA.",
        present(es_issuer, [("given_name",)]),
        "UnsupportedAlgorithm", "alg is not allowed; accepted: EdDSA",
    )
    c["alg-key-type-confusion"] = signed(
        "alg ES256 signed by an attacker P-256 key, with the kid of the issuer's Ed25519 key.",
        "UnsupportedAlgorithm", "does not match the issuer's key type",
        header=lambda hd: hd.update(alg="ES256"), key=ATTACKER_P256,
        verifier=verifier(algorithms=["EdDSA", "ES256"]),
    )
    attacker_jwk = ATTACKER_ED.public_key().public_jwk()
    c["header-jwk-injected"] = signed(
        "The header carries the attacker's own key in 'jwk', and is signed with it.",
        "MalformedSDJWT", "header parameter 'jwk' is not accepted",
        header=lambda hd: hd.update(jwk=attacker_jwk), key=ATTACKER_ED,
    )
    c["header-jku"] = signed(
        "The header points at a key set URL ('jku').",
        "MalformedSDJWT", "header parameter 'jku' is not accepted",
        header=lambda hd: hd.update(jku="https://attacker.test/jwks.json"),
    )
    c["header-x5u"] = signed(
        "The header points at a certificate URL ('x5u').",
        "MalformedSDJWT", "header parameter 'x5u' is not accepted",
        header=lambda hd: hd.update(x5u="https://attacker.test/cert.pem"),
    )
    c["header-crit"] = signed(
        "The header marks an extension critical ('crit'); civicid understands none.",
        "MalformedSDJWT", "header parameter 'crit' is not accepted",
        header=lambda hd: hd.update(crit=["exp"]),
    )
    c["typ-wrong"] = signed(
        "typ is 'JWT', not 'dc+sd-jwt'.",
        "MalformedSDJWT", "typ must be one of: dc\\+sd-jwt",
        header=lambda hd: hd.update(typ="JWT"),
    )
    c["typ-missing"] = signed(
        "No typ header.",
        "MalformedSDJWT", "typ must be one of: dc\\+sd-jwt",
        header=lambda hd: hd.pop("typ"),
    )
    c["kid-not-string"] = signed(
        "kid is a number.",
        "MalformedSDJWT", "'kid' must be a string",
        header=lambda hd: hd.update(kid=1),
    )
    c["kid-unknown"] = signed(
        "kid names no key the issuer registered.",
        "UnknownIssuerKey", "no verification key is known",
        header=lambda hd: hd.update(kid="issuer-ed25519-9"),
    )

    # Issuer payload: digests and _sd_alg.
    c["sd-alg-sha-512"] = signed(
        "_sd_alg is sha-512; only sha-256 is supported.",
        "UnsupportedAlgorithm", "_sd_alg must be 'sha-256'",
        payload=lambda pl: pl.update(_sd_alg="sha-512"),
    )
    given_digest = digest_of(given)
    c["digest-duplicated"] = signed(
        "The issuer's '_sd' lists the given_name digest twice.",
        "DisclosureMismatch", "digest appears more than once",
        payload=lambda pl: pl["_sd"].append(given_digest),
    )
    c["disclosure-duplicated"] = invalid(
        "The same disclosure sent twice (KB-JWT over both).",
        assemble(BASE_JWT, [given, given]),
        "DisclosureMismatch", "disclosure appears more than once in the presentation",
    )
    forged = raw_disclosure('["c2FsdHNhbHRzYWx0c2FsdA", "is_admin", true]')
    c["disclosure-unreferenced"] = invalid(
        "A disclosure the issuer never signed, appended by the holder (KB-JWT over it).",
        assemble(BASE_JWT, [given, forged]),
        "DisclosureMismatch", "not referenced by any digest the issuer signed",
    )
    for label, name in (("_sd", "_sd"), ("ellipsis", "...")):
        bad = raw_disclosure(json.dumps(["c2FsdHNhbHRzYWx0c2FsdA", name, "x"]))
        bad_digest = digest_of(bad)
        c[f"disclosure-name-{label}"] = signed(
            f"An issuer-signed disclosure whose claim name is the reserved {name!r}.",
            "MalformedSDJWT", f"disclosure claim name {re.escape(repr(name))} is reserved",
            payload=lambda pl, d=bad_digest: pl["_sd"].append(d),
            disclosures=[bad],
        )
    collide = raw_disclosure('["c2FsdHNhbHRzYWx0c2FsdA", "vct", "https://attacker.test/vct"]')
    collide_digest = digest_of(collide)
    c["disclosure-claim-name-collision"] = signed(
        "A disclosed 'vct' where the payload already has 'vct' in plain.",
        "DisclosureMismatch", "already exists in the same object",
        payload=lambda pl: pl["_sd"].append(collide_digest),
        disclosures=[collide],
    )
    element = raw_disclosure('["c2FsdHNhbHRzYWx0c2FsdA", "FR"]')
    element_digest = digest_of(element)
    c["array-disclosure-in-object-sd"] = signed(
        "An array element disclosure referenced from an object's '_sd'.",
        "DisclosureMismatch", "array element disclosure is referenced from an object",
        payload=lambda pl: pl["_sd"].append(element_digest),
        disclosures=[element],
    )
    prop = raw_disclosure('["c2FsdHNhbHRzYWx0c2FsdA", "country", "FR"]')
    prop_digest = digest_of(prop)
    c["object-disclosure-in-array"] = signed(
        "An object property disclosure referenced from an array element.",
        "DisclosureMismatch", "object property disclosure is referenced from an array element",
        payload=lambda pl: pl.update(nationalities=[{"...": prop_digest}]),
        disclosures=[prop],
    )
    c["ellipsis-object-with-extra-key"] = signed(
        "An array digest object with a key besides '...'.",
        "DisclosureMismatch", "must hold only the '...' key",
        payload=lambda pl: pl.update(nationalities=[{"...": element_digest, "extra": 1}]),
        disclosures=[element],
    )
    c["ellipsis-key-in-object"] = signed(
        "A plain object carries the reserved '...' key.",
        "DisclosureMismatch", "reserved and must not appear",
        payload=lambda pl: pl.update(extra={"...": "x"}),
    )
    exp_disclosure = raw_disclosure(f'["c2FsdHNhbHRzYWx0c2FsdA", "exp", {EXP}]')
    exp_digest = digest_of(exp_disclosure)

    def exp_selectively_disclosable(pl: dict[str, Any]) -> None:
        pl.pop("exp")
        pl["_sd"].append(exp_digest)

    c["disclosure-registered-claim-exp"] = signed(
        "'exp' made selectively disclosable by the issuer, which SD-JWT VC forbids: the holder could withhold it.",
        "DisclosureMismatch", "'exp' must not be selectively disclosed",
        payload=exp_selectively_disclosable,
        disclosures=[exp_disclosure, given],
    )

    # Disclosure encoding.
    for name, array_json, match in (
        ("disclosure-not-json", "not json at all", "not valid UTF-8 JSON"),
        ("disclosure-wrong-length-array", '["c2FsdHNhbHRzYWx0c2FsdA", "a", "b", "c"]', "JSON array of 2 or 3 elements"),
        ("disclosure-salt-not-string", '[1, "given_name", "Ada"]', "salt must be a string"),
        ("duplicate-json-key-in-disclosure", '[{"a": 1, "a": 2}, "x"]', "duplicate member name"),
    ):
        bad = raw_disclosure(array_json)
        bad_digest = digest_of(bad)
        c[name] = signed(
            f"An issuer-signed disclosure whose decoded content is: {array_json}",
            "MalformedSDJWT", match,
            payload=lambda pl, d=bad_digest: pl["_sd"].append(d),
            disclosures=[bad],
        )
    padded = given + "=="
    c["disclosure-bad-base64"] = invalid(
        "A disclosure with '=' padding, which base64url in SD-JWT forbids.",
        assemble(BASE_JWT, [padded]),
        "MalformedSDJWT", "not valid unpadded base64url",
    )

    # Base64url spends 4 spare bits in the last character of a 64-byte signature:
    # the same bytes spelled differently must not pass (the text is what gets hashed).
    c["issuer-signature-non-canonical"] = invalid(
        "The issuer signature's last character changed in its spare bits only (same bytes), without key binding.",
        assemble(f"{h}.{p}.{respell_last_char(s)}", [given], holder=None),
        "MalformedSDJWT", "issuer-signed JWT signature is not (canonical|valid unpadded) base64url",
        verifier=verifier(require_key_binding=False, audience=None, nonce=None),
    )
    c["kb-jwt-signature-non-canonical"] = invalid(
        "The KB-JWT signature's last character changed in its spare bits only (same bytes).",
        good[:-1] + respell_last_char(kb.rsplit(".", 1)[1])[-1],
        "KeyBindingError", "KB-JWT signature is not (canonical|valid unpadded) base64url",
    )

    # Key Binding JWT.
    c["kb-jwt-missing"] = invalid(
        "No KB-JWT though the verifier requires key binding.",
        assemble(BASE_JWT, [given], holder=None),
        "KeyBindingError", "has no KB-JWT",
    )
    c["kb-jwt-wrong-nonce"] = invalid(
        "KB-JWT made for another request's nonce.",
        assemble(BASE_JWT, [given], nonce="n-another-request"),
        "KeyBindingError", "'nonce' does not match",
    )
    c["kb-jwt-wrong-aud"] = invalid(
        "KB-JWT made for another verifier.",
        assemble(BASE_JWT, [given], aud="https://other-verifier.test"),
        "KeyBindingError", "'aud' does not name this verifier",
    )
    c["kb-jwt-aud-lone-surrogate"] = invalid(
        "KB-JWT 'aud' holds a lone UTF-16 surrogate, which cannot be encoded for comparison "
        "(refused either when the JSON is parsed or when aud is compared).",
        assemble(BASE_JWT, [given], aud="\ud800"),
        "KeyBindingError", "'aud' does not name this verifier|KB-JWT payload.*(not valid UTF-8 JSON|surrogate)",
    )
    c["kb-jwt-stale"] = invalid(
        "KB-JWT issued a day before now (a replay of an old presentation).",
        assemble(BASE_JWT, [given], iat=NOW - DAY),
        "KeyBindingError", "too old",
    )
    c["kb-jwt-future-iat"] = invalid(
        "KB-JWT issued an hour in the future.",
        assemble(BASE_JWT, [given], iat=NOW + 3600),
        "KeyBindingError", "in the future",
    )
    c["kb-jwt-iat-not-integer"] = invalid(
        "KB-JWT 'iat' is a string.",
        assemble(BASE_JWT, [given], iat=str(NOW)),
        "KeyBindingError", "no integer 'iat'",
    )
    body = assemble(BASE_JWT, [given], holder=None)
    kb_claims = {"iat": NOW - 10, "aud": AUD, "nonce": NONCE, "sd_hash": sd_hash(body)}
    c["kb-jwt-wrong-typ"] = invalid(
        "KB-JWT typ is 'JWT'.",
        body + jws({"alg": "EdDSA", "typ": "JWT"}, kb_claims, HOLDER_ED),
        "KeyBindingError", "typ must be 'kb\\+jwt'",
    )
    c["kb-jwt-signed-by-other-key"] = invalid(
        "KB-JWT signed by a key other than the one in cnf.",
        assemble(BASE_JWT, [given], holder=ATTACKER_ED),
        "KeyBindingError", "signature does not verify",
    )
    c["kb-jwt-alg-none"] = invalid(
        "KB-JWT with alg 'none' and no signature.",
        body + b64url_encode(b'{"alg":"none","typ":"kb+jwt"}') + "." + b64url_encode(json_dumps(kb_claims).encode()) + ".",
        "KeyBindingError", "alg is not allowed",
    )
    c["kb-jwt-alg-mismatch-holder-key"] = invalid(
        "KB-JWT signed ES256 by an attacker while cnf holds an Ed25519 key.",
        assemble(BASE_JWT, [given], holder=ATTACKER_P256),
        "KeyBindingError", "alg does not match the type of its verification key",
    )
    three = present(BASE, [("given_name",), ("family_name",), ("birthdate",)])
    three_jwt, three_discs = parts(three)
    c["kb-jwt-sd-hash-mismatch"] = invalid(
        "A disclosure removed after the KB-JWT was signed over three.",
        "".join([three_jwt, "~", *(d + "~" for d in three_discs[:2]), three.rsplit("~", 1)[1]]),
        "KeyBindingError", "'sd_hash' does not match",
    )
    c["kb-jwt-disclosures-reordered"] = invalid(
        "Disclosures reordered after the KB-JWT was signed.",
        "".join([three_jwt, "~", *(d + "~" for d in reversed(three_discs)), three.rsplit("~", 1)[1]]),
        "KeyBindingError", "'sd_hash' does not match",
    )
    c["cnf-missing"] = signed(
        "The credential has no cnf, but a KB-JWT is required.",
        "KeyBindingError", "no 'cnf.jwk' holder key",
        payload=lambda pl: pl.pop("cnf"),
    )
    private_jwk = {**HOLDER_ED.public_key().public_jwk(), "d": b64url_encode(HOLDER_ED.seed)}
    c["cnf-jwk-with-private-d"] = signed(
        "cnf.jwk carries the holder's private key ('d').",
        "KeyBindingError", "private key material",
        payload=lambda pl: pl["cnf"].update(jwk=private_jwk),
    )

    # Validity times and registered claims.
    c["expired"] = signed(
        "exp a day before now.",
        "Expired", "has expired",
        payload=lambda pl: pl.update(exp=NOW - DAY),
    )
    c["not-yet-valid"] = signed(
        "nbf a day after now.",
        "NotYetValid", "not valid yet",
        payload=lambda pl: pl.update(nbf=NOW + DAY),
    )
    c["iat-in-future"] = signed(
        "iat a day after now.",
        "NotYetValid", "issued in the future",
        payload=lambda pl: pl.update(iat=NOW + DAY),
    )
    c["exp-not-number"] = signed(
        "exp is a string.",
        "MalformedSDJWT", "'exp' must be a NumericDate",
        payload=lambda pl: pl.update(exp=str(EXP)),
    )
    c["iat-not-finite"] = invalid(
        "iat is 1e400, which JSON parsers read as infinity (checked before the signature).",
        assemble(raw_jws('{"alg":"EdDSA","typ":"dc+sd-jwt","kid":"issuer-ed25519-1"}',
                         json_dumps({"iss": ISS, "vct": VCT, "_sd_alg": "sha-256"})[:-1] + ',"iat":1e400}',
                         ISSUER_ED), []),
        "MalformedSDJWT", "'iat' must be a NumericDate",
    )
    c["vct-missing"] = signed(
        "No vct claim.",
        "MalformedSDJWT", "no 'vct' string",
        payload=lambda pl: pl.pop("vct"),
    )
    c["iss-missing"] = signed(
        "No iss claim.",
        "MalformedSDJWT", "no 'iss'",
        payload=lambda pl: pl.pop("iss"),
    )
    c["duplicate-json-key-in-payload"] = invalid(
        "The payload names 'iss' twice; parsers disagree on which one wins.",
        assemble(raw_jws('{"alg":"EdDSA","typ":"dc+sd-jwt","kid":"issuer-ed25519-1"}',
                         json_dumps(payload)[:-1] + ',"iss":"https://attacker.test"}', ISSUER_ED), []),
        "MalformedSDJWT", "duplicate member name",
    )
    c["payload-not-object"] = invalid(
        "The payload is a JSON array.",
        assemble(raw_jws('{"alg":"EdDSA","typ":"dc+sd-jwt","kid":"issuer-ed25519-1"}', "[1,2]", ISSUER_ED), []),
        "MalformedSDJWT", "header and payload must be JSON objects",
    )

    # Serialisation and limits.
    big_jwt, big_discs = parts(
        credential("too-long", claims={**CLAIMS, "portrait": "A" * 70000}, disclosable=[("given_name",)])
    )
    c["too-long"] = invalid(
        "A genuine credential longer than the default Limits.max_length (64 KiB).",
        assemble(big_jwt, big_discs),
        "LimitExceeded", "longer than 65536 characters",
    )
    many_claims = {f"c{i:03d}": i for i in range(257)}
    many_jwt, many_discs = parts(credential("too-many", claims=many_claims, disclosable=[(k,) for k in many_claims]))
    c["too-many-disclosures"] = invalid(
        "257 disclosures, one over the default Limits.max_disclosures.",
        assemble(many_jwt, many_discs),
        "LimitExceeded", "more than 256 disclosures",
    )
    deep_jwt, _ = parts(credential("too-deep", claims={"deep": _nested(20)}, disclosable=[]))
    c["too-deep-nesting"] = invalid(
        "The issuer payload nests 22 levels deep, over the default Limits.max_depth (16).",
        assemble(deep_jwt, []),
        "LimitExceeded", "nests deeper than 16 levels",
    )
    chain = [("deep",) + ("a",) * i for i in range(21)]
    deep_sd = credential("too-deep-sd", claims={"deep": _nested(20)}, disclosable=chain)
    c["too-deep-nesting-via-disclosures"] = invalid(
        "Each disclosure is shallow but, nested in one another, they reach 22 levels.",
        present(deep_sd, [chain[-1] + ("leaf",)]),
        "LimitExceeded", "nests deeper than 16 levels",
    )
    c["non-ascii-input"] = invalid(
        "A non-ASCII character in the presentation.",
        good.replace("~", "~\u00e9", 1),
        "MalformedSDJWT", "must be ASCII",
    )
    c["empty-disclosure"] = invalid(
        "An empty part between two '~' ('~~').",
        jwt + "~~" + "~".join(discs) + "~" + kb,
        "MalformedSDJWT", "empty disclosure",
    )
    c["no-tilde"] = invalid(
        "A bare JWT with no '~'.",
        jwt,
        "MalformedSDJWT", "no '~' separator",
    )
    c["jwt-two-parts"] = invalid(
        "The issuer JWT has two '.'-separated parts.",
        assemble(f"{h}.{p}", [given]),
        "MalformedSDJWT", "expected three '.'-separated parts",
    )

    # Status.
    for name, idx, error, match in (
        ("status-revoked", 3, "StatusRevoked", "has been revoked"),
        ("status-suspended", 5, "StatusSuspended", "is suspended"),
    ):
        statused = credential(name, status=StatusReference(idx, STATUS_URI))
        c[name] = invalid(
            f"The status list (signed by the issuer) marks index {idx} as {name.split('-')[1]}.",
            present(statused, [("given_name",)]),
            error, match,
            status_list=STATUS_LIST,
        )
    c["status-missing-when-required"] = invalid(
        "The verifier checks status but the credential has no status reference.",
        good,
        "InvalidSDJWT", "no status reference",
        status_list=STATUS_LIST,
    )
    return c


def issuance_cases() -> dict[str, dict[str, Any]]:
    c: dict[str, dict[str, Any]] = {}

    def refused(description: str, claims: dict[str, Any], disclosable: list[list[Any]], match: str, **kw: Any) -> dict[str, Any]:
        return {
            "description": description,
            "operation": "issue",
            "issue": {"claims": claims, "disclosable": disclosable, **kw},
            "expect": {"error": "IssuanceError", "match": match},
        }

    for claim in ("iss", "vct", "cnf", "status", "exp", "nbf", "iat"):
        c[f"issue-refuses-disclosable-{claim}"] = refused(
            f"'{claim}' must never be selectively disclosable (SD-JWT VC; iat is civicid policy).",
            CLAIMS, [[claim]], f"claim '{claim}' must never be selectively disclosable",
        )
    c["issue-refuses-path-to-missing-claim"] = refused(
        "A disclosable path naming a claim the claims object lacks.",
        CLAIMS, [["middle_name"]], "disclosable claim \\$\\.middle_name is not in the claims",
    )
    c["issue-refuses-path-to-missing-nested-claim"] = refused(
        "A disclosable path naming a missing address part.",
        CLAIMS, [["address", "planet"]], "disclosable claim \\$\\.address\\.planet is not in the claims",
    )
    c["issue-refuses-path-to-missing-array-index"] = refused(
        "A disclosable path naming an array index past the end.",
        CLAIMS, [["nationalities", 5]], "disclosable element \\$\\.nationalities\\[5\\] is not in the claims",
    )
    c["issue-refuses-path-into-a-string"] = refused(
        "A disclosable path under a string claim.",
        CLAIMS, [["given_name", "first"]], "is not an object or array",
    )
    for label, name in (("_sd", "_sd"), ("ellipsis", "..."), ("_sd_alg", "_sd_alg")):
        c[f"issue-refuses-claims-with-{label}"] = refused(
            f"The claims object carries the reserved name {name!r}.",
            {**CLAIMS, name: "x"}, [["given_name"]], f"claim name {re.escape(repr(name))} under \\$ is reserved by RFC 9901",
        )
        c[f"issue-refuses-nested-claims-with-{label}"] = refused(
            f"A nested object carries the reserved name {name!r}.",
            {**CLAIMS, "address": {**CLAIMS["address"], name: "x"}}, [["given_name"]],
            f"claim name {re.escape(repr(name))} under \\$\\.address is reserved by RFC 9901",
        )
    c["issue-refuses-claims-with-iss"] = refused(
        "The claims object carries 'iss', which only the keyword argument may set.",
        {**CLAIMS, "iss": "https://attacker.test"}, [["given_name"]], "claim 'iss' is set by the issuer",
    )
    c["issue-refuses-holder-jwk-with-private-d"] = refused(
        "The holder JWK to bind carries a private 'd' member.",
        CLAIMS, [["given_name"]], "holder JWK must be a public key",
        holder_jwk={**HOLDER_ED.public_key().public_jwk(), "d": b64url_encode(HOLDER_ED.seed)},
    )
    return c


def presentation_cases() -> dict[str, dict[str, Any]]:
    c: dict[str, dict[str, Any]] = {}
    for name, path, shown in (
        ("present-claim-not-available", ["middle_name"], "middle_name"),
        ("present-nested-claim-not-available", ["address", "planet"], "address/planet"),
        ("present-array-index-not-available", ["nationalities", 7], "nationalities/7"),
    ):
        c[name] = {
            "description": f"The holder asks to disclose {shown}, which the credential lacks.",
            "operation": "present",
            "sd_jwt": BASE,
            "paths": [path],
            "expect": {"error": "ClaimNotAvailable", "match": f"the credential has no claim at {shown}$"},
        }
    return c


def all_cases() -> dict[str, dict[str, Any]]:
    cases = {**valid_cases(), **invalid_cases(), **issuance_cases(), **presentation_cases()}
    return {name: json.loads(json.dumps(case)) for name, case in sorted(cases.items())}


def render(case: dict[str, Any]) -> str:
    return json.dumps(case, indent=2, ensure_ascii=True) + "\n"


README_HEAD = """\
# SD-JWT issuance -> presentation -> verification cases

Every `*.json` file here is one case, written by the committed deterministic
generator [`../generate_sdjwt.py`](../generate_sdjwt.py). Do not edit them by
hand; change the generator and regenerate:

```
python tests/vectors/generate_sdjwt.py
```

The generator uses fixed Ed25519 seeds and P-256 private values (derived from
SHA-256 of fixed labels), ES256 signatures with RFC 6979 deterministic nonces,
a seeded salt source (SHA-256 over a label and a counter) and fixed times
(`now` is 1767225600, 2026-01-01T00:00:00Z), so a second run writes identical
bytes; `tests/sdjwt/test_cases.py::test_generator_reproduces_the_committed_files`
checks that. `tests/sdjwt/test_cases.py` runs every case.

Source of every case: made by `generate_sdjwt.py`, from the rules of RFC 9901
(SD-JWT; sections 4, 5 and 7), draft-ietf-oauth-sd-jwt-vc (SD-JWT VC; `typ`,
`vct`, claims that must not be selectively disclosed) and
draft-ietf-oauth-status-list (Token Status List). Valid cases are issued with
`sdjwt.issue` and presented with `sdjwt.create_presentation`; most negative
cases take that valid credential and change one thing, re-signing with the
issuer's key when the point is that the issuer itself signed something the
specs forbid (so the check under test, not the signature, refuses it).

## Format

Common members: `description` (what the case tests), `operation` (`verify`,
`issue` or `present`) and `expect`, which is either

* `{"claims": {...}, "disclosed": [[path], ...]}`: the operation succeeds; for
  `verify`, `VerifiedSDJWT.claims` equals `claims` exactly and
  `VerifiedSDJWT.disclosed` holds exactly these paths (in any order), or
* `{"error": "<class name in sdjwt>", "match": "<regular expression>"}`: the
  operation raises exactly that class (not a subclass) and `re.search(match,
  str(error))` succeeds.

Claim paths are JSON arrays of object keys, array indices and `null` (every
element), as `sdjwt.ClaimPath` tuples.

`verify` cases:

* `presentation`: the string given to `sdjwt.verify`.
* `issuer_keys`: `[{"iss", "kid", "jwk"}]`, the issuer keys the injected key
  lookup knows (any other `(iss, kid)` raises `UnknownIssuerKey`).
* `verifier`: keyword arguments of `sdjwt.verify` (`algorithms`, `now`,
  `audience`, `nonce`, `require_key_binding`, and optionally `limits` as the
  fields of `sdjwt.Limits`).
* `status_list` (optional): `{"uri", "token", "algorithms"}`; the verifier's
  status check verifies this signed Status List Token with the issuer key named
  by its `kid`, then calls `sdjwt.check_status`.

`issue` cases: `issue` holds `claims`, `disclosable` and optionally
`holder_jwk`; the runner calls `sdjwt.issue` with the generator's issuer key,
`iss`, `vct` and `iat`.

`present` cases: `sd_jwt` (an issued SD-JWT) and `paths`; the runner calls
`sdjwt.create_presentation` without a holder key.

## Cases

| case | operation | result | what it tests |
|---|---|---|---|
"""


def readme(cases: dict[str, dict[str, Any]]) -> str:
    """The folder's README.md: the format, then one row per case."""
    rows = []
    for name, case in cases.items():
        result = "verifies" if "claims" in case["expect"] else case["expect"]["error"]
        rows.append(f"| `{name}` | {case['operation']} | {result} | {case['description']} |\n")
    return README_HEAD + "".join(rows)


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    cases = all_cases()
    (OUT / "README.md").write_text(readme(cases), encoding="utf-8")
    for old in OUT.glob("*.json"):
        if old.stem not in cases:
            old.unlink()
    for name, case in cases.items():
        (OUT / f"{name}.json").write_text(render(case), encoding="ascii")
    print(f"wrote {len(cases)} cases to {OUT}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
