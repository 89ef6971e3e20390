"""Ledger entry envelope: canonical bytes, size limit, signature, and the vector files."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import nacl.signing
import pytest
import rfc8785

from registry import errors
from registry.did import KeySpec, create_op
from registry.entry import ENTRY_DOMAIN, MAX_ENTRY_BYTES, Entry, canonical, sign_entry
from registry.state import LedgerState
from sdjwt.keys import Ed25519PrivateKey

VECTORS = Path(__file__).parent.parent / "vectors" / "registry_entries"
TIME = 1_750_000_000


def _key(seed: int, kid: str = "key-1") -> KeySpec:
    return KeySpec(kid, Ed25519PrivateKey(bytes([seed]) * 32))


@pytest.fixture
def created() -> Entry:
    entry, _ = create_op([_key(1)], [], [_key(2).private_key.public_key()], TIME)
    return entry


def test_round_trip_and_hash(created: Entry) -> None:
    parsed = Entry.from_bytes(created.raw)
    assert parsed == created
    assert parsed.hash == hashlib.sha256(created.raw).hexdigest()
    assert created.raw == rfc8785.dumps(created.to_json())


def test_signature_is_domain_separated_over_jcs_without_sig(created: Entry) -> None:
    # Checked with libsodium directly, not through our own signing_input helper.
    unsigned = {k: v for k, v in json.loads(created.raw).items() if k != "sig"}
    message = b"civicid.org/v1/entry" + b"\x00" + rfc8785.dumps(unsigned)
    verify_key = nacl.signing.VerifyKey(_key(1).private_key.public_key().raw)
    verify_key.verify(message, created.sig)
    assert ENTRY_DOMAIN == b"civicid.org/v1/entry"


def test_mis_signed_entry_is_refused(created: Entry) -> None:
    with pytest.raises(errors.EntrySignatureInvalid, match="does not verify under did:civic:"):
        created.verify_signature(_key(9).private_key.public_key())


def test_oversized_entry_is_refused() -> None:
    data = b"{" + b" " * MAX_ENTRY_BYTES + b"}"
    with pytest.raises(errors.InvalidEntry, match=f"is {len(data)} bytes; the limit is 16384 bytes"):
        Entry.from_bytes(data)


def test_largest_allowed_entry_parses() -> None:
    signer = _key(1)
    author = "did:civic:" + "Q" * 46 + "#key-1"
    base = sign_entry("vct.publish", {"pad": ""}, author, TIME, None, signer.private_key)
    pad = MAX_ENTRY_BYTES - len(base.raw)
    entry = sign_entry("vct.publish", {"pad": "a" * pad}, author, TIME, None, signer.private_key)
    assert len(entry.raw) == MAX_ENTRY_BYTES
    assert Entry.from_bytes(entry.raw) == entry


def test_non_canonical_bytes_are_refused(created: Entry) -> None:
    spaced = json.dumps(created.to_json()).encode()
    with pytest.raises(errors.InvalidEntry, match="not in RFC 8785"):
        Entry.from_bytes(spaced)


def test_non_utf8_is_refused() -> None:
    with pytest.raises(errors.InvalidEntry, match="not strict JSON"):
        Entry.from_bytes(b'{"v":"\xff"}')


def test_top_level_must_be_object() -> None:
    with pytest.raises(errors.InvalidEntry, match="must be a JSON object"):
        Entry.from_bytes(b"[]")


def test_bad_author_is_refused() -> None:
    with pytest.raises(errors.InvalidEntry, match="'author' must be"):
        sign_entry("anchor.issuance", {"root": "00" * 32}, "did:key:z6Mk#k", TIME, None, _key(1).private_key)


def test_huge_integer_is_not_canonicalizable() -> None:
    with pytest.raises(errors.InvalidEntry, match="cannot represent"):
        canonical({"n": 2**64})


def test_invalid_entry_is_a_malformed_input_with_a_stable_code() -> None:
    assert issubclass(errors.InvalidEntry, errors.MalformedInput)
    assert errors.InvalidEntry.code == "invalid_entry"
    assert errors.Conflict.code == "prev_conflict"
    assert issubclass(errors.Conflict, errors.EntryRejected)


def _cases(prefix: str) -> list[Path]:
    return sorted(VECTORS.glob(f"{prefix}*.json"))


@pytest.mark.parametrize("path", _cases("entry-"), ids=lambda p: p.stem)
def test_mutated_entry_vectors(path: Path) -> None:
    case = json.loads(path.read_text(encoding="utf-8"))
    expected = case["expected"]
    error = getattr(errors, expected["error"])
    with pytest.raises(error, match=expected["match"]):
        # Envelope errors come from parsing; the SCID mismatch only from the ledger rules.
        LedgerState().apply(case["entry"].encode("utf-8"), now=TIME)


@pytest.mark.parametrize("path", _cases("did-"), ids=lambda p: p.stem)
def test_valid_entry_vectors(path: Path) -> None:
    case = json.loads(path.read_text(encoding="utf-8"))
    entry = Entry.from_bytes(case["entry"].encode("utf-8"))
    assert entry.hash == case["expected"]["hash"]
    assert entry.author_did == case["expected"]["did"]
