"""Proof bundles: every registry answer carries what a client needs to check it offline.

A bundle is the published (cosigned) checkpoint plus the log entries an answer
depends on, each with its RFC 9162 inclusion proof, and optionally a
consistency proof from the size the client last saw. The client verifies the
checkpoint against its trust policy (log key, witness quorum), each inclusion
proof, the consistency with its cache (never roll back), and then *replays*
the entries through the same rules the ledger applies
(:class:`registry.state.LedgerState`). The answer it computes from that replay
is the answer: the server's word is never needed. The server builds its own
response from the same replay, so the two cannot disagree.

Each entry may also carry ``witnessed``: the first published checkpoint that
covers it, the entry's inclusion proof against that checkpoint and a
consistency proof from it to the bundle's checkpoint. Its witness cosignature
timestamps give the entry's cosigned *upper bound* (registry design, "Time and
historical keys"; docs/did-method.md section 6), which
:meth:`Bundle.verify` records on the replayed state as ``upper_bounds``.

Known limit (docs/did-method.md): inclusion cannot prove that no later entry
exists (a later rotation, withdrawal or compromise). Bundles always carry a
DID's full chain up to a fresh checkpoint, and offices monitor their own DIDs.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

from .checkpoint import MAX_NOTE_BYTES, Checkpoint, CosignatureVerifier, Ed25519Verifier, VerifiedCheckpoint, open_checkpoint
from .entry import Entry
from .errors import ConsistencyError, MalformedInput, ProofError, RegistryError, SignatureError
from .merkle import leaf_hash
from .proof import verify_consistency, verify_inclusion
from .state import LedgerState

__all__ = ["TrustPolicy", "Witnessed", "ProvenEntry", "Bundle", "QuorumNotMet", "MAX_BUNDLE_ENTRIES", "upper_bound"]

MAX_BUNDLE_ENTRIES = 4096
#: At most this many distinct ``witnessed`` checkpoint notes per bundle (each costs signature checks).
MAX_WITNESSED_NOTES = 256
_MAX_PROOF = 64


class QuorumNotMet(SignatureError):
    """The checkpoint lacks the cosignatures the trust policy requires."""

    code = "quorum_not_met"
    hint = "the log has not been witnessed by enough of the configured witnesses; try again later"


@dataclass(frozen=True)
class TrustPolicy:
    """What a client trusts (in the spirit of c2sp.org/tlog-policy): one log, witnesses, a quorum, roots."""

    origin: str
    log: Ed25519Verifier
    witnesses: tuple[CosignatureVerifier, ...] = ()
    quorum: int = 0
    roots: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not 0 <= self.quorum <= len(self.witnesses):
            raise ValueError("the quorum must be between 0 and the number of witnesses")

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> "TrustPolicy":
        """``{"origin", "log": vkey, "witnesses": [vkey...], "quorum", "roots": [did...]}``."""
        try:
            return cls(
                origin=str(obj["origin"]),
                log=Ed25519Verifier.from_vkey(str(obj["log"])),
                witnesses=tuple(CosignatureVerifier.from_vkey(str(v)) for v in obj.get("witnesses", [])),
                quorum=int(obj.get("quorum", 0)),
                roots=tuple(str(r) for r in obj.get("roots", [])),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise MalformedInput(f"the trust policy is invalid ({type(exc).__name__})") from exc

    def to_json(self) -> dict[str, Any]:
        return {
            "origin": self.origin,
            "log": self.log.vkey,
            "witnesses": [w.vkey for w in self.witnesses],
            "quorum": self.quorum,
            "roots": list(self.roots),
        }


@dataclass(frozen=True)
class Witnessed:
    """The first published checkpoint covering an entry, proven against the bundle's checkpoint.

    ``inclusion`` proves the entry in ``checkpoint``; ``consistency`` proves
    that the bundle's checkpoint extends it (empty when the sizes are equal).
    """

    checkpoint: str
    inclusion: tuple[bytes, ...]
    consistency: tuple[bytes, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "checkpoint": self.checkpoint,
            "inclusion": [_b64(h) for h in self.inclusion],
            "consistency": [_b64(h) for h in self.consistency],
        }

    @classmethod
    def from_json(cls, obj: Any) -> "Witnessed":
        """Parse ``{"checkpoint": note, "inclusion": [...], "consistency": [...]}`` within limits."""
        if not isinstance(obj, dict) or not isinstance(obj.get("checkpoint"), str):
            raise MalformedInput("'witnessed' is an object with a 'checkpoint' note")
        if len(obj["checkpoint"]) > MAX_NOTE_BYTES:
            raise MalformedInput("a witnessed checkpoint note is too large")
        return cls(obj["checkpoint"], _hashes(obj.get("inclusion", []), "an inclusion proof"),
                   _hashes(obj.get("consistency", []), "a consistency proof"))


@dataclass(frozen=True)
class ProvenEntry:
    seq: int
    raw: bytes
    inclusion: tuple[bytes, ...]
    witnessed: Witnessed | None = None


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


def _unb64(value: Any, what: str) -> bytes:
    if not isinstance(value, str):
        raise MalformedInput(f"{what} must be a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MalformedInput(f"{what} is not valid base64") from exc


def _hashes(value: Any, what: str) -> tuple[bytes, ...]:
    if not isinstance(value, list) or len(value) > _MAX_PROOF:
        raise MalformedInput(f"{what} is a list of at most {_MAX_PROOF} hashes")
    return tuple(_unb64(h, "proof hash") for h in value)


def upper_bound(opened: VerifiedCheckpoint, policy: "TrustPolicy") -> int | None:
    """The cosigned time by which a checkpoint's tree existed, under ``policy``; None without witnesses.

    The registry design names the earliest cosignature timestamp. One witness
    with a wrong (or lying) clock could then move every bound as early as it
    likes, which is exactly what the strict anchor rule must not allow, so
    this takes the ``quorum``-th earliest timestamp of distinct policy
    witnesses: the earliest time that as many witnesses as the policy needs to
    accept a checkpoint at all agree the tree existed by. With a quorum of 0
    or 1 it is the earliest timestamp (docs/did-method.md section 6).
    """
    if not policy.witnesses:
        return None
    stamps: dict[tuple[str, int], int] = {}
    for sig in opened.cosignatures:
        if sig.timestamp is not None:
            key = (sig.name, sig.key_id)
            stamps[key] = min(stamps.get(key, sig.timestamp), sig.timestamp)
    needed = max(policy.quorum, 1)
    if len(stamps) < needed:
        return None
    return sorted(stamps.values())[needed - 1]


@dataclass(frozen=True)
class Bundle:
    """A checkpoint note, proven entries, and an optional consistency proof from ``old_size``."""

    checkpoint: str
    entries: tuple[ProvenEntry, ...]
    old_size: int | None = None
    consistency: tuple[bytes, ...] = ()

    def to_json(self) -> dict[str, Any]:
        result: dict[str, Any] = {
            "checkpoint": self.checkpoint,
            "entries": [self._entry_json(e) for e in self.entries],
        }
        if self.old_size is not None:
            result["consistency"] = {"old_size": self.old_size, "proof": [_b64(h) for h in self.consistency]}
        return result

    @staticmethod
    def _entry_json(e: ProvenEntry) -> dict[str, Any]:
        item: dict[str, Any] = {"seq": e.seq, "entry": _b64(e.raw), "inclusion": [_b64(h) for h in e.inclusion]}
        if e.witnessed is not None:
            item["witnessed"] = e.witnessed.to_json()
        return item

    @classmethod
    def from_json(cls, obj: Any) -> "Bundle":
        """Parse a bundle from outside, within limits."""
        if not isinstance(obj, dict) or not isinstance(obj.get("checkpoint"), str):
            raise MalformedInput("a proof bundle is an object with a 'checkpoint' note")
        raw_entries = obj.get("entries", [])
        if not isinstance(raw_entries, list) or len(raw_entries) > MAX_BUNDLE_ENTRIES:
            raise MalformedInput(f"a proof bundle holds a list of at most {MAX_BUNDLE_ENTRIES} entries")
        entries = []
        for item in raw_entries:
            if not isinstance(item, dict) or not isinstance(item.get("seq"), int) or isinstance(item.get("seq"), bool):
                raise MalformedInput("each bundle entry needs an integer 'seq'")
            proof = item.get("inclusion", [])
            if not isinstance(proof, list) or len(proof) > 64:
                raise MalformedInput("an inclusion proof is a list of at most 64 hashes")
            witnessed = Witnessed.from_json(item["witnessed"]) if "witnessed" in item else None
            entries.append(
                ProvenEntry(
                    item["seq"], _unb64(item.get("entry"), "entry"), tuple(_unb64(h, "proof hash") for h in proof), witnessed
                )
            )
        if len({e.witnessed.checkpoint for e in entries if e.witnessed is not None}) > MAX_WITNESSED_NOTES:
            raise MalformedInput(f"a proof bundle cites at most {MAX_WITNESSED_NOTES} distinct witnessed checkpoints")
        old_size: int | None = None
        consistency: tuple[bytes, ...] = ()
        if "consistency" in obj:
            block = obj["consistency"]
            if not isinstance(block, dict) or not isinstance(block.get("old_size"), int):
                raise MalformedInput("'consistency' needs an integer 'old_size' and a 'proof'")
            old_size = block["old_size"]
            proof = block.get("proof", [])
            if not isinstance(proof, list) or len(proof) > 64:
                raise MalformedInput("a consistency proof is a list of at most 64 hashes")
            consistency = tuple(_unb64(h, "proof hash") for h in proof)
        return cls(obj["checkpoint"], tuple(entries), old_size, consistency)

    def verify(
        self,
        policy: TrustPolicy,
        *,
        known: tuple[int, bytes] | None = None,
        now: int,
    ) -> tuple[Checkpoint, LedgerState]:
        """Check the bundle against ``policy`` and replay it; return the checkpoint and the replayed state.

        Steps (design note, "Proofs to clients"): 1. the log's signature; 2. the
        witness quorum; 3. consistency with ``known`` (size, root) the client
        cached, never rolling back; 4. inclusion of every entry; 5. each
        entry's ``witnessed`` checkpoint (steps 1, 2, inclusion, consistency to
        this checkpoint) and its cosigned upper bound; 6. replay of the entries
        through the ledger's rules. The replayed state's ``upper_bounds`` maps
        the seq of every entry with a ``witnessed`` block to its bound.
        """
        # Steps 1 and 2: the log signed it, and enough known witnesses cosigned it.
        opened = _open(self.checkpoint, policy)
        checkpoint = opened.checkpoint
        # Step 3: consistent with what this client saw before; never roll back.
        if known is not None:
            known_size, known_root = known
            if checkpoint.size < known_size:
                raise ConsistencyError("the registry served an older checkpoint than this client has seen (rollback)")
            if checkpoint.size == known_size and checkpoint.root_hash != known_root:
                raise ConsistencyError("the registry served a different tree of the same size (split view)")
            if 0 < known_size < checkpoint.size:
                if self.old_size != known_size:
                    raise ConsistencyError("the bundle has no consistency proof from this client's cached size")
                try:
                    verify_consistency(known_size, checkpoint.size, self.consistency, known_root, checkpoint.root_hash)
                except ProofError as exc:
                    # The served tree does not extend the one this client holds: a fork shown to this client
                    # (tests/security/test_split_view.py). Typed as such, with the proof failure chained.
                    raise ConsistencyError(
                        "the registry's tree does not extend the checkpoint this client holds (split view or fork)"
                    ) from exc
        # Step 4: every entry is in the checkpointed tree.
        seen: set[int] = set()
        for item in self.entries:
            if item.seq in seen:
                raise MalformedInput("a proof bundle lists the same entry twice")
            seen.add(item.seq)
            verify_inclusion(leaf_hash(item.raw), item.seq, checkpoint.size, item.inclusion, checkpoint.root_hash)
        # Step 5: the first checkpoint that covers each entry, and the cosigned upper bound it gives.
        bounds: dict[int, int] = {}
        opened_notes: dict[str, tuple[VerifiedCheckpoint, bool]] = {}
        for item in self.entries:
            if item.witnessed is None:
                continue
            bound = self._witnessed_bound(item, checkpoint, policy, opened_notes)
            if bound is not None:
                bounds[item.seq] = bound
        # Step 6: replay, in log order, through the same rules as the ledger.
        state = LedgerState(policy.roots)
        for item in sorted(self.entries, key=lambda e: e.seq):
            entry = Entry.from_bytes(item.raw)
            state.apply(entry, now=max(entry.time, now), seq=item.seq)
        state.upper_bounds = bounds
        return checkpoint, state

    @staticmethod
    def _witnessed_bound(
        item: ProvenEntry,
        checkpoint: Checkpoint,
        policy: TrustPolicy,
        opened_notes: dict[str, tuple[VerifiedCheckpoint, bool]],
    ) -> int | None:
        assert item.witnessed is not None
        witnessed = item.witnessed
        # 5a. The log signed it and the policy's quorum cosigned it (each distinct note checked once).
        cached = opened_notes.get(witnessed.checkpoint)
        if cached is None:
            cached = (_open(witnessed.checkpoint, policy), False)
            opened_notes[witnessed.checkpoint] = cached
        opened, consistent = cached
        first = opened.checkpoint
        # 5b. It covers the entry and is not beyond the bundle's checkpoint.
        if not item.seq < first.size <= checkpoint.size:
            raise ConsistencyError("an entry's witnessed checkpoint does not cover it within the bundle's checkpoint")
        # 5c. The entry is in it.
        verify_inclusion(leaf_hash(item.raw), item.seq, first.size, witnessed.inclusion, first.root_hash)
        # 5d. The bundle's checkpoint extends it (so both are one history).
        if not consistent:
            if first.size == checkpoint.size:
                if first.root_hash != checkpoint.root_hash or witnessed.consistency:
                    raise ConsistencyError("a witnessed checkpoint of the bundle's size has another root (split view)")
            else:
                verify_consistency(first.size, checkpoint.size, witnessed.consistency, first.root_hash, checkpoint.root_hash)
            opened_notes[witnessed.checkpoint] = (opened, True)
        return upper_bound(opened, policy)


def _open(note: str, policy: TrustPolicy) -> VerifiedCheckpoint:
    """Steps 1 and 2 for any checkpoint note: the log's signature and the policy's witness quorum."""
    opened = open_checkpoint(note, origin=policy.origin, log=policy.log, cosigners=policy.witnesses)
    if len({(s.name, s.key_id) for s in opened.cosignatures}) < policy.quorum:
        raise QuorumNotMet(f"the checkpoint has fewer than the {policy.quorum} witness cosignatures required")
    return opened


def seqs_for(state: LedgerState, dids: Iterable[str] = (), grants: Sequence[Any] = (), types: Iterable[Any] = ()) -> set[int]:
    """The log positions a replay needs: every op of each DID, and each grant with its grantor's chain."""
    wanted: set[int] = set()
    pending = list(dids)
    done: set[str] = set()
    for grant in grants:
        wanted.add(grant.seq)
        if grant.withdrawn_seq is not None:
            wanted.add(grant.withdrawn_seq)
        pending.extend([grant.grantor, grant.subject])
    for version in types:
        wanted.add(version.seq)
        pending.append(version.publisher)
    while pending:
        did = pending.pop()
        if did in done:
            continue
        done.add(did)
        try:
            wanted.update(v.seq for v in state.versions(did))
        except RegistryError:
            continue
        # A grantor's own accreditation is part of the chain a replay must see.
        for grant in state.accreditations.grants_for(did):
            if grant.seq not in wanted:
                wanted.add(grant.seq)
                if grant.withdrawn_seq is not None:
                    wanted.add(grant.withdrawn_seq)
                pending.append(grant.grantor)
    return wanted
