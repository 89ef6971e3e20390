"""The counter API (bearer tokens) and the plain JSON verification API.

* ``POST /api/requests`` ``{"policy": ID}`` -> ``201 {"request_uri": "openid4vp://...", "result_url": ...}``
* ``GET result_url`` -> ``{"state": "pending" | "done", "decision", "reasons", "claims"}``
* ``GET /api/requests/<id>/qr.png`` -> the request URI as a QR code (for the counter screen)
* ``POST /api/requests/<id>/scan`` -> an offline answer: a QR image of the wallet's presentation
* ``POST /api/verify`` ``{"policy", "nonce", "presentation" | "vp_token"}`` -> the decision, for
  systems that are not a counter screen (the presentation's ``aud`` must be this verifier's ``client_id``)
* ``GET /api/policies`` (no token): the policies and their purpose texts
"""

from __future__ import annotations

import hmac
import io
import json
import logging
import warnings
from typing import Any, Callable, Iterable

from flask import Blueprint, Flask, Response, current_app, request
from flask.json.provider import DefaultJSONProvider
from flask.signals import (
    appcontext_popped,
    appcontext_pushed,
    appcontext_tearing_down,
    request_finished,
    request_started,
    request_tearing_down,
)

from sdjwt.encoding import json_loads
from sdjwt.errors import SDJWTError

from .config import ApiToken
from .errors import BadRequest, RequestExpired, ResponseMalformed, Unauthorized
from .oid4vp import Service, service
from .pipeline import Outcome
from .policy import Policy

__all__ = ["bp", "qr_png", "decode_qr", "DirectVerify"]

log = logging.getLogger("civicid.verifier")

bp = Blueprint("api", __name__, url_prefix="/api")

_BODY_DEPTH = 8
"""``{"vp_token": {query id: [presentation]}}`` nests three levels; deeper bodies are refused."""

MAX_IMAGE_BYTES = 4 * 1024 * 1024
MAX_IMAGE_PIXELS = 16_000_000


def _authorize() -> None:
    _check_token(request.headers.get("Authorization", ""), current_app.extensions["civicid_verifier_tokens"],
                 lambda: service().clock())


def _check_token(header: str, tokens: Any, clock: Callable[[], int]) -> None:
    """Raise :class:`Unauthorized` unless ``header`` is ``Bearer <token>`` with a configured, unexpired token."""
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("send 'Authorization: Bearer <token>' with a counter API token")
    presented = token.strip().encode("utf-8", "surrogatepass")
    matched: ApiToken | None = None
    for candidate in tokens:
        # Compare against every token, in constant time, without stopping early.
        if hmac.compare_digest(presented, candidate.secret):
            matched = candidate
    if matched is None:
        raise Unauthorized("the bearer token is not valid for this verifier")
    if matched.expires_at is not None and clock() >= matched.expires_at:
        raise Unauthorized("the bearer token has expired; ask the verifier's operator for a new counter token")


def _json_body() -> dict[str, Any]:
    if not request.is_json:
        raise BadRequest("send a JSON object with Content-Type: application/json")
    return _parse_body(request.get_data(cache=False))


def _parse_body(data: bytes) -> dict[str, Any]:
    # Strict JSON, bounded depth: Flask's parser lets duplicate names through (the last wins) and
    # raised RecursionError, a 500, on a deeply nested body (the attack suite's regression).
    try:
        body = json_loads(data, "the JSON body", _BODY_DEPTH)
    except SDJWTError as exc:
        raise BadRequest("the body must be one strict JSON object (UTF-8, no duplicate names, shallow)") from exc
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    return body


def _no_store(payload: Any, status: int = 200) -> tuple[Any, int, dict[str, str]]:
    return payload, status, {"Cache-Control": "no-store"}


@bp.get("/policies")
def list_policies() -> Any:
    svc = service()
    return {"client_id": svc.client_id, "policies": [p.public() for p in svc.policies]}


@bp.post("/requests")
def open_request() -> Any:
    _authorize()
    body = _json_body()
    by_value = body.get("by_value", False)
    if not isinstance(by_value, bool):
        raise BadRequest("'by_value' must be true or false")
    opened = service().open_request(body.get("policy"), by_value=by_value)
    return _no_store(opened, 201)


@bp.get("/requests/<rid>")
def get_result(rid: str) -> Any:
    _authorize()
    return _no_store(service().lookup(rid).public())


def qr_png(text: str, scale: int = 8, level: str = "M") -> bytes:
    import qrcode

    correction = {"M": qrcode.constants.ERROR_CORRECT_M, "L": qrcode.constants.ERROR_CORRECT_L}[level]
    qr = qrcode.QRCode(error_correction=correction, box_size=scale, border=4)
    qr.add_data(text)
    qr.make(fit=True)
    image = qr.make_image(fill_color="black", back_color="white")
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


@bp.get("/requests/<rid>/qr.png")
def request_qr(rid: str) -> Response:
    _authorize()
    svc = service()
    stored = svc.lookup(rid)
    by_value = request.args.get("by_value", "false")
    if by_value not in ("true", "false"):
        raise BadRequest("'by_value' must be true or false")
    if by_value == "true":
        # As GET request_uri: a request object is signed only for a request that can still be answered.
        if stored.status != "pending" or svc.clock() >= stored.expires:
            raise RequestExpired("this request was answered or has expired; open a new one")
        # The signed request object inside the code (~1.8-1.9 KB): level L, version 31-32.
        image = qr_png(svc.by_value_link(stored), scale=4, level="L")
    else:
        image = qr_png(svc.urls(stored.rid)["request_uri"])
    response = Response(image, content_type="image/png")
    response.headers["Cache-Control"] = "no-store"
    return response


def decode_qr(data: bytes) -> str:
    """The text of the one QR code in an image (PNG/JPEG camera frame), with size limits."""
    import zxingcpp
    from PIL import Image

    if len(data) > MAX_IMAGE_BYTES:
        raise ResponseMalformed("the image is larger than 4 MiB")
    try:
        with warnings.catch_warnings():
            # Our own pixel limit (below Pillow's) refuses these with a clear message; no log noise.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
        if image.width * image.height > MAX_IMAGE_PIXELS:
            raise ResponseMalformed("the image has too many pixels")
        image = image.convert("L")
    except ResponseMalformed:
        raise
    except Exception as exc:
        # Pillow's decoders raise more than OSError/ValueError on malformed uploads: SyntaxError for an
        # unknown zTXt compression, IndexError for an iCCP chunk after the image data (fuzz findings
        # 1 and 9). Whatever Pillow raises on these bytes means the same: not a readable picture.
        raise ResponseMalformed("the upload is not a readable PNG or JPEG image") from exc
    try:
        found = zxingcpp.read_barcodes(image)
    except Exception as exc:  # The decoder's own failures: the image is the problem.
        raise ResponseMalformed("the QR decoder could not read the image") from exc
    codes = [c for c in found if c.format == zxingcpp.BarcodeFormat.QRCode and c.valid]
    if len(codes) != 1:
        raise ResponseMalformed("the image must show exactly one readable QR code")
    return str(codes[0].text)


@bp.post("/requests/<rid>/scan")
def scan(rid: str) -> Any:
    """Offline counters: the wallet shows its presentation as a QR code; the counter uploads the picture.

    The QR holds the SD-JWT presentation (or a ``vp_token`` JSON object) whose
    key binding JWT names this verifier's ``client_id`` and the request's nonce.
    The answer says how old the status list used is.
    """
    _authorize()
    svc: Service = service()
    stored = svc.lookup(rid)
    upload = request.files.get("image")
    data = upload.read(MAX_IMAGE_BYTES + 1) if upload is not None else request.get_data(cache=False)
    if not data:
        raise BadRequest("upload the QR picture as multipart field 'image' or as the request body")
    policy = svc.policies.get(stored.policy)
    # A blurred picture does not end the request: the clerk can scan again.
    text = decode_qr(data)
    if text.lstrip().startswith("{"):
        vp_token: Any = text
    elif len(policy.credentials) == 1:
        vp_token = json.dumps({policy.credentials[0].id: [text]})
    else:
        raise ResponseMalformed("this policy needs several credentials; the QR must hold a vp_token object")
    outcome = svc.answer(stored, vp_token)
    result = {"state": "done", **outcome.to_json(), "status_list_age": outcome.status_list_age,
              "registry_age": _registry_age(svc)}
    return _no_store(result)


def _registry_age(svc: Service) -> int | None:
    """Seconds since the trust snapshot was taken, when the trust source says (offline snapshots do)."""
    taken = getattr(svc.pipeline.trust, "snapshot_time", None)
    if isinstance(taken, int):
        return max(0, svc.clock() - taken)
    return None


@bp.post("/verify")
def verify() -> Any:
    """The plain JSON API: a presentation, the nonce the caller issued, a policy id -> the decision."""
    _authorize()
    body = _json_body()
    svc = service()
    policy, nonce, vp_token = _verify_arguments(body, svc)
    failed = request.environ.get(_DECISION_FAILED)
    if failed is not None:
        # DirectVerify (below) made this decision and it raised: answer as if it had raised here.
        raise failed
    return _no_store(_decide(svc, policy, nonce, vp_token).to_json())


def _verify_arguments(body: dict[str, Any], svc: Service) -> tuple[Policy, str, Any]:
    policy = svc.policies.get(body.get("policy"))
    nonce = body.get("nonce")
    if not isinstance(nonce, str) or not 16 <= len(nonce) <= 256:
        raise BadRequest("'nonce' must be the 16-256 character nonce your system gave the wallet")
    if "vp_token" in body:
        vp_token = body["vp_token"]
    elif isinstance(body.get("presentation"), str):
        if len(policy.credentials) != 1:
            raise BadRequest("this policy needs several credentials; send 'vp_token' instead of 'presentation'")
        vp_token = {policy.credentials[0].id: [body["presentation"]]}
    else:
        raise BadRequest("send 'presentation' (an SD-JWT string) or 'vp_token' (an object)")
    return policy, nonce, vp_token


def _decide(svc: Service, policy: Policy, nonce: str, vp_token: Any) -> Outcome:
    outcome = svc.pipeline.decide(vp_token, policy, nonce=nonce, audience=svc.client_id, now=svc.clock())
    log.info("verify policy=%s decision=%s reasons=%s", policy.id, outcome.decision,
             ",".join(str(r.get("code")) for r in outcome.reasons) or "-")
    return outcome


_REQUEST_SIGNALS = (request_started, request_finished, request_tearing_down, appcontext_pushed, appcontext_popped,
                    appcontext_tearing_down)
"""Flask sends these on every request: with any receiver connected, every request goes through Flask."""

_DECISION_FAILED = "civicid.verifier.decision_failed"
"""WSGI environ key: the exception DirectVerify's decision raised, for the view to raise in its place."""


class DirectVerify:
    """WSGI middleware: ``POST /api/verify`` answered without Flask's per-request machinery.

    Flask's request context, routing, signals and response object cost about as much per request
    as two signature verifications (measured: ~150 us of a ~720 us request, the decision included).
    This answers the common case directly, with the same functions as the view (:func:`_check_token`,
    :func:`_parse_body`, :func:`_verify_arguments`, :func:`_decide`) and the same response bytes and
    headers. Anything else goes to Flask, whose view repeats those checks and answers:

    * a request this cannot take as is: another content type, no ``Content-Length``, a chunked or
      oversized body, a cookie; an application with request or app-context hooks, receivers of
      Flask's request or app-context signals, a
      ``SERVER_NAME``, ``TRUSTED_HOSTS``, host matching, debug or non-default JSON output;
    * any refusal before the decision (token, body, arguments): those steps have no side effect,
      so Flask makes them again and answers with its error handlers;
    * an exception from the decision itself (the replay guard's database, say): the view is given
      it (``environ[_DECISION_FAILED]``) and raises it where it would have called the pipeline, so
      the error handlers answer as for any request; the decision is not made twice.

    The body is read once; Flask reads the same bytes from a copy.
    """

    def __init__(self, app: Flask, wsgi_app: Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]) -> None:
        self.app = app
        self.wsgi_app = wsgi_app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == "/api/verify" and environ.get("REQUEST_METHOD") == "POST":
            answer = self._answer(environ, start_response)
            if answer is not None:
                return answer
        return self.wsgi_app(environ, start_response)

    def _plain(self) -> bool:
        """True while nothing Flask would run for this request is missing here."""
        app = self.app
        config = app.config
        provider = app.json
        return (
            config["SERVER_NAME"] is None
            and config["TRUSTED_HOSTS"] is None
            and not app.url_map.host_matching
            and not app.debug
            and provider.__class__ is DefaultJSONProvider
            and provider.compact is not False
            and app.response_class is Response
            and not any(app.before_request_funcs.values())
            and not any(app.after_request_funcs.values())
            and not any(app.teardown_request_funcs.values())
            and not any(app.url_value_preprocessors.values())
            and not app.teardown_appcontext_funcs
            and not any(signal.receivers for signal in _REQUEST_SIGNALS)
        )

    def _answer(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes] | None:
        app = self.app
        length = environ.get("CONTENT_LENGTH")
        if (
            environ.get("CONTENT_TYPE") != "application/json"
            or length.__class__ is not str
            or not length.isascii()
            or not length.isdigit()
            or "HTTP_TRANSFER_ENCODING" in environ
            or "HTTP_COOKIE" in environ
            or not self._plain()
        ):
            return None
        size = int(length)
        limit = app.config["MAX_CONTENT_LENGTH"]
        if limit is not None and size > limit:
            return None
        svc: Service = app.extensions["civicid_verifier"]
        try:
            # The token first, as the view does: nothing of an unauthenticated body is read here.
            _check_token(environ.get("HTTP_AUTHORIZATION", ""), app.extensions["civicid_verifier_tokens"], svc.clock)
        except Exception:
            return None
        data = environ["wsgi.input"].read(size) if size else b""
        environ["wsgi.input"] = io.BytesIO(data)  # Should Flask answer after all, it reads the same bytes.
        try:
            if len(data) != size:
                return None  # A short body: the client went away; Flask words it.
            policy, nonce, vp_token = _verify_arguments(_parse_body(data), svc)
        except Exception:  # A refusal, or anything unexpected: Flask makes the same checks and answers.
            return None
        try:
            outcome = _decide(svc, policy, nonce, vp_token)
        except Exception as exc:
            environ[_DECISION_FAILED] = exc
            return None
        # What Flask's make_response makes of _no_store(payload): DefaultJSONProvider.response
        # (compact, sorted, ASCII, a final newline), status 200, then the Cache-Control header.
        provider = app.json
        text = provider.dumps(outcome.to_json(), separators=(",", ":")) + "\n"
        payload = text.encode("utf-8")
        start_response("200 OK", [("Content-Type", provider.mimetype), ("Content-Length", str(len(payload))),
                                  ("Cache-Control", "no-store")])
        return [payload]
