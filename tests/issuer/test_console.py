"""The web console: sign-in, CSRF, roles, form from type metadata, QR + PIN, status changes, audit, zh-CN."""

from __future__ import annotations

import base64
import io
import re
from typing import Any

import pytest

from issuer.officers import add_officer

BASE = "https://office.example"


@pytest.fixture
def console(plain_app: Any) -> Any:
    store = plain_app.extensions["civicid_issuer_store"]
    for name, role in (("olga", "officer"), ("sam", "supervisor"), ("aud", "auditor")):
        add_officer(store, name, f"{name}-password-long", role, actor="test", now=1)
    return plain_app


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match
    return match.group(1)


def _login(app: Any, username: str) -> Any:
    client = app.test_client()
    page = client.get("/console/login", base_url=BASE).get_data(as_text=True)
    resp = client.post("/console/login", base_url=BASE, data={"username": username, "password": f"{username}-password-long", "csrf_token": _csrf(page)})
    assert resp.status_code == 302, resp.get_data(as_text=True)
    return client


def test_requires_sign_in_and_csrf(console: Any) -> None:
    client = console.test_client()
    assert client.get("/console/", base_url=BASE).headers["Location"].endswith("/console/login")
    # Login without the CSRF token is refused before the password is even checked.
    resp = client.post("/console/login", base_url=BASE, data={"username": "olga", "password": "olga-password-long"})
    assert resp.status_code == 403
    page = client.get("/console/login", base_url=BASE).get_data(as_text=True)
    resp = client.post("/console/login", base_url=BASE, data={"username": "olga", "password": "wrong-password!", "csrf_token": _csrf(page)})
    assert resp.status_code == 401 and "wrong username or password" in resp.get_data(as_text=True)


def test_session_cookie_is_secure(console: Any) -> None:
    client = console.test_client()
    page = client.get("/console/login", base_url=BASE)
    resp = client.post("/console/login", base_url=BASE, data={"username": "olga", "password": "olga-password-long", "csrf_token": _csrf(page.get_data(as_text=True))})
    cookie = resp.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]


def test_offer_form_qr_and_pin(console: Any) -> None:
    import zxingcpp
    from PIL import Image

    client = _login(console, "olga")
    page = client.get("/console/offer/national_id?lang=zh-CN", base_url=BASE).get_data(as_text=True)
    assert "街道地址" in page and 'name="address.locality"' in page and 'name="age_equal_or_over' not in page
    form = {
        "csrf_token": _csrf(page), "given_name": "Mei", "family_name": "Chen", "birthdate": "1990-02-28", "sex": "2",
        "nationalities": "CN, HK", "personal_identifier": "110101-1990-0228", "address.street_address": "1 Chang'an Avenue",
        "address.locality": "Beijing", "address.postal_code": "100000", "address.country": "CN",
    }
    resp = client.post("/console/offer/national_id", base_url=BASE, data=form)
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200, html
    pin = re.search(r'id="tx-code">(\d{6})<', html).group(1)  # type: ignore[union-attr]
    png = base64.b64decode(re.search(r'data:image/png;base64,([A-Za-z0-9+/=]+)"', html).group(1))  # type: ignore[union-attr]
    decoded = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))
    assert decoded[0].text.startswith("openid-credential-offer://?credential_offer_uri=https%3A%2F%2Foffice.example%2F")
    assert pin.isdigit()
    store = console.extensions["civicid_issuer_store"]
    row = store.read().execute("SELECT created_by, claims FROM offers").fetchone()
    assert row[0] == "officer:olga" and '"nationalities":["CN","HK"]' in row[1]
    # A bad field re-renders the form naming it, with the values kept.
    resp = client.post("/console/offer/national_id", base_url=BASE, data={**form, "birthdate": "1990-13-01"})
    assert resp.status_code == 400
    assert "birthdate" in resp.get_data(as_text=True) and 'aria-invalid="true"' in resp.get_data(as_text=True)


def test_roles_in_the_console(console: Any) -> None:
    store = console.extensions["civicid_issuer_store"]
    with store.transaction() as cur:
        cur.execute("INSERT INTO credentials (id, offer_id, configuration_id, subject, list_id, idx, status, issued_at, expires_at, holder_jkt) VALUES ('c1', 'o1', 'national_id', 'P-1', 'l1', 5, 0, 1, 2, 'j')")
        cur.execute("INSERT INTO status_lists (id, bits, size, allocated, version, created_at) VALUES ('l1', 2, 1024, 1, 1, 1)")
    officer = _login(console, "olga")
    page = officer.get("/console/credentials?subject=P-1", base_url=BASE).get_data(as_text=True)
    assert "c1" in page and ">Revoke<" not in page
    assert officer.post("/console/credentials/c1/revoke", base_url=BASE, data={"csrf_token": _csrf(page)}).status_code == 403
    assert officer.get("/console/audit", base_url=BASE).status_code == 403
    supervisor = _login(console, "sam")
    page = supervisor.get("/console/credentials?subject=P-1", base_url=BASE).get_data(as_text=True)
    assert ">Revoke<" in page
    # Without the CSRF token nothing changes.
    assert supervisor.post("/console/credentials/c1/suspend", base_url=BASE, data={}).status_code == 403
    assert store.read().execute("SELECT status FROM credentials WHERE id = 'c1'").fetchone()[0] == 0
    resp = supervisor.post("/console/credentials/c1/suspend", base_url=BASE, data={"csrf_token": _csrf(page), "subject": "P-1"})
    assert resp.status_code == 302
    assert store.read().execute("SELECT status FROM credentials WHERE id = 'c1'").fetchone()[0] == 2
    auditor = _login(console, "aud")
    page = auditor.get("/console/audit", base_url=BASE).get_data(as_text=True)
    assert "credential.suspend" in page and "officer:sam" in page
    assert auditor.get("/console/offer/national_id", base_url=BASE).status_code == 403
