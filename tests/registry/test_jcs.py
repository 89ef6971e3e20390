"""The fast RFC 8785 canonicaliser against the ``rfc8785`` reference, and the checks built on it.

``registry.jcs`` takes the C JSON encoder's output as JCS for *plain* values
(its module docstring gives the argument clause by clause); these tests check
the argument: every Unicode scalar value as string content, and Hypothesis over
the whole value space (plain or not, floats, huge integers, supplementary-plane
member names, lone surrogates), against ``rfc8785.dumps``. They also check the
two shortcuts that read canonical bytes instead of canonicalising again: the
signing input cut out of an entry's bytes, and the SCID check on the JCS text.
"""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
import rfc8785
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from registry import errors, jcs
from registry.checkpoint import Ed25519Signer
from registry.did import KeySpec, Service, create_op, key_hash, verify_scid
from registry.entry import ENTRY_DOMAIN, Entry, canonical, sign_entry
from registry.ledger import Ledger, Receipt
from registry.storage import Database, LogStore
from sdjwt import Ed25519PrivateKey
from sdjwt.did_key import multibase_from_key

SAFE = 2**53 - 1
TIME = 1_800_000_000
# CIVICID_JCS_EXAMPLES=20 multiplies the Hypothesis examples for a long equivalence run.
SCALE = int(os.environ.get("CIVICID_JCS_EXAMPLES", "1"))


def _reference(value: Any) -> bytes | type[BaseException]:
    """``rfc8785.dumps(value)``, or the class of what it raises."""
    try:
        return rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, ValueError, TypeError, RecursionError) as exc:
        return type(exc)


def _fast(value: Any) -> bytes | type[BaseException]:
    try:
        return jcs.dumps(value)
    except (rfc8785.CanonicalizationError, ValueError, TypeError, RecursionError) as exc:
        return type(exc)


# Strings: every scalar value, and the code points the RFC singles out ------------------------


def test_every_unicode_scalar_value_is_escaped_as_jcs_escapes_it() -> None:
    """RFC 8785 s3.2.2.2 for all 1,112,064 scalar values, as content and as a BMP member name."""
    scalars = [chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
    text = "".join(scalars)
    assert jcs.dumps_plain(text) == rfc8785.dumps(text)
    assert jcs.dumps_plain(scalars) == rfc8785.dumps(scalars)
    bmp_names = {c: 0 for c in scalars if ord(c) <= 0xFFFF}
    assert jcs.dumps_plain(bmp_names) == rfc8785.dumps(bmp_names)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("\x7f", '"\x7f"'),  # DEL is not a control character in JSON: written as is.
        ("\u2028\u2029", '"\u2028\u2029"'),  # Line/paragraph separators: written as is.
        ("\b\t\n\f\r", '"\\b\\t\\n\\f\\r"'),  # The five short escapes.
        ("\x00\x0b\x1f", '"\\u0000\\u000b\\u001f"'),  # Other controls: \u00xx, lowercase hex.
        ('"\\/', '"\\"\\\\/"'),  # Solidus is not escaped.
        ("\U0001f600é", '"\U0001f600é"'),  # Non-ASCII as UTF-8, never \u escapes.
    ],
)
def test_string_escapes_match_rfc8785(text: str, expected: str) -> None:
    assert jcs.dumps_plain(text) == expected.encode("utf-8") == rfc8785.dumps(text)


# Numbers and names: the edges of the plain domain -----------------------------------------------


@pytest.mark.parametrize("number", [0, 1, -1, SAFE, -SAFE, 10**15, -(10**15)])
def test_safe_integers_are_plain_decimal(number: int) -> None:
    assert jcs.dumps_plain(number) == str(number).encode() == rfc8785.dumps(number)


@pytest.mark.parametrize("number", [SAFE + 1, -SAFE - 1, 2**64, -(2**64)])
def test_unsafe_integers_are_refused_as_rfc8785_refuses_them(number: int) -> None:
    assert jcs.dumps_plain(number) is None
    with pytest.raises(rfc8785.IntegerDomainError):
        jcs.dumps(number)
    with pytest.raises(errors.InvalidEntry, match="cannot represent"):
        canonical({"n": number})


@pytest.mark.parametrize("number", [1.0, 0.5, 1e16, 1e21, 1e-7, -0.0, 5e-324, 1.7976931348623157e308])
def test_floats_take_the_reference_path(number: float) -> None:
    # Python's repr ("1e+16", "1e-07") is not ECMAScript's ("10000000000000000", "1e-7").
    assert jcs.dumps_plain(number) is None
    assert jcs.dumps({"x": [number]}) == rfc8785.dumps({"x": [number]})


@pytest.mark.parametrize("number", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_floats_are_refused(number: float) -> None:
    with pytest.raises(rfc8785.CanonicalizationError):
        jcs.dumps([number])


def test_supplementary_plane_names_sort_by_utf16_code_units() -> None:
    """RFC 8785 s3.2.3: U+1F600 is the pair D83D DE00, which sorts before U+FB33 (code point order differs)."""
    value = {"\ufb33": 1, "\U0001f600": 2, "a": 3}
    assert jcs.dumps_plain(value) is None
    assert jcs.dumps(value) == rfc8785.dumps(value) == '{"a":3,"\U0001f600":2,"\ufb33":1}'.encode("utf-8")


def test_rfc8785_sorting_example() -> None:
    """RFC 8785 s3.2.3, the sorting example (its float member takes the reference path)."""
    value = {
        "\u20ac": "Euro Sign",
        "\r": "Carriage Return",
        "\ufb33": "Hebrew Letter Dalet With Dagesh",
        "1": "One",
        "\U0001f600": "Emoji: Grinning Face",
        "\u0080": "Control",
        "\u00f6": "Latin Small Letter O With Diaeresis",
    }
    names = [json.loads('"' + line + '"') for line in ("\\r", "1", "\\u0080", "\\u00f6", "\\u20ac", "\\ud83d\\ude00", "\\ufb33")]
    assert list(json.loads(jcs.dumps(value))) == names
    assert jcs.dumps(value) == rfc8785.dumps(value)


@pytest.mark.parametrize(
    "value",
    [
        ("a", 1),  # Tuples: the reference writes them as arrays.
        {1: "x"},  # Non-string names: the reference refuses them (json.dumps would not).
        {"a": True, "b": None, "c": [False]},
        {"\ud800": 1},  # A lone surrogate name.
        ["\udfff"],  # A lone surrogate string.
        [b"bytes"],
        {"k": object()},
    ],
)
def test_values_outside_json_behave_as_in_rfc8785(value: Any) -> None:
    assert _fast(value) == _reference(value)


def test_subclasses_take_the_reference_path() -> None:
    class Name(str):
        pass

    class Number(int):
        pass

    value: Any = {Name("b"): Number(2), "a": [Number(1)]}
    assert jcs.dumps_plain(value) is None
    assert jcs.dumps(value) == rfc8785.dumps(value)


def test_deep_and_circular_values() -> None:
    deep: Any = 0
    for _ in range(jcs.MAX_DEPTH + 5):
        deep = [deep]
    assert jcs.dumps_plain(deep) is None
    assert jcs.dumps(deep) == rfc8785.dumps(deep)
    circular: list[Any] = []
    circular.append(circular)
    assert jcs.dumps_plain(circular) is None
    with pytest.raises(RecursionError):
        jcs.dumps(circular)


# Hypothesis: the whole value space -------------------------------------------------------------

any_char = st.characters(exclude_categories=())  # Includes lone surrogates (category Cs).
names = st.one_of(st.text(max_size=6), st.text(alphabet=any_char, max_size=4), st.sampled_from(["\ufb33", "\U0001f600", "\ue000", "\ud7ff"]))
strings = st.one_of(st.text(max_size=12), st.text(alphabet=any_char, max_size=6), st.text(alphabet=st.characters(max_codepoint=0x3F), max_size=6))
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-SAFE, max_value=SAFE),
    st.integers(),
    st.sampled_from([SAFE, -SAFE, SAFE + 1, -SAFE - 1]),
    st.floats(allow_nan=False, allow_infinity=False),
    strings,
)
values = st.recursive(
    scalars,
    lambda children: st.one_of(st.lists(children, max_size=5), st.dictionaries(names, children, max_size=5)),
    max_leaves=40,
)
plain_scalars = st.one_of(st.none(), st.booleans(), st.integers(min_value=-SAFE, max_value=SAFE), st.text(max_size=12))
plain_names = st.text(alphabet=st.characters(max_codepoint=0xFFFF, exclude_categories=["Cs"]), max_size=6)
plain_values = st.recursive(
    plain_scalars,
    lambda children: st.one_of(st.lists(children, max_size=5), st.dictionaries(plain_names, children, max_size=5)),
    max_leaves=40,
)


@settings(max_examples=1500 * SCALE, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values)
def test_dumps_equals_rfc8785_on_any_value(value: Any) -> None:
    assert _fast(value) == _reference(value)


@settings(max_examples=800 * SCALE, deadline=None)
@given(plain_values)
def test_plain_values_take_the_c_encoder_and_equal_rfc8785(value: Any) -> None:
    fast = jcs.dumps_plain(value)
    assert fast is not None
    assert fast == rfc8785.dumps(value)


@settings(max_examples=500 * SCALE, deadline=None)
@given(values)
def test_canonical_form_check_agrees_with_the_reference(value: Any) -> None:
    """Entry.from_bytes step 4 accepts text iff rfc8785 would have: over many encodings of one value."""
    for text in {
        json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode("utf-8", "surrogatepass"),
        json.dumps(value, separators=(",", ":"), sort_keys=True).encode("utf-8"),
        json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "surrogatepass"),
    }:
        try:
            parsed = json.loads(text)
        except (ValueError, RecursionError):
            continue
        reference = _reference(parsed)
        assert (_fast(parsed) == text) == (reference == text)


# The signing input cut from the entry's bytes -------------------------------------------------


def _spec(n: int) -> KeySpec:
    return KeySpec("key-1", Ed25519PrivateKey(bytes([n]) * 32))


@settings(max_examples=150 * SCALE, deadline=None)
@given(
    body=st.dictionaries(plain_names, plain_values, max_size=4),
    time=st.integers(min_value=0, max_value=SAFE),
    prev=st.one_of(st.none(), st.text(alphabet="0123456789abcdef", min_size=64, max_size=64)),
    kind=st.sampled_from(["vct.publish", "did.update", "accredit.grant", "anchor.issuance"]),
)
def test_signing_input_cut_from_raw_equals_jcs_without_sig(body: Any, time: int, prev: str | None, kind: str) -> None:
    author = "did:civic:Qm" + "a" * 44 + "#key-1"
    entry = sign_entry(kind, body, author, time, prev, _spec(1).private_key)
    unsigned = {"v": 1, "kind": kind, "body": body, "author": author, "time": time, "prev": prev}
    expected = ENTRY_DOMAIN + b"\x00" + rfc8785.dumps(unsigned)
    parsed = Entry.from_bytes(entry.raw)
    assert parsed.signing_input() == expected
    assert parsed.unsigned_jcs() == rfc8785.dumps(unsigned)
    parsed.verify_signature(_spec(1).private_key.public_key())
    # An Entry built without from_bytes has no cut and canonicalises, to the same bytes.
    built = Entry(parsed.kind, parsed.body, parsed.author, parsed.time, parsed.prev, parsed.sig, parsed.raw, parsed.hash)
    assert built.signing_input() == expected


def test_non_canonical_entry_bytes_are_still_refused() -> None:
    entry, _ = create_op([_spec(1)], [Service("s", "Note", "caf\u00e9 \u2028")], [_spec(2).private_key.public_key()], TIME)
    value = json.loads(entry.raw)
    assert Entry.from_bytes(entry.raw).raw == entry.raw == rfc8785.dumps(value)
    for variant in (
        json.dumps(value, separators=(",", ":"), sort_keys=True).encode(),  # \u escapes
        json.dumps(value, ensure_ascii=False, sort_keys=True).encode(),  # whitespace
        json.dumps(dict(reversed(value.items())), ensure_ascii=False, separators=(",", ":")).encode(),  # order
        entry.raw.replace(b'"time":%d' % TIME, b'"time":%d.0' % TIME),  # a float spelling
    ):
        assert variant != entry.raw
        with pytest.raises(errors.InvalidEntry, match="canonical form|Unix seconds"):
            Entry.from_bytes(variant)


# The SCID check on the JCS text ----------------------------------------------------------------


def _reference_verify_scid(unsigned: dict[str, Any], scid: str) -> bool:
    """did:webvh "Verify SCID" literally: replace in the JSON text, parse, JCS with rfc8785, hash."""
    from registry.did import sha256_multihash_b58

    text = json.dumps(unsigned, ensure_ascii=False, separators=(",", ":"))
    if "{SCID}" in text:
        return False
    try:
        preliminary = json.loads(text.replace(scid, "{SCID}"))
    except ValueError:
        return False
    return sha256_multihash_b58(rfc8785.dumps(preliminary)) == scid


def _accepts(unsigned: dict[str, Any], scid: str) -> bool:
    try:
        verify_scid(unsigned, scid)
    except errors.InvalidEntry:
        return False
    return True


@settings(max_examples=200 * SCALE, deadline=None)
@given(
    endpoint=st.one_of(strings.filter(lambda s: "{SCID}" not in s), st.dictionaries(names.filter(lambda s: "{SCID}" not in s), plain_scalars, max_size=3)),
    in_name=st.booleans(),
)
def test_scid_check_on_jcs_text_agrees_with_the_literal_algorithm(endpoint: Any, in_name: bool) -> None:
    # A genesis whose services mention the DID, in a value and (sometimes) in a member name,
    # where the placeholder sorts differently from the SCID it stands for.
    placeholder_endpoint = {"{SCID}": "x", "R": "{SCID}", "other": endpoint} if in_name else ["{SCID}", endpoint]
    try:
        entry, did = create_op([_spec(3)], [Service("s", "Note", placeholder_endpoint)], [_spec(4).private_key.public_key()], TIME)
    except errors.InvalidEntry:
        assume(False)  # A lone surrogate: not an entry at all.
    scid = did.removeprefix("did:civic:")
    unsigned = entry.unsigned()
    assert _accepts(unsigned, scid) and _reference_verify_scid(unsigned, scid)
    wrong = "Qm" + ("b" if scid[2] != "b" else "c") + scid[3:]
    assert _accepts(unsigned, wrong) == _reference_verify_scid(unsigned, wrong) == False  # noqa: E712


def _escape_cutting_genesis(key: KeySpec) -> Entry:
    """A did.create whose claimed SCID starts with 'n' and follows a newline in a service endpoint.

    In the entry's JSON text the newline is the escape ``\\n``, so replacing the
    SCID in the text cuts the escape in two (``\\{SCID}``), which is not JSON.
    """
    scid = "n" + "a" * 45
    next_hash = key_hash(multibase_from_key(_spec(9).private_key.public_key()))
    body = {
        "scid": scid,
        "keys": [key.public().to_json()],
        "services": [{"id": "s", "type": "Note", "serviceEndpoint": "\n" + scid[1:]}],
        "nextKeyHashes": [next_hash],
    }
    return sign_entry("did.create", body, f"did:civic:{scid}#key-1", TIME, None, key.private_key)


def test_scid_that_cuts_an_escape_sequence_is_refused_not_a_crash() -> None:
    entry = _escape_cutting_genesis(_spec(5))
    with pytest.raises(errors.InvalidEntry, match="SCID does not match"):
        verify_scid(entry.unsigned(), entry.author_did.removeprefix("did:civic:"))


def test_batch_poisoning_by_escape_cutting_scid(tmp_path: Any) -> None:
    """One crafted did.create must not fail the batch it shares with valid entries (it used to
    raise JSONDecodeError out of the SCID check, rolling back the whole transaction)."""
    ledger = Ledger(
        LogStore(Database(str(tmp_path / "poison.db"))),
        origin="registry.test.example/v1",
        signer=Ed25519Signer("registry.test.example/v1", bytes([7]) * 32),
        clock=lambda: TIME,
    )
    valid, _ = create_op([_spec(6)], [], [_spec(7).private_key.public_key()], TIME)
    results = ledger.submit([_escape_cutting_genesis(_spec(5)).raw, valid.raw])
    assert isinstance(results[0], errors.InvalidEntry)
    assert isinstance(results[1], Receipt)
    assert ledger.store.size() == 1
