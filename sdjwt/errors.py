"""Errors raised by :mod:`sdjwt`.

Every error that hostile input can cause is a subclass of :class:`SDJWTError`,
so a caller can catch one class and know nothing else escapes. Each class has a
stable ``code`` (the problem ``type`` suffix over HTTP, the key in logs, the
CLI's message) and a message that says what to do next. Messages never carry
claim values, keys, nonces or salts.

::

    SDJWTError
    ├── MalformedSDJWT            the bytes are not an SD-JWT at all
    │   └── LimitExceeded         size, disclosure count or nesting over a limit
    ├── UnsupportedAlgorithm      alg not in the caller's allow-list
    ├── IssuanceError             the issuer asked for something the specs forbid
    ├── ClaimNotAvailable         the holder asked to disclose a claim the credential lacks
    └── InvalidSDJWT              well-formed but must not be accepted
        ├── SignatureInvalid
        ├── UnknownIssuerKey      the injected key lookup had no key for this kid
        ├── DisclosureMismatch    digests and disclosures do not line up
        ├── KeyBindingError       KB-JWT missing, mis-signed or not for us
        ├── Expired
        ├── NotYetValid
        ├── StatusRevoked
        └── StatusSuspended
"""

from __future__ import annotations

__all__ = [
    "SDJWTError",
    "MalformedSDJWT",
    "LimitExceeded",
    "UnsupportedAlgorithm",
    "IssuanceError",
    "ClaimNotAvailable",
    "InvalidSDJWT",
    "SignatureInvalid",
    "UnknownIssuerKey",
    "DisclosureMismatch",
    "KeyBindingError",
    "Expired",
    "NotYetValid",
    "StatusRevoked",
    "StatusSuspended",
    "StatusListError",
]


class SDJWTError(Exception):
    """Root of every error :mod:`sdjwt` raises for bad input."""

    code = "sdjwt_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class MalformedSDJWT(SDJWTError):
    """The input cannot be parsed as an SD-JWT, JWS, JWK or disclosure."""

    code = "malformed"


class LimitExceeded(MalformedSDJWT):
    """The input is larger, has more disclosures or nests deeper than allowed."""

    code = "limit_exceeded"


class UnsupportedAlgorithm(SDJWTError):
    """The ``alg`` (or ``_sd_alg``) is not in the allow-list the caller gave."""

    code = "unsupported_algorithm"


class IssuanceError(SDJWTError):
    """The issuer asked for a credential that RFC 9901 or SD-JWT VC forbids."""

    code = "issuance_refused"


class ClaimNotAvailable(SDJWTError):
    """A presentation asked for a claim path the credential does not contain."""

    code = "claim_not_available"


class InvalidSDJWT(SDJWTError):
    """The SD-JWT is well-formed but must not be accepted."""

    code = "invalid"


class SignatureInvalid(InvalidSDJWT):
    code = "signature_invalid"


class UnknownIssuerKey(InvalidSDJWT):
    code = "unknown_issuer_key"


class DisclosureMismatch(InvalidSDJWT):
    code = "disclosure_mismatch"


class KeyBindingError(InvalidSDJWT):
    code = "key_binding_invalid"


class Expired(InvalidSDJWT):
    code = "expired"


class NotYetValid(InvalidSDJWT):
    code = "not_yet_valid"


class StatusRevoked(InvalidSDJWT):
    code = "status_revoked"


class StatusSuspended(InvalidSDJWT):
    code = "status_suspended"


class StatusListError(InvalidSDJWT):
    """A status list token or reference is malformed or does not verify."""

    code = "status_list_invalid"
