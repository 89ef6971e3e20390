"""What issuer, verifier and wallet need from the registry, as one small interface.

:class:`TrustSource` is the seam: the networked :mod:`registry.client` (proof
checking, caching, offline snapshots) implements it, and so does
:class:`StaticTrust`, an in-memory table for tests and for did:key issuers in
the format demo. Roles depend on the interface, never on how it is answered.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Protocol

import sdjwt
from sdjwt.did_key import key_from_did

from .errors import RegistryError

__all__ = ["TrustSource", "StaticTrust", "NotTrusted", "IssuerKeyLookup", "did_key_at", "issuer_key_lookup"]

IssuerKeyLookup = Callable[[str, "str | None", "int | None"], sdjwt.PublicKey]


class NotTrusted(RegistryError):
    """The registry does not vouch for this issuer, key, type or time."""

    code = "not_trusted"
    hint = "the issuer must be registered and accredited for this credential type at issuance time"


class TrustSource(Protocol):
    def key_at(self, did: str, kid: str | None, at: int | None) -> sdjwt.PublicKey:
        """The issuer's key named by ``kid`` as it was at time ``at``.

        Raises :class:`NotTrusted`, or a more specific :class:`registry.errors.RegistryError`
        (``KeyNotValid`` with its ``rule``, ``UnknownDID``, a proof error): catch ``RegistryError``.
        """
        ...

    def check_accredited(self, did: str, vct: str, at: int) -> None:
        """Raise NotTrusted unless ``did`` was accredited to issue ``vct`` at ``at``."""
        ...

    def credential_type(self, vct: str) -> Mapping[str, Any]:
        """The SD-JWT VC type metadata published for ``vct``; raises NotTrusted."""
        ...


@dataclass
class _Grant:
    vct: str
    valid_from: int
    valid_until: int


def issuer_key_lookup(source: TrustSource) -> IssuerKeyLookup:
    """An ``issuer_key`` callable for :func:`sdjwt.verify` over any trust source.

    Every registry refusal becomes :class:`sdjwt.UnknownIssuerKey` with the registry's message,
    so ``sdjwt.verify`` raises only its own errors.
    """

    def lookup(iss: str, kid: str | None, iat: int | None) -> sdjwt.PublicKey:
        try:
            return source.key_at(iss, kid, iat)
        except RegistryError as exc:
            raise sdjwt.UnknownIssuerKey(exc.message) from exc

    return lookup


def did_key_at(did: str, kid: str | None) -> sdjwt.PublicKey:
    """A did:key issuer's key: inside the identifier itself, no registry needed."""
    try:
        key = key_from_did(did)
    except sdjwt.SDJWTError as exc:
        raise NotTrusted("the issuer's did:key is not a valid Ed25519 did:key") from exc
    if kid is not None and kid.partition("#")[0] != did:
        raise NotTrusted("the credential's kid does not belong to its issuer")
    return key


@dataclass
class StaticTrust:
    """An in-memory trust table: keys per DID (with validity windows), grants and types.

    ``did:key`` issuers need no entry for their key: it is inside the DID.
    """

    keys: dict[tuple[str, str], tuple[sdjwt.PublicKey, int, int | None]] = field(default_factory=dict)
    grants: dict[str, list[_Grant]] = field(default_factory=dict)
    types: dict[str, Mapping[str, Any]] = field(default_factory=dict)

    def add_key(self, did: str, kid: str, key: sdjwt.PublicKey, valid_from: int = 0, valid_until: int | None = None) -> None:
        self.keys[(did, kid)] = (key, valid_from, valid_until)

    def accredit(self, did: str, vct: str, valid_from: int = 0, valid_until: int = 2**62) -> None:
        self.grants.setdefault(did, []).append(_Grant(vct, valid_from, valid_until))

    def publish_type(self, vct: str, metadata: Mapping[str, Any]) -> None:
        self.types[vct] = metadata

    def key_at(self, did: str, kid: str | None, at: int | None) -> sdjwt.PublicKey:
        if did.startswith("did:key:"):
            return did_key_at(did, kid)
        if kid is None:
            raise NotTrusted("the credential names no key (kid)")
        found = self.keys.get((did, kid))
        if found is None:
            raise NotTrusted("the registry knows no such key for this issuer")
        key, valid_from, valid_until = found
        if at is None or at < valid_from or (valid_until is not None and at >= valid_until):
            raise NotTrusted("the issuer's key was not valid at the credential's issuance time")
        return key

    def check_accredited(self, did: str, vct: str, at: int) -> None:
        for grant in self.grants.get(did, []):
            if grant.vct == vct and grant.valid_from <= at < grant.valid_until:
                return
        raise NotTrusted("the issuer was not accredited for this credential type at that time")

    def credential_type(self, vct: str) -> Mapping[str, Any]:
        try:
            return self.types[vct]
        except KeyError:
            raise NotTrusted("no type metadata is published for this vct") from None

    def issuer_key_lookup(self) -> IssuerKeyLookup:
        """An ``issuer_key`` callable for :func:`sdjwt.verify`."""
        return issuer_key_lookup(self)
