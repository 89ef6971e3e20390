"""``registry.mirror``: a second node follows a primary through tlog-tiles only, and refuses a lying primary.

The primary here is built in the test from a LogStore, a Ledger and
registry/tiles.py (served by an injectable fetch, and once over HTTP by a
tiny Flask app), so these tests do not depend on the registry's own app.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Callable

import pytest

from registry.audit import audit
from registry.checkpoint import Checkpoint, CosignatureSigner, Ed25519Signer, SignedNote
from registry.did import KeySpec, create_op, update_op
from registry.errors import MalformedInput, SignatureError
from registry.ledger import Ledger, Receipt
from registry.merkle import root_hash
from registry.mirror import (
    Mirror,
    MirrorEntriesMismatch,
    MirrorEntryRejected,
    MirrorFetchError,
    MirrorFork,
    MirrorQuorumNotMet,
    MirrorRollback,
    MirrorStatus,
    http_fetch,
)
from registry.storage import Database, LogStore
from registry.tiles import ENTRIES_LEVEL, TILE_WIDTH, TileID, decode_entry_bundle, encode_entry_bundle
from sdjwt import Ed25519PrivateKey

ORIGIN = "registry.gov.example/v1"
NOW = 1_800_000_000
LOG_SIGNER = Ed25519Signer(ORIGIN, bytes([7]) * 32)
W1 = CosignatureSigner("witness.dept-a.example/w1", bytes([9]) * 32)
W2 = CosignatureSigner("witness.region-b.example/w2", bytes([10]) * 32)


def _key(n: int) -> Ed25519PrivateKey:
    return Ed25519PrivateKey(n.to_bytes(4, "big") * 8)


@functools.lru_cache(maxsize=None)
def _office(n: int) -> tuple[Any, str, KeySpec]:
    spec = KeySpec("key-1", _key(n))
    entry, did = create_op([spec], [], [_key(n + 100_000).public_key()], NOW)
    return entry, did, spec


class Primary:
    """A primary registry: a real ledger, checkpoints cosigned by two witnesses, tiles served from its store."""

    def __init__(self, path: Path) -> None:
        self.store = LogStore(Database(str(path)))
        self.ledger = Ledger(self.store, origin=ORIGIN, signer=LOG_SIGNER, clock=lambda: NOW)
        self.requests: list[str] = []
        self.drop_partials = False  # Serve like a server that deletes partial tiles once full ones exist.
        self.tamper: Callable[[str, bytes], bytes] | None = None
        self.checkpoint_override: str | None = None

    def add(self, first: int, count: int) -> None:
        results = self.ledger.submit([_office(n)[0].raw for n in range(first, first + count)])
        assert all(isinstance(r, Receipt) for r in results)

    def publish(self, witnesses: tuple[CosignatureSigner, ...] = (W1, W2)) -> str:
        size = self.store.size()
        text = Checkpoint(ORIGIN, size, root_hash(size, self.store)).to_text()
        note = SignedNote(text, (LOG_SIGNER.sign(text),))
        for witness in witnesses:
            note = note.with_signature(witness.sign(text, timestamp=NOW + 1))
        self.store.put_checkpoint(size, note.to_text())
        return note.to_text()

    def fetch(self, path: str) -> bytes | None:
        """``GET <base>/<path>`` of c2sp.org/tlog-tiles, from the store; None is a 404."""
        self.requests.append(path)
        data = self._serve(path)
        if data is not None and self.tamper is not None:
            data = self.tamper(path, data)
        return data

    def _serve(self, path: str) -> bytes | None:
        if path == "checkpoint":
            if self.checkpoint_override is not None:
                return self.checkpoint_override.encode()
            latest = self.store.latest_checkpoint()
            return None if latest is None else latest[1].encode()
        try:
            tile = TileID.from_path(path)
        except MalformedInput:
            return None
        first = tile.index * TILE_WIDTH
        level_size = self.store.size() >> tile.merkle_level
        if first + tile.width > level_size:
            return None
        if tile.is_partial and self.drop_partials and first + TILE_WIDTH <= level_size:
            return None
        if tile.level == ENTRIES_LEVEL:
            return encode_entry_bundle(self.store.entries(first, first + tile.width))
        return b"".join(self.store.node_range(tile.merkle_level, first, first + tile.width))


@pytest.fixture
def primary(tmp_path: Path) -> Primary:
    return Primary(tmp_path / "primary.db")


def _mirror(url: str, primary: Primary, **kwargs: Any) -> Mirror:
    kwargs.setdefault("cosigners", (W1.verifier, W2.verifier))
    kwargs.setdefault("quorum", 2)
    return Mirror(
        LogStore(Database(url)),
        origin=ORIGIN,
        log_verifier=LOG_SIGNER.verifier,
        roots=(),
        fetch=primary.fetch,
        clock=lambda: NOW,
        **kwargs,
    )


def _snapshot(store: LogStore) -> tuple[int, Any, list[bytes]]:
    return store.size(), store.latest_checkpoint(), store.entries(0, 1 << 40)


def test_catch_up_from_empty(db_url: str, primary: Primary) -> None:
    primary.add(0, 5)
    note = primary.publish()
    mirror = _mirror(db_url, primary)
    status = mirror.sync()
    assert status == MirrorStatus(5, root_hash(5, primary.store), 0, 5, note)
    # The mirror serves the same checkpoint for the same tree, and its log audits clean.
    assert mirror.store.latest_checkpoint() == (5, note)
    assert mirror.store.entries(0, 5) == primary.store.entries(0, 5)
    report = audit(mirror.store, origin=ORIGIN, log_verifier=LOG_SIGNER.verifier, roots=(), now=NOW,
                   cosigners=(W1.verifier, W2.verifier), quorum=2)  # fmt: skip
    assert report.ok and report.checkpoints_checked == 1
    # Its own projection answers resolutions.
    assert mirror.state.resolve(_office(3)[1]).did_document["id"] == _office(3)[1]
    # Only the tlog-tiles read API was used.
    assert primary.requests == ["checkpoint", "tile/entries/000.p/5"]
    # Nothing new: a second sync changes nothing.
    assert mirror.sync() == MirrorStatus(5, root_hash(5, primary.store), 5, 0, note)


def test_incremental_catch_up_in_batches(db_url: str, primary: Primary) -> None:
    primary.add(0, 5)
    primary.publish()
    mirror = _mirror(db_url, primary, batch_size=256)
    assert mirror.sync().size == 5

    # The primary grows to 300: bundle 0 is full now (the mirror had its .p/5), bundle 1 holds 44.
    primary.add(5, 295)
    primary.publish()
    primary.requests.clear()
    status = mirror.sync()
    assert (status.previous_size, status.size, status.appended) == (5, 300, 295)
    assert primary.requests[:1] == ["checkpoint"]
    assert {"tile/entries/000", "tile/entries/001.p/44"} <= set(primary.requests)
    # The consistency proof from 5 to 300 was computed from Merkle tiles, partial ones included.
    assert "tile/0/001.p/44" in primary.requests

    primary.add(300, 300)
    primary.publish()
    status = mirror.sync()
    assert (status.previous_size, status.size, status.appended) == (300, 600, 300)
    assert mirror.store.entries(0, 600) == primary.store.entries(0, 600)
    assert root_hash(600, mirror.store) == root_hash(600, primary.store)
    assert audit(mirror.store, origin=ORIGIN, log_verifier=LOG_SIGNER.verifier, roots=(), now=NOW).ok


def test_deleted_partial_tiles_fall_back_to_full_tiles(tmp_path: Path, primary: Primary) -> None:
    primary.add(0, 3)
    primary.publish()
    mirror = _mirror(str(tmp_path / "m.db"), primary)
    mirror.sync()
    # Published at 303, then grown to 600 without a new checkpoint yet. The server has
    # deleted the partial tiles of size 303 now that the full ones exist (c2sp.org/tlog-tiles,
    # "Partial Tiles"): the mirror reads the prefix of the full tiles instead.
    primary.add(3, 300)
    note = primary.publish()
    primary.add(303, 297)
    primary.drop_partials = True
    primary.requests.clear()
    status = mirror.sync()
    assert (status.size, status.root) == (303, root_hash(303, primary.store))
    assert mirror.store.latest_checkpoint() == (303, note)
    for partial, full in (("tile/0/001.p/47", "tile/0/001"), ("tile/entries/001.p/47", "tile/entries/001")):
        assert primary.requests.index(partial) + 1 == primary.requests.index(full)


def test_a_primary_that_rewrote_history_is_refused_with_the_evidence(db_url: str, tmp_path: Path, primary: Primary) -> None:
    primary.add(0, 6)
    ours = primary.publish()
    mirror = _mirror(db_url, primary)
    mirror.sync()
    before = _snapshot(mirror.store)

    # Same log key, same first 3 entries, then another history, and a larger tree.
    forked = Primary(tmp_path / "fork.db")
    forked.add(0, 3)
    forked.add(50, 5)
    theirs = forked.publish()
    mirror.fetch = forked.fetch
    with pytest.raises(MirrorFork, match="does not extend the mirror's tree at size 6") as caught:
        mirror.sync()
    assert caught.value.code == "mirror_fork"
    assert (caught.value.ours_size, caught.value.ours_note, caught.value.theirs_note) == (6, ours, theirs)
    assert caught.value.ours_root == root_hash(6, primary.store)
    assert _snapshot(mirror.store) == before

    # Same size, another root: also a fork.
    same_size = Primary(tmp_path / "fork2.db")
    same_size.add(100, 6)
    same_size.publish()
    mirror.fetch = same_size.fetch
    with pytest.raises(MirrorFork, match="another root for size 6"):
        mirror.sync()
    assert _snapshot(mirror.store) == before


def test_a_rolled_back_checkpoint_is_refused(tmp_path: Path, primary: Primary) -> None:
    primary.add(0, 3)
    old = primary.publish()
    primary.add(3, 3)
    primary.publish()
    mirror = _mirror(str(tmp_path / "m.db"), primary)
    mirror.sync()
    before = _snapshot(mirror.store)
    primary.checkpoint_override = old
    with pytest.raises(MirrorRollback, match="smaller than the 6 entries") as caught:
        mirror.sync()
    assert caught.value.theirs_note == old and caught.value.ours_size == 6
    assert _snapshot(mirror.store) == before


def test_a_tampered_entry_bundle_is_refused(db_url: str, primary: Primary) -> None:
    primary.add(0, 6)
    primary.publish()
    mirror = _mirror(db_url, primary)

    def swap(path: str, data: bytes) -> bytes:
        if not path.startswith("tile/entries/"):
            return data
        entries = decode_entry_bundle(data)
        entries[4] = _office(77)[0].raw  # A valid, signed entry, but not the one the tree commits to.
        return encode_entry_bundle(entries)

    primary.tamper = swap
    with pytest.raises(MirrorEntriesMismatch, match=r"entries \[0, 6\) .* entry 4 differs") as caught:
        mirror.sync()
    assert caught.value.seq == 4 and caught.value.expected == root_hash(6, primary.store)
    assert _snapshot(mirror.store) == (0, None, [])
    assert mirror.state.size == 0

    # Truncated bundles are refused by the strict decoder.
    primary.tamper = lambda path, data: data[:-3] if path.startswith("tile/entries/") else data
    with pytest.raises(MalformedInput, match="truncated"):
        mirror.sync()

    # An honest primary again: the mirror catches up as if nothing happened.
    primary.tamper = None
    assert mirror.sync().size == 6


def test_a_tampered_bundle_in_a_later_batch_keeps_only_proven_batches(tmp_path: Path, primary: Primary) -> None:
    primary.add(0, 600)
    primary.publish()
    mirror = _mirror(str(tmp_path / "m.db"), primary, batch_size=256)

    def swap(path: str, data: bytes) -> bytes:
        if path != "tile/entries/002.p/88":
            return data
        entries = decode_entry_bundle(data)
        entries[0] = _office(900)[0].raw
        return encode_entry_bundle(entries)

    primary.tamper = swap
    with pytest.raises(MirrorEntriesMismatch, match="entry 512 differs"):
        mirror.sync()
    # The two batches before were proven to be a prefix of the signed tree and kept whole;
    # the mirror still publishes no checkpoint it could not fully check.
    assert mirror.store.size() == 512
    assert mirror.store.latest_checkpoint() is None
    assert audit(mirror.store, origin=ORIGIN, log_verifier=LOG_SIGNER.verifier, roots=(), now=NOW).ok


def test_a_checkpoint_without_quorum_is_refused(db_url: str, primary: Primary) -> None:
    primary.add(0, 3)
    primary.publish(witnesses=(W1,))
    mirror = _mirror(db_url, primary)
    with pytest.raises(MirrorQuorumNotMet, match="1 of the 2 required cosignatures"):
        mirror.sync()
    assert _snapshot(mirror.store) == (0, None, [])
    # A cosignature from an unconfigured witness does not count.
    stranger = CosignatureSigner("witness.stranger.example/w9", bytes([11]) * 32)
    primary.publish(witnesses=(W1, stranger))
    with pytest.raises(MirrorQuorumNotMet):
        mirror.sync()
    # Signed by another key than the log's: refused before anything else.
    text = Checkpoint(ORIGIN, 3, root_hash(3, primary.store)).to_text()
    impostor = Ed25519Signer(ORIGIN, bytes([8]) * 32)
    primary.checkpoint_override = SignedNote(text, (impostor.sign(text),)).to_text()
    with pytest.raises(SignatureError, match="no signature from a trusted key"):
        mirror.sync()
    assert _snapshot(mirror.store) == (0, None, [])


def test_an_entry_the_rules_refuse_is_not_mirrored(tmp_path: Path, primary: Primary) -> None:
    primary.add(0, 2)
    create, did, spec = _office(0)
    first = update_op(did, create.hash, spec, [spec, KeySpec("key-2", _key(500))], [], NOW + 1)
    stale = update_op(did, create.hash, spec, [spec, KeySpec("key-3", _key(501))], [], NOW + 2)
    assert isinstance(primary.ledger.submit([first.raw])[0], Receipt)
    # A compromised primary writes a conflicting entry under its sequencer and signs the tree.
    primary.store.append([stale.raw], [bytes.fromhex(stale.hash)])
    note = primary.publish()
    mirror = _mirror(str(tmp_path / "m.db"), primary)
    with pytest.raises(MirrorEntryRejected, match="entry 3 of the primary's log is refused") as caught:
        mirror.sync()
    assert (caught.value.seq, caught.value.cause, caught.value.theirs_note) == (3, "prev_conflict", note)
    assert _snapshot(mirror.store) == (0, None, [])
    assert mirror.state.size == 0


def test_following_a_primary_over_http(tmp_path: Path, primary: Primary, live_server: Any) -> None:
    from flask import Flask, Response, abort

    app = Flask("fake-primary")

    @app.get("/v1/checkpoint")
    @app.get("/v1/<path:path>")
    def serve(path: str = "checkpoint") -> Response:
        data = primary.fetch(path)
        if data is None:
            abort(404)
        return Response(data, mimetype="application/octet-stream")

    server = live_server(app)
    primary.add(0, 260)
    note = primary.publish()
    mirror = _mirror(str(tmp_path / "m.db"), primary)
    mirror.fetch = http_fetch(server.url + "/v1")
    assert mirror.sync() == MirrorStatus(260, root_hash(260, primary.store), 0, 260, note)
    assert "tile/entries/001.p/4" in primary.requests

    mirror.fetch = http_fetch(server.url + "/nowhere")
    with pytest.raises(MirrorFetchError, match="the primary has no checkpoint"):
        mirror.sync()


def test_an_unreachable_primary_is_a_typed_error(tmp_path: Path, primary: Primary) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    mirror = _mirror(str(tmp_path / "m.db"), primary)
    mirror.fetch = http_fetch(f"http://127.0.0.1:{port}", timeout=2)
    with pytest.raises(MirrorFetchError, match="cannot reach the primary for checkpoint") as caught:
        mirror.sync()
    assert caught.value.code == "mirror_fetch_failed"
