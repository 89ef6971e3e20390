"""Credential types as data: publishable metadata, disclosability, derived claims, validation naming the field."""

from __future__ import annotations

import datetime as dt
import json
from importlib import resources
from typing import Any

import pytest

from issuer.credential_types import age_thresholds, load_types
from issuer.errors import InvalidClaims
from issuer_helpers import NATIONAL_ID
from registry.credential_type import parse_type_metadata

TYPES = load_types()


def test_configurations_and_vcts_follow_the_wire_contract() -> None:
    assert {cid: t.vct for cid, t in TYPES.items()} == {
        "national_id": "urn:civicid:national_id:1",
        "residence_permit": "urn:civicid:residence_permit:1",
        "benefit_eligibility": "urn:civicid:benefit_eligibility:1",
    }


@pytest.mark.parametrize("cid", sorted(TYPES))
def test_type_files_are_publishable_to_the_registry(cid: str) -> None:
    raw = json.loads((resources.files("issuer") / "types" / f"{cid}.json").read_text("utf-8"))
    assert parse_type_metadata(raw) == TYPES[cid].vct


def test_national_id_disclosability() -> None:
    paths = set(TYPES["national_id"].disclosable)
    for path in [("given_name",), ("family_name",), ("birthdate",), ("sex",), ("nationalities",), ("nationalities", None),
                 ("personal_identifier",), ("address",), ("address", "street_address"), ("address", "locality"),
                 ("address", "region"), ("address", "postal_code"), ("address", "country"),
                 ("age_equal_or_over",), ("age_equal_or_over", "18"), ("age_equal_or_over", "65")]:
        assert path in paths


@pytest.mark.parametrize(
    "birth,today,expected",
    [
        ("2007-10-09", "2025-10-09", {"18": True, "65": False}),
        ("2007-10-10", "2025-10-09", {"18": False, "65": False}),
        ("1960-01-01", "2025-10-09", {"18": True, "65": True}),
        ("2008-02-29", "2026-02-28", {"18": False, "65": False}),  # Leap-day birthday: 18 on 1 March.
        ("2008-02-29", "2026-03-01", {"18": True, "65": False}),
    ],
)
def test_age_thresholds(birth: str, today: str, expected: dict[str, bool]) -> None:
    assert age_thresholds(dt.date.fromisoformat(birth), dt.date.fromisoformat(today), [18, 65]) == expected


def test_complete_adds_derived_claims() -> None:
    full = TYPES["national_id"].complete(NATIONAL_ID, dt.date(2025, 10, 9))
    assert full["age_equal_or_over"] == {"18": True, "65": False}


BAD: list[tuple[str, Any, str]] = [
    ("missing-required", {k: v for k, v in NATIONAL_ID.items() if k != "family_name"}, "family_name"),
    ("unknown-claim", {**NATIONAL_ID, "eye_colour": "brown"}, "eye_colour"),
    ("date-format", {**NATIONAL_ID, "birthdate": "28/02/1990"}, "birthdate"),
    ("impossible-date", {**NATIONAL_ID, "birthdate": "1990-02-30"}, "birthdate"),
    ("sex-bool", {**NATIONAL_ID, "sex": True}, "sex"),
    ("sex-range", {**NATIONAL_ID, "sex": 7}, "sex"),
    ("nationalities-empty", {**NATIONAL_ID, "nationalities": []}, "nationalities"),
    ("nationality-code", {**NATIONAL_ID, "nationalities": ["cn"]}, "nationalities[0]"),
    ("nationality-repeat", {**NATIONAL_ID, "nationalities": ["CN", "CN"]}, "nationalities"),
    ("address-extra", {**NATIONAL_ID, "address": {**NATIONAL_ID["address"], "floor": "3"}}, "address.floor"),
    ("address-missing", {**NATIONAL_ID, "address": {"locality": "Beijing"}}, "address.street_address"),
    ("control-chars", {**NATIONAL_ID, "given_name": "Mei\u0000"}, "given_name"),
    ("too-long", {**NATIONAL_ID, "family_name": "x" * 201}, "family_name"),
    ("derived-supplied", {**NATIONAL_ID, "age_equal_or_over": {"18": True, "65": False}}, "age_equal_or_over"),
    ("not-object", ["a"], "$"),
]


@pytest.mark.parametrize("name,claims,field", BAD, ids=[b[0] for b in BAD])
def test_invalid_claims_name_the_field(name: str, claims: Any, field: str) -> None:
    with pytest.raises(InvalidClaims) as info:
        TYPES["national_id"].validate_input(claims)
    assert info.value.field == field
    assert "Mei" not in info.value.message and "brown" not in info.value.message


def test_other_types_validate() -> None:
    TYPES["residence_permit"].validate_input({
        "given_name": "Ana", "family_name": "Silva", "birthdate": "1992-05-01", "nationalities": ["PT"],
        "personal_identifier": "RP-2025-0001", "document_number": "RP1234567", "permit_category": "work",
        "issuance_date": "2025-01-01", "expiry_date": "2027-01-01",
    })
    TYPES["benefit_eligibility"].validate_input({
        "given_name": "Li", "family_name": "Wang", "personal_identifier": "110101-1950-0101",
        "benefit_type": "pension", "eligible_from": "2025-01-01", "eligible_until": "2026-01-01",
    })
    with pytest.raises(InvalidClaims, match="allowed values"):
        TYPES["benefit_eligibility"].validate_input({
            "given_name": "Li", "family_name": "Wang", "personal_identifier": "110101-1950-0101",
            "benefit_type": "lottery", "eligible_from": "2025-01-01", "eligible_until": "2026-01-01",
        })
