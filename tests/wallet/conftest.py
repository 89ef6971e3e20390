"""Fixtures for the wallet tests: a cheap KDF, a test PKI with type metadata, and spec-following servers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from click.testing import CliRunner
from registry.trust import StaticTrust
from wallet_support import ISSUER_DID, ISSUER_KID, NATIONAL_ID, TYPE_METADATA, VERIFIER_DID, VERIFIER_KID, DISCLOSABLE, PKI, Runner

import sdjwt
import wallet.store


@pytest.fixture(autouse=True)
def fast_kdf(monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process tests use libsodium's minimum Argon2id cost; subprocess tests pay the real one."""
    fast = wallet.store.KdfParams(opslimit=1, memlimit=8192)
    monkeypatch.setattr(wallet.store, "DEFAULT_KDF", fast)
    monkeypatch.setattr(wallet.store, "BACKUP_KDF", fast)


@pytest.fixture
def pki(tmp_path: Path) -> PKI:
    issuer_key = sdjwt.Ed25519PrivateKey(bytes(range(32)))
    verifier_key = sdjwt.Ed25519PrivateKey(bytes(range(1, 33)))
    trust = StaticTrust()
    trust.add_key(ISSUER_DID, ISSUER_KID, issuer_key.public_key())
    trust.add_key(VERIFIER_DID, VERIFIER_KID, verifier_key.public_key())
    trust.accredit(ISSUER_DID, NATIONAL_ID)
    trust.publish_type(NATIONAL_ID, TYPE_METADATA)
    snapshot = {
        "keys": [
            {"did": ISSUER_DID, "kid": ISSUER_KID, "jwk": issuer_key.public_key().public_jwk()},
            {"did": VERIFIER_DID, "kid": VERIFIER_KID, "jwk": verifier_key.public_key().public_jwk()},
        ],
        "accreditations": [{"did": ISSUER_DID, "vct": NATIONAL_ID}],
        "types": {NATIONAL_ID: TYPE_METADATA},
    }
    trust_file = tmp_path / "trust.json"
    trust_file.write_text(json.dumps(snapshot, ensure_ascii=False))
    return PKI(issuer_key, verifier_key, trust, trust_file)


@pytest.fixture
def issuer_state(pki: PKI) -> Any:
    from wallet_test_issuer import IssuerState

    return IssuerState(pki.issuer_key, ISSUER_DID, ISSUER_KID, {"national_id": NATIONAL_ID},
                       {"national_id": DISCLOSABLE})


@pytest.fixture
def issuer(issuer_state: Any, live_server: Callable[[Any], Any]) -> Any:
    from wallet_test_issuer import create_app

    server = live_server(create_app(issuer_state))
    server.state = issuer_state
    return server


@pytest.fixture
def run(tmp_path: Path, pki: PKI, monkeypatch: pytest.MonkeyPatch) -> Iterator[Runner]:
    for name in ("CIVICID_WALLET_PASSPHRASE", "CIVICID_WALLET_NEW_PASSPHRASE", "CIVICID_WALLET_BACKUP_PASSPHRASE",
                 "CIVICID_WALLET_PIN", "CIVICID_WALLET_HOME", "CIVICID_WALLET_LANG", "LANG", "LC_ALL"):
        monkeypatch.delenv(name, raising=False)
    # click 8.2+ keeps result.stdout and result.stderr apart.
    yield Runner(tmp_path / "home", pki, CliRunner())


@pytest.fixture
def verifier(pki: PKI, live_server: Callable[[Any], Any]) -> Any:
    from wallet_test_verifier import VerifierState, create_app

    state = VerifierState(pki.verifier_key, VERIFIER_DID, VERIFIER_KID, pki.trust)
    app = create_app(state)
    server = live_server(app)
    state.url = server.url
    server.state = state
    server.hits = app.config["HITS"]  # Paths the verifier was asked for, in order.
    return server


