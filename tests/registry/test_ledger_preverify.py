"""``submit_one``'s stateless checks in the submitting thread: same answers, nothing decided outside the sequencer."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from registry.checkpoint import Ed25519Signer
from registry.did import KeySpec, create_op, update_op
from registry.entry import Entry
from registry.errors import EntrySignatureInvalid, InvalidEntry, NotAuthorized, Replay
from registry.ledger import Ledger, Receipt
from registry.storage import Database, LogStore
from sdjwt import Ed25519PrivateKey

ORIGIN = "registry.preverify.example/v1"
NOW = 1_800_000_000


def _spec(n: int, kid: str = "key-1") -> KeySpec:
    return KeySpec(kid, Ed25519PrivateKey(bytes([n]) * 32))


@pytest.fixture
def ledger(tmp_path: Any) -> Any:
    ledger = Ledger(
        LogStore(Database(str(tmp_path / "ledger.db"))),
        origin=ORIGIN,
        signer=Ed25519Signer(ORIGIN, bytes([7]) * 32),
        clock=lambda: NOW,
    )
    yield ledger
    ledger.stop()


def test_a_verified_signature_is_remembered_per_key_only() -> None:
    entry, _ = create_op([_spec(1)], [], [_spec(2).private_key.public_key()], NOW)
    parsed = Entry.from_bytes(entry.raw)
    parsed.verify_signature(_spec(1).private_key.public_key())
    parsed.verify_signature(_spec(1).private_key.public_key())
    with pytest.raises(EntrySignatureInvalid):
        parsed.verify_signature(_spec(3).private_key.public_key())
    # A fresh parse of the same bytes starts with nothing remembered.
    assert Entry.from_bytes(entry.raw)._verified_under == set()


def test_submit_one_from_many_threads(ledger: Ledger) -> None:
    ledger.start()
    creates = [create_op([_spec(n)], [], [_spec(200).private_key.public_key()], NOW)[0] for n in range(1, 65)]
    receipts: list[Receipt] = []
    refusals: list[BaseException] = []

    def submit(body: bytes) -> None:
        try:
            receipts.append(ledger.submit_one(body))
        except Exception as exc:
            refusals.append(exc)

    bodies = [c.raw for c in creates] + [creates[0].raw, b"{not json", creates[1].raw.replace(b'"v":1', b'"v": 1')]
    threads = [threading.Thread(target=submit, args=(b,)) for b in bodies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(r.seq for r in receipts) == list(range(64))
    assert sorted(type(e).__name__ for e in refusals) == ["InvalidEntry", "InvalidEntry", "Replay"]
    assert ledger.store.size() == 64


def test_refusals_from_the_submitting_thread_match_the_sequencer(ledger: Ledger) -> None:
    ledger.start()
    with pytest.raises(InvalidEntry, match="not strict JSON") as early:
        ledger.submit_one(b"{not json")
    assert str(early.value) == str(ledger.submit([b"{not json"])[0])
    entry, _ = create_op([_spec(1)], [], [_spec(2).private_key.public_key()], NOW)
    receipt = ledger.submit_one(entry.raw)
    assert receipt.seq == 0
    with pytest.raises(Replay):
        ledger.submit_one(entry.raw)


def test_a_forged_create_is_refused_by_the_sequencer(ledger: Ledger) -> None:
    ledger.start()
    entry, _ = create_op([_spec(1)], [], [_spec(2).private_key.public_key()], NOW)
    sig = entry.raw.split(b'"sig":"')[1][:86]
    other = create_op([_spec(3)], [], [_spec(2).private_key.public_key()], NOW)[0].raw.split(b'"sig":"')[1][:86]
    forged = entry.raw.replace(sig, other)
    with pytest.raises(EntrySignatureInvalid):
        ledger.submit_one(forged)
    assert ledger.store.size() == 0


def test_a_signature_preverified_under_a_key_rotated_out_is_still_refused(ledger: Ledger) -> None:
    """Pre-verification reads the projection without its lock; the sequencer's rules still decide."""
    old, new = _spec(1), _spec(4, "key-2")
    create, did = create_op([old], [], [_spec(2).private_key.public_key()], NOW)
    assert isinstance(ledger.submit([create.raw])[0], Receipt)
    rotate = update_op(did, create.hash, old, [new], [], NOW + 1)
    # Signed by the old key with prev = the rotation: valid only if the old key were still current.
    stale = Entry.from_bytes(update_op(did, rotate.hash, old, [new], [], NOW + 2).raw)
    ledger._preverify(stale)
    assert stale._verified_under == {old.private_key.public_key().raw}
    assert isinstance(ledger.submit([rotate.raw])[0], Receipt)
    result = ledger._sequence_batch([stale])[0]
    assert isinstance(result, NotAuthorized)
    assert ledger.store.size() == 2


def test_preverification_of_a_non_create_uses_the_current_key(ledger: Ledger) -> None:
    key = _spec(1)
    create, did = create_op([key], [], [_spec(2).private_key.public_key()], NOW)
    assert isinstance(ledger.submit([create.raw])[0], Receipt)
    update = Entry.from_bytes(update_op(did, create.hash, key, [key, _spec(5, "key-2")], [], NOW + 1).raw)
    ledger._preverify(update)
    assert update._verified_under == {key.private_key.public_key().raw}
    assert isinstance(ledger._sequence_batch([update])[0], Receipt)
