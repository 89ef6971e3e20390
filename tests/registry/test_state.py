"""LedgerState: DID lifecycle, historical resolution, key_at, and the ledger's refusal rules."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from registry import errors
from registry.anchor import anchor_op
from registry.did import KeySpec, Service, VerificationKey, create_op, deactivate_op, recover_op, update_op
from registry.entry import Entry, sign_entry
from registry.state import LedgerState, validate
from sdjwt.keys import Ed25519PrivateKey

T0 = 1_750_000_000


def _key(seed: int, kid: str) -> KeySpec:
    return KeySpec(kid, Ed25519PrivateKey(bytes([seed]) * 32))


@dataclass
class Office:
    did: str
    signer: KeySpec
    recovery: KeySpec
    create: Entry


@pytest.fixture
def state() -> LedgerState:
    return LedgerState()


@pytest.fixture
def office(state: LedgerState) -> Office:
    signer, recovery = _key(1, "key-1"), _key(2, "rec-1")
    entry, did = create_op([signer], [Service("web", "LinkedDomains", "https://city.example")], [recovery.private_key.public_key()], T0)
    state.apply(entry, now=T0)
    return Office(did, signer, recovery, entry)


def test_create_resolves_to_a_did_document(state: LedgerState, office: Office) -> None:
    result = state.resolve(office.did).to_json()
    document = result["didDocument"]
    assert document["id"] == office.did
    method = document["verificationMethod"][0]
    assert method["id"] == f"{office.did}#key-1"
    assert method["type"] == "JsonWebKey"
    assert method["publicKeyJwk"] == {**office.signer.private_key.public_key().public_jwk(), "kid": "key-1"}
    assert method["publicKeyMultibase"].startswith("z6Mk")
    assert document["assertionMethod"] == [f"{office.did}#key-1"]
    assert document["service"] == [{"id": f"{office.did}#web", "type": "LinkedDomains", "serviceEndpoint": "https://city.example"}]
    metadata = result["didDocumentMetadata"]
    assert metadata["versionId"] == f"1-{office.create.hash}"
    assert metadata["created"] == metadata["updated"] == "2025-06-15T15:06:40Z"
    assert metadata["deactivated"] is False
    assert "nextVersionId" not in metadata
    assert result["didResolutionMetadata"] == {"contentType": "application/did+ld+json"}


def test_update_rotates_keys_and_history_stays_resolvable(state: LedgerState, office: Office) -> None:
    new = _key(3, "key-2")
    update = update_op(office.did, office.create.hash, office.signer, [new], [], T0 + 100)
    state.apply(update, now=T0 + 100)

    latest = state.resolve(office.did)
    assert [m["id"] for m in latest.did_document["verificationMethod"]] == [f"{office.did}#key-2"]
    assert "service" not in latest.did_document
    assert latest.did_document_metadata["versionId"] == f"2-{update.hash}"

    first = state.resolve(office.did, version_id=f"1-{office.create.hash}")
    assert [m["id"] for m in first.did_document["verificationMethod"]] == [f"{office.did}#key-1"]
    assert first.did_document_metadata["nextVersionId"] == f"2-{update.hash}"
    assert first.did_document_metadata["nextUpdate"] == "2025-06-15T15:08:20Z"

    assert state.resolve(office.did, version_time=T0 + 99).did_document_metadata["versionId"].startswith("1-")
    assert state.resolve(office.did, version_time="2025-06-15T15:08:20Z").did_document_metadata["versionId"].startswith("2-")
    with pytest.raises(errors.VersionNotFound, match="did not exist yet"):
        state.resolve(office.did, version_time=T0 - 1)
    with pytest.raises(errors.VersionNotFound, match="has no version 2-00"):
        state.resolve(office.did, version_id="2-00")


def test_key_at_before_and_after_rotation(state: LedgerState, office: Office) -> None:
    state.apply(update_op(office.did, office.create.hash, office.signer, [_key(3, "key-2")], [], T0 + 100), now=T0 + 100)
    assert state.key_at(office.did, "key-1", T0 + 50).removed_time == T0 + 100
    assert state.key_at(office.did, "key-2", T0 + 100).added_time == T0 + 100
    with pytest.raises(errors.KeyNotValid, match="was removed at 1750000100") as removed:
        state.key_at(office.did, "key-1", T0 + 100)
    assert removed.value.rule == "removed"
    with pytest.raises(errors.KeyNotValid, match="was added at 1750000100") as early:
        state.key_at(office.did, "key-2", T0 + 99)
    assert early.value.rule == "not_yet_added"
    with pytest.raises(errors.KeyNotValid, match="never had a key 'nope'"):
        state.key_at(office.did, "nope", T0)
    with pytest.raises(errors.UnknownDID, match="is not in the ledger"):
        state.key_at("did:civic:" + "Q" * 46, "key-1", T0)


def test_recover_with_compromise(state: LedgerState, office: Office) -> None:
    # An attacker holding key-1 rotates to their own key at T0+200.
    attacker = _key(7, "key-x")
    hijack = update_op(office.did, office.create.hash, office.signer, [attacker], [], T0 + 200)
    state.apply(hijack, now=T0 + 200)
    # The office recovers with its pre-rotated key, marking everything compromised from T0+150.
    next_recovery = _key(4, "rec-2")
    recover = recover_op(
        office.did, hijack.hash, office.recovery, [office.recovery], [], [next_recovery.private_key.public_key()], T0 + 300, compromised_from=T0 + 150
    )
    state.apply(recover, now=T0 + 300)

    assert state.key_at(office.did, "key-1", T0 + 149).kid == "key-1"
    with pytest.raises(errors.KeyNotValid, match="compromised from 1750000150") as exc:
        state.key_at(office.did, "key-1", T0 + 150)
    assert exc.value.rule == "compromised"
    with pytest.raises(errors.KeyNotValid, match="compromised from 1750000150"):
        state.key_at(office.did, "key-x", T0 + 250)
    assert state.key_at(office.did, "rec-1", T0 + 300).added_time == T0 + 300
    rows = {row.kid: row for row in state.keys(office.did)}
    assert rows["key-x"].compromised_from == T0 + 150 and rows["key-x"].removed_seq == 2
    assert rows["rec-1"].compromised_from is None
    # The hijacker's key can no longer operate the DID.
    with pytest.raises(errors.NotAuthorized, match="'key-x' is not a current key"):
        state.apply(update_op(office.did, recover.hash, attacker, [attacker], [], T0 + 400), now=T0 + 400)


def test_recover_with_an_uncommitted_key_is_refused(state: LedgerState, office: Office) -> None:
    thief = _key(8, "rec-9")
    entry = recover_op(office.did, office.create.hash, thief, [thief], [], [thief.private_key.public_key()], T0 + 10)
    with pytest.raises(errors.NotAuthorized, match="'rec-9' is not committed in the previous nextKeyHashes"):
        state.apply(entry, now=T0 + 10)
    assert state.size == 1


def test_recover_cannot_keep_a_compromised_key(state: LedgerState, office: Office) -> None:
    entry = recover_op(
        office.did, office.create.hash, office.recovery, [office.recovery, VerificationKey("key-1", office.signer.private_key.public_key(), ("assertionMethod",))], [], [_key(4, "n").private_key.public_key()], T0 + 10, compromised_from=T0
    )
    with pytest.raises(errors.RuleViolation, match="'key-1' is marked compromised by this recovery"):
        state.apply(entry, now=T0 + 10)


def test_deactivate_is_final(state: LedgerState, office: Office) -> None:
    deactivate = deactivate_op(office.did, office.create.hash, office.signer, T0 + 10)
    state.apply(deactivate, now=T0 + 10)
    result = state.resolve(office.did)
    assert result.did_document == {"@context": result.did_document["@context"], "id": office.did}
    assert result.did_document_metadata["deactivated"] is True
    old = state.resolve(office.did, version_id=f"1-{office.create.hash}")
    assert old.did_document["verificationMethod"] and old.did_document_metadata["deactivated"] is True
    with pytest.raises(errors.KeyNotValid, match="removed"):
        state.key_at(office.did, "key-1", T0 + 10)
    for entry in (
        update_op(office.did, deactivate.hash, office.signer, [office.signer], [], T0 + 20),
        recover_op(office.did, deactivate.hash, office.recovery, [office.recovery], [], [office.recovery.private_key.public_key()], T0 + 20),
        anchor_op(office.did, office.signer, b"\x01" * 32, T0 + 20),
    ):
        with pytest.raises(errors.Deactivated, match="was deactivated at 1750000010"):
            state.apply(entry, now=T0 + 20)


def test_conflict_on_the_same_predecessor(state: LedgerState, office: Office) -> None:
    first = update_op(office.did, office.create.hash, office.signer, [office.signer, _key(3, "key-2")], [], T0 + 10)
    second = update_op(office.did, office.create.hash, office.signer, [office.signer, _key(5, "key-3")], [], T0 + 11)
    state.apply(first, now=T0 + 11)
    with pytest.raises(errors.Conflict, match="prev does not name the head") as exc:
        state.apply(second, now=T0 + 11)
    assert exc.value.expected == first.hash and exc.value.actual == office.create.hash


def test_replayed_entry_is_refused(state: LedgerState, office: Office) -> None:
    with pytest.raises(errors.Replay, match=f"entry {office.create.hash} was already accepted"):
        state.apply(office.create.raw, now=T0)
    anchor = anchor_op(office.did, office.signer, b"\x02" * 32, T0 + 1, count=10)
    state.apply(anchor, now=T0 + 1)
    with pytest.raises(errors.Replay, match="already accepted"):
        state.apply(anchor, now=T0 + 1)


def test_mis_signed_entry_is_refused(state: LedgerState, office: Office) -> None:
    impostor = KeySpec("key-1", Ed25519PrivateKey(b"\x09" * 32))
    entry = update_op(office.did, office.create.hash, impostor, [office.signer], [], T0 + 10)
    with pytest.raises(errors.EntrySignatureInvalid, match="does not verify"):
        state.apply(entry, now=T0 + 10)


def test_time_too_far_ahead_is_refused(state: LedgerState, office: Office) -> None:
    entry = update_op(office.did, office.create.hash, office.signer, [office.signer], [], T0 + 301)
    with pytest.raises(errors.RuleViolation, match="301 s ahead of the ledger clock; the limit is 300 s"):
        state.apply(entry, now=T0)
    state.apply(update_op(office.did, office.create.hash, office.signer, [office.signer], [], T0 + 300), now=T0)


def test_time_going_backwards_is_refused(state: LedgerState, office: Office) -> None:
    entry = update_op(office.did, office.create.hash, office.signer, [office.signer], [], T0)
    with pytest.raises(errors.RuleViolation, match="is not after the previous operation's"):
        state.apply(entry, now=T0)
    state.apply(anchor_op(office.did, office.signer, b"\x03" * 32, T0 + 50), now=T0 + 50)
    late = anchor_op(office.did, office.signer, b"\x04" * 32, T0 + 49)
    with pytest.raises(errors.RuleViolation, match="before .* previous entry time 1750000050"):
        state.apply(late, now=T0 + 50)


def test_a_rejected_entry_leaves_the_state_untouched(state: LedgerState, office: Office) -> None:
    before = (state.size, state.resolve(office.did).to_json(), state.keys(office.did))
    bad = update_op(office.did, office.create.hash, office.signer, [_key(3, "key-2")], [], T0 + 400)
    with pytest.raises(errors.RuleViolation):
        state.apply(bad, now=T0)
    assert (state.size, state.resolve(office.did).to_json(), state.keys(office.did)) == before
    assert bad.hash not in state


def test_kid_cannot_be_rebound_or_revived(state: LedgerState, office: Office) -> None:
    rebound = update_op(office.did, office.create.hash, office.signer, [KeySpec("key-1", Ed25519PrivateKey(b"\x06" * 32))], [], T0 + 10)
    with pytest.raises(errors.RuleViolation, match="kid 'key-1' already named a different key"):
        state.apply(rebound, now=T0 + 10)
    rotate = update_op(office.did, office.create.hash, office.signer, [_key(3, "key-2")], [], T0 + 10)
    state.apply(rotate, now=T0 + 10)
    revive = update_op(office.did, rotate.hash, _key(3, "key-2"), [_key(3, "key-2"), office.signer], [], T0 + 20)
    with pytest.raises(errors.RuleViolation, match="'key-1' was removed .* cannot return"):
        state.apply(revive, now=T0 + 20)


def test_assertion_only_key_cannot_update_the_did(state: LedgerState) -> None:
    admin = _key(1, "admin")
    issuing = KeySpec("issue", Ed25519PrivateKey(b"\x05" * 32), ("assertionMethod",))
    create, did = create_op([admin, issuing], [], [_key(2, "r").private_key.public_key()], T0)
    state.apply(create, now=T0)
    with pytest.raises(errors.NotAuthorized, match="lacks the capabilityInvocation purpose"):
        state.apply(update_op(did, create.hash, issuing, [admin], [], T0 + 1), now=T0 + 1)
    state.apply(anchor_op(did, issuing, b"\x05" * 32, T0 + 1), now=T0 + 1)
    assert state.anchor(b"\x05" * 32) is not None


def test_create_with_a_forged_scid_is_refused(state: LedgerState) -> None:
    signer = _key(1, "key-1")
    good, did = create_op([signer], [], [_key(2, "r").private_key.public_key()], T0)
    body = dict(good.body, services=[{"id": "evil", "type": "X", "serviceEndpoint": "https://evil.example"}])
    forged = sign_entry("did.create", body, good.author, T0, None, signer.private_key)
    with pytest.raises(errors.InvalidEntry, match="SCID does not match"):
        state.apply(forged, now=T0)


def test_anchor_and_validate_are_pure(state: LedgerState, office: Office) -> None:
    anchor = anchor_op(office.did, office.signer, b"\x07" * 32, T0 + 5, count=256)
    checked = validate(anchor, state, now=T0 + 5)
    assert anchor.hash not in state and state.anchor(b"\x07" * 32) is None
    applied = state.commit(checked)
    assert applied.seq == 1 and applied.hash == anchor.hash
    record = state.anchor(b"\x07" * 32)
    assert record is not None and record.count == 256 and record.did == office.did
    with pytest.raises(errors.RuleViolation, match="already anchored"):
        state.apply(anchor_op(office.did, office.signer, b"\x07" * 32, T0 + 6), now=T0 + 6)


def test_anchor_body_refuses_extra_data(state: LedgerState, office: Office) -> None:
    entry = sign_entry("anchor.issuance", {"root": "00" * 32, "holder": "Alice"}, f"{office.did}#key-1", T0 + 1, None, office.signer.private_key)
    with pytest.raises(errors.InvalidEntry, match="no other data"):
        state.apply(entry, now=T0 + 1)


def test_non_did_entries_do_not_chain(state: LedgerState, office: Office) -> None:
    entry = sign_entry("anchor.issuance", {"root": "00" * 32}, f"{office.did}#key-1", T0 + 1, office.create.hash, office.signer.private_key)
    with pytest.raises(errors.InvalidEntry, match="carry prev = null"):
        state.apply(entry, now=T0 + 1)


def test_replaying_a_log_rebuilds_the_same_state(state: LedgerState, office: Office) -> None:
    log = [office.create]
    update = update_op(office.did, office.create.hash, office.signer, [_key(3, "key-2")], [], T0 + 10)
    log.append(update)
    state.apply(update, now=T0 + 10)
    replica = LedgerState()
    for entry in log:
        replica.apply(entry.raw, now=T0 + 10)
    assert replica.resolve(office.did).to_json() == state.resolve(office.did).to_json()
    assert replica.keys(office.did) == state.keys(office.did)
