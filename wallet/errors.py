"""Errors raised by :mod:`wallet`.

Every error that hostile input (a wallet file, a backup, an offer link, a QR
image, an HTTP answer, a request object) or a wrong passphrase or PIN can cause
is a subclass of :class:`WalletError`, so the CLI catches one class and shows
one line. Each class has a stable ``code`` (the CLI prints it, scripts match on
it) and a message that tells the user what to do next. Messages never carry
claim values, keys, nonces, PINs, passphrases or pre-authorized codes.

::

    WalletError
    ├── StoreError                    the wallet file
    │   ├── WalletNotFound            no wallet at this place (run `init`)
    │   ├── WalletExists              `init` would overwrite a wallet
    │   ├── WrongPassphrase           the passphrase does not open the wallet (or backup)
    │   ├── CorruptWallet             truncated, altered or not a wallet file
    │   ├── UnsupportedVersion        written by a newer civicid
    │   ├── WalletLocked              another wallet process is writing
    │   └── CredentialNotFound        no credential with that id
    ├── InputError                    something the user handed us is unusable
    │   ├── InvalidOffer              not a credential offer link / object
    │   ├── InvalidRequest            not an OpenID4VP request link / object
    │   ├── QRDecodeError             the image holds no readable QR code
    │   └── QRTooLarge                the presentation does not fit a QR code
    ├── NetworkError                  the server could not be reached or answered garbage
    │   └── InsecureURL               not https (and not an allowed loopback)
    ├── IssuanceFailed                the issuer refused (OAuth error)
    │   ├── WrongPin                  the transaction code was wrong (.attempts_remaining)
    │   ├── OfferExpired
    │   ├── OfferAlreadyUsed
    │   ├── OfferLocked               too many wrong PINs
    │   └── UnknownOffer
    ├── CredentialRejected            a received credential failed verification
    ├── UntrustedVerifier             the request's signature or verifier DID did not check out
    ├── NoMatchingCredential          nothing in the wallet answers the DCQL query
    ├── NoUnusedCopy                  every copy was already shown to another verifier
    ├── ConsentDeclined               the user said no
    └── PresentationFailed            the verifier refused the presentation
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "WalletError",
    "StoreError",
    "WalletNotFound",
    "WalletExists",
    "WrongPassphrase",
    "CorruptWallet",
    "UnsupportedVersion",
    "WalletLocked",
    "CredentialNotFound",
    "InputError",
    "InvalidOffer",
    "InvalidRequest",
    "QRDecodeError",
    "QRTooLarge",
    "OutputError",
    "NetworkError",
    "InsecureURL",
    "IssuanceFailed",
    "WrongPin",
    "OfferExpired",
    "OfferAlreadyUsed",
    "OfferLocked",
    "UnknownOffer",
    "CredentialRejected",
    "UntrustedVerifier",
    "NoMatchingCredential",
    "NoUnusedCopy",
    "ConsentDeclined",
    "PresentationFailed",
    "ERROR_CODES",
]

#: Every ``code`` in use, mapped to its class (filled in by ``__init_subclass__``).
ERROR_CODES: dict[str, type["WalletError"]] = {}


class WalletError(Exception):
    """Root of every error :mod:`wallet` raises for bad input or a refused operation."""

    code: ClassVar[str] = "wallet_error"
    hint: ClassVar[str] = ""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        code = cls.__dict__.get("code")
        if not isinstance(code, str) or not code:
            raise TypeError(f"{cls.__name__} must define its own non-empty `code`")
        if code in ERROR_CODES:
            raise TypeError(f"error code {code!r} is already used by {ERROR_CODES[code].__name__}")
        ERROR_CODES[code] = cls

    def __str__(self) -> str:
        return f"{self.message}; {self.hint}" if self.hint else self.message


ERROR_CODES[WalletError.code] = WalletError


class StoreError(WalletError):
    code = "store_error"


class WalletNotFound(StoreError):
    code = "wallet_not_found"
    hint = "create one with `civicid wallet init`, or point --home at an existing wallet"


class WalletExists(StoreError):
    code = "wallet_exists"
    hint = "use another --home, or `restore --force` to replace it"


class WrongPassphrase(StoreError):
    code = "wrong_passphrase"
    hint = "check the passphrase and try again; nothing was changed"


class CorruptWallet(StoreError):
    code = "corrupt_wallet"
    hint = "the file was not changed; restore from a backup with `civicid wallet restore`"


class UnsupportedVersion(StoreError):
    code = "unsupported_version"
    hint = "it was written by a newer civicid; upgrade civicid to open it (nothing was changed)"


class WalletLocked(StoreError):
    code = "wallet_locked"
    hint = "another wallet command is running; wait for it to finish and try again"


class CredentialNotFound(StoreError):
    code = "credential_not_found"
    hint = "see the ids with `civicid wallet list`"


class InputError(WalletError):
    code = "invalid_input"


class InvalidOffer(InputError):
    code = "invalid_offer"
    hint = "scan the issuer's QR code again or ask the office for a new offer"


class InvalidRequest(InputError):
    code = "invalid_request"
    hint = "scan the verifier's QR code again or ask the counter for a new request"


class QRDecodeError(InputError):
    code = "qr_unreadable"
    hint = "take a sharper, well-lit photo or screenshot with the whole QR code in view"


class QRTooLarge(InputError):
    code = "qr_too_large"
    hint = "choose fewer claims with --claims, or present online with `civicid wallet present`"


class OutputError(InputError):
    code = "cannot_write_output"
    hint = "choose another --out path (an existing, writable folder)"


class NetworkError(WalletError):
    code = "network_error"
    hint = "check the connection and try again"


class InsecureURL(NetworkError):
    code = "insecure_url"
    hint = "only https:// servers are contacted (http only on loopback with --insecure-loopback)"


class IssuanceFailed(WalletError):
    code = "issuance_failed"
    hint = "ask the issuing office for help, quoting this message"


class WrongPin(IssuanceFailed):
    code = "wrong_pin"
    hint = "check the PIN the office gave you and run `receive` again with the same offer"

    def __init__(self, message: str, attempts_remaining: int | None = None) -> None:
        super().__init__(message)
        self.attempts_remaining = attempts_remaining


class OfferExpired(IssuanceFailed):
    code = "offer_expired"
    hint = "the offer is no longer valid; ask the office for a new one"


class OfferAlreadyUsed(IssuanceFailed):
    code = "offer_used"
    hint = "each offer can be redeemed once; ask the office for a new one if you do not have the credential"


class OfferLocked(IssuanceFailed):
    code = "offer_locked"
    hint = "too many wrong PINs; ask the office for a new offer"


class UnknownOffer(IssuanceFailed):
    code = "offer_unknown"
    hint = "the issuer does not know this offer; ask the office for a new one"


class CredentialRejected(WalletError):
    code = "credential_rejected"
    hint = "nothing was stored; report this to the issuing office"


class UntrustedVerifier(WalletError):
    code = "untrusted_verifier"
    hint = "nothing was disclosed; do not trust this request"


class NoMatchingCredential(WalletError):
    code = "no_matching_credential"
    hint = "nothing was disclosed; receive the requested credential first"


class NoUnusedCopy(WalletError):
    code = "no_unused_copy"
    hint = "receive fresh copies from the issuer, or pass --allow-reuse to accept being linkable"


class ConsentDeclined(WalletError):
    code = "consent_declined"
    hint = "nothing was disclosed"


class PresentationFailed(WalletError):
    code = "presentation_failed"
    hint = "the verifier did not accept the presentation; ask the counter staff"
