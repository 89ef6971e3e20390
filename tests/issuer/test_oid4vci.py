"""The OpenID4VCI 1.0 pre-authorized flow against a live issuer on loopback, on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

import sdjwt
from sdjwt.jws import sign_compact

from issuer_helpers import ISSUER_DID, ISSUER_KID, NATIONAL_ID, Office
from issuer_wallet_client import PRE_AUTH, check, http, make_proof


def _payload(jwt: str) -> dict[str, Any]:
    part = jwt.split("~")[0].split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def _redeemed(office: Office, claims: Any = None) -> tuple[Any, dict[str, Any], dict[str, Any], str]:
    """An offer taken through the token endpoint: (offer, metadata, as metadata, access token)."""
    offer = office.offer(claims)
    wallet = office.wallet()
    body = wallet.resolve_offer(offer.credential_offer)
    meta, as_meta = wallet.metadata(office.url)
    token = check(wallet.token(as_meta, body["grants"][PRE_AUTH]["pre-authorized_code"], offer.tx_code))
    return offer, meta, as_meta, token["access_token"]


def test_full_exchange_batch_and_verifier_accepts(office: Office) -> None:
    offer = office.offer()
    assert offer.credential_offer.startswith("openid-credential-offer://?credential_offer_uri=")
    credentials, keys = office.wallet().receive(offer.credential_offer, offer.tx_code, copies=3)
    assert len(credentials) == 3
    payloads = [_payload(c) for c in credentials]
    # Batch: each copy has its own holder key, status index and salts.
    assert len({json.dumps(p["cnf"]["jwk"], sort_keys=True) for p in payloads}) == 3
    assert len({p["status"]["status_list"]["idx"] for p in payloads}) == 3
    assert len({tuple(p["_sd"]) for p in payloads}) == 3
    for payload, key in zip(payloads, keys):
        assert payload["iss"] == ISSUER_DID and payload["vct"] == "urn:civicid:national_id:1"
        assert payload["cnf"]["jwk"] == key.public_key().public_jwk()
        for name in ("given_name", "birthdate", "address", "age_equal_or_over"):
            assert name not in payload  # Selectively disclosable, so hidden behind digests.
    # A verifier sees exactly what the holder discloses, including a single age threshold.
    presentation = sdjwt.create_presentation(
        credentials[0], [("age_equal_or_over", "18"), ("address", "locality")],
        holder_key=keys[0], aud="https://counter.example", nonce="n-1", iat=office.clock(),
    )
    verified = sdjwt.verify(
        presentation, issuer_key=office.trust.issuer_key_lookup(), algorithms=["EdDSA"], now=office.clock(),
        audience="https://counter.example", nonce="n-1",
    )
    assert verified.claims["age_equal_or_over"] == {"18": True}
    assert verified.claims["address"] == {"locality": "Beijing"}
    assert "given_name" not in verified.claims


def test_p256_holder_keys(office: Office) -> None:
    offer = office.offer()
    credentials, keys = office.wallet().receive(offer.credential_offer, offer.tx_code, copies=2, alg="ES256")
    assert _payload(credentials[1])["cnf"]["jwk"]["crv"] == "P-256"


def test_metadata_documents(office: Office) -> None:
    meta = check(http("GET", office.url + "/.well-known/openid-credential-issuer"))
    assert meta["credential_issuer"] == office.url
    assert meta["batch_credential_issuance"]["batch_size"] >= 2
    nid = meta["credential_configurations_supported"]["national_id"]
    assert nid["format"] == "dc+sd-jwt" and nid["vct"] == "urn:civicid:national_id:1"
    assert nid["proof_types_supported"]["jwt"]["proof_signing_alg_values_supported"] == ["EdDSA", "ES256"]
    assert set(meta["credential_configurations_supported"]) == {"national_id", "residence_permit", "benefit_eligibility"}
    as_meta = check(http("GET", office.url + "/.well-known/oauth-authorization-server"))
    assert as_meta["pre-authorized_grant_anonymous_access_supported"] is True
    assert as_meta["token_endpoint"] == office.url + "/token"
    jwks = check(http("GET", office.url + "/.well-known/jwt-vc-issuer"))
    assert jwks["jwks"]["keys"][0]["kid"] == ISSUER_KID
    assert jwks["jwks"]["keys"][0]["x"] == office.key.public_key().public_jwk()["x"]


def _token_error(office: Office, code: str, tx_code: str | None) -> Any:
    resp = office.wallet().token({"token_endpoint": office.url + "/token"}, code, tx_code)
    assert resp.status == 400, resp.text
    assert resp.headers["Cache-Control"] == "no-store"
    return resp.body


def _code(office: Office, offer: Any) -> str:
    return office.wallet().resolve_offer(offer.credential_offer)["grants"][PRE_AUTH]["pre-authorized_code"]  # type: ignore[no-any-return]


def test_wrong_pin_is_counted_then_locks(office: Office) -> None:
    offer = office.offer()
    code = _code(office, offer)
    wrong = "0" * 6 if offer.tx_code != "0" * 6 else "1" * 6
    for remaining in (4, 3, 2, 1, 0):
        body = _token_error(office, code, wrong)
        assert body["error"] == "invalid_grant"
        assert body["civicid_reason"] == "wrong_tx_code" and body["attempts_remaining"] == remaining
    # Now even the right PIN is refused: the offer is dead, and the wallet is told so.
    body = _token_error(office, code, offer.tx_code)
    assert (body["error"], body["civicid_reason"]) == ("invalid_grant", "offer_locked")


def test_expired_offer(office: Office) -> None:
    offer = office.offer()
    code = _code(office, offer)
    office.clock.advance(office.app.config["OFFER_TTL"])
    body = _token_error(office, code, offer.tx_code)
    assert (body["error"], body["civicid_reason"]) == ("invalid_grant", "offer_expired")
    assert http("GET", offer.credential_offer_uri).status == 404


def test_code_is_redeemed_at_most_once(office: Office) -> None:
    offer = office.offer()
    code = _code(office, offer)
    check(office.wallet().token({"token_endpoint": office.url + "/token"}, code, offer.tx_code))
    body = _token_error(office, code, offer.tx_code)
    assert (body["error"], body["civicid_reason"]) == ("invalid_grant", "offer_redeemed")


def test_token_request_errors(office: Office) -> None:
    offer = office.offer()
    code = _code(office, offer)
    assert _token_error(office, code, None)["error"] == "invalid_request"  # tx_code announced but missing
    assert _token_error(office, "nope" * 10, "123456")["civicid_reason"] == "unknown_code"
    resp = http("POST", office.url + "/token", form={"grant_type": "authorization_code", "code": "x"})
    assert resp.status == 400 and resp.body["error"] == "unsupported_grant_type"
    resp = http("POST", office.url + "/token", json_body={"grant_type": PRE_AUTH})
    assert resp.status == 400 and resp.body["error"] == "invalid_request"
    resp = http("POST", office.url + "/token", raw=b"grant_type=a&grant_type=b", headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert resp.body["error"] == "invalid_request"
    # The missing-tx_code error does not consume an attempt nor the offer.
    check(office.wallet().token({"token_endpoint": office.url + "/token"}, code, offer.tx_code))


def _credential_error(office: Office, token: str, body: Any, status: int = 400) -> Any:
    resp = http("POST", office.url + "/credential", json_body=body, headers={"Authorization": f"Bearer {token}"})
    assert resp.status == status, resp.text
    return resp.body


def test_credential_endpoint_error_paths(office: Office) -> None:
    offer, meta, _, token = _redeemed(office)
    wallet = office.wallet()
    key, other = sdjwt.Ed25519PrivateKey.generate(), sdjwt.Ed25519PrivateKey.generate()
    now = office.clock()
    nonce = wallet.nonce(meta)

    def req(proofs: Any, cid: str = "national_id") -> dict[str, Any]:
        return {"credential_configuration_id": cid, "proofs": {"jwt": proofs}}

    good = make_proof(key, aud=office.url, nonce=nonce, iat=now)
    # Missing or bad bearer token.
    resp = http("POST", office.url + "/credential", json_body=req([good]))
    assert resp.status == 401 and resp.body["error"] == "invalid_token" and "Bearer" in resp.headers["WWW-Authenticate"]
    assert _credential_error(office, "bogus", req([good]), 401)["error"] == "invalid_token"
    # Unsupported configuration, and one the token does not cover.
    assert _credential_error(office, token, req([good], "driving_licence"))["error"] == "unknown_credential_configuration"
    assert _credential_error(office, token, req([good], "residence_permit"))["error"] == "unknown_credential_configuration"
    # Malformed requests.
    assert _credential_error(office, token, {"credential_configuration_id": "national_id"})["error"] == "invalid_proof"
    assert _credential_error(office, token, {"credential_configuration_id": "national_id", "proof": {"jwt": good}})["error"] == "invalid_credential_request"
    assert _credential_error(office, token, [1, 2])["error"] == "invalid_credential_request"
    assert _credential_error(office, token, req([good] * 11))["error"] == "invalid_credential_request"
    # Proofs: missing nonce, wrong typ, wrong aud, stale iat, kid header, signed by another key, same key twice.
    assert _credential_error(office, token, req([make_proof(key, aud=office.url, nonce=None, iat=now)]))["error"] == "invalid_proof"
    assert _credential_error(office, token, req([make_proof(key, aud=office.url, nonce=nonce, iat=now, typ="JWT")]))["error"] == "invalid_proof"
    assert _credential_error(office, token, req([make_proof(key, aud="https://evil.example", nonce=nonce, iat=now)]))["error"] == "invalid_proof"
    assert _credential_error(office, token, req([make_proof(key, aud=office.url, nonce=nonce, iat=now - 3600)]))["error"] == "invalid_proof"
    assert _credential_error(office, token, req([make_proof(key, aud=office.url, nonce=nonce, iat=now, extra_header={"kid": "k"})]))["error"] == "invalid_proof"
    forged = make_proof(other, aud=office.url, nonce=nonce, iat=now, jwk_key=key)
    body = _credential_error(office, token, req([forged]))
    assert body["error"] == "invalid_proof" and "signature" in body["error_description"]
    assert _credential_error(office, token, req([good, make_proof(key, aud=office.url, nonce=nonce, iat=now)]))["error"] == "invalid_proof"
    # alg none is refused.
    header = base64.urlsafe_b64encode(json.dumps({"alg": "none", "typ": "openid4vci-proof+jwt", "jwk": key.public_key().public_jwk()}).encode()).rstrip(b"=").decode()
    none_proof = header + "." + good.split(".")[1] + "."
    assert _credential_error(office, token, req([none_proof]))["error"] == "invalid_proof"
    # A nonce the issuer never gave, then an expired one.
    assert _credential_error(office, token, req([make_proof(key, aud=office.url, nonce="made-up", iat=now)]))["error"] == "invalid_nonce"
    office.clock.advance(office.app.config["NONCE_TTL"])
    stale = make_proof(key, aud=office.url, nonce=nonce, iat=office.clock())
    assert _credential_error(office, token, req([stale]))["error"] == "invalid_nonce"
    # After all those errors the token still works once with a fresh nonce...
    fresh = make_proof(key, aud=office.url, nonce=wallet.nonce(meta), iat=office.clock())
    assert len(check(wallet.credential(meta, token, "national_id", [fresh]))["credentials"]) == 1
    # ...and only once.
    again = make_proof(other, aud=office.url, nonce=wallet.nonce(meta), iat=office.clock())
    assert _credential_error(office, token, req([again]), 401)["error"] == "invalid_token"


def test_nonce_is_single_use(office: Office) -> None:
    _, meta, _, token = _redeemed(office)
    _, meta2, _, token2 = _redeemed(office)
    wallet = office.wallet()
    nonce = wallet.nonce(meta)
    key = sdjwt.Ed25519PrivateKey.generate()
    proof = make_proof(key, aud=office.url, nonce=nonce, iat=office.clock())
    check(wallet.credential(meta, token, "national_id", [proof]))
    # The same proof (same nonce) replayed with another access token is refused.
    assert _credential_error(office, token2, {"credential_configuration_id": "national_id", "proofs": {"jwt": [proof]}})["error"] == "invalid_nonce"


def test_access_token_expires(office: Office) -> None:
    _, meta, _, token = _redeemed(office)
    office.clock.advance(office.app.config["TOKEN_TTL"])
    proof = make_proof(sdjwt.Ed25519PrivateKey.generate(), aud=office.url, nonce=office.wallet().nonce(meta), iat=office.clock())
    assert _credential_error(office, token, {"credential_configuration_id": "national_id", "proofs": {"jwt": [proof]}}, 401)["error"] == "invalid_token"


def test_revocation_is_visible_to_a_status_list_verifier(office: Office) -> None:
    offer = office.offer()
    credentials, keys = office.wallet().receive(offer.credential_offer, offer.tx_code, copies=2)
    refs = [sdjwt.StatusReference.from_claims(_payload(c)) for c in credentials]
    assert refs[0] is not None and refs[1] is not None

    def fetch(uri: str) -> sdjwt.StatusListToken:
        resp = http("GET", uri)
        assert resp.status == 200 and resp.headers["Content-Type"] == "application/statuslist+jwt"
        assert "max-age=" in resp.headers["Cache-Control"]
        return sdjwt.StatusListToken.verify(resp.text, key=office.key.public_key(), algorithms=["EdDSA"], uri=uri, now=office.clock())

    token = fetch(refs[0].uri)
    sdjwt.check_status(token, refs[0])
    listing = check(http("GET", office.url + "/admin/credentials?subject=110101-1990-0228", headers={"Authorization": f"Bearer {office.officer_token}"}))
    by_idx = {}
    for item in listing["credentials"]:
        by_idx[item["id"]] = item
    assert len(by_idx) == 2
    # Find which credential id holds refs[0]: revoke each in turn and look.
    auth = {"Authorization": f"Bearer {office.supervisor_token}"}
    first_id = sorted(by_idx)[0]
    check(http("POST", f"{office.url}/admin/credentials/{first_id}/suspend", headers=auth))
    token = fetch(refs[0].uri)
    states = [token.status_of(r) for r in refs]
    assert sorted(states) == [0, 2]
    suspended_ref = refs[states.index(2)]
    with pytest.raises(sdjwt.StatusSuspended):
        sdjwt.check_status(token, suspended_ref)
    check(http("POST", f"{office.url}/admin/credentials/{first_id}/reinstate", headers=auth))
    sdjwt.check_status(fetch(refs[0].uri), suspended_ref)
    check(http("POST", f"{office.url}/admin/credentials/{first_id}/revoke", headers=auth))
    with pytest.raises(sdjwt.StatusRevoked):
        sdjwt.check_status(fetch(refs[0].uri), suspended_ref)
    # A revoked credential cannot be reinstated.
    resp = http("POST", f"{office.url}/admin/credentials/{first_id}/reinstate", headers=auth)
    assert resp.status == 409 and resp.headers["Content-Type"] == "application/problem+json"
    # The verifier's end to end check refuses the revoked copy and accepts the other.
    for cred, key, ref in zip(credentials, keys, refs):
        pres = sdjwt.create_presentation(cred, [], holder_key=key, aud="v", nonce="n", iat=office.clock())
        status_check = lambda r: sdjwt.check_status(fetch(r.uri), r)  # noqa: E731
        if ref == suspended_ref:
            with pytest.raises(sdjwt.StatusRevoked):
                sdjwt.verify(pres, issuer_key=office.trust.issuer_key_lookup(), algorithms=["EdDSA"], now=office.clock(), audience="v", nonce="n", status=status_check)
        else:
            sdjwt.verify(pres, issuer_key=office.trust.issuer_key_lookup(), algorithms=["EdDSA"], now=office.clock(), audience="v", nonce="n", status=status_check)
    assert http("GET", office.url + "/status/unknown").status == 404


def test_admin_offer_api(office: Office) -> None:
    auth = {"Authorization": f"Bearer {office.officer_token}"}
    resp = http("POST", office.url + "/admin/offers", json_body={"credential_configuration_id": "national_id", "claims": NATIONAL_ID}, headers=auth)
    assert resp.status == 201
    assert resp.body["credential_offer"].startswith("openid-credential-offer://?credential_offer_uri=")
    assert resp.body["tx_code"].isdigit() and len(resp.body["tx_code"]) == 6
    credentials, _ = office.wallet().receive(resp.body["credential_offer"], resp.body["tx_code"])
    assert len(credentials) == 1
    bad = dict(NATIONAL_ID, birthdate="1990-02-30")
    resp = http("POST", office.url + "/admin/offers", json_body={"credential_configuration_id": "national_id", "claims": bad}, headers=auth)
    assert resp.status == 400 and resp.headers["Content-Type"] == "application/problem+json"
    assert resp.body["type"] == "urn:civicid:issuer:error:invalid_claims" and resp.body["field"] == "birthdate"
    bad = {**NATIONAL_ID, "address": {**NATIONAL_ID["address"], "country": "China"}}
    resp = http("POST", office.url + "/admin/offers", json_body={"credential_configuration_id": "national_id", "claims": bad}, headers=auth)
    assert resp.status == 400 and resp.body["field"] == "address.country"
    resp = http("POST", office.url + "/admin/offers", json_body={"credential_configuration_id": "national_id", "claims": {**NATIONAL_ID, "age_equal_or_over": {"18": True, "65": True}}}, headers=auth)
    assert resp.status == 400 and resp.body["field"] == "age_equal_or_over"
    resp = http("POST", office.url + "/admin/offers", json_body={"credential_configuration_id": "nope", "claims": {}}, headers=auth)
    assert resp.status == 400 and resp.body["type"].endswith("unknown_configuration")
    resp = http("POST", office.url + "/admin/offers", raw=b"{not json", headers={**auth, "Content-Type": "application/json"})
    assert resp.status == 400 and resp.body["type"].endswith("bad_request")
