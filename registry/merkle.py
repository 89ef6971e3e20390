"""RFC 9162 Merkle tree hashing and proof generation (SHA-256).

Proof generation reads only *complete* subtree hashes, addressed as
``(level, index)``: the perfect subtree of ``2**level`` leaves starting at leaf
``index * 2**level`` (transparency-dev/merkle ``docs/data_model.md``). Those
hashes never change once written, so storage can keep them as immutable tiles
(c2sp.org/tlog-tiles), and every root or proof costs O(log n) reads: a proof is
first *planned* as a list of node IDs (pure arithmetic), then read in one batch.

- :func:`leaf_hash`, :func:`node_hash`: RFC 9162 s2.1.1 with domain separation.
- :class:`CompactRange`: the right frontier of a tree, O(log n) memory, for the
  sequencer to append leaves and compute a root without storage.
- :class:`MemoryNodeStore`: every complete subtree hash, level by level,
  amortised O(1) per appended leaf; for tests and benchmarks.
- :func:`root_hash`, :func:`inclusion_proof`, :func:`consistency_proof`: RFC
  9162 s2.1.1, s2.1.3.1 and s2.1.4.1 over any :class:`HashReader`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

__all__ = [
    "HASH_SIZE",
    "EMPTY_ROOT",
    "leaf_hash",
    "node_hash",
    "NodeID",
    "HashReader",
    "BatchHashReader",
    "CompactRange",
    "MemoryNodeStore",
    "range_nodes",
    "root_plan",
    "inclusion_plan",
    "consistency_plan",
    "read_plan",
    "subtree_hash",
    "root_hash",
    "inclusion_proof",
    "consistency_proof",
]

#: Every hash in the tree is a SHA-256 digest (RFC 9162 s2.1, with SHA-256).
HASH_SIZE = 32

#: MTH({}) = HASH(), the hash of the empty string (RFC 9162 s2.1.1).
EMPTY_ROOT = hashlib.sha256(b"").digest()

_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"


def leaf_hash(data: bytes) -> bytes:
    """MTH({d(0)}) = HASH(0x00 || d(0)) (RFC 9162 s2.1.1).

    The 0x00 prefix keeps a leaf from ever being mistaken for an interior node
    (second-preimage resistance, RFC 9162 s2.1.1 last paragraph).
    """
    return hashlib.sha256(_LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """HASH(0x01 || MTH(left) || MTH(right)) (RFC 9162 s2.1.1)."""
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


@dataclass(frozen=True, order=True, slots=True)
class NodeID:
    """A complete subtree: ``2**level`` leaves starting at ``index * 2**level``."""

    level: int
    index: int

    def __post_init__(self) -> None:
        if self.level < 0 or self.level > 63 or self.index < 0:
            raise ValueError(f"no such node ({self.level}, {self.index})")

    @property
    def begin(self) -> int:
        """First leaf index covered."""
        return self.index << self.level

    @property
    def end(self) -> int:
        """One past the last leaf index covered."""
        return (self.index + 1) << self.level


@runtime_checkable
class HashReader(Protocol):
    """Reads the hash of a complete subtree; storage implements this over tiles.

    ``get_node`` must raise (any exception) rather than invent a hash for a
    subtree that is not complete yet.
    """

    def get_node(self, level: int, index: int) -> bytes:
        """Return MTH of the complete subtree ``(level, index)``."""
        ...


@runtime_checkable
class BatchHashReader(HashReader, Protocol):
    """A :class:`HashReader` that can fetch many nodes in one round trip."""

    def get_nodes(self, ids: Sequence[NodeID]) -> list[bytes]:
        """Return the hashes of ``ids``, in order."""
        ...


def _check_size(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if value < 0 or value >= 1 << 64:
        raise ValueError(f"{name} must be in [0, 2**64), got {value}")


def range_nodes(begin: int, end: int) -> list[NodeID]:
    """Split ``[begin, end)`` into maximal aligned complete subtrees, left to right.

    This is the "compact range" of transparency-dev/merkle ``docs/compact_ranges.md``:
    at most two nodes per level, so O(log n) of them.
    """
    _check_size("begin", begin)
    _check_size("end", end)
    if begin > end:
        raise ValueError(f"begin {begin} > end {end}")
    nodes: list[NodeID] = []
    pos = begin
    while pos < end:
        # The largest aligned power of two that starts at pos and fits before end.
        level = (end - pos).bit_length() - 1
        if pos:
            level = min(level, (pos & -pos).bit_length() - 1)
        nodes.append(NodeID(level, pos >> level))
        pos += 1 << level
    return nodes


#: One proof hash is the right fold of these nodes (a single node when complete).
PlanItem = tuple[NodeID, ...]


def _mth_item(begin: int, end: int) -> PlanItem:
    """The nodes whose right fold is MTH(D[begin:end]) for an RFC-shaped subtree.

    RFC-shaped means ``begin`` is aligned to the largest power of two less than
    ``end - begin`` (every subtree the RFC 9162 recursion visits is).
    """
    return tuple(range_nodes(begin, end))


def _fold(hashes: Sequence[bytes]) -> bytes:
    """Right fold: MTH of an RFC-shaped range from its compact-range nodes."""
    acc = hashes[-1]
    for h in reversed(hashes[:-1]):
        acc = node_hash(h, acc)
    return acc


def _split(n: int) -> int:
    """The largest power of two strictly smaller than ``n`` (RFC 9162 s2.1.1, k)."""
    return 1 << ((n - 1).bit_length() - 1)


def root_plan(size: int) -> list[PlanItem]:
    """Plan for MTH(D[0:size]): one item, or none for the empty tree."""
    _check_size("size", size)
    return [_mth_item(0, size)] if size else []


def inclusion_plan(index: int, size: int) -> list[PlanItem]:
    """Plan for PATH(index, D[0:size]) (RFC 9162 s2.1.3.1), leaf to root order.

    Walks the RFC recursion from the top, so the list is built root-first and
    reversed at the end. At most one item is not a single complete node.
    """
    _check_size("index", index)
    _check_size("size", size)
    if index >= size:
        raise ValueError(f"leaf index {index} is not in a tree of size {size}")
    items: list[PlanItem] = []
    begin, end, m = 0, size, index
    while end - begin > 1:
        k = _split(end - begin)
        if m < k:
            items.append(_mth_item(begin + k, end))
            end = begin + k
        else:
            items.append(_mth_item(begin, begin + k))
            begin, m = begin + k, m - k
    items.reverse()
    return items


def consistency_plan(size1: int, size2: int) -> list[PlanItem]:
    """Plan for PROOF(size1, D[0:size2]) (RFC 9162 s2.1.4.1), in RFC order.

    Raises ``ValueError`` unless ``0 < size1 <= size2``: a proof from the empty
    tree proves nothing, and equal sizes have the empty proof.
    """
    _check_size("size1", size1)
    _check_size("size2", size2)
    if not 0 < size1 <= size2:
        raise ValueError(f"no consistency proof from size {size1} to size {size2}")
    items: list[PlanItem] = []
    # SUBPROOF(m, D[begin:end], b), unrolled; `known` is b.
    begin, end, m, known = 0, size2, size1, True
    while m != end - begin:
        k = _split(end - begin)
        if m <= k:
            items.append(_mth_item(begin + k, end))
            end = begin + k
        else:
            items.append(_mth_item(begin, begin + k))
            begin, m, known = begin + k, m - k, False
    if not known:
        items.append(_mth_item(begin, end))
    items.reverse()
    return items


def read_plan(plan: Sequence[PlanItem], reader: HashReader) -> list[bytes]:
    """Fetch every node of ``plan`` (in one batch if the reader can) and fold each item."""
    ids = [node for item in plan for node in item]
    if isinstance(reader, BatchHashReader):
        hashes = reader.get_nodes(ids)
    else:
        hashes = [reader.get_node(n.level, n.index) for n in ids]
    out: list[bytes] = []
    pos = 0
    for item in plan:
        out.append(_fold(hashes[pos : pos + len(item)]))
        pos += len(item)
    return out


def subtree_hash(begin: int, end: int, reader: HashReader) -> bytes:
    """MTH(D[begin:end]) for an RFC-shaped range (see :func:`_mth_item`)."""
    if begin >= end:
        raise ValueError(f"empty range [{begin}, {end})")
    return read_plan([_mth_item(begin, end)], reader)[0]


def root_hash(size: int, reader: HashReader) -> bytes:
    """MTH(D[0:size]) (RFC 9162 s2.1.1) in at most log2(size)+1 reads."""
    plan = root_plan(size)
    return read_plan(plan, reader)[0] if plan else EMPTY_ROOT


def inclusion_proof(index: int, size: int, reader: HashReader) -> list[bytes]:
    """PATH(index, D[0:size]) (RFC 9162 s2.1.3.1) in O(log size) reads."""
    return read_plan(inclusion_plan(index, size), reader)


def consistency_proof(size1: int, size2: int, reader: HashReader) -> list[bytes]:
    """PROOF(size1, D[0:size2]) (RFC 9162 s2.1.4.1) in O(log size2) reads."""
    return read_plan(consistency_plan(size1, size2), reader)


#: Called with ``(level, index, hash)`` for each complete subtree a range creates.
NodeVisitor = Callable[[int, int, bytes], None]


class CompactRange:
    """The complete subtrees on the right frontier of a tree grown from leaf 0.

    Holds at most one hash per level (one per set bit of ``size``), so a
    sequencer can append leaves and compute MTH in O(log n) memory, then
    resume from storage with :meth:`from_reader`. Appending can report every
    complete subtree it creates to a visitor, which is how tiles get written.
    """

    __slots__ = ("_size", "_hashes")

    def __init__(self) -> None:
        self._size = 0
        # Hashes of the frontier's complete subtrees, largest (leftmost) first.
        self._hashes: list[bytes] = []

    @classmethod
    def from_reader(cls, size: int, reader: HashReader) -> CompactRange:
        """Rebuild the frontier of a tree of ``size`` leaves from stored nodes."""
        _check_size("size", size)
        rng = cls()
        rng._size = size
        rng._hashes = [reader.get_node(n.level, n.index) for n in range_nodes(0, size)]
        return rng

    @property
    def size(self) -> int:
        """Number of leaves appended."""
        return self._size

    @property
    def hashes(self) -> tuple[bytes, ...]:
        """The frontier hashes, leftmost (largest subtree) first."""
        return tuple(self._hashes)

    def append(self, leaf: bytes, visit: NodeVisitor | None = None) -> None:
        """Append a *leaf hash* (not leaf data), merging equal-sized subtrees."""
        if len(leaf) != HASH_SIZE:
            raise ValueError(f"leaf hash must be {HASH_SIZE} bytes, got {len(leaf)}")
        index = self._size
        h = bytes(leaf)
        if visit is not None:
            visit(0, index, h)
        level = 0
        # Each trailing 1 bit of the old size is a complete subtree to merge with.
        while (index >> level) & 1:
            h = node_hash(self._hashes.pop(), h)
            level += 1
            if visit is not None:
                visit(level, index >> level, h)
        self._hashes.append(h)
        self._size += 1

    def extend(self, leaves: Iterable[bytes], visit: NodeVisitor | None = None) -> None:
        """Append many leaf hashes."""
        for leaf in leaves:
            self.append(leaf, visit)

    def root(self) -> bytes:
        """MTH of the whole tree so far (RFC 9162 s2.1.1): right fold of the frontier."""
        return _fold(self._hashes) if self._hashes else EMPTY_ROOT


class MemoryNodeStore:
    """Every complete subtree hash of one tree, in memory, level by level.

    Level ``l`` is one ``bytearray`` of concatenated 32-byte hashes, so a
    million leaves take about 64 MB and a tile is a slice. Appending a leaf
    writes it and every subtree it completes: amortised O(1) hashes per leaf.
    """

    __slots__ = ("_levels", "_size")

    def __init__(self) -> None:
        self._levels: list[bytearray] = [bytearray()]
        self._size = 0

    @property
    def size(self) -> int:
        """Number of leaves."""
        return self._size

    def append(self, leaf: bytes) -> int:
        """Append a *leaf hash*; return its index."""
        if len(leaf) != HASH_SIZE:
            raise ValueError(f"leaf hash must be {HASH_SIZE} bytes, got {len(leaf)}")
        index = self._size
        levels = self._levels
        levels[0] += leaf
        level = 0
        count = index + 1
        # While this level now has an even number of nodes, the last two merge.
        while count % 2 == 0:
            row = levels[level]
            h = node_hash(bytes(row[-64:-32]), bytes(row[-32:]))
            level += 1
            count //= 2
            if level == len(levels):
                levels.append(bytearray())
            levels[level] += h
        self._size = index + 1
        return index

    def extend(self, leaves: Iterable[bytes]) -> None:
        """Append many leaf hashes."""
        for leaf in leaves:
            self.append(leaf)

    def level_width(self, level: int) -> int:
        """How many complete subtrees exist at ``level``."""
        return self._size >> level

    def get_node(self, level: int, index: int) -> bytes:
        """Hash of the complete subtree ``(level, index)``; ``IndexError`` if not complete."""
        if level < 0 or index < 0 or level >= len(self._levels) or index >= self._size >> level:
            raise IndexError(f"node ({level}, {index}) is not complete in a tree of size {self._size}")
        off = index * HASH_SIZE
        return bytes(self._levels[level][off : off + HASH_SIZE])

    def get_nodes(self, ids: Sequence[NodeID]) -> list[bytes]:
        """Batch form of :meth:`get_node`."""
        return [self.get_node(n.level, n.index) for n in ids]

    def get_range(self, level: int, begin: int, end: int) -> bytes:
        """Concatenated hashes of nodes ``begin..end-1`` at ``level`` (a tile's contents)."""
        if level < 0 or begin < 0 or begin > end or end > self.level_width(level):
            raise IndexError(f"nodes [{begin}, {end}) at level {level} are not all complete")
        if begin == end:
            return b""
        return bytes(self._levels[level][begin * HASH_SIZE : end * HASH_SIZE])

    def root(self) -> bytes:
        """MTH of the whole tree (RFC 9162 s2.1.1)."""
        return root_hash(self._size, self)
