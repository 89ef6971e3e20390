"""Store commands through click's CliRunner: init, list, show, backup, restore, change-passphrase, history."""

from __future__ import annotations

import json
from pathlib import Path

from wallet.store import WALLET_FILE

from wallet_support import PASSPHRASE, Runner


def test_init_then_list_empty(run: Runner) -> None:
    result = run("init")
    assert result.exit_code == 0, result.stderr
    assert "created a wallet" in result.stderr
    result = run("list", "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == []


def test_init_prompts_for_passphrase_with_confirmation(run: Runner) -> None:
    result = run("init", passphrase=None, input="s3cret pass\ns3cret pass\n")
    assert result.exit_code == 0, result.stderr
    assert "s3cret" not in result.stdout + result.stderr
    assert run("list", passphrase="s3cret pass").exit_code == 0


def test_init_twice_is_refused(run: Runner) -> None:
    run("init")
    result = run("init")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: wallet_exists:")


def test_wrong_passphrase_one_line_exit_1(run: Runner) -> None:
    run("init")
    result = run("list", passphrase="wrong")
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("error: wrong_passphrase:")
    assert "Traceback" not in result.stderr


def test_no_wallet(run: Runner) -> None:
    result = run("list")
    assert result.exit_code == 1
    assert "error: wallet_not_found:" in result.stderr


def test_corrupt_and_newer_files(run: Runner) -> None:
    run("init")
    path = run.home / WALLET_FILE
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    result = run("list")
    assert result.exit_code == 1 and result.stderr.startswith("error: corrupt_wallet:")
    envelope = json.loads(raw)
    envelope["version"] = 99
    path.write_text(json.dumps(envelope))
    result = run("list")
    assert result.exit_code == 1 and result.stderr.startswith("error: unsupported_version:")
    assert json.loads(path.read_text())["version"] == 99  # Untouched.


def test_show_unknown_id(run: Runner) -> None:
    run("init")
    result = run("show", "nope")
    assert result.exit_code == 1 and "credential_not_found" in result.stderr


def test_usage_errors_exit_2(run: Runner) -> None:
    assert run("show").exit_code == 2
    assert run("list", "--lang", "fr").exit_code == 2
    assert run("receive").exit_code == 2


def test_change_passphrase(run: Runner) -> None:
    run("init")
    result = run("change-passphrase", env={"CIVICID_WALLET_NEW_PASSPHRASE": "another one"})
    assert result.exit_code == 0, result.stderr
    assert run("list").exit_code == 1
    assert run("list", passphrase="another one").exit_code == 0


def test_backup_and_restore_on_another_home(run: Runner, tmp_path: Path) -> None:
    run("init")
    backup = tmp_path / "b.civicid-backup"
    env = {"CIVICID_WALLET_BACKUP_PASSPHRASE": "backup secret"}
    result = run("backup", str(backup), env=env)
    assert result.exit_code == 0, result.stderr
    assert run("backup", str(backup), env=env).exit_code == 2  # Exists, no --force.
    other = Runner(tmp_path / "elsewhere", run.pki, run.runner)
    result = other("restore", str(backup), env={"CIVICID_WALLET_BACKUP_PASSPHRASE": "wrong"})
    assert result.exit_code == 1 and "wrong_passphrase" in result.stderr
    assert not (tmp_path / "elsewhere" / WALLET_FILE).exists()
    result = other("restore", str(backup), env=env)
    assert result.exit_code == 0, result.stderr
    assert other("list").exit_code == 0
    # Restoring over an existing wallet needs --force.
    assert other("restore", str(backup), env=env).exit_code == 1
    assert other("restore", str(backup), "--force", env=env).exit_code == 0


def test_history_empty(run: Runner) -> None:
    run("init")
    result = run("history", "--json")
    assert result.exit_code == 0 and json.loads(result.stdout) == []


def test_help_lists_every_command(run: Runner) -> None:
    result = run("--help")
    for verb in ("init", "receive", "list", "show", "present", "show-qr", "history", "backup", "restore",
                 "change-passphrase"):
        assert verb in result.stdout
    assert PASSPHRASE not in result.stdout
