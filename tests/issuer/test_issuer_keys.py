"""Keystore (Argon2id + SecretBox, 0600, atomic) and the key lifecycle through the Registrar."""

from __future__ import annotations

import json
import os
import stat
from typing import Any

import nacl.utils
import pytest
from click.testing import CliRunner

import sdjwt
from issuer.cli import cli
from issuer.errors import KeystoreError, RegistrationError
from issuer.keys import Keystore, next_key_commitment
from issuer.registration import StaticTrustRegistrar, registrar_for
from registry.trust import NotTrusted, StaticTrust

PASS = "correct horse battery staple"


def test_keystore_roundtrip_mode_and_errors(tmp_path: Any) -> None:
    path = str(tmp_path / "ks.json")
    ks = Keystore.create(path, PASS, now=1)
    ks.did = "did:civic:x"
    ks.save()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    text = open(path).read()
    assert ks.signing_key().public_key().public_jwk()["x"] not in text  # Encrypted, not just encoded.
    again = Keystore.open(path, PASS)
    assert again.signing_key().public_key() == ks.signing_key().public_key() and again.did == "did:civic:x"
    with pytest.raises(KeystoreError, match="wrong keystore passphrase"):
        Keystore.open(path, "wrong passphrase!!")
    with pytest.raises(KeystoreError, match="already exists"):
        Keystore.create(path, PASS, now=1)
    doc = json.loads(text)
    doc["box"] = doc["box"][:-4] + "AAAA"
    open(path, "w").write(json.dumps(doc))
    with pytest.raises(KeystoreError, match="passphrase|altered"):
        Keystore.open(path, PASS)
    open(path, "w").write("{")
    with pytest.raises(KeystoreError, match="not JSON"):
        Keystore.open(path, PASS)
    assert [p for p in os.listdir(tmp_path) if p.startswith(".keystore-")] == []


def _credential(key: sdjwt.PrivateKey, did: str, kid: str, iat: int) -> str:
    return sdjwt.issue({"a": 1}, disclosable=[], issuer_key=key, kid=f"{did}#{kid}", iss=did, vct="urn:x", iat=iat, random=nacl.utils.random).serialize()


def _verifies(trust: StaticTrust, credential: str, now: int) -> bool:
    try:
        sdjwt.verify(credential, issuer_key=trust.issuer_key_lookup(), algorithms=["EdDSA"], now=now, require_key_binding=False)
    except sdjwt.SDJWTError:
        return False
    return True


def test_rotation_keeps_old_credentials_and_recovery_cuts_off_stolen_key(tmp_path: Any) -> None:
    trust = StaticTrust()
    registrar = StaticTrustRegistrar(trust)
    ks = Keystore.create(str(tmp_path / "k"), PASS, now=100)
    did = registrar.create_did(ks.signing_key("key-1"), "key-1", ks.recovery_key.public_key(), next_key_commitment(ks.next_key), now=100)
    before = _credential(ks.signing_key("key-1"), did, "key-1", 150)
    old_key, new_key = ks.signing_key("key-1"), ks.next_key
    ks.rotate(now=200)
    registrar.rotate(did, old_key, "key-1", new_key, "key-2", next_key_commitment(ks.next_key), now=200)
    assert _verifies(trust, before, 300)  # Signed before the rotation: still good.
    assert not _verifies(trust, _credential(old_key, did, "key-1", 250), 300)  # Old key after rotation: refused.
    assert _verifies(trust, _credential(ks.signing_key("key-2"), did, "key-2", 250), 300)
    # Rotating to a key that was not pre-committed is refused (a thief of the active key cannot rotate).
    with pytest.raises(RegistrationError, match="pre-rotation"):
        registrar.rotate(did, ks.signing_key("key-2"), "key-2", sdjwt.Ed25519PrivateKey.generate(), "key-3", "x", now=260)
    # Compromise of key-2 from 400; recovery at 500.
    stolen = ks.signing_key("key-2")
    recovery = ks.recovery_key
    compromised, new = ks.recover(now=500)
    registrar.recover(did, recovery, compromised, 400, ks.signing_key(new), new, ks.recovery_key.public_key(), next_key_commitment(ks.next_key), now=500)
    assert compromised == ["key-2"] and new == "key-3"
    assert _verifies(trust, _credential(stolen, did, "key-2", 350), 600)  # Before the compromise.
    assert not _verifies(trust, _credential(stolen, did, "key-2", 450), 600)  # Forged after it.
    assert _verifies(trust, _credential(ks.signing_key("key-3"), did, "key-3", 550), 600)
    with pytest.raises(KeystoreError, match="compromised"):
        ks.signing_key("key-2")


def test_init_rotate_recover_cli(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CIVICID_ISSUER_KEYSTORE_PASSPHRASE", PASS)
    ks_path = str(tmp_path / "office.keystore")
    runner = CliRunner()
    result = runner.invoke(cli, ["init", "--keystore", ks_path, "--registry-url", "memory:cli-test"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["accredited"] is False and "civicid registry accredit " + out["did"] in result.stderr
    registrar = registrar_for("memory:cli-test")
    assert isinstance(registrar, StaticTrustRegistrar)
    # With the authority's key, init accredits and publishes the types.
    authority = sdjwt.Ed25519PrivateKey.generate()
    registrar.authority_keys = [authority.public_key()]
    jwk_path = tmp_path / "authority.jwk"
    jwk_path.write_text(json.dumps(authority.private_jwk()))
    result = runner.invoke(cli, ["init", "--keystore", str(tmp_path / "second"), "--registry-url", "memory:cli-test", "--authority-key", str(jwk_path), "--type", "national_id"])
    assert result.exit_code == 0, result.output
    did2 = json.loads(result.stdout)["did"]
    registrar.trust.check_accredited(did2, "urn:civicid:national_id:1", int(__import__("time").time()))
    assert registrar.trust.credential_type("urn:civicid:national_id:1")["vct"] == "urn:civicid:national_id:1"
    with pytest.raises(NotTrusted):
        registrar.trust.check_accredited(did2, "urn:civicid:residence_permit:1", int(__import__("time").time()))
    result = runner.invoke(cli, ["rotate-key", "--keystore", ks_path, "--registry-url", "memory:cli-test"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["kid"].endswith("#key-2")
    assert Keystore.open(ks_path, PASS).active_fragment == "key-2"
    result = runner.invoke(cli, ["recover", "--keystore", ks_path, "--registry-url", "memory:cli-test", "--compromised-since", "0"])
    assert result.exit_code == 0, result.output
    assert Keystore.open(ks_path, PASS).active_fragment == "key-3"
    result = runner.invoke(cli, ["rotate-key", "--keystore", ks_path, "--registry-url", "memory:cli-test"], env={"CIVICID_ISSUER_KEYSTORE_PASSPHRASE": "wrong passphrase!!"})
    assert result.exit_code == 1 and result.output.strip() == "error: wrong keystore passphrase (or the file was altered) [keystore_error]"
    result = runner.invoke(cli, ["init", "--keystore", str(tmp_path / "third"), "--registry-url", "http://127.0.0.1:9"])
    assert result.exit_code == 1 and "cannot use the registry at http://127.0.0.1:9" in result.output
    result = runner.invoke(cli, ["init", "--keystore", str(tmp_path / "fourth"), "--registry-url", "ftp://registry.example"])
    assert result.exit_code == 1 and "no registry" in result.output
