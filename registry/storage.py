"""Durable storage of the log: entries, Merkle nodes and signed checkpoints.

One schema on two engines: SQLite (WAL, ``synchronous=FULL``) as the embedded
default and PostgreSQL by URL. Appends are written in batches, each batch one
transaction and so one fsync, because per-entry commits cap near 2-6 k/s on
both engines on this hardware (design note). A crash leaves nothing or a whole
batch: entries, nodes and the new size commit together.

Every complete (perfect) subtree hash is stored as ``nodes(level, idx)``, so a
root, an inclusion proof or a consistency proof costs O(log n) reads and the
tree is never loaded into memory; the C2SP tiles are slices of the same rows.
"""

from __future__ import annotations

import sqlite3
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Sequence

from .errors import RegistryError
from .merkle import CompactRange, NodeID, leaf_hash

__all__ = ["Database", "LogStore", "StorageError", "Cursor", "AppendResult"]


class StorageError(RegistryError):
    """The database cannot be opened or used."""

    code = "storage_unavailable"
    hint = "check the --db path or URL and that the database server is running"


class Cursor:
    """The few cursor operations we use, with ``?`` placeholders on both engines."""

    def __init__(self, raw: Any, postgres: bool) -> None:
        self._raw = raw
        self._postgres = postgres

    def execute(self, sql: str, params: Sequence[Any] = ()) -> "Cursor":
        self._raw.execute(sql.replace("?", "%s") if self._postgres else sql, params)
        return self

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self._raw.executemany(sql.replace("?", "%s") if self._postgres else sql, rows)

    def fetchone(self) -> Any:
        return self._raw.fetchone()

    def fetchall(self) -> list[Any]:
        return list(self._raw.fetchall())


class Database:
    """A connection to SQLite (a path) or PostgreSQL (a ``postgresql://`` URL).

    One connection per thread; writes take the engine's write lock up front
    (``BEGIN IMMEDIATE`` / ``SELECT ... FOR UPDATE`` on the caller's row), so
    concurrent writers in several processes serialise instead of failing.
    """

    def __init__(self, url: str) -> None:
        if not isinstance(url, str) or not url:
            raise StorageError("database location is empty")
        self.url = url
        self.postgres = url.startswith(("postgresql://", "postgres://"))
        self._local = threading.local()
        self._connect()  # Fail fast on a bad location.

    def _connect(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            return conn
        try:
            if self.postgres:
                import psycopg

                conn = psycopg.connect(self.url, autocommit=True)
            else:
                path = self.url.removeprefix("sqlite:///").removeprefix("sqlite://")
                conn = sqlite3.connect(path, isolation_level=None, timeout=30, check_same_thread=False)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=FULL")
                conn.execute("PRAGMA busy_timeout=30000")
        except Exception as exc:  # Driver errors differ per engine; all mean the same here.
            raise StorageError(f"cannot open the database ({type(exc).__name__})") from exc
        self._local.conn = conn
        return conn

    @contextmanager
    def transaction(self, write: bool = True) -> Iterator[Cursor]:
        """A transaction; ``write`` takes SQLite's write lock at the start."""
        conn = self._connect()
        raw = conn.cursor()
        if self.postgres:
            raw.execute("BEGIN")
        else:
            raw.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        try:
            yield Cursor(raw, self.postgres)
        except BaseException:
            raw.execute("ROLLBACK")
            raise
        else:
            raw.execute("COMMIT")

    def read(self) -> Cursor:
        """A cursor for single statements outside an explicit transaction."""
        return Cursor(self._connect().cursor(), self.postgres)

    def blob(self, value: Any) -> bytes:
        return bytes(value) if value is not None else b""

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


_SCHEMA = [
    "CREATE TABLE IF NOT EXISTS entries (seq BIGINT PRIMARY KEY, entry_hash {blob} NOT NULL UNIQUE, body {blob} NOT NULL)",
    "CREATE TABLE IF NOT EXISTS nodes (level INTEGER NOT NULL, idx BIGINT NOT NULL, hash {blob} NOT NULL, "
    "PRIMARY KEY (level, idx))",
    "CREATE TABLE IF NOT EXISTS coord (id INTEGER PRIMARY KEY, size BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS checkpoints (size BIGINT PRIMARY KEY, note TEXT NOT NULL)",
]


class _CursorReader:
    """A :class:`registry.merkle.BatchHashReader` over the nodes table, inside any transaction."""

    def __init__(self, cur: Cursor) -> None:
        self._cur = cur

    def get_node(self, level: int, index: int) -> bytes:
        row = self._cur.execute("SELECT hash FROM nodes WHERE level = ? AND idx = ?", (level, index)).fetchone()
        if row is None:
            raise StorageError(f"the stored tree has no node ({level}, {index}); run `civicid registry audit`")
        return bytes(row[0])

    def get_nodes(self, ids: Sequence[NodeID]) -> list[bytes]:
        if not ids:
            return []
        clause = " OR ".join("(level = ? AND idx = ?)" for _ in ids)
        params = [value for node in ids for value in (node.level, node.index)]
        rows = self._cur.execute(f"SELECT level, idx, hash FROM nodes WHERE {clause}", params).fetchall()
        found = {(int(level), int(idx)): bytes(h) for level, idx, h in rows}
        try:
            return [found[(node.level, node.index)] for node in ids]
        except KeyError as exc:
            raise StorageError(f"the stored tree has no node {exc.args[0]}; run `civicid registry audit`") from None


@dataclass(frozen=True)
class AppendResult:
    """Where a batch landed: the first sequence number, the new tree size and its root."""

    first_seq: int
    size: int
    root: bytes


class LogStore:
    """The Merkle log's tables: append in batches, read nodes and entries."""

    def __init__(self, db: Database) -> None:
        self.db = db
        blob = "BYTEA" if db.postgres else "BLOB"
        with db.transaction() as cur:
            for statement in _SCHEMA:
                cur.execute(statement.format(blob=blob))
            if db.postgres:
                cur.execute("INSERT INTO coord (id, size) VALUES (1, 0) ON CONFLICT (id) DO NOTHING")
            else:
                cur.execute("INSERT OR IGNORE INTO coord (id, size) VALUES (1, 0)")

    # Reads -------------------------------------------------------------------------------

    def size(self) -> int:
        row = self.db.read().execute("SELECT size FROM coord WHERE id = 1").fetchone()
        return int(row[0])

    def get_node(self, level: int, index: int) -> bytes:
        """The hash of the perfect subtree of 2**level leaves starting at leaf index * 2**level."""
        return _CursorReader(self.db.read()).get_node(level, index)

    def get_nodes(self, ids: Sequence[NodeID]) -> list[bytes]:
        """Several nodes in one round trip (a proof needs O(log n) of them)."""
        return _CursorReader(self.db.read()).get_nodes(ids)

    def node_range(self, level: int, start: int, end: int) -> list[bytes]:
        """Nodes ``start <= idx < end`` at one level, in order (a tile's contents)."""
        rows = self.db.read().execute(
            "SELECT hash FROM nodes WHERE level = ? AND idx >= ? AND idx < ? ORDER BY idx", (level, start, end)
        ).fetchall()
        return [bytes(row[0]) for row in rows]

    def entries(self, start: int, end: int) -> list[bytes]:
        """Entry bodies ``start <= seq < end``, in order."""
        rows = self.db.read().execute(
            "SELECT body FROM entries WHERE seq >= ? AND seq < ? ORDER BY seq", (start, end)
        ).fetchall()
        return [bytes(row[0]) for row in rows]

    def seq_of(self, entry_hash: bytes) -> int | None:
        row = self.db.read().execute("SELECT seq FROM entries WHERE entry_hash = ?", (entry_hash,)).fetchone()
        return None if row is None else int(row[0])

    def latest_checkpoint(self) -> tuple[int, str] | None:
        row = self.db.read().execute("SELECT size, note FROM checkpoints ORDER BY size DESC LIMIT 1").fetchone()
        return None if row is None else (int(row[0]), str(row[1]))

    def first_checkpoint_after(self, seq: int) -> tuple[int, str] | None:
        """The first stored checkpoint covering leaf ``seq``: the smallest stored size > ``seq``.

        Its cosignature timestamps are the earliest witnessed time of that entry
        (the upper bound of its time bracket, docs/did-method.md section 6).
        """
        row = self.db.read().execute(
            "SELECT size, note FROM checkpoints WHERE size > ? ORDER BY size LIMIT 1", (seq,)
        ).fetchone()
        return None if row is None else (int(row[0]), str(row[1]))

    def checkpoint_at(self, size: int) -> str | None:
        row = self.db.read().execute("SELECT note FROM checkpoints WHERE size = ?", (size,)).fetchone()
        return None if row is None else str(row[0])

    # Writes ------------------------------------------------------------------------------

    def append(
        self,
        bodies: Sequence[bytes],
        entry_hashes: Sequence[bytes],
        check: Callable[[Cursor, int], None] | None = None,
    ) -> AppendResult:
        """Append a batch in one transaction.

        ``check(cursor, size)`` runs after the write lock is held and before
        anything is written, so rule checks see exactly the log they extend;
        raising from it writes nothing.
        """
        if len(bodies) != len(entry_hashes):
            raise ValueError("one entry hash per body")

        def prepare(cur: Cursor, size: int) -> tuple[Sequence[bytes], Sequence[bytes]]:
            if check is not None:
                check(cur, size)
            return bodies, entry_hashes

        return self.sequence(prepare)

    def sequence(self, prepare: Callable[[Cursor, int], tuple[Sequence[bytes], Sequence[bytes]]]) -> AppendResult:
        """The write path: lock, let ``prepare`` choose the batch against the locked size, write, commit.

        One transaction, so one fsync, per batch; a crash leaves nothing or the whole batch.
        """
        with self.db.transaction() as cur:
            row = cur.execute("SELECT size FROM coord WHERE id = 1" + (" FOR UPDATE" if self.db.postgres else "")).fetchone()
            size = int(row[0])
            bodies, entry_hashes = prepare(cur, size)
            if len(bodies) != len(entry_hashes):
                raise ValueError("one entry hash per body")
            frontier = CompactRange.from_reader(size, _CursorReader(cur))
            if not bodies:
                return AppendResult(size, size, frontier.root())
            new_nodes: list[tuple[int, int, bytes]] = []
            frontier.extend((leaf_hash(body) for body in bodies), visit=lambda l, i, h: new_nodes.append((l, i, h)))
            cur.executemany(
                "INSERT INTO entries (seq, entry_hash, body) VALUES (?, ?, ?)",
                [(size + n, entry_hashes[n], bodies[n]) for n in range(len(bodies))],
            )
            cur.executemany("INSERT INTO nodes (level, idx, hash) VALUES (?, ?, ?)", new_nodes)
            new_size = size + len(bodies)
            cur.execute("UPDATE coord SET size = ? WHERE id = 1", (new_size,))
        return AppendResult(size, new_size, frontier.root())

    def entries_in(self, cur: Cursor, start: int, end: int) -> list[bytes]:
        """Entry bodies read inside the caller's transaction (to catch up under the write lock)."""
        rows = cur.execute("SELECT body FROM entries WHERE seq >= ? AND seq < ? ORDER BY seq", (start, end)).fetchall()
        return [bytes(row[0]) for row in rows]

    def put_checkpoint(self, size: int, note: str) -> None:
        """Store (or replace, e.g. with more cosignatures) the signed checkpoint for ``size``."""
        with self.db.transaction() as cur:
            cur.execute("DELETE FROM checkpoints WHERE size = ?", (size,))
            cur.execute("INSERT INTO checkpoints (size, note) VALUES (?, ?)", (size, note))
