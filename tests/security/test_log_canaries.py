"""No secret and no claim value in any log line: the issuer, verifier and registry run with canaries.

Every secret the system handles (claim values, the PIN and a wrong PIN, the
pre-authorized code, the access token, the c_nonce, admin API tokens, an
officer's password, a keystore passphrase, the verifier's nonce and bearer
token) is a distinctive canary string. The services run on loopback with every
logger at DEBUG (the werkzeug request lines included); afterwards every
captured record, formatted with its arguments and any exception text, is
scanned for every canary. Hostile input that carries a canary (garbage
entries, presentations, DIDs) must not be echoed into the logs either.
Gunicorn's access log lines go through ``registry.serving.redact_path``, checked
here for the bearer references in URL paths.
"""

from __future__ import annotations

import json
import logging
import re
import urllib.parse
from pathlib import Path
from typing import Any, Callable

import nacl.utils
import pytest

import sdjwt
from issuer.officers import add_officer, create_token
from issuer_helpers import ISSUER_DID, ISSUER_KID, Clock, make_app as make_issuer_app
from issuer_wallet_client import PRE_AUTH, WalletClient, check, http, make_proof
from registry.trust import StaticTrust

CANARIES = {
    "given_name": "CanaryGiven7q1",
    "family_name": "CanaryFamily7q2",
    "personal_identifier": "CANARYPID7q3",
    "street_address": "7q4 Canary Street",
    "locality": "Canaryville7q5",
    "postal_code": "7q6777",
    "password": "canary-officer-password-7q7",
    "wrong_password": "canary-wrong-password-7q8",
    "passphrase": "canary-keystore-passphrase-7q9",
    "wrong_passphrase": "canary-wrong-passphrase-7qa",
    "verifier_token": "canary-counter-token-7qb-" + "c" * 24,
    "verifier_nonce": "canary-verifier-nonce-7qc",
    "hostile": "CANARY-HOSTILE-7qd",
}


def _national_id() -> dict[str, Any]:
    return {
        "given_name": CANARIES["given_name"], "family_name": CANARIES["family_name"], "birthdate": "1950-02-28", "sex": 2,
        "nationalities": ["CN"], "personal_identifier": CANARIES["personal_identifier"],
        "address": {"street_address": CANARIES["street_address"], "locality": CANARIES["locality"], "region": "Guangdong",
                    "postal_code": CANARIES["postal_code"], "country": "CN"},
    }


def _lines(records: list[logging.LogRecord]) -> list[str]:
    out = []
    for record in records:
        text = record.getMessage()
        if record.exc_info:
            text += "\n" + logging.Formatter().formatException(record.exc_info)
        out.append(f"{record.name} {record.levelname} {text}")
    return out


def _leaks(lines: list[str], canaries: dict[str, str]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for name, canary in canaries.items():
        hits = [line for line in lines if canary.lower() in line.lower()]
        if hits:
            found[name] = hits[:3]
    return found


def test_no_secret_or_claim_value_in_any_log_line(tmp_path: Path, live_server: Callable[[Any], Any],
                                                  caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    canaries = dict(CANARIES)

    # Issuer: an office on loopback; an admin token, an officer, an offer with canary claims.
    clock = Clock()
    key = sdjwt.Ed25519PrivateKey(bytes(range(32)))
    issuer = make_issuer_app(str(tmp_path / "issuer.db"), clock, key)
    server = live_server(issuer)
    issuer.config["PUBLIC_URL"] = server.url
    store = issuer.extensions["civicid_issuer_store"]
    admin = create_token(store, "canary-system", "supervisor", actor="test", now=clock(), random=nacl.utils.random)
    canaries["admin_token"] = admin
    add_officer(store, "olga", canaries["password"], "officer", actor="test", now=clock())
    resp = http("POST", server.url + "/admin/offers", json_body={"credential_configuration_id": "national_id", "claims": _national_id()},
                headers={"Authorization": "Bearer " + admin})
    offer = check(resp)
    canaries["pin"] = offer["tx_code"]
    wallet = WalletClient(clock)
    offered = wallet.resolve_offer(offer["credential_offer"])
    code = offered["grants"][PRE_AUTH]["pre-authorized_code"]
    canaries["pre_authorized_code"] = code
    meta, as_meta = wallet.metadata(offered["credential_issuer"])
    wrong_pin = "".join(str((int(c) + 1) % 10) for c in offer["tx_code"])
    canaries["wrong_pin"] = wrong_pin
    assert wallet.token(as_meta, code, wrong_pin).status == 400
    token = check(wallet.token(as_meta, code, offer["tx_code"]))
    canaries["access_token"] = token["access_token"]
    nonce = wallet.nonce(meta)
    canaries["c_nonce"] = nonce
    holder = sdjwt.Ed25519PrivateKey(b"\x5a" * 32)
    proof = make_proof(holder, aud=meta["credential_issuer"], nonce=nonce, iat=clock())
    issued = check(wallet.credential(meta, token["access_token"], "national_id", [proof]))["credentials"][0]["credential"]
    # A replayed access token and a stolen code are refused, and not logged either.
    assert wallet.credential(meta, token["access_token"], "national_id", [proof]).status >= 400
    assert wallet.token(as_meta, code, offer["tx_code"]).status == 400
    # The console: a failed and a good sign-in.
    console = issuer.test_client()
    page = console.get("/console/login", base_url="https://office.example").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    for password in (canaries["wrong_password"], canaries["password"]):
        console.post("/console/login", base_url="https://office.example", data={"username": "olga", "password": password, "csrf_token": csrf})
    # A keystore with a canary passphrase, opened with a wrong one.
    from issuer.keys import Keystore

    Keystore.create(str(tmp_path / "office.keystore"), canaries["passphrase"], now=clock())
    with pytest.raises(Exception) as wrong:
        Keystore.open(str(tmp_path / "office.keystore"), canaries["wrong_passphrase"])
    assert canaries["wrong_passphrase"] not in str(wrong.value)

    # Verifier: the credential presented over the plain API and OpenID4VP, disclosing some canaries and not others.
    from verifier import create_app as create_verifier_app
    from verifier.status import http_fetcher

    trust = StaticTrust()
    trust.add_key(ISSUER_DID, ISSUER_KID, key.public_key())
    trust.accredit(ISSUER_DID, "urn:civicid:national_id:1")
    verifier = create_verifier_app({"TESTING": True, "INSTANCE_PATH": str(tmp_path / "v"), "DATABASE": str(tmp_path / "v.db"),
                                    "TRUST": trust, "STATUS_FETCHER": http_fetcher(), "CLOCK": clock,
                                    "SIGNING_KEY": sdjwt.Ed25519PrivateKey(b"\x44" * 32), "API_TOKENS": [canaries["verifier_token"]],
                                    "POLICY_PARAMS": {"resident": {"city": CANARIES["locality"]}}})
    vserver = live_server(verifier)
    client_id = verifier.extensions["civicid_verifier"].client_id
    bearer = {"Authorization": "Bearer " + canaries["verifier_token"]}
    presentation = sdjwt.create_presentation(issued, [("address", "locality"), ("given_name",)], holder_key=holder,
                                             aud=client_id, nonce=canaries["verifier_nonce"], iat=clock())
    for _ in range(2):  # Accepted, then refused as a replay.
        body = check(http("POST", vserver.url + "/api/verify", headers=bearer,
                          json_body={"policy": "resident", "nonce": canaries["verifier_nonce"], "presentation": presentation}))
    assert body["reasons"][0]["code"] == "presentation_replayed"
    hostile = canaries["hostile"]
    for garbage in (hostile, presentation.replace("~", "~" + hostile, 1), "{" + hostile):
        http("POST", vserver.url + "/api/verify", headers=bearer,
             json_body={"policy": "resident", "nonce": canaries["verifier_nonce"], "presentation": garbage})
    http("POST", vserver.url + "/api/verify", headers={"Authorization": "Bearer " + hostile + "x" * 32}, json_body={})
    opened = check(http("POST", vserver.url + "/api/requests", headers=bearer, json_body={"policy": "resident"}))
    request_uri = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(opened["request_uri"]).query))["request_uri"]
    request_object = sdjwt.jws.CompactJWS.parse(http("GET", request_uri).text).payload
    canaries["oid4vp_nonce"], canaries["oid4vp_state"] = request_object["nonce"], request_object["state"]
    answer = sdjwt.create_presentation(issued, [("address", "locality")], holder_key=holder, aud=client_id,
                                       nonce=request_object["nonce"], iat=clock())
    form = {"vp_token": json.dumps({"national_id": [answer]}), "state": request_object["state"]}
    assert http("POST", request_object["response_uri"], form=form).status == 200
    assert http("POST", request_object["response_uri"], form={**form, "vp_token": hostile}).status == 400

    # Registry: a registry with a witness; garbage entries and DIDs carrying a canary.
    from test_service import World, _get, _post

    (tmp_path / "reg").mkdir()
    world = World(tmp_path / "reg", live_server, str(tmp_path / "registry.db"))
    try:
        _post(world.server.url + "/entries", json.dumps({"op": hostile}).encode())
        _post(world.server.url + "/entries", b"{" + hostile.encode())
        # (A DID in a URL path is public and access lines record paths: the canary goes in bodies only.)
        _get(world.server.url + "/1.0/identifiers/did:civic:" + "1" * 46)
        _post(world.server.url + "/authorization", json.dumps({"entity_id": hostile}).encode())
    finally:
        world.stop()

    lines = _lines(caplog.records)
    assert len(lines) > 20, "the services logged (the scan is not vacuous)"
    assert any("POST /api/verify" in line for line in lines)
    assert _leaks(lines, canaries) == {}


def test_access_log_paths_redact_bearer_references() -> None:
    """Gunicorn access lines (registry.serving) cut the secret part of offer and request URLs."""
    from registry.serving import redact_path

    secret = "CanaryOfferRef7qe"
    for prefixes, path in ((("/credential-offer/",), f"/credential-offer/{secret}"),
                           (("/oid4vp/request/", "/oid4vp/response/", "/api/requests/"), f"/oid4vp/response/{secret}"),
                           (("/oid4vp/request/", "/oid4vp/response/", "/api/requests/"), f"/api/requests/{secret}/qr.png")):
        assert secret not in redact_path(path, prefixes)
