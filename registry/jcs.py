"""RFC 8785 JSON Canonicalization Scheme (JCS), at C speed for the values ledger entries hold.

Every leaf of the log is the JCS form of its entry, and the ledger checks that
form, signs over it and hashes it (the SCID) for every submitted entry, so
canonicalisation is on the write path's critical line. The ``rfc8785`` package
is exact but pure Python; this module gets the same bytes from the standard
library's C JSON encoder wherever the two provably agree, and hands everything
else to ``rfc8785``, which stays the reference.

Where they agree (the *plain* values: what our strict parser yields for an
entry with no floats):

* ``dict`` with ``str`` keys, ``list``, ``str``, ``bool``, ``None`` and ``int``
  within the I-JSON safe range ``[-(2**53 - 1), 2**53 - 1]`` (exact types, no
  subclasses), nested at most :data:`MAX_DEPTH` deep;
* no object member name holds a character outside the Basic Multilingual Plane.

Why ``json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"),
allow_nan=False)`` then equals JCS, clause by clause:

* RFC 8785 s3.2.2.1: ``null``, ``true`` and ``false`` are the literals
  ``json`` writes.
* s3.2.2.3: an integer of magnitude below 2**53 is a double whose ECMAScript
  ``Number.prototype.toString`` is its plain decimal digits (no exponent below
  1e21, no ``.0``), which is ``int.__repr__``. Floats are never plain: Python's
  ``repr`` differs from ECMAScript's for exponents (``1e+16``, ``1e-07``).
* s3.2.2.2: JCS escapes exactly ``"``, ``\\`` and U+0000..U+001F, using
  ``\\b \\t \\n \\f \\r`` where they exist and ``\\u00xx`` (lowercase hex)
  otherwise, and writes every other code point as UTF-8 (U+007F, U+2028 and
  U+2029 included). The C encoder with ``ensure_ascii=False`` applies the same
  rule; ``tests/registry/test_jcs.py`` checks all 1,112,064 scalar values.
  A lone surrogate cannot be encoded as UTF-8; ``rfc8785`` then decides.
* s3.2.3: members are sorted by the UTF-16 code units of their names. For
  names inside the BMP the code units are the code points, so UTF-16 order is
  Python's ``str`` order; a name with a supplementary character (a surrogate
  pair, 0xD800-0xDBFF, sorts below U+E000..U+FFFF in UTF-16 but above them by
  code point) is the one case where they differ, so it is not plain.
* s3.2.1: no whitespace between tokens.

``tests/registry/test_jcs.py`` checks the equivalence against ``rfc8785`` with
Hypothesis over the whole value space (plain or not).
"""

from __future__ import annotations

import json
from typing import Any

import rfc8785

__all__ = ["MAX_DEPTH", "CanonicalizationError", "dumps", "dumps_plain"]

MAX_DEPTH = 64
"""Deeper values take the reference path (which also meets a circular value with its own error)."""

CanonicalizationError = rfc8785.CanonicalizationError

_INT_MIN = -(2**53) + 1
_INT_MAX = 2**53 - 1
_BMP_MAX = "\uffff"

_encode = json.JSONEncoder(
    ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False, check_circular=False
).encode


def _is_plain(value: Any) -> bool:
    """Whether ``value`` lies in the domain where the C encoder's output is JCS (module docstring).

    Breadth-first, one nesting level per round, so a circular value stops at
    :data:`MAX_DEPTH` instead of looping.
    """
    level = [value]
    for _ in range(MAX_DEPTH):
        below: list[Any] = []
        for item in level:
            kind = type(item)
            if kind is str or kind is bool or item is None:
                continue
            if kind is int:
                if not _INT_MIN <= item <= _INT_MAX:
                    return False
            elif kind is dict:
                for name in item:
                    if type(name) is not str or (not name.isascii() and max(name) > _BMP_MAX):
                        return False
                below.extend(item.values())
            elif kind is list:
                below.extend(item)
            else:
                return False
        if not below:
            return True
        level = below
    return False


def dumps_plain(value: Any) -> bytes | None:
    """JCS bytes of a plain ``value`` from the C encoder, or None when ``value`` is not plain."""
    if not _is_plain(value):
        return None
    try:
        return _encode(value).encode("utf-8")
    except UnicodeEncodeError:
        return None  # A lone surrogate: let the reference implementation word the refusal.


def dumps(value: Any) -> bytes:
    """RFC 8785 bytes of ``value``: the C encoder for plain values, ``rfc8785.dumps`` for the rest.

    Raises what ``rfc8785.dumps`` raises for values JCS cannot represent
    (:class:`CanonicalizationError`, or ``ValueError``/``RecursionError``).
    """
    data = dumps_plain(value)
    return data if data is not None else rfc8785.dumps(value)
