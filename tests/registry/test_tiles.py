"""C2SP tlog-tiles: paths, tile contents, proofs from tiles, entry bundles; and vector freshness."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import naive_merkle as naive
import registry.errors as errors
from registry.errors import MalformedInput
from registry.merkle import MemoryNodeStore, consistency_proof, inclusion_proof, leaf_hash, root_hash
from registry.tiles import (
    ENTRIES_LEVEL,
    TileHashReader,
    TileID,
    decode_entry_bundle,
    encode_entry_bundle,
    encode_index,
    new_tiles,
    tile_contents,
    tiles_for_size,
)

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "registry"


@pytest.mark.parametrize("path", sorted(VECTORS.glob("tile-path-*.json")), ids=lambda p: p.stem)
def test_tile_path_vectors(path: Path) -> None:
    case = json.loads(path.read_text())
    expected = case["expected"]
    if expected.get("ok"):
        tid = TileID.from_path(case["path"])
        assert (tid.level, tid.index, tid.width) == (expected["level"], expected["index"], expected["width"])
        assert tid.path == case["path"]
        return
    cls = getattr(errors, expected["error"])
    with pytest.raises(cls, match=expected["match"]):
        TileID.from_path(case["path"])


@pytest.mark.parametrize("path", sorted(VECTORS.glob("bundle-*.json")), ids=lambda p: p.stem)
def test_bundle_vectors(path: Path) -> None:
    case = json.loads(path.read_text())
    expected = case["expected"]
    data = bytes.fromhex(case["bundle"])
    if expected.get("ok"):
        entries = decode_entry_bundle(data)
        assert [e.hex() for e in entries] == expected["entries"]
        assert encode_entry_bundle(entries) == data
        return
    cls = getattr(errors, expected["error"])
    with pytest.raises(cls, match=expected["match"]):
        decode_entry_bundle(data)


def test_encode_index() -> None:
    assert encode_index(0) == "000"
    assert encode_index(999) == "999"
    assert encode_index(1000) == "x001/000"
    assert encode_index(1234067) == "x001/x234/067"


def test_spec_example_tiles_for_70000() -> None:
    # c2sp.org/tlog-tiles, "Partial Tiles": 273 full level-0 tiles, one partial of width 112,
    # one full level-1 tile, one partial level-1 tile of width 17, one partial level-2 tile of width 1.
    tiles = list(tiles_for_size(70_000))
    level0 = [t for t in tiles if t.level == 0]
    assert len([t for t in level0 if not t.is_partial]) == 273
    assert [t for t in level0 if t.is_partial] == [TileID(0, 273, 112)]
    assert [t for t in tiles if t.level == 1] == [TileID(1, 0), TileID(1, 1, 17)]
    assert [t for t in tiles if t.level == 2] == [TileID(2, 0, 1)]
    assert list(tiles_for_size(256)) == [TileID(0, 0), TileID(1, 0, 1)]


def test_new_tiles_covers_growth() -> None:
    for old, new in [(0, 1), (255, 256), (256, 257), (300, 70_000), (65_535, 65_536), (5, 5)]:
        grown = set(new_tiles(old, new))
        final = set(tiles_for_size(new))
        before = set(tiles_for_size(old))
        # Every tile of the new tree is either new or was already there unchanged.
        assert final <= grown | before
        assert grown <= final


@pytest.fixture(scope="module")
def big_store() -> MemoryNodeStore:
    s = MemoryNodeStore()
    s.extend(leaf_hash(b"%d" % i) for i in range(70_000))
    return s


def test_tile_contents_match_spec_formula(big_store: MemoryNodeStore) -> None:
    # Hash i of tile n at level l is MTH(D[(n*256+i) * 256**l : (n*256+i+1) * 256**l]).
    entries = [b"%d" % i for i in range(512)]
    data = tile_contents(TileID(0, 1), big_store)
    assert len(data) == 8192
    assert data[:32] == leaf_hash(entries[256])
    level1 = tile_contents(TileID(1, 0), big_store)
    assert level1[32:64] == naive.mth(entries[256:512])
    partial = tile_contents(TileID(1, 1, 17), big_store)
    assert len(partial) == 17 * 32


def test_proofs_from_tiles_equal_proofs_from_store(big_store: MemoryNodeStore) -> None:
    fetched: list[str] = []
    for size in (1, 255, 256, 257, 65_536, 69_999, 70_000):

        def fetch(tid: TileID, size: int = size) -> bytes:
            # A tile server for a tree of `size`: only tiles that exist at that size.
            assert tid in set(tiles_for_size(size)) or not tid.is_partial
            fetched.append(tid.path)
            return tile_contents(tid, big_store)

        reader = TileHashReader(size, fetch)
        assert root_hash(size, reader) == root_hash(size, big_store)
        for index in {0, size // 3, size - 1}:
            assert inclusion_proof(index, size, reader) == inclusion_proof(index, size, big_store)
        for size1 in {1, size // 2 or 1, size - 1 or 1}:
            if size1 < size:
                assert consistency_proof(size1, size, reader) == consistency_proof(size1, size, big_store)
    assert fetched


def test_tile_reader_rejects_wrong_length_tiles(big_store: MemoryNodeStore) -> None:
    reader = TileHashReader(300, lambda tid: b"\x00" * 31)
    with pytest.raises(MalformedInput, match="tile tile/0/000 is 31 bytes, expected 8192"):
        reader.get_node(0, 0)
    with pytest.raises(IndexError, match="not complete"):
        reader.get_node(0, 300)


def test_bundle_limits() -> None:
    with pytest.raises(ValueError, match="more than 65535"):
        encode_entry_bundle([b"x" * 65_536])
    with pytest.raises(ValueError, match="1..256 entries"):
        encode_entry_bundle([])
    bundle = encode_entry_bundle([b"a"] * 256)
    with pytest.raises(MalformedInput, match="more than 256 entries"):
        decode_entry_bundle(bundle + b"\x00\x00")
    with pytest.raises(MalformedInput, match="has 256 entries, expected 255"):
        decode_entry_bundle(bundle, width=255)
    with pytest.raises(MalformedInput, match="empty"):
        decode_entry_bundle(b"")


def test_entries_tile_id() -> None:
    tid = TileID(ENTRIES_LEVEL, 1234067, 3)
    assert tid.path == "tile/entries/x001/x234/067.p/3"
    assert TileID.from_path(tid.path) == tid


def test_generated_vectors_are_up_to_date(tmp_path: Path) -> None:
    # The committed vectors must be exactly what the committed generator writes.
    subprocess.run([sys.executable, str(VECTORS / "generate.py"), "--out", str(tmp_path)], check=True, capture_output=True)
    generated = {p.name: p.read_bytes() for p in tmp_path.glob("*.json")}
    committed = {
        p.name: p.read_bytes()
        for p in VECTORS.glob("*.json")
        if p.name != "rfc6962-reference.json"
    }
    assert generated == committed
