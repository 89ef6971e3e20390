"""The log's storage on SQLite and PostgreSQL: batches, O(log n) proofs, all-or-nothing appends."""

from __future__ import annotations

import pytest

from registry.merkle import MemoryNodeStore, consistency_proof, inclusion_proof, leaf_hash, root_hash
from registry.proof import verify_consistency, verify_inclusion
from registry.storage import Database, LogStore, StorageError


def _bodies(start: int, count: int) -> list[bytes]:
    return [f"entry-{n}".encode() for n in range(start, start + count)]


def _hashes(bodies: list[bytes]) -> list[bytes]:
    return [b"h" * 31 + bytes([n % 256]) + body for n, body in enumerate(bodies)]


def test_batches_build_the_same_tree_as_the_reference(db_url: str) -> None:
    store = LogStore(Database(db_url))
    memory = MemoryNodeStore()
    appended = 0
    for batch in (1, 2, 5, 8, 1, 13, 34):
        bodies = _bodies(appended, batch)
        result = store.append(bodies, [f"{appended + n}".encode().rjust(32, b"0") for n in range(batch)])
        memory.extend(leaf_hash(b) for b in bodies)
        appended += batch
        assert result.size == appended == store.size()
        assert result.root == memory.root() == root_hash(appended, store)
    assert store.entries(3, 6) == _bodies(3, 3)
    for index in (0, 7, 31, appended - 1):
        proof = inclusion_proof(index, appended, store)
        verify_inclusion(leaf_hash(_bodies(index, 1)[0]), index, appended, proof, memory.root())
    old_root = root_hash(9, store)
    verify_consistency(9, appended, consistency_proof(9, appended, store), old_root, memory.root())


def test_a_failing_check_writes_nothing(db_url: str) -> None:
    store = LogStore(Database(db_url))
    store.append(_bodies(0, 3), [b"a" * 32, b"b" * 32, b"c" * 32])

    def refuse(cursor: object, size: int) -> None:
        assert size == 3
        raise ValueError("rule broken")

    with pytest.raises(ValueError, match="rule broken"):
        store.append(_bodies(3, 2), [b"d" * 32, b"e" * 32], check=refuse)
    assert store.size() == 3
    assert store.entries(0, 10) == _bodies(0, 3)


def test_a_replayed_entry_hash_aborts_the_whole_batch(db_url: str) -> None:
    store = LogStore(Database(db_url))
    store.append(_bodies(0, 1), [b"a" * 32])
    with pytest.raises(Exception):
        store.append(_bodies(1, 2), [b"b" * 32, b"a" * 32])
    assert store.size() == 1
    assert store.seq_of(b"a" * 32) == 0
    assert store.seq_of(b"b" * 32) is None


def test_checkpoints_are_kept_per_size(db_url: str) -> None:
    store = LogStore(Database(db_url))
    assert store.latest_checkpoint() is None
    store.put_checkpoint(1, "note one")
    store.put_checkpoint(2, "note two")
    store.put_checkpoint(2, "note two, cosigned")
    assert store.latest_checkpoint() == (2, "note two, cosigned")
    assert store.checkpoint_at(1) == "note one"


def test_missing_nodes_are_reported_not_invented(tmp_path: object) -> None:
    store = LogStore(Database(str(tmp_path) + "/log.db"))  # type: ignore[operator]
    with pytest.raises(StorageError, match="no node"):
        store.get_node(0, 0)


def test_an_unopenable_database_is_a_clear_error(tmp_path: object) -> None:
    with pytest.raises(StorageError, match="cannot open the database"):
        Database(str(tmp_path) + "/missing-dir/x/log.db")  # type: ignore[operator]
