"""Shared helpers of the issuer tests: the office under test, a controllable clock, sample claims."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterator

import pytest

import sdjwt
from issuer import create_app
from issuer.offers import OfferSettings, create_offers
from issuer.officers import create_token
from registry.trust import StaticTrust

from issuer_wallet_client import WalletClient

ISSUER_DID = "did:civic:QmTestOffice1111111111111111111111111111111111"
ISSUER_KID = ISSUER_DID + "#key-1"
START = 1_760_000_000  # 2025-10-09


class Clock:
    def __init__(self, now: int = START) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now

    def advance(self, seconds: int) -> None:
        self.now += seconds


NATIONAL_ID = {
    "given_name": "Mei",
    "family_name": "Chen",
    "birthdate": "1990-02-28",
    "sex": 2,
    "nationalities": ["CN"],
    "personal_identifier": "110101-1990-0228",
    "address": {
        "street_address": "1 Chang'an Avenue",
        "locality": "Beijing",
        "region": "Beijing",
        "postal_code": "100000",
        "country": "CN",
    },
}


@dataclass
class Office:
    app: Any
    url: str
    clock: Clock
    key: sdjwt.Ed25519PrivateKey
    trust: StaticTrust
    officer_token: str
    supervisor_token: str
    auditor_token: str

    @property
    def store(self) -> Any:
        return self.app.extensions["civicid_issuer_store"]

    def offer(self, claims: dict[str, Any] | None = None, configuration_id: str = "national_id") -> Any:
        types = self.app.extensions["civicid_issuer_types"]
        with self.app.app_context():
            return create_offers(
                self.store,
                OfferSettings.from_config(self.app.config),
                types[configuration_id],
                claims if claims is not None else NATIONAL_ID,
                actor="test",
                now=self.clock(),
                random=__import__("nacl.utils").utils.random,
            )

    def wallet(self) -> WalletClient:
        return WalletClient(clock=self.clock)


def make_app(db: str, clock: Clock, key: sdjwt.PrivateKey, **extra: Any) -> Any:
    return create_app(
        {
            "TESTING": True,
            "DATABASE": db,
            "PUBLIC_URL": "http://127.0.0.1:1",
            "SECRET_KEY": "k" * 40,
            "DID": ISSUER_DID,
            "KID": ISSUER_KID,
            "SIGNING_KEY": key,
            "CLOCK": clock,
            **extra,
        }
    )


