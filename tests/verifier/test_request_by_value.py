"""Requests passed by value (``request=<JWT>``): an offline counter and a wallet with no network.

The counter's QR code holds the whole signed request object, so the wallet needs
neither the counter's nonce passed out of band nor a connection to the counter;
the wallet's answer comes back as a QR code that the counter scans.
"""

from __future__ import annotations

import io
import json
import urllib.parse
from pathlib import Path
from typing import Any

import pytest
import zxingcpp
from click.testing import CliRunner
from PIL import Image

import sdjwt
from registry.trust import StaticTrust
from verifier.cli import cli
from wallet.errors import InvalidRequest, UntrustedVerifier
from wallet.presentation import fetch_request, parse_request_link, vp_token_text
from wallet.qr import make_qr, save_qr
from wallet.transport import Http

from verifier_constants import TOKEN
from verifier_helpers import present

AUTH = {"Authorization": "Bearer " + TOKEN}
PATHS = [("age_equal_or_over", "65"), ("address", "locality")]
PUBLIC = "https://verifier.example"


class NoNetwork(Http):
    """An Http that fails the test on any request: a by-value request needs none."""

    def request(self, method: str, url: str, what: str, **kwargs: Any) -> Any:
        raise AssertionError(f"the wallet went to the network for {what}: {method} {url}")


def _wallet_trust(app: Any) -> StaticTrust:
    svc = app.extensions["civicid_verifier"]
    trust = StaticTrust()
    trust.add_key(svc.did, svc.kid, svc.key.public_key())
    return trust


def _decode(png: bytes) -> str:
    codes = [c for c in zxingcpp.read_barcodes(Image.open(io.BytesIO(png))) if c.valid]
    assert len(codes) == 1
    return str(codes[0].text)


def test_by_value_link_is_the_same_signed_request_and_needs_no_network(make_app: Any, clock: Any) -> None:
    app = make_app(PUBLIC_URL=PUBLIC)
    client = app.test_client()
    response = client.post("/api/requests", json={"policy": "senior-bus-pass", "by_value": True}, headers=AUTH)
    assert response.status_code == 201
    opened = response.get_json()
    # Extended, not renamed: the by-reference link and the result URL are still there.
    assert urllib.parse.urlsplit(opened["request_uri"]).scheme == "openid4vp"
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(opened["request_by_value"]).query)
    assert set(query) == {"client_id", "request"}
    by_reference = urllib.parse.parse_qs(urllib.parse.urlsplit(opened["request_uri"]).query)
    assert query["client_id"] == by_reference["client_id"]
    # Same clock, same claims, deterministic EdDSA: the object in the link is the one request_uri serves.
    served = client.get(urllib.parse.urlsplit(by_reference["request_uri"][0]).path, base_url=PUBLIC)
    assert served.status_code == 200
    assert query["request"] == [served.get_data(as_text=True)]

    link = parse_request_link(opened["request_by_value"], allow_loopback_http=False)
    assert link.request_uri is None and link.request == query["request"][0]
    auth = fetch_request(link, http=NoNetwork(), trust=_wallet_trust(app), now=clock())
    stored = app.extensions["civicid_verifier"].lookup(opened["id"])
    assert (auth.nonce, auth.state) == (stored.nonce, stored.state)
    assert auth.response_uri.endswith("/oid4vp/response/" + opened["id"])
    assert [q.id for q in auth.dcql.credentials] == ["national_id"]


def test_offline_round_trip_through_two_qr_images(make_app: Any, issuer: Any, holder: Any, clock: Any, tmp_path: Path) -> None:
    app = make_app(PUBLIC_URL=PUBLIC)
    client = app.test_client()
    opened = client.post("/api/requests", json={"policy": "senior-bus-pass", "by_value": True}, headers=AUTH).get_json()
    # The counter screen's picture of the request decodes to the by-value link.
    png = client.get(f"/api/requests/{opened['id']}/qr.png?by_value=true", headers=AUTH)
    assert png.status_code == 200 and png.content_type == "image/png"
    text = _decode(png.data)
    assert text.startswith("openid4vp://?") and "request=" in text and "request_uri=" not in text
    auth = fetch_request(parse_request_link(text, allow_loopback_http=False), http=NoNetwork(),
                         trust=_wallet_trust(app), now=clock())

    # The wallet answers with a QR code of the vp_token; the counter scans it.
    vp_token = {"national_id": [present(issuer.issue(holder), PATHS, holder, aud=auth.client_id, nonce=auth.nonce,
                                        iat=clock())]}
    answer = tmp_path / "answer.png"
    save_qr(make_qr(vp_token_text(vp_token)), answer)
    scanned = client.post(f"/api/requests/{opened['id']}/scan", data={"image": (io.BytesIO(answer.read_bytes()), "a.png")},
                          headers=AUTH)
    body = scanned.get_json()
    assert scanned.status_code == 200 and body["decision"] is True, body
    assert body["claims"]["national_id"]["address"] == {"locality": "Shenzhen"}
    result = client.get(urllib.parse.urlsplit(opened["result_url"]).path, headers=AUTH, base_url=PUBLIC).get_json()
    assert result["state"] == "done" and result["decision"] is True


def test_by_value_qr_of_every_policy_fits_and_decodes(make_app: Any, clock: Any) -> None:
    app = make_app(PUBLIC_URL=PUBLIC)
    client = app.test_client()
    for policy in ("age-over-18", "senior-bus-pass", "resident", "benefit"):
        opened = client.post("/api/requests", json={"policy": policy, "by_value": True}, headers=AUTH).get_json()
        png = client.get(f"/api/requests/{opened['id']}/qr.png?by_value=true", headers=AUTH)
        assert _decode(png.data) == opened["request_by_value"], policy


def test_a_tampered_or_foreign_by_value_request_is_refused(make_app: Any, clock: Any) -> None:
    app = make_app(PUBLIC_URL=PUBLIC)
    opened = app.test_client().post("/api/requests", json={"policy": "resident", "by_value": True}, headers=AUTH).get_json()
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(opened["request_by_value"]).query))
    header, payload, signature = query["request"].split(".")
    claims = json.loads(sdjwt.encoding.b64url_decode(payload))
    claims["nonce"] = "chosen-by-an-attacker"
    forged = ".".join([header, sdjwt.encoding.b64url_encode(json.dumps(claims).encode()), signature])
    link = "openid4vp://?" + urllib.parse.urlencode({"client_id": query["client_id"], "request": forged})
    with pytest.raises(UntrustedVerifier):
        fetch_request(parse_request_link(link, allow_loopback_http=False), http=NoNetwork(), trust=_wallet_trust(app),
                      now=clock())
    # A link naming another verifier around this verifier's signed request (did:key resolves to its own key).
    other = "decentralized_identifier:" + sdjwt.did_from_key(sdjwt.Ed25519PrivateKey(b"\x09" * 32).public_key())
    link = "openid4vp://?" + urllib.parse.urlencode({"client_id": other, "request": query["request"]})
    with pytest.raises(UntrustedVerifier, match="differs"):
        fetch_request(parse_request_link(link, allow_loopback_http=False), http=NoNetwork(), trust=StaticTrust(),
                      now=clock())
    # Expired by the time the wallet reads it.
    with pytest.raises(InvalidRequest, match="expired"):
        fetch_request(parse_request_link(opened["request_by_value"], allow_loopback_http=False), http=NoNetwork(),
                      trust=_wallet_trust(app), now=opened["expires_at"] + 3600)


@pytest.mark.parametrize("link, message", [
    ("openid4vp://?client_id=x&request=a.b.c&request_uri=https://v.example/r", "both request and request_uri"),
    ("openid4vp://?request=a.b.c", "exactly one client_id and one request"),
    ("openid4vp://?client_id=x&request=a.b.c&request=d.e.f", "exactly one client_id and one request"),
    ("openid4vp://?client_id=x&request=", "empty or too long"),
    ("openid4vp://?client_id=x&request=a.b.c&request_uri_method=post", "request_uri_method"),
])
def test_malformed_by_value_links_are_refused(link: str, message: str) -> None:
    with pytest.raises(InvalidRequest, match=message):
        parse_request_link(link, allow_loopback_http=False)


def test_garbage_in_the_request_parameter_is_an_invalid_request(make_app: Any, clock: Any) -> None:
    app = make_app(PUBLIC_URL=PUBLIC)
    client_id = app.extensions["civicid_verifier"].client_id
    for garbage in ("not-a-jwt", "a.b.c", "%E4%B8%AD.e30.AA", "e30." * 3):
        link = "openid4vp://?" + urllib.parse.urlencode({"client_id": client_id, "request": garbage})
        with pytest.raises((InvalidRequest, UntrustedVerifier)):
            fetch_request(parse_request_link(link, allow_loopback_http=False), http=NoNetwork(),
                          trust=_wallet_trust(app), now=clock())


def test_by_value_must_be_a_boolean_everywhere(make_app: Any) -> None:
    client = make_app(PUBLIC_URL=PUBLIC).test_client()
    response = client.post("/api/requests", json={"policy": "resident", "by_value": "yes"}, headers=AUTH)
    assert response.status_code == 400 and response.content_type == "application/problem+json"
    opened = client.post("/api/requests", json={"policy": "resident"}, headers=AUTH).get_json()
    assert "request_by_value" not in opened
    response = client.get(f"/api/requests/{opened['id']}/qr.png?by_value=maybe", headers=AUTH)
    assert response.status_code == 400 and response.content_type == "application/problem+json"
    assert client.get(f"/api/requests/{opened['id']}/qr.png?by_value=true").status_code == 401


def test_cli_request_by_value(cli_env: dict[str, str]) -> None:
    result = CliRunner().invoke(cli, ["request", "--policy", "age-over-18", "--by-value", "--json"], env=cli_env)
    assert result.exit_code == 0, result.output
    opened = json.loads(result.stdout)
    assert set(opened) == {"request_uri", "result_url", "expires_at", "request_by_value"}
    link = parse_request_link(opened["request_by_value"], allow_loopback_http=False)
    assert link.request is not None and link.request.count(".") == 2
    plain = CliRunner().invoke(cli, ["request", "--policy", "age-over-18", "--by-value"], env=cli_env)
    assert plain.exit_code == 0 and "request=" in plain.stdout and "request_uri=" not in plain.stdout


def _signed_request(app: Any, **changes: Any) -> str:
    """A request object signed by the verifier's own key, with ``changes`` to the claims it serves (None removes)."""
    from sdjwt.jws import sign_compact

    svc = app.extensions["civicid_verifier"]
    opened = app.test_client().post("/api/requests", json={"policy": "resident", "by_value": True}, headers=AUTH).get_json()
    token = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(opened["request_by_value"]).query))["request"]
    claims = json.loads(sdjwt.encoding.b64url_decode(token.split(".")[1]))
    for name, value in changes.items():
        if value is None:
            claims.pop(name)
        else:
            claims[name] = value
    signed = sign_compact({"typ": "oauth-authz-req+jwt", "kid": svc.kid}, claims, svc.key)
    return "openid4vp://?" + urllib.parse.urlencode({"client_id": svc.client_id, "request": signed})


def test_a_by_value_request_must_say_when_it_ends(make_app: Any, clock: Any) -> None:
    """Fetched, a request is live by construction; in a picture, only its own iat and exp say so."""
    app = make_app(PUBLIC_URL=PUBLIC)
    now = clock()
    accepted = fetch_request(parse_request_link(_signed_request(app), allow_loopback_http=False), http=NoNetwork(),
                             trust=_wallet_trust(app), now=now)
    assert accepted.nonce
    for changes, message in (({"exp": None}, "by value"), ({"iat": None}, "by value"), ({"exp": True}, "expired"),
                             ({"iat": now - 600, "exp": now + 600}, "by value may be valid for at most 900 s")):
        link = _signed_request(app, **changes)
        with pytest.raises(InvalidRequest, match=message):
            fetch_request(parse_request_link(link, allow_loopback_http=False), http=NoNetwork(), trust=_wallet_trust(app),
                          now=now)


def test_the_by_value_qr_is_drawn_only_for_a_pending_request(make_app: Any, issuer: Any, holder: Any, clock: Any) -> None:
    app = make_app(PUBLIC_URL=PUBLIC)
    client = app.test_client()
    opened = client.post("/api/requests", json={"policy": "senior-bus-pass", "by_value": True}, headers=AUTH).get_json()
    vp_token = {"national_id": [present(issuer.issue(holder), PATHS, holder,
                                        aud=app.extensions["civicid_verifier"].client_id,
                                        nonce=app.extensions["civicid_verifier"].lookup(opened["id"]).nonce, iat=clock())]}
    answered = client.post(f"/oid4vp/response/{opened['id']}", base_url=PUBLIC, data={
        "vp_token": json.dumps(vp_token), "state": app.extensions["civicid_verifier"].lookup(opened["id"]).state})
    assert answered.status_code == 200
    response = client.get(f"/api/requests/{opened['id']}/qr.png?by_value=true", headers=AUTH)
    assert response.status_code == 400 and response.get_json()["code"] == "request_expired"
    # By reference the picture is only a link (GET request_uri refuses it): unchanged.
    assert client.get(f"/api/requests/{opened['id']}/qr.png", headers=AUTH).status_code == 200
    opened = client.post("/api/requests", json={"policy": "resident"}, headers=AUTH).get_json()
    clock.now = opened["expires_at"]
    assert client.get(f"/api/requests/{opened['id']}/qr.png?by_value=true", headers=AUTH).status_code == 400


def test_a_request_too_large_for_a_qr_code_is_refused_clearly(make_app: Any, monkeypatch: Any,
                                                              cli_env: dict[str, str]) -> None:
    import verifier.oid4vp

    monkeypatch.setattr(verifier.oid4vp, "QR_BYTES", 1000)  # As a policy with long purpose texts would be.
    app = make_app(PUBLIC_URL=PUBLIC)
    client = app.test_client()
    response = client.post("/api/requests", json={"policy": "benefit", "by_value": True}, headers=AUTH)
    assert response.status_code == 422 and response.content_type == "application/problem+json"
    assert response.get_json()["code"] == "request_too_large_for_qr" and "by reference" in response.get_json()["detail"]
    assert client.post("/api/requests", json={"policy": "benefit"}, headers=AUTH).status_code == 201
    result = CliRunner().invoke(cli, ["request", "--policy", "benefit", "--by-value"], env=cli_env)
    assert result.exit_code == 1 and result.stderr.startswith("error: request_too_large_for_qr:")
    assert "Traceback" not in result.output
