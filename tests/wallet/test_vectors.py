"""Runs tests/vectors/wallet/*.json (see the README there)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import wallet
from wallet.errors import WalletError
from wallet.offer import CredentialOffer, parse_offer_link
from wallet.presentation import parse_request_link

VECTORS = sorted((Path(__file__).resolve().parents[1] / "vectors" / "wallet").glob("*.json"))


def _run(case: dict[str, Any]) -> dict[str, Any]:
    if case["kind"] == "offer_link":
        link = parse_offer_link(case["input"], allow_loopback_http=False)
        if link.offer is not None:
            offer = CredentialOffer.from_json(link.offer, allow_loopback_http=False)
            tx = offer.tx_code
            return {"credential_issuer": offer.credential_issuer,
                    "credential_configuration_ids": list(offer.credential_configuration_ids),
                    "tx_code": {"input_mode": tx.input_mode, "length": tx.length} if tx else None}
        return {"offer_uri": link.offer_uri}
    if case["kind"] == "offer_object":
        offer = CredentialOffer.from_json(case["input"], allow_loopback_http=False)
        return {"credential_issuer": offer.credential_issuer}
    link2 = parse_request_link(case["input"], allow_loopback_http=False)
    return {"client_id": link2.client_id, "request_uri": link2.request_uri, "request": link2.request}


@pytest.mark.parametrize("path", VECTORS, ids=[p.stem for p in VECTORS])
def test_vector(path: Path) -> None:
    case = json.loads(path.read_text())
    if "error" in case:
        with pytest.raises(WalletError) as info:
            _run(case)
        assert info.value.code == case["error"]
    else:
        result = _run(case)
        for key, value in case["expected"].items():
            assert result[key] == value


def test_vectors_exist() -> None:
    assert len(VECTORS) >= 10


def test_wallet_errors_all_pinned() -> None:
    import wallet.errors as errors

    assert set(errors.__all__) == {name for name in dir(errors) if isinstance(getattr(errors, name), type)
                                   and issubclass(getattr(errors, name), WalletError)} | {"ERROR_CODES"}
    assert wallet.__doc__
