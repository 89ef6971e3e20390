"""The registry client every role uses: resolution, accreditation and types, with proofs checked.

:class:`RegistryClient` implements :class:`registry.trust.TrustSource`. Every
answer comes with a proof bundle that it verifies against its pinned
:class:`~registry.bundle.TrustPolicy` (log key, witness quorum, roots), checks
for consistency with the largest checkpoint it has seen (never rolling back),
and replays through the ledger's own rules; the server's word is never used.
Entries come with their cosigned upper bounds, which :meth:`RegistryClient.key_at`
applies; in strict mode a credential signed by a key that was later marked
compromised also needs an :class:`~registry.anchor.AnchorProof` whose
``anchor.issuance`` was cosigned before ``compromisedFrom`` (docs/did-method.md section 6).
Answers are cached for ``cache_ttl`` seconds. A counter without a network uses
a snapshot file (:meth:`RegistryClient.save_snapshot`,
:meth:`RegistryClient.from_snapshot`) and can say how old it is.
"""

from __future__ import annotations

import json
import os
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Callable, Mapping, Sequence

import sdjwt

from .anchor import AnchorProof
from .bundle import Bundle, TrustPolicy
from .errors import KeyNotValid, MalformedInput, NotFound, ProofError, RegistryError
from .state import LedgerState
from .trust import IssuerKeyLookup, NotTrusted, did_key_at, issuer_key_lookup

__all__ = ["RegistryClient", "RegistryUnavailable", "Fetch", "submit_entry", "http_fetch", "from_url"]

Fetch = Callable[[str, "bytes | None"], tuple[int, bytes]]
"""``fetch(url, body_or_None) -> (status, body)``; POSTs JSON when a body is given."""

_MAX_RESPONSE = 4 * 1024 * 1024


class RegistryUnavailable(RegistryError):
    """The registry could not be reached or answered with an error."""

    code = "registry_unavailable"
    hint = "check the registry URL and network, or use an offline snapshot"


def http_fetch(url: str, body: bytes | None = None, timeout: float = 5.0) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, method="POST" if body is not None else "GET")
    if body is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return int(response.status), response.read(_MAX_RESPONSE + 1)
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read(_MAX_RESPONSE + 1)
    except (OSError, ValueError) as exc:
        raise RegistryUnavailable(f"the registry at {url.split('?')[0]} is unreachable ({type(exc).__name__})") from exc


def submit_entry(base_url: str, entry: bytes) -> dict[str, Any]:
    """POST one signed entry to ``base_url``/entries; returns ``{"seq", "hash"}``."""
    request = urllib.request.Request(base_url.rstrip("/") + "/entries", data=entry, method="POST")
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read(_MAX_RESPONSE))  # type: ignore[no-any-return]
    except urllib.error.HTTPError as exc:
        try:
            detail = json.loads(exc.read(_MAX_RESPONSE)).get("detail", "")
        except ValueError:
            detail = ""
        raise RegistryUnavailable(f"the registry refused the entry (HTTP {exc.code}): {detail}") from exc
    except OSError as exc:
        raise RegistryUnavailable(f"the registry is unreachable ({type(exc).__name__})") from exc


def from_url(url: str, policy: TrustPolicy | str | None = None, **kwargs: Any) -> "RegistryClient":
    """A client for ``url`` pinned to ``policy`` (a TrustPolicy, or a path to its JSON file).

    Without a policy the registry's own ``/policy`` is fetched once: trust on first use,
    acceptable for a demo on one machine only; production pins the file.
    """
    if isinstance(policy, TrustPolicy):
        pinned = policy
    elif isinstance(policy, str):
        try:
            with open(policy, encoding="utf-8") as handle:
                pinned = TrustPolicy.from_json(json.load(handle))
        except (OSError, ValueError) as exc:
            raise MalformedInput(f"the trust policy file {policy} cannot be read ({type(exc).__name__})") from exc
    else:
        status, raw = http_fetch(url.rstrip("/") + "/policy")
        if status != 200:
            raise RegistryUnavailable(f"the registry's /policy answered HTTP {status}")
        try:
            pinned = TrustPolicy.from_json(json.loads(raw))
        except ValueError as exc:
            raise RegistryUnavailable("the registry's /policy is not JSON") from exc
    return RegistryClient(url, pinned, **kwargs)


class RegistryClient:
    """A verifying, caching registry client (a :class:`registry.trust.TrustSource`)."""

    def __init__(
        self,
        base_url: str | None,
        policy: TrustPolicy,
        *,
        cache_ttl: float = 300.0,
        clock: Callable[[], float] = time.time,
        fetch: Fetch | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/") if base_url else None
        self.policy = policy
        self.cache_ttl = cache_ttl
        self.clock = clock
        self._fetch = fetch or http_fetch
        self._lock = threading.Lock()
        self._cache: dict[tuple[str, ...], tuple[float, Bundle]] = {}
        # Replayed states of bundles already verified: a bundle never changes, so it is checked once.
        self._states: dict[tuple[str, ...], LedgerState] = {}
        self._known: tuple[int, bytes] | None = None
        self._snapshot_time: float | None = None

    # Transport --------------------------------------------------------------------------

    def _get_json(self, path: str, body: Mapping[str, Any] | None = None) -> Any:
        if self.base_url is None:
            raise RegistryUnavailable("this client works from an offline snapshot that does not hold that answer")
        query = f"?known_size={self._known[0]}" if self._known else ""
        url = self.base_url + path + query
        status, raw = self._fetch(url, json.dumps(body).encode() if body is not None else None)
        if len(raw) > _MAX_RESPONSE:
            raise RegistryUnavailable("the registry's answer is too large")
        try:
            data = json.loads(raw)
        except (ValueError, RecursionError) as exc:  # RecursionError: nesting deeper than the parser's stack.
            raise RegistryUnavailable(f"the registry answered HTTP {status} with invalid JSON") from exc
        if status == 404:
            raise NotTrusted(str(data.get("detail", "not found")) if isinstance(data, dict) else "not found")
        if status != 200:
            detail = data.get("detail") if isinstance(data, dict) else None
            raise RegistryUnavailable(f"the registry answered HTTP {status}: {detail or 'error'}")
        return data

    def _verified(self, key: tuple[str, ...], load: Callable[[], Any]) -> LedgerState:
        """A cached or freshly fetched bundle, verified and replayed."""
        now = self.clock()
        with self._lock:
            cached = self._cache.get(key)
        if cached is not None and (self._snapshot_time is not None or now - cached[0] < self.cache_ttl):
            state = self._states.get(key)
            if state is None:
                # A snapshot's bundles are verified on first use, against the pinned policy.
                _, state = cached[1].verify(self.policy, now=int(now))
                with self._lock:
                    self._states[key] = state
            return state
        try:
            answer = load()
        except (KeyError, TypeError, IndexError) as exc:
            # The answer is JSON but not the documented shape (no proof where the API puts it).
            raise MalformedInput("the registry's answer has no proof bundle where one belongs") from exc
        bundle = Bundle.from_json(answer)
        checkpoint, state = bundle.verify(self.policy, known=self._known, now=int(now))
        with self._lock:
            # Never roll back: remember the largest verified checkpoint.
            if self._known is None or checkpoint.size > self._known[0]:
                self._known = (checkpoint.size, checkpoint.root_hash)
            self._cache[key] = (now, bundle)
            self._states[key] = state
        return state

    def did_state(self, did: str, *, fresh: bool = False) -> LedgerState:
        """The DID's whole chain, verified and replayed (``fresh`` skips the cache, for writers)."""
        key = ("did", did)
        if fresh:
            with self._lock:
                self._cache.pop(key, None)
                self._states.pop(key, None)
        path = f"/1.0/identifiers/{urllib.parse.quote(did, safe=':')}"
        return self._verified(key, lambda: self._get_json(path)["didResolutionMetadata"]["proof"])

    # TrustSource --------------------------------------------------------------------------

    def key_at(
        self,
        did: str,
        kid: str | None,
        at: int | None,
        *,
        strict: bool = False,
        anchor: AnchorProof | None = None,
    ) -> sdjwt.PublicKey:
        """The issuer key ``kid`` (a DID URL or fragment) as it was at ``at``; did:key resolves locally.

        Rules of :meth:`registry.state.LedgerState.key_at`, with the cosigned upper bounds the
        bundle proved. ``strict``: if the key was ever marked compromised, ``at`` is only the
        issuer's word, so ``anchor`` must prove the credential was logged (cosigned) before
        ``compromisedFrom``; otherwise :class:`KeyNotValid` with ``rule="unanchored"``. The
        caller computes the digest from the credential it holds and checks ``anchor.digest``
        against it (:func:`registry.anchor.credential_digest`).
        """
        if did.startswith("did:key:"):
            return did_key_at(did, kid)
        if kid is None or at is None:
            raise NotTrusted("a credential must name its key (kid) and issuance time (iat)")
        base, _, fragment = kid.partition("#")
        if fragment == "":
            base, fragment = did, kid
        if base != did:
            raise NotTrusted("the credential's kid names another DID than its issuer")
        state = self.did_state(did)
        # KeyNotValid (with its .rule: unknown_kid, not_yet_added, removed, compromised) and
        # UnknownDID propagate as they are, so a verifier can tell its users which rule failed.
        record = state.key_at(did, fragment, at, upper_bounds=state.upper_bounds)
        if "assertionMethod" not in record.key.purposes:
            raise NotTrusted("that key is not an assertionMethod key, so it cannot sign credentials")
        if strict and record.compromised_from is not None:
            self._check_anchor(did, at, record.compromised_from, anchor)
        return record.key.key

    def _check_anchor(self, did: str, iat: int, compromised_from: int, proof: AnchorProof | None) -> None:
        """The strict policy: an anchor of ``did``, cosigned before ``compromised_from``, holds the credential.

        1. a proof is given; 2. its path gives a root; 3. the registry proves an
        ``anchor.issuance`` with that root (verified bundle, replayed); 4. the path,
        seq, DID and count match it; 5. its cosigned upper bound is proven and
        earlier than ``compromised_from``; 6. the credential existed by then (``iat`` <= bound).
        """
        def refuse(reason: str) -> KeyNotValid:
            return KeyNotValid(
                f"the key of {did} was later marked compromised from {compromised_from}; {reason}", rule="unanchored"
            )

        # Step 1.
        if proof is None:
            raise refuse("the credential needs an issuance anchor logged before then (strict policy)")
        try:
            # Step 2: the issuer-side path.
            root = proof.root()
            # Step 3: the log-side proof, verified against the pinned policy and replayed.
            path = f"/1.0/anchors/{root.hex()}"
            state = self._verified(("anchor", root.hex()), lambda: self._get_json(path)["proof"])
            logged = state.anchor(root)
            if logged is None:
                raise refuse("no anchor with the credential's batch root is proven by the registry")
            # Step 4.
            proof.verify(logged, did=did)
        except (ProofError, NotFound, NotTrusted) as exc:
            raise refuse(f"its anchor proof does not hold ({exc.code})") from exc
        # Step 5: the witnesses' time, not the issuer's.
        bound = state.upper_bounds.get(logged.seq)
        if bound is None:
            raise refuse("the anchor has no proven witness cosignature time")
        if bound >= compromised_from:
            raise refuse(f"its anchor was cosigned at {bound}, not before the compromise")
        # Step 6.
        if iat > bound:
            raise refuse(f"the credential's iat {iat} is after its anchor was cosigned ({bound})")

    def check_accredited(self, did: str, vct: str, at: int) -> None:
        query = {"entity_id": did, "action": "issue", "resource": vct, "context": {"time": at}}
        state = self._verified(("acc", did, vct), lambda: self._get_json("/authorization", query)["ext"]["proofs"])
        try:
            state.authorization(did, vct, at)
        except RegistryError as exc:
            raise NotTrusted(f"the issuer was not accredited for this credential type at that time: {exc.message}") from exc

    def credential_type(self, vct: str) -> Mapping[str, Any]:
        state = self._verified(("type", vct), lambda: self._get_json(f"/1.0/types/{urllib.parse.quote(vct, safe=':')}")["proof"])
        try:
            return state.credential_type(vct).metadata
        except RegistryError as exc:
            raise NotTrusted(f"no type metadata is proven for this vct: {exc.message}") from exc

    def issuer_key_lookup(self) -> IssuerKeyLookup:
        """An ``issuer_key`` callable for :func:`sdjwt.verify`."""
        return issuer_key_lookup(self)

    # Writes -------------------------------------------------------------------------------

    def submit(self, entry: bytes) -> dict[str, Any]:
        """Submit a signed entry; returns ``{"seq", "hash"}`` or raises with the registry's reason."""
        if self.base_url is None:
            raise RegistryUnavailable("an offline client cannot submit entries")
        return submit_entry(self.base_url, entry)

    # Offline snapshots --------------------------------------------------------------------

    def save_snapshot(
        self,
        path: str,
        *,
        dids: Sequence[str] = (),
        accreditations: Sequence[tuple[str, str]] = (),
        vcts: Sequence[str] = (),
    ) -> None:
        """Fetch, verify and write the bundles a counter needs offline (atomically)."""
        for did in dids:
            self._verified(
                ("did", did),
                lambda did=did: self._get_json(f"/1.0/identifiers/{urllib.parse.quote(did, safe=':')}")["didResolutionMetadata"]["proof"],
            )
        for did, vct in accreditations:
            query = {"entity_id": did, "action": "issue", "resource": vct}
            self._verified(("acc", did, vct), lambda q=query: self._get_json("/authorization", q)["ext"]["proofs"])
        for vct in vcts:
            self._verified(("type", vct), lambda v=vct: self._get_json(f"/1.0/types/{urllib.parse.quote(v, safe=':')}")["proof"])
        with self._lock:
            data = {
                "format": "civicid-registry-snapshot/1",
                "created": int(self.clock()),
                "policy": self.policy.to_json(),
                "answers": [{"key": list(k), "bundle": b.to_json()} for k, (_, b) in self._cache.items()],
            }
        tmp = f"{path}.tmp"
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump(data, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)

    @classmethod
    def from_snapshot(cls, path: str, policy: TrustPolicy, *, clock: Callable[[], float] = time.time) -> "RegistryClient":
        """An offline client answering only from a snapshot, verified against ``policy`` (not the file's)."""
        try:
            with open(path, encoding="utf-8") as handle:
                data = json.load(handle)
            if data.get("format") != "civicid-registry-snapshot/1":
                raise MalformedInput("not a civicid registry snapshot")
            client = cls(None, policy, clock=clock)
            client._snapshot_time = float(data["created"])
            for item in data["answers"]:
                client._cache[tuple(str(k) for k in item["key"])] = (client._snapshot_time, Bundle.from_json(item["bundle"]))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise MalformedInput(f"the snapshot file cannot be read ({type(exc).__name__})") from exc
        return client

    @property
    def snapshot_age(self) -> float | None:
        """Seconds since the offline snapshot was made, or None for a live client."""
        return None if self._snapshot_time is None else self.clock() - self._snapshot_time
