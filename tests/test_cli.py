"""The `civicid` console script: groups mount lazily; `up` and `demo` fail with one line.

The running system (`civicid up`, `civicid demo`) is tested across real processes in tests/e2e.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from civicid.cli import cli


def test_help_lists_every_role_without_importing_them() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    for name in ("registry", "issuer", "verifier", "wallet", "up", "demo"):
        assert name in result.output


def test_help_runs_as_a_real_subprocess_without_importing_flask() -> None:
    code = "import sys; from civicid.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit: pass\nprint('flask' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("False")


def test_unknown_command_is_a_usage_error() -> None:
    result = CliRunner().invoke(cli, ["nope"])
    assert result.exit_code == 2
    assert "No such command" in result.output


def test_up_bad_port_base_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["up", "--data-dir", str(tmp_path), "--port-base", "70000"])
    assert result.exit_code == 2
    result = CliRunner().invoke(cli, ["up", "--data-dir", str(tmp_path), "--port-base", "65534"])
    assert result.exit_code == 2
    assert "--port-base" in result.output


def test_up_refuses_a_busy_port_with_one_line(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = CliRunner().invoke(cli, ["up", "--data-dir", str(tmp_path / "data"), "--port-base", str(port), "--json"])
    assert result.exit_code == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    # (Another of the N..N+3 ports may happen to be taken too: the message then lists it as well.)
    assert lines[0].startswith(f"error: port_in_use: port {port} (registry)")
    assert "is already in use on 127.0.0.1" in lines[0]
    assert "--port-base" in lines[0]
    # Nothing was started, and the failed attempt left no running-state file behind.
    assert not (tmp_path / "data" / "up.json").exists()


def test_up_state_is_private(tmp_path: Path) -> None:
    from civicid.up import State, write_private

    state = State.load(tmp_path / "state.json")
    first = state.secret("counter_token", lambda: "ctr_" + "x" * 40)
    assert State.load(tmp_path / "state.json").secret("counter_token", lambda: "other") == first
    assert (tmp_path / "state.json").stat().st_mode & 0o777 == 0o600
    write_private(tmp_path / "f", b"1")
    assert (tmp_path / "f").stat().st_mode & 0o777 == 0o600
    assert json.loads((tmp_path / "state.json").read_text())["counter_token"] == first


def test_up_refuses_an_unreadable_state_file(tmp_path: Path) -> None:
    (tmp_path / "state.json").write_text("{not json")
    result = CliRunner().invoke(cli, ["up", "--data-dir", str(tmp_path), "--port-base", "0"])
    assert result.exit_code == 1
    assert result.stderr.strip().startswith("error: state_invalid: ")
    assert "Traceback" not in result.output


def test_demo_help_names_its_options() -> None:
    result = CliRunner().invoke(cli, ["demo", "--help"])
    assert result.exit_code == 0
    for option in ("--data-dir", "--out", "--json"):
        assert option in result.output
