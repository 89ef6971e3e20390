"""The issuer's tables, on the registry's :class:`registry.storage.Database` (SQLite or PostgreSQL).

One schema on both engines. Every state change that must stay consistent with
another (redeeming an offer and counting the PIN attempt, issuing credentials
and consuming the nonce and allocating status indices, revoking and writing
the audit record) happens in one transaction, and the audit record of a change
is written in the same transaction as the change.

Secrets are stored only as hashes: pre-authorized codes, access tokens, nonces
and API tokens as SHA-256 (they are 256-bit random), PINs as HMAC-SHA256 under
the service's secret (they are short), officer passwords as Argon2id.
"""

from __future__ import annotations

import hashlib
from contextlib import contextmanager
from typing import Iterator

from flask import Flask, current_app

from registry.storage import Cursor, Database
from registry.storage import StorageError as _RegistryStorageError

from .errors import StorageError

__all__ = ["IssuerStore", "init_app", "get_store", "sha256_hex", "SCHEMA"]

SCHEMA = [
    """CREATE TABLE IF NOT EXISTS offers (
        id TEXT PRIMARY KEY,
        ref_hash TEXT NOT NULL UNIQUE,
        code_hash TEXT NOT NULL UNIQUE,
        tx_hash TEXT NOT NULL,
        configuration_id TEXT NOT NULL,
        claims TEXT NOT NULL,
        subject TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        expires_at BIGINT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        state TEXT NOT NULL,
        token_hash TEXT UNIQUE,
        token_expires_at BIGINT,
        created_by TEXT NOT NULL,
        external_ref TEXT UNIQUE
    )""",
    "CREATE INDEX IF NOT EXISTS offers_subject ON offers (subject)",
    "CREATE TABLE IF NOT EXISTS nonces (nonce_hash TEXT PRIMARY KEY, expires_at BIGINT NOT NULL)",
    """CREATE TABLE IF NOT EXISTS status_lists (
        id TEXT PRIMARY KEY,
        bits INTEGER NOT NULL,
        size INTEGER NOT NULL,
        allocated INTEGER NOT NULL,
        version BIGINT NOT NULL,
        created_at BIGINT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS credentials (
        id TEXT PRIMARY KEY,
        offer_id TEXT NOT NULL,
        configuration_id TEXT NOT NULL,
        subject TEXT NOT NULL,
        list_id TEXT NOT NULL,
        idx INTEGER NOT NULL,
        status INTEGER NOT NULL,
        issued_at BIGINT NOT NULL,
        expires_at BIGINT NOT NULL,
        holder_jkt TEXT NOT NULL,
        UNIQUE (list_id, idx)
    )""",
    "CREATE INDEX IF NOT EXISTS credentials_subject ON credentials (subject)",
    "CREATE INDEX IF NOT EXISTS credentials_offer ON credentials (offer_id)",
    """CREATE TABLE IF NOT EXISTS officers (
        username TEXT PRIMARY KEY,
        password_hash TEXT NOT NULL,
        role TEXT NOT NULL,
        active INTEGER NOT NULL,
        created_at BIGINT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS api_tokens (
        id TEXT PRIMARY KEY,
        token_hash TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL,
        role TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        revoked INTEGER NOT NULL,
        expires_at BIGINT
    )""",
    """CREATE TABLE IF NOT EXISTS audit (
        seq BIGINT PRIMARY KEY,
        time BIGINT NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        target TEXT NOT NULL,
        details TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL
    )""",
    "CREATE TABLE IF NOT EXISTS audit_head (id INTEGER PRIMARY KEY, seq BIGINT NOT NULL, hash TEXT NOT NULL)",
]

GENESIS_HASH = "0" * 64
TOKEN_LEGACY_LIFETIME = 90 * 86400
"""Seconds an API token made before tokens carried an expiry stays valid after its creation."""


def sha256_hex(value: str | bytes) -> str:
    data = value.encode("utf-8") if isinstance(value, str) else value
    return hashlib.sha256(data).hexdigest()


class IssuerStore:
    """The issuer's database: schema creation and transactions with row locks on both engines."""

    def __init__(self, url: str) -> None:
        try:
            self.db = Database(url)
        except _RegistryStorageError as exc:
            raise StorageError(f"{exc.message}; check DATABASE (--db) and that the server is running") from exc
        self.postgres = self.db.postgres
        with self.transaction() as cur:
            for statement in SCHEMA:
                cur.execute(statement)
            _migrate(cur, self.postgres)
            if self.postgres:
                cur.execute(
                    "INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, ?) ON CONFLICT (id) DO NOTHING", (GENESIS_HASH,)
                )
            else:
                cur.execute("INSERT OR IGNORE INTO audit_head (id, seq, hash) VALUES (1, 0, ?)", (GENESIS_HASH,))

    @property
    def for_update(self) -> str:
        """Row lock suffix: PostgreSQL locks the row; SQLite's BEGIN IMMEDIATE already serialises writers."""
        return " FOR UPDATE" if self.postgres else ""

    @contextmanager
    def transaction(self) -> Iterator[Cursor]:
        try:
            with self.db.transaction() as cur:
                yield cur
        except _RegistryStorageError as exc:
            raise StorageError(exc.message) from exc
        except Exception as exc:
            if _is_driver_error(exc):
                raise StorageError(f"database error ({type(exc).__name__}); the change was not saved") from exc
            raise

    def read(self) -> Cursor:
        return self.db.read()

    def close(self) -> None:
        self.db.close()


def _migrate(cur: Cursor, postgres: bool) -> None:
    """Bring a database made by an earlier release up to this schema (idempotent, in the opening transaction)."""
    # API tokens gained an expiry: a token created before that expires TOKEN_LEGACY_LIFETIME after it was made.
    if postgres:
        cur.execute("ALTER TABLE api_tokens ADD COLUMN IF NOT EXISTS expires_at BIGINT")
    elif "expires_at" not in {row[1] for row in cur.execute("PRAGMA table_info(api_tokens)").fetchall()}:
        cur.execute("ALTER TABLE api_tokens ADD COLUMN expires_at BIGINT")
    cur.execute("UPDATE api_tokens SET expires_at = created_at + ? WHERE expires_at IS NULL", (TOKEN_LEGACY_LIFETIME,))


def _is_driver_error(exc: BaseException) -> bool:
    import sqlite3

    if isinstance(exc, sqlite3.Error):
        return True
    try:
        import psycopg
    except ImportError:  # pragma: no cover - psycopg is a dependency
        return False
    return isinstance(exc, psycopg.Error)


def init_app(app: Flask) -> None:
    """Open the store once per process; the store keeps one connection per thread."""
    app.extensions["civicid_issuer_store"] = IssuerStore(app.config["DATABASE"])


def get_store() -> IssuerStore:
    store: IssuerStore = current_app.extensions["civicid_issuer_store"]
    return store
