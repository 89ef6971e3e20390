"""The wallet side of tests/vectors/oid4vci/*.json (see the README there); the issuer runs the same files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import sdjwt
from wallet.errors import IssuanceFailed, WalletError
from wallet.issuance import IssuerMetadata, _nonce, _oauth_error, _redeem, _token_error
from wallet.keys import proof_jwt
from wallet.offer import CredentialOffer, parse_offer_link
from wallet.transport import Http, Response

FOLDER = Path(__file__).resolve().parents[1] / "vectors" / "oid4vci"
VECTORS = sorted(FOLDER.glob("*.json"))
WALLET_KINDS = {"offer_object", "offer_link", "token_response", "token_error", "nonce_response", "credential_error",
                "credential_response", "wallet_proof"}


def _load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def _response(body: Any, status: int = 200) -> Response:
    return Response(status, "application/json", json.dumps(body).encode(), {})


class _Canned(Http):
    """An Http that answers every POST with one canned response (no network)."""

    def __init__(self, response: Response) -> None:
        super().__init__()
        self.response = response

    def request(self, *args: Any, **kwargs: Any) -> Response:
        return self.response


def _credentials(answer: dict[str, Any]) -> list[str]:
    """The checks `wallet.issuance.receive` applies to a Credential Response (section 8.3), in its order."""
    if "transaction_id" in answer and "credentials" not in answer:
        raise IssuanceFailed("deferred")
    issued = answer.get("credentials")
    if not isinstance(issued, list) or not issued:
        raise IssuanceFailed("no credentials")
    if not all(isinstance(item, dict) and isinstance(item.get("credential"), str) for item in issued):
        raise IssuanceFailed("not credential objects")
    return [item["credential"] for item in issued]


def _run(case: dict[str, Any]) -> dict[str, Any]:
    kind, value = case["kind"], case["input"]
    if kind == "offer_link":
        link = parse_offer_link(value, allow_loopback_http=False)
        if link.offer is not None:
            offer = CredentialOffer.from_json(link.offer, allow_loopback_http=False)
            return {"credential_issuer": offer.credential_issuer}
        return {"offer_uri": link.offer_uri}
    if kind == "offer_object":
        offer = CredentialOffer.from_json(value, allow_loopback_http=False)
        tx = offer.tx_code
        return {"credential_issuer": offer.credential_issuer, "credential_configuration_ids": list(offer.credential_configuration_ids),
                "pre_authorized_code": offer.pre_authorized_code,
                "tx_code": {"input_mode": tx.input_mode, "length": tx.length} if tx else None}
    if kind == "token_response":
        offer = CredentialOffer("https://office.example", ("national_id",), "code", None, None)
        return {"access_token": _redeem(_Canned(_response(value)), "https://office.example/token", offer, None)}
    if kind == "token_error":
        raise _token_error(_response(value, case["status"]))
    if kind == "nonce_response":
        metadata = IssuerMetadata("https://office.example", "https://office.example/credential", "https://office.example/nonce",
                                  ("https://office.example",), 10, (), {})
        return {"c_nonce": _nonce(_Canned(_response(value)), metadata)}
    if kind == "credential_error":
        return {"error": _oauth_error(_response(value, case["status"]), "credential error")[0]}
    if kind == "credential_response":
        return {"credentials": len(_credentials(value))}
    raise AssertionError(kind)


CASES = [p for p in VECTORS if _load(p)["kind"] in WALLET_KINDS - {"wallet_proof"}]


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_vector(path: Path) -> None:
    case = _load(path)
    if case["kind"] == "credential_error":
        assert _run(case) == {"error": case["error"]}
    elif "error" in case:
        with pytest.raises(WalletError) as info:
            _run(case)
        assert info.value.code == case["error"]
    else:
        result = _run(case)
        for key, value in case["expected"].items():
            assert result[key] == value


def test_wallet_proof_is_the_valid_vector_proof() -> None:
    """Appendix F.1: the wallet's proof for the vector's key, aud, nonce and iat is the issuer-accepted proof, byte for byte."""
    case = _load(FOLDER / "wallet-proof-jwt.json")
    key = sdjwt.Ed25519PrivateKey(bytes.fromhex(case["seed"]))
    made = proof_jwt(key, audience=case["audience"], nonce=case["nonce"], iat=case["iat"])
    assert made == case["expected"]
    assert made == _load(FOLDER / "credential-request-valid.json")["input"]["proofs"]["jwt"][0]


def test_wallet_kinds_are_covered() -> None:
    assert {_load(p)["kind"] for p in VECTORS} >= WALLET_KINDS
