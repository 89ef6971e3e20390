"""RFC 9162 proof verification: transparency-dev test data, round trips, hostile proofs."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from registry.errors import InvalidProof, ProofError, RootMismatch
from registry.merkle import MemoryNodeStore, consistency_proof, inclusion_proof, leaf_hash, root_hash
from registry.proof import root_from_inclusion_proof, verify_consistency, verify_inclusion

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "registry"
TDEV = VECTORS / "transparency-dev"

# transparency-dev/merkle expects these to verify, and we deliberately reject
# them: their roots are 12-byte placeholders ("don't care 2"), never a SHA-256
# root, and we require every hash to be exactly 32 bytes (docs in the README).
STRICTER_THAN_TDEV = {"consistency/additional/sizes-are-equal-one-and-proof-is-empty.json"}


def _b64(value: str | None) -> bytes:
    return base64.b64decode(value or "")


def _cases(kind: str) -> list[Path]:
    return sorted((TDEV / kind).rglob("*.json"))


@pytest.mark.parametrize("path", _cases("inclusion"), ids=lambda p: str(p.relative_to(TDEV)))
def test_transparency_dev_inclusion(path: Path) -> None:
    case = json.loads(path.read_text())
    args = (
        _b64(case["leafHash"]),
        case["leafIdx"],
        case["treeSize"],
        [_b64(p) for p in case["proof"] or []],
        _b64(case["root"]),
    )
    if case["wantErr"]:
        with pytest.raises(ProofError):
            verify_inclusion(*args)
    else:
        verify_inclusion(*args)


@pytest.mark.parametrize("path", _cases("consistency"), ids=lambda p: str(p.relative_to(TDEV)))
def test_transparency_dev_consistency(path: Path) -> None:
    case = json.loads(path.read_text())
    args = (
        case["size1"],
        case["size2"],
        [_b64(p) for p in case["proof"] or []],
        _b64(case["root1"]),
        _b64(case["root2"]),
    )
    if case["wantErr"] or str(path.relative_to(TDEV)) in STRICTER_THAN_TDEV:
        with pytest.raises(ProofError):
            verify_consistency(*args)
    else:
        verify_consistency(*args)


def _own_cases(prefix: str) -> list[Path]:
    return sorted(VECTORS.glob(f"{prefix}-*.json"))


@pytest.mark.parametrize("path", _own_cases("inclusion"), ids=lambda p: p.stem)
def test_own_inclusion_vectors(path: Path) -> None:
    case = json.loads(path.read_text())
    args = (
        bytes.fromhex(case["leaf_hash"]),
        case["index"],
        case["size"],
        [bytes.fromhex(p) for p in case["proof"]],
        bytes.fromhex(case["root"]),
    )
    _expect(case["expected"], verify_inclusion, *args)


@pytest.mark.parametrize("path", _own_cases("consistency"), ids=lambda p: p.stem)
def test_own_consistency_vectors(path: Path) -> None:
    case = json.loads(path.read_text())
    args = (
        case["size1"],
        case["size2"],
        [bytes.fromhex(p) for p in case["proof"]],
        bytes.fromhex(case["root1"]),
        bytes.fromhex(case["root2"]),
    )
    _expect(case["expected"], verify_consistency, *args)


def _expect(expected: dict[str, str], fn: object, *args: object) -> None:
    import registry.errors as errors

    assert callable(fn)
    if expected.get("ok"):
        assert fn(*args) is None
        return
    cls = getattr(errors, expected["error"])
    with pytest.raises(cls, match=expected["match"]) as info:
        fn(*args)
    assert type(info.value) is cls
    assert info.value.code == expected["code"]


@pytest.fixture(scope="module")
def store() -> MemoryNodeStore:
    s = MemoryNodeStore()
    s.extend(leaf_hash(b"%d" % i) for i in range(70))
    return s


def test_round_trip_every_index_and_pair(store: MemoryNodeStore) -> None:
    roots = [root_hash(n, store) for n in range(71)]
    for size in range(1, 71):
        for index in range(size):
            verify_inclusion(store.get_node(0, index), index, size, inclusion_proof(index, size, store), roots[size])
        for size1 in range(1, size + 1):
            proof = consistency_proof(size1, size, store) if size1 < size else []
            verify_consistency(size1, size, proof, roots[size1], roots[size])


def test_every_single_bit_flip_is_caught(store: MemoryNodeStore) -> None:
    size, index = 45, 17
    root = root_hash(size, store)
    proof = inclusion_proof(index, size, store)
    for i in range(len(proof)):
        for bit in range(256):
            bad = list(proof)
            h = bytearray(bad[i])
            h[bit // 8] ^= 1 << (bit % 8)
            bad[i] = bytes(h)
            with pytest.raises(RootMismatch):
                verify_inclusion(store.get_node(0, index), index, size, bad, root)


def test_root_mismatch_carries_both_roots(store: MemoryNodeStore) -> None:
    proof = inclusion_proof(3, 8, store)
    wrong = b"\x07" * 32
    with pytest.raises(RootMismatch, match="inclusion proof for leaf 3 of 8 does not match the root") as info:
        verify_inclusion(store.get_node(0, 3), 3, 8, proof, wrong)
    assert info.value.expected == wrong
    assert info.value.calculated == root_hash(8, store)
    assert info.value.code == "root_mismatch"
    assert "fetch a fresh proof" in str(info.value)


def test_consistency_mismatch_names_which_root(store: MemoryNodeStore) -> None:
    proof = consistency_proof(5, 9, store)
    r5, r9 = root_hash(5, store), root_hash(9, store)
    with pytest.raises(RootMismatch, match="does not match the old root") as info:
        verify_consistency(5, 9, proof, r9, r9)
    assert info.value.calculated == r5
    with pytest.raises(RootMismatch, match="does not match the new root") as info:
        verify_consistency(5, 9, proof, r5, r5)
    assert info.value.calculated == r9


def test_guards() -> None:
    h = b"\x00" * 32
    with pytest.raises(InvalidProof, match="leaf index 4 is not in a tree of size 4"):
        verify_inclusion(h, 4, 4, [h, h], h)
    with pytest.raises(InvalidProof, match="leaf hash is 31 bytes, expected 32"):
        verify_inclusion(h[:31], 0, 1, [], h)
    with pytest.raises(InvalidProof, match=r"proof\[1\] is 33 bytes, expected 32"):
        verify_inclusion(h, 0, 4, [h, h + b"\x00"], h)
    with pytest.raises(InvalidProof, match="inclusion proof for leaf 0 of 4 has 3 hashes, expected 2"):
        verify_inclusion(h, 0, 4, [h, h, h], h)
    with pytest.raises(InvalidProof, match="from the empty tree"):
        verify_consistency(0, 0, [], h, h)
    with pytest.raises(InvalidProof, match="size1 3 is greater than size2 2"):
        verify_consistency(3, 2, [h], h, h)
    with pytest.raises(InvalidProof, match="between equal sizes 2 has 1 hashes, expected 0"):
        verify_consistency(2, 2, [h], h, h)
    with pytest.raises(RootMismatch, match="two different roots for the same size 2"):
        verify_consistency(2, 2, [], h, b"\x01" * 32)
    with pytest.raises(InvalidProof, match="size 18446744073709551616 is not a uint64"):
        verify_inclusion(h, 0, 1 << 64, [h] * 64, h)
    with pytest.raises(TypeError, match="index must be an int"):
        verify_inclusion(h, True, 2, [h], h)


def test_root_from_inclusion_proof_single_leaf() -> None:
    h = leaf_hash(b"only")
    assert root_from_inclusion_proof(h, 0, 1, []) == h


def test_error_codes_are_unique_and_required() -> None:
    from registry.errors import ERROR_CODES, RegistryError

    assert ERROR_CODES["root_mismatch"] is RootMismatch
    assert all(issubclass(cls, RegistryError) for cls in ERROR_CODES.values())
    with pytest.raises(TypeError, match="error code 'root_mismatch' is already used by RootMismatch"):

        class Duplicate(ProofError):  # noqa: F841 - defining the class is the test
            code = "root_mismatch"

    with pytest.raises(TypeError, match="must define its own non-empty `code`"):

        class NoCode(ProofError):  # noqa: F841
            pass
