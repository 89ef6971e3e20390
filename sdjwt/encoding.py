"""Strict base64url and JSON handling shared by every part of the format.

Both ends of an exchange must compute digests over the same bytes, so encoding
lives here once. Parsing is strict on purpose: base64url without padding and
with no stray characters (RFC 7515 section 2), JSON objects without duplicate
member names (RFC 8259 section 4 leaves them undefined; RFC 9901 section 7.1
requires rejecting them in disclosures), and bounded nesting depth.
"""

from __future__ import annotations

import binascii
import json
import re
from dataclasses import dataclass
from typing import Any, NewType

from .errors import LimitExceeded, MalformedSDJWT

__all__ = [
    "B64Url",
    "Limits",
    "DEFAULT_LIMITS",
    "b64url_encode",
    "b64url_decode",
    "json_dumps",
    "json_loads",
    "check_depth",
]

B64Url = NewType("B64Url", str)

_PADDING = (b"", b"", b"==", b"=")
_STANDARD_TO_URLSAFE = bytes.maketrans(b"+/", b"-_")
_URLSAFE_TO_STANDARD = bytes.maketrans(b"-_", b"+/")


@dataclass(frozen=True)
class Limits:
    """Input limits applied before any cryptography runs.

    The defaults fit every credential civicid issues with a wide margin while
    keeping a single hostile request cheap to refuse.
    """

    max_length: int = 64 * 1024
    max_disclosures: int = 256
    max_depth: int = 16


DEFAULT_LIMITS = Limits()


def b64url_encode(data: bytes) -> B64Url:
    """Base64url without padding (RFC 7515 section 2)."""
    return B64Url(binascii.b2a_base64(data, newline=False).rstrip(b"=").translate(_STANDARD_TO_URLSAFE).decode("ascii"))


def b64url_decode(text: str, what: str = "value") -> bytes:
    """Decode unpadded base64url, refusing padding and characters outside the alphabet."""
    if text.__class__ is not str and not isinstance(text, str):
        raise MalformedSDJWT(f"{what} must be a base64url string")
    # binascii's strict mode refuses anything outside the standard alphabet; refusing the three
    # characters that only the standard alphabet has makes it exactly the base64url alphabet.
    # A non-ASCII character fails the ASCII encode below, a ValueError.
    rest = len(text) & 3
    if rest == 1 or "+" in text or "/" in text or "=" in text:
        raise MalformedSDJWT(f"{what} is not valid unpadded base64url; re-encode it without '=' padding")
    try:
        data = _a2b_base64(text.encode("ascii").translate(_URLSAFE_TO_STANDARD) + _PADDING[rest], strict_mode=True)
    except (binascii.Error, ValueError) as exc:
        raise MalformedSDJWT(f"{what} is not valid unpadded base64url; re-encode it without '=' padding") from exc
    # RFC 4648 section 3.5: the unused bits of the last character must be zero, so each byte
    # string has exactly one spelling (otherwise "Zh" would decode to the same b"f" as "Zg").
    # Every signature, digest and disclosure therefore has one spelling only.
    if rest and _ALPHABET_INDEX[text[-1]] & _UNUSED_BITS[rest]:
        raise MalformedSDJWT(f"{what} is not valid unpadded base64url; re-encode it without '=' padding")
    return data


_a2b_base64 = binascii.a2b_base64
_ALPHABET_INDEX = {c: i for i, c in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")}
# Indexed by len(text) % 4: two trailing characters carry 8 bits (4 unused), three carry 16 (2 unused).
_UNUSED_BITS = (0, 0, 0b1111, 0b11)


def json_dumps(value: Any) -> str:
    """Compact JSON with non-ASCII kept as UTF-8, as the RFC 9901 examples do."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise MalformedSDJWT("JSON object has a duplicate member name; each name may appear once")
    return result


def _refuse_constant(name: str) -> Any:
    raise MalformedSDJWT(f"JSON contains {name}, which is not valid JSON")


_DECODER = json.JSONDecoder(object_pairs_hook=_no_duplicates, parse_constant=_refuse_constant)


def json_loads(data: str | bytes, what: str = "JSON", max_depth: int = DEFAULT_LIMITS.max_depth) -> Any:
    """Parse JSON strictly: UTF-8, no duplicate names, no NaN/Infinity, bounded depth."""
    try:
        if isinstance(data, bytes):
            data = data.decode("utf-8")
        elif not data.isascii():
            data.encode("utf-8")  # Refuses a str holding a lone surrogate character.
        # The decoder's own scanner, called directly: JSONDecoder.decode adds two regex
        # matches for surrounding whitespace. A text that does not start with a value or
        # does not end with it takes the full decode below, which also words the error.
        try:
            value, end = _SCAN(data, 0)
        except StopIteration:
            end = -1
        if end != len(data):
            value = _DECODER.decode(data)
    except MalformedSDJWT as exc:
        raise MalformedSDJWT(f"{what}: {exc.message}") from exc
    except RecursionError as exc:
        raise LimitExceeded(f"{what} nests deeper than {max_depth} levels") from exc
    except (UnicodeDecodeError, ValueError) as exc:
        raise MalformedSDJWT(f"{what} is not valid UTF-8 JSON") from exc
    # Fast path: a text with fewer brackets than the limit cannot nest deeper than it.
    if data.count("{") + data.count("[") > max_depth:
        check_depth(value, max_depth, what)
    # A \uD800-\uDFFF escape may be half of a pair; only then walk the strings to look for a lone one.
    # A backslash is looked for first: a one-character search is several times faster.
    if "\\" in data and "\\u" in data and _SURROGATE_ESCAPE.search(data):
        _refuse_lone_surrogates(value, what)
    return value


_SCAN = _DECODER.scan_once  # type: ignore[attr-defined]


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89abcdefABCDEF]")


def _refuse_lone_surrogates(value: Any, what: str) -> None:
    """Refuse strings holding a lone surrogate, which no UTF-8 encoder can write back.

    ``"\\ud800"`` is valid JSON syntax whose meaning RFC 8259 section 8.2 leaves
    unpredictable; accepted, it would turn a later re-encode (a digest, a log line)
    into an uncaught ``UnicodeEncodeError``.
    """
    stack: list[Any] = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            strings: Any = item.keys()
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
            continue
        elif isinstance(item, str):
            strings = (item,)
        else:
            continue
        for text in strings:
            if not text.isascii():
                try:
                    text.encode("utf-8")
                except UnicodeEncodeError as exc:
                    raise MalformedSDJWT(f"{what} contains an unpaired surrogate escape; it is not valid UTF-8 text") from exc


def check_depth(value: Any, max_depth: int, what: str = "JSON") -> None:
    """Raise :class:`LimitExceeded` when containers nest deeper than ``max_depth``."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > max_depth:
            raise LimitExceeded(f"{what} nests deeper than {max_depth} levels")
        for child in children:
            if isinstance(child, (dict, list)):
                stack.append((child, depth + 1))


# The presentation's parts are decoded on the verifier's hot path, where call overhead and
# the error-message f-strings cost as much as the work. These two functions inline the
# common case, then hand anything else (and every error) to b64url_decode/json_loads,
# which apply the same rules, raise the same errors, and name the part `what + suffix`.


def _decode_part(encoded: str, what: str, suffix: str) -> bytes:
    """``b64url_decode(encoded, what + suffix)``."""
    try:
        rest = len(encoded) & 3
        if not (rest == 1 or "+" in encoded or "/" in encoded or "=" in encoded):
            data = _a2b_base64(encoded.encode("ascii").translate(_URLSAFE_TO_STANDARD) + _PADDING[rest], strict_mode=True)
            if not (rest and _ALPHABET_INDEX[encoded[-1]] & _UNUSED_BITS[rest]):
                return data
    except (TypeError, ValueError, KeyError):
        pass
    return b64url_decode(encoded, what + suffix)


def _decode_json_part(encoded: str, what: str, suffix: str, max_depth: int) -> Any:
    """``json_loads(b64url_decode(encoded, what + suffix), what + suffix, max_depth)``."""
    try:
        rest = len(encoded) & 3
        if not (rest == 1 or "+" in encoded or "/" in encoded or "=" in encoded):
            data = _a2b_base64(encoded.encode("ascii").translate(_URLSAFE_TO_STANDARD) + _PADDING[rest], strict_mode=True)
            if not (rest and _ALPHABET_INDEX[encoded[-1]] & _UNUSED_BITS[rest]):
                text = data.decode("utf-8")
                value, end = _SCAN(text, 0)
                # Without a backslash there is no escape, so no lone surrogate to look for.
                if end == len(text) and "\\" not in text and text.count("{") + text.count("[") <= max_depth:
                    return value
    except (TypeError, ValueError, KeyError, StopIteration, RecursionError, MalformedSDJWT):
        pass
    name = what + suffix
    return json_loads(b64url_decode(encoded, name), name, max_depth)
