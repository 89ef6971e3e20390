"""Access control, counted: every admin endpoint refuses missing, expired, revoked and wrong-role credentials.

* issuer admin API (bearer API tokens): every endpoint x {no header, another scheme, a garbage token, a
  revoked token, an expired token, a token in the query string, a role without the permission} -> 401/403
  problem+json;
* issuer console: every page redirects to sign-in without a session, every POST refuses a missing or
  foreign CSRF token, the session cookie's flags, expired and forged session cookies, an officer
  disabled or re-roled after sign-in loses access on the next request;
* verifier counter API: every bearer endpoint x {no header, another scheme, a wrong, truncated or
  extended token, an expired token, the token in the query string} -> 401;
* registry write endpoint: entries are authorised by their signatures (no bearer token), so every
  forged authorisation is refused and leaves the log alone; a mirror refuses writes.

The role matrix itself (each role gets exactly its permissions) is ``tests/issuer/test_admin_roles.py``.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any, Callable
from unittest import mock

import nacl.utils
import pytest

import sdjwt
from issuer.officers import PERMISSIONS, ROLES, TOKEN_LIFETIME, add_officer, create_token, set_active
from issuer_helpers import START, Clock, make_app as make_issuer_app
from test_admin_roles import ENDPOINTS

BASE = "https://office.example"


@pytest.fixture(scope="module")
def issuer_app(tmp_path_factory: pytest.TempPathFactory) -> Any:
    app = make_issuer_app(str(tmp_path_factory.mktemp("issuer") / "issuer.db"), Clock(), sdjwt.Ed25519PrivateKey(bytes(range(32))))
    app.config["PUBLIC_URL"] = BASE
    store = app.extensions["civicid_issuer_store"]
    app.tokens = {role: create_token(store, f"t-{role}", role, actor="test", now=START, random=nacl.utils.random) for role in ROLES}
    app.revoked = create_token(store, "t-revoked", "supervisor", actor="test", now=START, random=nacl.utils.random)
    with store.transaction() as cur:
        cur.execute("UPDATE api_tokens SET revoked = 1 WHERE name = 't-revoked'")
    # A supervisor token made 90 days and a minute before the clock's now, for 90 days: expired a minute ago.
    app.expired = create_token(store, "t-expired", "supervisor", actor="test", now=START - TOKEN_LIFETIME - 60, random=nacl.utils.random)
    for name, role in (("olga", "officer"), ("sam", "supervisor"), ("aud", "auditor")):
        add_officer(store, name, f"{name}-password-long", role, actor="test", now=1)
    yield app
    store.close()


def _denials() -> list[tuple[str, str, Any, str]]:
    cases = []
    for method, path, body, permission in ENDPOINTS:
        for kind in ("missing", "basic-scheme", "garbage", "revoked", "expired", "query-string"):
            cases.append((method, path, body, kind))
        for role in ROLES:
            if role not in PERMISSIONS[permission]:
                cases.append((method, path, body, "role:" + role))
    return cases


ADMIN_DENIALS = _denials()


@pytest.mark.parametrize("method, path, body, kind", ADMIN_DENIALS, ids=[f"{m} {p} {k}" for m, p, _, k in ADMIN_DENIALS])
def test_issuer_admin_refuses(issuer_app: Any, method: str, path: str, body: Any, kind: str) -> None:
    tokens = issuer_app.tokens
    headers: dict[str, str] = {}
    url = path.format(cid="c1")
    if kind == "basic-scheme":
        headers["Authorization"] = "Basic " + tokens["supervisor"]
    elif kind == "garbage":
        headers["Authorization"] = "Bearer cit_" + "A" * 43
    elif kind == "revoked":
        headers["Authorization"] = "Bearer " + issuer_app.revoked
    elif kind == "expired":
        headers["Authorization"] = "Bearer " + issuer_app.expired
    elif kind == "query-string":
        url += ("&" if "?" in url else "?") + "access_token=" + tokens["supervisor"]
    elif kind.startswith("role:"):
        headers["Authorization"] = "Bearer " + tokens[kind[5:]]
    resp = issuer_app.test_client().open(url, method=method, json=body, headers=headers, base_url=BASE)
    expected = 403 if kind.startswith("role:") else 401
    assert resp.status_code == expected, (kind, resp.get_json())
    assert resp.mimetype == "application/problem+json"
    assert resp.get_json()["status"] == expected
    if kind == "expired":
        assert "expired" in resp.get_json()["detail"]
    assert issuer_app.tokens["supervisor"] not in resp.get_data(as_text=True)


# Console ----------------------------------------------------------------------------------------

CONSOLE_PAGES = ["/console/", "/console/offer/national_id", "/console/credentials", "/console/audit"]
CONSOLE_POSTS = ["/console/login", "/console/logout", "/console/offer/national_id", "/console/credentials/c1/suspend"]


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match
    return match.group(1)


def _login(app: Any, username: str) -> Any:
    client = app.test_client()
    page = client.get("/console/login", base_url=BASE).get_data(as_text=True)
    resp = client.post("/console/login", base_url=BASE, data={"username": username, "password": f"{username}-password-long",
                                                               "csrf_token": _csrf(page)})
    assert resp.status_code == 302
    return client


@pytest.mark.parametrize("page", CONSOLE_PAGES)
def test_console_pages_need_a_session(issuer_app: Any, page: str) -> None:
    resp = issuer_app.test_client().get(page, base_url=BASE)
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/console/login")


@pytest.mark.parametrize("path", CONSOLE_POSTS)
@pytest.mark.parametrize("token", ["missing", "foreign"])
def test_console_posts_need_this_sessions_csrf_token(issuer_app: Any, path: str, token: str) -> None:
    victim = _login(issuer_app, "sam")
    data: dict[str, str] = {"username": "sam", "password": "sam-password-long", "subject": "x"}
    if token == "foreign":
        # A token the attacker got from their own session (a cross-site form carries the victim's cookie, not the token).
        attacker = issuer_app.test_client()
        data["csrf_token"] = _csrf(attacker.get("/console/login", base_url=BASE).get_data(as_text=True))
    resp = victim.post(path, base_url=BASE, data=data)
    assert resp.status_code == 403
    # Still signed in: the refused POST changed nothing (logout included).
    assert victim.get("/console/", base_url=BASE).status_code == 200


def test_console_session_cookie_flags(issuer_app: Any) -> None:
    from issuer.config import DEFAULTS

    client = issuer_app.test_client()
    page = client.get("/console/login", base_url=BASE)
    resp = client.post("/console/login", base_url=BASE, data={"username": "olga", "password": "olga-password-long",
                                                               "csrf_token": _csrf(page.get_data(as_text=True))})
    cookie = resp.headers["Set-Cookie"]
    for flag in ("Secure", "HttpOnly", "SameSite=Strict", "Path=/"):
        assert flag in cookie
    assert "Domain=" not in cookie
    # Outside tests the cookie is __Host- prefixed (Secure, Path=/, no Domain: bound to the console's origin).
    assert DEFAULTS["SESSION_COOKIE_NAME"].startswith("__Host-")
    assert DEFAULTS["PERMANENT_SESSION_LIFETIME"] <= 8 * 3600
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]


def _session_cookie(app: Any, data: dict[str, Any], at: float, secret: str | None = None) -> str:
    if secret is not None:
        app = type("App", (), {"secret_key": secret, "config": app.config})()
    serializer = issuer_app_serializer(app)
    with mock.patch("time.time", return_value=at):
        return serializer.dumps(data)


def issuer_app_serializer(app: Any) -> Any:
    from flask.sessions import SecureCookieSessionInterface

    return SecureCookieSessionInterface().get_signing_serializer(app)


@pytest.mark.parametrize("kind", ["expired", "forged-secret", "unknown-role", "unknown-officer"])
def test_console_refuses_expired_and_forged_sessions(issuer_app: Any, kind: str) -> None:
    session = {"actor": "officer:sam", "role": "supervisor", "csrf": "c" * 43, "_permanent": True}
    at = time.time()
    secret = None
    if kind == "expired":
        at -= issuer_app.permanent_session_lifetime.total_seconds() + 60
    elif kind == "forged-secret":
        secret = "an-attacker-guess-" + "s" * 30
    elif kind == "unknown-role":
        session["role"] = "admin"
    else:
        session["actor"] = "officer:mallory"
    client = issuer_app.test_client()
    client.set_cookie(issuer_app.config["SESSION_COOKIE_NAME"], _session_cookie(issuer_app, session, at, secret), domain="office.example")
    resp = client.get("/console/audit", base_url=BASE)
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/console/login"), kind
    # The same cookie, freshly signed with the real secret and a known officer, is accepted (the test is sound).
    if kind == "expired":
        client.set_cookie(issuer_app.config["SESSION_COOKIE_NAME"], _session_cookie(issuer_app, session, time.time()),
                          domain="office.example")
        assert client.get("/console/audit", base_url=BASE).status_code == 200


def test_console_disabled_or_reroled_officer_loses_access_at_once(tmp_path: Path) -> None:
    """Security regression: a disabled officer's session cookie kept working until it expired (8 h)."""
    app = make_issuer_app(str(tmp_path / "issuer.db"), Clock(), sdjwt.Ed25519PrivateKey(bytes(range(32))))
    app.config["PUBLIC_URL"] = BASE
    store = app.extensions["civicid_issuer_store"]
    add_officer(store, "sam", "sam-password-long", "supervisor", actor="test", now=1)
    add_officer(store, "olga", "olga-password-long", "officer", actor="test", now=1)
    sam, olga = _login(app, "sam"), _login(app, "olga")
    assert sam.get("/console/audit", base_url=BASE).status_code == 200
    set_active(store, "sam", False, actor="test", now=2)
    resp = sam.get("/console/audit", base_url=BASE)
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/console/login")
    # Demoted: the session's old role no longer counts.
    assert olga.get("/console/offer/national_id", base_url=BASE).status_code == 200
    with store.transaction() as cur:
        cur.execute("UPDATE officers SET role = 'auditor' WHERE username = 'olga'")
    assert olga.get("/console/offer/national_id", base_url=BASE).status_code == 302
    store.close()


# Verifier counter API -----------------------------------------------------------------------------

VERIFIER_ENDPOINTS = [
    ("POST", "/api/requests", {"policy": "resident"}),
    ("GET", "/api/requests/{rid}", None),
    ("GET", "/api/requests/{rid}/qr.png", None),
    ("POST", "/api/requests/{rid}/scan", None),
    ("POST", "/api/verify", {"policy": "age-over-18", "nonce": "n" * 20, "presentation": "x~"}),
]
VERIFIER_TOKEN = "counter-token-" + "v" * 32
VERIFIER_EXPIRED = "expired-counter-token-" + "x" * 32
VERIFIER_DENIALS = [(m, p, b, k) for m, p, b in VERIFIER_ENDPOINTS
                    for k in ("missing", "basic-scheme", "wrong", "truncated", "extended", "expired", "query-string")]


@pytest.fixture(scope="module")
def verifier_app(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from registry.trust import StaticTrust
    from verifier import create_app

    tmp = tmp_path_factory.mktemp("verifier")
    app = create_app({"TESTING": True, "INSTANCE_PATH": str(tmp / "i"), "DATABASE": str(tmp / "v.db"), "TRUST": StaticTrust(),
                      "STATUS_FETCHER": lambda uri: "", "SIGNING_KEY": sdjwt.Ed25519PrivateKey(b"\x44" * 32),
                      "API_TOKENS": [VERIFIER_TOKEN, {"token": VERIFIER_EXPIRED, "expires_at": "2025-01-01T00:00:00Z"}]})
    resp = app.test_client().post("/api/requests", json={"policy": "resident"}, headers={"Authorization": "Bearer " + VERIFIER_TOKEN})
    app.rid = resp.get_json()["id"]
    return app


@pytest.mark.parametrize("method, path, body, kind", VERIFIER_DENIALS, ids=[f"{m} {p} {k}" for m, p, _, k in VERIFIER_DENIALS])
def test_verifier_counter_api_refuses(verifier_app: Any, method: str, path: str, body: Any, kind: str) -> None:
    token = {"basic-scheme": VERIFIER_TOKEN, "wrong": "counter-token-" + "w" * 32, "truncated": VERIFIER_TOKEN[:-1],
             "extended": VERIFIER_TOKEN + "v", "expired": VERIFIER_EXPIRED}.get(kind)
    headers = {}
    url = path.format(rid=verifier_app.rid)
    if kind == "basic-scheme":
        headers["Authorization"] = "Basic " + VERIFIER_TOKEN
    elif kind == "query-string":
        url += "?access_token=" + VERIFIER_TOKEN
    elif token is not None:
        headers["Authorization"] = "Bearer " + token
    resp = verifier_app.test_client().open(url, method=method, json=body, headers=headers)
    assert resp.status_code == 401, resp.get_data(as_text=True)
    assert resp.mimetype == "application/problem+json" and resp.get_json()["code"] == "unauthorized"
    if kind == "expired":
        assert "expired" in resp.get_json()["detail"]


# Registry write endpoint ----------------------------------------------------------------------------


def test_registry_write_endpoint_refuses_forged_authorisations(tmp_path: Path, live_server: Callable[[Any], Any]) -> None:
    """``POST /entries`` has no bearer token: each entry is authorised by its signature under the ledger's rules."""
    from registry.accreditation import grant_op, withdraw_op
    from registry.app import create_app as create_registry_app
    from registry.did import KeySpec, update_op
    from test_service import VCT, World, _key, _post

    world = World(tmp_path, live_server, str(tmp_path / "registry.db"))
    try:
        store = world.app.extensions["civicid.ledger"].store
        size = store.size()
        thief = KeySpec("key-1", _key(3))  # The rogue's key, named as the office's.
        forged = {
            # Rotating the office's keys with a key the office never had.
            "did-update-signed-by-a-stranger": update_op(world.office, world.office_create.hash, thief, [KeySpec("key-2", _key(9))], [], world.now),
            # A self-accreditation: the rogue grants itself the national ID type.
            "self-accreditation": grant_op(world.rogue, world.rogue_spec, world.rogue, vct=VCT, valid_from=world.now,
                                           valid_until=world.now + 86400, time=world.now),
            # Withdrawing the office's grant without being its grantor.
            "withdrawal-by-a-non-grantor": withdraw_op(world.rogue, world.rogue_spec, world.grant.hash, world.now),
        }
        for name, entry in forged.items():
            status, problem = _post(world.server.url + "/entries", entry.raw)
            assert 400 <= status < 500, (name, status, problem)
        # A signature altered by one character.
        good = update_op(world.office, world.office_create.hash, world.office_spec, [KeySpec("key-2", _key(9))], [], world.now)
        sig = good.raw.index(b'"sig":"') + 8
        tampered = good.raw[:sig] + (b"A" if good.raw[sig:sig + 1] != b"A" else b"B") + good.raw[sig + 1:]
        status, problem = _post(world.server.url + "/entries", tampered)
        assert 400 <= status < 500, problem
        assert store.size() == size  # Nothing was logged.
        # A read-only mirror node refuses every write.
        mirror = create_registry_app({"TESTING": True, "INSTANCE_PATH": str(tmp_path / "m"), "DB": str(tmp_path / "m.db"),
                                      "READ_ONLY": True, "START_THREADS": False, "ORIGIN": world.policy.origin,
                                      "LOG_KEY_FILE": str(tmp_path / "log.seed")})
        resp = mirror.test_client().post("/entries", data=good.raw, content_type="application/json")
        assert resp.status_code == 405 and resp.mimetype == "application/problem+json"
    finally:
        world.stop()


def test_counts() -> None:
    """The figures docs/security.md quotes: 68 admin API refusals, 35 counter API refusals."""
    assert (len(ADMIN_DENIALS), len(VERIFIER_DENIALS)) == (68, 35)
