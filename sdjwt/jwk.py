"""JSON Web Keys: parsing (RFC 7517, RFC 8037 for OKP), and thumbprints (RFC 7638).

A JWK arrives from outside (``cnf.jwk`` in a credential, a DID document, a
proof header), so parsing validates everything and refuses private members
where a public key is expected: a ``d`` in ``cnf.jwk`` would leak the holder key.
"""

from __future__ import annotations

import hashlib
from typing import Any, Mapping

from .encoding import _decode_part, b64url_decode, b64url_encode, json_dumps
from .errors import MalformedSDJWT, UnsupportedAlgorithm
from .keys import Ed25519PrivateKey, Ed25519PublicKey, P256PrivateKey, P256PublicKey, PrivateKey, PublicKey

__all__ = ["public_key_from_jwk", "private_key_from_jwk", "thumbprint", "thumbprint_uri", "public_jwk"]

_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})


def _member(jwk: Mapping[str, Any], name: str) -> str:
    value = jwk.get(name)
    if not isinstance(value, str):
        raise MalformedSDJWT(f"JWK member {name!r} is missing or not a string")
    return value


def public_key_from_jwk(jwk: Any) -> PublicKey:
    """Build a verification key from a public JWK, refusing anything but Ed25519 and P-256."""
    if jwk.__class__ is not dict and not isinstance(jwk, Mapping):
        raise MalformedSDJWT("JWK must be a JSON object")
    if not _PRIVATE_MEMBERS.isdisjoint(jwk):
        raise MalformedSDJWT("JWK contains private key material where a public key is expected")
    kty = jwk.get("kty")
    crv = jwk.get("crv")
    try:
        if kty == "OKP" and crv == "Ed25519":
            return Ed25519PublicKey(_decode_part(_member(jwk, "x"), "JWK", " x"))
        if kty == "EC" and crv == "P-256":
            return P256PublicKey(_decode_part(_member(jwk, "x"), "JWK", " x"), _decode_part(_member(jwk, "y"), "JWK", " y"))
    except ValueError as exc:
        raise MalformedSDJWT(f"JWK is not a valid {crv} public key") from exc
    raise UnsupportedAlgorithm("JWK key type is not supported; use OKP/Ed25519 or EC/P-256")


def private_key_from_jwk(jwk: Mapping[str, Any]) -> PrivateKey:
    """Load a private JWK (the issuer's or a holder's own key, never outside input)."""
    d = b64url_decode(_member(jwk, "d"), "JWK d")
    if jwk.get("kty") == "OKP" and jwk.get("crv") == "Ed25519":
        key: PrivateKey = Ed25519PrivateKey(d)
    elif jwk.get("kty") == "EC" and jwk.get("crv") == "P-256":
        key = P256PrivateKey.from_private_value(d)
    else:
        raise UnsupportedAlgorithm("JWK key type is not supported; use OKP/Ed25519 or EC/P-256")
    derived = key.public_key().public_jwk()
    # Both coordinates: for P-256 the same x also fits the mirrored point (x, p - y).
    if any(name in jwk and jwk[name] != derived[name] for name in ("x", "y") if name in derived):
        raise MalformedSDJWT("JWK public part does not match its private part")
    return key


def public_jwk(key: PublicKey | PrivateKey) -> dict[str, str]:
    """The public JWK of a key, whichever half is given."""
    if isinstance(key, (Ed25519PrivateKey, P256PrivateKey)):
        return key.public_key().public_jwk()
    return key.public_jwk()  # type: ignore[union-attr]


# RFC 7638 section 3.2: the required members of each key type, in lexicographic order.
_REQUIRED = {"OKP": ("crv", "kty", "x"), "EC": ("crv", "kty", "x", "y"), "RSA": ("e", "kty", "n")}


def thumbprint(jwk: Mapping[str, Any]) -> str:
    """RFC 7638 SHA-256 JWK thumbprint, base64url."""
    kty = jwk.get("kty")
    if kty not in _REQUIRED:
        raise MalformedSDJWT("JWK has no supported 'kty' for a thumbprint")
    members = {name: _member(jwk, name) for name in _REQUIRED[kty]}
    # json.dumps with sorted keys and no whitespace is exactly the RFC 7638 form for string members.
    canonical = json_dumps(dict(sorted(members.items()))).encode("utf-8")
    return b64url_encode(hashlib.sha256(canonical).digest())


def thumbprint_uri(jwk: Mapping[str, Any]) -> str:
    """RFC 9278 JWK thumbprint URI."""
    return "urn:ietf:params:oauth:jwk-thumbprint:sha-256:" + thumbprint(jwk)
