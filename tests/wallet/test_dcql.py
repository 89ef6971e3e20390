"""DCQL matching (OpenID4VP 1.0 section 6) against stored credential records."""

from __future__ import annotations

from typing import Any

import pytest

from wallet.dcql import DCQLQuery, resolve, select
from wallet.errors import InvalidRequest, NoMatchingCredential

from wallet_support import CLAIMS, NATIONAL_ID

RECORD: dict[str, Any] = {"id": "a", "vct": NATIONAL_ID, "claims": CLAIMS, "copies": [{"used_by": []}]}
OTHER: dict[str, Any] = {"id": "b", "vct": "urn:civicid:benefit_eligibility:1", "claims": {"level": 2},
                         "copies": [{"used_by": []}]}


def q(*credentials: dict[str, Any], sets: list[Any] | None = None) -> DCQLQuery:
    body: dict[str, Any] = {"credentials": list(credentials)}
    if sets is not None:
        body["credential_sets"] = sets
    return DCQLQuery.from_json(body)


def cq(qid: str, vct: str, *paths: list[Any], **extra: Any) -> dict[str, Any]:
    item: dict[str, Any] = {"id": qid, "format": "dc+sd-jwt", "meta": {"vct_values": [vct]}, **extra}
    if paths:
        item["claims"] = [{"path": p} for p in paths]
    return item


def test_resolve_paths() -> None:
    assert list(resolve(CLAIMS, ["nationalities", None])) == [(("nationalities", 0), "CN")]
    assert list(resolve(CLAIMS, ["address", "locality"])) == [(("address", "locality"), "Hangzhou")]
    assert list(resolve(CLAIMS, ["address", "zip"])) == []
    assert list(resolve(CLAIMS, ["given_name", 0])) == []


def test_match_by_vct_and_claims() -> None:
    [m] = select(q(cq("pid", NATIONAL_ID, ["age_equal_or_over", "18"])), [OTHER, RECORD])
    assert m.record is RECORD and m.paths == (("age_equal_or_over", "18"),)


def test_values_constraint() -> None:
    query = cq("pid", NATIONAL_ID)
    query["claims"] = [{"path": ["address", "locality"], "values": ["Beijing"]}]
    with pytest.raises(NoMatchingCredential):
        select(q(query), [RECORD])
    query["claims"] = [{"path": ["age_equal_or_over", "18"], "values": [True]}]
    assert select(q(query), [RECORD])


def test_claim_sets_prefer_first_satisfiable() -> None:
    query = cq("pid", NATIONAL_ID)
    query["claims"] = [{"id": "a", "path": ["passport_no"]}, {"id": "b", "path": ["birthdate"]},
                       {"id": "c", "path": ["age_equal_or_over", "18"]}]
    query["claim_sets"] = [["a"], ["c"], ["b"]]
    [m] = select(q(query), [RECORD])
    assert m.paths == (("age_equal_or_over", "18"),)


def test_credential_sets_optional_and_required() -> None:
    query = q(cq("pid", NATIONAL_ID, ["given_name"]), cq("ben", "urn:x", ["level"]),
              sets=[{"options": [["pid"]]}, {"options": [["ben"]], "required": False}])
    assert [m.query.id for m in select(query, [RECORD])] == ["pid"]
    query = q(cq("pid", NATIONAL_ID, ["given_name"]), cq("ben", "urn:x", ["level"]), sets=[{"options": [["ben"]]}])
    with pytest.raises(NoMatchingCredential):
        select(query, [RECORD])


def test_every_query_required_without_sets() -> None:
    with pytest.raises(NoMatchingCredential):
        select(q(cq("pid", NATIONAL_ID), cq("ben", "urn:x")), [RECORD])


@pytest.mark.parametrize("body", [
    None, {}, {"credentials": []}, {"credentials": [{"id": "a b", "format": "dc+sd-jwt"}]},
    {"credentials": [{"id": "a", "format": "dc+sd-jwt"}, {"id": "a", "format": "dc+sd-jwt"}]},
    {"credentials": [{"id": "a", "format": "dc+sd-jwt", "claims": [{"path": []}]}]},
    {"credentials": [{"id": "a", "format": "dc+sd-jwt", "claims": [{"path": [-1]}]}]},
    {"credentials": [{"id": "a", "format": "dc+sd-jwt", "claims": [{"path": ["x"], "values": [{"o": 1}]}]}]},
    {"credentials": [{"id": "a", "format": "dc+sd-jwt", "claims": [{"path": ["x"]}], "claim_sets": [["zz"]]}]},
    {"credentials": [{"id": "a", "format": "dc+sd-jwt", "trusted_authorities": []}]},
    {"credentials": [{"id": "a", "format": "dc+sd-jwt"}], "credential_sets": [{"options": [["nope"]]}]},
])
def test_malformed_queries(body: Any) -> None:
    with pytest.raises(InvalidRequest):
        DCQLQuery.from_json(body)
