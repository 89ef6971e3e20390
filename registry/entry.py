"""Ledger entries: the signed, canonical leaves of the registry log.

Registry design sketch, "Entry (leaf)": the leaf bytes are
``JCS({"v":1,"kind","body","author","time","prev","sig"})`` (RFC 8785), at most
16 KiB, and ``sig`` is Ed25519 over ``"civicid.org/v1/entry" || 0x00 ||
JCS(entry without sig)``, domain-separated as Sigsum does. The entry hash is
SHA-256 of the leaf bytes; it is the ``prev`` link of a DID's next operation
and the replay-protection key.

This module checks the envelope only. What a body must contain, and whether the
ledger accepts it, is decided by the kind modules (:mod:`registry.did`,
:mod:`registry.accreditation`, ...) and by :func:`registry.state.validate`.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any, Mapping, NewType

from sdjwt.encoding import b64url_decode, b64url_encode, json_loads
from sdjwt.errors import SDJWTError
from sdjwt.keys import Ed25519PrivateKey, Ed25519PublicKey

from . import jcs
from .errors import EntrySignatureInvalid, InvalidEntry

__all__ = [
    "Digest",
    "ENTRY_DOMAIN",
    "ENTRY_VERSION",
    "MAX_ENTRY_BYTES",
    "KINDS",
    "DID_KINDS",
    "Entry",
    "canonical",
    "entry_hash",
    "signing_input",
    "sign_entry",
    "split_author",
]

Digest = NewType("Digest", str)
"""An entry hash: lowercase hex SHA-256 of the leaf bytes (64 characters)."""

ENTRY_DOMAIN = b"civicid.org/v1/entry"
ENTRY_VERSION = 1
MAX_ENTRY_BYTES = 16 * 1024
MAX_DEPTH = 12
DID_KINDS = frozenset({"did.create", "did.update", "did.recover", "did.deactivate"})
KINDS = DID_KINDS | frozenset({"accredit.grant", "accredit.withdraw", "vct.publish", "anchor.issuance"})

_MEMBERS = frozenset({"v", "kind", "body", "author", "time", "prev", "sig"})
_DIGEST = re.compile(r"[0-9a-f]{64}")
# DID Core s3.1 "did" ABNF restricted to did:civic, plus a fragment of idchar for the kid.
_AUTHOR = re.compile(r"(did:civic:[1-9A-HJ-NP-Za-km-z]{46})#([A-Za-z0-9._-]{1,64})")
_MAX_TIME = 2**53 - 1


def canonical(value: Any) -> bytes:
    """RFC 8785 JCS bytes of ``value``; a value JCS cannot represent is an :class:`InvalidEntry`."""
    try:
        return jcs.dumps(value)
    except (jcs.CanonicalizationError, TypeError, ValueError) as exc:
        raise InvalidEntry("entry holds a value JSON canonicalization (RFC 8785) cannot represent") from exc


def entry_hash(leaf: bytes) -> Digest:
    """SHA-256 of the leaf bytes, lowercase hex: the ``prev`` link and the replay key."""
    return Digest(hashlib.sha256(leaf).hexdigest())


def signing_input(unsigned: Mapping[str, Any]) -> bytes:
    """``"civicid.org/v1/entry" || 0x00 || JCS(entry without sig)`` (registry design, "Entry")."""
    return ENTRY_DOMAIN + b"\x00" + canonical(dict(unsigned))


def _unsigned_jcs(raw: bytes, sig: str, time: int) -> bytes:
    """JCS(entry without sig), cut out of ``raw`` = JCS(entry) (RFC 8785 s3.2.3).

    A JCS object is ``{`` + its members in sorted order joined by ``,`` + ``}``,
    so dropping one member from the object drops exactly that member's text and
    one comma from its canonical form. The entry's members sort as ``author``,
    ``body``, ``kind``, ``prev``, ``sig``, ``time``, ``v``; ``sig`` is base64url
    (no character JCS escapes) and ``time`` and ``v`` are safe integers, so a
    canonical entry ends with exactly ``,"sig":"<sig>","time":<time>,"v":1}``.
    """
    tail = b',"time":%d,"v":%d}' % (time, ENTRY_VERSION)
    member = b',"sig":"' + sig.encode("ascii") + b'"'
    end = len(raw) - len(tail)
    start = end - len(member)
    if raw[start:end] != member or raw[end:] != tail:
        raise AssertionError("canonical entry bytes do not end with the sig, time and v members")  # Unreachable.
    return raw[:start] + tail


def split_author(author: str) -> tuple[str, str]:
    """``did:civic:<scid>#<kid>`` into ``(did, kid)``; anything else is an :class:`InvalidEntry`."""
    match = _AUTHOR.fullmatch(author) if isinstance(author, str) else None
    if match is None:
        raise InvalidEntry("entry 'author' must be 'did:civic:<46-char SCID>#<kid>' with kid of [A-Za-z0-9._-]{1,64}")
    return match.group(1), match.group(2)


@dataclass(frozen=True)
class Entry:
    """A parsed, canonical ledger entry. Build with :meth:`from_bytes` or :func:`sign_entry` only."""

    kind: str
    body: Mapping[str, Any]
    author: str
    time: int
    prev: Digest | None
    sig: bytes
    raw: bytes
    hash: Digest
    # The signing input, set by from_bytes once ``raw`` is known to be canonical; empty otherwise.
    _signed_bytes: bytes = field(default=b"", repr=False, compare=False)
    # Raw Ed25519 keys ``sig`` has verified under: a check repeated with the same key (the
    # sequencer after a submitting thread's pre-verification) is answered without libsodium.
    _verified_under: set[bytes] = field(default_factory=set, repr=False, compare=False)

    @classmethod
    def from_bytes(cls, data: bytes) -> Entry:
        """Parse leaf bytes strictly.

        Steps (registry design, "Entry"): 1. at most 16 KiB; 2. strict UTF-8 JSON
        without duplicate names; 3. exactly the seven members with their types;
        4. the bytes are the JCS form of what they parse to, so one entry has
        exactly one encoding and one hash.
        """
        if not isinstance(data, (bytes, bytearray)):
            raise TypeError("entry bytes must be bytes")
        data = bytes(data)
        # Step 1: the size limit, before any parsing.
        if len(data) > MAX_ENTRY_BYTES:
            raise InvalidEntry(f"entry is {len(data)} bytes; the limit is {MAX_ENTRY_BYTES} bytes")
        # Step 2: strict JSON.
        try:
            value = json_loads(data, "entry", max_depth=MAX_DEPTH)
        except SDJWTError as exc:
            raise InvalidEntry(f"entry is not strict JSON: {exc.message}") from exc
        if not isinstance(value, dict):
            raise InvalidEntry("entry must be a JSON object")
        # Steps 3 and 4.
        return cls._from_members(value, data)

    @classmethod
    def _from_members(cls, value: dict[str, Any], raw: bytes) -> Entry:
        # Step 3: the envelope.
        keys = set(value)
        if keys != _MEMBERS:
            missing = sorted(_MEMBERS - keys)
            extra = sorted(keys - _MEMBERS)
            raise InvalidEntry(f"entry members are wrong (missing {missing}, unexpected {extra})")
        if value["v"] != ENTRY_VERSION or isinstance(value["v"], bool):
            raise InvalidEntry(f"entry 'v' must be {ENTRY_VERSION}")
        if not isinstance(value["kind"], str) or value["kind"] not in KINDS:
            raise InvalidEntry(f"entry 'kind' must be one of {sorted(KINDS)}")
        if not isinstance(value["body"], dict):
            raise InvalidEntry("entry 'body' must be a JSON object")
        split_author(value["author"])
        time = value["time"]
        if not isinstance(time, int) or isinstance(time, bool) or not 0 <= time <= _MAX_TIME:
            raise InvalidEntry("entry 'time' must be a non-negative integer of Unix seconds")
        prev = value["prev"]
        if prev is not None and (not isinstance(prev, str) or not _DIGEST.fullmatch(prev)):
            raise InvalidEntry("entry 'prev' must be null or a lowercase hex SHA-256 entry hash")
        try:
            sig = b64url_decode(value["sig"], "entry 'sig'")
        except SDJWTError as exc:
            raise InvalidEntry(exc.message) from exc
        if len(sig) != 64:
            raise InvalidEntry("entry 'sig' must be a 64-byte Ed25519 signature")
        # Step 4: canonical form.
        if canonical(value) != raw:
            raise InvalidEntry("entry bytes are not in RFC 8785 (JCS) canonical form; submit JCS(entry) exactly")
        return cls(
            kind=value["kind"],
            body=value["body"],
            author=value["author"],
            time=time,
            prev=Digest(prev) if prev is not None else None,
            sig=sig,
            raw=raw,
            hash=entry_hash(raw),
            # The bytes are canonical, so JCS(entry without sig) is a slice of them.
            _signed_bytes=ENTRY_DOMAIN + b"\x00" + _unsigned_jcs(raw, value["sig"], time),
        )

    @property
    def author_did(self) -> str:
        return split_author(self.author)[0]

    @property
    def author_kid(self) -> str:
        return split_author(self.author)[1]

    def unsigned(self) -> dict[str, Any]:
        """The entry object without ``sig``: what the signature and the SCID cover."""
        return {
            "v": ENTRY_VERSION,
            "kind": self.kind,
            "body": self.body,
            "author": self.author,
            "time": self.time,
            "prev": self.prev,
        }

    def signing_input(self) -> bytes:
        """``"civicid.org/v1/entry" || 0x00 || JCS(entry without sig)``, cut from the canonical ``raw``."""
        return self._signed_bytes or signing_input(self.unsigned())

    def unsigned_jcs(self) -> bytes:
        """JCS(entry without sig): the bytes the signature covers and the SCID hashes."""
        return self.signing_input()[len(ENTRY_DOMAIN) + 1 :]

    def verify_signature(self, key: Ed25519PublicKey) -> None:
        """Raise :class:`EntrySignatureInvalid` unless ``sig`` verifies under ``key``.

        Only successes are remembered, per raw public key, so the answer is
        always the one libsodium gave for exactly these bytes and this key.
        """
        raw = key.raw if type(key) is Ed25519PublicKey else None
        if raw is not None and raw in self._verified_under:
            return
        if not key.verify(self.signing_input(), self.sig):
            raise EntrySignatureInvalid(f"signature of {self.kind} entry does not verify under {self.author}")
        if raw is not None:
            self._verified_under.add(raw)

    def to_json(self) -> dict[str, Any]:
        return {**self.unsigned(), "sig": b64url_encode(self.sig)}


def sign_entry(
    kind: str,
    body: Mapping[str, Any],
    author: str,
    time: int,
    prev: str | None,
    key: Ed25519PrivateKey,
) -> Entry:
    """Sign an entry and return it parsed back from its bytes, so a builder cannot emit an invalid one."""
    unsigned = {"v": ENTRY_VERSION, "kind": kind, "body": dict(body), "author": author, "time": time, "prev": prev}
    sig = key.sign(signing_input(unsigned))
    return Entry.from_bytes(canonical({**unsigned, "sig": b64url_encode(sig)}))
