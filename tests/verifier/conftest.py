"""Fixtures for the verifier tests: a registry stand-in, an issuing office, a holder and a pipeline."""

from __future__ import annotations

from verifier_constants import AUD, NONCE, TOKEN  # noqa: F401 - fixtures use them; tests import them from there

import json
from typing import Any

import pytest

import sdjwt
from verifier.pipeline import MemoryReplayGuard, Pipeline
from verifier.policy import load_policies
from verifier.status import StatusLists
from verifier_helpers import T0, Issuer, LedgerTrust



@pytest.fixture
def trust() -> LedgerTrust:
    return LedgerTrust()


@pytest.fixture
def issuer(trust: LedgerTrust) -> Issuer:
    return Issuer(trust)


@pytest.fixture
def holder() -> sdjwt.Ed25519PrivateKey:
    return sdjwt.Ed25519PrivateKey(b"\x22" * 32)


@pytest.fixture
def policies() -> Any:
    return load_policies()


@pytest.fixture
def pipeline(trust: LedgerTrust, issuer: Issuer) -> Pipeline:
    status = StatusLists(trust.key_at, issuer.fetcher())
    return Pipeline(trust, status, replay=MemoryReplayGuard())


@pytest.fixture
def now() -> int:
    return T0 + 100


SIGNING_SEED = b"\x44" * 32


class Clock:
    """An injected clock the tests move forward."""

    def __init__(self, now: int) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(T0 + 100)


@pytest.fixture
def cli_env(tmp_path: Any) -> dict[str, str]:
    """The environment of ``civicid verifier`` on the command line: an empty trust snapshot, SQLite in tmp_path."""
    trust = tmp_path / "cli-trust.json"
    trust.write_text(json.dumps({"snapshot_time": 0, "keys": [], "accreditations": []}))
    return {
        "CIVICID_VERIFIER_INSTANCE_PATH": str(tmp_path / "instance"),
        "CIVICID_VERIFIER_PUBLIC_URL": "https://verifier.example",
        "CIVICID_VERIFIER_API_TOKENS": json.dumps([TOKEN]),
        "CIVICID_VERIFIER_TRUST_FILE": str(trust),
        "CIVICID_VERIFIER_DATABASE": str(tmp_path / "v.db"),
    }


@pytest.fixture
def make_app(trust: LedgerTrust, issuer: Issuer, clock: Clock, tmp_path: Any) -> Any:
    """``make_app(db_url, **overrides)``: a verifier app in testing mode with injected trust, clock and status lists."""
    from verifier import create_app

    def make(database: str | None = None, **overrides: Any) -> Any:
        config = {
            "TESTING": True,
            "INSTANCE_PATH": str(tmp_path / "instance"),
            "DATABASE": database or str(tmp_path / "verifier.db"),
            "TRUST": trust,
            "STATUS_FETCHER": issuer.fetcher(clock),
            "CLOCK": clock,
            "SIGNING_KEY": sdjwt.Ed25519PrivateKey(SIGNING_SEED),
            "API_TOKENS": [TOKEN],
        }
        config.update(overrides)
        return create_app(config)

    return make
