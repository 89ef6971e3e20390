"""Counter API tokens may expire: ``API_TOKENS`` entries ``{"token", "expires_at"}`` next to plain strings."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from verifier.config import api_tokens
from verifier.errors import ConfigError

PLAIN = "plain-counter-token-" + "p" * 32
EXPIRING = "expiring-counter-token-" + "e" * 32


def _post(app: Any, token: str) -> Any:
    return app.test_client().post("/api/requests", json={"policy": "age-over-18"}, headers={"Authorization": "Bearer " + token})


@pytest.mark.parametrize("expires", ["rfc3339", "unix"])
def test_an_expiring_token_works_until_its_second(make_app: Any, clock: Any, expires: str) -> None:
    at = clock.now + 600
    value = datetime.fromtimestamp(at, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ") if expires == "rfc3339" else at
    app = make_app(API_TOKENS=[PLAIN, {"token": EXPIRING, "expires_at": value, "name": "counter 3"}])
    assert _post(app, EXPIRING).status_code == 201
    clock.now = at - 1
    assert _post(app, EXPIRING).status_code == 201
    clock.now = at
    resp = _post(app, EXPIRING)
    assert resp.status_code == 401 and resp.mimetype == "application/problem+json"
    assert resp.get_json()["code"] == "unauthorized" and "expired" in resp.get_json()["detail"]
    assert EXPIRING not in resp.get_data(as_text=True)
    # A plain string never expires; the other token is unaffected.
    assert _post(app, PLAIN).status_code == 201


@pytest.mark.parametrize("entry, message", [
    ({"token": EXPIRING, "expires_at": "tomorrow"}, "expires_at must be an RFC 3339"),
    ({"token": EXPIRING, "expires_at": "2027-02-30T00:00:00Z"}, "expires_at must be an RFC 3339"),
    ({"token": EXPIRING, "expires_at": True}, "expires_at must be an RFC 3339"),
    ({"token": EXPIRING, "expires_at": -5}, "expires_at must be an RFC 3339"),
    ({"token": EXPIRING, "expires_at": 1.5}, "expires_at must be an RFC 3339"),
    ({"token": EXPIRING, "expiry": 1}, "API_TOKENS must be a JSON list"),
    ({"expires_at": 1}, "API_TOKENS must be a JSON list"),
    (42, "API_TOKENS must be a JSON list"),
])
def test_bad_entries_are_refused_at_start(entry: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        api_tokens([PLAIN, entry])


def test_offsets_are_honoured() -> None:
    (token,) = api_tokens([{"token": EXPIRING, "expires_at": "2027-06-30T08:00:00+08:00"}])
    assert token.expires_at == int(datetime(2027, 6, 30, tzinfo=timezone.utc).timestamp())
    assert EXPIRING not in repr(token)


def test_serve_refuses_a_bad_expiry_in_one_line(tmp_path: Path) -> None:
    trust = tmp_path / "trust.json"
    trust.write_text(json.dumps({"snapshot_time": 0, "keys": [], "accreditations": []}))
    env = {
        "CIVICID_VERIFIER_INSTANCE_PATH": str(tmp_path / "instance"),
        "CIVICID_VERIFIER_PUBLIC_URL": "https://verifier.example",
        "CIVICID_VERIFIER_API_TOKENS": json.dumps([{"token": EXPIRING, "expires_at": "next week"}]),
        "CIVICID_VERIFIER_TRUST_FILE": str(trust),
    }
    proc = subprocess.run([sys.executable, "-c", "from civicid.cli import main; main()", "verifier", "request", "--policy", "resident"],
                          env={**os.environ, **env}, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.strip().startswith("error: config_invalid: an API token's expires_at must be")
    assert "Traceback" not in proc.stderr
