"""Errors raised by :mod:`verifier`, and the HTTP handlers that turn them into answers.

Every error that hostile input can cause is a :class:`VerifierError`. Each
class has a stable ``code`` (the problem ``type`` suffix over HTTP, the reason
code in a decision, the key in logs, the CLI's message) and a message that
says what to do next. Messages never carry claim values, keys, nonces, states
or tokens.

::

    VerifierError
    ├── ConfigError                     the service cannot start as configured
    ├── PolicyError                     a policy file is not a valid policy
    ├── UnknownPolicy                   no policy with that id (404)
    ├── BadRequest                      the HTTP request is not what the endpoint takes (400)
    ├── Unauthorized                    missing or wrong bearer token (401)
    ├── RequestNotFound                 no such presentation request, or it was forgotten (404)
    ├── RequestExpired                  the presentation request timed out (400)
    ├── ResponseReplayed                the request was already answered (400)
    ├── StorageUnavailable              the database cannot be used (503)
    └── VerificationFailed              a presentation must not be accepted; one subclass per step
        ├── ResponseMalformed               1  vp_token / DCQL shape
        ├── PresentationMalformed           1  not an SD-JWT
        │   └── PresentationTooLarge        1  over a size, count or depth limit
        ├── AlgorithmNotAllowed             1  alg outside the allow-list
        ├── IssuerUnknown                   2  the registry does not know the issuer
        ├── IssuerKeyUnknown                2  the issuer never had that key
        ├── RegistryUnverifiable            2  proof or checkpoint does not verify
        ├── KeyNotValidAtIssuance           3  key added after / removed before iat
        ├── KeyCompromised                  3  key reported compromised before iat
        ├── IssuerNotAccredited             4  no accreditation for this vct at iat
        ├── SignatureInvalid                5
        ├── CredentialTypeMismatch          5  vct not one the policy accepts
        ├── CredentialExpired               6
        ├── CredentialNotYetValid           6
        ├── CredentialTooOld                6  older than the policy's maximum age
        ├── StatusRevoked                   7
        ├── StatusSuspended                 7
        ├── StatusUnavailable               7  the status list cannot be fetched or verified
        ├── DisclosureInvalid               8
        ├── KeyBindingMissing               9
        ├── KeyBindingInvalid               9  signature, typ, alg, holder key
        ├── NonceMismatch                   9
        ├── AudienceMismatch                9
        ├── KeyBindingStale                 9  iat too old or in the future
        ├── SdHashMismatch                  9
        ├── PresentationReplayed            9  this KB-JWT was already accepted
        ├── ClaimMissing                   10  a claim the policy needs was not disclosed
        └── PolicyNotSatisfied             10  a condition evaluated to false (``.conditions``)
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

__all__ = [
    "ERROR_CODES",
    "VerifierError",
    "ConfigError",
    "PolicyError",
    "UnknownPolicy",
    "BadRequest",
    "Unauthorized",
    "RequestNotFound",
    "RequestExpired",
    "RequestTooLargeForQR",
    "ResponseReplayed",
    "StorageUnavailable",
    "VerificationFailed",
    "ResponseMalformed",
    "PresentationMalformed",
    "PresentationTooLarge",
    "AlgorithmNotAllowed",
    "IssuerUnknown",
    "IssuerKeyUnknown",
    "RegistryUnverifiable",
    "KeyNotValidAtIssuance",
    "KeyCompromised",
    "IssuerNotAccredited",
    "SignatureInvalid",
    "CredentialTypeMismatch",
    "CredentialExpired",
    "CredentialNotYetValid",
    "CredentialTooOld",
    "StatusRevoked",
    "StatusSuspended",
    "StatusUnavailable",
    "DisclosureInvalid",
    "KeyBindingMissing",
    "KeyBindingInvalid",
    "NonceMismatch",
    "AudienceMismatch",
    "KeyBindingStale",
    "SdHashMismatch",
    "PresentationReplayed",
    "ClaimMissing",
    "PolicyNotSatisfied",
    "init_app",
    "problem",
    "oauth_error",
]

PROBLEM_BASE = "urn:civicid:verifier:problem:"
"""Problem ``type`` URIs are this prefix plus the error's code (RFC 9457 section 3.1.1)."""

#: Every ``code`` in use, mapped to its class; duplicates are refused at import time.
ERROR_CODES: dict[str, type["VerifierError"]] = {}

log = logging.getLogger("civicid.verifier")


class VerifierError(Exception):
    """Root of every error :mod:`verifier` raises for bad input or bad configuration."""

    code: ClassVar[str] = "verifier_error"
    status: ClassVar[int] = 400
    title: ClassVar[str] = "The verifier cannot accept this"

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

    def reason(self) -> dict[str, Any]:
        """This error as a decision reason: the code and the message, never a value."""
        return {"code": self.code, "message": self.message}


ERROR_CODES[VerifierError.code] = VerifierError


class ConfigError(VerifierError):
    code = "config_invalid"
    status = 500
    title = "The verifier is misconfigured"


class PolicyError(VerifierError):
    code = "policy_invalid"
    status = 500
    title = "A policy file is invalid"


class UnknownPolicy(VerifierError):
    code = "unknown_policy"
    status = 404
    title = "No such policy"


class BadRequest(VerifierError):
    code = "bad_request"
    title = "The request is malformed"


class Unauthorized(VerifierError):
    code = "unauthorized"
    status = 401
    title = "A valid bearer token is required"


class RequestNotFound(VerifierError):
    code = "request_not_found"
    status = 404
    title = "No such presentation request"


class RequestExpired(VerifierError):
    code = "request_expired"
    title = "The presentation request has expired"


class RequestTooLargeForQR(VerifierError):
    code = "request_too_large_for_qr"
    status = 422
    title = "The request does not fit a QR code by value"


class ResponseReplayed(VerifierError):
    code = "response_replayed"
    title = "The presentation request was already answered"


class StorageUnavailable(VerifierError):
    code = "storage_unavailable"
    status = 503
    title = "The verifier's database is unavailable"


class VerificationFailed(VerifierError):
    """A presentation that must not be accepted. The decision is ``false`` with this code."""

    code = "verification_failed"
    title = "The presentation was not accepted"


class ResponseMalformed(VerificationFailed):
    code = "response_malformed"


class PresentationMalformed(VerificationFailed):
    code = "presentation_malformed"


class PresentationTooLarge(PresentationMalformed):
    code = "presentation_too_large"


class AlgorithmNotAllowed(VerificationFailed):
    code = "algorithm_not_allowed"


class IssuerUnknown(VerificationFailed):
    code = "issuer_unknown"


class IssuerKeyUnknown(VerificationFailed):
    code = "issuer_key_unknown"


class RegistryUnverifiable(VerificationFailed):
    code = "registry_unverifiable"


class KeyNotValidAtIssuance(VerificationFailed):
    code = "key_not_valid_at_issuance"


class KeyCompromised(VerificationFailed):
    code = "key_compromised"


class IssuerNotAccredited(VerificationFailed):
    code = "issuer_not_accredited"


class SignatureInvalid(VerificationFailed):
    code = "signature_invalid"


class CredentialTypeMismatch(VerificationFailed):
    code = "credential_type_mismatch"


class CredentialExpired(VerificationFailed):
    code = "credential_expired"


class CredentialNotYetValid(VerificationFailed):
    code = "credential_not_yet_valid"


class CredentialTooOld(VerificationFailed):
    code = "credential_too_old"


class StatusRevoked(VerificationFailed):
    code = "status_revoked"


class StatusSuspended(VerificationFailed):
    code = "status_suspended"


class StatusUnavailable(VerificationFailed):
    code = "status_unavailable"


class DisclosureInvalid(VerificationFailed):
    code = "disclosure_invalid"


class KeyBindingMissing(VerificationFailed):
    code = "key_binding_missing"


class KeyBindingInvalid(VerificationFailed):
    code = "key_binding_invalid"


class NonceMismatch(VerificationFailed):
    code = "nonce_mismatch"


class AudienceMismatch(VerificationFailed):
    code = "audience_mismatch"


class KeyBindingStale(VerificationFailed):
    code = "key_binding_stale"


class SdHashMismatch(VerificationFailed):
    code = "sd_hash_mismatch"


class PresentationReplayed(VerificationFailed):
    code = "presentation_replayed"


class ClaimMissing(VerificationFailed):
    code = "claim_missing"


class PolicyNotSatisfied(VerificationFailed):
    """One or more of the policy's conditions are false; ``conditions`` names them (ids only)."""

    code = "policy_not_satisfied"

    def __init__(self, message: str, conditions: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.conditions = conditions

    def reason(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "conditions": list(self.conditions)}


# HTTP ------------------------------------------------------------------------------------


def problem(status: int, code: str, title: str, detail: str) -> Any:
    """An RFC 9457 problem details response (section 3: type, title, status, detail)."""
    from flask import jsonify

    response = jsonify({"type": PROBLEM_BASE + code, "title": title, "status": status, "detail": detail, "code": code})
    response.status_code = status
    response.content_type = "application/problem+json"
    response.headers["Cache-Control"] = "no-store"
    return response


def oauth_error(error: str, description: str, status: int = 400) -> Any:
    """An OAuth 2.0 style error (RFC 6749 section 5.2), as OpenID4VP endpoints answer."""
    from flask import jsonify

    response = jsonify({"error": error, "error_description": description})
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


def init_app(app: Any) -> None:
    """Every error becomes problem+json; nothing escapes as an HTML page or a traceback."""
    from werkzeug.exceptions import HTTPException

    @app.errorhandler(VerifierError)
    def _domain(exc: VerifierError) -> Any:
        if exc.status >= 500:
            log.error("verifier error %s", exc.code)
        return problem(exc.status, exc.code, exc.title, exc.message)

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Any:
        status = exc.code or 500
        code = {
            404: "not_found",
            405: "method_not_allowed",
            413: "request_too_large",
            415: "unsupported_media_type",
        }.get(status, "http_error")
        return problem(status, code, exc.name, exc.description or exc.name)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Any:
        # Log the class only: an exception's text may quote input, and input may carry claim values.
        log.error("unexpected error %s", type(exc).__name__)
        return problem(500, "internal_error", "Internal error", "the verifier failed unexpectedly; see its log")
