"""A registry mirror: a second node (another region) that follows a primary log over its tiles.

The mirror reads only the C2SP tlog-tiles API (c2sp.org/tlog-tiles):
``GET <base>/checkpoint``, ``GET <base>/tile/<L>/<N>[.p/<W>]`` and
``GET <base>/tile/entries/<N>[.p/<W>]``, in the spirit of c2sp.org/tlog-mirror.
It trusts nothing it fetches until it has checked it:

1. the checkpoint is signed by the log key and cosigned by a quorum of the
   configured witnesses (c2sp.org/tlog-cosignature, registry design
   "Witnesses and mirrors");
2. it is not smaller than what the mirror already holds (no rollback), and a
   consistency proof computed from the primary's tiles shows it extends the
   mirror's tree (RFC 9162 s2.1.4.2); otherwise the primary rewrote history
   and both tree heads are kept as evidence;
3. the missing entries are fetched from entry bundles, a batch at a time. Before a
   batch is written, the mirror hashes it onto its own tree and checks, with a
   consistency proof from the batch's end to the checkpoint (or root equality
   for the last batch), that the batch is exactly what the signed checkpoint
   commits to; a tampered bundle is refused here;
4. every entry is validated against the mirror's own
   :class:`registry.state.LedgerState` (every signature and rule), as the
   primary's sequencer did;
5. each batch is appended to the mirror's :class:`registry.storage.LogStore`
   in one transaction, whose recomputed root must equal the root checked in
   step 3;
6. the primary's checkpoint note is stored last, so the mirror serves the same
   checkpoint (with the same cosignatures) for the same tree.

A failed check raises a typed error before its batch is written, so the
mirror's store only ever holds entries proven to be a prefix of a signed,
quorum-cosigned checkpoint, and a whole batch or none of it. A sync that
fails in its first batch (every sync of fewer than ``batch_size`` entries)
leaves the store untouched; the mirror's published checkpoint only moves in
step 6.

Partial tiles (c2sp.org/tlog-tiles, "Partial Tiles"): a server may delete a
partial tile once the full one exists, so when a partial tile or bundle is not
found, the mirror fetches the full one and uses its prefix.
"""

from __future__ import annotations

import logging
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .checkpoint import CosignatureVerifier, Ed25519Verifier, open_checkpoint
from .entry import Entry
from .errors import ConsistencyError, EntryRejected, ProofError, RegistryError, RootMismatch, SignatureError
from .merkle import HASH_SIZE, CompactRange, consistency_proof, leaf_hash, root_hash
from .proof import verify_consistency
from .state import LedgerState, validate
from .storage import Cursor, LogStore, StorageError
from .tiles import TILE_WIDTH, TileHashReader, TileID, decode_entry_bundle, entries_path

__all__ = [
    "Fetch",
    "http_fetch",
    "Mirror",
    "MirrorStatus",
    "MirrorFetchError",
    "MirrorQuorumNotMet",
    "MirrorRollback",
    "MirrorFork",
    "MirrorEntriesMismatch",
    "MirrorEntryRejected",
    "DEFAULT_BATCH",
    "MAX_RESPONSE_BYTES",
]

log = logging.getLogger(__name__)

#: ``fetch(path)`` returns the body at ``<base>/<path>``, ``None`` when the primary answers 404.
Fetch = Callable[[str], "bytes | None"]

#: Entries appended per transaction (rounded up to whole bundles of 256).
DEFAULT_BATCH = 4096
#: The largest response accepted: a full bundle of 256 entries of at most 64 KiB each.
MAX_RESPONSE_BYTES = TILE_WIDTH * (2 + 0xFFFF)


class MirrorFetchError(RegistryError):
    """The primary could not be reached, or it did not serve a resource the checkpoint requires."""

    code = "mirror_fetch_failed"
    hint = "check the primary's URL and health; the mirror retries at its next sync"

    def __init__(self, message: str, path: str | None = None, status: int | None = None) -> None:
        self.path = path
        self.status = status
        super().__init__(message)


class MirrorQuorumNotMet(SignatureError):
    """The primary's checkpoint lacks the cosignatures of a quorum of the configured witnesses."""

    code = "mirror_quorum_not_met"
    hint = "the primary publishes a checkpoint only after quorum; retry later, or check the witness keys"


class _Evidence:
    """Both tree heads of a misbehaving primary: ours (what we hold) and theirs (signed)."""

    ours_size: int
    ours_root: bytes
    ours_note: str | None
    theirs_note: str

    def _keep(self, ours_size: int, ours_root: bytes, ours_note: str | None, theirs_note: str) -> None:
        self.ours_size = ours_size
        self.ours_root = ours_root
        self.ours_note = ours_note
        self.theirs_note = theirs_note


class MirrorRollback(ConsistencyError, _Evidence):
    """The primary signed a checkpoint smaller than the tree the mirror already holds."""

    code = "mirror_rollback"

    def __init__(self, message: str, ours_size: int, ours_root: bytes, ours_note: str | None, theirs_note: str) -> None:
        self._keep(ours_size, ours_root, ours_note, theirs_note)
        super().__init__(message)


class MirrorFork(ConsistencyError, _Evidence):
    """The primary's signed checkpoint does not extend the mirror's tree: it rewrote history."""

    code = "mirror_fork"

    def __init__(self, message: str, ours_size: int, ours_root: bytes, ours_note: str | None, theirs_note: str) -> None:
        self._keep(ours_size, ours_root, ours_note, theirs_note)
        super().__init__(message)


class MirrorEntriesMismatch(RootMismatch):
    """The entries the primary served do not hash to the tree its checkpoint signs (a tampered bundle).

    ``seq`` is the first entry whose leaf hash differs from the primary's own
    level-0 tile, when the tiles show which one it is.
    """

    code = "mirror_entries_mismatch"
    hint = "the primary serves entry bundles that differ from its signed tree; report it and retry from another copy"

    def __init__(self, expected: bytes, calculated: bytes, message: str, seq: int | None = None) -> None:
        self.seq = seq
        super().__init__(expected, calculated, message)


class MirrorEntryRejected(EntryRejected):
    """An entry the primary logged (and signed into its tree) breaks a signature or ledger rule."""

    code = "mirror_entry_rejected"
    hint = "the primary accepted an entry its own rules refuse; keep the checkpoint as evidence and report the log"

    def __init__(self, message: str, seq: int, cause: str, theirs_note: str) -> None:
        self.seq = seq
        self.cause = cause
        self.theirs_note = theirs_note
        super().__init__(message)


@dataclass(frozen=True)
class MirrorStatus:
    """The mirror after a sync: its tree, how far it came, and the checkpoint it now serves."""

    size: int
    root: bytes
    previous_size: int
    appended: int
    note: str


def http_fetch(base_url: str, *, timeout: float = 10.0, max_bytes: int = MAX_RESPONSE_BYTES) -> Fetch:
    """A :data:`Fetch` over HTTP(S): ``GET <base_url>/<path>``, ``None`` on 404."""
    base = base_url.rstrip("/")

    def fetch(path: str) -> bytes | None:
        request = urllib.request.Request(f"{base}/{path}", headers={"User-Agent": "civicid-mirror/1"})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (an operator-set URL)
                body = response.read(max_bytes + 1)
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            raise MirrorFetchError(f"the primary answered HTTP {exc.code} for {path}", path, exc.code) from exc
        except (urllib.error.URLError, OSError) as exc:
            raise MirrorFetchError(f"cannot reach the primary for {path} ({type(exc).__name__})", path) from exc
        if len(body) > max_bytes:
            raise MirrorFetchError(f"the primary's answer for {path} is larger than {max_bytes} bytes", path)
        return bytes(body)

    return fetch


class Mirror:
    """Follows one primary log (``origin``) into a local :class:`LogStore`; call :meth:`sync` periodically."""

    def __init__(
        self,
        store: LogStore,
        *,
        origin: str,
        log_verifier: Ed25519Verifier,
        cosigners: Sequence[CosignatureVerifier],
        quorum: int,
        roots: Sequence[str],
        fetch: Fetch,
        batch_size: int = DEFAULT_BATCH,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not 0 <= quorum <= len(cosigners):
            raise ValueError("the quorum must be between 0 and the number of cosigners")
        if batch_size < 1:
            raise ValueError("batch_size must be positive")
        self.store = store
        self.origin = origin
        self.log_verifier = log_verifier
        self.cosigners = tuple(cosigners)
        self.quorum = quorum
        self.roots = tuple(roots)
        self.fetch = fetch
        # Batches are whole bundles, so no bundle is fetched twice in one sync.
        self.batch_size = -(-batch_size // TILE_WIDTH) * TILE_WIDTH
        self.clock = clock
        self._lock = threading.Lock()
        self.state = LedgerState(self.roots)
        self._catch_up()

    # Projection --------------------------------------------------------------------------

    def _catch_up(self) -> None:
        """Rebuild the projection from the mirror's own log (on start, and after a refused batch)."""
        self.state = LedgerState(self.roots)
        size = self.store.size()
        while self.state.size < size:
            bodies = self.store.entries(self.state.size, min(size, self.state.size + 4096))
            if not bodies:
                raise StorageError("the mirror's log has fewer entries than its size says; run `civicid registry audit`")
            for body in bodies:
                entry = Entry.from_bytes(body)
                self.state.apply(entry, now=max(entry.time, int(self.clock())))

    # Fetching ----------------------------------------------------------------------------

    def _get(self, path: str) -> bytes | None:
        try:
            return self.fetch(path)
        except RegistryError:
            raise
        except Exception as exc:  # An injected fetch may raise anything; it means "unreachable".
            raise MirrorFetchError(f"cannot fetch {path} from the primary ({type(exc).__name__})", path) from exc

    def _require(self, path: str) -> bytes:
        data = self._get(path)
        if data is None:
            raise MirrorFetchError(f"the primary has no {path}", path, 404)
        return data

    def _tile(self, tile: TileID) -> bytes:
        """A Merkle tile; a missing partial tile falls back to the full one's prefix (tlog-tiles "Partial Tiles")."""
        data = self._get(tile.path)
        if data is None and tile.is_partial:
            full = self._get(TileID(tile.level, tile.index).path)
            if full is not None and len(full) == TILE_WIDTH * HASH_SIZE:
                data = full[: tile.width * HASH_SIZE]
        if data is None:
            raise MirrorFetchError(f"the primary has no {tile.path}", tile.path, 404)
        return data

    def _bundle(self, index: int, width: int) -> list[bytes]:
        """Entry bundle ``index`` as of a tree where it holds ``width`` entries."""
        path = entries_path(index, width)
        data = self._get(path)
        if data is not None:
            return decode_entry_bundle(data, width=width)
        if width < TILE_WIDTH:
            full = self._get(entries_path(index))
            if full is not None:
                return decode_entry_bundle(full, width=TILE_WIDTH)[:width]
        raise MirrorFetchError(f"the primary has no {path}", path, 404)

    def _entries(self, start: int, end: int, tree_size: int) -> list[bytes]:
        """Entries ``[start, end)`` from the bundles of a tree of ``tree_size`` entries."""
        out: list[bytes] = []
        for index in range(start // TILE_WIDTH, -(-end // TILE_WIDTH)):
            first = index * TILE_WIDTH
            bundle = self._bundle(index, min(TILE_WIDTH, tree_size - first))
            out += bundle[max(start - first, 0) : end - first]
        return out

    # Sync --------------------------------------------------------------------------------

    def sync(self) -> MirrorStatus:
        """Bring the mirror up to the primary's latest checkpoint, or raise and keep what it had.

        Raises :class:`MirrorFetchError`, :class:`MirrorQuorumNotMet`,
        :class:`MirrorRollback`, :class:`MirrorFork`,
        :class:`MirrorEntriesMismatch`, :class:`MirrorEntryRejected`, or the
        parsing errors of :mod:`registry.checkpoint` and :mod:`registry.tiles`.
        """
        with self._lock:
            return self._sync()

    def _sync(self) -> MirrorStatus:
        # 1. The checkpoint: log signature, origin, then the cosignature quorum.
        raw_note = self._require("checkpoint")
        verified = open_checkpoint(raw_note, origin=self.origin, log=self.log_verifier, cosigners=self.cosigners)
        theirs_note = raw_note.decode("utf-8")  # open_checkpoint checked it is UTF-8.
        witnesses = {(s.name, s.key_id) for s in verified.cosignatures}
        if len(witnesses) < self.quorum:
            raise MirrorQuorumNotMet(
                f"the primary's checkpoint carries {len(witnesses)} of the {self.quorum} required cosignatures"
            )
        target = verified.checkpoint
        size = self.store.size()
        root = root_hash(size, self.store)
        ours = self.store.latest_checkpoint()
        ours_note = ours[1] if ours is not None and ours[0] == size else None

        # 2. No rollback, and the new tree extends ours (RFC 9162 s2.1.4.2).
        if target.size < size:
            raise MirrorRollback(
                f"the primary signed size {target.size}, smaller than the {size} entries the mirror holds",
                size, root, ours_note, theirs_note,
            )  # fmt: skip
        reader = TileHashReader(target.size, self._tile)
        if target.size == size and target.root_hash != root:
            raise MirrorFork(
                f"the primary signed another root for size {size}", size, root, ours_note, theirs_note
            )
        if 0 < size < target.size:
            proof = consistency_proof(size, target.size, reader)
            try:
                verify_consistency(size, target.size, proof, root, target.root_hash)
            except ProofError as exc:
                log.error("primary %s forked: size %d does not extend our size %d", self.origin, target.size, size)
                raise MirrorFork(
                    f"the primary's checkpoint at size {target.size} does not extend the mirror's tree "
                    f"at size {size} ({exc.code})",
                    size, root, ours_note, theirs_note,
                ) from exc  # fmt: skip

        # 3-5. Entries, a batch at a time: proven, validated, then written.
        frontier = CompactRange.from_reader(size, self.store)
        start = size
        while start < target.size:
            end = min(target.size, (start // TILE_WIDTH) * TILE_WIDTH + self.batch_size)
            bodies = self._entries(start, end, target.size)
            if len(bodies) != end - start:
                raise MirrorFetchError(f"the primary's bundles hold {len(bodies)} of entries [{start}, {end})")
            leaves = [leaf_hash(body) for body in bodies]
            frontier.extend(leaves)
            batch_root = frontier.root()
            self._prove_batch(start, end, batch_root, leaves, target.size, target.root_hash, reader)
            entries = self._validate(start, bodies, theirs_note)
            self._append(start, entries, batch_root)
            start = end

        # 6. Serve the primary's checkpoint as our own.
        if ours is None or ours[0] != target.size or ours[1] != theirs_note:
            self.store.put_checkpoint(target.size, theirs_note)
        return MirrorStatus(target.size, target.root_hash, size, target.size - size, theirs_note)

    def _prove_batch(
        self,
        start: int,
        end: int,
        batch_root: bytes,
        leaves: list[bytes],
        target_size: int,
        target_root: bytes,
        reader: TileHashReader,
    ) -> None:
        """The tree up to ``end`` is a prefix of the signed tree (consistency proof, or equality at the end)."""
        try:
            if end == target_size:
                if batch_root != target_root:
                    raise RootMismatch(target_root, batch_root, "the entries do not hash to the checkpoint's root")
            else:
                proof = consistency_proof(end, target_size, reader)
                verify_consistency(end, target_size, proof, batch_root, target_root)
        except ProofError as exc:
            seq = self._first_differing_leaf(start, leaves, reader)
            where = f"; entry {seq} differs from the primary's tile" if seq is not None else ""
            raise MirrorEntriesMismatch(
                target_root,
                getattr(exc, "calculated", batch_root),
                f"entries [{start}, {end}) from the primary do not match its checkpoint at size {target_size}{where}",
                seq,
            ) from exc

    def _first_differing_leaf(self, start: int, leaves: list[bytes], reader: TileHashReader) -> int | None:
        """Diagnosis only: the first fetched entry whose leaf hash differs from the primary's level-0 tile."""
        try:
            for offset, leaf in enumerate(leaves):
                if reader.get_node(0, start + offset) != leaf:
                    return start + offset
        except (RegistryError, IndexError):
            return None
        return None

    def _validate(self, start: int, bodies: list[bytes], theirs_note: str) -> list[Entry]:
        """Step 4: every entry against the mirror's projection; a refusal rebuilds the projection."""
        entries: list[Entry] = []
        try:
            for offset, body in enumerate(bodies):
                try:
                    entry = Entry.from_bytes(body)
                    self.state.commit(validate(entry, self.state, max(entry.time, int(self.clock()))))
                except RegistryError as exc:
                    raise MirrorEntryRejected(
                        f"entry {start + offset} of the primary's log is refused: {exc.message}",
                        start + offset,
                        exc.code,
                        theirs_note,
                    ) from exc
                entries.append(entry)
        except BaseException:
            self._catch_up()
            raise
        return entries

    def _append(self, start: int, entries: list[Entry], batch_root: bytes) -> None:
        """Step 5: one transaction; the store's recomputed root must be the proven one."""

        def prepare(cur: Cursor, size: int) -> tuple[list[bytes], list[bytes]]:
            if size != start:
                raise StorageError(f"the mirror's log grew from {start} to {size} under it; run one mirror per store")
            return [e.raw for e in entries], [bytes.fromhex(e.hash) for e in entries]

        try:
            result = self.store.sequence(prepare)
        except BaseException:
            self._catch_up()
            raise
        if result.root != batch_root:
            # Unreachable unless the mirror's own nodes table is corrupt; the audit will say where.
            raise StorageError(
                f"the mirror's stored tree at size {result.size} does not have the proven root; "
                "run `civicid registry audit` on the mirror"
            )
