"""Issuer test fixtures: an app on SQLite or PostgreSQL, served on loopback, with a controllable clock."""

from __future__ import annotations

from typing import Any, Callable, Iterator

import pytest

import sdjwt
from issuer.officers import create_token
from registry.trust import StaticTrust

from issuer_helpers import ISSUER_DID, ISSUER_KID, Clock, Office, make_app


@pytest.fixture
def office(db_url: str, live_server: Callable[[Any], Any]) -> Iterator[Office]:
    clock = Clock()
    key = sdjwt.Ed25519PrivateKey(bytes(range(32)))
    app = make_app(db_url, clock, key)
    server = live_server(app)
    app.config["PUBLIC_URL"] = server.url
    trust = StaticTrust()
    trust.add_key(ISSUER_DID, ISSUER_KID, key.public_key())
    store = app.extensions["civicid_issuer_store"]
    import nacl.utils

    tokens = {
        role: create_token(store, f"sys-{role}", role, actor="test", now=clock(), random=nacl.utils.random)
        for role in ("officer", "supervisor", "auditor")
    }
    yield Office(app, server.url, clock, key, trust, tokens["officer"], tokens["supervisor"], tokens["auditor"])
    store.close()


@pytest.fixture
def plain_app(tmp_path: Any) -> Iterator[Any]:
    """An app on a SQLite file, without a server (for the Flask test client)."""
    app = make_app(str(tmp_path / "issuer.db"), Clock(), sdjwt.Ed25519PrivateKey(bytes(range(32))))
    app.config["PUBLIC_URL"] = "https://office.example"
    yield app
    app.extensions["civicid_issuer_store"].close()
