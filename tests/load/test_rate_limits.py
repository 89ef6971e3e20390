"""Exact counts: the admission bound (registry.admission) and the issuer's token buckets on /token, /nonce."""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path
from typing import Any, Iterator

import pytest

import sdjwt
from registry.admission import Admission, TokenBuckets, client_address

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "issuer"))

from issuer_helpers import Clock, make_app  # noqa: E402

PRE_AUTH = "urn:ietf:params:oauth:grant-type:pre-authorized_code"


# Admission ----------------------------------------------------------------------------------


class Gate:
    """A WSGI app that holds each request until released."""

    def __init__(self) -> None:
        self.inside = threading.Semaphore(0)
        self.release = threading.Semaphore(0)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        self.inside.release()
        self.release.acquire()
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]


def call(app: Any, path: str = "/x") -> tuple[str, dict[str, str], bytes]:
    seen: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        seen["status"], seen["headers"] = status, dict(headers)

    body = b"".join(app({"PATH_INFO": path, "REQUEST_METHOD": "GET"}, start_response))
    return seen["status"], seen["headers"], body


def test_admission_answers_503_beyond_max_in_flight_and_admits_again() -> None:
    gate = Gate()
    app = Admission(gate, max_in_flight=2, problem_type="urn:test:", oauth_paths=("/token",))
    answers: list[str] = []
    inside = [threading.Thread(target=lambda: answers.append(call(app)[0])) for _ in range(2)]
    for thread in inside:
        thread.start()
    gate.inside.acquire()
    gate.inside.acquire()
    status, headers, body = call(app)  # Both slots are taken: refused at once, without waiting.
    assert status.startswith("503") and headers["Retry-After"] == "1"
    assert headers["Content-Type"] == "application/problem+json"
    assert json.loads(body) == {"type": "urn:test:overloaded", "title": "Service overloaded", "status": 503,
                                "detail": "the service is at capacity; retry after 1 second", "code": "overloaded"}
    status, headers, body = call(app, "/token")
    assert status.startswith("503") and json.loads(body)["error"] == "temporarily_unavailable"
    assert app.stats() == {"in_flight": 2, "admitted": 2, "shed": 2, "max_in_flight": 2}
    gate.release.release()
    gate.release.release()
    for thread in inside:
        thread.join(5)
    assert answers == ["200 OK", "200 OK"]
    gate.release.release()
    assert call(app)[0] == "200 OK"  # The slots are free again.
    assert app.stats()["in_flight"] == 0


def test_admission_lets_a_request_wait_for_a_slot_up_to_max_queue_wait() -> None:
    gate = Gate()
    app = Admission(gate, max_in_flight=1, max_queue_wait=5.0, problem_type="urn:test:")
    first = threading.Thread(target=call, args=(app,))
    first.start()
    gate.inside.acquire()
    answers: list[str] = []
    waiting = threading.Thread(target=lambda: answers.append(call(app)[0]))
    waiting.start()
    gate.release.release()  # The first leaves; the waiting one takes its slot.
    gate.inside.acquire()
    gate.release.release()
    first.join(5)
    waiting.join(5)
    assert answers == ["200 OK"] and app.stats()["shed"] == 0


def test_admission_settings_are_checked_at_start() -> None:
    from flask import Flask

    from registry.admission import install

    for name, value in (("MAX_IN_FLIGHT", -1), ("MAX_QUEUE_WAIT", "soon"), ("RETRY_AFTER", 0)):
        app = Flask("t")
        app.config[name] = value
        with pytest.raises(KeyError, match=name):
            install(app, problem_type="urn:test:", error=KeyError)
    app = Flask("t")
    app.config["MAX_IN_FLIGHT"] = 0  # Off.
    assert install(app, problem_type="urn:test:") is None and not isinstance(app.wsgi_app, Admission)


def test_token_buckets_refill_and_bound_their_memory() -> None:
    buckets = TokenBuckets(3, 0.5, max_keys=2)
    assert [buckets.take("a", 0.0) for _ in range(4)] == [0.0, 0.0, 0.0, 2.0]
    assert buckets.take("a", 2.0) == 0.0 and buckets.take("a", 2.0) == 2.0
    buckets.take("b", 2.0)
    buckets.take("c", 2.0)
    assert len(buckets) == 2  # "a", least recently used, was dropped.


def test_client_address_keys_ipv6_by_prefix_and_trusts_only_named_proxies() -> None:
    assert client_address({"REMOTE_ADDR": "2001:db8:1:2:3:4:5:6"}) == "2001:db8:1:2::/64"
    assert client_address({"REMOTE_ADDR": "10.0.0.9", "HTTP_X_FORWARDED_FOR": "1.2.3.4"}) == "10.0.0.9"
    environ = {"REMOTE_ADDR": "10.0.0.9", "HTTP_X_FORWARDED_FOR": "6.6.6.6, 1.2.3.4"}
    assert client_address(environ, ["10.0.0.9"]) == "1.2.3.4"  # The hop nginx appended, not the client's claim.


# Issuer: /token (PIN attempts) and /nonce ---------------------------------------------------


class Monotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def issuer(tmp_path: Path) -> Iterator[tuple[Any, Monotonic]]:
    ticks = Monotonic()
    app = make_app(str(tmp_path / "issuer.db"), Clock(), sdjwt.Ed25519PrivateKey(bytes(range(32))),
                   RATE_LIMIT_CLOCK=ticks, RATE_LIMIT_TOKEN_PER_ADDRESS=[6, 60], RATE_LIMIT_TOKEN_PER_OFFER=[3, 6],
                   RATE_LIMIT_NONCE_PER_ADDRESS=[2, 60])  # fmt: skip
    app.config["PUBLIC_URL"] = "https://office.example"
    yield app, ticks
    app.extensions["civicid_issuer_store"].close()


def _offer(app: Any) -> tuple[str, str]:
    """A fresh offer: (pre-authorized code, PIN)."""
    import nacl.utils

    from issuer.offers import OfferSettings, create_offers
    from issuer_helpers import NATIONAL_ID

    with app.app_context():
        offer = create_offers(app.extensions["civicid_issuer_store"], OfferSettings.from_config(app.config),
                              app.extensions["civicid_issuer_types"]["national_id"], NATIONAL_ID, actor="test",
                              now=app.config["CLOCK"](), random=nacl.utils.random)  # fmt: skip
    body = app.test_client().get(offer.credential_offer_uri.replace("https://office.example", "")).get_json()
    return body["grants"][PRE_AUTH]["pre-authorized_code"], offer.tx_code


def _token(client: Any, code: str, pin: str, address: str = "127.0.0.1", **headers: str) -> Any:
    return client.post("/token", data={"grant_type": PRE_AUTH, "pre-authorized_code": code, "tx_code": pin},
                       environ_base={"REMOTE_ADDR": address}, headers=headers)  # fmt: skip


def test_pin_guessing_on_one_offer_is_rate_limited_without_counting_attempts(issuer: tuple[Any, Monotonic]) -> None:
    app, ticks = issuer
    client = app.test_client()
    code, pin = _offer(app)
    wrong = "0" * 6 if pin != "0" * 6 else "1" * 6
    # The offer's bucket holds 3 attempts, refilled at 6 per minute (one per 10 s).
    for remaining in (4, 3, 2):
        resp = _token(client, code, wrong)
        assert resp.status_code == 400 and resp.get_json()["attempts_remaining"] == remaining
    resp = _token(client, code, wrong)
    assert resp.status_code == 429 and resp.headers["Retry-After"] == "10"
    assert resp.get_json()["error"] == "invalid_request" and resp.get_json()["civicid_reason"] == "rate_limited"
    assert resp.headers["Cache-Control"] == "no-store"
    resp = _token(client, code, pin)  # Even the right PIN waits: the bucket is per offer, not per guess.
    assert resp.status_code == 429
    ticks.now += 10
    # The refused attempts were never counted: one wrong PIN later, one attempt is left, as after 4.
    assert _token(client, code, wrong).get_json()["attempts_remaining"] == 1
    ticks.now += 10
    resp = _token(client, code, pin)
    assert resp.status_code == 200 and resp.get_json()["token_type"] == "Bearer"


def test_token_requests_are_limited_per_client_address(issuer: tuple[Any, Monotonic]) -> None:
    app, ticks = issuer
    client = app.test_client()
    codes = [f"unknown-code-{i:02d}" for i in range(8)]
    answers = [_token(client, c, "123456").status_code for c in codes[:7]]
    assert answers == [400] * 6 + [429]  # 6 at once from one address, whatever the offers.
    assert _token(client, codes[7], "123456", address="192.0.2.7").status_code == 400  # Another client.
    ticks.now += 1  # One per second refills.
    assert _token(client, codes[7], "123456").status_code == 400
    assert _token(client, codes[7], "123456").status_code == 429


def test_behind_a_trusted_proxy_the_forwarded_client_is_limited(issuer: tuple[Any, Monotonic]) -> None:
    app, _ = issuer
    app.config["RATE_LIMIT_TRUSTED_PROXIES"] = ["10.0.0.2"]
    client = app.test_client()
    for i in range(6):
        assert _token(client, f"code-a{i}", "1", "10.0.0.2", **{"X-Forwarded-For": "198.51.100.1"}).status_code == 400
    assert _token(client, "code-a9", "1", "10.0.0.2", **{"X-Forwarded-For": "198.51.100.1"}).status_code == 429
    assert _token(client, "code-b0", "1", "10.0.0.2", **{"X-Forwarded-For": "198.51.100.2"}).status_code == 400


def test_nonce_requests_are_limited_per_client_address(issuer: tuple[Any, Monotonic]) -> None:
    app, ticks = issuer
    client = app.test_client()
    assert [client.post("/nonce").status_code for _ in range(3)] == [200, 200, 429]
    ticks.now += 1
    assert client.post("/nonce").status_code == 200


def test_a_rate_limit_setting_is_checked_at_start(tmp_path: Path) -> None:
    from issuer.errors import ConfigError

    with pytest.raises(ConfigError, match="RATE_LIMIT_TOKEN_PER_OFFER must be"):
        make_app(str(tmp_path / "x.db"), Clock(), sdjwt.Ed25519PrivateKey(bytes(range(32))),
                 RATE_LIMIT_TOKEN_PER_OFFER=[0, 5])  # fmt: skip
