"""IETF Token Status List (draft-ietf-oauth-status-list): the compressed bit array and its JWT.

Section 4.1: each referenced token owns ``bits`` (1, 2, 4 or 8) bits at index
``idx``; bits are counted from the least significant bit of each byte. The
byte array is compressed with DEFLATE in the ZLIB format and base64url encoded
into ``lst``. Section 5.1: the Status List Token is a JWT with ``typ:
statuslist+jwt`` carrying ``sub`` (its own URI), ``iat``, optionally ``exp``
and ``ttl``, and ``status_list: {bits, lst}``.

Issuer, wallet and verifier must agree on this bit order, so it lives here.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any, Collection, Mapping

from .encoding import b64url_decode, b64url_encode
from .errors import MalformedSDJWT, SDJWTError, StatusListError, StatusRevoked, StatusSuspended
from .jws import CompactJWS, sign_compact
from .keys import PrivateKey, PublicKey
from .vc import StatusReference

__all__ = [
    "VALID",
    "INVALID",
    "SUSPENDED",
    "STATUS_LIST_TYP",
    "StatusList",
    "StatusListToken",
    "sign_status_list",
    "check_status",
    "MAX_DECOMPRESSED",
]

VALID = 0x00
INVALID = 0x01
SUSPENDED = 0x02
STATUS_LIST_TYP = "statuslist+jwt"
MAX_DECOMPRESSED = 16 * 1024 * 1024
"""A status list larger than 16 MiB decompressed is refused (a zip bomb guard)."""

_BITS = (1, 2, 4, 8)


@dataclass(frozen=True)
class StatusList:
    """An immutable status list of ``bits``-wide entries backed by a byte array."""

    bits: int
    data: bytes

    def __post_init__(self) -> None:
        if self.bits not in _BITS:
            raise ValueError("bits must be 1, 2, 4 or 8")

    @classmethod
    def empty(cls, size: int, bits: int = 2) -> "StatusList":
        """A list of ``size`` entries, all VALID."""
        if size <= 0:
            raise ValueError("a status list holds at least one entry")
        return cls(bits, bytes((size * bits + 7) // 8))

    @property
    def size(self) -> int:
        return len(self.data) * 8 // self.bits

    def get(self, idx: int) -> int:
        """The status value at ``idx`` (section 4.1 bit order)."""
        if not 0 <= idx < self.size:
            raise StatusListError("status index is outside the status list")
        per_byte = 8 // self.bits
        shift = (idx % per_byte) * self.bits
        return (self.data[idx // per_byte] >> shift) & ((1 << self.bits) - 1)

    def with_status(self, updates: Mapping[int, int]) -> "StatusList":
        """A copy with the given entries set."""
        data = bytearray(self.data)
        per_byte = 8 // self.bits
        mask = (1 << self.bits) - 1
        for idx, value in updates.items():
            if not 0 <= idx < self.size:
                raise ValueError("status index is outside the status list")
            if not 0 <= value <= mask:
                raise ValueError(f"status value does not fit in {self.bits} bits")
            shift = (idx % per_byte) * self.bits
            data[idx // per_byte] = (data[idx // per_byte] & ~(mask << shift)) | (value << shift)
        return StatusList(self.bits, bytes(data))

    def encode(self) -> dict[str, Any]:
        """Section 4.2: ``{"bits": n, "lst": base64url(zlib(data))}``."""
        return {"bits": self.bits, "lst": b64url_encode(zlib.compress(self.data, 9))}

    @classmethod
    def decode(cls, obj: Any) -> "StatusList":
        """Parse a ``status_list`` object from outside, refusing oversized decompression."""
        if not isinstance(obj, dict):
            raise StatusListError("status_list must be a JSON object")
        bits, lst = obj.get("bits"), obj.get("lst")
        # Section 4.2: `bits` is a JSON integer; 1.0 and true compare equal to 1 in Python, so check the type.
        if type(bits) is not int or bits not in _BITS:
            raise StatusListError("status_list 'bits' must be 1, 2, 4 or 8")
        if not isinstance(lst, str):
            raise StatusListError("status_list 'lst' must be a base64url string")
        try:
            compressed = b64url_decode(lst, "status_list lst")
            inflater = zlib.decompressobj()
            data = inflater.decompress(compressed, MAX_DECOMPRESSED)
            if inflater.unconsumed_tail:
                raise StatusListError("status list is larger than 16 MiB once decompressed")
            if not inflater.eof:
                raise StatusListError("status_list 'lst' is truncated")
            if inflater.unused_data:
                raise StatusListError("status_list 'lst' has data after the end of its ZLIB stream")
        except zlib.error as exc:
            raise StatusListError("status_list 'lst' is not ZLIB-compressed data") from exc
        except MalformedSDJWT as exc:
            raise StatusListError(exc.message) from exc
        if not data:
            raise StatusListError("status list is empty")
        return cls(bits, data)


@dataclass(frozen=True)
class StatusListToken:
    """A verified Status List Token."""

    uri: str
    iat: int
    exp: int | None
    ttl: int | None
    status_list: StatusList

    @classmethod
    def verify(
        cls,
        token: str,
        *,
        key: PublicKey,
        algorithms: Collection[str],
        uri: str,
        now: int,
        leeway: int = 60,
    ) -> "StatusListToken":
        """Section 8.3: check typ, signature, ``sub`` == the referenced URI, and expiry."""
        try:
            jws = CompactJWS.parse(token, "status list token")
            jws.check_header(algorithms, STATUS_LIST_TYP, "status list token")
            jws.verify_signature(key, "status list token")
        except SDJWTError as exc:
            raise StatusListError(f"status list token rejected: {exc.message}") from exc
        payload = jws.payload
        if payload.get("sub") != uri:
            raise StatusListError("status list token 'sub' does not match the referenced URI")
        iat, exp, ttl = payload.get("iat"), payload.get("exp"), payload.get("ttl")
        if not isinstance(iat, int) or isinstance(iat, bool):
            raise StatusListError("status list token has no integer 'iat'")
        if exp is not None and (not isinstance(exp, int) or isinstance(exp, bool)):
            raise StatusListError("status list token 'exp' must be an integer")
        # Section 5.1: ttl "MUST be a positive number".
        if ttl is not None and (not isinstance(ttl, int) or isinstance(ttl, bool) or ttl <= 0):
            raise StatusListError("status list token 'ttl' must be a positive integer")
        if exp is not None and now >= exp + leeway:
            raise StatusListError("status list token has expired; fetch a fresh one")
        return cls(uri, iat, exp, ttl, StatusList.decode(payload.get("status_list")))

    def status_of(self, reference: StatusReference) -> int:
        if reference.uri != self.uri:
            raise StatusListError("the credential refers to another status list")
        return self.status_list.get(reference.idx)


def sign_status_list(
    status_list: StatusList,
    *,
    uri: str,
    key: PrivateKey,
    kid: str,
    iat: int,
    exp: int | None = None,
    ttl: int | None = None,
) -> str:
    """Section 5.1: the signed Status List Token."""
    payload: dict[str, Any] = {"sub": uri, "iat": iat}
    if exp is not None:
        payload["exp"] = exp
    if ttl is not None:
        payload["ttl"] = ttl
    payload["status_list"] = status_list.encode()
    return sign_compact({"typ": STATUS_LIST_TYP, "kid": kid}, payload, key)


def check_status(token: StatusListToken, reference: StatusReference) -> None:
    """Raise unless the referenced token is VALID; revoked and suspended stay distinct."""
    value = token.status_of(reference)
    if value == INVALID:
        raise StatusRevoked("the credential has been revoked by its issuer")
    if value == SUSPENDED:
        raise StatusSuspended("the credential is suspended by its issuer; it may be reinstated")
    if value != VALID:
        raise StatusListError("the credential's status is not VALID")
