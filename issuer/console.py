"""The officers' web console (blueprint ``console``)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from .errors import IssuerError

bp = Blueprint("console", __name__, url_prefix="/console")


def render_error(exc: IssuerError) -> Any:
    return exc.message, exc.status
