"""RFC 9162 proof verification: inclusion (s2.1.3.2) and consistency (s2.1.4.2).

Each verifier is the RFC's algorithm as numbered steps, plus the guards a
literal transcription needs to reject every bad case in transparency-dev/merkle's
``testdata``: every hash is exactly 32 bytes, a consistency proof from size 0 is
rejected, equal sizes take the empty proof, and an index must be below the size.
The proof length is also checked against the sizes up front, which bounds the
work a hostile proof can cause and gives a precise message.

The verifiers return ``None`` or raise: :class:`~registry.errors.InvalidProof`
for a malformed proof, :class:`~registry.errors.RootMismatch` (carrying the
expected and calculated roots) when it hashes to the wrong root. They never
return a bool.
"""

from __future__ import annotations

from collections.abc import Sequence

from .errors import InvalidProof, RootMismatch
from .merkle import HASH_SIZE, node_hash

__all__ = [
    "verify_inclusion",
    "verify_consistency",
    "root_from_inclusion_proof",
    "inclusion_proof_size",
    "consistency_proof_size",
]

_MAX_SIZE = 1 << 64


def _check_int(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if not 0 <= value < _MAX_SIZE:
        raise InvalidProof(f"{name} {value} is not a uint64")


def _check_hash(name: str, value: bytes) -> None:
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise TypeError(f"{name} must be bytes, not {type(value).__name__}")
    if len(value) != HASH_SIZE:
        raise InvalidProof(f"{name} is {len(value)} bytes, expected {HASH_SIZE}")


def _check_proof(proof: Sequence[bytes], want: int, what: str) -> None:
    if len(proof) != want:
        raise InvalidProof(f"{what} has {len(proof)} hashes, expected {want}")
    for i, h in enumerate(proof):
        _check_hash(f"proof[{i}]", h)


def inclusion_proof_size(index: int, size: int) -> int:
    """Number of hashes in PATH(index, D[0:size]).

    The path has one hash per level where the leaf's ancestor has a sibling:
    the levels below the highest bit where ``index`` and ``size - 1`` differ,
    plus one per set bit of ``index`` above it (the left siblings on the border).
    """
    inner = (index ^ (size - 1)).bit_length()
    border = bin(index >> inner).count("1")
    return inner + border


def consistency_proof_size(size1: int, size2: int) -> int:
    """Number of hashes in PROOF(size1, D[0:size2]) for ``0 < size1 < size2``.

    Above the lowest set bit of ``size1`` both trees share a complete node
    (``level``, ``index``); the proof is that node's inclusion path in the new
    tree, preceded by the node itself unless it is the whole old tree (when
    ``size1`` is a power of two the verifier already has it as root1).
    """
    level = (size1 & -size1).bit_length() - 1
    index = (size1 - 1) >> level
    n = inclusion_proof_size(index, ((size2 - 1) >> level) + 1)
    return n if index == 0 else n + 1


def root_from_inclusion_proof(leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes]) -> bytes:
    """Steps 1-4 of RFC 9162 s2.1.3.2: the root that ``proof`` implies for the leaf.

    Raises :class:`InvalidProof` for a malformed input; the caller compares the
    result with a trusted root (:func:`verify_inclusion` does).
    """
    _check_int("index", index)
    _check_int("size", size)
    _check_hash("leaf hash", leaf_hash)
    # 1. Compare leaf_index with tree_size. If leaf_index >= tree_size, fail.
    if index >= size:
        raise InvalidProof(f"leaf index {index} is not in a tree of size {size}")
    _check_proof(proof, inclusion_proof_size(index, size), f"inclusion proof for leaf {index} of {size}")
    # 2. Set fn to leaf_index and sn to tree_size - 1.
    fn, sn = index, size - 1
    # 3. Set r to hash.
    r = bytes(leaf_hash)
    # 4. For each value p in the inclusion_path array:
    for p in proof:
        # 4a. If sn is 0, then stop the iteration and fail the proof verification.
        if sn == 0:
            raise InvalidProof("inclusion proof is longer than the tree is high")
        # 4b. If LSB(fn) is set, or if fn is equal to sn, then:
        if fn & 1 or fn == sn:
            # 4b.i. Set r to HASH(0x01 || p || r).
            r = node_hash(bytes(p), r)
            # 4b.ii. If LSB(fn) is not set, right-shift fn and sn equally
            # until either LSB(fn) is set or fn is 0.
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            # 4b. Otherwise: set r to HASH(0x01 || r || p).
            r = node_hash(r, bytes(p))
        # 4c. Finally, right-shift both fn and sn one time.
        fn >>= 1
        sn >>= 1
    # 5 (first half). Compare sn to 0.
    if sn != 0:
        raise InvalidProof("inclusion proof is shorter than the tree is high")
    return r


def verify_inclusion(leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> None:
    """Verify that ``leaf_hash`` is leaf ``index`` of the tree ``(size, root)`` (RFC 9162 s2.1.3.2).

    ``leaf_hash`` is MTH({d}) = HASH(0x00 || d), not the entry itself.
    """
    _check_hash("root", root)
    calculated = root_from_inclusion_proof(leaf_hash, index, size, proof)
    # 5. If sn is 0 (checked above) and r equals root_hash, inclusion is proven.
    if calculated != bytes(root):
        raise RootMismatch(bytes(root), calculated, f"inclusion proof for leaf {index} of {size} does not match the root")


def verify_consistency(size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes) -> None:
    """Verify that tree ``(size2, root2)`` extends tree ``(size1, root1)`` (RFC 9162 s2.1.4.2).

    RFC 9162 defines the algorithm for ``0 < first < second``; the guards:

    - ``size1 == 0`` is rejected: every tree extends the empty one, so such a
      "proof" says nothing and a caller treating it as evidence is confused;
    - ``size1 == size2`` needs the empty proof and equal roots;
    - ``size1 > size2`` is rejected (a rollback, if both are checkpoints).
    """
    _check_int("size1", size1)
    _check_int("size2", size2)
    _check_hash("root1", root1)
    _check_hash("root2", root2)
    root1, root2 = bytes(root1), bytes(root2)
    if size1 == 0:
        raise InvalidProof("a consistency proof from the empty tree (size 0) proves nothing")
    if size1 > size2:
        raise InvalidProof(f"size1 {size1} is greater than size2 {size2}")
    if size1 == size2:
        _check_proof(proof, 0, f"consistency proof between equal sizes {size1}")
        if root1 != root2:
            raise RootMismatch(root1, root2, f"two different roots for the same size {size1}")
        return
    _check_proof(proof, consistency_proof_size(size1, size2), f"consistency proof from {size1} to {size2}")
    path = [bytes(p) for p in proof]
    # 1. If consistency_path is an empty array, stop and fail the proof verification.
    if not path:
        raise InvalidProof("consistency proof is empty")
    # 2. If first is an exact power of 2, then prepend first_hash to the consistency_path array.
    if size1 & (size1 - 1) == 0:
        path.insert(0, root1)
    # 3. Set fn to first - 1 and sn to second - 1.
    fn, sn = size1 - 1, size2 - 1
    # 4. If LSB(fn) is set, then right-shift both fn and sn equally until LSB(fn) is not set.
    while fn & 1:
        fn >>= 1
        sn >>= 1
    # 5. Set both fr and sr to the first value in the consistency_path array.
    fr = sr = path[0]
    # 6. For each subsequent value c in the consistency_path array:
    for c in path[1:]:
        # 6a. If sn is 0, then stop the iteration and fail the proof verification.
        if sn == 0:
            raise InvalidProof("consistency proof is longer than the tree is high")
        # 6b. If LSB(fn) is set, or if fn is equal to sn, then:
        if fn & 1 or fn == sn:
            # 6b.i. Set fr to HASH(0x01 || c || fr).
            fr = node_hash(c, fr)
            # 6b.ii. Set sr to HASH(0x01 || c || sr).
            sr = node_hash(c, sr)
            # 6b.iii. If LSB(fn) is not set, right-shift fn and sn equally
            # until either LSB(fn) is set or fn is 0.
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            # 6b. Otherwise: set sr to HASH(0x01 || sr || c).
            sr = node_hash(sr, c)
        # 6c. Finally, right-shift both fn and sn one time.
        fn >>= 1
        sn >>= 1
    # 7. Verify that fr equals first_hash, sr equals second_hash, and sn is 0.
    if sn != 0:
        raise InvalidProof("consistency proof is shorter than the tree is high")
    if fr != root1:
        raise RootMismatch(root1, fr, f"consistency proof from {size1} to {size2} does not match the old root")
    if sr != root2:
        raise RootMismatch(root2, sr, f"consistency proof from {size1} to {size2} does not match the new root")
