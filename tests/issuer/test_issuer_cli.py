"""``civicid issuer`` commands: CliRunner for each path, and real subprocesses for the console script."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest
from click.testing import CliRunner

from issuer.cli import cli
from issuer_helpers import NATIONAL_ID

SECRET = "s" * 40


@pytest.fixture
def env(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    values = {
        "CIVICID_ISSUER_SECRET_KEY": SECRET,
        "CIVICID_ISSUER_PUBLIC_URL": "https://office.example",
        "CIVICID_ISSUER_DATABASE": str(tmp_path / "issuer.db"),
    }
    for k, v in values.items():
        monkeypatch.setenv(k, v)
    return values


@pytest.fixture
def claims_file(tmp_path: Any) -> str:
    path = tmp_path / "claims.json"
    path.write_text(json.dumps(NATIONAL_ID), encoding="utf-8")
    return str(path)


def test_offer_json(env: dict[str, str], claims_file: str) -> None:
    result = CliRunner().invoke(cli, ["offer", "--type", "national_id", "--claims", claims_file, "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["credential_offer"].startswith("openid-credential-offer://?credential_offer_uri=https%3A%2F%2Foffice.example%2Fcredential-offer%2F")
    assert body["tx_code"].isdigit() and len(body["tx_code"]) == 6


def test_offer_text(env: dict[str, str], claims_file: str) -> None:
    result = CliRunner().invoke(cli, ["offer", "--type", "national_id", "--claims", claims_file])
    assert result.exit_code == 0
    link, pin = result.stdout.strip().splitlines()
    assert link.startswith("openid-credential-offer://") and pin.startswith("PIN (tx_code): ")


def test_offer_errors_are_one_line(env: dict[str, str], claims_file: str, tmp_path: Any) -> None:
    runner = CliRunner()
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**NATIONAL_ID, "sex": "female"}))
    result = runner.invoke(cli, ["offer", "--type", "national_id", "--claims", str(bad)])
    assert result.exit_code == 1
    assert result.output.strip() == "error: sex must be an integer [invalid_claims]"
    assert "female" not in result.output
    result = runner.invoke(cli, ["offer", "--type", "passport", "--claims", claims_file])
    assert result.exit_code == 1 and "unknown credential configuration" in result.output
    result = runner.invoke(cli, ["offer", "--claims", claims_file])
    assert result.exit_code == 2  # Usage error: --type is required.


def test_missing_secret_fails_fast(claims_file: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CIVICID_ISSUER_SECRET_KEY", raising=False)
    result = CliRunner().invoke(cli, ["offer", "--type", "national_id", "--claims", claims_file, "--db", str(tmp_path / "x.db")])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "error: SECRET_KEY must be set to at least 32 random characters (CIVICID_ISSUER_SECRET_KEY) [config_invalid]"
    ]


def test_officer_token_and_revoke_commands(env: dict[str, str]) -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["officer", "add", "--username", "alice", "--role", "supervisor"], input="a long password 1\na long password 1\n")
    assert result.exit_code == 0, result.output
    result = runner.invoke(cli, ["officer", "add", "--username", "alice", "--role", "officer"], env={"CIVICID_ISSUER_OFFICER_PASSWORD": "another long one"})
    assert result.exit_code == 1 and "exists" in result.output
    result = runner.invoke(cli, ["token", "create", "--name", "register-sync", "--role", "officer"])
    assert result.exit_code == 0 and result.stdout.startswith("cit_")
    result = runner.invoke(cli, ["credential", "revoke", "nope"])
    assert result.exit_code == 1 and "no issued credential" in result.output


def test_console_script_subprocess(env: dict[str, str], claims_file: str) -> None:
    full_env = {**os.environ, **env}
    proc = subprocess.run(
        [sys.executable, "-c", "from civicid.cli import main; main()", "issuer", "offer", "--type", "national_id", "--claims", claims_file, "--json"],
        capture_output=True, text=True, env=full_env, timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert set(json.loads(proc.stdout)) >= {"credential_offer", "tx_code"}
    proc = subprocess.run(
        [sys.executable, "-c", "from civicid.cli import main; main()", "issuer", "audit-verify"],
        capture_output=True, text=True, env=full_env, timeout=60,
    )
    assert proc.returncode == 0 and "1 records" in proc.stdout
    proc = subprocess.run(
        [sys.executable, "-c", "from civicid.cli import main; main()", "issuer", "offer", "--type", "national_id", "--claims", "/nonexistent.json"],
        capture_output=True, text=True, env=full_env, timeout=60,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
