"""Shared data and helpers for the wallet tests (a module, so tests can import it; fixtures are in conftest.py)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from click.testing import CliRunner

import sdjwt
from registry.trust import StaticTrust

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


@dataclass
class PKI:
    issuer_key: sdjwt.Ed25519PrivateKey
    verifier_key: sdjwt.Ed25519PrivateKey
    trust: StaticTrust
    trust_file: Path


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


AGE_QUERY: dict[str, Any] = {"credentials": [{"id": "pid", "format": "dc+sd-jwt", "meta": {"vct_values": [NATIONAL_ID]},
                                              "claims": [{"path": ["age_equal_or_over", "18"]}]}]}


def offer_link(issuer: Any, pin: str | None = None, ttl: float = 600, claims: dict[str, Any] | None = None) -> str:
    import urllib.parse

    offer_id = issuer.state.add_offer("national_id", claims or CLAIMS, pin=pin, ttl=ttl)
    return "openid-credential-offer://?credential_offer_uri=" + urllib.parse.quote(f"{issuer.url}/offers/{offer_id}", safe="")


def received_id(run: Runner, issuer: Any, **kwargs: Any) -> str:
    run("init")
    result = run("receive", offer_link(issuer, **kwargs), env={"CIVICID_WALLET_PIN": kwargs.get("pin") or ""})
    assert result.exit_code == 0, result.stderr
    return str(result.stdout.strip())
