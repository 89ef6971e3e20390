"""``did:key`` for Ed25519 (W3C CCG did:key method, multicodec ``ed25519-pub`` 0xed01).

A did:key is ``did:key:`` followed by the multibase (base58btc, prefix ``z``)
encoding of the multicodec-prefixed public key. It resolves locally, with no
registry: the DID document is derived from the key alone, which is why holders
and tests can use it without any network.
"""

from __future__ import annotations

from typing import Any, NewType

import base58

from .errors import LimitExceeded, MalformedSDJWT, UnsupportedAlgorithm
from .jwk import public_key_from_jwk
from .keys import Ed25519PublicKey, PublicKey

__all__ = [
    "DID",
    "ED25519_MULTICODEC",
    "multibase_from_key",
    "key_from_multibase",
    "did_from_key",
    "key_from_did",
    "resolve",
]

DID = NewType("DID", str)

ED25519_MULTICODEC = b"\xed\x01"
"""The unsigned-varint encoding of multicodec 0xed (ed25519-pub)."""

_PREFIX = "did:key:"
_MAX_LENGTH = 128


def multibase_from_key(key: Ed25519PublicKey) -> str:
    """``z`` + base58btc(0xed01 || raw key): the ``publicKeyMultibase`` form."""
    return "z" + base58.b58encode(ED25519_MULTICODEC + key.raw).decode("ascii")


def key_from_multibase(value: str) -> Ed25519PublicKey:
    """Parse a base58btc multibase Ed25519 public key, refusing every other codec."""
    if not isinstance(value, str) or not value.startswith("z"):
        raise MalformedSDJWT("multibase key must be base58btc (start with 'z')")
    if len(value) > _MAX_LENGTH:
        # Checked before decoding: base58 decoding is quadratic in the input length.
        raise LimitExceeded(f"multibase key is longer than {_MAX_LENGTH} characters; an Ed25519 key needs 48")
    try:
        decoded = base58.b58decode(value[1:])
    except ValueError as exc:
        raise MalformedSDJWT("multibase key is not valid base58btc") from exc
    if not decoded.startswith(ED25519_MULTICODEC):
        raise UnsupportedAlgorithm("multibase key is not an Ed25519 public key (multicodec 0xed)")
    if len(decoded) != 34:
        raise MalformedSDJWT("Ed25519 multibase key must hold exactly 32 key bytes")
    return Ed25519PublicKey(decoded[2:])


def did_from_key(key: PublicKey) -> DID:
    """The did:key for an Ed25519 public key."""
    if not isinstance(key, Ed25519PublicKey):
        raise UnsupportedAlgorithm("civicid creates did:key identifiers for Ed25519 keys only")
    return DID(_PREFIX + multibase_from_key(key))


def key_from_did(did: str) -> Ed25519PublicKey:
    """The public key inside a did:key (a DID URL fragment, if any, must name the same key)."""
    if not isinstance(did, str) or not did.startswith(_PREFIX):
        raise MalformedSDJWT("not a did:key identifier")
    identifier, _, fragment = did[len(_PREFIX) :].partition("#")
    key = key_from_multibase(identifier)
    if fragment and fragment != identifier:
        raise MalformedSDJWT("did:key fragment must repeat the key's multibase value")
    return key


def resolve(did: str) -> dict[str, Any]:
    """The DID document of a did:key (did:key method section 3.1.2, Multikey form).

    The verification method carries both ``publicKeyMultibase`` and
    ``publicKeyJwk``, so clients that know either representation can use it.
    """
    key = key_from_did(did)
    base = did.partition("#")[0]
    identifier = base[len(_PREFIX) :]
    vm_id = f"{base}#{identifier}"
    method = {
        "id": vm_id,
        "type": "Multikey",
        "controller": base,
        "publicKeyMultibase": identifier,
        "publicKeyJwk": key.public_jwk(),
    }
    return {
        "@context": ["https://www.w3.org/ns/did/v1", "https://w3id.org/security/multikey/v1"],
        "id": base,
        "verificationMethod": [method],
        "authentication": [vm_id],
        "assertionMethod": [vm_id],
        "capabilityDelegation": [vm_id],
        "capabilityInvocation": [vm_id],
    }


def key_from_jwk_or_did(value: Any) -> PublicKey:
    """A verification key given either as a JWK object or a did:key string."""
    if isinstance(value, str):
        return key_from_did(value)
    return public_key_from_jwk(value)
