"""Fixtures for the verifier tests: a registry stand-in, an issuing office, a holder and a pipeline."""

from __future__ import annotations

from typing import Any

import pytest

import sdjwt
from verifier.pipeline import MemoryReplayGuard, Pipeline
from verifier.policy import load_policies
from verifier.status import StatusLists
from verifier_helpers import T0, Issuer, LedgerTrust

AUD = "decentralized_identifier:did:key:z6MkTestVerifier"
NONCE = "n-0S6_WzA2Mj"


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
