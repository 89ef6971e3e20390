"""Disclosures and their digests (RFC 9901 sections 4.2.1 to 4.2.4).

A disclosure is ``base64url(JSON array)``: ``[salt, name, value]`` for an object
property, ``[salt, value]`` for an array element. Its digest is taken over the
ASCII bytes of the base64url string exactly as transmitted (section 4.2.3), so
issuer, holder and verifier never re-encode a disclosure they received.
"""

from __future__ import annotations

import binascii
import hashlib
import json
from dataclasses import dataclass
from typing import Any, NewType

from .encoding import DEFAULT_LIMITS, _decode_json_part, b64url_encode
from .errors import MalformedSDJWT, UnsupportedAlgorithm

__all__ = ["Digest", "Disclosure", "digest", "SD_ALG", "SD_KEY", "ARRAY_KEY", "decoy_digest"]

Digest = NewType("Digest", str)

SD_ALG = "sha-256"
"""The only ``_sd_alg`` civicid issues or accepts (RFC 9901 section 4.1.1, IANA hash name)."""

SD_KEY = "_sd"
ARRAY_KEY = "..."
_RESERVED_NAMES = frozenset({SD_KEY, ARRAY_KEY})


def digest(encoded: str, alg: str = SD_ALG) -> Digest:
    """Section 4.2.3: the base64url hash of the ASCII disclosure string."""
    if alg != SD_ALG:
        raise UnsupportedAlgorithm("_sd_alg must be 'sha-256'")
    return _sha256_b64url(encoded)


_sha256 = hashlib.sha256
# json.dumps(value, ensure_ascii=False) builds an encoder per call; this one is shared (encode keeps no state).
_ENCODER = json.JSONEncoder(ensure_ascii=False)
_b2a_base64 = binascii.b2a_base64
_STANDARD_TO_URLSAFE = bytes.maketrans(b"+/", b"-_")


def _sha256_b64url(encoded: str) -> Digest:
    # A SHA-256 digest is 32 bytes: 43 base64 characters and one '=' of padding, dropped here.
    raw = _b2a_base64(_sha256(encoded.encode("ascii")).digest(), newline=False)
    return Digest(raw[:43].translate(_STANDARD_TO_URLSAFE).decode("ascii"))


def decoy_digest(random_bytes: bytes) -> Digest:
    """Section 4.2.5: a decoy is the hash of a random value, indistinguishable from a real digest."""
    return Digest(b64url_encode(hashlib.sha256(random_bytes).digest()))


@dataclass(frozen=True, slots=True)
class Disclosure:
    """One parsed disclosure; ``name`` is ``None`` for an array element."""

    encoded: str
    salt: str
    name: str | None
    value: Any
    digest: Digest

    @classmethod
    def create(cls, salt: str, name: str | None, value: Any) -> "Disclosure":
        """Encode a new disclosure in the same JSON style as the RFC 9901 examples."""
        if name is not None and name in _RESERVED_NAMES:
            raise ValueError(f"claim name {name!r} is reserved by RFC 9901")
        array = [salt, value] if name is None else [salt, name, value]
        encoded = b64url_encode(_ENCODER.encode(array).encode("utf-8"))
        return cls(encoded, salt, name, value, digest(encoded))

    @classmethod
    def parse(cls, encoded: str, max_depth: int = DEFAULT_LIMITS.max_depth) -> "Disclosure":
        """Section 7.1 step 3: decode and validate one disclosure from outside."""
        return cls(encoded, *_parse(encoded, max_depth))

    def __repr__(self) -> str:
        # Never show salts or values: a repr can end up in a log line.
        kind = "array element" if self.name is None else f"claim {self.name!r}"
        return f"Disclosure({kind}, digest={self.digest})"


def _parse(encoded: str, max_depth: int) -> tuple[str, str | None, Any, Digest]:
    """The checks of :meth:`Disclosure.parse`; returns ``(salt, name, value, digest)``.

    The verifier calls this directly: it needs the parts, not an object per disclosure.
    """
    array = _decode_json_part(encoded, "disclosure", "", max_depth)
    if array.__class__ is not list:
        raise MalformedSDJWT("disclosure must be a JSON array of 2 or 3 elements")
    size = len(array)
    # Section 4.2.3, inline: the base64url SHA-256 of the disclosure's ASCII text.
    digest = _b2a_base64(_sha256(encoded.encode("ascii")).digest(), newline=False)[:43]
    if size == 3:
        salt, name, value = array
        if salt.__class__ is not str:
            raise MalformedSDJWT("disclosure salt must be a string")
        if name.__class__ is not str:
            raise MalformedSDJWT("disclosure claim name must be a string")
        if name in _RESERVED_NAMES:
            raise MalformedSDJWT(f"disclosure claim name {name!r} is reserved by RFC 9901")
        return salt, name, value, digest.translate(_STANDARD_TO_URLSAFE).decode("ascii")  # type: ignore[return-value]
    if size == 2:
        salt, value = array
        if salt.__class__ is not str:
            raise MalformedSDJWT("disclosure salt must be a string")
        return salt, None, value, digest.translate(_STANDARD_TO_URLSAFE).decode("ascii")  # type: ignore[return-value]
    raise MalformedSDJWT("disclosure must be a JSON array of 2 or 3 elements")
