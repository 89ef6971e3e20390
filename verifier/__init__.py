"""civicid verifier: the service counter's side of OpenID4VP 1.0.

``create_app`` builds the Flask service (``flask --app verifier run`` for
development, ``civicid verifier serve`` with gunicorn in production).
"""

from __future__ import annotations

from .app import create_app

__all__ = ["create_app"]
