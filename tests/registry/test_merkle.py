"""RFC 9162 hashing and proof generation, cross-checked against the naive reference."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

import naive_merkle as naive
from registry.merkle import (
    EMPTY_ROOT,
    CompactRange,
    MemoryNodeStore,
    NodeID,
    consistency_plan,
    consistency_proof,
    inclusion_plan,
    inclusion_proof,
    leaf_hash,
    node_hash,
    range_nodes,
    root_hash,
)
from registry.proof import consistency_proof_size, inclusion_proof_size

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "registry"
MAX_SIZE = 130
ENTRIES = [b"civicid leaf %d" % i for i in range(MAX_SIZE)]


@pytest.fixture(scope="module")
def store() -> MemoryNodeStore:
    s = MemoryNodeStore()
    s.extend(leaf_hash(e) for e in ENTRIES)
    return s


class CountingReader:
    """Wraps a store and counts reads, to pin the O(log n) read cost."""

    def __init__(self, inner: MemoryNodeStore, size: int) -> None:
        self.inner, self.size, self.reads = inner, size, 0

    def get_node(self, level: int, index: int) -> bytes:
        self.reads += 1
        # A reader for a tree of `size` must never be asked for a node beyond it.
        assert (index + 1) << level <= self.size, (level, index, self.size)
        return self.inner.get_node(level, index)


def test_rfc6962_hash_values() -> None:
    # Values from transparency-dev/merkle rfc6962/rfc6962_test.go (see vectors README).
    ref = json.loads((VECTORS / "rfc6962-reference.json").read_text())
    assert EMPTY_ROOT.hex() == ref["empty_root"]
    assert leaf_hash(b"").hex() == ref["empty_leaf_hash"]
    assert leaf_hash(b"L123456").hex() == ref["leaf_L123456"]
    assert node_hash(b"N123", b"N456").hex() == ref["node_N123_N456"]


def test_rfc6962_reference_tree() -> None:
    ref = json.loads((VECTORS / "rfc6962-reference.json").read_text())
    leaves = [bytes.fromhex(x) for x in ref["leaf_inputs"]]
    s = MemoryNodeStore()
    for size, want in enumerate(ref["root_hashes"]):
        assert root_hash(size, s).hex() == want
        if size < len(leaves):
            s.append(leaf_hash(leaves[size]))
    for level, row in enumerate(ref["node_hashes"]):
        for index, want in enumerate(row):
            assert s.get_node(level, index).hex() == want
    for case in ref["inclusion_proofs"]:
        got = inclusion_proof(case["index"], case["size"], s)
        assert [h.hex() for h in got] == case["proof"]
    for case in ref["consistency_proofs"]:
        got = consistency_proof(case["size1"], case["size2"], s) if case["size1"] != case["size2"] else []
        assert [h.hex() for h in got] == case["proof"]


def test_second_preimage_domain_separation() -> None:
    left, right = leaf_hash(b"a"), leaf_hash(b"b")
    assert node_hash(left, right) != leaf_hash(left + right)
    assert leaf_hash(b"") != EMPTY_ROOT


@pytest.mark.parametrize("size", range(0, MAX_SIZE + 1))
def test_root_matches_naive(store: MemoryNodeStore, size: int) -> None:
    want = naive.mth(ENTRIES[:size])
    reader = CountingReader(store, size)
    assert root_hash(size, reader) == want
    assert reader.reads <= max(1, size.bit_length())
    rng = CompactRange()
    rng.extend(leaf_hash(e) for e in ENTRIES[:size])
    assert rng.root() == want
    assert len(rng.hashes) == bin(size).count("1")
    assert CompactRange.from_reader(size, store).root() == want


@pytest.mark.parametrize("size", range(1, MAX_SIZE + 1))
def test_inclusion_matches_naive_for_every_index(store: MemoryNodeStore, size: int) -> None:
    entries = ENTRIES[:size]
    for index in range(size):
        reader = CountingReader(store, size)
        got = inclusion_proof(index, size, reader)
        assert got == naive.path(index, entries), (index, size)
        assert len(got) == inclusion_proof_size(index, size)
        assert reader.reads <= 2 * size.bit_length()


@pytest.mark.parametrize("size2", range(1, MAX_SIZE + 1))
def test_consistency_matches_naive_for_every_pair(store: MemoryNodeStore, size2: int) -> None:
    entries = ENTRIES[:size2]
    for size1 in range(1, size2 + 1):
        reader = CountingReader(store, size2)
        got = consistency_proof(size1, size2, reader)
        assert got == naive.proof(size1, entries), (size1, size2)
        if size1 < size2:
            assert len(got) == consistency_proof_size(size1, size2)
        assert reader.reads <= 3 * size2.bit_length()


def test_plans_are_complete_subtrees_only() -> None:
    for size in range(1, 70):
        for index in range(size):
            for item in inclusion_plan(index, size):
                assert all(n.end <= size for n in item)
        for size1 in range(1, size + 1):
            for item in consistency_plan(size1, size):
                assert all(n.end <= size for n in item)


def test_range_nodes() -> None:
    assert range_nodes(0, 0) == []
    assert range_nodes(0, 7) == [NodeID(2, 0), NodeID(1, 2), NodeID(0, 6)]
    assert range_nodes(3, 8) == [NodeID(0, 3), NodeID(2, 1)]
    assert range_nodes(5, 13) == [NodeID(0, 5), NodeID(1, 3), NodeID(2, 2), NodeID(0, 12)]
    with pytest.raises(ValueError, match="begin 3 > end 2"):
        range_nodes(3, 2)


def test_compact_range_visits_every_complete_node(store: MemoryNodeStore) -> None:
    seen: dict[tuple[int, int], bytes] = {}
    rng = CompactRange()
    rng.extend((leaf_hash(e) for e in ENTRIES[:100]), lambda lvl, idx, h: seen.__setitem__((lvl, idx), h))
    want = {(lvl, idx) for lvl in range(8) for idx in range(100 >> lvl)}
    assert set(seen) == want
    for (lvl, idx), h in seen.items():
        assert h == store.get_node(lvl, idx)


def test_memory_store_refuses_incomplete_nodes(store: MemoryNodeStore) -> None:
    with pytest.raises(IndexError, match=r"node \(1, 65\) is not complete in a tree of size 130"):
        store.get_node(1, 65)
    with pytest.raises(IndexError, match="not complete"):
        store.get_node(8, 0)
    assert store.get_range(0, 0, 2) == store.get_node(0, 0) + store.get_node(0, 1)


def test_generation_misuse_is_value_error(store: MemoryNodeStore) -> None:
    with pytest.raises(ValueError, match="leaf index 5 is not in a tree of size 5"):
        inclusion_proof(5, 5, store)
    with pytest.raises(ValueError, match="no consistency proof from size 0 to size 5"):
        consistency_proof(0, 5, store)
    with pytest.raises(ValueError, match="no consistency proof from size 6 to size 5"):
        consistency_proof(6, 5, store)
    with pytest.raises(TypeError, match="size must be an int"):
        root_hash(True, store)
    with pytest.raises(ValueError, match="leaf hash must be 32 bytes, got 3"):
        MemoryNodeStore().append(b"abc")
    with pytest.raises(ValueError, match="leaf hash must be 32 bytes"):
        CompactRange().append(b"abc")


def test_batch_reader_is_used_when_available(store: MemoryNodeStore) -> None:
    calls: list[int] = []

    class Batch:
        def get_node(self, level: int, index: int) -> bytes:  # pragma: no cover - must not be called
            raise AssertionError("batch reader should be used")

        def get_nodes(self, ids: list[NodeID]) -> list[bytes]:
            calls.append(len(ids))
            return store.get_nodes(ids)

    assert inclusion_proof(3, 100, Batch()) == naive.path(3, ENTRIES[:100])
    assert len(calls) == 1


def test_large_index_arithmetic() -> None:
    # Plans are pure arithmetic, so they can be checked at sizes no test can build.
    size = (1 << 63) + 12345
    plan = inclusion_plan(size - 1, size)
    assert len(plan) == inclusion_proof_size(size - 1, size)
    assert sum(len(item) for item in plan) <= 2 * 64
    assert len(consistency_plan(size - 7, size)) == consistency_proof_size(size - 7, size)


def test_leaf_hash_is_sha256_with_prefix() -> None:
    assert leaf_hash(b"x") == hashlib.sha256(b"\x00x").digest()
