"""civicid's credential format: SD-JWT (RFC 9901) and SD-JWT VC, with keys, did:key and status lists.

Everything the issuer, the wallet and the verifier must compute byte for byte
alike lives here, and nothing else: no I/O, no clocks, no randomness of its own
(time and random sources are passed in). It imports no other civicid package.
"""

from __future__ import annotations

from .did_key import did_from_key, key_from_did
from .did_key import resolve as resolve_did_key
from .disclosure import Disclosure
from .encoding import DEFAULT_LIMITS, Limits
from .errors import (
    ClaimNotAvailable,
    DisclosureMismatch,
    Expired,
    InvalidSDJWT,
    IssuanceError,
    KeyBindingError,
    LimitExceeded,
    MalformedSDJWT,
    NotYetValid,
    SDJWTError,
    SignatureInvalid,
    StatusListError,
    StatusRevoked,
    StatusSuspended,
    UnknownIssuerKey,
    UnsupportedAlgorithm,
)
from .issuance import ClaimPath, CompiledIssuer, IssuedSDJWT, issue
from .jwk import private_key_from_jwk, public_key_from_jwk, thumbprint
from .keys import Ed25519PrivateKey, Ed25519PublicKey, P256PrivateKey, P256PublicKey, PrivateKey, PublicKey
from .presentation import SDJWT, create_presentation, sd_hash
from .status_list import StatusList, StatusListToken, check_status, sign_status_list
from .vc import KB_TYP, TYP, StatusReference
from .verification import VerifiedSDJWT, verify

__all__ = [
    "ClaimNotAvailable",
    "ClaimPath",
    "CompiledIssuer",
    "DEFAULT_LIMITS",
    "Disclosure",
    "DisclosureMismatch",
    "Ed25519PrivateKey",
    "Ed25519PublicKey",
    "Expired",
    "InvalidSDJWT",
    "IssuanceError",
    "IssuedSDJWT",
    "KB_TYP",
    "KeyBindingError",
    "LimitExceeded",
    "Limits",
    "MalformedSDJWT",
    "NotYetValid",
    "P256PrivateKey",
    "P256PublicKey",
    "PrivateKey",
    "PublicKey",
    "SDJWT",
    "SDJWTError",
    "SignatureInvalid",
    "StatusList",
    "StatusListError",
    "StatusListToken",
    "StatusReference",
    "StatusRevoked",
    "StatusSuspended",
    "TYP",
    "UnknownIssuerKey",
    "UnsupportedAlgorithm",
    "VerifiedSDJWT",
    "check_status",
    "create_presentation",
    "did_from_key",
    "issue",
    "key_from_did",
    "private_key_from_jwk",
    "public_key_from_jwk",
    "resolve_did_key",
    "sd_hash",
    "sign_status_list",
    "thumbprint",
    "verify",
]
