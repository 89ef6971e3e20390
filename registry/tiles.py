"""C2SP tlog-tiles: tile paths, tile contents and entry bundles (c2sp.org/tlog-tiles).

A tile at tile-level ``L`` holds up to 256 consecutive complete-subtree hashes
from Merkle level ``8 * L``; a full tile is 8,192 bytes. Tiles are immutable
once full, so storage and HTTP caches can keep them forever, and a
:class:`TileHashReader` turns them back into a :class:`~registry.merkle.HashReader`
so proofs can be computed from tiles alone.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from .errors import MalformedInput
from .merkle import HASH_SIZE, HashReader, NodeID, node_hash

__all__ = [
    "TILE_HEIGHT",
    "TILE_WIDTH",
    "MAX_ENTRY_SIZE",
    "ENTRIES_LEVEL",
    "TileID",
    "encode_index",
    "decode_index",
    "tile_path",
    "entries_path",
    "tiles_for_size",
    "new_tiles",
    "tile_contents",
    "TileHashReader",
    "encode_entry_bundle",
    "decode_entry_bundle",
]

#: Merkle levels per tile level: a tile is a subtree of height 8 (c2sp.org/tlog-tiles, "Merkle Tree").
TILE_HEIGHT = 8
#: Hashes in a full tile.
TILE_WIDTH = 1 << TILE_HEIGHT
#: Entries in a bundle are uint16 length-prefixed, so at most 65,535 bytes each.
MAX_ENTRY_SIZE = 0xFFFF
#: The pseudo-level of entry bundles in :class:`TileID` (paths ``tile/entries/...``).
ENTRIES_LEVEL = -1

_MAX_TILE_LEVEL = 63
_ELEMENT = re.compile(r"[0-9]{3}")


def encode_index(n: int) -> str:
    """Index as zero-padded 3-digit path elements, all but the last prefixed 'x'.

    c2sp.org/tlog-tiles, "Merkle Tree": 1234067 is ``x001/x234/067``.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"a tile index is a non-negative int, got {n!r}")
    groups = []
    while True:
        n, rem = divmod(n, 1000)
        groups.append(f"{rem:03d}")
        if n == 0:
            break
    groups.reverse()
    return "/".join([f"x{g}" for g in groups[:-1]] + [groups[-1]])


def decode_index(elements: Sequence[str]) -> int:
    """Inverse of :func:`encode_index`, strict: the canonical encoding only."""
    if not elements or len(elements) > 7:
        raise MalformedInput("a tile index has 1 to 7 path elements")
    n = 0
    for i, el in enumerate(elements):
        last = i == len(elements) - 1
        digits = el if last else el[1:] if el.startswith("x") else ""
        if not _ELEMENT.fullmatch(digits):
            raise MalformedInput("tile index elements are 'xNNN/.../NNN'")
        n = n * 1000 + int(digits)
    if encode_index(n) != "/".join(elements):
        raise MalformedInput("the tile index is not canonically encoded")
    return n


@dataclass(frozen=True, order=True)
class TileID:
    """A tile (``level >= 0``) or an entry bundle (``level == ENTRIES_LEVEL``).

    ``width`` is 256 for a full tile, 1..255 for a partial one.
    """

    level: int
    index: int
    width: int = TILE_WIDTH

    def __post_init__(self) -> None:
        if not (self.level == ENTRIES_LEVEL or 0 <= self.level <= _MAX_TILE_LEVEL):
            raise ValueError(f"a tile level is 0..63 (or ENTRIES_LEVEL), got {self.level}")
        if self.index < 0 or not 1 <= self.width <= TILE_WIDTH:
            raise ValueError(f"invalid tile index {self.index} or width {self.width}")

    @property
    def is_partial(self) -> bool:
        """Whether fewer than 256 hashes (entries) are present."""
        return self.width < TILE_WIDTH

    @property
    def path(self) -> str:
        """``tile/<L>/<N>[.p/<W>]`` or ``tile/entries/<N>[.p/<W>]`` (no prefix)."""
        if self.level == ENTRIES_LEVEL:
            return entries_path(self.index, self.width)
        return tile_path(self.level, self.index, self.width)

    @property
    def merkle_level(self) -> int:
        """The Merkle level of the hashes in this tile (0 for bundles: their leaves)."""
        return max(self.level, 0) * TILE_HEIGHT

    @property
    def nodes(self) -> tuple[NodeID, ...]:
        """The complete subtrees whose hashes the tile holds, in order."""
        level = self.merkle_level
        first = self.index * TILE_WIDTH
        return tuple(NodeID(level, first + i) for i in range(self.width))

    @classmethod
    def from_path(cls, path: str) -> TileID:
        """Parse a tile or entry-bundle path (without the log prefix), strictly."""
        if not isinstance(path, str) or len(path) > 128:
            raise MalformedInput("a tile path is a short string")
        parts = path.split("/")
        if len(parts) < 3 or parts[0] != "tile":
            raise MalformedInput("a tile path starts with 'tile/<L>/' or 'tile/entries/'")
        width = TILE_WIDTH
        if len(parts) >= 4 and parts[-2].endswith(".p"):
            w = parts[-1]
            if not re.fullmatch(r"[1-9][0-9]{0,2}", w) or int(w) >= TILE_WIDTH:
                raise MalformedInput("a partial tile width is 1..255 with no leading zeroes")
            width = int(w)
            parts = [*parts[:-2], parts[-2][:-2]]
        if parts[1] == "entries":
            level = ENTRIES_LEVEL
        elif re.fullmatch(r"0|[1-9][0-9]?", parts[1]) and int(parts[1]) <= _MAX_TILE_LEVEL:
            level = int(parts[1])
        else:
            raise MalformedInput("a tile level is 0..63 with no leading zeroes")
        return cls(level, decode_index(parts[2:]), width)


def tile_path(level: int, index: int, width: int = TILE_WIDTH) -> str:
    """``tile/<L>/<N>[.p/<W>]`` (c2sp.org/tlog-tiles, "Merkle Tree")."""
    if not 0 <= level <= _MAX_TILE_LEVEL:
        raise ValueError(f"a tile level is 0..63, got {level}")
    suffix = f".p/{width}" if width < TILE_WIDTH else ""
    return f"tile/{level}/{encode_index(index)}{suffix}"


def entries_path(index: int, width: int = TILE_WIDTH) -> str:
    """``tile/entries/<N>[.p/<W>]`` (c2sp.org/tlog-tiles, "Log entries")."""
    suffix = f".p/{width}" if width < TILE_WIDTH else ""
    return f"tile/entries/{encode_index(index)}{suffix}"


def tiles_for_size(size: int) -> Iterator[TileID]:
    """Every tile of a tree of ``size`` leaves, level by level, full then partial.

    The partial tile at level l has ``floor(size / 256**l) mod 256`` hashes
    (c2sp.org/tlog-tiles, "Partial Tiles").
    """
    yield from new_tiles(0, size)


def new_tiles(old_size: int, new_size: int) -> Iterator[TileID]:
    """The tiles to write when the tree grows from ``old_size`` to ``new_size``.

    These are the full tiles completed by the growth and the new partial
    tiles; tiles already full at ``old_size`` are unchanged.
    """
    if not 0 <= old_size <= new_size:
        raise ValueError(f"cannot grow from {old_size} to {new_size}")
    level = 0
    while new_size >> (TILE_HEIGHT * level):
        hashes_new = new_size >> (TILE_HEIGHT * level)
        hashes_old = old_size >> (TILE_HEIGHT * level)
        first = hashes_old // TILE_WIDTH
        full_new = hashes_new // TILE_WIDTH
        for n in range(first, full_new):
            yield TileID(level, n)
        partial = hashes_new % TILE_WIDTH
        if partial and hashes_new != hashes_old:
            yield TileID(level, full_new, partial)
        level += 1


def tile_contents(tile: TileID, reader: HashReader) -> bytes:
    """The concatenated hashes of a Merkle tile (level >= 0), read from ``reader``.

    Hash ``i`` is MTH(D[(n*256 + i) * 256**l : (n*256 + i + 1) * 256**l]), the
    complete subtree ``(8*l, n*256 + i)`` (c2sp.org/tlog-tiles, "Merkle Tree").
    """
    if tile.level == ENTRIES_LEVEL:
        raise ValueError("entry bundles hold entries, not hashes")
    get_range = getattr(reader, "get_range", None)
    if get_range is not None:
        first = tile.index * TILE_WIDTH
        data = get_range(tile.merkle_level, first, first + tile.width)
        assert isinstance(data, bytes)
        return data
    return b"".join(reader.get_node(n.level, n.index) for n in tile.nodes)


class TileHashReader:
    """A :class:`~registry.merkle.HashReader` over the tiles of a tree of known size.

    ``fetch(tile_id)`` returns a tile's bytes (from storage or HTTP); tiles
    are cached per instance. A node inside a tile (Merkle level not a multiple
    of 8) is rebuilt by hashing the tile's hashes below it, at most 128 hashes.
    """

    def __init__(self, size: int, fetch: Callable[[TileID], bytes]) -> None:
        self.size = size
        self._fetch = fetch
        self._cache: dict[TileID, bytes] = {}

    def _tile(self, level: int, index: int) -> bytes:
        hashes_at_level = self.size >> (TILE_HEIGHT * level)
        full = hashes_at_level // TILE_WIDTH
        if index < full:
            width = TILE_WIDTH
        elif index == full and hashes_at_level % TILE_WIDTH:
            width = hashes_at_level % TILE_WIDTH
        else:
            raise IndexError(f"tile {level}/{index} does not exist in a tree of size {self.size}")
        tid = TileID(level, index, width)
        data = self._cache.get(tid)
        if data is None:
            data = self._fetch(tid)
            if len(data) != width * HASH_SIZE:
                raise MalformedInput(f"tile {tid.path} is {len(data)} bytes, expected {width * HASH_SIZE}")
            self._cache[tid] = data
        return data

    def get_node(self, level: int, index: int) -> bytes:
        """Hash of the complete subtree ``(level, index)``, from its tile."""
        if (index + 1) << level > self.size:
            raise IndexError(f"node ({level}, {index}) is not complete in a tree of size {self.size}")
        tile_level, sub = divmod(level, TILE_HEIGHT)
        first = index << sub  # First hash, at Merkle level 8*tile_level, under the node.
        tile = self._tile(tile_level, first // TILE_WIDTH)
        off = first % TILE_WIDTH
        hashes = [tile[i * HASH_SIZE : (i + 1) * HASH_SIZE] for i in range(off, off + (1 << sub))]
        while len(hashes) > 1:
            hashes = [node_hash(hashes[i], hashes[i + 1]) for i in range(0, len(hashes), 2)]
        return hashes[0]


def encode_entry_bundle(entries: Sequence[bytes]) -> bytes:
    """Entries as big-endian uint16 length-prefixed records (c2sp.org/tlog-tiles, "Log entries")."""
    if not 1 <= len(entries) <= TILE_WIDTH:
        raise ValueError(f"a bundle holds 1..256 entries, got {len(entries)}")
    out = bytearray()
    for i, entry in enumerate(entries):
        if len(entry) > MAX_ENTRY_SIZE:
            raise ValueError(f"entry {i} is {len(entry)} bytes, more than {MAX_ENTRY_SIZE}")
        out += len(entry).to_bytes(2, "big") + entry
    return bytes(out)


def decode_entry_bundle(data: bytes, *, width: int | None = None) -> list[bytes]:
    """Split a bundle into entries, strictly; ``width`` (if known) must match the count."""
    entries: list[bytes] = []
    pos = 0
    while pos < len(data):
        if len(entries) == TILE_WIDTH:
            raise MalformedInput("the entry bundle has more than 256 entries")
        if pos + 2 > len(data):
            raise MalformedInput("the entry bundle ends inside a length prefix")
        n = int.from_bytes(data[pos : pos + 2], "big")
        pos += 2
        if pos + n > len(data):
            raise MalformedInput(f"entry {len(entries)} of the bundle is truncated")
        entries.append(bytes(data[pos : pos + n]))
        pos += n
    if not entries:
        raise MalformedInput("the entry bundle is empty")
    if width is not None and len(entries) != width:
        raise MalformedInput(f"the entry bundle has {len(entries)} entries, expected {width}")
    return entries
