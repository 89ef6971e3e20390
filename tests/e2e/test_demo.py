"""`civicid demo` as a real process: on its own (it starts `civicid up` itself) and against a running `civicid up`."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from civicid.demo import CITIZEN
from e2e_support import CIVICID, Up, clean_env, http, processes_mentioning

pytestmark = pytest.mark.e2e

QR_FILES = {
    "1-offer.png": "openid-credential-offer://",
    "2-senior-bus-pass.png": "openid4vp://",
    "3-age-over-18.png": "openid4vp://",
    "4-age-over-18-after-revocation.png": "openid4vp://",
}


def _values(claims: object) -> list[str]:
    """The claim values as strings, long enough (4+ characters) not to turn up by chance in random ids."""
    return [v for v in _all_values(claims) if len(v) >= 4]


def _all_values(claims: object) -> list[str]:
    if isinstance(claims, dict):
        return [v for value in claims.values() for v in _all_values(value)]
    if isinstance(claims, list):
        return [v for value in claims for v in _all_values(value)]
    return [str(claims)] if isinstance(claims, str) else []


def _decode(path: Path) -> str:
    import zxingcpp
    from PIL import Image

    with Image.open(path) as image:
        codes = [c for c in zxingcpp.read_barcodes(image) if c.valid]
    assert len(codes) == 1, path
    return str(codes[0].text)


def test_demo_with_no_arguments_tells_the_whole_story(tmp_path: Path) -> None:
    # An empty default data folder: the demo finds no running system and starts its own.
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = clean_env(CIVICID_UP_DATA_DIR=str(tmp_path / "no-system-here"), TMPDIR=str(scratch))
    started = time.monotonic()
    done = subprocess.run([*CIVICID, "demo"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    elapsed = time.monotonic() - started
    assert done.returncode == 0, done.stdout + done.stderr
    assert elapsed < 60
    out = done.stdout
    steps = [line.split(" ", 1)[0] for line in out.splitlines() if line[:1].isdigit()]
    assert steps == ["1.", "2.", "3.", "4.", "5.", "6."]
    assert "offers a citizen a national identity card" in out
    assert 'asks "senior bus pass"' in out and 'asks "over 18"' in out
    assert "disclosed only address.locality, age_equal_or_over.65; the counter answers: eligible" in out
    assert "disclosed only age_equal_or_over.18; the counter answers: eligible" in out
    assert "revokes it" in out
    assert "not eligible (status_revoked)" in out
    # No claim value, PIN or token is printed.
    for value in _values(CITIZEN):
        assert value not in out and value not in done.stderr, value
    # The QR codes are PNG files in ./civicid-demo, and each decodes to what the actors used.
    for name, scheme in QR_FILES.items():
        path = tmp_path / "civicid-demo" / name
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert _decode(path).startswith(scheme), name
    # The system it started is stopped, and its temporary folder and the wallet's are gone.
    assert processes_mentioning(str(scratch)) == []
    assert list(scratch.iterdir()) == []


def test_demo_json_against_a_running_up(tmp_path: Path) -> None:
    up = Up(tmp_path / "data", "--port-base", "0")
    try:
        info = up.wait_ready()
        done = subprocess.run([*CIVICID, "demo", "--data-dir", str(tmp_path / "data"), "--out", str(tmp_path / "qr"), "--json"],
                              env=clean_env(), capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
        lines = done.stdout.strip().splitlines()
        assert len(lines) == 1
        summary = json.loads(lines[0])
        assert summary["ok"] is True
        assert summary["after_revocation"] == "refused: status_revoked"
        assert [(c["policy"], c["decision"]) for c in summary["checks"]] == [
            ("senior-bus-pass", True), ("age-over-18", True), ("age-over-18", False)]
        assert summary["checks"][0]["disclosed"] == ["address.locality", "age_equal_or_over.65"]
        assert summary["checks"][1]["disclosed"] == ["age_equal_or_over.18"]
        assert summary["checks"][2]["reasons"] == ["status_revoked"]
        for check in summary["checks"]:
            assert _decode(Path(check["qr"])).startswith("openid4vp://")
        assert _decode(Path(summary["offer_qr"])).startswith("openid-credential-offer://")
        # The demo used the running system and left it running; the office sees the revoked copies.
        status, found = http(info["issuer"] + "/admin/credentials", token=info["officer_token"])
        assert status == 200 and found["credentials"] and {c["status"] for c in found["credentials"]} == {"revoked"}
        assert up.process.poll() is None
    finally:
        assert up.stop() == 0
    # No claim value and no secret reached any service's log.
    state = json.loads((tmp_path / "data" / "state.json").read_text())
    secrets = [state[k] for k in ("counter_token", "officer_token", "officer_password", "keystore_passphrase", "issuer_secret_key")]
    logs = list((tmp_path / "data" / "logs").glob("*.log"))
    assert {p.name for p in logs} >= {"registry.log", "witness.log", "issuer.log", "verifier.log"}
    for log in logs:
        text = log.read_text(errors="replace")
        for value in _values(CITIZEN) + secrets:
            assert value not in text, (log.name, value[:4])
