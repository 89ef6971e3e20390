"""Strict base64url and JSON parsing (RFC 7515 section 2, RFC 8259, RFC 9901 section 7.1)."""

from __future__ import annotations

import pytest

from sdjwt import LimitExceeded, MalformedSDJWT
from sdjwt.encoding import b64url_decode, b64url_encode, check_depth, json_dumps, json_loads


@pytest.mark.parametrize(
    ("data", "text"),
    [(b"", ""), (b"f", "Zg"), (b"fo", "Zm8"), (b"foo", "Zm9v"), (b"\xfb\xff", "-_8"), (bytes(range(256)), None)],
)
def test_b64url_round_trip_without_padding(data: bytes, text: str | None) -> None:
    encoded = b64url_encode(data)
    assert "=" not in encoded and "+" not in encoded and "/" not in encoded
    if text is not None:
        assert encoded == text
    assert b64url_decode(encoded) == data


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("Zg==", "padding"),
        ("Zm8=", "padding"),
        ("+_8", "standard alphabet '+'"),
        ("-/8", "standard alphabet '/'"),
        ("Zm 9v", "inner space"),
        ("Zm9v\n", "trailing newline"),
        (" Zm9v", "leading space"),
        ("Zm9vY", "length 1 mod 4"),
        ("Zm9v.", "a dot"),
        ("Zé", "non-ASCII"),
    ],
)
def test_b64url_decode_is_strict(text: str, why: str) -> None:
    with pytest.raises(MalformedSDJWT, match="not valid unpadded base64url"):
        b64url_decode(text, "value")


def test_b64url_decode_refuses_non_canonical_trailing_bits() -> None:
    # "Zh" has non-zero bits after the one encoded byte; strict decoding must not accept it as "f".
    with pytest.raises(MalformedSDJWT, match="not valid unpadded base64url"):
        b64url_decode("Zh")


def test_b64url_decode_refuses_non_strings() -> None:
    with pytest.raises(MalformedSDJWT, match="disclosure must be a base64url string"):
        b64url_decode(b"Zm9v", "disclosure")  # type: ignore[arg-type]


def test_json_dumps_is_compact_and_keeps_utf8() -> None:
    assert json_dumps({"a": [1, "Möbius"]}) == '{"a":[1,"Möbius"]}'


def test_json_loads_accepts_strict_json() -> None:
    assert json_loads(b'{"a": [1, 2.5, "x", null, true]}') == {"a": [1, 2.5, "x", None, True]}


def test_duplicate_member_names_are_refused() -> None:
    with pytest.raises(MalformedSDJWT, match="disclosure: JSON object has a duplicate member name"):
        json_loads('{"a": 1, "a": 2}', "disclosure")
    with pytest.raises(MalformedSDJWT, match="duplicate member name"):
        json_loads('[{"b": {"c": 1, "c": 1}}]')


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_refused(constant: str) -> None:
    with pytest.raises(MalformedSDJWT, match=f"JSON contains {constant}, which is not valid JSON"):
        json_loads(f'{{"a": {constant}}}')


def test_invalid_utf8_is_refused() -> None:
    with pytest.raises(MalformedSDJWT, match="payload is not valid UTF-8 JSON"):
        json_loads(b'{"a": "\xff"}', "payload")


@pytest.mark.parametrize("doc", ['{"a": "\\ud800"}', '{"\\udc00": 1}', '["x", ["\\uDFFF"]]', '"\\ud83d"'])
def test_lone_surrogate_escape_is_refused(doc: str) -> None:
    # Valid JSON syntax, but no UTF-8 encoder can write it back: a later digest or log line would crash.
    with pytest.raises(MalformedSDJWT, match="claims contains an unpaired surrogate escape"):
        json_loads(doc, "claims")


def test_lone_surrogate_character_in_a_str_is_refused() -> None:
    with pytest.raises(MalformedSDJWT, match="claims is not valid UTF-8 JSON"):
        json_loads('{"a": "\ud800"}', "claims")


def test_paired_surrogate_escape_and_escaped_backslash_are_accepted() -> None:
    assert json_loads('{"a": "\\ud83d\\ude00"}') == {"a": "\U0001f600"}
    assert json_loads('{"a": "\\\\ud800"}') == {"a": "\\ud800"}


def test_syntax_errors_are_malformed() -> None:
    with pytest.raises(MalformedSDJWT, match="header is not valid UTF-8 JSON"):
        json_loads("{'a': 1}", "header")


def test_depth_limit() -> None:
    assert json_loads("[" * 16 + "]" * 16, max_depth=16) == eval("[" * 16 + "]" * 16)
    with pytest.raises(LimitExceeded, match="JSON nests deeper than 16 levels"):
        json_loads("[" * 17 + "]" * 17, max_depth=16)
    with pytest.raises(LimitExceeded, match="nests deeper than 3 levels"):
        json_loads('{"a": {"b": {"c": {}}}}', max_depth=3)


def test_very_deep_input_is_a_limit_error_not_a_crash() -> None:
    with pytest.raises(LimitExceeded, match="nests deeper than 16 levels"):
        json_loads("[" * 100_000 + "]" * 100_000)


def test_check_depth_counts_scalars_as_no_level() -> None:
    check_depth({"a": [1, 2, {"b": "c"}]}, 3)
    with pytest.raises(LimitExceeded, match="value nests deeper than 2 levels"):
        check_depth({"a": [1, 2, {"b": "c"}]}, 2, "value")
