"""``GET /tile/...``: hash tiles are read with one range query and equal what tile_contents reads node by node."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, Iterator

import pytest
from flask import Flask

from registry import errors
from registry.api import tlog
from registry.checkpoint import Checkpoint, Ed25519Signer, SignedNote
from registry.merkle import root_hash
from registry.storage import Database, LogStore
from registry.tiles import ENTRIES_LEVEL, TileID, encode_entry_bundle, tile_contents, tiles_for_size

ORIGIN = "registry.tiles.example/v1"
SIZE = 256 * 256 + 256 * 3 + 7  # One full level-1 tile, a partial one, and partial tiles at level 0.


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LogStore]:
    log = LogStore(Database(str(tmp_path_factory.mktemp("tiles") / "tiles.db")))
    for start in range(0, SIZE, 20_000):
        end = min(SIZE, start + 20_000)
        log.append([b"leaf %d" % i for i in range(start, end)], [i.to_bytes(32, "big") for i in range(start, end)])
    yield log
    log.db.close()


@pytest.fixture
def client(store: LogStore) -> Any:
    signer = Ed25519Signer(ORIGIN, bytes([3]) * 32)
    text = Checkpoint(ORIGIN, SIZE, root_hash(SIZE, store)).to_text()
    note = SignedNote(text, (signer.sign(text),)).to_text()
    app = Flask(__name__)
    app.config["TESTING"] = True
    # tile() reads only the published checkpoint and the store.
    app.extensions["civicid.ledger"] = SimpleNamespace(published=lambda: (SIZE, note), store=store)
    app.register_blueprint(tlog)
    errors.init_app(app)
    return app.test_client()


def _hash_tiles() -> list[TileID]:
    return [t for t in tiles_for_size(SIZE) if t.level != ENTRIES_LEVEL]


def test_the_fixture_has_full_and_partial_tiles_at_several_levels() -> None:
    tiles = _hash_tiles()
    assert {(t.level, t.is_partial) for t in tiles} == {(0, False), (0, True), (1, False), (1, True), (2, True)}


@pytest.mark.parametrize("tile", _hash_tiles()[:3] + _hash_tiles()[255:], ids=lambda t: t.path)
def test_hash_tile_bytes_equal_tile_contents(client: Any, store: LogStore, tile: TileID) -> None:
    response = client.get("/" + tile.path)
    assert response.status_code == 200
    assert response.data == tile_contents(tile, store)
    assert len(response.data) == 32 * tile.width


def test_every_hash_tile_equals_tile_contents(client: Any, store: LogStore) -> None:
    for tile in _hash_tiles():
        assert client.get("/" + tile.path).data == tile_contents(tile, store), tile.path


def test_a_full_tile_is_one_query(client: Any, store: LogStore) -> None:
    statements: list[str] = []
    store.db._connect().set_trace_callback(statements.append)
    try:
        assert client.get("/tile/1/000").status_code == 200
    finally:
        store.db._connect().set_trace_callback(None)
    node_reads = [s for s in statements if "FROM nodes" in s]
    assert len(node_reads) == 1, node_reads


def test_entry_bundles_are_unchanged(client: Any, store: LogStore) -> None:
    response = client.get("/tile/entries/001")
    assert response.data == encode_entry_bundle(store.entries(256, 512))


def test_a_tile_beyond_the_checkpoint_is_404(client: Any) -> None:
    assert client.get("/tile/1/001").status_code == 404
    assert client.get("/tile/0/000.p/9").status_code == 200
    assert client.get("/tile/0/259").status_code == 404


def test_a_tile_with_a_missing_node_is_an_error_not_a_short_tile(client: Any, store: LogStore) -> None:
    with store.db.transaction() as cur:
        row = cur.execute("SELECT hash FROM nodes WHERE level = 8 AND idx = 17").fetchone()
        cur.execute("DELETE FROM nodes WHERE level = 8 AND idx = 17")
    try:
        response = client.get("/tile/1/000")
        # The same typed error tile_contents raises for a missing node, never 200 with a short tile.
        assert response.status_code != 200
        assert response.get_json()["type"].endswith("storage_unavailable")
    finally:
        with store.db.transaction() as cur:
            cur.execute("INSERT INTO nodes (level, idx, hash) VALUES (8, 17, ?)", (bytes(row[0]),))
