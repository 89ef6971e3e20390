"""`civicid issuer init / rotate-key / recover` against a real registry server, checked through the verifying client."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable

import pytest
from click.testing import CliRunner

from issuer.cli import cli
from registry.app import create_app
from registry.client import from_url
from registry.did import KeySpec, create_op
from registry.errors import KeyNotValid
from registry.trust import NotTrusted
from sdjwt import Ed25519PrivateKey


@pytest.fixture
def registry(tmp_path: Path, live_server: Callable[[Any], Any]) -> Any:
    ministry_seed = bytes([11]) * 32
    spec = KeySpec("key-1", Ed25519PrivateKey(ministry_seed))
    entry, ministry = create_op([spec], [], [Ed25519PrivateKey(bytes([12]) * 32).public_key()], int(time.time()) - 10)
    app = create_app({"TESTING": True, "INSTANCE_PATH": str(tmp_path / "registry"), "DB": str(tmp_path / "registry.db"),
                      "ROOTS": ministry, "CHECKPOINT_INTERVAL": 0.05})
    app.extensions["civicid.ledger"].submit([entry.raw])
    server = live_server(app)
    (tmp_path / "ministry.key").write_bytes(ministry_seed)
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps(app.extensions["civicid.policy"].to_json()))
    yield server.url, tmp_path, str(policy)
    app.extensions["civicid.ledger"].stop()


def _eventually(check: Callable[[], Any], seconds: float = 15) -> Any:
    """The registry answers from its latest witnessed checkpoint, which trails a write by a moment."""
    deadline = time.time() + seconds
    while True:
        try:
            return check()
        except (KeyNotValid, NotTrusted, AssertionError):
            if time.time() > deadline:
                raise
            time.sleep(0.1)


def _issuer(*args: str, policy: str) -> dict[str, Any]:
    result = CliRunner(env={"CIVICID_ISSUER_REGISTRY_POLICY": policy}).invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout.strip().splitlines()[0])


def test_an_office_registers_rotates_and_recovers_on_the_registry(registry: Any) -> None:
    url, tmp, policy = registry
    common = ["--keystore", str(tmp / "office.keystore"), "--passphrase", "correct horse", "--registry-url", url]
    created = _issuer("init", *common, "--authority-key", str(tmp / "ministry.key"), policy=policy)
    did, kid = created["did"], created["kid"]
    assert did.startswith("did:civic:") and created["accredited"] is True
    client = from_url(url, policy, cache_ttl=0)
    issued_at = int(time.time())
    first_key = _eventually(lambda: client.key_at(did, kid, issued_at))
    _eventually(lambda: client.check_accredited(did, "urn:civicid:national_id:1", issued_at))
    assert _eventually(lambda: client.credential_type("urn:civicid:national_id:1"))["claims"]

    time.sleep(1.1)
    rotated = _issuer("rotate-key", *common, policy=policy)
    after = int(time.time()) + 2
    assert _eventually(lambda: client.key_at(did, rotated["kid"], after)) != first_key
    assert client.key_at(did, kid, issued_at) == first_key  # Signed before the rotation: still verifies.
    with pytest.raises(KeyNotValid, match="removed"):
        client.key_at(did, kid, after)

    time.sleep(1.1)
    stolen_since = after - 1
    recovered = _issuer("recover", *common, "--compromised-since", str(stolen_since), policy=policy)
    _eventually(lambda: client.key_at(did, recovered["kid"], int(time.time()) + 2))
    with pytest.raises(KeyNotValid, match="compromised"):
        client.key_at(did, rotated["kid"], stolen_since + 1)


def test_init_without_the_authority_key_prints_the_registry_command(registry: Any) -> None:
    url, tmp, policy = registry
    result = CliRunner(env={"CIVICID_ISSUER_REGISTRY_POLICY": policy}).invoke(
        cli, ["init", "--keystore", str(tmp / "b.keystore"), "--passphrase", "a long enough passphrase", "--registry-url", url])
    assert result.exit_code == 0, result.output
    assert "civicid registry accredit did:civic:" in result.output
    assert json.loads(result.stdout.splitlines()[0])["accredited"] is False
