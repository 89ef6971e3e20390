"""Role checks on every admin endpoint: each role gets exactly its permissions, others 401/403 problems."""

from __future__ import annotations

from typing import Any

import nacl.utils
import pytest

from issuer.officers import PERMISSIONS, create_token
from issuer_helpers import NATIONAL_ID, START

# (method, path, json body, permission)
ENDPOINTS: list[tuple[str, str, Any, str]] = [
    ("POST", "/admin/offers", {"credential_configuration_id": "national_id", "claims": NATIONAL_ID}, "offers.create"),
    ("GET", "/admin/credentials", None, "credentials.read"),
    ("POST", "/admin/credentials/{cid}/suspend", None, "credentials.status"),
    ("GET", "/admin/audit", None, "audit.read"),
    ("GET", "/admin/audit/verify", None, "audit.read"),
    ("GET", "/admin/officers", None, "officers.manage"),
    ("POST", "/admin/officers", {"username": "new.officer", "password": "correct horse battery", "role": "officer"}, "officers.manage"),
    ("POST", "/admin/officers/new.officer/disable", None, "officers.manage"),
    ("POST", "/admin/tokens", {"name": "another-system", "role": "officer"}, "officers.manage"),
]


def _tokens(app: Any) -> dict[str, str]:
    store = app.extensions["civicid_issuer_store"]
    return {role: create_token(store, f"t-{role}", role, actor="test", now=START, random=nacl.utils.random) for role in ("officer", "supervisor", "auditor")}


def test_every_admin_endpoint_is_in_the_matrix(plain_app: Any) -> None:
    rules = {(sorted(r.methods - {"HEAD", "OPTIONS"})[0], r.rule) for r in plain_app.url_map.iter_rules() if r.endpoint.startswith("admin.")}
    listed = {(m, p.replace("{cid}", "<credential_id>").replace("suspend", "<action>").replace("new.officer/disable", "<username>/<action>")) for m, p, _, _ in ENDPOINTS}
    assert rules == listed


@pytest.mark.parametrize("role", ["officer", "supervisor", "auditor", None, "bogus"])
def test_role_matrix(plain_app: Any, role: str | None) -> None:
    tokens = _tokens(plain_app)
    client = plain_app.test_client()
    # A credential to act on: a suspended-able row inserted directly.
    store = plain_app.extensions["civicid_issuer_store"]
    with store.transaction() as cur:
        cur.execute("INSERT INTO credentials (id, offer_id, configuration_id, subject, list_id, idx, status, issued_at, expires_at, holder_jkt) VALUES ('c1', 'o1', 'national_id', 's', 'l1', 5, 0, 1, 2, 'j')")
        cur.execute("INSERT INTO status_lists (id, bits, size, allocated, version, created_at) VALUES ('l1', 2, 1024, 1, 1, 1)")
    # The officer to disable exists.
    supervisor = {"Authorization": f"Bearer {tokens['supervisor']}"}
    client.post("/admin/officers", json={"username": "new.officer", "password": "correct horse battery", "role": "officer"}, headers=supervisor)
    for method, path, body, permission in ENDPOINTS:
        if path == "/admin/officers" and method == "POST":
            body = dict(body, username=f"u-{role}")
        if path == "/admin/tokens":
            body = dict(body, name=f"sys-{role}")
        headers = {}
        if role == "bogus":
            headers["Authorization"] = "Bearer cit_not-a-token"
        elif role is not None:
            headers["Authorization"] = f"Bearer {tokens[role]}"
        resp = client.open(path.format(cid="c1"), method=method, json=body, headers=headers)
        if role in (None, "bogus"):
            expected = 401
        elif role in PERMISSIONS[permission]:
            expected = 201 if method == "POST" and path in ("/admin/offers", "/admin/officers", "/admin/tokens") else 200
        else:
            expected = 403
        assert resp.status_code == expected, (method, path, role, resp.get_json())
        if expected >= 400:
            assert resp.mimetype == "application/problem+json"
            assert resp.get_json()["status"] == expected
        if path.endswith("suspend") and expected == 200:
            client.post("/admin/credentials/c1/reinstate", headers=supervisor)


def test_disabled_and_revoked_credentials(plain_app: Any) -> None:
    client = plain_app.test_client()
    assert client.get("/admin/audit", headers={"Authorization": "Basic abc"}).status_code == 401
    assert client.get("/admin/nothing-here").mimetype == "application/problem+json"
    resp = client.post("/admin/offers", data="x", headers={"Authorization": "Bearer " + "cit_" + "x" * 200})
    assert resp.status_code == 401
