"""Presentation requests and their results, in SQLite (a path) or PostgreSQL (a URL).

Several verifier processes can serve one counter fleet from one database: a
request opened by one process can be answered through another and read from a
third. Completing a request is one transaction that only succeeds while the
request is pending, so of two concurrent answers exactly one wins.

What is stored: random identifiers, the nonce and state, the policy id, times,
and after the answer the decision, reason codes and the claims the policy used,
nothing else (never the ``vp_token``). Everything is deleted after the
retention time (:meth:`RequestStore.purge` runs on every write).

Durability. On SQLite the verifier's own database runs WAL with
``synchronous=NORMAL`` (the registry's log keeps ``FULL``): a commit reaches
the operating system but is not fsynced; the WAL is synced at checkpoints.
The database cannot be corrupted by a crash, and a crash of the verifier
process loses nothing; only a power loss or kernel crash can roll back the last
transactions before the latest checkpoint. What they hold lives for minutes:
pending requests (``REQUEST_TTL``), results (``RESULT_RETENTION``) and replay
guard rows (until the key binding JWT is too old to pass anyway). Losing them
means a counter opens a new request, or, at worst, that a presentation seen
in the last moments before the power cut could be answered once more within
its few minutes of freshness, still bound to its nonce and audience. That is
accepted for one fsync fewer per verification (``FULL`` caps the HTTP
throughput at the disk's sync rate).

Write contention. SQLite lets one writer in at a time and makes the others
poll, sleeping 1, 2, 5, 10 ... ms between tries, although a write here holds
the lock for tens of microseconds. Several threads and processes answering at
once then spend most of their time asleep (the replay guard writes on every
verification). So every write first takes this process's thread lock and, on
SQLite, an ``flock`` on ``<database>.lock``: the kernel queues the writers and
wakes the next one as soon as the lock is free. SQLite's own locking still
guards the data; the lock only orders the writers.

Checkpoints. With ``synchronous=NORMAL`` the fsyncs happen when the WAL is
copied back into the database (a checkpoint), by default inside whichever
commit crosses 1,000 pages: that request, and every writer queued behind it,
waits for two fsyncs. A daemon thread per process runs a ``PASSIVE``
checkpoint every second instead (it never blocks writers), and the automatic
checkpoint is moved to 10,000 pages as a backstop.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
import weakref
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator, Mapping

try:
    import fcntl
except ImportError:  # pragma: no cover - not on POSIX: SQLite's own polling only.
    fcntl = None  # type: ignore[assignment]

from registry.storage import Database, StorageError

from .errors import RequestNotFound, StorageUnavailable

__all__ = ["RequestStore", "StoredRequest", "VerifierDatabase", "open_store"]

_SCHEMA = [
    "CREATE TABLE IF NOT EXISTS vp_requests ("
    " rid TEXT PRIMARY KEY, state TEXT NOT NULL, nonce TEXT NOT NULL, policy TEXT NOT NULL,"
    " created BIGINT NOT NULL, expires BIGINT NOT NULL, forget_at BIGINT NOT NULL,"
    " status TEXT NOT NULL, decision INTEGER, result TEXT)",
    "CREATE INDEX IF NOT EXISTS vp_requests_forget ON vp_requests (forget_at)",
    "CREATE TABLE IF NOT EXISTS vp_seen (digest TEXT PRIMARY KEY, keep_until BIGINT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS vp_seen_keep_until ON vp_seen (keep_until)",
]

_SEEN_INSERT = (
    "INSERT INTO vp_seen (digest, keep_until) VALUES (?, ?)"
    " ON CONFLICT (digest) DO UPDATE SET keep_until = excluded.keep_until WHERE vp_seen.keep_until <= ?"
    " RETURNING keep_until"
)

SYNCHRONOUS = "NORMAL"
"""SQLite ``synchronous`` for the verifier's database (see the module docstring for why not ``FULL``)."""

SEEN_PURGE_INTERVAL = 1
"""Seconds between purges of expired replay-guard rows by one process (expired rows never block a use)."""

CHECKPOINT_INTERVAL = 1.0
"""Seconds between background WAL checkpoints (SQLite)."""


class VerifierDatabase(Database):
    """:class:`registry.storage.Database` with the verifier's SQLite durability setting on every connection."""

    def __init__(self, url: str, synchronous: str = SYNCHRONOUS) -> None:
        if synchronous not in ("FULL", "NORMAL"):
            raise ValueError("synchronous must be FULL or NORMAL")
        self.synchronous = synchronous
        self._checkpointer_pid = 0
        self._checkpointer_lock = threading.Lock()
        super().__init__(url)

    def _connect(self) -> Any:
        fresh = getattr(self._local, "conn", None) is None
        conn = super()._connect()
        if fresh and not self.postgres:
            conn.execute(f"PRAGMA synchronous={self.synchronous}")
            conn.execute("PRAGMA wal_autocheckpoint=10000")
            self._start_checkpointer()
        return conn

    def execute_one(self, sql: str, params: tuple[Any, ...]) -> Any:
        """One statement outside an explicit transaction (autocommit); its first row or None."""
        if self.postgres:
            return self.read().execute(sql, params).fetchone()
        conn = getattr(self._local, "conn", None) or self._connect()
        return conn.execute(sql, params).fetchone()

    def _start_checkpointer(self) -> None:
        # One daemon thread per process (started lazily, so a forked worker starts its own).
        with self._checkpointer_lock:
            if self._checkpointer_pid == os.getpid():
                return
            self._checkpointer_pid = os.getpid()
        path = self.url.removeprefix("sqlite:///").removeprefix("sqlite://")
        threading.Thread(target=_checkpoint_loop, args=(path, weakref.ref(self)), name="civicid-verifier-checkpoint",
                         daemon=True).start()


def _checkpoint_loop(path: str, owner: "weakref.ref[VerifierDatabase]") -> None:
    """Checkpoint the WAL every second while the database object lives (it holds no reference to it)."""
    try:
        conn = sqlite3.connect(path, isolation_level=None, timeout=1, check_same_thread=False)
    except sqlite3.Error:
        return  # The automatic checkpoint remains.
    try:
        while owner() is not None:
            time.sleep(CHECKPOINT_INTERVAL)
            try:
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            except sqlite3.Error:
                pass  # Busy: try again later; the automatic checkpoint remains.
    finally:
        conn.close()


class _WriteLock:
    """Orders this process's writers (a thread lock) and, on a SQLite file, all processes' (``flock``)."""

    def __init__(self, db: Database) -> None:
        self._thread = threading.Lock()
        self._path: str | None = None
        self._fd: int | None = None
        self._pid = 0
        self._held: int | None = None  # The descriptor flocked by the current holder (under the thread lock).
        if not db.postgres and fcntl is not None:
            path = db.url.removeprefix("sqlite:///").removeprefix("sqlite://")
            if path and path != ":memory:" and not path.startswith("file:"):
                self._path = path + ".lock"

    def _descriptor(self) -> int | None:
        # Opened per process: after a fork, a shared descriptor would not exclude the other process.
        if self._path is None:
            return None
        if self._fd is None or self._pid != os.getpid():
            self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
            self._pid = os.getpid()
        return self._fd

    def acquire(self) -> None:
        """Take the lock (the thread lock, then the ``flock``); pair with :meth:`release`."""
        self._thread.acquire()
        try:
            try:
                fd = self._descriptor()
            except OSError:
                fd = None  # No lock file (read-only folder): SQLite's own locking still applies.
            if fd is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)
            self._held = fd
        except BaseException:
            self._thread.release()
            raise

    def release(self) -> None:
        fd = self._held
        try:
            if fd is not None:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            self._thread.release()

    @contextmanager
    def __call__(self) -> Iterator[None]:
        self.acquire()
        try:
            yield
        finally:
            self.release()


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
        self._next_seen_purge = 0
        self._purge_lock = threading.Lock()
        self._writing = _WriteLock(db)
        self._execute_one = (
            db.execute_one if isinstance(db, VerifierDatabase) else lambda sql, params: db.read().execute(sql, params).fetchone()
        )
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
            with self._writing(), self.db.transaction() as cur:
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
            with self._writing(), self.db.transaction() as cur:
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
        """Replay guard shared by every process: record a KB-JWT digest; False if it was seen.

        One statement, so one commit: the row is inserted, or an expired row for the same
        digest is taken over; a live row (or a concurrent process's insert) returns nothing.
        It runs on every verification, so the write lock is taken without a context manager
        and, on SQLite, the statement goes to this thread's connection without a cursor wrapper.
        """
        writing = self._writing
        try:
            writing.acquire()
            try:
                row = self._execute_one(_SEEN_INSERT, (digest, keep_until, now))
            finally:
                writing.release()
        except Exception as exc:
            if "unique" in type(exc).__name__.lower() or "integrity" in type(exc).__name__.lower():
                return False  # A concurrent process recorded it first.
            raise self._guard(exc) from exc
        if now >= self._next_seen_purge:
            self._purge_seen(now)
        return row is not None

    def _purge_seen(self, now: int) -> None:
        # Expired rows are forgotten in the background of the traffic: at most once per interval per process.
        with self._purge_lock:
            if now < self._next_seen_purge:
                return
            self._next_seen_purge = now + SEEN_PURGE_INTERVAL
        try:
            with self._writing():
                self.db.read().execute("DELETE FROM vp_seen WHERE keep_until <= ?", (now,))
        except Exception as exc:
            raise self._guard(exc) from exc

    def _purge(self, cur: Any, now: int) -> None:
        cur.execute("DELETE FROM vp_requests WHERE forget_at <= ?", (now,))

    def purge(self, now: int) -> None:
        """Forget every request (and its result) past its retention time."""
        try:
            with self._writing(), self.db.transaction() as cur:
                self._purge(cur, now)
                cur.execute("DELETE FROM vp_seen WHERE keep_until <= ?", (now,))
        except Exception as exc:
            raise self._guard(exc) from exc


def open_store(url: str, synchronous: str = SYNCHRONOUS) -> RequestStore:
    try:
        return RequestStore(VerifierDatabase(url, synchronous))
    except StorageError as exc:
        raise StorageUnavailable(exc.message) from exc
