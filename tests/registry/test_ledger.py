"""The write path end to end: sequencing, projection, checkpoints, witnesses and fork detection."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from registry.checkpoint import Checkpoint, CosignatureSigner, Ed25519Signer, SignedNote, open_checkpoint
from registry.did import KeySpec, create_op, update_op
from registry.errors import Conflict, InvalidEntry, Replay
from registry.ledger import Ledger, Receipt, WitnessConfig
from registry.merkle import MemoryNodeStore, consistency_proof, leaf_hash
from registry.proof import verify_inclusion
from registry.storage import Database, LogStore
from registry.witness import (
    BadOldSize,
    InconsistentCheckpoint,
    NotSignedByLog,
    SizeConflict,
    TrustedLog,
    UnknownLog,
    Witness,
)
from sdjwt import Ed25519PrivateKey

ORIGIN = "registry.gov.example/v1"
NOW = 1_800_000_000


def _key(n: int) -> Ed25519PrivateKey:
    return Ed25519PrivateKey(bytes([n]) * 32)


def _office(n: int, time: int = NOW) -> tuple[Any, str, KeySpec]:
    spec = KeySpec("key-1", _key(n))
    entry, did = create_op([spec], [], [_key(n + 100).public_key()], time)
    return entry, did, spec


@pytest.fixture
def log_signer() -> Ed25519Signer:
    return Ed25519Signer(ORIGIN, bytes([7]) * 32)


def _ledger(db_url: str, signer: Ed25519Signer, **kwargs: Any) -> Ledger:
    return Ledger(LogStore(Database(db_url)), origin=ORIGIN, signer=signer, clock=lambda: NOW, **kwargs)


def test_entries_are_sequenced_validated_and_provable(db_url: str, log_signer: Ed25519Signer) -> None:
    ledger = _ledger(db_url, log_signer)
    create, did, spec = _office(1)
    results = ledger.submit([create.raw, b"{not json", create.raw])
    assert isinstance(results[0], Receipt) and results[0].seq == 0
    assert isinstance(results[1], InvalidEntry)
    assert isinstance(results[2], Replay)
    assert ledger.store.size() == 1

    note = ledger.checkpoint_now()
    assert note is not None
    verified = open_checkpoint(note, origin=ORIGIN, log=log_signer.verifier)
    assert verified.checkpoint.size == 1
    verify_inclusion(leaf_hash(create.raw), 0, 1, ledger.inclusion(0, 1), verified.checkpoint.root_hash)
    assert ledger.state.resolve(did).did_document["id"] == did


def test_two_updates_on_one_predecessor_conflict(db_url: str, log_signer: Ed25519Signer) -> None:
    ledger = _ledger(db_url, log_signer)
    create, did, spec = _office(2)
    ledger.submit([create.raw])
    new_a = KeySpec("key-2", _key(3))
    new_b = KeySpec("key-3", _key(4))
    first = update_op(did, create.hash, spec, [spec, new_a], [], NOW + 1)
    second = update_op(did, create.hash, spec, [spec, new_b], [], NOW + 2)
    results = ledger.submit([first.raw, second.raw])
    assert isinstance(results[0], Receipt)
    assert isinstance(results[1], Conflict)
    assert ledger.store.size() == 2


def test_a_second_process_sees_the_first_ones_entries(db_url: str, log_signer: Ed25519Signer) -> None:
    one = _ledger(db_url, log_signer)
    two = _ledger(db_url, log_signer)
    create, did, spec = _office(5)
    one.submit([create.raw])
    # The other process validates against the log, not its stale memory: a replay is refused.
    assert isinstance(two.submit([create.raw])[0], Replay)
    update = update_op(did, create.hash, spec, [KeySpec("key-2", _key(6))], [], NOW + 1)
    assert isinstance(two.submit([update.raw])[0], Receipt)
    one.refresh()
    assert one.state.head(did).version_id.startswith("2")


def test_group_commit_from_many_threads(tmp_path: Any, log_signer: Ed25519Signer) -> None:
    ledger = _ledger(str(tmp_path / "log.db"), log_signer)
    ledger.start()
    try:
        entries = [_office(10 + n)[0] for n in range(40)]
        receipts: list[Receipt] = []
        lock = threading.Lock()

        def send(entry: Any) -> None:
            receipt = ledger.submit_one(entry.raw)
            with lock:
                receipts.append(receipt)

        threads = [threading.Thread(target=send, args=(e,)) for e in entries]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(r.seq for r in receipts) == list(range(40))
    finally:
        ledger.stop()
    assert ledger.store.size() == 40


def _witness(db_url: str, log_signer: Ed25519Signer) -> Witness:
    return Witness(
        Database(db_url),
        CosignatureSigner("witness.dept.example/w1", bytes([9]) * 32),
        [TrustedLog(ORIGIN, log_signer.verifier)],
        clock=lambda: NOW + 5,
    )


def _signed(signer: Ed25519Signer, tree: MemoryNodeStore, origin: str = ORIGIN) -> str:
    text = Checkpoint(origin, tree.size, tree.root()).to_text()
    return SignedNote(text, (signer.sign(text),)).to_text()


def _body(old: int, proof: list[bytes], note: str) -> bytes:
    import base64

    return (f"old {old}\n" + "".join(base64.b64encode(p).decode() + "\n" for p in proof) + "\n" + note).encode()


def test_witness_cosigns_a_growing_log_and_refuses_a_fork(db_url: str, log_signer: Ed25519Signer) -> None:
    witness = _witness(db_url, log_signer)
    honest = MemoryNodeStore()
    honest.extend(leaf_hash(b"e%d" % n) for n in range(5))
    line = witness.add_checkpoint(_body(0, [], _signed(log_signer, honest)))
    assert line.startswith("\u2014 witness.dept.example/w1 ")
    honest.extend(leaf_hash(b"e%d" % n) for n in range(5, 9))
    witness.add_checkpoint(_body(5, consistency_proof(5, 9, honest), _signed(log_signer, honest)))
    assert witness.latest(ORIGIN)[0] == 9

    # A fork: the same first 8 entries, then a different history, signed by the log key.
    fork = MemoryNodeStore()
    fork.extend(leaf_hash(b"e%d" % n) for n in range(8))
    fork.extend(leaf_hash(b"forged%d" % n) for n in range(4))
    with pytest.raises(InconsistentCheckpoint, match="consistency proof does not verify"):
        witness.add_checkpoint(_body(9, consistency_proof(9, 12, fork), _signed(log_signer, fork)))
    # Equal size, different root: also a fork.
    same_size = MemoryNodeStore()
    same_size.extend(leaf_hash(b"x%d" % n) for n in range(9))
    with pytest.raises(SizeConflict, match="different root"):
        witness.add_checkpoint(_body(9, [], _signed(log_signer, same_size)))
    assert [reason for _, _, reason in witness.evidence()] == [
        "consistency proof failed: root_mismatch",
        "same size, different root",
    ]
    assert witness.latest(ORIGIN)[0] == 9  # Nothing rolled back or forward.


def test_witness_status_codes(db_url: str, log_signer: Ed25519Signer) -> None:
    witness = _witness(db_url, log_signer)
    tree = MemoryNodeStore()
    tree.extend(leaf_hash(b"e%d" % n) for n in range(3))
    with pytest.raises(UnknownLog) as unknown:
        witness.add_checkpoint(_body(0, [], _signed(Ed25519Signer("other.example/log", bytes(32)), tree, "other.example/log")))
    assert unknown.value.status == 404
    with pytest.raises(NotSignedByLog) as forbidden:
        witness.add_checkpoint(_body(0, [], _signed(Ed25519Signer(ORIGIN, bytes([8]) * 32), tree)))
    assert forbidden.value.status == 403
    with pytest.raises(BadOldSize) as bad:
        witness.add_checkpoint(_body(4, [], _signed(log_signer, tree)))
    assert bad.value.status == 400
    with pytest.raises(SizeConflict) as conflict:
        witness.add_checkpoint(_body(2, consistency_proof(2, 3, tree), _signed(log_signer, tree)))
    assert conflict.value.status == 409 and conflict.value.current_size == 0
    with pytest.raises(BadOldSize, match="old <size>"):
        witness.add_checkpoint(b"new 0\n\n" + _signed(log_signer, tree).encode())
    with pytest.raises(BadOldSize, match="leading zeros"):
        witness.add_checkpoint(_body(0, [], _signed(log_signer, tree)).replace(b"old 0", b"old 00"))
