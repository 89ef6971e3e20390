"""Property test: no mutation of a valid presentation verifies, and nothing but SDJWTError escapes.

Mutations are applied to the presentation string: a character replaced,
inserted or deleted, a bit flipped in the decoded bytes of one part, and whole
``~``-separated parts dropped, duplicated or reordered. The unmutated
presentation verifies, so any acceptance is a real hole.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import sdjwt
from sdjwt.encoding import b64url_decode, b64url_encode

SETTINGS = settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# Characters a mutation may write: the base64url alphabet, the separators, and some that must never appear.
MUTATION_CHARS = st.sampled_from(
    list("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") + list("~.=+/ \n\x00{}\"") + ["\u00e9", "\u2028"]
)


@pytest.fixture(scope="module")
def valid(generator: ModuleType) -> str:
    g = generator
    return g.present(g.BASE, [("given_name",), ("address", "locality"), ("nationalities", None)])


@pytest.fixture(scope="module")
def check(generator: ModuleType) -> Any:
    g = generator

    def lookup(iss: str, kid: str | None, iat: int | None) -> sdjwt.PublicKey:
        for entry in g.ISSUER_KEYS:
            if (entry["iss"], entry["kid"]) == (iss, kid):
                return sdjwt.public_key_from_jwk(entry["jwk"])
        raise sdjwt.UnknownIssuerKey("no verification key is known for this issuer and kid")

    def run(presentation: str) -> sdjwt.VerifiedSDJWT:
        return sdjwt.verify(
            presentation,
            issuer_key=lookup,
            algorithms=["EdDSA", "ES256"],
            now=g.NOW,
            audience=g.AUD,
            nonce=g.NONCE,
        )

    return run


def _refused(check: Any, original: str, mutated: str) -> None:
    assume(mutated != original)
    with pytest.raises(sdjwt.SDJWTError):
        check(mutated)


def test_the_unmutated_presentation_verifies(check: Any, valid: str) -> None:
    result = check(valid)
    assert result.claims["given_name"] == "Ada"
    assert result.claims["address"] == {"locality": "London"}
    assert result.claims["nationalities"] == ["GB", "IT"]


@SETTINGS
@given(data=st.data())
def test_replaced_character_never_verifies(check: Any, valid: str, data: st.DataObject) -> None:
    index = data.draw(st.integers(0, len(valid) - 1))
    char = data.draw(MUTATION_CHARS)
    _refused(check, valid, valid[:index] + char + valid[index + 1 :])


@SETTINGS
@given(data=st.data())
def test_inserted_or_deleted_character_never_verifies(check: Any, valid: str, data: st.DataObject) -> None:
    index = data.draw(st.integers(0, len(valid)))
    if data.draw(st.booleans()):
        mutated = valid[:index] + data.draw(MUTATION_CHARS) + valid[index:]
    else:
        mutated = valid[:index] + valid[index + 1 :]
    _refused(check, valid, mutated)


@SETTINGS
@given(data=st.data())
def test_flipped_bit_in_a_decoded_segment_never_verifies(check: Any, valid: str, data: st.DataObject) -> None:
    # Flip one bit of the *bytes* of one base64url segment (JWS part or disclosure) and re-encode it.
    segments = [s for part in valid.split("~") for s in part.split(".") if s]
    segment = data.draw(st.sampled_from(segments))
    raw = bytearray(b64url_decode(segment))
    assume(raw)
    position = data.draw(st.integers(0, len(raw) * 8 - 1))
    raw[position // 8] ^= 1 << (position % 8)
    _refused(check, valid, valid.replace(segment, b64url_encode(bytes(raw)), 1))


@SETTINGS
@given(data=st.data())
def test_dropped_duplicated_or_reordered_parts_never_verify(check: Any, valid: str, data: st.DataObject) -> None:
    parts = valid.split("~")
    operation = data.draw(st.sampled_from(["drop", "duplicate", "swap", "shuffle"]))
    i = data.draw(st.integers(0, len(parts) - 1))
    if operation == "drop":
        del parts[i]
    elif operation == "duplicate":
        parts.insert(data.draw(st.integers(0, len(parts))), parts[i])
    elif operation == "swap":
        j = data.draw(st.integers(0, len(parts) - 1))
        parts[i], parts[j] = parts[j], parts[i]
    else:
        parts = data.draw(st.permutations(parts))
    _refused(check, valid, "~".join(parts))


@SETTINGS
@given(data=st.data())
def test_dropped_dot_part_never_verifies(check: Any, valid: str, data: st.DataObject) -> None:
    # Drop, duplicate or swap a '.'-separated part of the issuer JWT or the KB-JWT.
    parts = valid.split("~")
    which = data.draw(st.sampled_from([0, len(parts) - 1]))
    pieces = parts[which].split(".")
    i = data.draw(st.integers(0, 2))
    operation = data.draw(st.sampled_from(["drop", "duplicate", "swap"]))
    if operation == "drop":
        del pieces[i]
    elif operation == "duplicate":
        pieces.insert(i, pieces[i])
    else:
        j = data.draw(st.integers(0, 2))
        pieces[i], pieces[j] = pieces[j], pieces[i]
    parts[which] = ".".join(pieces)
    _refused(check, valid, "~".join(parts))
