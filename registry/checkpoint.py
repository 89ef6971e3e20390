"""C2SP signed notes, checkpoints and Ed25519 cosignatures.

- c2sp.org/signed-note: text, a blank line, then ``— <name> <base64(keyID || sig)>``
  lines; Ed25519 signature type 0x01; verifier keys (vkeys)
  ``<name>+<hex keyID>+<base64(type || pubkey)>`` as in Go's ``sumdb/note``.
- c2sp.org/tlog-checkpoint: the note text ``origin\\nsize\\nbase64(root)\\n[ext...]``.
- c2sp.org/tlog-cosignature: ``cosignature/v1`` type 0x04, a timestamped
  Ed25519 signature over ``"cosignature/v1\\ntime <t>\\n" || checkpoint body``.

Parsing is strict and bounded (size, number of signature lines) because notes
arrive from the network. Unknown signatures are kept but ignored, as the spec
requires; a known key whose signature fails rejects the whole note.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import nacl.exceptions
import nacl.signing

from .errors import CheckpointError, MalformedCheckpoint, MalformedInput, MalformedNote, SignatureError
from .merkle import HASH_SIZE

__all__ = [
    "SIG_ED25519",
    "SIG_COSIGNATURE_V1",
    "MAX_NOTE_BYTES",
    "MAX_SIGNATURES",
    "key_id",
    "Checkpoint",
    "NoteSignature",
    "SignedNote",
    "VerifiedSignature",
    "VerifiedNote",
    "NoteVerifier",
    "Ed25519Verifier",
    "CosignatureVerifier",
    "Ed25519Signer",
    "CosignatureSigner",
    "parse_vkey",
    "cosignature_message",
    "open_checkpoint",
    "VerifiedCheckpoint",
]

#: Signature type 0x01, Ed25519 over the note text (c2sp.org/signed-note, "Signature types").
SIG_ED25519 = 0x01
#: Signature type 0x04, timestamped Ed25519 checkpoint cosignature (c2sp.org/tlog-cosignature).
SIG_COSIGNATURE_V1 = 0x04

#: Upper bound on an encoded note; 16 ML-DSA-44 cosignature lines fit easily.
MAX_NOTE_BYTES = 128 * 1024
#: Upper bound on signature lines; the spec requires accepting at least 16 (Go accepts 100).
MAX_SIGNATURES = 100

_EM_DASH = "\u2014"
_SIG_PREFIX = _EM_DASH + " "
_COSIG_HEADER = "cosignature/v1\n"
_MAX_TIMESTAMP = (1 << 63) - 1
_DECIMAL = re.compile(r"0|[1-9][0-9]{0,19}")
_HEX8 = re.compile(r"[0-9a-f]{8}")


def _b64decode(value: str, what: str, error: type[MalformedInput]) -> bytes:
    """Strict standard base64 (RFC 4648 s4): canonical padding and bits, or a typed error."""
    try:
        raw = base64.b64decode(value.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError) as exc:
        raise error(f"{what} is not valid base64") from exc
    if base64.b64encode(raw).decode("ascii") != value:
        raise error(f"{what} is not canonical base64")
    return raw


def _check_key_name(name: str) -> None:
    """Key names are non-empty, without Unicode spaces or '+' (c2sp.org/signed-note, "Format")."""
    if not name or "+" in name or any(ch.isspace() for ch in name) or any(ord(ch) < 0x20 for ch in name):
        raise ValueError("a key name must be non-empty and contain no spaces or '+'")


def key_id(name: str, sig_type: int, public_key: bytes) -> int:
    """SHA-256(name || 0x0A || type || public key)[:4] as a uint32 (c2sp.org/signed-note, "Signatures")."""
    digest = hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([sig_type]) + public_key).digest()
    return int.from_bytes(digest[:4], "big")


@dataclass(frozen=True)
class Checkpoint:
    """A log's tree head as note text (c2sp.org/tlog-checkpoint, "Note text").

    Construct through :meth:`from_text` for untrusted bytes; the constructor
    validates too, so an invalid checkpoint cannot exist.
    """

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # 1. The origin is non-empty (and, being a line, has no newline).
        if not self.origin or any(ord(ch) < 0x20 for ch in self.origin):
            raise MalformedCheckpoint("the origin line must be non-empty text")
        # 2. The tree size is a uint64.
        if isinstance(self.size, bool) or not isinstance(self.size, int) or not 0 <= self.size < 1 << 64:
            raise MalformedCheckpoint("the tree size must be an integer in [0, 2**64)")
        # 3. The root hash is a SHA-256 RFC 6962 root.
        if not isinstance(self.root_hash, bytes) or len(self.root_hash) != HASH_SIZE:
            raise MalformedCheckpoint(f"the root hash must be {HASH_SIZE} bytes")
        # 4. Extension lines, if any, are non-empty.
        object.__setattr__(self, "extensions", tuple(self.extensions))
        for ext in self.extensions:
            if not isinstance(ext, str) or not ext or any(ord(ch) < 0x20 for ch in ext):
                raise MalformedCheckpoint("extension lines must be non-empty text")

    @classmethod
    def from_text(cls, text: str | bytes) -> Checkpoint:
        """Parse a checkpoint body (the note text, ending in a newline)."""
        if isinstance(text, bytes):
            if len(text) > MAX_NOTE_BYTES:
                raise MalformedCheckpoint("the checkpoint is larger than allowed")
            try:
                text = text.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise MalformedCheckpoint("the checkpoint is not UTF-8") from exc
        if len(text) > MAX_NOTE_BYTES:
            raise MalformedCheckpoint("the checkpoint is larger than allowed")
        if not text.endswith("\n"):
            raise MalformedCheckpoint("the checkpoint body must end with a newline")
        lines = text[:-1].split("\n")
        if len(lines) < 3:
            raise MalformedCheckpoint("the checkpoint body needs origin, size and root hash lines")
        origin, size_line, root_line, *extensions = lines
        if not _DECIMAL.fullmatch(size_line):
            raise MalformedCheckpoint("the tree size must be decimal with no leading zeroes")
        root = _b64decode(root_line, "the root hash", MalformedCheckpoint)
        return cls(origin, int(size_line), root, tuple(extensions))

    def to_text(self) -> str:
        """The note text: origin, size, base64 root, extension lines, each ending in a newline."""
        lines = [self.origin, str(self.size), base64.b64encode(self.root_hash).decode("ascii"), *self.extensions]
        return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class NoteSignature:
    """One signature line: ``— <name> base64(uint32 key ID || signature)``."""

    name: str
    key_id: int
    signature: bytes

    def __post_init__(self) -> None:
        _check_key_name(self.name)
        if not 0 <= self.key_id < 1 << 32:
            raise ValueError("a key ID is a uint32")
        if not self.signature:
            raise ValueError("a signature must not be empty")

    @classmethod
    def from_line(cls, line: str) -> NoteSignature:
        """Parse one signature line (without its newline)."""
        if not line.startswith(_SIG_PREFIX):
            raise MalformedNote("a signature line must start with an em dash and a space")
        parts = line[len(_SIG_PREFIX) :].split(" ")
        if len(parts) != 2:
            raise MalformedNote("a signature line must be '\u2014 <name> <base64>'")
        name, b64 = parts
        raw = _b64decode(b64, "a signature", MalformedNote)
        if len(raw) < 5:
            raise MalformedNote("a signature must hold a 4-byte key ID and signature bytes")
        try:
            return cls(name, int.from_bytes(raw[:4], "big"), raw[4:])
        except ValueError as exc:
            raise MalformedNote("a signature line has an invalid key name") from exc

    def to_line(self) -> str:
        """The signature line, with its newline."""
        payload = self.key_id.to_bytes(4, "big") + self.signature
        return f"{_SIG_PREFIX}{self.name} {base64.b64encode(payload).decode('ascii')}\n"


@dataclass(frozen=True)
class SignedNote:
    """Text signed by one or more keys (c2sp.org/signed-note).

    The text's content MUST be ignored until :meth:`verify` has succeeded.
    """

    text: str
    signatures: tuple[NoteSignature, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "signatures", tuple(self.signatures))
        if not self.text.endswith("\n"):
            raise ValueError("note text must end with a newline")
        if any(ord(ch) < 0x20 and ch != "\n" for ch in self.text):
            raise ValueError("note text must not contain control characters other than newline")

    @classmethod
    def from_text(
        cls,
        data: str | bytes,
        *,
        max_bytes: int = MAX_NOTE_BYTES,
        max_signatures: int = MAX_SIGNATURES,
    ) -> SignedNote:
        """Parse a signed note, strictly (c2sp.org/signed-note, "Format")."""
        # 1. Bound the work before decoding anything.
        # A str may hold lone surrogates (from a JSON escape): they have no UTF-8 form, so refuse it here.
        try:
            size = len(data.encode("utf-8")) if isinstance(data, str) else len(data)
        except UnicodeEncodeError as exc:
            raise MalformedNote("the note is not valid UTF-8 text") from exc
        if size > max_bytes:
            raise MalformedNote(f"the note is {size} bytes, more than the {max_bytes} allowed")
        # 2. Valid UTF-8, and no control characters other than newline.
        if isinstance(data, bytes):
            try:
                data = data.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise MalformedNote("the note is not valid UTF-8") from exc
        if any(ord(ch) < 0x20 and ch != "\n" for ch in data):
            raise MalformedNote("the note contains a control character")
        # 3. The text is separated from the signatures by the last empty line.
        split = data.rfind("\n\n")
        if split < 0:
            raise MalformedNote("the note has no blank line before its signatures")
        text, sig_block = data[: split + 1], data[split + 2 :]
        # 4. One or more signature lines, each ending in a newline.
        if not sig_block or not sig_block.endswith("\n"):
            raise MalformedNote("the note must end with newline-terminated signature lines")
        lines = sig_block[:-1].split("\n")
        if len(lines) > max_signatures:
            raise MalformedNote(f"the note has {len(lines)} signatures, more than the {max_signatures} allowed")
        signatures = tuple(NoteSignature.from_line(line) for line in lines)
        return cls(text, signatures)

    def to_text(self) -> str:
        """The encoded note: text, blank line, signature lines."""
        if not self.signatures:
            raise ValueError("a signed note needs at least one signature")
        return self.text + "\n" + "".join(sig.to_line() for sig in self.signatures)

    def with_signature(self, signature: NoteSignature) -> SignedNote:
        """A copy with ``signature`` added, replacing one from the same name and key ID."""
        kept = tuple(
            s for s in self.signatures if (s.name, s.key_id) != (signature.name, signature.key_id)
        )
        return SignedNote(self.text, (*kept, signature))

    def verify(self, verifiers: Iterable[NoteVerifier]) -> VerifiedNote:
        """Check the signatures from known keys (c2sp.org/signed-note, "Signatures").

        1. Signatures whose (name, key ID) matches no verifier are ignored.
        2. Every signature from a known key must verify, or the note is rejected.
        3. At least one signature from a known key must have verified.
        """
        table: dict[tuple[str, int], NoteVerifier] = {}
        for v in verifiers:
            if (v.name, v.key_id) in table:
                raise ValueError(f"two verifiers share the key {v.name}+{v.key_id:08x}")
            table[(v.name, v.key_id)] = v
        text = self.text.encode("utf-8")
        verified: list[VerifiedSignature] = []
        seen: set[tuple[str, int]] = set()
        for sig in self.signatures:
            verifier = table.get((sig.name, sig.key_id))
            # 1. Unknown keys are ignored, even if they share a name or an ID.
            if verifier is None:
                continue
            # 2. A known key's signature must verify.
            result = verifier.verify(text, sig.signature)
            if (sig.name, sig.key_id) not in seen:
                seen.add((sig.name, sig.key_id))
                verified.append(result)
        # 3. No verified signature from a known key: reject.
        if not verified:
            raise SignatureError("the note has no signature from a trusted key")
        return VerifiedNote(self.text, tuple(verified))


@dataclass(frozen=True)
class VerifiedSignature:
    """A signature that verified: who signed, with which type, and when (cosignatures only)."""

    name: str
    key_id: int
    sig_type: int
    timestamp: int | None = None


@dataclass(frozen=True)
class VerifiedNote:
    """Note text whose signatures from known keys all verified."""

    text: str
    signatures: tuple[VerifiedSignature, ...]

    def signed_by(self, name: str, key_id: int) -> VerifiedSignature | None:
        """The verified signature of one key, if present."""
        return next((s for s in self.signatures if (s.name, s.key_id) == (name, key_id)), None)


class NoteVerifier(Protocol):
    """Verifies one key's signatures; raises :class:`SignatureError` on failure."""

    @property
    def name(self) -> str: ...

    @property
    def key_id(self) -> int: ...

    def verify(self, text: bytes, signature: bytes) -> VerifiedSignature: ...


def _verify_key(public_key: bytes) -> nacl.signing.VerifyKey:
    if len(public_key) != 32:
        raise MalformedInput("an Ed25519 public key is 32 bytes")
    return nacl.signing.VerifyKey(public_key)


@dataclass(frozen=True)
class Ed25519Verifier:
    """Type 0x01: Ed25519 over the note text (RFC 8032; c2sp.org/signed-note, "Ed25519 signatures")."""

    name: str
    public_key: bytes
    key_id: int = field(init=False)
    sig_type = SIG_ED25519

    def __post_init__(self) -> None:
        _check_key_name(self.name)
        _verify_key(self.public_key)
        object.__setattr__(self, "key_id", key_id(self.name, self.sig_type, self.public_key))

    @property
    def vkey(self) -> str:
        """``<name>+<hex key ID>+<base64(type || public key)>`` (c2sp.org/signed-note, "Verifier keys")."""
        material = base64.b64encode(bytes([self.sig_type]) + self.public_key).decode("ascii")
        return f"{self.name}+{self.key_id:08x}+{material}"

    @classmethod
    def from_vkey(cls, vkey: str) -> Ed25519Verifier:
        """Parse a type 0x01 vkey (see :func:`parse_vkey`)."""
        v = parse_vkey(vkey)
        if not isinstance(v, cls) or isinstance(v, CosignatureVerifier):
            raise MalformedInput("the vkey is not an Ed25519 (type 0x01) key")
        return v

    def verify(self, text: bytes, signature: bytes) -> VerifiedSignature:
        """Verify an Ed25519 signature over the note text."""
        if len(signature) != 64:
            raise SignatureError(f"the signature by {self.name} is not 64 bytes")
        try:
            _verify_key(self.public_key).verify(text, signature)
        except nacl.exceptions.BadSignatureError as exc:
            raise SignatureError(f"the signature by {self.name} does not verify") from exc
        return VerifiedSignature(self.name, self.key_id, self.sig_type)


def cosignature_message(body: str | bytes, timestamp: int) -> bytes:
    """The message a cosignature/v1 signs (c2sp.org/tlog-cosignature, "Ed25519 signed message")."""
    if isinstance(body, str):
        body = body.encode("utf-8")
    return f"{_COSIG_HEADER}time {timestamp}\n".encode("ascii") + body


@dataclass(frozen=True)
class CosignatureVerifier(Ed25519Verifier):
    """Type 0x04: timestamped Ed25519 checkpoint cosignature (c2sp.org/tlog-cosignature).

    The signature is ``u64 timestamp || Ed25519 sig (64)``; the timestamp is
    returned in :class:`VerifiedSignature` and must not exceed 2**63 - 1.
    """

    sig_type = SIG_COSIGNATURE_V1

    @classmethod
    def from_vkey(cls, vkey: str) -> CosignatureVerifier:
        """Parse a type 0x04 vkey (see :func:`parse_vkey`)."""
        v = parse_vkey(vkey)
        if not isinstance(v, cls):
            raise MalformedInput("the vkey is not a cosignature/v1 (type 0x04) key")
        return v

    def verify(self, text: bytes, signature: bytes) -> VerifiedSignature:
        """Verify a timestamped cosignature over ``cosignature/v1``, time, checkpoint body."""
        if len(signature) != 8 + 64:
            raise SignatureError(f"the cosignature by {self.name} is not 72 bytes")
        timestamp = int.from_bytes(signature[:8], "big")
        if timestamp > _MAX_TIMESTAMP:
            raise SignatureError(f"the cosignature by {self.name} has a timestamp over 2**63 - 1")
        try:
            _verify_key(self.public_key).verify(cosignature_message(text, timestamp), signature[8:])
        except nacl.exceptions.BadSignatureError as exc:
            raise SignatureError(f"the cosignature by {self.name} does not verify") from exc
        return VerifiedSignature(self.name, self.key_id, self.sig_type, timestamp)


def parse_vkey(vkey: str) -> Ed25519Verifier:
    """Parse ``<name>+<hex key ID>+<base64(type || key)>`` for types 0x01 and 0x04.

    The key ID in the string must equal the one computed from the name and key,
    as Go's ``note.NewVerifier`` requires.
    """
    if not isinstance(vkey, str) or len(vkey) > 1024:
        raise MalformedInput("a vkey is a short string")
    # The base64 part may itself contain '+', so split at the first two only.
    parts = vkey.split("+", 2)
    if len(parts) != 3:
        raise MalformedInput("a vkey is '<name>+<hex key ID>+<base64 key>'")
    name, hex_id, b64 = parts
    try:
        _check_key_name(name)
    except ValueError as exc:
        raise MalformedInput("the vkey's key name is invalid") from exc
    if not _HEX8.fullmatch(hex_id):
        raise MalformedInput("the vkey's key ID must be 8 lowercase hex digits")
    material = _b64decode(b64, "the vkey's key", MalformedInput)
    if not material:
        raise MalformedInput("the vkey has no key material")
    sig_type, public_key = material[0], material[1:]
    cls: type[Ed25519Verifier]
    if sig_type == SIG_ED25519:
        cls = Ed25519Verifier
    elif sig_type == SIG_COSIGNATURE_V1:
        cls = CosignatureVerifier
    else:
        raise MalformedInput(f"the vkey's signature type 0x{sig_type:02x} is not supported")
    verifier = cls(name, public_key)
    if verifier.key_id != int(hex_id, 16):
        raise MalformedInput("the vkey's key ID does not match its name and key")
    return verifier


class Ed25519Signer:
    """Signs notes with type 0x01 Ed25519 (c2sp.org/signed-note, "Ed25519 signatures").

    The 32-byte seed is passed in (no hidden randomness); keep it out of logs.
    """

    sig_type = SIG_ED25519

    def __init__(self, name: str, seed: bytes) -> None:
        _check_key_name(name)
        if len(seed) != 32:
            raise ValueError("an Ed25519 seed is 32 bytes")
        self.name = name
        self._key = nacl.signing.SigningKey(seed)
        self.public_key = bytes(self._key.verify_key)
        self.key_id = key_id(name, self.sig_type, self.public_key)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, key_id={self.key_id:08x})"

    @classmethod
    def from_skey(cls, skey: str) -> Ed25519Signer:
        """Parse Go's ``PRIVATE+KEY+<name>+<hex key ID>+<base64(0x01 || seed)>`` signer key."""
        parts = skey.split("+", 4)
        if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
            raise ValueError("not a PRIVATE+KEY signer key")
        name, hex_id, b64 = parts[2:]
        material = base64.b64decode(b64, validate=True)
        if material[:1] != bytes([SIG_ED25519]):
            raise ValueError("not an Ed25519 signer key")
        signer = cls(name, material[1:])
        if f"{signer.key_id:08x}" != hex_id:
            raise ValueError("the signer key's ID does not match its name and key")
        return signer

    @property
    def verifier(self) -> Ed25519Verifier:
        """The matching verifier."""
        return Ed25519Verifier(self.name, self.public_key)

    def sign(self, text: str) -> NoteSignature:
        """Sign note text (which must end in a newline)."""
        SignedNote(text)  # Validates the text.
        return NoteSignature(self.name, self.key_id, self._key.sign(text.encode("utf-8")).signature)


class CosignatureSigner(Ed25519Signer):
    """Cosigns checkpoints with cosignature/v1, type 0x04 (c2sp.org/tlog-cosignature).

    A cosigner MUST use a public key of its own for this, distinct from any
    other cosigner (the signed message does not commit to the name).
    """

    sig_type = SIG_COSIGNATURE_V1

    @property
    def verifier(self) -> CosignatureVerifier:
        """The matching verifier."""
        return CosignatureVerifier(self.name, self.public_key)

    def sign(self, text: str, *, timestamp: int | None = None) -> NoteSignature:
        """Cosign a checkpoint body at ``timestamp`` (POSIX seconds, passed in)."""
        if timestamp is None:
            raise TypeError("a cosignature needs timestamp= (POSIX seconds)")
        if not 0 <= timestamp <= _MAX_TIMESTAMP:
            raise ValueError("the timestamp must be in [0, 2**63 - 1]")
        Checkpoint.from_text(text)  # Cosignatures are over checkpoints only.
        sig = self._key.sign(cosignature_message(text, timestamp)).signature
        return NoteSignature(self.name, self.key_id, timestamp.to_bytes(8, "big") + sig)


@dataclass(frozen=True)
class VerifiedCheckpoint:
    """A checkpoint whose log signature verified, with the cosignatures that verified."""

    checkpoint: Checkpoint
    note: VerifiedNote
    cosignatures: tuple[VerifiedSignature, ...]


def open_checkpoint(
    data: str | bytes,
    *,
    origin: str,
    log: Ed25519Verifier,
    cosigners: Sequence[CosignatureVerifier] = (),
) -> VerifiedCheckpoint:
    """Parse and verify a signed checkpoint from ``log``, collecting known cosignatures.

    1. Parse the signed note (c2sp.org/signed-note, "Format").
    2. Verify every signature from a known key; unknown ones are ignored.
    3. The log's own signature must be among them (c2sp.org/tlog-checkpoint, "Signatures").
    4. Parse the text as a checkpoint and require the expected origin.

    Cosignature quorum is policy and is left to the caller.
    """
    # 1. Parse.
    note = SignedNote.from_text(data)
    # 2. Verify known signatures.
    verified = note.verify([log, *cosigners])
    # 3. The log itself must have signed.
    if verified.signed_by(log.name, log.key_id) is None:
        raise SignatureError(f"the checkpoint is not signed by the log key {log.name}")
    # 4. A checkpoint body, for the log we asked about.
    checkpoint = Checkpoint.from_text(verified.text)
    if checkpoint.origin != origin:
        raise CheckpointError("the checkpoint's origin is not the expected log")
    cosigs = tuple(s for s in verified.signatures if s.sig_type == SIG_COSIGNATURE_V1)
    return VerifiedCheckpoint(checkpoint, verified, cosigs)
