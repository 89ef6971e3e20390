"""The issuer service's Flask application factory."""

from __future__ import annotations

import json
from typing import Any, Mapping

from flask import Flask

from registry import admission

from . import errors, storage
from .config import DEFAULTS, instance_config_path, validate
from .credential_types import load_types
from .errors import ConfigError
from .status import StatusListCache

__all__ = ["create_app"]


def create_app(overrides: Mapping[str, Any] | None = None) -> Flask:
    """Defaults -> instance config file -> ``CIVICID_ISSUER_*`` environment -> ``overrides``; validated."""
    app = Flask("issuer", instance_relative_config=True)
    app.config.from_mapping(DEFAULTS)
    path = instance_config_path()
    if path:
        try:
            with open(path, encoding="utf-8") as handle:
                app.config.from_mapping(json.load(handle))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read the instance config file CIVICID_ISSUER_CONFIG ({type(exc).__name__})") from exc
    app.config.from_prefixed_env("CIVICID_ISSUER")
    if overrides:
        app.config.from_mapping(overrides)
    if app.config.get("TESTING") and "SESSION_COOKIE_NAME" not in (overrides or {}):
        app.config["SESSION_COOKIE_NAME"] = "civicid-issuer-session"
    validate(app.config)
    app.extensions["civicid_issuer_types"] = load_types()
    app.extensions["civicid_issuer_status_cache"] = StatusListCache()
    storage.init_app(app)

    from . import admin, console, oid4vci

    app.register_blueprint(oid4vci.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(console.bp)
    errors.init_app(app)
    # Load shedding: 503 at once beyond MAX_IN_FLIGHT per process, OAuth-style on the OpenID4VCI paths.
    admission.install(app, problem_type=errors.PROBLEM_TYPE_PREFIX, error=ConfigError,
                      oauth_paths=("/token", "/credential", "/nonce", "/credential-offer/"))

    @app.get("/openapi.json")
    def openapi() -> Any:
        from importlib import resources

        from flask import Response

        text = (resources.files("issuer") / "openapi.json").read_text("utf-8")
        return Response(text, mimetype="application/json")

    return app
