"""A transparency-log witness (c2sp.org/tlog-witness) and the log's client for it.

Another department runs ``civicid registry witness``: for each log it trusts
(origin + log key) it remembers the latest checkpoint it cosigned, and cosigns a
new one only when a consistency proof shows the new tree extends the old one.
A log that forks or rewrites its history therefore cannot get a cosignature,
and clients that require a quorum of witnesses never accept the fork. The
witness keeps the refused request as evidence (``witness_evidence``).

Checking the old size and storing the new checkpoint happen in one
transaction, as the specification requires (``add-checkpoint``, the race it
describes).
"""

from __future__ import annotations

import base64
import binascii
import logging
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Callable, ClassVar, Sequence

from .checkpoint import (
    Checkpoint,
    CosignatureSigner,
    Ed25519Verifier,
    NoteSignature,
    SignedNote,
)
from .errors import MalformedInput, ProofError, RegistryError, SignatureError
from .merkle import HASH_SIZE
from .proof import verify_consistency
from .storage import Database

__all__ = [
    "WitnessError",
    "UnknownLog",
    "NotSignedByLog",
    "BadOldSize",
    "SizeConflict",
    "InconsistentCheckpoint",
    "TrustedLog",
    "Witness",
    "parse_add_checkpoint",
    "AddCheckpointRequest",
    "request_cosignature",
    "MAX_REQUEST_BYTES",
]

log = logging.getLogger(__name__)

MAX_REQUEST_BYTES = 256 * 1024
_MAX_PROOF_LINES = 63


class WitnessError(RegistryError):
    """An ``add-checkpoint`` request the witness must refuse, with the specified HTTP status."""

    code = "witness_refused"
    status: ClassVar[int] = 400
    #: Set when the refusal is evidence of log misbehaviour worth keeping.
    evidence: str = ""


class UnknownLog(WitnessError):
    code = "witness_unknown_log"
    status = 404
    hint = "the witness is not configured for this origin"


class NotSignedByLog(WitnessError):
    code = "witness_forbidden"
    status = 403
    hint = "no signature from the log key the witness trusts verified"


class BadOldSize(WitnessError):
    code = "witness_bad_request"
    status = 400


class SizeConflict(WitnessError):
    """The old size is not the witness's latest cosigned size (or equal sizes with other roots)."""

    code = "witness_conflict"
    status = 409

    def __init__(self, message: str, current_size: int) -> None:
        super().__init__(message)
        self.current_size = current_size


class InconsistentCheckpoint(WitnessError):
    code = "witness_inconsistent"
    status = 422
    hint = "the log's new checkpoint does not extend the one the witness cosigned: evidence kept"


@dataclass(frozen=True)
class AddCheckpointRequest:
    old_size: int
    proof: tuple[bytes, ...]
    note: SignedNote
    checkpoint: Checkpoint


def _parse_size(text: str) -> int:
    if not text.isdigit() or (len(text) > 1 and text[0] == "0") or len(text) > 20:
        raise BadOldSize("the old size must be a decimal without leading zeros")
    return int(text)


def parse_add_checkpoint(body: bytes) -> AddCheckpointRequest:
    """Parse an add-checkpoint body: ``old N``, proof lines, an empty line, the checkpoint."""
    if len(body) > MAX_REQUEST_BYTES:
        raise BadOldSize(f"the request is larger than {MAX_REQUEST_BYTES} bytes")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadOldSize("the request is not UTF-8") from exc
    head, sep, note_text = text.partition("\n\n")
    if not sep:
        raise BadOldSize("the request has no empty line before the checkpoint")
    lines = head.split("\n")
    if not lines[0].startswith("old "):
        raise BadOldSize("the request must start with 'old <size>'")
    old_size = _parse_size(lines[0][4:])
    if len(lines) - 1 > _MAX_PROOF_LINES:
        raise BadOldSize(f"more than {_MAX_PROOF_LINES} consistency proof lines")
    proof: list[bytes] = []
    for line in lines[1:]:
        try:
            value = base64.b64decode(line, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise BadOldSize("a consistency proof line is not base64") from exc
        if len(value) != HASH_SIZE:
            raise BadOldSize("a consistency proof line is not a 32-byte hash")
        proof.append(value)
    try:
        note = SignedNote.from_text(note_text)
        checkpoint = Checkpoint.from_text(note.text)
    except MalformedInput as exc:
        raise BadOldSize(f"the checkpoint is malformed: {exc.message}") from exc
    return AddCheckpointRequest(old_size, tuple(proof), note, checkpoint)


@dataclass(frozen=True)
class TrustedLog:
    """A log the witness follows: its origin and its checkpoint-signing key."""

    origin: str
    verifier: Ed25519Verifier


_SCHEMA = [
    "CREATE TABLE IF NOT EXISTS witness_state (origin TEXT PRIMARY KEY, size BIGINT NOT NULL, root {blob})",
    "CREATE TABLE IF NOT EXISTS witness_evidence (id {serial}, origin TEXT NOT NULL, old_size BIGINT NOT NULL, "
    "reason TEXT NOT NULL, request TEXT NOT NULL, at BIGINT NOT NULL)",
]


class Witness:
    """The witness's state machine over a database (SQLite or PostgreSQL)."""

    def __init__(
        self,
        db: Database,
        signer: CosignatureSigner,
        logs: Sequence[TrustedLog],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.db = db
        self.signer = signer
        self.logs = {entry.origin: entry for entry in logs}
        self.clock = clock
        blob = "BYTEA" if db.postgres else "BLOB"
        serial = "BIGSERIAL PRIMARY KEY" if db.postgres else "INTEGER PRIMARY KEY AUTOINCREMENT"
        with db.transaction() as cur:
            for statement in _SCHEMA:
                cur.execute(statement.format(blob=blob, serial=serial))
            for origin in self.logs:
                if db.postgres:
                    cur.execute(
                        "INSERT INTO witness_state (origin, size, root) VALUES (?, 0, NULL) ON CONFLICT DO NOTHING",
                        (origin,),
                    )
                else:
                    cur.execute("INSERT OR IGNORE INTO witness_state (origin, size, root) VALUES (?, 0, NULL)", (origin,))

    def latest(self, origin: str) -> tuple[int, bytes | None]:
        row = self.db.read().execute("SELECT size, root FROM witness_state WHERE origin = ?", (origin,)).fetchone()
        if row is None:
            raise UnknownLog("the witness does not follow this log")
        return int(row[0]), (bytes(row[1]) if row[1] is not None else None)

    def add_checkpoint(self, body: bytes) -> str:
        """Handle one add-checkpoint request; return the cosignature lines to send back."""
        request = parse_add_checkpoint(body)
        checkpoint = request.checkpoint
        # The origin must be one we follow (404), signed by its key (403).
        trusted = self.logs.get(checkpoint.origin)
        if trusted is None:
            raise UnknownLog("the witness does not follow this log")
        try:
            verified = request.note.verify([trusted.verifier])
        except (SignatureError, MalformedInput) as exc:
            raise NotSignedByLog("the checkpoint is not signed by the log key this witness trusts") from exc
        if verified.signed_by(trusted.verifier.name, trusted.verifier.key_id) is None:
            raise NotSignedByLog("the checkpoint is not signed by the log key this witness trusts")
        # The old size must not exceed the new one (400).
        if request.old_size > checkpoint.size:
            raise BadOldSize("the old size is larger than the checkpoint's size")
        try:
            self._advance(request)
        except WitnessError as exc:
            if exc.evidence:
                self._evidence(request, body, exc.evidence)
            raise
        cosignature = self.signer.sign(request.note.text, timestamp=int(self.clock()))
        return cosignature.to_line()

    def _advance(self, request: AddCheckpointRequest) -> None:
        """Check the old size and store the new checkpoint atomically (the spec's race)."""
        checkpoint = request.checkpoint
        with self.db.transaction() as cur:
            row = cur.execute(
                "SELECT size, root FROM witness_state WHERE origin = ?" + (" FOR UPDATE" if self.db.postgres else ""),
                (checkpoint.origin,),
            ).fetchone()
            size, root = int(row[0]), (bytes(row[1]) if row[1] is not None else None)
            # The old size must be the latest cosigned one (409 with that size).
            if request.old_size != size:
                raise SizeConflict("the old size is not the latest size this witness cosigned", size)
            if request.old_size == checkpoint.size:
                if root is not None and root != checkpoint.root_hash:
                    fork = SizeConflict("same size as the cosigned checkpoint but a different root: a fork", size)
                    fork.evidence = "same size, different root"
                    raise fork
                if request.proof:
                    raise InconsistentCheckpoint("equal sizes take an empty consistency proof")
            elif request.old_size == 0:
                if request.proof:
                    raise InconsistentCheckpoint("the proof must be empty when the old size is zero")
            else:
                # A consistency proof from the cosigned tree to the new one (422).
                try:
                    verify_consistency(request.old_size, checkpoint.size, request.proof, root or b"", checkpoint.root_hash)
                except ProofError as exc:
                    refused = InconsistentCheckpoint("the consistency proof does not verify")
                    refused.evidence = f"consistency proof failed: {exc.code}"
                    raise refused from exc
            cur.execute(
                "UPDATE witness_state SET size = ?, root = ? WHERE origin = ?",
                (checkpoint.size, checkpoint.root_hash, checkpoint.origin),
            )

    def _evidence(self, request: AddCheckpointRequest, body: bytes, reason: str) -> None:
        """Keep a refused, log-signed request: it is evidence of a fork."""
        log.warning("witness refused a checkpoint for %s: %s", request.checkpoint.origin, reason)
        with self.db.transaction() as other:
            other.execute(
                "INSERT INTO witness_evidence (origin, old_size, reason, request, at) VALUES (?, ?, ?, ?, ?)",
                (request.checkpoint.origin, request.old_size, reason, body.decode("utf-8"), int(self.clock())),
            )

    def evidence(self) -> list[tuple[str, int, str]]:
        rows = self.db.read().execute("SELECT origin, old_size, reason FROM witness_evidence ORDER BY id").fetchall()
        return [(str(o), int(s), str(r)) for o, s, r in rows]


def request_cosignature(
    url: str, old_size: int, proof: Sequence[bytes], note_text: str, timeout: float = 5.0
) -> tuple[int, bytes]:
    """POST add-checkpoint to a witness; return (HTTP status, body). Network errors raise OSError."""
    body = (
        f"old {old_size}\n"
        + "".join(base64.b64encode(h).decode("ascii") + "\n" for h in proof)
        + "\n"
        + note_text
    ).encode("utf-8")
    request = urllib.request.Request(url.rstrip("/") + "/add-checkpoint", data=body, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return int(response.status), response.read(64 * 1024)
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read(64 * 1024)


def cosignatures_from_response(body: bytes) -> list[NoteSignature]:
    """Parse the signature lines a witness answered with (unknown keys are dropped later)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedInput("the witness answered with non-UTF-8 text") from exc
    if not text.endswith("\n"):
        raise MalformedInput("the witness's answer must end with a newline")
    return [NoteSignature.from_line(line) for line in text[:-1].split("\n") if line]
