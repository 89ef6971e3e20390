"""Offline counters: a presentation shown as a QR code, verified against a registry snapshot and cached status lists."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import qrcode

from verifier_helpers import ISSUER_DID, NATIONAL_ID, T0, present

from verifier_constants import TOKEN


def qr_image(text: str) -> bytes:
    image = qrcode.make(text, error_correction=qrcode.constants.ERROR_CORRECT_L)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def snapshot(issuer: Any, path: Path, taken: int) -> str:
    path.write_text(json.dumps({
        "snapshot_time": taken,
        "keys": [{"did": ISSUER_DID, "kid": issuer.kid, "jwk": issuer.key.public_key().public_jwk(), "valid_from": 0}],
        "accreditations": [{"did": ISSUER_DID, "vct": NATIONAL_ID, "valid_from": 0}],
    }))
    return str(path)


def test_scan_with_snapshot_and_stale_status_list(make_app: Any, issuer: Any, holder: Any, clock: Any, tmp_path: Path) -> None:
    online = {"up": True}
    real_fetch = issuer.fetcher(clock)

    def fetch(uri: str) -> str:
        if not online["up"]:
            raise OSError("network unreachable")
        return real_fetch(uri)

    app = make_app(TRUST=None, TRUST_FILE=snapshot(issuer, tmp_path / "trust.json", T0 - 3600),
                   STATUS_FETCHER=fetch, STATUS_STALE_MAX_AGE=86400)
    client = app.test_client()
    auth = {"Authorization": "Bearer " + TOKEN}
    client_id = app.extensions["civicid_verifier"].client_id
    credential = issuer.issue(holder)

    def scan_once(claims_paths: list[Any], nonce_override: str | None = None) -> Any:
        opened = client.post("/api/requests", json={"policy": "senior-bus-pass"}, headers=auth).get_json()
        stored = app.extensions["civicid_verifier"].lookup(opened["id"])
        p = present(credential, claims_paths, holder, aud=client_id, nonce=nonce_override or stored.nonce, iat=clock())
        response = client.post(f"/api/requests/{opened['id']}/scan",
                               data={"image": (io.BytesIO(qr_image(p)), "frame.png")}, headers=auth)
        return opened, response

    paths = [("age_equal_or_over", "65"), ("address", "locality")]
    opened, response = scan_once(paths)
    body = response.get_json()
    assert response.status_code == 200 and body["decision"] is True, body
    assert body["status_list_age"] == 0 and body["registry_age"] == 3600 + 100
    assert client.get(opened["result_url"].replace("http://localhost", ""), headers=auth).get_json()["state"] == "done"

    # Offline for two hours: the cached list is past its ttl, but within the allowed staleness, and its age is shown.
    online["up"] = False
    clock.now += 7200
    _, response = scan_once(paths)
    body = response.get_json()
    assert body["decision"] is True and body["status_list_age"] == 7200

    # A presentation bound to another request's nonce is refused.
    _, response = scan_once(paths, nonce_override="x" * 43)
    assert response.get_json()["reasons"][0]["code"] == "nonce_mismatch"

    # Past the allowed staleness, an offline counter says the status is unavailable.
    clock.now += 86400
    _, response = scan_once(paths)
    assert response.get_json()["reasons"][0]["code"] == "status_unavailable"


def test_scan_refuses_pictures_without_one_qr(make_app: Any, tmp_path: Path) -> None:
    from PIL import Image

    app = make_app()
    client = app.test_client()
    auth = {"Authorization": "Bearer " + TOKEN}
    opened = client.post("/api/requests", json={"policy": "resident"}, headers=auth).get_json()
    blank = io.BytesIO()
    Image.new("L", (200, 200), 255).save(blank, format="PNG")
    for data in (blank.getvalue(), b"not an image", b"\x89PNG\r\n\x1a\n" + b"\x00" * 100):
        response = client.post(f"/api/requests/{opened['id']}/scan", data=data, headers={**auth, "Content-Type": "image/png"})
        assert response.status_code == 400 and response.get_json()["code"] == "response_malformed"
    # The request stays open for another try.
    assert client.get(f"/api/requests/{opened['id']}", headers=auth).get_json()["state"] == "pending"
    assert client.post(f"/api/requests/{opened['id']}/scan", headers=auth).status_code == 400


def test_trust_snapshot_file_errors_are_one_line(make_app: Any, tmp_path: Path) -> None:
    import pytest

    from verifier.errors import ConfigError

    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match="not a readable trust snapshot"):
        make_app(TRUST=None, TRUST_FILE=str(bad))
