"""The registry's write path: sequence signed entries into the log, then checkpoint and witness.

Submitters hand entries to a single sequencer thread. It takes whatever is
queued (up to :data:`MAX_BATCH`) as one batch, so under load many entries share
one transaction and one fsync, and when idle an entry is written at once
(group commit; no artificial wait). Inside the transaction, with the log's
write lock held, the in-memory projection (:class:`registry.state.LedgerState`)
first catches up with entries other processes appended, then every entry is
validated against it; refused entries get their typed error and never touch
the log. A failed commit rebuilds the projection from the log, so memory
never disagrees with storage.

After a batch, the witnessing thread signs a checkpoint for the new size,
gathers cosignatures from the configured witnesses (c2sp.org/tlog-witness),
and publishes the checkpoint only once the quorum has cosigned (the Sigsum
rule), at most about once a second under load.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Callable, Sequence

from sdjwt.encoding import b64url_decode
from sdjwt.keys import Ed25519PublicKey

from .checkpoint import Checkpoint, CosignatureVerifier, Ed25519Signer, SignedNote
from .entry import Entry
from .errors import ConsistencyError, MalformedInput, RegistryError
from .merkle import consistency_proof, inclusion_proof
from .state import LedgerState, validate
from .storage import Cursor, LogStore
from .witness import cosignatures_from_response, request_cosignature

__all__ = ["Ledger", "Receipt", "WitnessConfig", "MAX_BATCH"]

log = logging.getLogger(__name__)

MAX_BATCH = 256


@dataclass(frozen=True)
class Receipt:
    """An accepted entry: its sequence number (leaf index) and entry hash (hex)."""

    seq: int
    hash: str


@dataclass(frozen=True)
class WitnessConfig:
    """A witness the log asks for cosignatures: its submission URL and its cosignature key."""

    url: str
    verifier: CosignatureVerifier


@dataclass
class _Pending:
    entry: Entry
    future: "Future[Receipt]" = field(default_factory=Future)


class Ledger:
    """Sequencer + projection + checkpointing for one log origin."""

    def __init__(
        self,
        store: LogStore,
        *,
        origin: str,
        signer: Ed25519Signer,
        roots: Sequence[str] = (),
        witnesses: Sequence[WitnessConfig] = (),
        quorum: int | None = None,
        clock: Callable[[], float] = time.time,
        checkpoint_interval: float = 1.0,
    ) -> None:
        self.store = store
        self.origin = origin
        self.signer = signer
        self.roots = tuple(roots)
        self.witnesses = tuple(witnesses)
        self.quorum = len(self.witnesses) if quorum is None else quorum
        if self.quorum > len(self.witnesses):
            raise ValueError("the witness quorum is larger than the number of witnesses")
        self.clock = clock
        self.checkpoint_interval = checkpoint_interval
        self._state_lock = threading.RLock()
        self.state = LedgerState(self.roots)
        self._queue: "queue.Queue[_Pending | None]" = queue.Queue()
        self._witness_sizes: dict[str, int] = {}
        self._dirty = threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        with self._state_lock:
            self._catch_up_locked(None, store.size())

    # Projection ----------------------------------------------------------------------------

    def _catch_up_locked(self, cur: Cursor | None, size: int) -> None:
        """Apply entries [state.size, size) from storage: the log is the truth, memory follows it."""
        while self.state.size < size:
            end = min(size, self.state.size + 4096)
            bodies = self.store.entries_in(cur, self.state.size, end) if cur else self.store.entries(self.state.size, end)
            if not bodies:
                raise RegistryError("the log has fewer entries than its size says; run `civicid registry audit`")
            for body in bodies:
                # Entries in the log were valid when appended; replay at their own time.
                entry = Entry.from_bytes(body)
                self.state.apply(entry, now=max(entry.time, int(self.clock())))

    def refresh(self) -> None:
        """Catch up with entries appended by other processes (reads may call this)."""
        with self._state_lock:
            self._catch_up_locked(None, self.store.size())

    # Writes -------------------------------------------------------------------------------

    def submit(self, bodies: Sequence[bytes]) -> list[Receipt | RegistryError]:
        """Sequence a batch now, in the caller's thread: one result per body, in order."""
        return self._sequence_batch(bodies)

    def _sequence_batch(self, bodies: Sequence[bytes | Entry]) -> list[Receipt | RegistryError]:
        """One transaction for ``bodies``: raw bytes, or entries already parsed by :meth:`submit_one`."""
        results: list[Receipt | RegistryError] = [RegistryError("not processed")] * len(bodies)
        accepted: list[tuple[int, Entry]] = []
        now = int(self.clock())

        def prepare(cur: Cursor, size: int) -> tuple[list[bytes], list[bytes]]:
            accepted.clear()
            self._catch_up_locked(cur, size)
            for position, body in enumerate(bodies):
                try:
                    entry = body if isinstance(body, Entry) else Entry.from_bytes(body)
                    applied = self.state.commit(validate(entry, self.state, now))
                except RegistryError as exc:
                    results[position] = exc
                    continue
                results[position] = Receipt(applied.seq, entry.hash)
                accepted.append((position, entry))
            return [e.raw for _, e in accepted], [bytes.fromhex(e.hash) for _, e in accepted]

        with self._state_lock:
            try:
                self.store.sequence(prepare)
            except BaseException:
                # The projection may hold entries that never committed: rebuild it from the log.
                self.state = LedgerState(self.roots)
                self._catch_up_locked(None, self.store.size())
                raise
        if accepted:
            self._dirty.set()
        return results

    def submit_one(self, body: bytes, timeout: float = 30.0) -> Receipt:
        """Queue one entry for the sequencer thread (group commit) and wait for its receipt.

        The stateless work happens here, in the submitting thread, so the
        sequencer is left with the ledger rules and the commit: the bytes are
        parsed and checked for canonical form (a refusal is raised here, the
        same error the sequencer would give), and the signature is verified
        ahead of time under the key the sequencer will most likely use (see
        :meth:`_preverify`). libsodium releases the GIL, so verifications run
        on the other core while the sequencer works.
        """
        if not self._threads:
            result = self.submit([body])[0]
            if isinstance(result, RegistryError):
                raise result
            return result
        entry = Entry.from_bytes(body)
        self._preverify(entry)
        pending = _Pending(entry)
        self._queue.put(pending)
        return pending.future.result(timeout=timeout)

    def _preverify(self, entry: Entry) -> None:
        """Verify ``entry``'s signature now under its likely key, so the sequencer's own check is a lookup.

        This decides nothing: the sequencer still runs every check of
        :func:`registry.state.validate` against the state it holds the lock
        for. What carries over is only the fact "``sig`` verifies under this
        raw key", remembered by the entry (:meth:`Entry.verify_signature`);
        when the sequencer picks a different key (the key set changed in
        between, or the guess was wrong) it verifies again. ``did.create``
        and ``did.recover`` are signed by a key the entry itself lists;
        other entries by the author's current key, read optimistically from
        the projection without its lock.
        """
        try:
            if entry.kind in ("did.create", "did.recover"):
                listed = [k for k in entry.body.get("keys", ()) if isinstance(k, dict) and k.get("kid") == entry.author_kid]
                if len(listed) != 1:
                    return
                key = Ed25519PublicKey(b64url_decode(listed[0]["publicKeyJwk"]["x"]))
            else:
                current = [r for r in self.state.keys(entry.author_did) if r.kid == entry.author_kid and r.removed_time is None]
                if len(current) != 1:
                    return
                key = current[0].key.key
            entry.verify_signature(key)
        except Exception:  # Malformed bodies, unknown DIDs, a projection changing under us: the sequencer decides.
            return

    def _sequencer(self) -> None:
        while not self._stop.is_set():
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < MAX_BATCH:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._stop.set()
                    break
                batch.append(item)
            try:
                results = self._sequence_batch([p.entry for p in batch])
            except Exception as exc:  # Storage failure: every waiter learns it; nothing was written.
                log.error("a batch of %d entries failed to commit: %s", len(batch), type(exc).__name__)
                for pending in batch:
                    pending.future.set_exception(exc)
                continue
            for pending, result in zip(batch, results):
                if isinstance(result, RegistryError):
                    pending.future.set_exception(result)
                else:
                    pending.future.set_result(result)

    # Checkpoints and witnesses -------------------------------------------------------------

    def checkpoint_now(self) -> str | None:
        """Sign a checkpoint for the current size and gather cosignatures; publish on quorum.

        Returns the published note, or None when the quorum was not reached.
        """
        with self._state_lock:
            size_root = self.store.sequence(lambda cur, size: ([], []))
        size, root = size_root.size, size_root.root
        latest = self.store.latest_checkpoint()
        if latest is not None and latest[0] == size:
            return latest[1]
        text = Checkpoint(self.origin, size, root).to_text()
        note = SignedNote(text, (self.signer.sign(text),))
        cosigned = 0
        for witness in self.witnesses:
            signature = self._cosign(witness, note, size)
            if signature is not None:
                note = note.with_signature(signature)
                cosigned += 1
        if cosigned < self.quorum:
            log.warning("checkpoint at size %d has %d of %d cosignatures; not published", size, cosigned, self.quorum)
            return None
        encoded = note.to_text()
        self.store.put_checkpoint(size, encoded)
        return encoded

    def _cosign(self, witness: WitnessConfig, note: SignedNote, size: int) -> object | None:
        old = self._witness_sizes.get(witness.url, 0)
        for _ in range(2):
            proof = consistency_proof(old, size, self.store) if 0 < old < size else []
            try:
                status, body = request_cosignature(witness.url, old, proof, note.to_text())
            except OSError as exc:
                log.warning("witness %s unreachable: %s", witness.url, type(exc).__name__)
                return None
            if status == 409:
                # The witness tells us the size it last cosigned; retry once from there.
                try:
                    old = int(body.decode("ascii").strip())
                except ValueError:
                    return None
                if old > size:
                    log.error("witness %s has cosigned a larger tree (%d) than ours (%d)", witness.url, old, size)
                    return None
                continue
            if status != 200:
                log.warning("witness %s refused the checkpoint with HTTP %d", witness.url, status)
                return None
            try:
                for signature in cosignatures_from_response(body):
                    if signature.name == witness.verifier.name and signature.key_id == witness.verifier.key_id:
                        witness.verifier.verify(note.text.encode("utf-8"), signature.signature)
                        self._witness_sizes[witness.url] = size
                        return signature
            except (MalformedInput, RegistryError) as exc:
                log.warning("witness %s sent an invalid cosignature: %s", witness.url, exc.code)
            return None
        return None

    def _witnessing(self) -> None:
        while not self._stop.is_set():
            self._dirty.wait(timeout=30)
            if self._stop.is_set():
                return
            self._dirty.clear()
            try:
                if self.checkpoint_now() is None:
                    self._dirty.set()  # Try again after the interval.
            except Exception as exc:
                log.error("checkpointing failed: %s", type(exc).__name__)
                self._dirty.set()
            self._stop.wait(self.checkpoint_interval)

    def start(self) -> None:
        """Start the sequencer and witnessing threads (a served registry does this)."""
        if self._threads:
            return
        for target in (self._sequencer, self._witnessing):
            thread = threading.Thread(target=target, daemon=True, name=f"ledger-{target.__name__}")
            thread.start()
            self._threads.append(thread)
        self._dirty.set()

    def stop(self) -> None:
        self._stop.set()
        self._queue.put(None)
        self._dirty.set()
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads.clear()

    # Reads with proofs ---------------------------------------------------------------------

    def published(self) -> tuple[int, str] | None:
        """The latest published (quorum-cosigned) checkpoint: (size, note)."""
        return self.store.latest_checkpoint()

    def inclusion(self, seq: int, size: int) -> list[bytes]:
        if not 0 <= seq < size:
            raise ConsistencyError("the entry is not covered by that checkpoint")
        return inclusion_proof(seq, size, self.store)

    def consistency(self, old: int, new: int) -> list[bytes]:
        if not 0 < old <= new:
            raise ConsistencyError("a consistency proof needs 0 < old size <= new size")
        return consistency_proof(old, new, self.store) if old < new else []
