"""Presentation requests and their results, in SQLite (a path) or PostgreSQL (a URL).

Several verifier processes can serve one counter fleet from one database: a
request opened by one process can be answered through another and read from a
third. Completing a request is one transaction that only succeeds while the
request is pending, so of two concurrent answers exactly one wins.

What is stored: random identifiers, the nonce and state, the policy id, times,
and after the answer the decision, reason codes and the claims the policy used,
nothing else (never the ``vp_token``). Everything is deleted after the
retention time (:meth:`RequestStore.purge` runs on every write).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Mapping

from registry.storage import Database, StorageError

from .errors import RequestNotFound, StorageUnavailable

__all__ = ["RequestStore", "StoredRequest", "open_store"]

_SCHEMA = [
    "CREATE TABLE IF NOT EXISTS vp_requests ("
    " rid TEXT PRIMARY KEY, state TEXT NOT NULL, nonce TEXT NOT NULL, policy TEXT NOT NULL,"
    " created BIGINT NOT NULL, expires BIGINT NOT NULL, forget_at BIGINT NOT NULL,"
    " status TEXT NOT NULL, decision INTEGER, result TEXT)",
    "CREATE INDEX IF NOT EXISTS vp_requests_forget ON vp_requests (forget_at)",
    "CREATE TABLE IF NOT EXISTS vp_seen (digest TEXT PRIMARY KEY, keep_until BIGINT NOT NULL)",
]


@dataclass(frozen=True)
class StoredRequest:
    rid: str
    state: str
    nonce: str
    policy: str
    created: int
    expires: int
    forget_at: int
    status: str
    decision: bool | None
    result: Mapping[str, Any] | None

    def public(self) -> dict[str, Any]:
        """The counter API's view (``state``: pending | done); no nonce, no OpenID4VP state."""
        if self.status != "done" or self.result is None:
            return {"state": "pending", "policy": self.policy, "expires_at": self.expires}
        return {
            "state": "done",
            "policy": self.policy,
            "decision": bool(self.decision),
            "reasons": list(self.result.get("reasons", [])),
            "claims": dict(self.result.get("claims", {})),
        }


class RequestStore:
    def __init__(self, db: Database) -> None:
        self.db = db
        try:
            with db.transaction() as cur:
                for statement in _SCHEMA:
                    cur.execute(statement)
        except StorageError as exc:
            raise StorageUnavailable(exc.message) from exc
        except Exception as exc:
            raise StorageUnavailable(f"cannot create the verifier's tables ({type(exc).__name__})") from exc

    def _guard(self, exc: Exception) -> StorageUnavailable:
        return StorageUnavailable(f"the verifier's database failed ({type(exc).__name__}); check --db")

    def create(self, rid: str, state: str, nonce: str, policy: str, now: int, expires: int, forget_at: int) -> None:
        try:
            with self.db.transaction() as cur:
                self._purge(cur, now)
                cur.execute(
                    "INSERT INTO vp_requests (rid, state, nonce, policy, created, expires, forget_at, status)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, 'pending')",
                    (rid, state, nonce, policy, now, expires, forget_at),
                )
        except Exception as exc:
            raise self._guard(exc) from exc

    def get(self, rid: str, now: int) -> StoredRequest:
        try:
            row = self.db.read().execute(
                "SELECT rid, state, nonce, policy, created, expires, forget_at, status, decision, result"
                " FROM vp_requests WHERE rid = ?",
                (rid,),
            ).fetchone()
        except Exception as exc:
            raise self._guard(exc) from exc
        if row is None or int(row[6]) <= now:
            raise RequestNotFound("no such request, or it was forgotten after the retention time; open a new one")
        return StoredRequest(
            str(row[0]), str(row[1]), str(row[2]), str(row[3]), int(row[4]), int(row[5]), int(row[6]), str(row[7]),
            None if row[8] is None else bool(row[8]), None if row[9] is None else json.loads(row[9]),
        )

    def complete(self, rid: str, decision: bool, result: Mapping[str, Any], now: int, forget_at: int) -> bool:
        """Record the answer; False when the request was no longer pending (a replay or a race)."""
        try:
            with self.db.transaction() as cur:
                lock = " FOR UPDATE" if self.db.postgres else ""
                row = cur.execute(f"SELECT status FROM vp_requests WHERE rid = ?{lock}", (rid,)).fetchone()
                if row is None or row[0] != "pending":
                    return False
                cur.execute(
                    "UPDATE vp_requests SET status = 'done', decision = ?, result = ?, forget_at = ? WHERE rid = ?",
                    (1 if decision else 0, json.dumps(dict(result), ensure_ascii=False), forget_at, rid),
                )
                return True
        except Exception as exc:
            raise self._guard(exc) from exc

    def first_use(self, digest: str, keep_until: int, now: int) -> bool:
        """Replay guard shared by every process: record a KB-JWT digest; False if it was seen."""
        try:
            with self.db.transaction() as cur:
                cur.execute("DELETE FROM vp_seen WHERE keep_until <= ?", (now,))
                row = cur.execute("SELECT keep_until FROM vp_seen WHERE digest = ?", (digest,)).fetchone()
                if row is not None:
                    return False
                cur.execute("INSERT INTO vp_seen (digest, keep_until) VALUES (?, ?)", (digest, keep_until))
                return True
        except Exception as exc:
            if "unique" in type(exc).__name__.lower() or "integrity" in type(exc).__name__.lower():
                return False  # A concurrent process recorded it first.
            raise self._guard(exc) from exc

    def _purge(self, cur: Any, now: int) -> None:
        cur.execute("DELETE FROM vp_requests WHERE forget_at <= ?", (now,))

    def purge(self, now: int) -> None:
        """Forget every request (and its result) past its retention time."""
        try:
            with self.db.transaction() as cur:
                self._purge(cur, now)
                cur.execute("DELETE FROM vp_seen WHERE keep_until <= ?", (now,))
        except Exception as exc:
            raise self._guard(exc) from exc


def open_store(url: str) -> RequestStore:
    try:
        return RequestStore(Database(url))
    except StorageError as exc:
        raise StorageUnavailable(exc.message) from exc
