"""Fixtures for the wallet tests: a cheap KDF, a test PKI with type metadata, and spec-following servers."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from click.testing import CliRunner

import sdjwt
from registry.trust import StaticTrust

import wallet.store
from wallet.cli import cli

ISSUER_DID = "did:civic:testissuer"
ISSUER_KID = ISSUER_DID + "#key-1"
VERIFIER_DID = "did:civic:testverifier"
VERIFIER_KID = VERIFIER_DID + "#key-1"
NATIONAL_ID = "urn:civicid:national_id:1"
PASSPHRASE = "correct horse battery staple"
CANARY = "Canarywren"


def _label(en: str, zh: str) -> list[dict[str, str]]:
    return [{"locale": "en", "label": en}, {"locale": "zh-CN", "label": zh}]


TYPE_METADATA: dict[str, Any] = {
    "vct": NATIONAL_ID,
    "name": "National ID",
    "display": [{"locale": "en", "name": "National ID"}, {"locale": "zh-CN", "name": "居民身份证"}],
    "claims": [
        {"path": ["given_name"], "display": _label("Given name", "名"), "sd": "always"},
        {"path": ["family_name"], "display": _label("Family name", "姓"), "sd": "always"},
        {"path": ["birthdate"], "display": _label("Date of birth", "出生日期"), "sd": "always"},
        {"path": ["address", "locality"], "display": _label("City", "城市"), "sd": "always"},
        {"path": ["nationalities", None], "display": _label("Nationality", "国籍"), "sd": "always"},
        {"path": ["age_equal_or_over", "18"], "display": _label("Over 18", "年满18岁"), "sd": "always"},
        {"path": ["age_equal_or_over", "65"], "display": _label("Over 65", "年满65岁"), "sd": "always"},
    ],
}

CLAIMS: dict[str, Any] = {
    "given_name": CANARY,
    "family_name": "Zhang",
    "birthdate": "1990-04-01",
    "address": {"locality": "Hangzhou"},
    "nationalities": ["CN"],
    "age_equal_or_over": {"18": True, "65": False},
}

DISCLOSABLE = [("given_name",), ("family_name",), ("birthdate",), ("address", "locality"), ("nationalities", None),
               ("age_equal_or_over", "18"), ("age_equal_or_over", "65")]


@pytest.fixture(autouse=True)
def fast_kdf(monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process tests use libsodium's minimum Argon2id cost; subprocess tests pay the real one."""
    fast = wallet.store.KdfParams(opslimit=1, memlimit=8192)
    monkeypatch.setattr(wallet.store, "DEFAULT_KDF", fast)
    monkeypatch.setattr(wallet.store, "BACKUP_KDF", fast)


@dataclass
class PKI:
    issuer_key: sdjwt.Ed25519PrivateKey
    verifier_key: sdjwt.Ed25519PrivateKey
    trust: StaticTrust
    trust_file: Path


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
    from .oid4vci_server import IssuerState

    return IssuerState(pki.issuer_key, ISSUER_DID, ISSUER_KID, {"national_id": NATIONAL_ID},
                       {"national_id": DISCLOSABLE})


@pytest.fixture
def issuer(issuer_state: Any, live_server: Callable[[Any], Any]) -> Any:
    from .oid4vci_server import create_app

    server = live_server(create_app(issuer_state))
    server.state = issuer_state
    return server


@dataclass
class Runner:
    home: Path
    pki: PKI
    runner: CliRunner

    def __call__(self, *args: str, input: str | None = None, env: dict[str, str] | None = None,
                 passphrase: str | None = PASSPHRASE) -> Any:
        full_env = {"CIVICID_WALLET_PASSPHRASE": passphrase} if passphrase is not None else {}
        full_env.update(env or {})
        argv = ["--home", str(self.home), "--trust", str(self.pki.trust_file), "--insecure-loopback", *args]
        return self.runner.invoke(cli, argv, input=input, env=full_env, catch_exceptions=False)


@pytest.fixture
def run(tmp_path: Path, pki: PKI, monkeypatch: pytest.MonkeyPatch) -> Iterator[Runner]:
    for name in ("CIVICID_WALLET_PASSPHRASE", "CIVICID_WALLET_NEW_PASSPHRASE", "CIVICID_WALLET_BACKUP_PASSPHRASE",
                 "CIVICID_WALLET_PIN", "CIVICID_WALLET_HOME", "CIVICID_WALLET_LANG", "LANG", "LC_ALL"):
        monkeypatch.delenv(name, raising=False)
    # click 8.2+ keeps result.stdout and result.stderr apart.
    yield Runner(tmp_path / "home", pki, CliRunner())


@pytest.fixture
def verifier(pki: PKI, live_server: Callable[[Any], Any]) -> Any:
    from .oid4vp_server import VerifierState, create_app

    state = VerifierState(pki.verifier_key, VERIFIER_DID, VERIFIER_KID, pki.trust)
    server = live_server(create_app(state))
    state.url = server.url
    server.state = state
    return server


AGE_QUERY: dict[str, Any] = {"credentials": [{"id": "pid", "format": "dc+sd-jwt", "meta": {"vct_values": [NATIONAL_ID]},
                                              "claims": [{"path": ["age_equal_or_over", "18"]}]}]}
