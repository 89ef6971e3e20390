"""Errors raised by :mod:`registry`.

Every error that hostile input (a proof, a checkpoint, a signed note, a tile)
can cause is a subclass of :class:`RegistryError`, so a caller can catch one
class and know nothing else escapes. Programmer misuse (a negative size given
to a proof *generator*, a wrong type) raises ``ValueError``/``TypeError``.

Each class has a stable ``code`` (the problem ``type`` suffix over HTTP, the key
in logs, the CLI's message) and a message that tells the user what to do next.
Messages may name sizes, indices and public root hashes; never private keys.

::

    RegistryError
    ├── MalformedInput            bytes that do not parse (note, checkpoint, vkey, tile path, bundle)
    │   ├── MalformedNote         C2SP signed-note syntax
    │   └── MalformedCheckpoint   C2SP tlog-checkpoint body syntax
    ├── ProofError                an RFC 9162 proof does not verify
    │   ├── InvalidProof          wrong shape: hash length, proof length, sizes, index
    │   └── RootMismatch          well-formed, but the calculated root differs (.expected, .calculated)
    ├── CheckpointError           a valid checkpoint that is not the one we asked for (origin)
    ├── SignatureError            no trusted signature, or a trusted key's signature fails
    └── ConsistencyError          split view or rollback between two checkpoints

Extending: subclass the nearest parent and set a new ``code`` (and, if useful,
a ``hint``); :meth:`RegistryError.__init_subclass__` refuses duplicate codes so
a code keeps meaning one thing in logs and over HTTP.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "RegistryError",
    "MalformedInput",
    "MalformedNote",
    "MalformedCheckpoint",
    "ProofError",
    "InvalidProof",
    "RootMismatch",
    "CheckpointError",
    "SignatureError",
    "ConsistencyError",
    "ERROR_CODES",
]

#: Every ``code`` in use, mapped to its class (filled in by ``__init_subclass__``).
ERROR_CODES: dict[str, type[RegistryError]] = {}


class RegistryError(Exception):
    """Root of every error :mod:`registry` raises for bad input.

    ``str(err)`` is the message followed by the class's ``hint``, the next step
    for whoever reads it.
    """

    code: ClassVar[str] = "registry_error"
    hint: ClassVar[str] = ""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        code = cls.__dict__.get("code")
        if not isinstance(code, str) or not code:
            raise TypeError(f"{cls.__name__} must define its own non-empty `code`")
        if code in ERROR_CODES:
            raise TypeError(f"error code {code!r} is already used by {ERROR_CODES[code].__name__}")
        ERROR_CODES[code] = cls

    def __str__(self) -> str:
        return f"{self.message}; {self.hint}" if self.hint else self.message


ERROR_CODES[RegistryError.code] = RegistryError


class MalformedInput(RegistryError):
    """The bytes cannot be parsed as what they claim to be."""

    code = "malformed_input"
    hint = "the sender produced invalid data; do not retry the same bytes"


class MalformedNote(MalformedInput):
    """The input breaks the C2SP signed-note syntax (c2sp.org/signed-note, "Format")."""

    code = "malformed_note"
    hint = "a signed note is text, a blank line, then '\u2014 <name> <base64>' lines"


class MalformedCheckpoint(MalformedInput):
    """The note text is not a C2SP checkpoint body (c2sp.org/tlog-checkpoint, "Note text")."""

    code = "malformed_checkpoint"
    hint = "a checkpoint body is origin, decimal size and base64 root hash, one per line"


class ProofError(RegistryError):
    """An RFC 9162 inclusion or consistency proof does not verify."""

    code = "proof_invalid"
    hint = "fetch a fresh proof for the same sizes; if it fails again, report the log"


class InvalidProof(ProofError):
    """The proof has the wrong shape for the sizes and index it claims (RFC 9162 s2.1.3.2, s2.1.4.2)."""

    code = "proof_malformed"


class RootMismatch(ProofError):
    """The proof is well-formed but hashes to a different root.

    Carries both roots, as transparency-dev/merkle's ``RootMismatchError`` does,
    so a monitor can log the evidence.
    """

    code = "root_mismatch"

    def __init__(self, expected: bytes, calculated: bytes, message: str | None = None) -> None:
        self.expected = bytes(expected)
        self.calculated = bytes(calculated)
        if message is None:
            message = "calculated root does not match the expected root"
        super().__init__(f"{message} (expected {self.expected.hex()}, calculated {self.calculated.hex()})")


class CheckpointError(RegistryError):
    """A well-formed checkpoint that must not be accepted here (e.g. the wrong origin)."""

    code = "checkpoint_rejected"
    hint = "check that the client is configured for this log's origin"


class SignatureError(RegistryError):
    """No signature from a trusted key verifies, or one from a trusted key fails.

    c2sp.org/signed-note, "Signatures": a failing signature from a known key
    rejects the whole note, and a note with no verified known signature is rejected.
    """

    code = "signature_invalid"
    hint = "check the configured verifier keys (vkeys); never trust the note's text unverified"


class ConsistencyError(RegistryError):
    """Two checkpoints of one log cannot both be honest: a split view or a rollback.

    Keep both checkpoints: together they are the evidence of misbehaviour.
    """

    code = "inconsistent_log"
    hint = "keep both checkpoints as evidence and report the log to its witnesses"


# Ledger domain errors (registry/entry.py, did.py, accreditation.py,
# credential_type.py, anchor.py, state.py), appended here by the ledger work:
#
#     MalformedInput
#     └── InvalidEntry              malformed, non-canonical or oversized entry bytes or body
#     SignatureError
#     └── EntrySignatureInvalid     the entry's Ed25519 signature does not verify
#     EntryRejected                 a well-formed, signed entry the ledger rules refuse
#     ├── Replay                    the same entry bytes were already accepted
#     ├── Conflict                  prev is not the DID's head (HTTP 409); .expected, .actual
#     ├── Deactivated               the DID is deactivated; no further operation is possible
#     ├── NotAuthorized             the signing key or accreditation does not allow this
#     └── RuleViolation             any other ledger rule (time, key ids, pre-rotation shape)
#     NotFound
#     ├── UnknownDID                no such did:civic in the ledger
#     ├── VersionNotFound           no DID version or type version matches the query
#     └── UnknownType               no vct.publish for that vct
#     KeyNotValid                   key_at: the key was not usable at that time; .rule


class InvalidEntry(MalformedInput):
    """A ledger entry that is not exactly the JCS bytes of a well-formed entry (registry design, "Entry")."""

    code = "invalid_entry"
    hint = "build the entry with registry.did/accreditation/... helpers and submit their bytes unchanged"


class EntrySignatureInvalid(SignatureError):
    """The entry's ``sig`` is not an Ed25519 signature of its author key over the domain-separated JCS."""

    code = "entry_signature_invalid"
    hint = "sign 'civicid.org/v1/entry' || 0x00 || JCS(entry without sig) with the key named in 'author'"


class EntryRejected(RegistryError):
    """A well-formed, correctly signed entry that the ledger's rules refuse."""

    code = "entry_rejected"
    hint = "fix the operation and submit a new entry"


class Replay(EntryRejected):
    """The same entry (same hash) was already accepted; entries are idempotent, never applied twice."""

    code = "entry_replayed"
    hint = "the entry is already in the log; fetch its inclusion proof instead of resubmitting"


class Conflict(EntryRejected):
    """``prev`` does not name the DID's current head: a concurrent or stale operation (HTTP 409)."""

    code = "prev_conflict"
    hint = "resolve the DID again, rebuild the operation on its latest versionId, and sign it anew"

    def __init__(self, message: str, expected: str | None = None, actual: str | None = None) -> None:
        self.expected = expected
        self.actual = actual
        super().__init__(message)


class Deactivated(EntryRejected):
    """The DID was deactivated; deactivation is final (W3C DID Core s7.2.4)."""

    code = "did_deactivated"
    hint = "create a new DID; a deactivated DID accepts no further operations"


class NotAuthorized(EntryRejected):
    """The signing key may not perform this operation, or the author lacks the accreditation for it."""

    code = "not_authorized"
    hint = "sign with a current key of the right purpose, or obtain an accreditation covering the vct"


class RuleViolation(EntryRejected):
    """The entry breaks a ledger rule not covered by a more specific class (time, key ids, body shape vs state)."""

    code = "rule_violation"
    hint = "correct the operation as the message says and sign a new entry"


class NotFound(RegistryError):
    """The ledger has nothing matching the request."""

    code = "not_found"
    hint = "check the identifier; the ledger may not have sequenced it yet"


class UnknownDID(NotFound):
    """No ``did:civic`` with that SCID exists in the ledger."""

    code = "unknown_did"


class VersionNotFound(NotFound):
    """No DID or type version matches the requested versionId or versionTime."""

    code = "version_not_found"
    hint = "resolve without a version to see the versions that exist"


class UnknownType(NotFound):
    """No ``vct.publish`` entry exists for that credential type."""

    code = "unknown_vct"


class KeyNotValid(RegistryError):
    """``key_at``: the key was not usable at the given time; ``rule`` names the rule that failed.

    Rules: ``unknown_kid``, ``not_yet_added``, ``removed``, ``compromised``, and in strict
    mode ``unanchored`` (a later-compromised key without an issuance anchor cosigned in time).
    """

    code = "key_not_valid"
    hint = "the credential was not signed by a key valid at its iat; refuse it"

    def __init__(self, message: str, rule: str) -> None:
        self.rule = rule
        super().__init__(message)


__all__ += [
    "InvalidEntry",
    "EntrySignatureInvalid",
    "EntryRejected",
    "Replay",
    "Conflict",
    "Deactivated",
    "NotAuthorized",
    "RuleViolation",
    "NotFound",
    "UnknownDID",
    "VersionNotFound",
    "UnknownType",
    "KeyNotValid",
]


# HTTP: RFC 9457 problem details ------------------------------------------------------------

#: HTTP status per error family; the most specific class in the MRO wins.
_STATUS: dict[type[RegistryError], int] = {
    MalformedInput: 400,
    ProofError: 400,
    CheckpointError: 400,
    SignatureError: 400,
    ConsistencyError: 409,
    EntryRejected: 422,
    Conflict: 409,
    Replay: 409,
    NotFound: 404,
    KeyNotValid: 422,
}

PROBLEM_BASE = "https://civicid.org/problems/registry/"


def http_status(error: RegistryError) -> int:
    """The HTTP status for an error: the nearest class with a mapping, else 400."""
    for cls in type(error).__mro__:
        if cls in _STATUS:
            return _STATUS[cls]
    return int(getattr(error, "status", 400))


def problem(status: int, code: str, detail: str, **extra: object) -> "tuple[dict[str, object], int, dict[str, str]]":
    """An RFC 9457 problem+json body, status and headers."""
    body: dict[str, object] = {"type": PROBLEM_BASE + code, "title": code.replace("_", " "), "status": status, "detail": detail}
    body.update(extra)
    return body, status, {"Content-Type": "application/problem+json"}


def init_app(app: "object") -> None:
    """Answer every error with problem+json: typed errors with their code, HTTP errors with theirs, never a trace."""
    import logging

    from werkzeug.exceptions import HTTPException

    log = logging.getLogger("registry.http")

    def on_registry_error(error: RegistryError) -> object:
        extra: dict[str, object] = {}
        if isinstance(error, Conflict):
            extra["expected"] = error.expected
        return problem(http_status(error), error.code, str(error), **extra)

    def on_http_error(error: HTTPException) -> object:
        code = (error.name or "error").lower().replace(" ", "_")
        return problem(error.code or 500, code, error.description or code)

    def on_unexpected(error: Exception) -> object:
        log.error("unexpected %s while serving a request", type(error).__name__, exc_info=error)
        return problem(500, "internal_error", "the registry failed unexpectedly; the operators have been told")

    app.register_error_handler(RegistryError, on_registry_error)  # type: ignore[attr-defined]
    app.register_error_handler(HTTPException, on_http_error)  # type: ignore[attr-defined]
    app.register_error_handler(Exception, on_unexpected)  # type: ignore[attr-defined]
