"""did:civic identifiers, SCIDs and pre-rotation hashes, against did:webvh's published data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from registry import errors
from registry.did import (
    KeySpec,
    Service,
    VerificationKey,
    create_op,
    generate_scid,
    key_hash,
    parse_body,
    parse_did,
    sha256_multihash_b58,
    verify_scid,
)
from registry.entry import canonical
from sdjwt.did_key import multibase_from_key
from sdjwt.keys import Ed25519PrivateKey

VECTORS = Path(__file__).parent.parent / "vectors" / "registry_entries"
TIME = 1_750_000_000


def _key(seed: int, kid: str = "key-1") -> KeySpec:
    return KeySpec(kid, Ed25519PrivateKey(bytes([seed]) * 32))


def test_didwebvh_spec_worked_example() -> None:
    case = json.loads((VECTORS / "didwebvh-spec-scid-and-entry-hash.json").read_text())
    entry, expected = case["entry"], case["expected"]
    # "Verify SCID": versionId is already the SCID here, so the text replacement also sets it to {SCID}.
    verify_scid(entry, expected["scid"])
    # "Generate Entry Hash": JCS of the entry whose versionId is the predecessor (the SCID).
    assert sha256_multihash_b58(canonical(entry)) == expected["entryHash"]


def test_didwebvh_published_log_prerotation() -> None:
    case = json.loads((VECTORS / "didwebvh-py-prerotation.json").read_text())
    first, expected = case["first_entry_without_proof"], case["expected"]
    assert sha256_multihash_b58(canonical({**first, "versionId": expected["scid"]})) == expected["entryHash"]
    verify_scid({**first, "versionId": expected["scid"]}, expected["scid"])
    assert key_hash(case["next_update_key"]) == expected["nextKeyHash"]
    assert expected["nextKeyHash"] in first["parameters"]["nextKeyHashes"]


def test_wrong_scid_is_refused() -> None:
    case = json.loads((VECTORS / "didwebvh-spec-scid-and-entry-hash.json").read_text())
    entry = dict(case["entry"], versionTime="2025-04-01T17:39:51Z")
    with pytest.raises(errors.InvalidEntry, match="SCID does not match"):
        verify_scid(entry, case["expected"]["scid"])


def test_create_op_derives_the_did_from_its_genesis_entry() -> None:
    entry, did = create_op([_key(1)], [Service("web", "LinkedDomains", "https://a.example")], [_key(2).private_key.public_key()], TIME)
    scid = parse_did(did)
    assert len(scid) == 46 and scid.startswith("Qm")
    assert entry.author == f"{did}#key-1"
    verify_scid(entry.unsigned(), scid)
    # The SCID is the hash of the preliminary entry holding the placeholder.
    preliminary = json.loads(json.dumps(entry.unsigned()).replace(scid, "{SCID}"))
    assert preliminary["body"]["scid"] == "{SCID}"
    assert generate_scid(preliminary) == scid
    # Pre-rotation commitment of the recovery key (did:webvh hash of its Multikey).
    assert entry.body["nextKeyHashes"] == [key_hash(multibase_from_key(_key(2).private_key.public_key()))]


def test_different_genesis_gives_a_different_did() -> None:
    _, a = create_op([_key(1)], [], [_key(2).private_key.public_key()], TIME)
    _, b = create_op([_key(1)], [], [_key(2).private_key.public_key()], TIME + 1)
    assert a != b


def test_every_placeholder_in_the_genesis_becomes_the_scid() -> None:
    entry, did = create_op([_key(1)], [Service("x", "Note", "{SCID}")], [_key(2).private_key.public_key()], TIME)
    # The builder substitutes every placeholder, so the literal is gone and the SCID verifies.
    assert "{SCID}" not in entry.raw.decode()
    assert entry.body["services"][0]["serviceEndpoint"] == parse_did(did)


@pytest.mark.parametrize(
    "value", ["did:civic:short", "did:web:QmdmPkUdYzbr9txmx8gM2rsHPgr5L6m3gHjJGAf4vUFoGE", "did:civic:" + "0" * 46]
)
def test_parse_did_refuses_other_identifiers(value: str) -> None:
    with pytest.raises(errors.InvalidEntry, match="not a did:civic identifier"):
        parse_did(value)


def test_key_forms_must_agree() -> None:
    key = _key(1).public().to_json()
    key["publicKeyMultibase"] = multibase_from_key(_key(2).private_key.public_key())
    with pytest.raises(errors.InvalidEntry, match="name different keys"):
        VerificationKey.from_json(key)


def test_key_jwk_kid_must_match() -> None:
    key = _key(1).public().to_json()
    key["publicKeyJwk"]["kid"] = "other"
    with pytest.raises(errors.InvalidEntry, match="must equal the key's 'kid'"):
        VerificationKey.from_json(key)


def test_a_key_set_needs_a_capability_invocation_key() -> None:
    only_assert = KeySpec("sign", Ed25519PrivateKey(b"\x05" * 32), ("assertionMethod",))
    with pytest.raises(errors.InvalidEntry, match="capabilityInvocation"):
        parse_body("did.update", {"keys": [only_assert.public().to_json()], "services": []})


def test_update_cannot_change_commitments() -> None:
    body = {"keys": [_key(1).public().to_json()], "services": [], "nextKeyHashes": ["Qm" + "a" * 44]}
    with pytest.raises(errors.InvalidEntry, match=r"unexpected members \['nextKeyHashes'\]"):
        parse_body("did.update", body)


def test_create_requires_commitments() -> None:
    body = {"scid": "Qm" + "a" * 44, "keys": [_key(1).public().to_json()], "services": [], "nextKeyHashes": []}
    with pytest.raises(errors.InvalidEntry, match="'nextKeyHashes' must list 1 to 16"):
        parse_body("did.create", body)
