"""``civicid verifier``: request, policies, serve (real gunicorn), errors as one line."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner

from sdjwt.encoding import b64url_encode
from verifier.cli import cli

TOKEN = "t" * 40


@pytest.fixture
def env(cli_env: dict[str, str]) -> dict[str, str]:
    return {**cli_env, "CIVICID_VERIFIER_API_TOKENS": json.dumps([TOKEN])}


def test_request_json(env: dict[str, str], tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["request", "--policy", "senior-bus-pass", "--json"], env=env)
    assert result.exit_code == 0, result.output
    opened = json.loads(result.stdout)
    parts = urllib.parse.urlsplit(opened["request_uri"])
    query = dict(urllib.parse.parse_qsl(parts.query))
    assert parts.scheme == "openid4vp"
    assert query["client_id"].startswith("decentralized_identifier:did:key:")
    assert query["request_uri"].startswith("https://verifier.example/oid4vp/request/")
    assert opened["result_url"].startswith("https://verifier.example/api/requests/")
    # The key was generated into the instance folder on first start, and is reused.
    assert (tmp_path / "instance" / "verifier-key.json").exists()
    again = CliRunner().invoke(cli, ["request", "--policy", "resident", "--json"], env=env)
    assert dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(json.loads(again.stdout)["request_uri"]).query))["client_id"] == query["client_id"]


def test_unknown_policy_is_one_line_exit_1(env: dict[str, str]) -> None:
    result = CliRunner().invoke(cli, ["request", "--policy", "nope"], env=env)
    assert result.exit_code == 1
    assert result.stderr.strip() == "error: unknown_policy: no policy with that id; GET /api/policies lists them"


def test_missing_config_fails_fast(env: dict[str, str]) -> None:
    env = {**env, "CIVICID_VERIFIER_PUBLIC_URL": ""}
    result = CliRunner().invoke(cli, ["request", "--policy", "resident"], env=env)
    assert result.exit_code == 1
    assert "PUBLIC_URL" in result.stderr and "Traceback" not in result.output
    env2 = {**env, "CIVICID_VERIFIER_PUBLIC_URL": "https://v.example", "CIVICID_VERIFIER_API_TOKENS": '["short"]'}
    result = CliRunner().invoke(cli, ["request", "--policy", "resident"], env=env2)
    assert result.exit_code == 1 and "at least 32 characters" in result.stderr


def test_usage_error_exits_2(env: dict[str, str]) -> None:
    assert CliRunner().invoke(cli, ["request"], env=env).exit_code == 2
    assert CliRunner().invoke(cli, ["serve", "--port", "0"], env=env).exit_code == 2


def test_policies_listed() -> None:
    result = CliRunner().invoke(cli, ["policies", "--json"])
    assert [p["id"] for p in json.loads(result.stdout)] == ["age-over-18", "benefit", "resident", "senior-bus-pass"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_runs_gunicorn_and_answers(env: dict[str, str], tmp_path: Path) -> None:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-c", "from civicid.cli import main; main()", "verifier", "serve", "--port", str(port),
         "--db", str(tmp_path / "served.db"), "--workers", "1"],
        env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        deadline = time.time() + 20
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/policies", timeout=2) as response:
                    assert len(json.loads(response.read())["policies"]) == 4
                    break
            except OSError:
                if time.time() > deadline or proc.poll() is not None:
                    raise AssertionError(proc.stderr.read().decode() if proc.poll() is not None else "no answer")
                time.sleep(0.2)
        req = urllib.request.Request(f"http://127.0.0.1:{port}/api/requests", data=b'{"policy": "resident"}',
                                     headers={"Content-Type": "application/json", "Authorization": "Bearer " + TOKEN})
        with urllib.request.urlopen(req, timeout=5) as response:
            assert response.status == 201
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/openapi.json", timeout=5) as response:
            assert json.loads(response.read())["openapi"].startswith("3.")
        assert (tmp_path / "served.db").exists()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_serve_with_bad_config_is_one_line(env: dict[str, str]) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", "from civicid.cli import main; main()", "verifier", "serve", "--port", str(_free_port())],
        env={**os.environ, **env, "CIVICID_VERIFIER_SIGNING_KEY": b64url_encode(b"short")},
        capture_output=True, text=True, timeout=30,
    )
    assert proc.returncode == 1
    assert proc.stderr.strip() == "error: config_invalid: SIGNING_KEY must be a base64url 32-byte Ed25519 seed"


def test_openapi_describes_every_route(tmp_path: Path) -> None:
    from verifier_helpers import LedgerTrust

    import sdjwt
    from verifier import create_app

    app = create_app({"TESTING": True, "TRUST": LedgerTrust(), "DATABASE": str(tmp_path / "o.db"),
                      "SIGNING_KEY": sdjwt.Ed25519PrivateKey(b"\x01" * 32), "INSTANCE_PATH": str(tmp_path)})
    doc = app.test_client().get("/openapi.json").get_json()
    documented = {p.replace("{id}", "<rid>") for p in doc["paths"]}
    routes = {r.rule for r in app.url_map.iter_rules() if r.endpoint != "static" and r.rule != "/"}
    assert routes == documented
    assert {bp for bp in app.blueprints} == {"oid4vp", "counter", "api"}
