"""Holder keys: one fresh key per credential copy, so no key links two presentations.

Keys live only inside the sealed wallet file, as private JWKs. The wallet
proves possession to the issuer with OpenID4VCI proof JWTs (section F.1) and
to verifiers with Key Binding JWTs (RFC 9901 section 4.3, in :mod:`sdjwt`).
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

__all__ = ["PROOF_TYP", "new_holder_key", "load_holder_key", "proof_jwt"]

PROOF_TYP = "openid4vci-proof+jwt"


def new_holder_key(random: Callable[[int], bytes] | None = None) -> Any:
    """A fresh Ed25519 holder key (EdDSA is what civicid issuers accept first)."""
    from sdjwt import Ed25519PrivateKey

    return Ed25519PrivateKey.generate(random)


def load_holder_key(jwk: Mapping[str, Any]) -> Any:
    from sdjwt import private_key_from_jwk

    return private_key_from_jwk(jwk)


def proof_jwt(key: Any, *, audience: str, nonce: str, iat: int) -> str:
    """OpenID4VCI 1.0 appendix F.1: a ``jwt`` proof of possession of ``key``.

    Header ``typ: openid4vci-proof+jwt`` with the public ``jwk``; claims ``aud``
    (the credential issuer identifier), ``iat`` and ``nonce`` (a ``c_nonce``).
    ``iss`` is omitted: the pre-authorized code flow here is anonymous.
    """
    from sdjwt.jws import sign_compact

    return sign_compact(
        {"typ": PROOF_TYP, "jwk": key.public_key().public_jwk()},
        {"aud": audience, "iat": iat, "nonce": nonce},
        key,
    )
