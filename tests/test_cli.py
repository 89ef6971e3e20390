"""The `civicid` console script: groups mount lazily and the demo round trip runs."""

from __future__ import annotations

import json
import subprocess
import sys

from click.testing import CliRunner

from civicid.cli import cli


def test_help_lists_every_role_without_importing_them() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    for name in ("registry", "issuer", "verifier", "wallet", "demo"):
        assert name in result.output


def test_unknown_command_is_a_usage_error() -> None:
    result = CliRunner().invoke(cli, ["nope"])
    assert result.exit_code == 2
    assert "No such command" in result.output


def test_demo_discloses_only_what_the_counter_needs_and_revocation_bites() -> None:
    result = CliRunner().invoke(cli, ["demo", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary == {
        "disclosed": ["address/locality", "age_equal_or_over/65"],
        "after_revocation": "refused: status_revoked",
    }


def test_demo_runs_as_a_real_subprocess() -> None:
    done = subprocess.run(
        [sys.executable, "-c", "from civicid.cli import main; main()", "demo"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "refused: status_revoked" in done.stdout
    assert "Mei" not in done.stdout  # No claim value is printed.
