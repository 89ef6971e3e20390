"""Issuance anchors: an issuer logs a 32-byte Merkle root over a batch of credential digests.

Registry design sketch, "Time and historical keys": under the strict policy a
credential whose issuer key was later compromised also needs an
``anchor.issuance`` proof cosigned before ``compromisedFrom``; the log acts as
the timestamp authority. The body holds only the root (hex or base64url) and an
optional count, never personal data: anything else in the body is refused.

The root is an RFC 9162 Merkle tree head over the batch: leaf ``i`` is
``leaf_hash(digest_i)`` (0x00 prefix) where ``digest_i`` is a 32-byte
credential digest (:func:`credential_digest`), interior nodes are
``node_hash`` (0x01 prefix), exactly as the log's own tree. The issuer builds
it with :func:`batch_root` and gives each holder its :class:`AnchorProof`.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from sdjwt.encoding import b64url_decode, b64url_encode
from sdjwt.errors import SDJWTError

from .did import KeySpec
from .entry import Digest, Entry, sign_entry
from .errors import InvalidEntry, InvalidProof, MalformedInput, RootMismatch
from .merkle import HASH_SIZE, MemoryNodeStore, inclusion_proof, leaf_hash
from .proof import root_from_inclusion_proof

__all__ = [
    "AnchorBody",
    "Anchor",
    "AnchorProof",
    "parse_anchor",
    "anchor_op",
    "batch_root",
    "credential_digest",
    "MAX_BATCH",
]

_HEX64 = re.compile(r"[0-9a-f]{64}")
_B64URL43 = re.compile(r"[A-Za-z0-9_-]{43}")
MAX_COUNT = 2**32
#: The largest batch :func:`batch_root` builds in memory (about 64 MB of hashes).
MAX_BATCH = 2**20
_MAX_PATH = 64


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


def credential_digest(issuer_signed_jwt: str | bytes) -> bytes:
    """SHA-256 of a credential's issuer-signed JWT: the compact JWS before the first ``~``.

    The holder-chosen parts (disclosures, the Key Binding JWT) are left out so
    every presentation of one credential has one digest; the JWT commits to
    every disclosure digest and to ``iat``. Issuer and verifier both compute it.
    """
    if isinstance(issuer_signed_jwt, str):
        issuer_signed_jwt = issuer_signed_jwt.encode("ascii")
    return hashlib.sha256(issuer_signed_jwt.split(b"~", 1)[0]).digest()


def batch_root(digests: Sequence[bytes]) -> tuple[bytes, list[tuple[bytes, ...]]]:
    """The issuer side: the anchor root over a batch of credential digests, and each digest's path.

    Leaf ``i`` is ``leaf_hash(digests[i])``; ``paths[i]`` is the RFC 9162
    s2.1.3.1 inclusion path of leaf ``i`` in the batch tree, so
    ``AnchorProof(digests[i], i, len(digests), paths[i], seq)`` verifies
    against the logged root.
    """
    if not digests:
        raise ValueError("an anchor batch holds at least one credential digest")
    if len(digests) > MAX_BATCH:
        raise ValueError(f"an anchor batch holds at most {MAX_BATCH} digests; split it")
    tree = MemoryNodeStore()
    for digest in digests:
        if len(digest) != HASH_SIZE:
            raise ValueError("a credential digest is 32 bytes (credential_digest)")
        tree.append(leaf_hash(bytes(digest)))
    size = tree.size
    return tree.root(), [tuple(inclusion_proof(i, size, tree)) for i in range(size)]


@dataclass(frozen=True)
class AnchorProof:
    """What a holder keeps to show that a credential was anchored: the issuer-side Merkle path.

    ``digest`` is the credential digest (:func:`credential_digest`), ``index``
    and ``size`` its leaf position in the batch, ``path`` its RFC 9162
    inclusion path, and ``seq`` the log position of the ``anchor.issuance``
    entry holding the batch root. The log-side proof (the entry's inclusion
    and its cosigned time) comes from ``GET /1.0/anchors/<root hex>``.
    """

    digest: bytes
    index: int
    size: int
    path: tuple[bytes, ...]
    seq: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", tuple(self.path))
        if not isinstance(self.digest, bytes) or len(self.digest) != HASH_SIZE:
            raise MalformedInput("an anchor proof's digest is 32 bytes")
        for name in ("index", "size", "seq"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 1 << 63:
                raise MalformedInput(f"an anchor proof's {name} is a non-negative integer")
        if not 0 <= self.index < self.size <= MAX_COUNT:
            raise MalformedInput(f"an anchor proof's index must be below its batch size (at most {MAX_COUNT})")
        if len(self.path) > _MAX_PATH or any(not isinstance(h, bytes) or len(h) != HASH_SIZE for h in self.path):
            raise MalformedInput(f"an anchor proof's path is at most {_MAX_PATH} hashes of 32 bytes")

    def root(self) -> bytes:
        """The batch root this path implies for ``digest`` (RFC 9162 s2.1.3.2 steps 1-4); raises InvalidProof."""
        return root_from_inclusion_proof(leaf_hash(self.digest), self.index, self.size, self.path)

    def verify(self, anchor: Anchor, *, did: str, digest: bytes | None = None) -> Anchor:
        """Check this path against a logged anchor of ``did``; return the anchor or raise a ProofError.

        1. ``digest``, when the caller computed it from the credential, is this proof's digest;
        2. the path leads from the digest to ``anchor.root`` (RFC 9162 s2.1.3.2);
        3. the anchor is the entry this proof names (``seq``), logged by ``did``;
        4. a batch size the anchor states (``count``) is this proof's ``size``.
        """
        # 1. The proof is about this credential.
        if digest is not None and digest != self.digest:
            raise InvalidProof("the anchor proof is for another credential (its digest differs)")
        # 2. The issuer-side path.
        calculated = self.root()
        if calculated != anchor.root:
            raise RootMismatch(anchor.root, calculated, "the anchor path does not lead to the logged batch root")
        # 3. The logged entry and its author.
        if anchor.seq != self.seq or anchor.did != did:
            raise InvalidProof("the anchor entry is not the one the proof names, or was logged by another DID")
        # 4. The batch size, when the anchor states it.
        if anchor.count is not None and anchor.count != self.size:
            raise InvalidProof("the anchor proof's batch size differs from the anchored count")
        return anchor

    def to_json(self) -> dict[str, Any]:
        """``{"digest", "index", "size", "path": [...], "seq"}`` with base64url hashes (for wallets)."""
        return {
            "digest": b64url_encode(self.digest),
            "index": self.index,
            "size": self.size,
            "path": [b64url_encode(h) for h in self.path],
            "seq": self.seq,
        }

    @classmethod
    def from_json(cls, obj: Any) -> "AnchorProof":
        """Parse an anchor proof from outside, within limits."""
        if not isinstance(obj, dict) or set(obj) != {"digest", "index", "size", "path", "seq"}:
            raise MalformedInput("an anchor proof is exactly {digest, index, size, path, seq}")
        path = obj["path"]
        if not isinstance(path, list) or len(path) > _MAX_PATH:
            raise MalformedInput(f"an anchor proof's path is a list of at most {_MAX_PATH} hashes")
        try:
            digest = b64url_decode(obj["digest"], "anchor digest") if isinstance(obj["digest"], str) else None
            hashes = tuple(b64url_decode(h, "anchor path hash") if isinstance(h, str) else b"" for h in path)
        except SDJWTError as exc:
            raise MalformedInput("an anchor proof holds invalid base64url") from exc
        if digest is None:
            raise MalformedInput("an anchor proof's digest is a base64url string")
        return cls(digest, obj["index"], obj["size"], hashes, obj["seq"])
