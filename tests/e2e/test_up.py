"""`civicid up` across real processes: the ready line, services that answer, idempotent restarts, clean stops."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from e2e_support import Up, http, port_free, processes_mentioning, wait_until

pytestmark = pytest.mark.e2e

KEYS = {"registry", "issuer", "verifier", "officer_token", "counter_token"}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("up") / "data"


@pytest.fixture(scope="module")
def first_run(data_dir: Path) -> Any:
    """The first run bootstraps; it is stopped with SIGINT (Ctrl-C) by the first test."""
    up = Up(data_dir, "--port-base", "0")
    info = up.wait_ready()
    yield up, info
    up.stop()


@pytest.fixture(scope="module")
def facts() -> dict[str, int]:
    """What one test learns and the next relies on (the tests run in order on one data folder)."""
    return {}


def _checkpoint_size(registry: str) -> int:
    import urllib.request

    with urllib.request.urlopen(registry + "/checkpoint", timeout=5) as response:
        return int(response.read().decode().splitlines()[1])


def test_first_run_prints_one_json_line_and_every_service_answers(first_run: Any, data_dir: Path) -> None:
    up, info = first_run
    assert len(up.stdout_lines) == 1 and up.stdout_lines[0].endswith(b"\n")
    assert KEYS <= set(info)
    for key in ("registry", "issuer", "verifier"):
        assert info[key].startswith("http://127.0.0.1:")
    assert len(set(up.ports())) == 4

    # The office: its metadata offers national_id; the officer token works on the admin API, and nothing without it.
    status, metadata = http(info["issuer"] + "/.well-known/openid-credential-issuer")
    assert status == 200 and "national_id" in metadata["credential_configurations_supported"]
    assert http(info["issuer"] + "/admin/credentials", token=info["officer_token"])[0] == 200
    assert http(info["issuer"] + "/admin/credentials")[0] == 401

    # The counter: the standard policies, and the counter token opens a request.
    status, policies = http(info["verifier"] + "/api/policies")
    assert status == 200
    listed = {p["id"] for p in policies["policies"]} if isinstance(policies, dict) else {p["id"] for p in policies}
    assert {"age-over-18", "senior-bus-pass", "resident", "benefit"} <= listed
    status, opened = http(info["verifier"] + "/api/requests", body={"policy": "age-over-18"}, token=info["counter_token"])
    assert status == 201 and opened["request_uri"].startswith("openid4vp://")
    assert http(info["verifier"] + "/api/requests", body={"policy": "age-over-18"})[0] == 401

    # The registry: witnessed (quorum 1), and a client pinned to the policy file sees the accredited office.
    from registry.client import from_url

    policy = json.loads(Path(info["registry_policy"]).read_text())
    assert policy["quorum"] == 1 and len(policy["witnesses"]) == 1 and policy["roots"] == [info["root_did"]]
    client = from_url(info["registry"], info["registry_policy"], cache_ttl=0)
    client.check_accredited(info["office_did"], "urn:civicid:national_id:1", int(time.time()))
    assert client.credential_type("urn:civicid:national_id:1")["vct"] == "urn:civicid:national_id:1"

    # Bootstrap secrets are private files; the console login is the one printed.
    for name in ("state.json", "registry-policy.json", "keys/root.key", "keys/root.next", "issuer/office.keystore",
                 "registry/log-key.seed", "witness/witness-key.seed", "up.json"):
        assert (data_dir / name).stat().st_mode & 0o777 == 0o600, name
    assert data_dir.stat().st_mode & 0o777 == 0o700
    assert info["officer_username"] and len(info["officer_password"]) >= 12


def test_ctrl_c_stops_every_process_and_frees_the_ports(first_run: Any, data_dir: Path, facts: dict[str, int]) -> None:
    up, info = first_run
    ports = up.ports()
    facts["size"] = _checkpoint_size(info["registry"])
    started = time.monotonic()
    assert up.stop(signal.SIGINT) == 0, up.errors()
    assert time.monotonic() - started < 30
    assert "stopped" in up.errors()
    assert all(port_free(p) for p in ports)
    assert processes_mentioning(str(data_dir)) == []
    assert not (data_dir / "up.json").exists()


def test_second_run_reuses_the_bootstrap_and_the_ports(first_run: Any, data_dir: Path, facts: dict[str, int]) -> None:
    _, first = first_run
    assert facts["size"] > 0
    up = Up(data_dir)  # No --port-base: the last run's ports.
    try:
        again = up.wait_ready(60)
        for key in ("registry", "issuer", "verifier", "witness", "officer_token", "counter_token", "office_did", "root_did",
                    "officer_password"):
            assert again[key] == first[key], key
        assert "bootstrapping" not in up.errors()
        # Nothing new went on the ledger: the same root, the same office, no second accreditation.
        assert wait_until(lambda: _checkpoint_size(again["registry"]) == facts["size"], 5)
        assert http(again["issuer"] + "/admin/credentials", token=again["officer_token"])[0] == 200
        # A second `up` on the same folder is refused while this one runs.
        other = Up(data_dir, "--port-base", "0")
        assert other.process.wait(timeout=30) == 1
        assert "error: data_dir_in_use:" in other.errors()
        other.stop()
    finally:
        ports = up.ports() if up.info else []
        assert up.stop(signal.SIGTERM) == 0
    assert all(port_free(p) for p in ports)
    assert processes_mentioning(str(data_dir)) == []


def test_a_killed_up_leaves_no_orphan_servers(first_run: Any, data_dir: Path) -> None:
    up = Up(data_dir)
    up.wait_ready(60)
    ports = up.ports()
    up.process.kill()  # SIGKILL: no chance to clean up; the children die with their parent.
    up.process.wait()
    assert wait_until(lambda: processes_mentioning(str(data_dir)) == [], 30), processes_mentioning(str(data_dir))
    assert all(port_free(p) for p in ports)
    up.stop()


def test_a_service_that_cannot_start_is_named_with_its_log(first_run: Any, data_dir: Path) -> None:
    key_file = data_dir / "verifier" / "verifier-key.json"
    saved = key_file.read_bytes()
    key_file.write_text('{"seed": "not a key"}')
    try:
        up = Up(data_dir)
        assert up.process.wait(timeout=60) == 1
        errors = up.errors().strip().splitlines()
        assert errors[-1].startswith("error: service_failed: the verifier exited with status")
        assert str(data_dir / "logs" / "verifier.log") in errors[-1]
        up.stop()
        assert processes_mentioning(str(data_dir)) == []
    finally:
        key_file.write_bytes(saved)
