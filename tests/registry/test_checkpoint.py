"""C2SP signed notes, checkpoints and cosignatures: spec examples, vectors, hostile input."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

import registry.errors as errors
from registry.checkpoint import (
    Checkpoint,
    CosignatureSigner,
    CosignatureVerifier,
    Ed25519Signer,
    Ed25519Verifier,
    NoteSignature,
    SignedNote,
    cosignature_message,
    key_id,
    open_checkpoint,
    parse_vkey,
)
from registry.errors import MalformedCheckpoint, MalformedInput, MalformedNote, SignatureError

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "registry"

# c2sp.org/tlog-checkpoint and c2sp.org/tlog-cosignature examples (no public keys are given).
SPEC_COSIGNED = (
    "example.com/behind-the-sofa\n"
    "20852163\n"
    "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    "\n"
    "\u2014 example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n"
    "\u2014 witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==\n"
)
PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"


def _cases() -> list[Path]:
    return sorted(VECTORS.glob("note-*.json"))


@pytest.mark.parametrize("path", _cases(), ids=lambda p: p.stem)
def test_note_vectors(path: Path) -> None:
    case = json.loads(path.read_text(encoding="utf-8"))
    expected: dict[str, Any] = case["expected"]
    verifiers = [parse_vkey(v) for v in case["vkeys"]]

    def run() -> Any:
        note = SignedNote.from_text(case["note"], **({"max_bytes": case["max_bytes"]} if "max_bytes" in case else {}))
        if case["kind"] == "plain-note":
            return note.verify(verifiers)
        log = verifiers[0]
        assert type(log) is Ed25519Verifier
        cosigners = [v for v in verifiers if isinstance(v, CosignatureVerifier)]
        return open_checkpoint(case["note"], origin=case["origin"], log=log, cosigners=cosigners)

    if not expected.get("ok"):
        cls = getattr(errors, expected["error"])
        with pytest.raises(cls, match=expected["match"]) as info:
            run()
        assert type(info.value) is cls
        assert info.value.code == expected["code"]
        return
    result = run()
    if case["kind"] == "plain-note":
        assert result.text == expected["text"]
        if "signers" in expected:
            assert [s.name for s in result.signatures] == expected["signers"]
        return
    assert result.checkpoint.size == expected["size"]
    assert result.checkpoint.root_hash.hex() == expected["root"]
    assert list(result.checkpoint.extensions) == expected.get("extensions", [])
    if "cosignature_timestamps" in expected:
        assert [c.timestamp for c in result.cosignatures] == expected["cosignature_timestamps"]


def test_go_signer_reproduces_go_signature() -> None:
    # golang.org/x/mod sumdb/note TestSign: Ed25519 is deterministic, so the bytes must match.
    signer = Ed25519Signer.from_skey(PETER_SKEY)
    text = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
    want = (
        text + "\n\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
    )
    assert SignedNote(text, (signer.sign(text),)).to_text() == want
    assert signer.verifier.vkey == PETER_VKEY
    assert f"{signer.key_id:08x}" == "c74f20a3"


def test_spec_checkpoint_example_parses_and_round_trips() -> None:
    note = SignedNote.from_text(SPEC_COSIGNED)
    cp = Checkpoint.from_text(note.text)
    assert (cp.origin, cp.size) == ("example.com/behind-the-sofa", 20852163)
    assert base64.b64encode(cp.root_hash).decode() == "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I="
    assert cp.to_text() == note.text
    assert note.to_text() == SPEC_COSIGNED


def test_spec_cosignature_example_timestamp() -> None:
    # c2sp.org/tlog-cosignature: the example line's timestamp is the one in its signed-message example.
    sig = SignedNote.from_text(SPEC_COSIGNED).signatures[1]
    assert sig.name == "witness.example.com/w1"
    assert len(sig.signature) == 72
    timestamp = int.from_bytes(sig.signature[:8], "big")
    assert timestamp == 1679315147
    body = Checkpoint.from_text(SignedNote.from_text(SPEC_COSIGNED).text).to_text()
    assert cosignature_message(body, timestamp) == (
        b"cosignature/v1\ntime 1679315147\nexample.com/behind-the-sofa\n20852163\n"
        b"CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    )


def test_transparency_dev_formats_cosignature_timestamp() -> None:
    # transparency-dev/formats note/note_cosigv1_test.go TestCoSigV1Timestamp.
    payload = base64.b64decode(
        "ZGhGuQAAAABm/qTPeyKXD+R2rzyQsxPiP8mXum7qq/iF0u4vanlqJyocWODBt97w9uL+8qT7S5gxEHWWOworDcFiEBYJXORmnFBOBA=="
    )
    assert int.from_bytes(payload[4:12], "big") == 1727964367


def test_vkey_key_ids_from_other_implementations() -> None:
    # Key IDs computed by Go implementations for type 0x01 and type 0x04 keys.
    assert isinstance(parse_vkey("remora.n621.de+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2"), CosignatureVerifier)
    v = parse_vkey("TEST+7997405c+AQcC+FTVKf0jlTdHDY3rbevmnKxxPjigCXlVtGe6RIr6")  # base64 part holds a '+'
    assert type(v) is Ed25519Verifier and v.key_id == 0x7997405C
    assert parse_vkey(PETER_VKEY).vkey == PETER_VKEY


@pytest.mark.parametrize(
    ("vkey", "match"),
    [
        ("PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "key ID does not match"),
        ("PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==", "not canonical base64"),
        (f"k+{key_id('k', 1, bytes(31)):08x}+" + base64.b64encode(b"\x01" + bytes(31)).decode(), "32 bytes"),
        ("PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "type 0x65 is not supported"),
        ("PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "8 lowercase hex digits"),
        ("Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "key name is invalid"),
        ("bananas.sigstore.dev+12344556", "'<name>\\+<hex key ID>\\+<base64 key>'"),
        ("rekor.sigstore.dev+12345678+THIS_IS_NOT_BASE64!", "not valid base64"),
    ],
)
def test_bad_vkeys(vkey: str, match: str) -> None:
    with pytest.raises(MalformedInput, match=match):
        parse_vkey(vkey)


def test_cosignature_round_trip_and_type_separation() -> None:
    seed = bytes(range(32))
    cosigner = CosignatureSigner("witness.example/w", seed)
    plain = Ed25519Signer("witness.example/w", seed)
    # Same name and key, different signature type: different key IDs (c2sp.org/signed-note).
    assert cosigner.key_id != plain.key_id
    assert cosigner.key_id == key_id("witness.example/w", 0x04, cosigner.public_key)
    body = Checkpoint("log.example/1", 5, b"\x11" * 32).to_text()
    sig = cosigner.sign(body, timestamp=1700000000)
    note = SignedNote(body, (sig,))
    verified = note.verify([cosigner.verifier])
    assert verified.signatures[0].timestamp == 1700000000
    # A type 0x01 verifier for the same key does not match the key ID, so the line is ignored.
    with pytest.raises(SignatureError, match="no signature from a trusted key"):
        note.verify([plain.verifier])
    assert CosignatureVerifier.from_vkey(cosigner.verifier.vkey) == cosigner.verifier
    with pytest.raises(MalformedInput, match="not a cosignature/v1"):
        CosignatureVerifier.from_vkey(plain.verifier.vkey)
    with pytest.raises(MalformedInput, match="not an Ed25519"):
        Ed25519Verifier.from_vkey(cosigner.verifier.vkey)


def test_cosignature_rejects_timestamp_over_int63() -> None:
    cosigner = CosignatureSigner("w.example/w", bytes(32))
    body = Checkpoint("log.example/1", 5, b"\x11" * 32).to_text()
    sig = cosigner.sign(body, timestamp=1)
    forged = NoteSignature(sig.name, sig.key_id, (1 << 63).to_bytes(8, "big") + sig.signature[8:])
    with pytest.raises(SignatureError, match="timestamp over 2\\*\\*63 - 1"):
        SignedNote(body, (forged,)).verify([cosigner.verifier])
    with pytest.raises(TypeError, match="needs timestamp="):
        cosigner.sign(body)
    with pytest.raises(MalformedCheckpoint):
        cosigner.sign("not a checkpoint\n", timestamp=1)


def test_known_key_failure_rejects_whole_note_even_with_a_good_signature() -> None:
    signer = Ed25519Signer("log.example/1", bytes(32))
    body = Checkpoint("log.example/1", 1, b"\x22" * 32).to_text()
    good = signer.sign(body)
    bad = NoteSignature(good.name, good.key_id, bytes(64))
    with pytest.raises(SignatureError, match="signature by log.example/1 does not verify"):
        SignedNote(body, (good, bad)).verify([signer.verifier])


def test_with_signature_replaces_same_key() -> None:
    signer = Ed25519Signer("log.example/1", bytes(32))
    body = "hello\n"
    stale = NoteSignature(signer.name, signer.key_id, b"BAD")
    note = SignedNote(body, (stale,)).with_signature(signer.sign(body))
    assert len(note.signatures) == 1
    note.verify([signer.verifier])


def test_duplicate_verifiers_are_misuse() -> None:
    v = Ed25519Signer("a.example", bytes(32)).verifier
    with pytest.raises(ValueError, match="two verifiers share the key"):
        SignedNote("x\n", (NoteSignature("a.example", v.key_id, b"s"),)).verify([v, v])


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("origin\n1\n", "needs origin, size and root hash lines"),
        ("origin\n1\n" + "A" * 44, "must end with a newline"),
        ("\n1\n" + base64.b64encode(bytes(32)).decode() + "\n", "origin line must be non-empty"),
        ("o\n-1\n" + base64.b64encode(bytes(32)).decode() + "\n", "decimal with no leading zeroes"),
        ("o\n+1\n" + base64.b64encode(bytes(32)).decode() + "\n", "decimal with no leading zeroes"),
        ("o\n18446744073709551616\n" + base64.b64encode(bytes(32)).decode() + "\n", "integer in \\[0, 2\\*\\*64\\)"),
        ("o\n1\n" + base64.b64encode(bytes(32)).decode().rstrip("=") + "\n", "not valid base64"),
        ("o\n1\n" + base64.b64encode(bytes(32)).decode() + "\n\n", "extension lines must be non-empty"),
        ("o\n1\n" + base64.urlsafe_b64encode(b"\xff" * 32).decode() + "\n", "not valid base64"),
    ],
)
def test_malformed_checkpoints(text: str, match: str) -> None:
    with pytest.raises(MalformedCheckpoint, match=match):
        Checkpoint.from_text(text)


def test_checkpoint_round_trip_and_bytes_input() -> None:
    cp = Checkpoint("log.example/1", 0, bytes(32), ("a", "b c"))
    assert Checkpoint.from_text(cp.to_text().encode()) == cp
    with pytest.raises(MalformedCheckpoint, match="not UTF-8"):
        Checkpoint.from_text(b"\xff\n1\n")


def test_non_canonical_base64_signature_rejected() -> None:
    signer = Ed25519Signer("a.example", bytes(32))
    line = signer.sign("x\n").to_line()
    # Change the last base64 character's unused low bits: decodes to the same bytes in lax decoders.
    payload = line.split(" ")[2].rstrip("\n")
    assert payload.endswith("=")
    tweaked = payload[:-2] + chr(ord(payload[-2]) + 1) + "="
    with pytest.raises(MalformedNote, match="not canonical base64"):
        SignedNote.from_text("x\n\n\u2014 a.example " + tweaked + "\n")


def test_text_may_contain_blank_lines_last_one_separates() -> None:
    signer = Ed25519Signer("a.example", bytes(32))
    text = "para one\n\npara two\n"
    note = SignedNote.from_text(SignedNote(text, (signer.sign(text),)).to_text())
    assert note.text == text
    note.verify([signer.verifier])


def test_signed_note_limits_accept_sixteen_signatures() -> None:
    body = "x\n"
    signers = [Ed25519Signer(f"k{i}.example", bytes([i]) * 32) for i in range(16)]
    note = SignedNote(body, tuple(s.sign(body) for s in signers))
    parsed = SignedNote.from_text(note.to_text(), max_signatures=16)
    assert len(parsed.verify([s.verifier for s in signers]).signatures) == 16
    with pytest.raises(MalformedNote, match="17 signatures, more than the 16 allowed"):
        SignedNote.from_text(note.with_signature(Ed25519Signer("k.example", bytes(32)).sign(body)).to_text(), max_signatures=16)


def test_error_str_carries_hint_and_code() -> None:
    with pytest.raises(SignatureError) as info:
        SignedNote("x\n", (NoteSignature("a.example", 1, b"s"),)).verify([])
    assert info.value.code == "signature_invalid"
    assert "check the configured verifier keys" in str(info.value)
