"""The ledger state: an in-memory projection of the log, built by applying entries one at a time.

Every table of the registry is a deterministic projection of the log (registry
design sketch, "Model"). :class:`LedgerState` is that projection in memory:
DID documents by version, the keys table, accreditations, credential types,
anchors and the replay set. A storage layer reuses the same rules by calling
:func:`validate` inside its transaction (it reads nothing but ``state``), then
:meth:`LedgerState.commit` to update the projection, so batches sequenced in
one transaction see each earlier entry of the batch.

Each entry is checked completely before anything changes: a rejected entry
leaves the state untouched. Applying one entry costs O(keys of its DID).

Times are the author ``time`` (the lower bound of the design's time bracket);
the cosigned upper bound of an entry is added by the proof-carrying verifier
(:meth:`registry.bundle.Bundle.verify` fills :attr:`LedgerState.upper_bounds`)
and used by :meth:`LedgerState.key_at` (docs/did-method.md section 6).
"""

from __future__ import annotations

import bisect
import dataclasses
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Iterable, Mapping

from .accreditation import AccreditationIndex, Grant, GrantBody, Scope, WithdrawBody, parse_grant, parse_withdraw
from .anchor import Anchor, AnchorBody, parse_anchor
from .credential_type import TypeRegistry, TypeVersion, parse_type_metadata
from .did import (
    CreateBody,
    DeactivateBody,
    RecoverBody,
    Service,
    UpdateBody,
    VerificationKey,
    key_hash,
    parse_body,
    parse_did,
    verify_scid,
)
from .entry import DID_KINDS, Digest, Entry
from .errors import (
    Conflict,
    Deactivated,
    InvalidEntry,
    KeyNotValid,
    NotAuthorized,
    Replay,
    RuleViolation,
    UnknownDID,
    VersionNotFound,
)

__all__ = [
    "MAX_CLOCK_SKEW",
    "KeyRecord",
    "DIDVersion",
    "Resolution",
    "Validated",
    "Applied",
    "LedgerState",
    "validate",
    "format_time",
    "parse_time",
]

MAX_CLOCK_SKEW = 300
"""An author ``time`` may be at most 5 minutes ahead of the ledger clock (did:webvh "Read", step 4)."""

_DID_CONTEXTS = ["https://www.w3.org/ns/did/v1", "https://w3id.org/security/jwk/v1", "https://w3id.org/security/multikey/v1"]


def format_time(t: int) -> str:
    """Unix seconds as the XML Schema dateTime (UTC, ``Z``) DID Core metadata uses."""
    return datetime.fromtimestamp(t, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: int | str) -> int:
    """Unix seconds from an int or an ISO 8601 UTC string with an explicit ``Z`` or ``+00:00``."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and (value.endswith("Z") or value.endswith("+00:00")):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError as exc:
            raise VersionNotFound("versionTime is not an ISO 8601 UTC date-time") from exc
        return int(parsed.timestamp())
    raise VersionNotFound("versionTime must be Unix seconds or an ISO 8601 UTC date-time ending in 'Z'")


@dataclass(frozen=True)
class KeyRecord:
    """A row of the keys table: when a DID key was added, removed and (if ever) compromised."""

    did: str
    kid: str
    key: VerificationKey
    added_time: int
    added_seq: int
    removed_time: int | None = None
    removed_seq: int | None = None
    compromised_from: int | None = None

    @property
    def jwk(self) -> dict[str, str]:
        return self.key.jwk

    def usable_at(self, t: int) -> bool:
        return (
            self.added_time <= t
            and (self.removed_time is None or t < self.removed_time)
            and (self.compromised_from is None or t < self.compromised_from)
        )


@dataclass(frozen=True)
class DIDVersion:
    """One version of a DID document: the state after one DID operation."""

    number: int
    hash: Digest
    kind: str
    time: int
    seq: int
    keys: tuple[VerificationKey, ...]
    services: tuple[Service, ...]
    next_key_hashes: tuple[str, ...]

    @property
    def version_id(self) -> str:
        """did:webvh style ``<number>-<entry hash>``."""
        return f"{self.number}-{self.hash}"

    @property
    def deactivated(self) -> bool:
        return self.kind == "did.deactivate"


@dataclass
class _DIDRecord:
    did: str
    versions: list[DIDVersion]
    keys: dict[str, KeyRecord]
    last_time: int
    #: (seq, compromisedFrom) of each recovery that declared a compromise, in log order.
    compromises: list[tuple[int, int]] = dataclasses.field(default_factory=list)

    @property
    def head(self) -> DIDVersion:
        return self.versions[-1]


@dataclass(frozen=True)
class Resolution:
    """A DID resolution result in the W3C DID Resolution / DIF Universal Resolver shape."""

    did_document: dict[str, Any]
    did_document_metadata: dict[str, Any]
    did_resolution_metadata: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "@context": "https://w3id.org/did-resolution/v1",
            "didDocument": self.did_document,
            "didResolutionMetadata": self.did_resolution_metadata,
            "didDocumentMetadata": self.did_document_metadata,
        }


@dataclass(frozen=True)
class Validated:
    """An entry that passed every check against a state, with its parsed body; input to :meth:`LedgerState.commit`."""

    entry: Entry
    body: Any
    extra: Mapping[str, Any] = dataclasses.field(default_factory=dict)


@dataclass(frozen=True)
class Applied:
    """Where an accepted entry landed: its sequence number (leaf index) and hash."""

    seq: int
    hash: Digest


def _signing_key(record: _DIDRecord, kid: str, purpose: str, at: int) -> VerificationKey:
    row = record.keys.get(kid)
    if row is None or row.removed_time is not None:
        raise NotAuthorized(f"'{kid}' is not a current key of {record.did}; sign with a key of its latest version")
    if purpose not in row.key.purposes:
        raise NotAuthorized(f"key '{kid}' of {record.did} lacks the {purpose} purpose needed for this operation")
    if row.compromised_from is not None and at >= row.compromised_from:
        raise NotAuthorized(f"key '{kid}' of {record.did} is marked compromised from {row.compromised_from}")
    return row.key


def _check_key_set(record: _DIDRecord, keys: Iterable[VerificationKey], compromised_from: int | None) -> None:
    """Key ids are stable for life: a kid always names one key, and a removed key never returns."""
    raw_to_kid = {row.key.key: row.kid for row in record.keys.values()}
    for key in keys:
        row = record.keys.get(key.kid)
        if row is not None and row.key.key != key.key:
            raise RuleViolation(f"kid '{key.kid}' already named a different key of {record.did}; choose a new kid")
        if row is not None and row.removed_time is not None:
            raise RuleViolation(f"key '{key.kid}' was removed from {record.did} and cannot return; use a new key")
        if raw_to_kid.get(key.key, key.kid) != key.kid:
            raise RuleViolation(f"the public key of '{key.kid}' is already listed under another kid of {record.did}")
        if row is not None and compromised_from is not None:
            raise RuleViolation(
                f"key '{key.kid}' is marked compromised by this recovery and cannot stay; list only fresh keys"
            )


def _record(state: LedgerState, did: str) -> _DIDRecord:
    record = state._dids.get(did)
    if record is None:
        raise UnknownDID(f"{did} is not in the ledger")
    return record


def validate(entry: Entry, state: LedgerState, now: int) -> Validated:
    """Check ``entry`` against ``state`` at ledger time ``now`` without changing anything.

    Steps: 1. replay; 2. clock skew; 3. the body's shape; 4. the author's DID
    and signing key; 5. the signature; 6. ``prev`` against the DID's head (the
    per-DID compare-and-swap); 7. per-author time monotonicity; 8. the kind's
    own rules. Raises a :class:`registry.errors.RegistryError` subclass.
    """
    # Step 1: an entry hash is accepted once.
    if entry.hash in state._seen:
        raise Replay(f"entry {entry.hash} was already accepted")
    # Step 2: did:webvh "Read" step 4, at most 5 minutes ahead of the ledger's clock.
    if entry.time > now + MAX_CLOCK_SKEW:
        raise RuleViolation(
            f"entry time is {entry.time - now} s ahead of the ledger clock; the limit is {MAX_CLOCK_SKEW} s; "
            "check the signer's clock"
        )
    if entry.kind == "did.create":
        return _validate_create(entry, state)
    if entry.kind not in DID_KINDS and entry.prev is not None:
        raise InvalidEntry(f"{entry.kind} entries carry prev = null; only DID operations chain")
    # Step 3: the body.
    body = _parse(entry)
    # Step 4: the author's DID and key.
    record = _record(state, entry.author_did)
    if record.head.deactivated:
        raise Deactivated(f"{record.did} was deactivated at {record.head.time}; it accepts no further operations")
    kid = entry.author_kid
    if entry.kind == "did.recover":
        key = _recovery_key(record, body, kid)
    else:
        purpose = "capabilityInvocation" if entry.kind in DID_KINDS else "assertionMethod"
        key = _signing_key(record, kid, purpose, entry.time)
    # Step 5: the signature.
    entry.verify_signature(key.key)
    # Step 6: DID operations name the DID's head as prev.
    if entry.kind in DID_KINDS:
        if entry.prev != record.head.hash:
            raise Conflict(
                f"prev does not name the head of {record.did} (version {record.head.version_id})",
                expected=record.head.hash,
                actual=entry.prev,
            )
        if entry.time <= record.head.time:
            raise RuleViolation(
                f"DID operation time {entry.time} is not after the previous operation's {record.head.time}"
            )
    # Step 7: author time never goes backwards.
    if entry.time < record.last_time:
        raise RuleViolation(f"entry time {entry.time} is before {record.did}'s previous entry time {record.last_time}")
    # Step 8: the kind's rules.
    extra: dict[str, Any] = {}
    if isinstance(body, UpdateBody):
        _check_key_set(record, body.keys, None)
    elif isinstance(body, RecoverBody):
        if body.compromised_from is not None and body.compromised_from > entry.time:
            raise RuleViolation("compromisedFrom must not be after the recovery's own time")
        _check_key_set(record, body.keys, body.compromised_from)
    elif isinstance(body, GrantBody):
        extra["scope_chain"] = _validate_grant(entry, body, state)
    elif isinstance(body, WithdrawBody):
        _validate_withdraw(entry, body, state)
    elif entry.kind == "vct.publish":
        _validate_publish(entry, str(body), state)
    elif isinstance(body, AnchorBody):
        if body.root in state._anchors:
            raise RuleViolation("this root is already anchored; anchor each batch root once")
    return Validated(entry, body, extra)


def _parse(entry: Entry) -> Any:
    if entry.kind in DID_KINDS:
        return parse_body(entry.kind, entry.body)
    if entry.kind == "accredit.grant":
        return parse_grant(entry.body)
    if entry.kind == "accredit.withdraw":
        return parse_withdraw(entry.body)
    if entry.kind == "vct.publish":
        return parse_type_metadata(entry.body)
    if entry.kind == "anchor.issuance":
        return parse_anchor(entry.body)
    raise InvalidEntry(f"unknown entry kind {entry.kind}")  # Unreachable: Entry.from_bytes checks kinds.


def _validate_create(entry: Entry, state: LedgerState) -> Validated:
    body = parse_body("did.create", entry.body)
    assert isinstance(body, CreateBody)
    if entry.prev is not None:
        raise InvalidEntry("did.create has prev = null: it starts the DID's chain")
    did = entry.author_did
    if parse_did(did) != body.scid:
        raise InvalidEntry("did.create author DID must carry the SCID of its body")
    # did:webvh "Verify SCID": the SCID is the hash of this very genesis entry.
    verify_scid(entry.unsigned(), body.scid)
    keys = {k.kid: k for k in body.keys}
    signer = keys.get(entry.author_kid)
    if signer is None or "capabilityInvocation" not in signer.purposes:
        raise NotAuthorized("did.create must be signed by one of its own capabilityInvocation keys")
    entry.verify_signature(signer.key)
    if did in state._dids:
        raise Conflict(f"{did} already exists", expected=None, actual=None)
    return Validated(entry, body)


def _recovery_key(record: _DIDRecord, body: RecoverBody, kid: str) -> VerificationKey:
    """did:webvh "Pre-Rotation": the signer and every capabilityInvocation key must be committed."""
    committed = set(record.head.next_key_hashes)
    signer = next((k for k in body.keys if k.kid == kid), None)
    if signer is None:
        raise NotAuthorized("did.recover must be signed by one of the keys it lists")
    if "capabilityInvocation" not in signer.purposes:
        raise NotAuthorized(f"recovery key '{kid}' must have the capabilityInvocation purpose")
    for key in body.keys:
        if "capabilityInvocation" in key.purposes and key_hash(key.multibase) not in committed:
            raise NotAuthorized(
                f"key '{key.kid}' is not committed in the previous nextKeyHashes of {record.did}; "
                "a recovery may only use pre-rotated keys"
            )
    return signer


def _validate_grant(entry: Entry, body: GrantBody, state: LedgerState) -> tuple[Grant, ...]:
    subject = _record(state, body.subject)
    if subject.head.deactivated:
        raise Deactivated(f"grant subject {body.subject} is deactivated")
    if body.subject == entry.author_did:
        raise RuleViolation("a DID cannot accredit itself")
    return state.accreditations.authorize(
        entry.author_did, body.scope, entry.time, "accredit", body.max_depth + 1, state._deactivated_at
    )


def _validate_withdraw(entry: Entry, body: WithdrawBody, state: LedgerState) -> None:
    grant = state.accreditations.get(body.grant)
    if grant is None:
        raise RuleViolation(f"no grant {body.grant} exists to withdraw")
    if entry.author_did != grant.grantor and entry.author_did not in state.roots:
        raise NotAuthorized("only the grantor of a grant, or a root authority, may withdraw it")
    if grant.withdrawn_at is not None:
        raise RuleViolation(f"grant {body.grant} was already withdrawn at {grant.withdrawn_at}")


def _validate_publish(entry: Entry, vct: str, state: LedgerState) -> None:
    state.accreditations.authorize(entry.author_did, Scope(vct=vct), entry.time, "issue", 0, state._deactivated_at)
    last = state.types.last_time(vct)
    if last is not None and entry.time < last:
        raise RuleViolation(f"type metadata time {entry.time} is before the previous version's {last}")


def _removal_time(row: KeyRecord, bounds: Mapping[int, int]) -> int | None:
    """When a removal takes effect for verifiers: the later of its author time and its cosigned upper bound."""
    if row.removed_time is None or row.removed_seq is None:
        return row.removed_time
    bound = bounds.get(row.removed_seq)
    return row.removed_time if bound is None else max(row.removed_time, bound)


def _compromised_from(record: _DIDRecord, row: KeyRecord, bounds: Mapping[int, int]) -> int | None:
    """The earliest compromisedFrom that covers ``row``, with removals measured by :func:`_removal_time`.

    Without bounds this equals the projection's own marking (``row.compromised_from``);
    bounds can only add markings, never remove one.
    """
    result = row.compromised_from
    removed_at = _removal_time(row, bounds)
    for seq, since in record.compromises:
        if row.added_seq >= seq:
            continue  # Added by the recovery itself or later: a fresh key.
        if row.removed_seq is not None and row.removed_seq < seq and removed_at is not None and removed_at <= since:
            continue  # Gone (as the witnesses saw it) before the compromise began.
        result = since if result is None else min(result, since)
    return result


class LedgerState:
    """The projection of the log, rebuilt by applying entries in log order.

    ``roots`` are the root authorities pinned in policy: the only DIDs that can
    accredit without holding a grant.
    """

    def __init__(self, roots: Iterable[str] = ()) -> None:
        self.accreditations = AccreditationIndex(roots)
        self.types = TypeRegistry()
        self._dids: dict[str, _DIDRecord] = {}
        self._seen: set[Digest] = set()
        self._anchors: dict[bytes, Anchor] = {}
        self._size = 0
        #: seq -> cosigned upper bound (Unix seconds) of entries whose first covering checkpoint was
        #: proven (set by :meth:`registry.bundle.Bundle.verify`); empty for the ledger's own replay.
        self.upper_bounds: Mapping[int, int] = {}

    @property
    def roots(self) -> frozenset[str]:
        return self.accreditations.roots

    @property
    def size(self) -> int:
        """The next entry's sequence number: the number of entries applied, or one past the last seq of a partial replay."""
        return self._size

    def __contains__(self, entry_hash: object) -> bool:
        return entry_hash in self._seen

    # Writes.

    def apply(self, entry: Entry | bytes, now: int, *, seq: int | None = None) -> Applied:
        """Validate ``entry`` at ledger time ``now`` and, if it passes, add it to the projection.

        ``seq`` is the entry's log position when replaying a subset of the log (a proof
        bundle), so rows carry real sequence numbers; it must not go backwards.
        """
        if isinstance(entry, (bytes, bytearray)):
            entry = Entry.from_bytes(bytes(entry))
        return self.commit(validate(entry, self, now), seq=seq)

    def commit(self, checked: Validated, *, seq: int | None = None) -> Applied:
        """Add an entry that :func:`validate` accepted against this very state. Never raises for valid input."""
        if seq is not None and seq < self._size:
            raise ValueError("a replay applies entries in log order: seq went backwards")
        if seq is not None:
            self._size = seq
        entry, body, seq = checked.entry, checked.body, self._size
        if isinstance(body, CreateBody):
            self._commit_create(entry, body, seq)
        elif isinstance(body, (UpdateBody, RecoverBody, DeactivateBody)):
            self._commit_did_op(entry, body, seq)
        elif isinstance(body, GrantBody):
            self.accreditations.add(
                Grant(
                    hash=entry.hash,
                    grantor=entry.author_did,
                    subject=body.subject,
                    scope=body.scope,
                    actions=body.actions,
                    effective_from=max(body.valid_from, entry.time),
                    valid_until=body.valid_until,
                    max_depth=body.max_depth,
                    time=entry.time,
                    seq=seq,
                )
            )
        elif isinstance(body, WithdrawBody):
            self.accreditations.withdraw(body.grant, entry.time, seq)
        elif isinstance(body, AnchorBody):
            self._anchors[body.root] = Anchor(body.root, entry.author_did, body.count, entry.time, seq, entry.hash)
        elif entry.kind == "vct.publish":
            self.types.add(str(body), entry.hash, entry.author_did, entry.time, seq, entry.body)
        self._dids[entry.author_did].last_time = max(self._dids[entry.author_did].last_time, entry.time)
        self._seen.add(entry.hash)
        self._size += 1
        return Applied(seq, entry.hash)

    def _commit_create(self, entry: Entry, body: CreateBody, seq: int) -> None:
        version = DIDVersion(1, entry.hash, entry.kind, entry.time, seq, body.keys, body.services, body.next_key_hashes)
        keys = {k.kid: KeyRecord(entry.author_did, k.kid, k, entry.time, seq) for k in body.keys}
        self._dids[entry.author_did] = _DIDRecord(entry.author_did, [version], keys, entry.time)

    def _commit_did_op(self, entry: Entry, body: UpdateBody | RecoverBody | DeactivateBody, seq: int) -> None:
        record = self._dids[entry.author_did]
        head = record.head
        if isinstance(body, DeactivateBody):
            keys, services, next_hashes = (), (), ()
        else:
            keys, services = body.keys, body.services
            next_hashes = body.next_key_hashes if isinstance(body, RecoverBody) else head.next_key_hashes
        compromised = body.compromised_from if isinstance(body, RecoverBody) else None
        if compromised is not None:
            record.compromises.append((seq, compromised))
        new_kids = {k.kid for k in keys}
        for kid, row in list(record.keys.items()):
            if compromised is not None and (row.removed_time is None or row.removed_time > compromised):
                # Every key usable at or after compromisedFrom is compromised from then.
                earliest = compromised if row.compromised_from is None else min(row.compromised_from, compromised)
                row = dataclasses.replace(row, compromised_from=earliest)
            if row.removed_time is None and kid not in new_kids:
                row = dataclasses.replace(row, removed_time=entry.time, removed_seq=seq)
            record.keys[kid] = row
        for key in keys:
            row = record.keys.get(key.kid)
            if row is None:
                record.keys[key.kid] = KeyRecord(entry.author_did, key.kid, key, entry.time, seq)
            elif row.key != key:
                # Same public key, new purposes.
                record.keys[key.kid] = dataclasses.replace(row, key=key)
        record.versions.append(
            DIDVersion(head.number + 1, entry.hash, entry.kind, entry.time, seq, keys, services, next_hashes)
        )

    # Reads.

    def _deactivated_at(self, did: str) -> int | None:
        record = self._dids.get(did)
        if record is None or not record.head.deactivated:
            return None
        return record.head.time

    def head(self, did: str) -> DIDVersion:
        """The DID's latest version: its ``hash`` is the ``prev`` of the next operation."""
        return _record(self, did).head

    def versions(self, did: str) -> list[DIDVersion]:
        return list(_record(self, did).versions)

    def keys(self, did: str) -> list[KeyRecord]:
        """The keys table rows of ``did``, current and past."""
        return list(_record(self, did).keys.values())

    def key_at(self, did: str, kid: str, iat: int, *, upper_bounds: Mapping[int, int] | None = None) -> KeyRecord:
        """The key ``did#kid`` if it could sign at ``iat`` (registry design, "Time and historical keys").

        ``upper_bounds`` maps entry seqs to their cosigned upper bound; None
        uses :attr:`upper_bounds` (those a verified bundle proved), and an
        entry without a bound is measured by its author time alone. Accepted
        iff (docs/did-method.md section 6, the reasoning for each bound):

        1. ``added_time <= iat``: the author time of the adding entry;
        2. ``iat < max(removed_time, U(removing entry))``: a removal takes
           effect no earlier than the witnesses saw it, so a back-dated
           rotation cannot retroactively void honest credentials;
        3. ``iat < compromisedFrom``, where the key counts as compromised by a
           recovery if it was added before it and not removed at or before
           ``compromisedFrom``, removal again measured by ``max(author time,
           U)``: a thief who back-dates a rotation cannot slip the stolen key
           out of the compromise.

        Returns the row with ``compromised_from`` as evaluated here (the
        strict anchor rule keys on it). Otherwise raises :class:`KeyNotValid`
        whose ``rule`` is ``unknown_kid``, ``not_yet_added``, ``compromised`` or ``removed``.
        """
        bounds = self.upper_bounds if upper_bounds is None else upper_bounds
        record = _record(self, did)
        row = record.keys.get(kid)
        if row is None:
            raise KeyNotValid(f"{did} never had a key '{kid}'", rule="unknown_kid")
        # Rule 1: added (author time) at or before iat.
        if iat < row.added_time:
            raise KeyNotValid(f"key '{kid}' of {did} was added at {row.added_time}, after {iat}", rule="not_yet_added")
        removed_at = _removal_time(row, bounds)
        compromised = _compromised_from(record, row, bounds)
        # Rule 3: iat before compromisedFrom.
        if compromised is not None and iat >= compromised:
            raise KeyNotValid(f"key '{kid}' of {did} is compromised from {compromised}, at or before {iat}", rule="compromised")
        # Rule 2: not removed at or before iat, measured against the cosigned upper bound.
        if removed_at is not None and iat >= removed_at:
            raise KeyNotValid(f"key '{kid}' of {did} was removed at {removed_at}, at or before {iat}", rule="removed")
        return row if compromised == row.compromised_from else dataclasses.replace(row, compromised_from=compromised)

    def resolve(self, did: str, version_id: str | None = None, version_time: int | str | None = None) -> Resolution:
        """Resolve ``did`` (latest, or by ``versionId`` / ``versionTime``, DID Core s7.1.1 and did:webvh "Read").

        A deactivated DID resolves to a document without keys or services and
        ``deactivated: true``; earlier versions still resolve, also marked
        ``deactivated: true`` (did:webvh "Deactivate").
        """
        parse_did(did)
        record = _record(self, did)
        versions = record.versions
        if version_id is not None and version_time is not None:
            raise VersionNotFound("give versionId or versionTime, not both")
        if version_id is not None:
            number, _, digest = version_id.partition("-")
            index = int(number) - 1 if number.isdigit() else -1
            if not 0 <= index < len(versions) or versions[index].hash != digest:
                raise VersionNotFound(f"{did} has no version {version_id}")
        elif version_time is not None:
            t = parse_time(version_time)
            index = bisect.bisect_right([v.time for v in versions], t) - 1
            if index < 0:
                raise VersionNotFound(f"{did} did not exist yet at {format_time(t)}")
        else:
            index = len(versions) - 1
        version = versions[index]
        following = versions[index + 1] if index + 1 < len(versions) else None
        metadata: dict[str, Any] = {
            "created": format_time(versions[0].time),
            "updated": format_time(version.time),
            "versionId": version.version_id,
            "versionTime": format_time(version.time),
            "deactivated": record.head.deactivated,
            "scid": parse_did(did),
        }
        if following is not None:
            metadata["nextUpdate"] = format_time(following.time)
            metadata["nextVersionId"] = following.version_id
        return Resolution(
            did_document=self._document(did, version),
            did_document_metadata=metadata,
            did_resolution_metadata={"contentType": "application/did+ld+json"},
        )

    @staticmethod
    def _document(did: str, version: DIDVersion) -> dict[str, Any]:
        """A W3C DID Core s5 document: ``JsonWebKey`` methods carrying both JWK and Multikey forms."""
        document: dict[str, Any] = {"@context": list(_DID_CONTEXTS), "id": did}
        if version.deactivated:
            return document
        document["verificationMethod"] = [
            {
                "id": f"{did}#{k.kid}",
                "type": "JsonWebKey",
                "controller": did,
                "publicKeyJwk": k.jwk,
                "publicKeyMultibase": k.multibase,
            }
            for k in version.keys
        ]
        for purpose in ("authentication", "assertionMethod", "keyAgreement", "capabilityInvocation", "capabilityDelegation"):
            refs = [f"{did}#{k.kid}" for k in version.keys if purpose in k.purposes]
            if refs:
                document[purpose] = refs
        if version.services:
            document["service"] = [{**s.to_json(), "id": f"{did}#{s.id}"} for s in version.services]
        return document

    def authorization(self, did: str, vct: str, at: int, action: str = "issue") -> tuple[Grant, ...]:
        """The grant chain that lets ``did`` perform ``action`` on ``vct`` at ``at``, or :class:`NotAuthorized`."""
        return self.accreditations.authorize(did, Scope(vct=vct), at, action, 0, self._deactivated_at)

    def is_accredited(self, did: str, vct: str, at: int, action: str = "issue") -> bool:
        """Whether :meth:`authorization` finds a chain; for answers that need no reason."""
        try:
            self.authorization(did, vct, at, action)
        except NotAuthorized:
            return False
        return True

    def credential_type(self, vct: str, version: int | None = None, at: int | None = None) -> TypeVersion:
        return self.types.lookup(vct, version=version, at=at)

    def anchor(self, root: bytes) -> Anchor | None:
        return self._anchors.get(root)
