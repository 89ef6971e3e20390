"""``POST /api/verify`` answered by :class:`verifier.api.DirectVerify` is answered as Flask answers it.

Two verifiers with the same configuration, clock, trust and status lists, each
with its own database: one as served (DirectVerify in front of Flask), one
with Flask alone. Every request goes to both, in the same order; the status,
the header list and the body must be equal byte for byte, and DirectVerify must
have answered the common case itself.
"""

from __future__ import annotations

import io
import json
from typing import Any, Callable

import pytest
from flask import Flask

from verifier import api
from verifier.errors import StorageUnavailable
from verifier_constants import TOKEN
from verifier_helpers import national_id_claims, present

NONCE = "direct-verify-nonce-0000"
PATHS = [("age_equal_or_over", "65"), ("address", "locality")]


def _call(wsgi: Callable[..., Any], method: str, path: str, body: bytes, headers: dict[str, str],
          stream: Any = None) -> tuple[Any, ...]:
    environ = {
        "REQUEST_METHOD": method, "PATH_INFO": path, "SCRIPT_NAME": "", "QUERY_STRING": "", "SERVER_NAME": "localhost",
        "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.url_scheme": "http", "wsgi.input": stream or io.BytesIO(body),
        "wsgi.errors": io.StringIO(), "wsgi.multithread": True, "wsgi.multiprocess": True, "wsgi.run_once": False,
        "wsgi.version": (1, 0), "REMOTE_ADDR": "127.0.0.1", "HTTP_HOST": "localhost",
    }
    for name, value in headers.items():
        key = name.upper().replace("-", "_")
        environ[key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else "HTTP_" + key] = value
    started: list[Any] = []

    def start_response(status: str, response_headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        started.append((status, list(response_headers)))

    chunks = wsgi(environ, start_response)
    try:
        data = b"".join(chunks)
    finally:
        getattr(chunks, "close", lambda: None)()
    return started[0][0], started[0][1], data


@pytest.fixture
def pair(make_app: Any, tmp_path: Any) -> tuple[Flask, Flask, list[str]]:
    direct = make_app(str(tmp_path / "direct.db"))
    flask_only = make_app(str(tmp_path / "flask.db"))
    flask_only.wsgi_app = lambda environ, start_response: Flask.wsgi_app(flask_only, environ, start_response)
    answered: list[str] = []
    real = api.DirectVerify._answer

    def spy(self: Any, environ: Any, start_response: Any) -> Any:
        result = real(self, environ, start_response)
        answered.append("direct" if result is not None else "flask")
        return result

    api.DirectVerify._answer = spy  # type: ignore[method-assign]
    yield direct, flask_only, answered
    api.DirectVerify._answer = real  # type: ignore[method-assign]


def _client_id(app: Flask) -> str:
    return str(app.extensions["civicid_verifier"].client_id)


def test_same_answers_as_flask(pair: Any, issuer: Any, holder: Any, clock: Any) -> None:
    direct, flask_only, answered = pair
    aud = _client_id(direct)
    assert aud == _client_id(flask_only)
    credential = issuer.issue(holder, iat=clock() - 100)
    young = issuer.issue(holder, national_id_claims(age65=False), iat=clock() - 100)
    fresh = [present(credential, PATHS, holder, aud=aud, nonce=NONCE, iat=clock() - i) for i in range(6)]
    auth = {"Authorization": "Bearer " + TOKEN, "Content-Type": "application/json"}

    def body(**fields: Any) -> bytes:
        return json.dumps({"policy": "senior-bus-pass", "nonce": NONCE, **fields}).encode()

    cases: list[tuple[str, str, bytes, dict[str, str], str]] = [
        # (method, path, body, headers, who should answer)
        ("POST", "/api/verify", body(presentation=fresh[0]), auth, "direct"),
        ("POST", "/api/verify", body(presentation=fresh[0]), auth, "direct"),  # Replayed: a false decision.
        ("POST", "/api/verify", body(vp_token={"national_id": [fresh[1]]}), auth, "direct"),
        ("POST", "/api/verify", body(vp_token=json.dumps({"national_id": [fresh[2]]})), auth, "direct"),
        ("POST", "/api/verify", body(presentation=present(young, PATHS, holder, aud=aud, nonce=NONCE, iat=clock())),
         auth, "direct"),
        ("POST", "/api/verify", body(presentation=fresh[3], nonce="another-nonce-00000000"), auth, "direct"),
        ("POST", "/api/verify", body(presentation="not an sd-jwt"), auth, "direct"),
        ("POST", "/api/verify", body(presentation=fresh[5], policy="resident"), auth, "direct"),
        ("POST", "/api/verify", body(presentation=fresh[4] + "\u00e9"), auth, "direct"),
        # Refusals before the decision: Flask answers.
        ("POST", "/api/verify", body(presentation=fresh[5]), {"Content-Type": "application/json"}, "flask"),
        ("POST", "/api/verify", body(presentation=fresh[5]), {**auth, "Authorization": "Bearer " + "y" * 46}, "flask"),
        ("POST", "/api/verify", body(presentation=fresh[5]), {**auth, "Authorization": "Basic " + TOKEN}, "flask"),
        ("POST", "/api/verify", body(presentation=fresh[5], policy="no-such-policy"), auth, "flask"),
        ("POST", "/api/verify", body(presentation=fresh[5], nonce="short"), auth, "flask"),
        ("POST", "/api/verify", body(presentation=fresh[5], nonce=7), auth, "flask"),
        ("POST", "/api/verify", body(), auth, "flask"),
        ("POST", "/api/verify", b'{"policy": "senior-bus-pass", "policy": "age-over-18"}', auth, "flask"),
        ("POST", "/api/verify", b"[1]", auth, "flask"),
        ("POST", "/api/verify", b"{" * 50, auth, "flask"),
        ("POST", "/api/verify", b"\xff\xfe", auth, "flask"),
        ("POST", "/api/verify", b"", auth, "flask"),
        ("POST", "/api/verify", body(presentation=fresh[5], policy="benefit"), auth, "direct"),
        # Requests DirectVerify leaves to Flask as they are.
        ("POST", "/api/verify", body(presentation=fresh[5]), {**auth, "Content-Type": "text/plain"}, "flask"),
        ("POST", "/api/verify", body(presentation=fresh[5]), {**auth, "Content-Type": "application/json; charset=utf-8"},
         "flask"),
        ("POST", "/api/verify", body(presentation=fresh[5]), {**auth, "Cookie": "session=x"}, "flask"),
        ("POST", "/api/verify", b"x" * (300 * 1024), auth, "flask"),
        ("GET", "/api/verify", b"", auth, "none"),
        ("POST", "/api/verify/", body(presentation=fresh[5]), auth, "none"),
    ]
    for method, path, data, headers, who in cases:
        headers = {**headers, "Content-Length": str(len(data))}
        answered.clear()
        got = _call(direct, method, path, data, headers)
        expected = _call(flask_only, method, path, data, headers)
        assert got == expected, (path, data[:80], headers)
        assert answered == ([] if who == "none" else [who]), (data[:80], headers)


def test_short_body_goes_to_flask(pair: Any) -> None:
    direct, flask_only, answered = pair
    data = b'{"policy": "senior-bus-pass"}'
    headers = {"Authorization": "Bearer " + TOKEN, "Content-Type": "application/json", "Content-Length": "500"}
    assert _call(direct, "POST", "/api/verify", data, headers) == _call(flask_only, "POST", "/api/verify", data, headers)
    assert answered == ["flask"]


def test_a_failing_decision_is_answered_by_flask_without_deciding_twice(pair: Any, issuer: Any, holder: Any,
                                                                       clock: Any) -> None:
    direct, flask_only, answered = pair
    calls: list[str] = []

    def broken(*args: Any) -> bool:
        calls.append("replay")
        raise StorageUnavailable("the verifier's database failed (OperationalError); check --db")

    for app in (direct, flask_only):
        app.extensions["civicid_verifier"].pipeline.replay = broken
    p = present(issuer.issue(holder, iat=clock() - 100), PATHS, holder, aud=_client_id(direct), nonce=NONCE,
                iat=clock())
    data = json.dumps({"policy": "senior-bus-pass", "nonce": NONCE, "presentation": p}).encode()
    headers = {"Authorization": "Bearer " + TOKEN, "Content-Type": "application/json", "Content-Length": str(len(data))}
    got = _call(direct, "POST", "/api/verify", data, headers)
    assert calls == ["replay"]
    assert got == _call(flask_only, "POST", "/api/verify", data, headers)
    assert got[0].startswith("503")
    assert answered == ["flask"]


def test_hooks_and_signals_send_every_request_through_flask(pair: Any, issuer: Any, holder: Any, clock: Any) -> None:
    from flask.signals import request_started

    direct, _, answered = pair
    seen: list[str] = []
    direct.after_request(lambda response: (seen.append("after"), response)[1])
    p = present(issuer.issue(holder, iat=clock() - 100), PATHS, holder, aud=_client_id(direct), nonce=NONCE,
                iat=clock())
    data = json.dumps({"policy": "senior-bus-pass", "nonce": NONCE, "presentation": p}).encode()
    headers = {"Authorization": "Bearer " + TOKEN, "Content-Type": "application/json", "Content-Length": str(len(data))}
    status, _, body = _call(direct, "POST", "/api/verify", data, headers)
    assert status.startswith("200") and json.loads(body)["decision"] is True
    assert seen == ["after"] and answered == ["flask"]

    def receiver(sender: Any, **extra: Any) -> None:
        seen.append("started")

    direct.after_request_funcs.clear()
    request_started.connect(receiver, direct)
    try:
        answered.clear()
        _call(direct, "POST", "/api/verify", data, headers)
    finally:
        request_started.disconnect(receiver, direct)
    assert seen == ["after", "started"] and answered == ["flask"]

    direct.teardown_appcontext_funcs.append(lambda error: seen.append("teardown"))
    answered.clear()
    _call(direct, "POST", "/api/verify", data, headers)
    assert seen == ["after", "started", "teardown"] and answered == ["flask"]


def test_an_unauthenticated_body_is_not_read(pair: Any) -> None:
    """As in the view, the token comes first: a stranger's large body ties up nothing reading it."""
    direct, _, answered = pair
    read: list[int] = []

    class Counting(io.BytesIO):
        def read(self, size: int | None = -1) -> bytes:
            data = super().read(size)
            read.append(len(data))
            return data

    data = json.dumps({"policy": "senior-bus-pass", "nonce": NONCE, "presentation": "x" * 200_000}).encode()
    for authorization in ("Bearer " + "y" * 46, "Basic " + TOKEN, ""):
        read.clear()
        answered.clear()
        headers = {"Content-Type": "application/json", "Content-Length": str(len(data))}
        if authorization:
            headers["Authorization"] = authorization
        status, _, _ = _call(direct, "POST", "/api/verify", data, headers, stream=Counting(data))
        assert status.startswith("401") and answered == ["flask"]
        assert sum(read) == 0, authorization
