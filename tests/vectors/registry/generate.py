"""Write the registry test vectors in this directory, deterministically.

Run ``python tests/vectors/registry/generate.py`` from the repository root.
Every case is one JSON file named for what it tests or what was mutated, with
the expected result inside (``{"ok": true}`` or the error class, its ``code``
and a regex its message must match). Keys come from fixed seeds and times are
fixed, so a rerun reproduces the files byte for byte (a test checks this).

The C2SP and Go ``sumdb/note`` examples are copied as data (see README.md).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2]))

from registry.checkpoint import Checkpoint, CosignatureSigner, Ed25519Signer, NoteSignature, SignedNote  # noqa: E402
from registry.merkle import MemoryNodeStore, consistency_proof, inclusion_proof, leaf_hash, root_hash  # noqa: E402
from registry.tiles import encode_entry_bundle  # noqa: E402

Case = dict[str, Any]

ORIGIN = "registry.example.gov/v1"
TIME = 1767225600  # 2026-01-01T00:00:00Z


def seed(label: str) -> bytes:
    """A fixed 32-byte seed, so generated keys are stable."""
    return hashlib.sha256(b"civicid test vectors/" + label.encode()).digest()


def ok(**extra: Any) -> dict[str, Any]:
    return {"ok": True, **extra}


def err(cls: str, code: str, match: str) -> dict[str, Any]:
    return {"error": cls, "code": code, "match": match}


def flip(h: str, byte: int = 0) -> str:
    raw = bytearray(bytes.fromhex(h))
    raw[byte] ^= 0x01
    return raw.hex()


def tree() -> MemoryNodeStore:
    store = MemoryNodeStore()
    store.extend(leaf_hash(b"civicid vector leaf %d" % i) for i in range(32))
    return store


def inclusion_cases() -> dict[str, Case]:
    s = tree()
    index, size = 5, 21
    base: Case = {
        "kind": "inclusion",
        "leaf_hash": s.get_node(0, index).hex(),
        "index": index,
        "size": size,
        "proof": [h.hex() for h in inclusion_proof(index, size, s)],
        "root": root_hash(size, s).hex(),
    }
    mm = "does not match the root"
    cases: dict[str, Case] = {
        "happy-path": {"description": "valid proof for leaf 5 of 21", "expected": ok()},
        "wrong-index": {"description": "index changed to 4", "index": 4, "expected": err("RootMismatch", "root_mismatch", mm)},
        "size-not-bound-by-proof": {
            "description": (
                "size changed to 22: leaf 5's path has the same shape in every size 17..31, so it still"
                " verifies; only the signed checkpoint binds the size to the root (RFC 9162 s2.1.3.2)"
            ),
            "size": 22,
            "expected": ok(),
        },
        "wrong-size-changes-shape": {
            "description": "size changed to 33, where leaf 5's path needs 6 hashes",
            "size": 33,
            "expected": err("InvalidProof", "proof_malformed", "has 5 hashes, expected 6"),
        },
        "index-equals-size": {
            "description": "index == size (RFC 9162 s2.1.3.2 step 1)",
            "index": 21,
            "expected": err("InvalidProof", "proof_malformed", "leaf index 21 is not in a tree of size 21"),
        },
        "wrong-leaf": {
            "description": "leaf hash of other data",
            "leaf_hash": leaf_hash(b"forged").hex(),
            "expected": err("RootMismatch", "root_mismatch", mm),
        },
        "wrong-root": {"description": "root of size 20", "root": root_hash(20, s).hex(), "expected": err("RootMismatch", "root_mismatch", mm)},
        "flipped-bit-in-proof": {
            "description": "one bit flipped in proof[1]",
            "proof": [base["proof"][0], flip(base["proof"][1]), *base["proof"][2:]],
            "expected": err("RootMismatch", "root_mismatch", mm),
        },
        "truncated-proof": {
            "description": "last proof hash removed",
            "proof": base["proof"][:-1],
            "expected": err("InvalidProof", "proof_malformed", "has 4 hashes, expected 5"),
        },
        "extra-hash": {
            "description": "the root appended to the proof",
            "proof": [*base["proof"], base["root"]],
            "expected": err("InvalidProof", "proof_malformed", "has 6 hashes, expected 5"),
        },
        "short-hash": {
            "description": "proof[2] truncated to 31 bytes",
            "proof": [*base["proof"][:2], base["proof"][2][:62], *base["proof"][3:]],
            "expected": err("InvalidProof", "proof_malformed", r"proof\[2\] is 31 bytes, expected 32"),
        },
        "leaf-data-instead-of-hash": {
            "description": "raw 9-byte entry instead of its leaf hash",
            "leaf_hash": b"WrongLeaf".hex(),
            "expected": err("InvalidProof", "proof_malformed", "leaf hash is 9 bytes, expected 32"),
        },
        "root-as-leaf-single-entry": {
            "description": "tree of one leaf: the root is the leaf hash and the proof is empty",
            "index": 0,
            "size": 1,
            "leaf_hash": s.get_node(0, 0).hex(),
            "proof": [],
            "root": s.get_node(0, 0).hex(),
            "expected": ok(),
        },
    }
    return {f"inclusion-{k}": {**base, **v} for k, v in cases.items()}


def consistency_cases() -> dict[str, Case]:
    s = tree()
    size1, size2 = 7, 19
    r1, r2 = root_hash(size1, s).hex(), root_hash(size2, s).hex()
    base: Case = {
        "kind": "consistency",
        "size1": size1,
        "size2": size2,
        "proof": [h.hex() for h in consistency_proof(size1, size2, s)],
        "root1": r1,
        "root2": r2,
    }
    cases: dict[str, Case] = {
        "happy-path": {"description": "valid proof from 7 to 19", "expected": ok()},
        "power-of-two-old-size": {
            "description": "size1 = 8 is a power of two, so root1 is not in the proof (RFC 9162 s2.1.4.2 step 2)",
            "size1": 8,
            "root1": root_hash(8, s).hex(),
            "proof": [h.hex() for h in consistency_proof(8, size2, s)],
            "expected": ok(),
        },
        "from-size-zero": {
            "description": "a proof from the empty tree is rejected",
            "size1": 0,
            "root1": root_hash(0, s).hex(),
            "proof": [],
            "expected": err("InvalidProof", "proof_malformed", "from the empty tree"),
        },
        "equal-sizes-empty-proof": {
            "description": "equal sizes and roots, empty proof",
            "size1": size2,
            "root1": r2,
            "proof": [],
            "expected": ok(),
        },
        "equal-sizes-nonempty-proof": {
            "description": "equal sizes take the empty proof",
            "size1": size2,
            "root1": r2,
            "proof": [r2],
            "expected": err("InvalidProof", "proof_malformed", "has 1 hashes, expected 0"),
        },
        "equal-sizes-different-roots": {
            "description": "split view: one size, two roots",
            "size1": size2,
            "root1": flip(r2),
            "proof": [],
            "expected": err("RootMismatch", "root_mismatch", "two different roots for the same size 19"),
        },
        "size1-greater-than-size2": {
            "description": "sizes swapped (rollback)",
            "size1": size2,
            "size2": size1,
            "root1": r2,
            "root2": r1,
            "expected": err("InvalidProof", "proof_malformed", "size1 19 is greater than size2 7"),
        },
        "swapped-roots": {
            "description": "root1 and root2 swapped",
            "root1": r2,
            "root2": r1,
            "expected": err("RootMismatch", "root_mismatch", "does not match the old root"),
        },
        "wrong-new-root": {
            "description": "root2 has one bit flipped",
            "root2": flip(r2),
            "expected": err("RootMismatch", "root_mismatch", "does not match the new root"),
        },
        "truncated-proof": {
            "description": "last proof hash removed",
            "proof": base["proof"][:-1],
            "expected": err("InvalidProof", "proof_malformed", "consistency proof from 7 to 19 has"),
        },
        "flipped-bit-in-proof": {
            "description": "one bit flipped in proof[0]",
            "proof": [flip(base["proof"][0]), *base["proof"][1:]],
            "expected": err("RootMismatch", "root_mismatch", "does not match the old root"),
        },
        "long-hash": {
            "description": "a 33-byte root1",
            "root1": r1 + "00",
            "expected": err("InvalidProof", "proof_malformed", "root1 is 33 bytes, expected 32"),
        },
    }
    return {f"consistency-{k}": {**base, **v} for k, v in cases.items()}


def note_cases() -> dict[str, Case]:
    log = Ed25519Signer(ORIGIN, seed("log"))
    other = Ed25519Signer("other.example/log", seed("other"))
    wit = CosignatureSigner("witness.example.gov/w1", seed("witness-1"))
    s = tree()
    cp = Checkpoint(ORIGIN, 21, root_hash(21, s)).to_text()
    signed = SignedNote(cp, (log.sign(cp),))
    cosigned = signed.with_signature(wit.sign(cp, timestamp=TIME))
    good = signed.to_text()
    base: Case = {"kind": "note", "vkeys": [log.verifier.vkey], "origin": ORIGIN}
    sig_line = log.sign(cp).to_line()
    mal = "malformed_note"
    cases: dict[str, Case] = {
        "checkpoint-signed-by-log": {
            "description": "a checkpoint signed by the log key",
            "note": good,
            "expected": ok(size=21, root=root_hash(21, s).hex()),
        },
        "checkpoint-cosigned": {
            "description": "log signature plus a cosignature/v1 (type 0x04) from a known witness",
            "vkeys": [log.verifier.vkey, wit.verifier.vkey],
            "note": cosigned.to_text(),
            "expected": ok(size=21, root=root_hash(21, s).hex(), cosignature_timestamps=[TIME]),
        },
        "cosignature-tampered-timestamp": {
            "description": "the cosignature's timestamp changed by one second",
            "vkeys": [log.verifier.vkey, wit.verifier.vkey],
            "note": cosigned.to_text().replace(
                wit.sign(cp, timestamp=TIME).to_line(),
                NoteSignature(wit.name, wit.key_id, (TIME + 1).to_bytes(8, "big") + wit.sign(cp, timestamp=TIME).signature[8:]).to_line(),
            ),
            "expected": err("SignatureError", "signature_invalid", "cosignature by witness.example.gov/w1 does not verify"),
        },
        "unknown-cosigner-ignored": {
            "description": "a cosignature from a key we do not know is ignored (c2sp.org/signed-note)",
            "note": cosigned.to_text(),
            "expected": ok(size=21, root=root_hash(21, s).hex(), cosignature_timestamps=[]),
        },
        "tampered-size": {
            "description": "the size line changed after signing",
            "note": good.replace("\n21\n", "\n22\n"),
            "expected": err("SignatureError", "signature_invalid", f"signature by {ORIGIN} does not verify"),
        },
        "only-unknown-key": {
            "description": "signed only by a key we do not trust",
            "note": SignedNote(cp, (other.sign(cp),)).to_text(),
            "expected": err("SignatureError", "signature_invalid", "no signature from a trusted key"),
        },
        "same-name-other-key": {
            "description": "a signature under the log's name by another key (different key ID) is ignored",
            "note": SignedNote(cp, (Ed25519Signer(ORIGIN, seed("impostor")).sign(cp),)).to_text(),
            "expected": err("SignatureError", "signature_invalid", "no signature from a trusted key"),
        },
        "wrong-origin": {
            "description": "a validly signed checkpoint for another origin",
            "origin": "registry.example.gov/v2",
            "note": good,
            "expected": err("CheckpointError", "checkpoint_rejected", "origin is not the expected log"),
        },
        "no-blank-line": {
            "description": "signature lines directly after the text",
            "note": cp + sig_line,
            "expected": err("MalformedNote", mal, "no blank line"),
        },
        "no-signatures": {"description": "text and blank line only", "note": cp + "\n", "expected": err("MalformedNote", mal, "must end with")},
        "missing-final-newline": {
            "description": "last signature line without its newline",
            "note": good[:-1],
            "expected": err("MalformedNote", mal, "must end with"),
        },
        "control-character": {
            "description": "a NUL byte in the text",
            "note": good.replace(ORIGIN, ORIGIN + "\x00", 1),
            "expected": err("MalformedNote", mal, "control character"),
        },
        "ascii-dash": {
            "description": "a hyphen-minus instead of the em dash U+2014",
            "note": good.replace("\u2014", "-"),
            "expected": err("MalformedNote", mal, "em dash"),
        },
        "name-with-space": {
            "description": "a key name containing a space",
            "note": good.replace(f"\u2014 {ORIGIN} ", f"\u2014 {ORIGIN} x "),
            "expected": err("MalformedNote", mal, "<name> <base64>"),
        },
        "bad-base64": {
            "description": "signature not base64",
            "note": cp + "\n" + f"\u2014 {ORIGIN} !!!!\n",
            "expected": err("MalformedNote", mal, "not valid base64"),
        },
        "short-signature-payload": {
            "description": "4-byte payload: a key ID and no signature",
            "note": cp + "\n" + f"\u2014 {ORIGIN} {base64.b64encode(b'abcd').decode()}\n",
            "expected": err("MalformedNote", mal, "4-byte key ID and signature bytes"),
        },
        "too-many-signatures": {
            "description": "101 signature lines (limit 100)",
            "note": cp + "\n" + sig_line * 101,
            "expected": err("MalformedNote", mal, "101 signatures, more than the 100 allowed"),
        },
        "oversized": {
            "description": "a note over the caller's 1 KiB limit (the default is 128 KiB)",
            "max_bytes": 1024,
            "note": cp + "x" * 1024 + "\n\n" + sig_line,
            "expected": err("MalformedNote", mal, "more than the 1024 allowed"),
        },
        "checkpoint-leading-zero-size": {
            "description": "size '021' (no leading zeroes allowed), correctly signed",
            "note": SignedNote(cp.replace("\n21\n", "\n021\n"), (log.sign(cp.replace("\n21\n", "\n021\n")),)).to_text(),
            "expected": err("MalformedCheckpoint", "malformed_checkpoint", "no leading zeroes"),
        },
        "checkpoint-short-root": {
            "description": "a 31-byte root hash, correctly signed",
            "note": (lambda t: SignedNote(t, (log.sign(t),)).to_text())(
                f"{ORIGIN}\n21\n{base64.b64encode(root_hash(21, s)[:31]).decode()}\n"
            ),
            "expected": err("MalformedCheckpoint", "malformed_checkpoint", "must be 32 bytes"),
        },
        "checkpoint-two-lines": {
            "description": "origin and size only, correctly signed",
            "note": (lambda t: SignedNote(t, (log.sign(t),)).to_text())(f"{ORIGIN}\n21\n"),
            "expected": err("MalformedCheckpoint", "malformed_checkpoint", "needs origin, size and root hash lines"),
        },
        "checkpoint-with-extension": {
            "description": "an extension line is signed and kept",
            "note": (lambda t: SignedNote(t, (log.sign(t),)).to_text())(cp + "ext: value\n"),
            "expected": ok(size=21, root=root_hash(21, s).hex(), extensions=["ext: value"]),
        },
    }
    # Examples from the specifications, copied as data (README.md gives sources).
    cases["c2sp-signed-note-example"] = {
        "description": "c2sp.org/signed-note, 'Verifier keys', Example",
        "source": "C2SP/C2SP signed-note.md",
        "kind": "plain-note",
        "vkeys": ["example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"],
        "note": "This is an example message.\n\n\u2014 example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n",
        "expected": ok(text="This is an example message.\n"),
    }
    peter = "\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
    enoch = "\u2014 EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n"
    text = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
    cases["go-sumdb-note-two-signers"] = {
        "description": "golang.org/x/mod sumdb/note TestOpen: two Ed25519 signers, both known",
        "source": "golang/mod sumdb/note/note_test.go",
        "kind": "plain-note",
        "vkeys": [
            "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
            "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop",
        ],
        "note": text + "\n" + peter + enoch,
        "expected": ok(text=text, signers=["PeterNeumann", "EnochRoot"]),
    }
    cases["go-sumdb-note-one-known-signer"] = {
        "description": "golang.org/x/mod sumdb/note TestOpen: the unknown EnochRoot signature is ignored",
        "source": "golang/mod sumdb/note/note_test.go",
        "kind": "plain-note",
        "vkeys": ["PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"],
        "note": text + "\n" + peter + enoch,
        "expected": ok(text=text, signers=["PeterNeumann"]),
    }
    cases["go-sumdb-note-corrupted-signature"] = {
        "description": "golang.org/x/mod sumdb/note TestOpen: 'ABCD' inserted into a known key's signature",
        "source": "golang/mod sumdb/note/note_test.go",
        "kind": "plain-note",
        "vkeys": ["PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"],
        "note": text + "\n" + peter[:60] + "ABCD" + peter[60:],
        "expected": err("SignatureError", "signature_invalid", "signature by PeterNeumann is not 64 bytes"),
    }
    return {f"note-{k}": {**base, **v} for k, v in cases.items()}


def tile_cases() -> dict[str, Case]:
    cases: dict[str, Case] = {}
    for name, level, index, width, path in [
        ("zero", 0, 0, 256, "tile/0/000"),
        ("spec-example-1234067", 0, 1234067, 256, "tile/0/x001/x234/067"),
        ("partial", 1, 5, 17, "tile/1/005.p/17"),
        ("thousand", 2, 1000, 256, "tile/2/x001/000"),
        ("entries-partial", -1, 273, 112, "tile/entries/273.p/112"),
    ]:
        cases[f"tile-path-{name}"] = {
            "kind": "tile-path",
            "description": f"{path} <-> level {level}, index {index}, width {width}",
            "path": path,
            "expected": ok(level=level, index=index, width=width),
        }
    for name, path, match in [
        ("leading-zero-level", "tile/01/000", "tile level is 0..63"),
        ("level-64", "tile/64/000", "tile level is 0..63"),
        ("missing-x", "tile/0/001/234", r"'xNNN/\.\.\./NNN'"),
        ("two-digit-element", "tile/0/12", r"'xNNN/\.\.\./NNN'"),
        ("non-canonical-index", "tile/0/x000/001", "not canonically encoded"),
        ("width-256", "tile/0/000.p/256", "width is 1..255"),
        ("width-zero", "tile/0/000.p/0", "width is 1..255"),
        ("width-leading-zero", "tile/0/000.p/017", "width is 1..255"),
        ("no-tile-prefix", "tiles/0/000", "starts with 'tile/"),
    ]:
        cases[f"tile-path-{name}"] = {
            "kind": "tile-path",
            "description": f"{path} is rejected",
            "path": path,
            "expected": err("MalformedInput", "malformed_input", match),
        }
    bundle = encode_entry_bundle([b"", b"a", b"\xff" * 300])
    cases["bundle-three-entries"] = {
        "kind": "entry-bundle",
        "description": "empty, one-byte and 300-byte entries, uint16 big-endian prefixes",
        "bundle": bundle.hex(),
        "expected": ok(entries=["", "61", "ff" * 300]),
    }
    cases["bundle-truncated-entry"] = {
        "kind": "entry-bundle",
        "description": "last entry one byte short",
        "bundle": bundle[:-1].hex(),
        "expected": err("MalformedInput", "malformed_input", "entry 2 of the bundle is truncated"),
    }
    cases["bundle-dangling-length-byte"] = {
        "kind": "entry-bundle",
        "description": "one byte after the last entry",
        "bundle": (bundle + b"\x00").hex(),
        "expected": err("MalformedInput", "malformed_input", "ends inside a length prefix"),
    }
    return cases


def all_cases() -> dict[str, Case]:
    cases: dict[str, Case] = {}
    for group in (inclusion_cases(), consistency_cases(), note_cases(), tile_cases()):
        cases.update(group)
    for case in cases.values():
        case.setdefault("source", "tests/vectors/registry/generate.py")
    return cases


def render(case: Case) -> str:
    return json.dumps(case, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE)
    args = parser.parse_args()
    for name, case in sorted(all_cases().items()):
        (args.out / f"{name}.json").write_text(render(case), encoding="utf-8")
    print(f"wrote {len(all_cases())} cases to {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
