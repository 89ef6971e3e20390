"""`civicid registry`: a real gunicorn-served registry driven by the CLI, and the CLI's error handling."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from typing import Any
from pathlib import Path

import pytest
from click.testing import CliRunner

from registry.cli import cli

VCT = "urn:civicid:national_id:1"
METADATA = {
    "vct": VCT,
    "name": "National identity card",
    "display": [{"locale": "en", "name": "National ID"}, {"locale": "zh-CN", "name": "居民身份证"}],
    "claims": [{"path": ["given_name"], "display": [{"locale": "en", "label": "Given name"}, {"locale": "zh-CN", "label": "名"}], "sd": "allowed"}],
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output.strip()


@pytest.fixture
def served(tmp_path: Path) -> tuple[str, str, Path]:
    """A root DID signed offline, then a gunicorn registry that pins it as root."""
    _run("keygen", str(tmp_path / "ministry.key"))
    _run("keygen", str(tmp_path / "ministry.next"))
    root = json.loads(_run("did", "create", "--key", str(tmp_path / "ministry.key"), "--next-key", str(tmp_path / "ministry.next"),
                           "--out", str(tmp_path / "ministry.entry"), "--json"))["did"]
    port = _free_port()
    env = {**os.environ, "CIVICID_REGISTRY_ROOTS": root, "CIVICID_REGISTRY_INSTANCE_PATH": str(tmp_path / "instance"),
           "CIVICID_REGISTRY_ORIGIN": "registry.cli.example/v1", "CIVICID_REGISTRY_CHECKPOINT_INTERVAL": "0.05"}
    process = subprocess.Popen(
        [sys.executable, "-c", "from civicid.cli import main; main()", "registry", "serve", "--port", str(port),
         "--db", str(tmp_path / "registry.db"), "--workers", "1"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 30
        while True:
            try:
                urllib.request.urlopen(url + "/policy", timeout=1).read()
                break
            except OSError:
                if time.time() > deadline or process.poll() is not None:
                    raise AssertionError("the registry did not start")
                time.sleep(0.2)
        yield url, root, tmp_path
    finally:
        process.terminate()
        process.wait(timeout=15)


def test_operate_a_registry_from_the_command_line(served: tuple[str, str, Path]) -> None:
    url, root, tmp = served
    assert "accepted as entry 0" in _run("submit", str(tmp / "ministry.entry"), "--registry", url)
    _run("keygen", str(tmp / "office.key"))
    _run("keygen", str(tmp / "office.next"))
    out = _run("did", "create", "--key", str(tmp / "office.key"), "--next-key", str(tmp / "office.next"), "--registry", url)
    office = out.splitlines()[0]
    assert office.startswith("did:civic:")
    grant = json.loads(_run("accredit", office, "--as", root, "--key", str(tmp / "ministry.key"), "--vct", VCT, "--registry", url, "--json"))
    assert grant["seq"] == 2
    (tmp / "type.json").write_text(json.dumps(METADATA), encoding="utf-8")
    _run("publish-type", str(tmp / "type.json"), "--as", office, "--key", str(tmp / "office.key"), "--registry", url)
    _run("keygen", str(tmp / "office2.key"))
    _run("did", "update", office, "--key", str(tmp / "office.key"), "--new-key", str(tmp / "office2.key"), "--new-kid", "key-2", "--registry", url)
    deadline = time.time() + 15
    while "\n5\n" not in (note := _run("log", "checkpoint", "--registry", url)):
        assert time.time() < deadline, note
        time.sleep(0.1)
    assert note.startswith("registry.cli.example/v1\n5\n")
    vkey = json.loads(urllib.request.urlopen(url + "/policy").read())["log"]
    report = CliRunner().invoke(cli, ["audit", "--db", str(tmp / "registry.db"), "--origin", "registry.cli.example/v1",
                                      "--log-vkey", vkey, "--root", root, "--json"])
    assert report.exit_code == 0, report.output
    assert json.loads(report.output)["ok"] is True


def test_cli_errors_are_one_line_and_exit_1(tmp_path: Path) -> None:
    (tmp_path / "short.key").write_bytes(b"short")
    result = CliRunner().invoke(cli, ["did", "create", "--key", str(tmp_path / "short.key"), "--next-key", str(tmp_path / "short.key")])
    assert result.exit_code == 1
    assert result.output.strip() == f"error: the key file {tmp_path / 'short.key'} must hold exactly 32 bytes (an Ed25519 seed)"
    (tmp_path / "entry.json").write_text("{}")
    result = CliRunner().invoke(cli, ["submit", str(tmp_path / "entry.json")])
    assert result.exit_code == 1 and "not a valid signed entry" in result.output
    result = CliRunner().invoke(cli, ["log", "checkpoint", "--registry", "http://127.0.0.1:9"])
    assert result.exit_code == 1 and result.output.startswith("error: cannot fetch the checkpoint")
    result = CliRunner().invoke(cli, ["accredit"])
    assert result.exit_code == 2


def test_a_mirror_follows_the_primary_and_serves_it_read_only(served: tuple[str, str, Path], live_server: Any) -> None:
    from registry.app import create_app

    url, root, tmp = served
    _run("submit", str(tmp / "ministry.entry"), "--registry", url)
    deadline = time.time() + 15
    while "\n1\n" not in (note := _run("log", "checkpoint", "--registry", url)):
        assert time.time() < deadline, note
        time.sleep(0.1)
    (tmp / "policy.json").write_bytes(urllib.request.urlopen(url + "/policy").read())
    out = _run("mirror", "--primary", url, "--db", str(tmp / "mirror.db"), "--policy", str(tmp / "policy.json"), "--once", "--json")
    assert json.loads(out) == {"size": 1, "appended": 1}
    app = create_app({"TESTING": True, "INSTANCE_PATH": str(tmp / "mirror"), "DB": str(tmp / "mirror.db"), "READ_ONLY": True,
                      "POLICY_FILE": str(tmp / "policy.json"),
                      "ORIGIN": "registry.cli.example/v1", "ROOTS": root})
    mirror = live_server(app)
    assert urllib.request.urlopen(mirror.url + "/checkpoint").read().decode().strip() == note
    resolved = json.loads(urllib.request.urlopen(f"{mirror.url}/1.0/identifiers/{root}").read())
    assert resolved["didDocument"]["id"] == root
    request = urllib.request.Request(mirror.url + "/entries", data=b"{}", method="POST")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request)
    assert refused.value.code == 405
    assert json.loads(refused.value.read())["type"].endswith("/read_only_mirror")
    # A wrong policy (another log key) is refused with one line and exit 1.
    policy = json.loads((tmp / "policy.json").read_text())
    policy["log"] = policy["log"].rsplit("+", 1)[0] + "+AXh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4"
    (tmp / "bad.json").write_text(json.dumps(policy))
    result = CliRunner().invoke(cli, ["mirror", "--primary", url, "--db", str(tmp / "m2.db"), "--policy", str(tmp / "bad.json"), "--once"])
    assert result.exit_code == 1 and result.output.startswith("error:")
