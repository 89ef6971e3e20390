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

__all__ = ["Registrar", "StaticTrustRegistrar", "NetworkRegistrar", "AccreditationRequest", "registrar_for"]


@dataclass(frozen=True)
class AccreditationRequest:
    """What the accrediting authority must sign: issue rights for ``vcts`` to ``did``."""

    did: str
    vcts: tuple[str, ...]
    valid_from: int
    valid_until: int

    def command(self, registry_url: str | None) -> str:
        url = f" --registry {registry_url}" if registry_url else ""
        vcts = " ".join(f"--vct {v}" for v in self.vcts)
        days = max(1, (self.valid_until - self.valid_from) // 86400)
        return f"civicid registry accredit {self.did} --as <authority DID> --key <authority key file> {vcts} --days {days}{url}"


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


class NetworkRegistrar:
    """The real registry: operations are built and signed here, submitted over HTTP, and read back
    through :class:`registry.client.RegistryClient` (proofs checked against the pinned policy)."""

    def __init__(self, url: str, policy_file: str | None = None, wait: float = 15.0) -> None:
        from registry.client import from_url

        self.url = url.rstrip("/")
        self.client = from_url(self.url, policy_file, cache_ttl=0)
        self.wait = wait

    def _submit(self, entry: Any) -> None:
        from registry.client import submit_entry
        from registry.errors import RegistryError

        try:
            submit_entry(self.url, entry.raw)
        except RegistryError as exc:
            raise RegistrationError(f"the registry refused the operation: {exc.message}") from exc

    def _state(self, did: str) -> Any:
        """The DID's replayed state from a witnessed checkpoint, waiting for a fresh operation to be witnessed."""
        import time

        from registry.errors import RegistryError

        deadline = time.time() + self.wait
        while True:
            try:
                return self.client.did_state(did, fresh=True)
            except RegistryError as exc:
                if time.time() > deadline:
                    raise RegistrationError(f"the registry cannot show {did} yet: {exc.message}") from exc
            time.sleep(0.2)

    @staticmethod
    def _fragment(kid: str) -> str:
        return kid.partition("#")[2] or kid

    def create_did(self, key: Ed25519PrivateKey, kid: str, recovery_key: Ed25519PublicKey, next_key_commitment: str, *, now: int) -> str:
        from registry.did import KeySpec, create_op

        entry, did = create_op([KeySpec(self._fragment(kid), key)], [], [next_key_commitment, recovery_key], now)
        self._submit(entry)
        return str(did)

    def rotate(self, did: str, old_key: Ed25519PrivateKey, old_kid: str, new_key: Ed25519PrivateKey, new_kid: str,
               next_key_commitment: str, *, now: int) -> None:
        # A planned rotation reveals the pre-committed key: a `did.recover` without `compromisedFrom`
        # (docs/did-method.md: `did.update` cannot change commitments). The recovery key's commitment is kept.
        from registry.did import KeySpec, key_hash, recover_op
        from sdjwt.did_key import multibase_from_key

        state = self._state(did)
        head = state.head(did)
        revealed = key_hash(multibase_from_key(new_key.public_key()))
        kept = [h for h in head.next_key_hashes if h != revealed]
        spec = KeySpec(self._fragment(new_kid), new_key)
        self._submit(recover_op(did, head.hash, spec, [spec], [], [next_key_commitment, *kept], max(now, head.time + 1)))

    def recover(self, did: str, recovery_key: Ed25519PrivateKey, compromised_kids: Sequence[str], compromised_since: int,
                new_key: Ed25519PrivateKey, new_kid: str, new_recovery: Ed25519PublicKey, next_key_commitment: str, *, now: int) -> None:
        from registry.did import KeySpec, recover_op

        state = self._state(did)
        head = state.head(did)
        time_ = max(now, head.time + 1)
        # The recovery key (committed at the last registration) signs; the new signing key cannot
        # invoke capabilities, since it was never committed.
        rescuer = KeySpec(f"recovery-{time_}", recovery_key, ("capabilityInvocation",))
        signing = KeySpec(self._fragment(new_kid), new_key, ("assertionMethod", "authentication"))
        self._submit(recover_op(did, head.hash, rescuer, [signing, rescuer], [], [next_key_commitment, new_recovery],
                                time_, compromised_from=compromised_since))

    def _authority(self, authority_key: Ed25519PrivateKey) -> tuple[str, str]:
        """The root authority DID and kid that hold ``authority_key`` (looked up among the policy's roots)."""
        for root in self.client.policy.roots:
            for row in self._state(root).keys(root):
                if row.key.key == authority_key.public_key() and row.removed_time is None:
                    return root, row.kid
        raise RegistrationError("this key belongs to none of the registry's root authorities")

    def accredit(self, request: AccreditationRequest, authority_key: Ed25519PrivateKey | None) -> bool:
        from registry.accreditation import grant_op
        from registry.did import KeySpec

        if authority_key is None:
            return False
        root, kid = self._authority(authority_key)
        for vct in request.vcts:
            self._submit(grant_op(root, KeySpec(kid, authority_key), request.did, vct=vct, valid_from=request.valid_from,
                                  valid_until=request.valid_until, time=request.valid_from))
        return True

    def publish_type(self, did: str, key: Ed25519PrivateKey, kid: str, metadata: Mapping[str, Any], *, now: int) -> None:
        from registry.credential_type import publish_op
        from registry.did import KeySpec

        self._submit(publish_op(did, KeySpec(self._fragment(kid), key), metadata, now))


_STATIC: dict[str, StaticTrustRegistrar] = {}


def registrar_for(registry_url: str | None, factory: Callable[[str], Registrar] | None = None) -> Registrar:
    """The registrar for ``registry_url``; ``memory:<name>`` is an in-process StaticTrust (tests, demos)."""
    if registry_url and registry_url.startswith("memory:"):
        from registry.trust import StaticTrust

        return _STATIC.setdefault(registry_url, StaticTrustRegistrar(StaticTrust()))
    if factory is not None and registry_url:
        return factory(registry_url)
    if registry_url and registry_url.startswith(("http://", "https://")):
        import os

        from registry.errors import RegistryError

        try:
            return NetworkRegistrar(registry_url, os.environ.get("CIVICID_ISSUER_REGISTRY_POLICY"))
        except RegistryError as exc:
            raise RegistrationError(f"cannot use the registry at {registry_url}: {exc.message}") from exc
    raise RegistrationError(
        "no registry: pass --registry-url https://... (or memory:<name> for an in-memory registry in tests)"
    )
