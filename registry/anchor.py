"""Issuance anchors: an issuer logs a 32-byte Merkle root over a batch of credential digests.

Registry design sketch, "Time and historical keys": under the strict policy a
credential whose issuer key was later compromised also needs an
``anchor.issuance`` proof cosigned before ``compromisedFrom``; the log acts as
the timestamp authority. The body holds only the root (hex or base64url) and an
optional count, never personal data: anything else in the body is refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping

from sdjwt.encoding import b64url_decode
from sdjwt.errors import SDJWTError

from .did import KeySpec
from .entry import Digest, Entry, sign_entry
from .errors import InvalidEntry

__all__ = ["AnchorBody", "Anchor", "parse_anchor", "anchor_op"]

_HEX64 = re.compile(r"[0-9a-f]{64}")
_B64URL43 = re.compile(r"[A-Za-z0-9_-]{43}")
MAX_COUNT = 2**32


@dataclass(frozen=True)
class AnchorBody:
    root: bytes
    count: int | None


@dataclass(frozen=True)
class Anchor:
    """An accepted anchor, as the ``anchors`` projection holds it."""

    root: bytes
    did: str
    count: int | None
    time: int
    seq: int
    hash: Digest


def parse_anchor(body: Mapping[str, Any]) -> AnchorBody:
    """Parse an ``anchor.issuance`` body: ``{"root": hex64|base64url, "count"?: int}`` and nothing else."""
    keys = set(body)
    if "root" not in keys or not keys <= {"root", "count"}:
        raise InvalidEntry("anchor.issuance body must be exactly {'root'} or {'root', 'count'}; no other data")
    root = body["root"]
    if isinstance(root, str) and _HEX64.fullmatch(root):
        raw = bytes.fromhex(root)
    elif isinstance(root, str) and _B64URL43.fullmatch(root):
        try:
            raw = b64url_decode(root, "anchor root")
        except SDJWTError as exc:
            raise InvalidEntry("anchor 'root' is not valid base64url") from exc
    else:
        raise InvalidEntry("anchor 'root' must be 32 bytes as lowercase hex or unpadded base64url")
    count = body.get("count")
    if count is not None and (not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= MAX_COUNT):
        raise InvalidEntry(f"anchor 'count' must be an integer from 1 to {MAX_COUNT}")
    return AnchorBody(raw, count)


def anchor_op(author: str, signer: KeySpec, root: bytes, time: int, count: int | None = None) -> Entry:
    """Build and sign an ``anchor.issuance`` for a 32-byte batch root."""
    if len(root) != 32:
        raise ValueError("an anchor root is exactly 32 bytes")
    body: dict[str, Any] = {"root": root.hex()}
    if count is not None:
        body["count"] = count
    return sign_entry("anchor.issuance", body, f"{author}#{signer.kid}", time, None, signer.private_key)
