"""Every interaction of the issuer with the DID registry, behind one small interface.

:class:`Registrar` is what ``civicid issuer init``, ``rotate-key`` and
``recover`` call. :class:`StaticTrustRegistrar` records the operations into a
:class:`registry.trust.StaticTrust` (tests, demos). The networked
implementation wraps :mod:`registry.client` and is selected by
:func:`registrar_for` from ``--registry-url`` / ``CIVICID_ISSUER_REGISTRY_URL``
(see docs/issuer.md, "Wiring the registry").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Protocol, Sequence

from sdjwt.keys import Ed25519PrivateKey, Ed25519PublicKey

from .errors import RegistrationError

__all__ = ["Registrar", "StaticTrustRegistrar", "AccreditationRequest", "registrar_for"]


@dataclass(frozen=True)
class AccreditationRequest:
    """What the accrediting authority must sign: issue rights for ``vcts`` to ``did``."""

    did: str
    vcts: tuple[str, ...]
    valid_from: int
    valid_until: int

    def command(self, registry_url: str | None) -> str:
        url = f" --registry-url {registry_url}" if registry_url else ""
        vcts = " ".join(f"--vct {v}" for v in self.vcts)
        return f"civicid registry accredit --subject {self.did} {vcts} --valid-from {self.valid_from} --valid-until {self.valid_until}{url}"


class Registrar(Protocol):
    def create_did(self, key: Ed25519PrivateKey, kid: str, recovery_key: Ed25519PublicKey, next_key_commitment: str, *, now: int) -> str:
        """Register a new DID whose ``kid`` is ``key``; commits to the next key's hash; returns the DID."""
        ...

    def rotate(self, did: str, old_key: Ed25519PrivateKey, old_kid: str, new_key: Ed25519PrivateKey, new_kid: str,
               next_key_commitment: str, *, now: int) -> None:
        """Normal rotation, authorised by the old key and the revealed pre-committed key; old credentials keep verifying."""
        ...

    def recover(self, did: str, recovery_key: Ed25519PrivateKey, compromised_kids: Sequence[str], compromised_since: int,
                new_key: Ed25519PrivateKey, new_kid: str, new_recovery: Ed25519PublicKey, next_key_commitment: str, *, now: int) -> None:
        """Recovery after compromise: the compromised keys stop verifying from ``compromised_since``."""
        ...

    def accredit(self, request: AccreditationRequest, authority_key: Ed25519PrivateKey | None) -> bool:
        """Submit the accreditation when given the authority's key; False when the authority must run it."""
        ...

    def publish_type(self, did: str, key: Ed25519PrivateKey, kid: str, metadata: Mapping[str, Any], *, now: int) -> None:
        ...


@dataclass
class StaticTrustRegistrar:
    """Records registry operations into a StaticTrust, checking what the real registry would check."""

    trust: Any
    authority_keys: Sequence[Ed25519PublicKey] = ()
    commitments: dict[str, str] = field(default_factory=dict)
    recovery: dict[str, Ed25519PublicKey] = field(default_factory=dict)

    def create_did(self, key: Ed25519PrivateKey, kid: str, recovery_key: Ed25519PublicKey, next_key_commitment: str, *, now: int) -> str:
        from registry.did import sha256_multihash_b58

        did = "did:civic:" + sha256_multihash_b58(key.public_key().raw + recovery_key.raw + next_key_commitment.encode())
        self.trust.add_key(did, f"{did}#{kid}", key.public_key(), valid_from=now)
        self.commitments[did] = next_key_commitment
        self.recovery[did] = recovery_key
        return did

    def rotate(self, did: str, old_key: Ed25519PrivateKey, old_kid: str, new_key: Ed25519PrivateKey, new_kid: str,
               next_key_commitment: str, *, now: int) -> None:
        from .keys import next_key_commitment as commit

        if self.commitments.get(did) != commit(new_key):
            raise RegistrationError("the new key is not the one committed at the last registration (pre-rotation)")
        old = self.trust.keys.get((did, f"{did}#{old_kid}"))
        if old is None or old[0] != old_key.public_key():
            raise RegistrationError("the registry does not know the old key for this DID")
        self.trust.add_key(did, f"{did}#{old_kid}", old[0], valid_from=old[1], valid_until=now)
        self.trust.add_key(did, f"{did}#{new_kid}", new_key.public_key(), valid_from=now)
        self.commitments[did] = next_key_commitment

    def recover(self, did: str, recovery_key: Ed25519PrivateKey, compromised_kids: Sequence[str], compromised_since: int,
                new_key: Ed25519PrivateKey, new_kid: str, new_recovery: Ed25519PublicKey, next_key_commitment: str, *, now: int) -> None:
        if self.recovery.get(did) != recovery_key.public_key():
            raise RegistrationError("the recovery key does not control this DID")
        for kid in compromised_kids:
            old = self.trust.keys.get((did, f"{did}#{kid}"))
            if old is not None:
                self.trust.add_key(did, f"{did}#{kid}", old[0], valid_from=old[1], valid_until=min(compromised_since, now))
        self.trust.add_key(did, f"{did}#{new_kid}", new_key.public_key(), valid_from=now)
        self.commitments[did] = next_key_commitment
        self.recovery[did] = new_recovery

    def accredit(self, request: AccreditationRequest, authority_key: Ed25519PrivateKey | None) -> bool:
        if authority_key is None:
            return False
        if authority_key.public_key() not in self.authority_keys:
            raise RegistrationError("this key is not an accrediting authority's key")
        for vct in request.vcts:
            self.trust.accredit(request.did, vct, request.valid_from, request.valid_until)
        return True

    def publish_type(self, did: str, key: Ed25519PrivateKey, kid: str, metadata: Mapping[str, Any], *, now: int) -> None:
        self.trust.publish_type(str(metadata["vct"]), metadata)


_STATIC: dict[str, StaticTrustRegistrar] = {}


def registrar_for(registry_url: str | None, factory: Callable[[str], Registrar] | None = None) -> Registrar:
    """The registrar for ``registry_url``; ``memory:<name>`` is an in-process StaticTrust (tests, demos)."""
    if registry_url and registry_url.startswith("memory:"):
        from registry.trust import StaticTrust

        return _STATIC.setdefault(registry_url, StaticTrustRegistrar(StaticTrust()))
    if factory is not None and registry_url:
        return factory(registry_url)
    raise RegistrationError(
        "no networked registrar is wired yet; pass --registry-url memory:<name> for an in-memory registry (see docs/issuer.md)"
    )
