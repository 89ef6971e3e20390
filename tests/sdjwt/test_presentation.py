"""Presentation (RFC 9901 sections 4 and 4.3): what the holder sends."""

from __future__ import annotations

import hashlib
import json
from types import ModuleType
from typing import Any

import pytest

import sdjwt
from sdjwt import SDJWT, ClaimNotAvailable, LimitExceeded, MalformedSDJWT, create_presentation, sd_hash
from sdjwt.encoding import b64url_decode, b64url_encode


@pytest.fixture
def g(generator: ModuleType) -> ModuleType:
    return generator


def _names(g: ModuleType, presentation: str) -> list[Any]:
    """The (name or element value) of each disclosure sent, in order."""
    parsed = SDJWT.parse(presentation)
    return [d.name if d.name is not None else d.value for d in parsed.disclosures]


def _kb(presentation: str) -> tuple[dict[str, Any], dict[str, Any]]:
    header, payload, _ = presentation.rsplit("~", 1)[1].split(".")
    return json.loads(b64url_decode(header)), json.loads(b64url_decode(payload))


def test_parse_and_serialize_round_trip(g: ModuleType) -> None:
    presentation = g.present(g.BASE, [("given_name",)])
    parsed = SDJWT.parse(presentation)
    assert parsed.serialize() == presentation
    assert parsed.jwt == g.BASE_JWT
    assert parsed.kb_jwt == presentation.rsplit("~", 1)[1]
    issued = SDJWT.parse(g.BASE)
    assert issued.kb_jwt is None and len(issued.disclosures) == 9


def test_select_top_level_sends_only_that_disclosure(g: ModuleType) -> None:
    assert _names(g, create_presentation(g.BASE, [("birthdate",)], holder_key=None)) == ["birthdate"]


def test_nested_claim_pulls_its_parent_and_nothing_else(g: ModuleType) -> None:
    names = _names(g, create_presentation(g.BASE, [("address", "locality")], holder_key=None))
    assert sorted(names) == ["address", "locality"]


def test_parent_claim_pulls_its_whole_subtree(g: ModuleType) -> None:
    names = _names(g, create_presentation(g.BASE, [("address",)], holder_key=None))
    assert sorted(names) == ["address", "country", "locality", "street_address"]


def test_every_array_element_and_single_index(g: ModuleType) -> None:
    assert _names(g, create_presentation(g.BASE, [("nationalities", None)], holder_key=None)) == ["GB", "IT"]
    assert _names(g, create_presentation(g.BASE, [("nationalities", 0)], holder_key=None)) == ["GB"]


def test_always_visible_claim_needs_no_disclosure(g: ModuleType) -> None:
    presentation = create_presentation(g.BASE, [("iss",), ("vct",)], holder_key=None)
    assert presentation == g.BASE_JWT + "~"


def test_zero_disclosures_with_key_binding(g: ModuleType) -> None:
    presentation = g.present(g.BASE, [])
    body, kb = presentation.rsplit("~", 1)
    assert body == g.BASE_JWT
    assert kb.count(".") == 2


def test_disclosures_keep_the_issued_order(g: ModuleType) -> None:
    issued = SDJWT.parse(g.BASE)
    chosen = SDJWT.parse(create_presentation(g.BASE, [("nationalities", None), ("given_name",)], holder_key=None))
    order = [d.digest for d in issued.disclosures]
    assert [order.index(d.digest) for d in chosen.disclosures] == sorted(order.index(d.digest) for d in chosen.disclosures)


def test_kb_jwt_header_and_claims(g: ModuleType) -> None:
    presentation = g.present(g.BASE, [("given_name",)], holder=g.HOLDER_P256)
    header, claims = _kb(presentation)
    assert header == {"alg": "ES256", "typ": "kb+jwt"}
    body = presentation.rsplit("~", 1)[0] + "~"
    expected_hash = b64url_encode(hashlib.sha256(body.encode("ascii")).digest())
    assert claims == {"iat": g.NOW - 10, "aud": g.AUD, "nonce": g.NONCE, "sd_hash": expected_hash}
    assert sd_hash(body) == expected_hash
    signing_input, signature = presentation.rsplit("~", 1)[1].rsplit(".", 1)
    assert g.HOLDER_P256.public_key().verify(signing_input.encode(), b64url_decode(signature))


def test_eddsa_kb_jwt_header(g: ModuleType) -> None:
    header, _ = _kb(g.present(g.BASE, [], holder=g.HOLDER_ED))
    assert header == {"alg": "EdDSA", "typ": "kb+jwt"}


def test_presentation_from_string_or_parsed(g: ModuleType) -> None:
    paths = [("given_name",)]
    assert create_presentation(g.BASE, paths, holder_key=None) == create_presentation(
        SDJWT.parse(g.BASE), paths, holder_key=None
    )


@pytest.mark.parametrize(
    "path, shown",
    [(("middle_name",), "middle_name"), (("address", "planet"), "address/planet"), (("nationalities", 2), "nationalities/2")],
)
def test_claim_not_available(g: ModuleType, path: tuple[Any, ...], shown: str) -> None:
    with pytest.raises(ClaimNotAvailable, match=f"^the credential has no claim at {shown}$"):
        create_presentation(g.BASE, [path], holder_key=None)


def test_index_types_are_not_confused(g: ModuleType) -> None:
    # "0" (a string key) is not index 0, and True is not index 1.
    with pytest.raises(ClaimNotAvailable, match="no claim at nationalities/0"):
        create_presentation(g.BASE, [("nationalities", "0")], holder_key=None)
    with pytest.raises(ClaimNotAvailable, match="no claim at nationalities/True"):
        create_presentation(g.BASE, [("nationalities", True)], holder_key=None)


@pytest.mark.parametrize("missing", ["aud", "nonce", "iat"])
def test_key_binding_needs_aud_nonce_and_iat(g: ModuleType, missing: str) -> None:
    options: dict[str, Any] = {"aud": g.AUD, "nonce": g.NONCE, "iat": g.NOW}
    options[missing] = None
    with pytest.raises(ValueError, match="a key binding JWT needs aud, nonce and iat"):
        create_presentation(g.BASE, [], holder_key=g.HOLDER_ED, **options)


def test_empty_path_is_misuse(g: ModuleType) -> None:
    with pytest.raises(ValueError, match="a claim path is a non-empty tuple"):
        create_presentation(g.BASE, [()], holder_key=None)


def test_disclosure_repr_shows_no_salt_or_value(g: ModuleType) -> None:
    for disclosure in SDJWT.parse(g.BASE).disclosures:
        text = repr(disclosure)
        assert disclosure.salt not in text
        assert json.dumps(disclosure.value) not in text


@pytest.mark.parametrize(
    "text, error, match",
    [
        (123, MalformedSDJWT, "SD-JWT must be a string"),
        ("a.b.c", MalformedSDJWT, "no '~' separator"),
        ("~", MalformedSDJWT, "empty issuer-signed JWT"),
        ("a.b.c~~", MalformedSDJWT, r"empty disclosure \('~~'\)"),
        ("a.b.c~\u00e9~", MalformedSDJWT, "must be ASCII"),
    ],
)
def test_parse_refuses(text: Any, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        SDJWT.parse(text)


def test_parse_applies_limits(g: ModuleType) -> None:
    presentation = g.present(g.BASE, [("given_name",), ("family_name",)])
    with pytest.raises(LimitExceeded, match="more than 1 disclosures"):
        SDJWT.parse(presentation, sdjwt.Limits(max_disclosures=1))
    with pytest.raises(LimitExceeded, match="longer than 100 characters"):
        SDJWT.parse(presentation, sdjwt.Limits(max_length=100))
    assert len(SDJWT.parse(presentation, sdjwt.Limits(max_disclosures=2)).disclosures) == 2
