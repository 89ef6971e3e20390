"""Compact JWS (RFC 7515) signing and verification with an algorithm allow-list.

This is the small amount of glue between the JOSE serialisation and the
libraries that do the cryptography (:mod:`sdjwt.keys`). It exists instead of
calling pyjwt because verification must go through libsodium, and because the
header rules civicid needs (an allow-list the caller passes, no key material
taken from the header) are simplest to enforce in one place. For code that
wants pyjwt's API, :func:`register_with_pyjwt` installs the same
libsodium-backed EdDSA into a :class:`jwt.PyJWS`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Collection

from .encoding import DEFAULT_LIMITS, _decode_json_part, _decode_part, b64url_decode, b64url_encode, json_dumps, json_loads
from .errors import MalformedSDJWT, SignatureInvalid, UnsupportedAlgorithm
from .keys import Ed25519PublicKey, PrivateKey, PublicKey

__all__ = ["CompactJWS", "sign_compact", "ALLOWED_ALGORITHMS", "register_with_pyjwt"]

ALLOWED_ALGORITHMS = frozenset({"EdDSA", "ES256"})
"""Every algorithm civicid can verify. Callers pass a subset of this."""

# Header parameters that would let the token choose its own verification key or
# change processing rules. civicid takes keys only from the registry (issuers) or
# from ``cnf`` (holders), so these are refused outright rather than ignored.
_FORBIDDEN_HEADERS = frozenset({"jku", "x5u", "jwk", "x5c", "crit", "b64"})


@functools.lru_cache(maxsize=1024)
def _parse_header(encoded: str, what: str, max_depth: int) -> dict[str, Any]:
    """Parse a protected header. Headers repeat (one per issuer key), so parses are memoised;
    callers get a copy, and a header that fails to parse raises and is not cached."""
    return json_loads(b64url_decode(encoded, f"{what} header"), f"{what} header", max_depth)  # type: ignore[no-any-return]


@dataclass(frozen=True, slots=True)
class CompactJWS:
    """A parsed, not yet verified, compact JWS."""

    header: dict[str, Any]
    payload: dict[str, Any]
    signing_input: bytes
    signature: bytes

    @classmethod
    def parse(cls, token: str, what: str = "JWT", max_depth: int = DEFAULT_LIMITS.max_depth) -> "CompactJWS":
        header, payload, signing_input, signature = _parse(token, what, max_depth)
        return cls(dict(header), payload, signing_input, signature)

    def check_header(self, algorithms: Collection[str], typ: str | None, what: str = "JWT") -> str:
        """Check ``alg`` against the allow-list and ``typ`` exactly; return the alg."""
        return _check_header(self.header, algorithms, typ, what)

    def verify_signature(self, key: PublicKey, what: str = "JWT") -> None:
        """Raise :class:`SignatureInvalid` unless the signature verifies under ``key``."""
        if key.alg != self.header.get("alg"):
            raise UnsupportedAlgorithm(f"{what} alg does not match the type of its verification key")
        if not key.verify(self.signing_input, self.signature):
            raise SignatureInvalid(f"{what} signature does not verify; the token was altered or signed by another key")


def _parse(token: str, what: str, max_depth: int) -> tuple[dict[str, Any], dict[str, Any], bytes, bytes]:
    """The checks of :meth:`CompactJWS.parse`; returns ``(header, payload, signing input, signature)``.

    The header is the memoised parse: the caller must not change it (the verifier only reads it).
    """
    if token.__class__ is not str and not isinstance(token, str):
        raise MalformedSDJWT(f"{what} must be a string")
    parts = token.split(".")
    if len(parts) != 3:
        raise MalformedSDJWT(f"{what} is not a compact JWS (expected three '.'-separated parts)")
    encoded_header, encoded_payload, encoded_signature = parts
    header = _parse_header(encoded_header, what, max_depth)
    payload = _decode_json_part(encoded_payload, what, " payload", max_depth)
    if header.__class__ is not dict or payload.__class__ is not dict:
        raise MalformedSDJWT(f"{what} header and payload must be JSON objects")
    # Strict base64url has one spelling per byte string, so the signature is canonical:
    # a presentation cannot be altered by re-spelling it (the KB-JWT signature is not covered by sd_hash).
    signature = _decode_part(encoded_signature, what, " signature")
    signing_input = token[: len(encoded_header) + 1 + len(encoded_payload)].encode("ascii")
    return header, payload, signing_input, signature


def _check_header(header: dict[str, Any], algorithms: Collection[str], typ: str | None, what: str) -> str:
    """See :meth:`CompactJWS.check_header`."""
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in algorithms or alg not in ALLOWED_ALGORITHMS:
        raise UnsupportedAlgorithm(
            f"{what} alg is not allowed; accepted: {', '.join(sorted(set(algorithms) & ALLOWED_ALGORITHMS))}"
        )
    if not _FORBIDDEN_HEADERS.isdisjoint(header):
        forbidden = _FORBIDDEN_HEADERS.intersection(header)
        raise MalformedSDJWT(
            f"{what} header parameter {sorted(forbidden)[0]!r} is not accepted; keys come from the registry or cnf"
        )
    if typ is not None and header.get("typ") != typ:
        raise MalformedSDJWT(f"{what} typ must be {typ!r}")
    return alg


def sign_compact(header: dict[str, Any], payload: dict[str, Any], key: PrivateKey) -> str:
    """Serialise and sign; ``header['alg']`` is set from the key."""
    header = {"alg": key.alg, **header}
    if header["alg"] != key.alg:
        raise ValueError("header alg does not match the signing key")
    signing_input = (
        b64url_encode(json_dumps(header).encode("utf-8")) + "." + b64url_encode(json_dumps(payload).encode("utf-8"))
    )
    return signing_input + "." + b64url_encode(key.sign(signing_input.encode("ascii")))


def register_with_pyjwt(jws: Any = None) -> Any:
    """Register a libsodium-backed ``EdDSA`` with pyjwt and return the PyJWS instance.

    pyjwt's built-in EdDSA goes through OpenSSL; this swaps in libsodium for the
    verify path while keeping pyjwt's API for code that prefers it.
    """
    import jwt
    from jwt.algorithms import OKPAlgorithm

    from .jwk import public_key_from_jwk

    class SodiumEdDSA(OKPAlgorithm):  # type: ignore[misc]
        def verify(self, msg: bytes, key: Any, sig: bytes) -> bool:
            if isinstance(key, Ed25519PublicKey):
                return key.verify(msg, sig)
            if isinstance(key, dict):
                parsed = public_key_from_jwk(key)
                return parsed.alg == "EdDSA" and parsed.verify(msg, sig)
            return bool(super().verify(msg, key, sig))

        def prepare_key(self, key: Any) -> Any:
            if isinstance(key, (Ed25519PublicKey, dict)):
                return key
            return super().prepare_key(key)

    target = jws if jws is not None else jwt.PyJWS()
    if "EdDSA" in target.get_algorithms():
        target.unregister_algorithm("EdDSA")
    target.register_algorithm("EdDSA", SodiumEdDSA())
    return target
