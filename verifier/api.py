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
from typing import Any

from flask import Blueprint, Response, current_app, request

from sdjwt.encoding import json_loads
from sdjwt.errors import SDJWTError

from .config import ApiToken
from .errors import BadRequest, ResponseMalformed, Unauthorized
from .oid4vp import Service, service

__all__ = ["bp", "qr_png", "decode_qr"]

log = logging.getLogger("civicid.verifier")

bp = Blueprint("api", __name__, url_prefix="/api")

_BODY_DEPTH = 8
"""``{"vp_token": {query id: [presentation]}}`` nests three levels; deeper bodies are refused."""

MAX_IMAGE_BYTES = 4 * 1024 * 1024
MAX_IMAGE_PIXELS = 16_000_000


def _authorize() -> None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("send 'Authorization: Bearer <token>' with a counter API token")
    presented = token.strip().encode("utf-8", "surrogatepass")
    matched: ApiToken | None = None
    for candidate in current_app.extensions["civicid_verifier_tokens"]:
        # Compare against every token, in constant time, without stopping early.
        if hmac.compare_digest(presented, candidate.secret):
            matched = candidate
    if matched is None:
        raise Unauthorized("the bearer token is not valid for this verifier")
    if matched.expires_at is not None and service().clock() >= matched.expires_at:
        raise Unauthorized("the bearer token has expired; ask the verifier's operator for a new counter token")


def _json_body() -> dict[str, Any]:
    if not request.is_json:
        raise BadRequest("send a JSON object with Content-Type: application/json")
    # Strict JSON, bounded depth: Flask's parser lets duplicate names through (the last wins) and
    # raised RecursionError, a 500, on a deeply nested body (the attack suite's regression).
    try:
        body = json_loads(request.get_data(cache=False), "the JSON body", _BODY_DEPTH)
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
        # The signed request object inside the code (~2 KB): level L keeps the symbol at version ~33.
        image = qr_png(svc.by_value_link(stored), scale=4, level="L")
    else:
        image = qr_png(svc.urls(stored.rid)["request_uri"])
    response = Response(image, content_type="image/png")
    response.headers["Cache-Control"] = "no-store"
    return response


def decode_qr(data: bytes) -> str:
    """The text of the one QR code in an image (PNG/JPEG camera frame), with size limits."""
    import zxingcpp
    from PIL import Image, UnidentifiedImageError

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
    outcome = svc.pipeline.decide(vp_token, policy, nonce=nonce, audience=svc.client_id, now=svc.clock())
    log.info("verify policy=%s decision=%s reasons=%s", policy.id, outcome.decision,
             ",".join(str(r.get("code")) for r in outcome.reasons) or "-")
    return _no_store(outcome.to_json())
