"""Errors raised by :mod:`issuer`, and their HTTP forms.

Every error that outside input (a request, a CSV row, a claims file, a
keystore passphrase) can cause is an :class:`IssuerError`. Each class has a
stable ``code`` (the problem ``type`` suffix on the admin API, the key in logs,
the CLI's message) and a message that says what to do next. Messages never
carry claim values, PINs, codes, tokens or keys.

::

    IssuerError
    ├── ConfigError               the service's configuration is unusable (fail fast)
    ├── StorageError              the database cannot be opened or used
    ├── InvalidClaims             claims do not match the credential type (.field)
    ├── UnknownConfiguration      no such credential configuration id
    ├── NotFound                  no such credential / officer / list
    ├── Conflict                  the change contradicts current state (e.g. reinstate a revoked credential)
    ├── AuthError                 admin API / console authentication
    │   ├── Unauthenticated       no or bad credentials (401)
    │   └── Forbidden             authenticated, but the role may not do this (403)
    ├── BadRequest                malformed admin request (400)
    ├── KeystoreError             the keystore cannot be read, decrypted or written
    ├── RegistrationError         the registry refused or could not be reached
    ├── AuditChainBroken          the audit log's hash chain does not verify (.seq)
    └── OAuthError                an OpenID4VCI endpoint error: .error is the spec's code
        (invalid_request, invalid_grant, unsupported_grant_type, invalid_token,
        invalid_credential_request, unknown_credential_configuration, invalid_proof,
        invalid_nonce, credential_request_denied)

Problem documents (RFC 9457) on the admin API have ``type`` =
``urn:civicid:issuer:error:<code>``, ``title``, ``status`` and ``detail``.
OpenID4VCI endpoints answer ``{"error": ..., "error_description": ...}`` (RFC
6749 section 5.2, OpenID4VCI 1.0 section 8.3.1.2), plus civicid's
``civicid_reason``/``attempts_remaining`` on ``invalid_grant``.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

__all__ = [
    "IssuerError",
    "ConfigError",
    "StorageError",
    "InvalidClaims",
    "UnknownConfiguration",
    "NotFound",
    "Conflict",
    "AuthError",
    "Unauthenticated",
    "Forbidden",
    "BadRequest",
    "KeystoreError",
    "RegistrationError",
    "AuditChainBroken",
    "OAuthError",
    "ERROR_CODES",
    "PROBLEM_TYPE_PREFIX",
    "init_app",
    "problem",
]

PROBLEM_TYPE_PREFIX = "urn:civicid:issuer:error:"
ERROR_CODES: dict[str, type["IssuerError"]] = {}
log = logging.getLogger("civicid.issuer")


class IssuerError(Exception):
    """Root of every error :mod:`issuer` raises for bad input or unusable state."""

    code: ClassVar[str] = "issuer_error"
    status: ClassVar[int] = 400
    title: ClassVar[str] = "Issuer error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        code = cls.__dict__.get("code")
        if not isinstance(code, str) or not code:
            raise TypeError(f"{cls.__name__} must define its own `code`")
        if code in ERROR_CODES:
            raise TypeError(f"error code {code!r} is already used by {ERROR_CODES[code].__name__}")
        ERROR_CODES[code] = cls

    def __str__(self) -> str:
        return self.message

    def problem_extensions(self) -> dict[str, Any]:
        return {}


ERROR_CODES[IssuerError.code] = IssuerError


class ConfigError(IssuerError):
    code = "config_invalid"
    status = 500
    title = "Configuration invalid"


class StorageError(IssuerError):
    code = "storage_unavailable"
    status = 503
    title = "Storage unavailable"


class InvalidClaims(IssuerError):
    """The claims do not fit the type's schema; ``field`` names the bad claim path."""

    code = "invalid_claims"
    title = "Invalid claims"

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field

    def problem_extensions(self) -> dict[str, Any]:
        return {"field": self.field}


class UnknownConfiguration(IssuerError):
    code = "unknown_configuration"
    title = "Unknown credential configuration"


class NotFound(IssuerError):
    code = "not_found"
    status = 404
    title = "Not found"


class Conflict(IssuerError):
    code = "conflict"
    status = 409
    title = "Conflict"


class AuthError(IssuerError):
    code = "auth_error"
    status = 401
    title = "Authentication error"


class Unauthenticated(AuthError):
    code = "unauthenticated"
    status = 401
    title = "Authentication required"


class Forbidden(AuthError):
    code = "forbidden"
    status = 403
    title = "Forbidden"


class BadRequest(IssuerError):
    code = "bad_request"
    title = "Bad request"


class KeystoreError(IssuerError):
    code = "keystore_error"
    status = 500
    title = "Keystore error"


class RegistrationError(IssuerError):
    code = "registration_failed"
    status = 502
    title = "Registry operation failed"


class AuditChainBroken(IssuerError):
    """The audit chain does not verify at record ``seq``."""

    code = "audit_chain_broken"
    status = 500
    title = "Audit chain broken"

    def __init__(self, message: str, seq: int) -> None:
        super().__init__(message)
        self.seq = seq


class OAuthError(IssuerError):
    """An error answered in the OAuth style by the OpenID4VCI endpoints."""

    code = "oauth_error"

    def __init__(self, error: str, description: str, status: int = 400, **extra: Any) -> None:
        super().__init__(description)
        self.error = error
        self.http_status = status
        self.extra = extra

    def to_response(self) -> Response:
        # OpenID4VCI 1.0 section 8.3.1.2: error_description is ASCII without '"' and '\'.
        description = "".join(c for c in self.message if 0x20 <= ord(c) <= 0x7E and c not in '"\\')
        body: dict[str, Any] = {"error": self.error, "error_description": description, **self.extra}
        response = jsonify(body)
        response.status_code = self.http_status
        response.headers["Cache-Control"] = "no-store"
        if self.http_status == 401:
            # RFC 6750 section 3.
            response.headers["WWW-Authenticate"] = f'Bearer error="{self.error}"'
        return response


def problem(status: int, code: str, title: str, detail: str, **extensions: Any) -> Response:
    """An RFC 9457 problem document."""
    body = {"type": PROBLEM_TYPE_PREFIX + code, "title": title, "status": status, "detail": detail, **extensions}
    response = jsonify(body)
    response.status_code = status
    response.mimetype = "application/problem+json"
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="civicid-issuer-admin"'
    return response


_OAUTH_PATHS = ("/token", "/credential", "/nonce", "/credential-offer/")


def init_app(app: Flask) -> None:
    """Install the handlers: OAuth-style errors on OpenID4VCI paths, problem+json elsewhere."""

    @app.errorhandler(OAuthError)
    def _oauth(exc: OAuthError) -> Response:
        return exc.to_response()

    @app.errorhandler(IssuerError)
    def _issuer(exc: IssuerError) -> Any:
        if exc.status >= 500:
            log.error("issuer error %s", exc.code)
        if request.blueprint == "console":
            from .console import render_error

            return render_error(exc)
        return problem(exc.status, exc.code, exc.title, exc.message, **exc.problem_extensions())

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Any:
        status = exc.code or 500
        if request.path.startswith(_OAUTH_PATHS):
            error = "invalid_request" if status < 500 else "server_error"
            return OAuthError(error, exc.name, status).to_response()
        code = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}.get(status, "http_error")
        return problem(status, code, exc.name, exc.description or exc.name)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Any:
        # Never a traceback to the client; the log gets the class only (no values).
        log.exception("unexpected %s", type(exc).__name__)
        if request.path.startswith(_OAUTH_PATHS):
            return OAuthError("server_error", "internal error; try again later", 500).to_response()
        return problem(500, "internal", "Internal error", "internal error; try again later")
