"""Admin API tokens expire: at the second they were given, through the API and the CLI, and for
tokens made before tokens carried an expiry (the schema migration), on SQLite and PostgreSQL."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timezone
from typing import Any

import nacl.utils
import pytest
from click.testing import CliRunner

import sdjwt
from issuer.cli import cli
from issuer.officers import TOKEN_LIFETIME, TOKEN_MAX_LIFETIME, authenticate_token, create_token
from issuer.errors import Unauthenticated
from issuer.storage import TOKEN_LEGACY_LIFETIME, IssuerStore, sha256_hex
from issuer_helpers import START, Clock, make_app

BASE = "https://office.example"


def _get(app: Any, token: str) -> Any:
    return app.test_client().get("/admin/audit", headers={"Authorization": "Bearer " + token}, base_url=BASE)


def test_a_token_works_until_its_expiry_second_and_not_after(tmp_path: Any) -> None:
    clock = Clock()
    app = make_app(str(tmp_path / "issuer.db"), clock, sdjwt.Ed25519PrivateKey(bytes(range(32))))
    store = app.extensions["civicid_issuer_store"]
    token = create_token(store, "nightly-report", "auditor", actor="test", now=clock(), random=nacl.utils.random, lifetime=3600)
    assert _get(app, token).status_code == 200
    clock.advance(3599)
    assert _get(app, token).status_code == 200
    clock.advance(1)
    resp = _get(app, token)
    assert resp.status_code == 401 and resp.mimetype == "application/problem+json"
    assert "expired" in resp.get_json()["detail"] and token not in resp.get_data(as_text=True)
    store.close()


def test_the_admin_api_sets_and_reports_the_expiry(tmp_path: Any) -> None:
    clock = Clock()
    app = make_app(str(tmp_path / "issuer.db"), clock, sdjwt.Ed25519PrivateKey(bytes(range(32))))
    store = app.extensions["civicid_issuer_store"]
    boss = create_token(store, "boss", "supervisor", actor="test", now=clock(), random=nacl.utils.random)
    client = app.test_client()
    auth = {"Authorization": "Bearer " + boss}
    resp = client.post("/admin/tokens", json={"name": "default-life", "role": "officer"}, headers=auth, base_url=BASE)
    assert resp.status_code == 201 and resp.get_json()["expires_at"] == START + TOKEN_LIFETIME
    resp = client.post("/admin/tokens", json={"name": "one-day", "role": "officer", "expires_in": 86400}, headers=auth, base_url=BASE)
    assert resp.status_code == 201 and resp.get_json()["expires_at"] == START + 86400
    one_day = resp.get_json()["token"]
    for bad in (0, 59, TOKEN_MAX_LIFETIME + 1, "86400", True, 1.5, None, [86400]):
        resp = client.post("/admin/tokens", json={"name": "bad-life", "role": "officer", "expires_in": bad}, headers=auth, base_url=BASE)
        assert resp.status_code == 400 and "expires_in" in resp.get_json()["detail"], bad
    assert store.read().execute("SELECT COUNT(*) FROM api_tokens WHERE name = 'bad-life'").fetchone()[0] == 0
    # The audit log records when each token stops working.
    entries = client.get("/admin/audit", headers=auth, base_url=BASE).get_json()["records"]
    assert [e["details"]["expires_at"] for e in entries if e["action"] == "token.create"][-1] == START + 86400
    clock.advance(86400)
    assert client.get("/admin/credentials", headers={"Authorization": "Bearer " + one_day}, base_url=BASE).status_code == 401
    store.close()


def test_cli_token_create_days(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CIVICID_ISSUER_SECRET_KEY", "s" * 40)
    monkeypatch.setenv("CIVICID_ISSUER_PUBLIC_URL", BASE)
    monkeypatch.setenv("CIVICID_ISSUER_DATABASE", str(tmp_path / "issuer.db"))
    runner = CliRunner()
    result = runner.invoke(cli, ["token", "create", "--name", "sync", "--role", "officer", "--days", "7"])
    assert result.exit_code == 0, result.output
    token = result.stdout.strip()
    assert token.startswith("cit_") and "expires 20" in result.stderr
    store = IssuerStore(str(tmp_path / "issuer.db"))
    created, expires = store.read().execute("SELECT created_at, expires_at FROM api_tokens WHERE name = 'sync'").fetchone()
    assert expires - created == 7 * 86400
    printed = datetime.fromtimestamp(expires, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert printed in result.stderr
    store.close()
    for bad in ("0", "367", "soon"):
        result = runner.invoke(cli, ["token", "create", "--name", "sync2", "--role", "officer", "--days", bad])
        assert result.exit_code == 2 and "--days" in result.output


OLD_SCHEMA = """CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY, token_hash TEXT NOT NULL UNIQUE, name TEXT NOT NULL, role TEXT NOT NULL,
    created_at BIGINT NOT NULL, revoked INTEGER NOT NULL)"""


def _old_database(url: str, token: str, created: int) -> None:
    row = ("t1", sha256_hex(token), "legacy", "supervisor", created, 0)
    if url.startswith("postgresql://"):
        import psycopg

        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(OLD_SCHEMA)
            conn.execute("INSERT INTO api_tokens VALUES (%s, %s, %s, %s, %s, %s)", row)
    else:
        with sqlite3.connect(url) as conn:
            conn.execute(OLD_SCHEMA)
            conn.execute("INSERT INTO api_tokens VALUES (?, ?, ?, ?, ?, ?)", row)


def test_tokens_made_before_expiry_existed_get_the_legacy_lifetime(db_url: str) -> None:
    token = "cit_" + "L" * 43
    _old_database(db_url, token, created=START)
    store = IssuerStore(db_url)
    assert store.read().execute("SELECT expires_at FROM api_tokens WHERE id = 't1'").fetchone()[0] == START + TOKEN_LEGACY_LIFETIME
    assert authenticate_token(store, token, START + TOKEN_LEGACY_LIFETIME - 1).role == "supervisor"
    with pytest.raises(Unauthenticated, match="expired"):
        authenticate_token(store, token, START + TOKEN_LEGACY_LIFETIME)
    store.close()
    # Opening again changes nothing (the migration is idempotent) and keeps the row.
    again = IssuerStore(db_url)
    assert again.read().execute("SELECT COUNT(*), MAX(expires_at) FROM api_tokens").fetchone() == (1, START + TOKEN_LEGACY_LIFETIME)
    again.close()
