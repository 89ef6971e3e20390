"""The counter screen (zh-CN and en) and the static OpenAPI description.

The page is static HTML and script; it talks to the counter API with the
counter's bearer token (typed in once, kept in the tab's ``sessionStorage``),
shows the request as a QR code, polls the result, then shows a large green or
red verdict with only the claims the policy used, and a button for the next citizen.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

from flask import Blueprint, Response, redirect

__all__ = ["bp"]

bp = Blueprint("counter", __name__)

_CSP = (
    "default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'unsafe-inline'; img-src 'self' blob:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


def _static(name: str) -> bytes:
    return (resources.files("verifier") / name).read_bytes()


@bp.get("/")
def index() -> Any:
    return redirect("/counter", code=302)


@bp.get("/counter")
def page() -> Response:
    response = Response(_static("counter.html"), content_type="text/html; charset=utf-8")
    response.headers["Content-Security-Policy"] = _CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/openapi.json")
def openapi() -> Response:
    return Response(_static("openapi.json"), content_type="application/json")
