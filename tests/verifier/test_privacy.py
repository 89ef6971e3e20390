"""Privacy: canary values in claims the policy does not use never reach the database, the logs or a response."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

import sdjwt
from verifier_helpers import CANARY, NATIONAL_ID, Wallet, http_json, national_id_claims, present

from verifier_constants import TOKEN


def _everything_in(db_path: Path) -> bytes:
    data = b""
    for suffix in ("", "-wal", "-shm", "-journal"):
        p = Path(str(db_path) + suffix)
        if p.exists():
            data += p.read_bytes()
    return data


def test_canaries_never_leave_the_wallet_side(make_app: Any, live_server: Any, issuer: Any, holder: Any, clock: Any,
                                              tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    db = tmp_path / "privacy.db"
    app = make_app(str(db))
    server = live_server(app)
    credential = issuer.issue(holder, national_id_claims(canary=CANARY))
    seen: list[str] = []

    def call(method: str, path: str, body: Any = None) -> Any:
        status, answer, headers = http_json(method, server.url + path, body, token=TOKEN)
        seen.append(json.dumps(answer) + json.dumps(headers))
        return answer

    # 1. An honest wallet: discloses only what is asked.
    opened = call("POST", "/api/requests", {"policy": "senior-bus-pass"})
    wallet = Wallet(holder, {NATIONAL_ID: credential}, clock)
    seen.append(json.dumps(wallet.answer(opened["request_uri"])))
    path = "/api/requests/" + opened["id"]
    assert call("GET", path)["decision"] is True

    # 2. An oversharing wallet: discloses the canary claims too; they must be dropped.
    opened = call("POST", "/api/requests", {"policy": "resident"})
    request, client_id = wallet.fetch_request(opened["request_uri"])
    everything = [("given_name",), ("family_name",), ("personal_identifier",), ("address",)]
    p = present(credential, everything, holder, aud=client_id, nonce=request["nonce"], iat=clock())
    seen.append(json.dumps(wallet.post(request["response_uri"], {"vp_token": json.dumps({"national_id": [p]}),
                                                                  "state": request["state"]})))
    result = call("GET", "/api/requests/" + opened["id"])
    assert result["decision"] is True and result["claims"] == {"national_id": {"address": {"locality": "Shenzhen"}}}

    # 3. A failing one (wrong nonce) with canaries disclosed, and garbage quoting a canary.
    opened = call("POST", "/api/requests", {"policy": "resident"})
    request, _ = wallet.fetch_request(opened["request_uri"])
    p = present(credential, everything, holder, aud=client_id, nonce="not-the-nonce", iat=clock())
    seen.append(json.dumps(wallet.post(request["response_uri"], {"vp_token": json.dumps({"national_id": [p]}),
                                                                  "state": request["state"]})))
    call("GET", "/api/requests/" + opened["id"])
    opened = call("POST", "/api/requests", {"policy": "resident"})
    request, _ = wallet.fetch_request(opened["request_uri"])
    seen.append(json.dumps(wallet.post(request["response_uri"], {"vp_token": '{"national_id": ["' + CANARY + '~"]}',
                                                                  "state": request["state"]})))
    call("GET", "/api/requests/" + opened["id"])

    # 4. The plain JSON API, oversharing, then a policy-false answer whose claims are shown.
    p = present(credential, everything + [("age_equal_or_over", "18")], holder, aud=client_id,
                nonce="plain-api-nonce-000000", iat=clock())
    call("POST", "/api/verify", {"policy": "age-over-18", "nonce": "plain-api-nonce-000000", "presentation": p})
    call("POST", "/api/verify", {"policy": "senior-bus-pass", "nonce": "plain-api-nonce-000000", "presentation": CANARY})

    logs = "\n".join(r.getMessage() + " " + repr(r.args) for r in caplog.records)
    assert CANARY not in logs
    assert all(CANARY not in s for s in seen)
    assert CANARY.encode() not in _everything_in(db)
    # Nor does the person's name or identifier (the parts without the canary suffix).
    for value in (b"Mei", b"440300195001010000", b"Shennan"):
        assert value not in _everything_in(db)


def test_results_are_forgotten_after_retention(make_app: Any, live_server: Any, issuer: Any, holder: Any,
                                               clock: Any, tmp_path: Path) -> None:
    db = tmp_path / "forget.db"
    app = make_app(str(db), RESULT_RETENTION=30)
    server = live_server(app)
    status, opened, _ = http_json("POST", server.url + "/api/requests", {"policy": "resident"}, token=TOKEN)
    Wallet(holder, {NATIONAL_ID: issuer.issue(holder)}, clock).answer(opened["request_uri"])
    clock.now += 31
    app.extensions["civicid_verifier"].store.purge(clock())
    rows = app.extensions["civicid_verifier"].store.db.read().execute("SELECT result FROM vp_requests").fetchall()
    assert rows == []


def test_exported_members() -> None:
    import verifier

    assert verifier.__all__ == ["create_app"]
    from verifier import errors

    assert all(hasattr(errors, name) for name in errors.__all__)
    assert sdjwt  # The format package stays the only place credentials are parsed.
