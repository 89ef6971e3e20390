"""OpenID4VP 1.0 over real HTTP on loopback: request by reference, direct_post, results, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from typing import Any

import pytest

import sdjwt
from sdjwt.jws import CompactJWS
from verifier_helpers import NATIONAL_ID, Wallet, http_json, national_id_claims

from verifier_constants import TOKEN


def open_request(server: Any, policy: str = "senior-bus-pass") -> dict[str, Any]:
    status, body, headers = http_json("POST", server.url + "/api/requests", {"policy": policy}, token=TOKEN)
    assert status == 201, body
    assert headers["Cache-Control"] == "no-store"
    return body


def result(url: str) -> dict[str, Any]:
    status, body, _ = http_json("GET", url, token=TOKEN)
    assert status == 200, body
    return body


@pytest.fixture
def wallet(issuer: Any, holder: Any, clock: Any) -> Wallet:
    return Wallet(holder, {NATIONAL_ID: issuer.issue(holder)}, clock)


def test_full_flow_on_both_engines(db_url: str, make_app: Any, live_server: Any, wallet: Wallet, clock: Any) -> None:
    server = live_server(make_app(db_url))
    opened = open_request(server)
    assert set(opened) >= {"request_uri", "result_url"}
    assert result(opened["result_url"])["state"] == "pending"
    # The wallet side: by reference, signed by the client_id's DID, DCQL from the policy.
    request, client_id = wallet.fetch_request(opened["request_uri"])
    assert client_id.startswith("decentralized_identifier:did:key:z6Mk")
    assert request["response_type"] == "vp_token" and request["response_mode"] == "direct_post"
    assert request["dcql_query"] == {"credentials": [{
        "id": "national_id", "format": "dc+sd-jwt", "meta": {"vct_values": [NATIONAL_ID]},
        "claims": [{"path": ["age_equal_or_over", "65"]}, {"path": ["address", "locality"]}]}]}
    assert request["client_metadata"]["vp_formats_supported"]["dc+sd-jwt"]["kb-jwt_alg_values"]
    assert set(request["purpose"]) == {"en", "zh-CN"}
    assert len(request["nonce"]) >= 32 and len(request["state"]) >= 32
    vp_token = wallet.build_vp_token(request)
    status, body = wallet.post(request["response_uri"], {"vp_token": json.dumps(vp_token), "state": request["state"]})
    assert (status, body) == (200, {})
    done = result(opened["result_url"])
    assert done == {"state": "done", "policy": "senior-bus-pass", "decision": True, "reasons": [],
                    "claims": {"national_id": {"age_equal_or_over": {"65": True}, "address": {"locality": "Shenzhen"}}}}
    # Replaying the same response: refused with its own code; the verdict stands.
    status, body = wallet.post(request["response_uri"], {"vp_token": json.dumps(vp_token), "state": request["state"]})
    assert status == 400 and body["error"] == "invalid_request" and body["error_description"].startswith("response_replayed")
    assert result(opened["result_url"])["decision"] is True
    # The request object is gone once answered.
    status, body, _ = http_json("GET", request["response_uri"].replace("/response/", "/request/"))
    assert status == 400 and body["error"] == "invalid_request"


def test_response_replayed_into_a_new_request_fails_on_nonce(make_app: Any, live_server: Any, wallet: Wallet) -> None:
    server = live_server(make_app())
    first = open_request(server)
    request, _ = wallet.fetch_request(first["request_uri"])
    vp_token = json.dumps(wallet.build_vp_token(request))
    assert wallet.post(request["response_uri"], {"vp_token": vp_token, "state": request["state"]})[0] == 200
    second = open_request(server)
    request2, _ = wallet.fetch_request(second["request_uri"])
    status, body = wallet.post(request2["response_uri"], {"vp_token": vp_token, "state": request2["state"]})
    assert status == 400 and body["error_description"].startswith("nonce_mismatch")
    assert result(second["result_url"])["reasons"][0]["code"] == "nonce_mismatch"


@pytest.mark.parametrize(
    "mutate, code",
    [
        ({"nonce": "wrong-nonce-000000000000000000000"}, "nonce_mismatch"),
        ({"aud": "decentralized_identifier:did:key:z6MkSomeoneElse"}, "audience_mismatch"),
    ],
)
def test_bad_key_binding_ends_request_false(make_app: Any, live_server: Any, wallet: Wallet, mutate: Any, code: str) -> None:
    server = live_server(make_app())
    opened = open_request(server)
    status, body = wallet.answer(opened["request_uri"], **mutate)
    assert status == 400 and body["error"] == "invalid_request"
    done = result(opened["result_url"])
    assert done["state"] == "done" and done["decision"] is False and done["reasons"][0]["code"] == code
    assert done["claims"] == {}


def test_tampered_credential(make_app: Any, live_server: Any, issuer: Any, holder: Any, clock: Any) -> None:
    credential = issuer.issue(holder)
    jwt, rest = credential.split("~", 1)
    tampered = jwt[:-4] + ("AAAA" if not jwt.endswith("AAAA") else "BBBB") + "~" + rest
    server = live_server(make_app())
    opened = open_request(server)
    status, _ = Wallet(holder, {NATIONAL_ID: tampered}, clock).answer(opened["request_uri"])
    assert status == 400
    assert result(opened["result_url"])["reasons"][0]["code"] in {"signature_invalid", "presentation_malformed"}


def test_policy_false_is_a_valid_answer(make_app: Any, live_server: Any, issuer: Any, holder: Any, clock: Any) -> None:
    server = live_server(make_app())
    opened = open_request(server)
    young = Wallet(holder, {NATIONAL_ID: issuer.issue(holder, national_id_claims(age65=False))}, clock)
    assert young.answer(opened["request_uri"]) == (200, {})
    done = result(opened["result_url"])
    assert done["decision"] is False
    assert done["reasons"][0] == {"code": "policy_not_satisfied", "conditions": ["age_over_65"],
                                  "message": "condition(s) not met: age_over_65"}


@pytest.mark.parametrize(
    "form",
    [
        {"vp_token": "garbage"},
        {"vp_token": "{\"national_id\": [\"not-an-sd-jwt\"]}"},
        {"vp_token": "[1, 2]"},
        {"vp_token": "\x00\xff{"},
        {},
    ],
)
def test_garbage_is_a_400_and_never_a_5xx(make_app: Any, live_server: Any, wallet: Wallet, form: dict[str, str]) -> None:
    server = live_server(make_app())
    opened = open_request(server)
    request, _ = wallet.fetch_request(opened["request_uri"])
    status, body = wallet.post(request["response_uri"], {**form, "state": request["state"]})
    assert status == 400 and body["error"] == "invalid_request"
    done = result(opened["result_url"])
    if "vp_token" in form:
        assert done["decision"] is False and done["reasons"][0]["code"].startswith(("response_", "presentation_"))
    else:
        assert done["state"] == "pending"


def test_wrong_state_does_not_touch_the_request(make_app: Any, live_server: Any, wallet: Wallet) -> None:
    server = live_server(make_app())
    opened = open_request(server)
    request, _ = wallet.fetch_request(opened["request_uri"])
    status, body = wallet.post(request["response_uri"], {"vp_token": json.dumps(wallet.build_vp_token(request)), "state": "x"})
    assert status == 400 and body["error"] == "invalid_request"
    assert result(opened["result_url"])["state"] == "pending"


def test_unknown_request_and_oversized_body(make_app: Any, live_server: Any, wallet: Wallet) -> None:
    server = live_server(make_app())
    status, body = wallet.post(server.url + "/oid4vp/response/" + "A" * 43, {"vp_token": "{}", "state": "s"})
    assert status == 400 and body["error"] == "invalid_request"
    opened = open_request(server)
    request, _ = wallet.fetch_request(opened["request_uri"])
    status, body = wallet.post(request["response_uri"], {"vp_token": "x" * 300_000, "state": request["state"]})
    assert status == 400 and body["error"] == "invalid_request"


def test_wallet_error_response(make_app: Any, live_server: Any, wallet: Wallet) -> None:
    server = live_server(make_app())
    opened = open_request(server)
    request, _ = wallet.fetch_request(opened["request_uri"])
    assert wallet.post(request["response_uri"], {"error": "access_denied", "state": request["state"]})[0] == 200
    done = result(opened["result_url"])
    assert done["decision"] is False and done["reasons"][0]["code"] == "wallet_error"


def test_expired_request_and_retention(db_url: str, make_app: Any, live_server: Any, wallet: Wallet, clock: Any) -> None:
    app = make_app(db_url, REQUEST_TTL=60, RESULT_RETENTION=120)
    server = live_server(app)
    opened = open_request(server)
    request, _ = wallet.fetch_request(opened["request_uri"])
    clock.now += 61
    status, body = wallet.post(request["response_uri"], {"vp_token": json.dumps(wallet.build_vp_token(request)), "state": request["state"]})
    assert status == 400 and body["error_description"].startswith("request_expired")
    # Answered in time, the verdict is kept for the retention time, then forgotten (row deleted).
    opened = open_request(server)
    assert wallet.answer(opened["request_uri"])[0] == 200
    clock.now += 119
    assert result(opened["result_url"])["decision"] is True
    clock.now += 2
    status, body, _ = http_json("GET", opened["result_url"], token=TOKEN)
    assert status == 404 and body["code"] == "request_not_found"
    open_request(server)  # Any write purges.
    store = app.extensions["civicid_verifier"].store
    rows = store.db.read().execute("SELECT rid FROM vp_requests").fetchall()
    rid = opened["result_url"].rsplit("/", 1)[1]
    assert rid not in {r[0] for r in rows}


def test_several_processes_share_one_database(db_url: str, make_app: Any, live_server: Any, wallet: Wallet) -> None:
    a = live_server(make_app(db_url))
    b = live_server(make_app(db_url))
    opened = open_request(a)
    request, _ = wallet.fetch_request(opened["request_uri"])
    # The wallet answers through the other process.
    response_uri = request["response_uri"].replace(a.url, b.url)
    vp_token = json.dumps(wallet.build_vp_token(request))
    assert wallet.post(response_uri, {"vp_token": vp_token, "state": request["state"]})[0] == 200
    assert result(opened["result_url"])["decision"] is True
    # The other process refuses the same response: replay, seen through the shared database.
    assert wallet.post(request["response_uri"], {"vp_token": vp_token, "state": request["state"]})[0] == 400


def test_counter_api_needs_the_bearer_token(make_app: Any, live_server: Any) -> None:
    server = live_server(make_app())
    for token in (None, "wrong", TOKEN + "x"):
        status, body, headers = http_json("POST", server.url + "/api/requests", {"policy": "resident"}, token=token)
        assert status == 401 and body["code"] == "unauthorized"
        assert headers["Content-Type"] == "application/problem+json"
    status, body, _ = http_json("POST", server.url + "/api/requests", {"policy": "no-such"}, token=TOKEN)
    assert status == 404 and body["type"].endswith("unknown_policy")
    status, body, _ = http_json("POST", server.url + "/api/requests", ["resident"], token=TOKEN)
    assert status == 400 and body["code"] == "bad_request"
    status, body, _ = http_json("GET", server.url + "/api/requests/../../etc", token=TOKEN)
    assert status == 404


def test_plain_json_api(make_app: Any, live_server: Any, issuer: Any, holder: Any, clock: Any) -> None:
    app = make_app()
    server = live_server(app)
    client_id = app.extensions["civicid_verifier"].client_id
    nonce = "system-nonce-0123456789"
    credential = issuer.issue(holder)
    presentation = sdjwt.create_presentation(credential, [("age_equal_or_over", "18")], holder_key=holder,
                                             aud=client_id, nonce=nonce, iat=clock())
    url = server.url + "/api/verify"
    status, body, _ = http_json("POST", url, {"policy": "age-over-18", "nonce": nonce, "presentation": presentation}, token=TOKEN)
    assert status == 200 and body == {"decision": True, "reasons": [], "claims": {"national_id": {"age_equal_or_over": {"18": True}}}}
    status, body, _ = http_json("POST", url, {"policy": "age-over-18", "nonce": nonce, "presentation": presentation}, token=TOKEN)
    assert body["decision"] is False and body["reasons"][0]["code"] == "presentation_replayed"
    status, body, _ = http_json("POST", url, {"policy": "age-over-18", "nonce": "another-nonce-0123456789",
                                              "vp_token": {"national_id": [presentation]}}, token=TOKEN)
    assert body["reasons"][0]["code"] == "nonce_mismatch"
    status, body, _ = http_json("POST", url, {"policy": "age-over-18", "nonce": "short"}, token=TOKEN)
    assert status == 400 and body["code"] == "bad_request"


def test_request_object_signature_and_headers(make_app: Any, live_server: Any) -> None:
    import urllib.request

    server = live_server(make_app())
    opened = open_request(server, "age-over-18")
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(opened["request_uri"]).query))
    with urllib.request.urlopen(query["request_uri"]) as response:
        assert response.headers["Cache-Control"] == "no-store"
        token = response.read().decode()
    jws = CompactJWS.parse(token)
    did = query["client_id"].removeprefix("decentralized_identifier:")
    assert jws.header["alg"] == "EdDSA" and jws.header["typ"] == "oauth-authz-req+jwt"
    assert jws.header["kid"].startswith(did + "#")
    jws.verify_signature(sdjwt.key_from_did(did))
    assert jws.payload["aud"] == "https://self-issued.me/v2"
