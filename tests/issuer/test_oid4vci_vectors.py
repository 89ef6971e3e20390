"""The issuer side of tests/vectors/oid4vci/*.json (see the README there); the wallet runs the same files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import sdjwt
from issuer.credential_types import load_types
from issuer.errors import OAuthError
from issuer.issuance import TokenGrant, check_proofs, parse_request
from issuer.offers import OfferSettings

from issuer_helpers import Clock, make_app

FOLDER = Path(__file__).resolve().parents[1] / "vectors" / "oid4vci"
VECTORS = sorted(FOLDER.glob("*.json"))
TYPES = load_types()
PRE_AUTH = "urn:ietf:params:oauth:grant-type:pre-authorized_code"


def _load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def _of(kind: str) -> list[Path]:
    return [p for p in VECTORS if _load(p)["kind"] == kind]


@pytest.fixture
def app(tmp_path: Any) -> Any:
    app = make_app(str(tmp_path / "vectors.db"), Clock(1_760_000_000), sdjwt.Ed25519PrivateKey.generate())
    app.config["PUBLIC_URL"] = "https://office.example"
    return app


def _offer(app: Any) -> tuple[str, str]:
    """A fresh offer's pre-authorized code (from its offer object) and PIN."""
    from issuer.offers import create_offers

    offer = create_offers(app.extensions["civicid_issuer_store"], OfferSettings.from_config(app.config),
                          TYPES["national_id"], {"given_name": "Mei", "family_name": "Chen", "birthdate": "1990-02-28",
                                                 "personal_identifier": "110101-1990-0228", "nationalities": ["CN"]},
                          actor="test", now=app.config["CLOCK"](), random=__import__("os").urandom)
    body = app.test_client().get(offer.credential_offer_uri.replace("https://office.example", "")).get_json()
    return body["grants"][PRE_AUTH]["pre-authorized_code"], offer.tx_code


@pytest.mark.parametrize("path", _of("credential_request"), ids=lambda p: p.stem)
def test_credential_request(path: Path) -> None:
    """Section 8.2 and Appendix F.1: the issuer's request and key proof checks give the vector's result."""
    case = _load(path)
    grant = TokenGrant("offer-1", case["configuration_id"])

    def run() -> int:
        jwts = parse_request(case["input"], grant, TYPES, case["batch_size"])
        return len(check_proofs(jwts, audience=case["audience"], now=case["now"], max_age=300))

    if "decoded" in case:
        # The specification's example proof: the header and payload decode to what the spec prints.
        from sdjwt.jws import CompactJWS

        jws = CompactJWS.parse(case["input"]["proofs"]["jwt"][0], "key proof")
        assert (jws.header, jws.payload) == (case["decoded"]["header"], case["decoded"]["payload"])
        try:
            run()
            outcome = "ok"
        except OAuthError as exc:
            outcome = exc.error
        assert outcome in case["expected_any"]
    elif "error" in case:
        with pytest.raises(OAuthError) as info:
            run()
        assert info.value.error == case["error"]
    else:
        assert run() == case["expected"]["proofs"]


@pytest.mark.parametrize("path", _of("token_request"), ids=lambda p: p.stem)
def test_token_request(path: Path, app: Any) -> None:
    """Sections 6.1 to 6.3 against the token endpoint (``@offer``/``@pin``/``@wrong`` are filled in from a fresh offer)."""
    case = _load(path)
    code, pin = _offer(app)
    wrong = "000000" if pin != "000000" else "111111"
    form = {k: {"@offer": code, "@pin": pin, "@wrong": wrong}.get(v, v) for k, v in case["input"].items()}
    response = app.test_client().post("/token", data=form)
    assert response.status_code == case["expected_status"]
    body = response.get_json()
    for key, value in case["expected"].items():
        assert body[key] == value
    if "expected_keys" in case:
        assert set(case["expected_keys"]) <= set(body)
        assert "no-store" in response.headers.get("Cache-Control", "")


@pytest.mark.parametrize("path", _of("token_error"), ids=lambda p: p.stem)
def test_token_error_bodies_are_what_the_issuer_sends(path: Path, app: Any) -> None:
    """The issuer's token errors use the vector's members (error, civicid_reason, attempts_remaining)."""
    case = _load(path)
    body = case["input"]
    extra = {k: v for k, v in body.items() if k not in ("error", "error_description")}
    with app.app_context():
        sent = json.loads(OAuthError(body["error"], "a description", **extra).to_response().get_data())
    assert {k: v for k, v in sent.items() if k != "error_description"} == {k: v for k, v in body.items() if k != "error_description"}


@pytest.mark.parametrize("path", _of("credential_error"), ids=lambda p: p.stem)
def test_credential_error_codes(path: Path, app: Any) -> None:
    """Section 8.3.1.2: each error code the issuer may answer is sent as the vector shows."""
    case = _load(path)
    with app.app_context():
        response = OAuthError(case["error"], "a description").to_response()
    assert response.status_code == case["status"]
    assert set(json.loads(response.get_data())) == set(case["input"])


def test_offer_object_matches_the_civicid_vector(app: Any) -> None:
    """Section 4.1.1: the issuer's offer object is the vector's, member for member (the code differs per offer)."""
    case = _load(FOLDER / "offer-civicid-shape.json")
    served = _served_offer(app, OfferSettings.from_config(app.config), "PLACEHOLDER")
    assert served == case["input"]


def _served_offer(app: Any, settings: OfferSettings, code: str) -> dict[str, Any]:
    from issuer.offers import create_offers

    offer = create_offers(app.extensions["civicid_issuer_store"], settings, TYPES["national_id"],
                          {"given_name": "Li", "family_name": "Wu", "birthdate": "1980-01-01", "personal_identifier": "110101-1980-0101",
                           "nationalities": ["CN"]}, actor="test", now=app.config["CLOCK"](), random=__import__("os").urandom)
    body: dict[str, Any] = app.test_client().get(offer.credential_offer_uri.replace("https://office.example", "")).get_json()
    body["grants"][PRE_AUTH]["pre-authorized_code"] = code
    return body


def test_offer_link_matches_the_civicid_vector() -> None:
    """Section 4.1.3: the issuer's offer link is the vector's ``credential_offer_uri`` link, byte for byte."""
    case = _load(FOLDER / "offer-by-reference-civicid.json")
    settings = OfferSettings(case["public_url"], b"k" * 40, 60, 6, 5, 600)
    assert settings.offer_link(case["ref"]) == case["input"]
    assert settings.offer_uri(case["ref"]) == case["expected"]["offer_uri"]


def test_nonce_and_credential_responses_match_the_vectors(app: Any) -> None:
    """Sections 7.2 and 8.3: the issuer's nonce and credential responses have the spec examples' members."""
    from issuer_wallet_client import make_proof

    client = app.test_client()
    nonce = client.post("/nonce")
    assert nonce.status_code == 200 and "no-store" in nonce.headers["Cache-Control"]
    assert set(nonce.get_json()) == set(_load(FOLDER / "nonce-response-spec.json")["input"])
    code, pin = _offer(app)
    token = client.post("/token", data={"grant_type": PRE_AUTH, "pre-authorized_code": code, "tx_code": pin}).get_json()["access_token"]
    c_nonce = client.post("/nonce").get_json()["c_nonce"]
    proof = make_proof(sdjwt.Ed25519PrivateKey.generate(), aud="https://office.example", nonce=c_nonce, iat=app.config["CLOCK"]())
    response = client.post("/credential", json={"credential_configuration_id": "national_id", "proofs": {"jwt": [proof]}},
                           headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.get_data()
    body = response.get_json()
    spec = _load(FOLDER / "credential-response-spec.json")["input"]
    assert set(body) >= set(spec) and "transaction_id" not in body
    assert [set(item) for item in body["credentials"]] == [set(item) for item in spec["credentials"]]


def test_every_vector_has_a_source_and_an_outcome() -> None:
    assert len(VECTORS) >= 50
    readme = (FOLDER / "README.md").read_text(encoding="utf-8")
    for path in VECTORS:
        case = _load(path)
        assert case["source"] and case["kind"] in readme
        assert {"error", "expected", "expected_any"} & set(case), path.name
