"""Pin ``sdjwt.__all__``: adding or removing a public name must be a deliberate change here."""

from __future__ import annotations

import types

import sdjwt

EXPECTED = [
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


def test_all_is_pinned() -> None:
    assert sdjwt.__all__ == EXPECTED


def test_all_is_sorted_and_unique() -> None:
    assert sdjwt.__all__ == sorted(set(sdjwt.__all__), key=lambda name: (name[0].islower(), name))


def test_every_public_attribute_is_exported() -> None:
    # Submodules become attributes of the package when imported; they are not exports.
    public = {
        name
        for name, value in vars(sdjwt).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType) and name != "annotations"
    }
    assert public == set(sdjwt.__all__)


def test_every_error_is_an_sdjwt_error_with_a_stable_code() -> None:
    errors = [getattr(sdjwt, name) for name in sdjwt.__all__ if isinstance(getattr(sdjwt, name), type)]
    errors = [cls for cls in errors if issubclass(cls, Exception)]
    assert len(errors) == 16
    codes = [cls.code for cls in errors]
    assert all(issubclass(cls, sdjwt.SDJWTError) for cls in errors)
    assert len(set(codes)) == len(codes)
