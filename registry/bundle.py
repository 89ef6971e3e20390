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

Known limit (docs/did-method.md): inclusion cannot prove that no later entry
exists (a later rotation, withdrawal or compromise). Bundles always carry a
DID's full chain up to a fresh checkpoint, and offices monitor their own DIDs.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

from .checkpoint import Checkpoint, CosignatureVerifier, Ed25519Verifier, open_checkpoint
from .entry import Entry
from .errors import ConsistencyError, MalformedInput, RegistryError, SignatureError
from .merkle import leaf_hash
from .proof import verify_consistency, verify_inclusion
from .state import LedgerState

__all__ = ["TrustPolicy", "ProvenEntry", "Bundle", "QuorumNotMet", "MAX_BUNDLE_ENTRIES"]

MAX_BUNDLE_ENTRIES = 4096


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
class ProvenEntry:
    seq: int
    raw: bytes
    inclusion: tuple[bytes, ...]


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


def _unb64(value: Any, what: str) -> bytes:
    if not isinstance(value, str):
        raise MalformedInput(f"{what} must be a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MalformedInput(f"{what} is not valid base64") from exc


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
            "entries": [
                {"seq": e.seq, "entry": _b64(e.raw), "inclusion": [_b64(h) for h in e.inclusion]} for e in self.entries
            ],
        }
        if self.old_size is not None:
            result["consistency"] = {"old_size": self.old_size, "proof": [_b64(h) for h in self.consistency]}
        return result

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
            entries.append(
                ProvenEntry(item["seq"], _unb64(item.get("entry"), "entry"), tuple(_unb64(h, "proof hash") for h in proof))
            )
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
        cached, never rolling back; 4. inclusion of every entry; 5. replay of
        the entries through the ledger's rules.
        """
        # Steps 1 and 2: the log signed it, and enough known witnesses cosigned it.
        opened = open_checkpoint(self.checkpoint, origin=policy.origin, log=policy.log, cosigners=policy.witnesses)
        if len({(s.name, s.key_id) for s in opened.cosignatures}) < policy.quorum:
            raise QuorumNotMet(f"the checkpoint has fewer than the {policy.quorum} witness cosignatures required")
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
                verify_consistency(known_size, checkpoint.size, self.consistency, known_root, checkpoint.root_hash)
        # Step 4: every entry is in the checkpointed tree.
        seen: set[int] = set()
        for item in self.entries:
            if item.seq in seen:
                raise MalformedInput("a proof bundle lists the same entry twice")
            seen.add(item.seq)
            verify_inclusion(leaf_hash(item.raw), item.seq, checkpoint.size, item.inclusion, checkpoint.root_hash)
        # Step 5: replay, in log order, through the same rules as the ledger.
        state = LedgerState(policy.roots)
        for item in sorted(self.entries, key=lambda e: e.seq):
            entry = Entry.from_bytes(item.raw)
            state.apply(entry, now=max(entry.time, now))
        return checkpoint, state


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
