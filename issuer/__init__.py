"""civicid issuer: a government office's OpenID4VCI 1.0 credential issuer, status lists, officers and audit log."""

from __future__ import annotations

from .app import create_app

__all__ = ["create_app"]
