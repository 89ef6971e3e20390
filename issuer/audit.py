"""The append-only, hash-chained audit log.

Each record is ``{seq, time, actor, action, target, details, prev}`` and its
``hash`` is SHA-256 over the record's canonical JSON (sorted keys, no spaces,
UTF-8), with ``prev`` the hash of the record before (64 zeros for the first).
``audit_head`` holds the last seq and hash, and is locked by every append, so
records are appended in one order on both engines and in the same transaction
as the change they record. Altering, deleting or reordering any record breaks
the chain at that record; deleting the newest records is caught against the
head row (and against a head hash the operator copied elsewhere).

Details never hold claim values, PINs, codes or tokens: only ids, types,
counts and status names.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Iterator, Mapping

from registry.storage import Cursor

from .errors import AuditChainBroken
from .storage import GENESIS_HASH, IssuerStore

__all__ = ["AuditRecord", "append", "append_many", "records", "verify_chain", "record_hash", "ChainSummary"]


@dataclass(frozen=True)
class AuditRecord:
    seq: int
    time: int
    actor: str
    action: str
    target: str
    details: Mapping[str, Any]
    prev_hash: str
    hash: str

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "time": self.time,
            "actor": self.actor,
            "action": self.action,
            "target": self.target,
            "details": dict(self.details),
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def record_hash(seq: int, time: int, actor: str, action: str, target: str, details_json: str, prev: str) -> str:
    body = {
        "seq": seq,
        "time": time,
        "actor": actor,
        "action": action,
        "target": target,
        "details": json.loads(details_json),
        "prev": prev,
    }
    return hashlib.sha256(_canonical(body).encode("utf-8")).hexdigest()


def append(
    cur: Cursor, store: IssuerStore, *, time: int, actor: str, action: str, target: str, details: Mapping[str, Any] | None = None
) -> int:
    """Append one record inside the caller's transaction; returns its seq."""
    row = cur.execute("SELECT seq, hash FROM audit_head WHERE id = 1" + store.for_update).fetchone()
    seq, prev = int(row[0]) + 1, str(row[1])
    details_json = _canonical(dict(details or {}))
    digest = record_hash(seq, time, actor, action, target, details_json, prev)
    cur.execute(
        "INSERT INTO audit (seq, time, actor, action, target, details, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (seq, time, actor, action, target, details_json, prev, digest),
    )
    cur.execute("UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1", (seq, digest))
    return seq


def append_many(
    cur: Cursor, store: IssuerStore, entries: list[tuple[str, str, Mapping[str, Any]]], *, time: int, actor: str
) -> int:
    """Append one record per ``(action, target, details)`` inside the caller's transaction; returns the last seq.

    The same chain as :func:`append` record by record (each record names the
    previous one's hash), with one head lock, one multi-row insert and one head
    update: what a bulk run uses for a batch of offers.
    """
    if not entries:
        raise ValueError("append_many needs at least one record")
    row = cur.execute("SELECT seq, hash FROM audit_head WHERE id = 1" + store.for_update).fetchone()
    seq, prev = int(row[0]), str(row[1])
    rows = []
    for action, target, details in entries:
        seq += 1
        details_json = _canonical(dict(details))
        digest = record_hash(seq, time, actor, action, target, details_json, prev)
        rows.append((seq, time, actor, action, target, details_json, prev, digest))
        prev = digest
    cur.executemany(
        "INSERT INTO audit (seq, time, actor, action, target, details, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows
    )
    cur.execute("UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1", (seq, prev))
    return seq


def _row(row: Any) -> AuditRecord:
    return AuditRecord(int(row[0]), int(row[1]), row[2], row[3], row[4], json.loads(row[5]), row[6], row[7])


_COLUMNS = "seq, time, actor, action, target, details, prev_hash, hash"


def records(store: IssuerStore, after: int = 0, limit: int = 100) -> list[AuditRecord]:
    rows = store.read().execute(
        f"SELECT {_COLUMNS} FROM audit WHERE seq > ? ORDER BY seq LIMIT ?", (after, limit)
    ).fetchall()
    return [_row(r) for r in rows]


def _all(store: IssuerStore, page: int = 5000) -> Iterator[tuple[Any, ...]]:
    after = 0
    while True:
        rows = store.read().execute(
            f"SELECT {_COLUMNS} FROM audit WHERE seq > ? ORDER BY seq LIMIT ?", (after, page)
        ).fetchall()
        if not rows:
            return
        yield from rows
        after = int(rows[-1][0])


@dataclass(frozen=True)
class ChainSummary:
    count: int
    head_hash: str


def verify_chain(store: IssuerStore, expected_head: str | None = None) -> ChainSummary:
    """Walk the chain from the first record; raise :class:`AuditChainBroken` at the first bad record."""
    prev, expected_seq = GENESIS_HASH, 1
    for row in _all(store):
        seq, time, actor, action, target, details_json, prev_hash, digest = row
        seq = int(seq)
        if seq != expected_seq:
            raise AuditChainBroken(f"audit record {expected_seq} is missing (next is {seq}); the log was altered", expected_seq)
        if prev_hash != prev:
            raise AuditChainBroken(f"audit record {seq} does not name the hash of record {seq - 1}; the log was altered", seq)
        try:
            calculated = record_hash(seq, int(time), actor, action, target, details_json, prev_hash)
        except (ValueError, TypeError) as exc:
            raise AuditChainBroken(f"audit record {seq} is not well-formed; the log was altered", seq) from exc
        if calculated != digest:
            raise AuditChainBroken(f"audit record {seq} does not match its hash; the log was altered", seq)
        prev, expected_seq = digest, seq + 1
    count = expected_seq - 1
    head = store.read().execute("SELECT seq, hash FROM audit_head WHERE id = 1").fetchone()
    if int(head[0]) != count or head[1] != prev:
        raise AuditChainBroken(
            f"the audit log ends at record {count} but its head names record {int(head[0])}; records were removed",
            count + 1,
        )
    if expected_head is not None and expected_head != prev:
        raise AuditChainBroken("the audit log's head hash differs from the one you expected; it was rewritten", count)
    return ChainSummary(count, prev)
