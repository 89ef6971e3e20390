"""``civicid registry audit``: replay a whole log from its first entry and check every stored byte.

Every table of the registry is a projection of the log (registry design,
"Model"), and everything a client is served (tiles, proofs, checkpoints) is
read from the ``nodes`` and ``checkpoints`` tables. The audit trusts none of
them. It streams the ``entries`` table in sequence order, a page at a time,
and for each entry:

1. the row for that sequence number exists (no gap);
2. the stored entry hash is SHA-256 of the stored body;
3. the leaf hash HASH(0x00 || body) equals the stored level-0 node
   (RFC 9162 s2.1.1);
4. the body parses strictly (:meth:`registry.entry.Entry.from_bytes`);
5. a fresh :class:`registry.state.LedgerState` accepts it: every signature and
   every ledger rule, replayed at ``max(entry.time, now)`` as the sequencer
   replays its own log (:mod:`registry.ledger`);
6. every interior node the entry completes, recomputed from its children,
   equals the stored node;
7. every stored checkpoint of that size is signed by the log key (and verifies
   for every configured cosigner: c2sp.org/signed-note, "Signatures"), names
   the expected origin and size, and its root equals the recomputed root.

Then no entry, node or checkpoint may lie beyond the log's size.

Memory stays constant apart from the projection: one page of entries and of
nodes, and the RFC 9162 frontier (:class:`registry.merkle.CompactRange`,
O(log n) hashes). The audit stops at the first finding and reports it
precisely: which sequence number (for a node, the last leaf it covers), what
failed, and the recorded value next to the recalculated one.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from .checkpoint import CosignatureVerifier, Ed25519Verifier, open_checkpoint
from .entry import Entry
from .errors import RegistryError
from .merkle import EMPTY_ROOT, CompactRange, leaf_hash, node_hash
from .state import LedgerState, validate
from .storage import Cursor, LogStore

__all__ = ["AuditFinding", "AuditReport", "AuditFailed", "audit", "PAGE_SIZE", "FINDING_KINDS"]

#: Entries read per query; nodes are read for the same range of leaves.
PAGE_SIZE = 1024
_CHECKPOINT_PAGE = 64

#: Every ``AuditFinding.kind``, with what it means.
FINDING_KINDS = {
    "entry_missing": "no entry row for a sequence number below the log size",
    "entry_hash_mismatch": "the stored entry hash is not SHA-256 of the stored body",
    "entry_invalid": "the stored body is not a well-formed, canonical entry",
    "entry_refused": "the entry breaks a signature or ledger rule when the log is replayed",
    "node_missing": "a complete subtree hash is missing from the nodes table",
    "node_mismatch": "a stored subtree hash differs from the hash recomputed from the entries",
    "checkpoint_invalid": "a stored checkpoint does not verify (log signature, cosignature, origin, syntax)",
    "checkpoint_size_mismatch": "a stored checkpoint's body names another size than its row",
    "checkpoint_root_mismatch": "a stored checkpoint's root differs from the root recomputed at its size",
    "checkpoint_quorum": "a stored checkpoint has fewer verified cosignatures than the quorum",
    "checkpoint_beyond_log": "a stored checkpoint is larger than the log: the log was rolled back",
    "entry_beyond_log": "an entry row lies beyond the log size",
    "node_beyond_log": "a node lies beyond the log size",
}


class AuditFailed(RegistryError):
    """The stored log does not replay cleanly; :attr:`finding` says where and why.

    Keep the database as it is: it is the evidence. Restore from a mirror or a
    backup that audits clean, and find out how the rows changed.
    """

    code = "audit_failed"
    hint = "keep the database as evidence; restore from a mirror or backup whose audit passes"

    def __init__(self, finding: AuditFinding) -> None:
        self.finding = finding
        super().__init__(finding.describe())


@dataclass(frozen=True)
class AuditFinding:
    """The first thing the audit found wrong.

    ``expected`` is what the store records (the stored hash, the checkpoint's
    root); ``calculated`` is what the audit recomputed from the entries.
    ``seq`` is the entry's sequence number, or for a node the last leaf it
    covers, or for a checkpoint its size minus one.
    """

    kind: str
    message: str
    seq: int | None = None
    level: int | None = None
    index: int | None = None
    checkpoint_size: int | None = None
    expected: bytes | None = None
    calculated: bytes | None = None
    error_code: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in FINDING_KINDS:
            raise ValueError(f"unknown audit finding kind {self.kind!r}")

    def describe(self) -> str:
        """One line for logs and the CLI (hashes in hex; no key material ever appears here)."""
        parts = [f"{self.kind}: {self.message}"]
        if self.seq is not None:
            parts.append(f"seq {self.seq}")
        if self.level is not None:
            parts.append(f"node ({self.level}, {self.index})")
        if self.checkpoint_size is not None:
            parts.append(f"checkpoint size {self.checkpoint_size}")
        if self.error_code is not None:
            parts.append(f"error {self.error_code}")
        if self.expected is not None:
            parts.append(f"expected {self.expected.hex()}")
        if self.calculated is not None:
            parts.append(f"calculated {self.calculated.hex()}")
        return "; ".join(parts)

    def to_json(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "message": self.message,
            "seq": self.seq,
            "level": self.level,
            "index": self.index,
            "checkpointSize": self.checkpoint_size,
            "expected": None if self.expected is None else self.expected.hex(),
            "calculated": None if self.calculated is None else self.calculated.hex(),
            "errorCode": self.error_code,
        }


@dataclass(frozen=True)
class AuditReport:
    """The outcome of :func:`audit`.

    ``size`` and ``root`` describe the prefix of the log that replayed
    cleanly: the whole log when ``ok``, the entries before the finding
    otherwise.
    """

    ok: bool
    size: int
    root: bytes
    first_error: AuditFinding | None
    checkpoints_checked: int

    def raise_for_error(self) -> None:
        """Raise :class:`AuditFailed` unless the audit passed."""
        if self.first_error is not None:
            raise AuditFailed(self.first_error)

    def to_json(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "size": self.size,
            "root": self.root.hex(),
            "firstError": None if self.first_error is None else self.first_error.to_json(),
            "checkpointsChecked": self.checkpoints_checked,
        }


class _Stop(Exception):
    """Carries the first finding out of the replay loop."""

    def __init__(self, finding: AuditFinding) -> None:
        super().__init__(finding.kind)
        self.finding = finding


def _entry_pages(store: LogStore, size: int) -> Iterator[list[tuple[int, bytes, bytes]]]:
    """``(seq, entry_hash, body)`` rows for ``[0, size)``, one page at a time, in order."""
    start = 0
    while start < size:
        end = min(size, start + PAGE_SIZE)
        rows = (
            store.db.read()
            .execute("SELECT seq, entry_hash, body FROM entries WHERE seq >= ? AND seq < ? ORDER BY seq", (start, end))
            .fetchall()
        )
        yield [(int(seq), bytes(h), bytes(body)) for seq, h, body in rows]
        start = end


def _node_page(store: LogStore, start: int, end: int) -> dict[tuple[int, int], bytes]:
    """The stored nodes completed by leaves ``[start, end)``: at level l, indices ``[start>>l, end>>l)``."""
    clauses: list[str] = []
    params: list[int] = []
    level = 0
    while end >> level:
        lo, hi = start >> level, end >> level
        if hi > lo:
            clauses.append("(level = ? AND idx >= ? AND idx < ?)")
            params += [level, lo, hi]
        level += 1
    if not clauses:
        return {}
    rows = store.db.read().execute(f"SELECT level, idx, hash FROM nodes WHERE {' OR '.join(clauses)}", params).fetchall()
    return {(int(lvl), int(idx)): bytes(h) for lvl, idx, h in rows}


class _Checkpoints:
    """Stored checkpoints in increasing size, read a page at a time."""

    def __init__(self, store: LogStore) -> None:
        self._store = store
        self._page: list[tuple[int, str]] = []
        self._after = -1
        self._done = False

    def _fill(self) -> None:
        if self._page or self._done:
            return
        rows = (
            self._store.db.read()
            .execute("SELECT size, note FROM checkpoints WHERE size > ? ORDER BY size LIMIT ?", (self._after, _CHECKPOINT_PAGE))
            .fetchall()
        )
        self._page = [(int(size), str(note)) for size, note in rows]
        if not self._page:
            self._done = True
        else:
            self._after = self._page[-1][0]

    def peek(self) -> tuple[int, str] | None:
        self._fill()
        return self._page[0] if self._page else None

    def pop(self) -> tuple[int, str]:
        self._fill()
        return self._page.pop(0)


def audit(
    store: LogStore,
    *,
    origin: str,
    log_verifier: Ed25519Verifier,
    roots: Sequence[str],
    cosigners: Sequence[CosignatureVerifier] = (),
    quorum: int = 0,
    now: int | None = None,
) -> AuditReport:
    """Replay the log in ``store`` from scratch and check every entry, node and checkpoint.

    ``roots`` are the root authorities pinned in policy, as the ledger was
    configured. ``cosigners`` are the witness keys whose cosignatures must
    verify where present; ``quorum`` (default 0) is how many of them each
    stored checkpoint must carry. ``now`` is the replay clock (Unix seconds;
    defaults to the wall clock): each entry is validated at ``max(entry.time,
    now)``, as :class:`registry.ledger.Ledger` replays its log.

    Returns an :class:`AuditReport`; it never raises for a bad log (call
    :meth:`AuditReport.raise_for_error` for an exception).
    """
    if not 0 <= quorum <= len(cosigners):
        raise ValueError("the quorum must be between 0 and the number of cosigners")
    clock = int(time.time()) if now is None else int(now)
    size = store.size()
    state = LedgerState(roots)
    frontier = CompactRange()
    checkpoints = _Checkpoints(store)
    checked = 0
    before: tuple[bytes, ...] | None = None

    def check_checkpoints(at: int) -> None:
        # Step 7: every stored checkpoint of size `at` is signed, well-formed and has our root.
        nonlocal checked
        while (head := checkpoints.peek()) is not None and head[0] <= at:
            row_size, note = checkpoints.pop()
            root = frontier.root()
            seq = row_size - 1 if row_size else None
            try:
                verified = open_checkpoint(note, origin=origin, log=log_verifier, cosigners=cosigners)
            except RegistryError as exc:
                raise _Stop(
                    AuditFinding("checkpoint_invalid", exc.message, seq=seq, checkpoint_size=row_size, error_code=exc.code)
                ) from exc
            body = verified.checkpoint
            if body.size != row_size:
                raise _Stop(
                    AuditFinding(
                        "checkpoint_size_mismatch",
                        f"the checkpoint stored for size {row_size} names size {body.size}",
                        seq=seq,
                        checkpoint_size=row_size,
                    )
                )
            if body.root_hash != root:
                raise _Stop(
                    AuditFinding(
                        "checkpoint_root_mismatch",
                        "the signed root differs from the root recomputed from the entries",
                        seq=seq,
                        checkpoint_size=row_size,
                        expected=body.root_hash,
                        calculated=root,
                    )
                )
            witnesses = {(s.name, s.key_id) for s in verified.cosignatures}
            if len(witnesses) < quorum:
                raise _Stop(
                    AuditFinding(
                        "checkpoint_quorum",
                        f"{len(witnesses)} of the {quorum} required cosignatures verify",
                        seq=seq,
                        checkpoint_size=row_size,
                    )
                )
            checked += 1

    def check_node(level: int, index: int, calculated: bytes, stored: dict[tuple[int, int], bytes]) -> None:
        # Steps 3 and 6: the stored node equals the one recomputed from its children.
        last_leaf = ((index + 1) << level) - 1
        recorded = stored.get((level, index))
        if recorded is None:
            raise _Stop(
                AuditFinding(
                    "node_missing",
                    "the nodes table lacks this complete subtree",
                    seq=last_leaf,
                    level=level,
                    index=index,
                    calculated=calculated,
                )
            )
        if recorded != calculated:
            what = "the stored leaf hash differs from HASH(0x00 || body)" if level == 0 else (
                "the stored node differs from HASH(0x01 || left || right) of its children"
            )
            raise _Stop(
                AuditFinding(
                    "node_mismatch", what, seq=last_leaf, level=level, index=index, expected=recorded, calculated=calculated
                )
            )

    try:
        check_checkpoints(0)
        expected_seq = 0
        for page in _entry_pages(store, size):
            page_end = min(size, expected_seq + PAGE_SIZE)
            stored_nodes = _node_page(store, expected_seq, page_end)
            rows = iter(page)
            row = next(rows, None)
            for seq in range(expected_seq, page_end):
                # Step 1: no gap.
                if row is None or row[0] != seq:
                    raise _Stop(AuditFinding("entry_missing", "the entries table has no row here", seq=seq))
                _, recorded_hash, body = row
                row = next(rows, None)
                # Step 2: the entry-hash index matches the body.
                digest = hashlib.sha256(body).digest()
                if recorded_hash != digest:
                    raise _Stop(
                        AuditFinding(
                            "entry_hash_mismatch",
                            "the stored entry hash is not SHA-256 of the stored body",
                            seq=seq,
                            expected=recorded_hash,
                            calculated=digest,
                        )
                    )
                created: list[tuple[int, int, bytes]] = []
                before = frontier.hashes
                frontier.append(leaf_hash(body), visit=lambda lvl, idx, h: created.append((lvl, idx, h)))
                # Step 3: the leaf hash.
                check_node(*created[0], stored_nodes)
                # Step 4: strict parsing.
                try:
                    entry = Entry.from_bytes(body)
                except RegistryError as exc:
                    raise _Stop(AuditFinding("entry_invalid", exc.message, seq=seq, error_code=exc.code)) from exc
                # Step 5: signatures and rules, against the projection of the entries before it.
                try:
                    state.commit(validate(entry, state, max(entry.time, clock)))
                except RegistryError as exc:
                    raise _Stop(AuditFinding("entry_refused", exc.message, seq=seq, error_code=exc.code)) from exc
                # Step 6: the interior nodes this leaf completes.
                for node in created[1:]:
                    check_node(*node, stored_nodes)
                # Step 7: checkpoints at this size.
                check_checkpoints(seq + 1)
            expected_seq = page_end
        if expected_seq < size:
            raise _Stop(AuditFinding("entry_missing", "the entries table has no row here", seq=expected_seq))
        _check_beyond(store, checkpoints)
    except _Stop as stop:
        if before is not None and stop.finding.seq == frontier.size - 1 and stop.finding.kind.startswith(("entry", "node")):
            # The entry at the finding did not replay cleanly: report the prefix before it.
            return AuditReport(False, frontier.size - 1, _fold(before), stop.finding, checked)
        return AuditReport(False, frontier.size, frontier.root(), stop.finding, checked)
    return AuditReport(True, frontier.size, frontier.root(), None, checked)


def _fold(frontier: tuple[bytes, ...]) -> bytes:
    """MTH from a frontier's complete subtrees, leftmost first (RFC 9162 s2.1.1, right fold)."""
    if not frontier:
        return EMPTY_ROOT
    root = frontier[-1]
    for h in reversed(frontier[:-1]):
        root = node_hash(h, root)
    return root


def _check_beyond(store: LogStore, checkpoints: _Checkpoints) -> None:
    """Nothing lies beyond the log's size (read again, in one snapshot, since appends may have run)."""
    with store.db.transaction(write=False) as cur:
        if store.db.postgres:
            cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        size = int(cur.execute("SELECT size FROM coord WHERE id = 1").fetchone()[0])
        _beyond(cur, size, checkpoints)


def _beyond(cur: Cursor, size: int, checkpoints: _Checkpoints) -> None:
    head = checkpoints.peek()
    if head is not None and head[0] > size:
        raise _Stop(
            AuditFinding(
                "checkpoint_beyond_log",
                f"a checkpoint of size {head[0]} is stored but the log has {size} entries",
                checkpoint_size=head[0],
            )
        )
    row = cur.execute("SELECT MIN(seq) FROM entries WHERE seq >= ?", (size,)).fetchone()
    if row is not None and row[0] is not None:
        raise _Stop(AuditFinding("entry_beyond_log", f"an entry row lies beyond the log size {size}", seq=int(row[0])))
    top = cur.execute("SELECT MAX(level) FROM nodes").fetchone()
    for level in range(0, int(top[0]) + 1 if top and top[0] is not None else 0):
        node = cur.execute(
            "SELECT MIN(idx) FROM nodes WHERE level = ? AND idx >= ?", (level, size >> level)
        ).fetchone()
        if node is not None and node[0] is not None:
            index = int(node[0])
            raise _Stop(
                AuditFinding(
                    "node_beyond_log",
                    f"a node lies beyond the log size {size}",
                    seq=((index + 1) << level) - 1,
                    level=level,
                    index=index,
                )
            )
