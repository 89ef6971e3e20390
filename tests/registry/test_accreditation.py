"""Accreditation chains evaluated as of a time, and credential-type publishing rights."""

from __future__ import annotations

from typing import Any

import pytest

from registry import errors
from registry.accreditation import grant_op, withdraw_op
from registry.credential_type import publish_op
from registry.did import KeySpec, create_op
from registry.entry import sign_entry
from registry.state import LedgerState
from sdjwt.keys import Ed25519PrivateKey

T0 = 1_750_000_000
DAY = 86_400
VCT = "https://registry.gov.example/vct/residence-permit"
PREFIX = "https://registry.gov.example/vct/"


class Party:
    def __init__(self, state: LedgerState, seed: int) -> None:
        self.key = KeySpec("key-1", Ed25519PrivateKey(bytes([seed]) * 32))
        recovery = Ed25519PrivateKey(bytes([seed + 100]) * 32).public_key()
        self.create, self.did = create_op([self.key], [], [recovery], T0 - DAY + seed)
        self.state = state

    def register(self) -> Party:
        self.state.apply(self.create, now=T0)
        return self

    def grant(self, subject: Party, at: int, **kw: Any) -> str:
        kw.setdefault("vct", None if "vct_prefix" in kw else VCT)
        kw.setdefault("valid_from", T0)
        kw.setdefault("valid_until", T0 + 365 * DAY)
        entry = grant_op(self.did, self.key, subject.did, time=at, **kw)
        self.state.apply(entry, now=at)
        return entry.hash


@pytest.fixture
def chain() -> tuple[LedgerState, Party, Party, Party, Party]:
    parties = []
    for seed in (1, 2, 3, 4):
        parties.append(Party(LedgerState(), seed))
    ministry = parties[0]
    state = LedgerState(roots=[ministry.did])
    for party in parties:
        party.state = state
        party.register()
    return (state, *parties)  # type: ignore[return-value]


def test_ministry_province_city_chain(chain: Any) -> None:
    state, ministry, province, city, _ = chain
    g1 = ministry.grant(province, T0 + 10, actions=["issue", "accredit"], max_depth=1)
    g2 = province.grant(city, T0 + 20, actions=["issue"], max_depth=0)
    links = state.authorization(city.did, VCT, T0 + 30)
    assert [g.hash for g in links] == [g1, g2]
    assert links[1].grantor == province.did and links[0].grantor == ministry.did
    assert state.is_accredited(province.did, VCT, T0 + 30)
    assert state.is_accredited(ministry.did, VCT, T0 + 30)  # A root needs no grant.
    assert not state.is_accredited(city.did, VCT + "-v2", T0 + 30)
    # Not accredited before its grant was logged, even if validFrom is earlier (no back-dating).
    assert not state.is_accredited(city.did, VCT, T0 + 19)


def test_depth_exhausted(chain: Any) -> None:
    state, ministry, province, city, district = chain
    ministry.grant(province, T0 + 10, actions=["issue", "accredit"], max_depth=1)
    with pytest.raises(errors.NotAuthorized, match="has delegation depth 1 left, 2 needed"):
        province.grant(city, T0 + 20, actions=["issue", "accredit"], max_depth=1)
    province.grant(city, T0 + 20, actions=["issue", "accredit"], max_depth=0)
    with pytest.raises(errors.NotAuthorized, match="has delegation depth 0 left, 1 needed"):
        city.grant(district, T0 + 30, actions=["issue"], max_depth=0)


def test_issue_only_grant_cannot_accredit(chain: Any) -> None:
    state, ministry, province, city, _ = chain
    ministry.grant(province, T0 + 10, actions=["issue"], max_depth=0)
    with pytest.raises(errors.NotAuthorized, match="does not include the 'accredit' action"):
        province.grant(city, T0 + 20)


def test_unaccredited_grantor_is_refused(chain: Any) -> None:
    state, _, province, city, _ = chain
    with pytest.raises(errors.NotAuthorized, match=f"{province.did} is not accredited to accredit .* holds no accreditation"):
        province.grant(city, T0 + 20)
    assert state.size == 4


def test_expired_grant(chain: Any) -> None:
    state, ministry, province, city, _ = chain
    ministry.grant(province, T0 + 10, actions=["issue", "accredit"], max_depth=1, valid_until=T0 + 100)
    province.grant(city, T0 + 20)
    assert state.is_accredited(city.did, VCT, T0 + 99)
    with pytest.raises(errors.NotAuthorized, match=r"is valid only from 1750000010 until 1750000100"):
        state.authorization(city.did, VCT, T0 + 100)
    with pytest.raises(errors.NotAuthorized, match="valid only from"):
        province.grant(city, T0 + 200)


def test_withdrawal_takes_effect_from_its_time(chain: Any) -> None:
    state, ministry, province, city, _ = chain
    g1 = ministry.grant(province, T0 + 10, actions=["issue", "accredit"], max_depth=1)
    province.grant(city, T0 + 20)
    state.apply(withdraw_op(ministry.did, ministry.key, g1, T0 + 500), now=T0 + 500)
    # Credentials issued before the withdrawal keep a valid chain; after it, none.
    assert state.is_accredited(city.did, VCT, T0 + 499)
    with pytest.raises(errors.NotAuthorized, match="was withdrawn at 1750000500"):
        state.authorization(city.did, VCT, T0 + 500)
    assert not state.is_accredited(province.did, VCT, T0 + 500)
    with pytest.raises(errors.RuleViolation, match="already withdrawn"):
        state.apply(withdraw_op(ministry.did, ministry.key, g1, T0 + 600), now=T0 + 600)


def test_only_the_grantor_or_a_root_may_withdraw(chain: Any) -> None:
    state, ministry, province, city, _ = chain
    ministry.grant(province, T0 + 10, actions=["issue", "accredit"], max_depth=1)
    g2 = province.grant(city, T0 + 20)
    with pytest.raises(errors.NotAuthorized, match="only the grantor of a grant, or a root"):
        state.apply(withdraw_op(city.did, city.key, g2, T0 + 30), now=T0 + 30)
    state.apply(withdraw_op(ministry.did, ministry.key, g2, T0 + 30), now=T0 + 30)
    assert not state.is_accredited(city.did, VCT, T0 + 30)
    with pytest.raises(errors.RuleViolation, match="no grant 0{64} exists"):
        state.apply(withdraw_op(ministry.did, ministry.key, "0" * 64, T0 + 40), now=T0 + 40)


def test_vct_prefix(chain: Any) -> None:
    state, ministry, province, city, _ = chain
    ministry.grant(province, T0 + 10, vct_prefix=PREFIX, actions=["issue", "accredit"], max_depth=1)
    province.grant(city, T0 + 20, vct_prefix=PREFIX + "residence-")
    assert state.is_accredited(city.did, PREFIX + "residence-permit", T0 + 30)
    assert not state.is_accredited(city.did, PREFIX + "driving-licence", T0 + 30)
    assert state.is_accredited(province.did, PREFIX + "driving-licence", T0 + 30)
    # An exact-vct grant cannot back a prefix grant.
    with pytest.raises(errors.NotAuthorized, match="does not cover vct prefix https://registry.gov.example/"):
        city.grant(province, T0 + 40, vct_prefix="https://registry.gov.example/")


def test_grant_subject_must_exist_and_differ(chain: Any) -> None:
    state, ministry, _, _, _ = chain
    stranger = Party(state, 50)
    with pytest.raises(errors.UnknownDID, match="is not in the ledger"):
        ministry.grant(stranger, T0 + 10)
    with pytest.raises(errors.RuleViolation, match="cannot accredit itself"):
        ministry.grant(ministry, T0 + 10)


def test_grant_body_is_strict(chain: Any) -> None:
    state, ministry, province, _, _ = chain
    body = {"subject": province.did, "vct": VCT, "vct_prefix": PREFIX, "actions": ["issue"], "validFrom": T0, "validUntil": T0 + 1, "maxDepth": 0}
    entry = sign_entry("accredit.grant", body, f"{ministry.did}#key-1", T0 + 10, None, ministry.key.private_key)
    with pytest.raises(errors.InvalidEntry, match="exactly one of 'vct' or 'vct_prefix'"):
        state.apply(entry, now=T0 + 10)


def _metadata(name: str = "Residence permit") -> dict[str, Any]:
    return {
        "vct": VCT,
        "name": name,
        "display": [{"locale": "en", "name": name}, {"locale": "zh-CN", "name": "居住证"}],
        "claims": [
            {
                "path": ["family_name"],
                "display": [{"locale": "en", "label": "Family name"}, {"locale": "zh-CN", "label": "姓"}],
                "sd": "always",
            },
            {
                "path": ["address", "city"],
                "display": [{"locale": "en", "label": "City"}, {"locale": "zh-CN", "label": "城市"}],
                "sd": "allowed",
            },
        ],
        "schema": {"type": "object", "required": ["family_name"]},
    }


def test_type_publishing_and_versions(chain: Any) -> None:
    state, ministry, province, city, _ = chain
    ministry.grant(province, T0 + 10, actions=["issue", "accredit"], max_depth=1)
    province.grant(city, T0 + 20)
    v1 = publish_op(ministry.did, ministry.key, _metadata(), T0 + 30)
    state.apply(v1, now=T0 + 30)
    v2 = publish_op(city.did, city.key, _metadata("Residence permit (2026)"), T0 + 40)
    state.apply(v2, now=T0 + 40)
    latest = state.credential_type(VCT)
    assert (latest.version, latest.hash, latest.publisher) == (2, v2.hash, city.did)
    assert latest.metadata["display"][1] == {"locale": "zh-CN", "name": "居住证"}
    assert state.credential_type(VCT, version=1).hash == v1.hash
    assert state.credential_type(VCT, at=T0 + 39).version == 1
    with pytest.raises(errors.VersionNotFound, match="first published at 1750000030"):
        state.credential_type(VCT, at=T0)
    with pytest.raises(errors.VersionNotFound, match="has versions 1 to 2, not 3"):
        state.credential_type(VCT, version=3)
    with pytest.raises(errors.UnknownType, match="no metadata has been published"):
        state.credential_type(VCT + "-other")


def test_type_publishing_by_an_unaccredited_did_is_refused(chain: Any) -> None:
    state, _, _, city, _ = chain
    entry = publish_op(city.did, city.key, _metadata(), T0 + 30)
    with pytest.raises(errors.NotAuthorized, match=f"{city.did} is not accredited to issue vct {VCT}"):
        state.apply(entry, now=T0 + 30)


def test_type_metadata_needs_both_locales(chain: Any) -> None:
    state, ministry, _, _, _ = chain
    metadata = _metadata()
    metadata["display"] = [{"locale": "en", "name": "Residence permit"}]
    with pytest.raises(errors.InvalidEntry, match=r"'display' lacks the required locales \['zh-CN'\]"):
        publish_op(ministry.did, ministry.key, metadata, T0 + 30)
    metadata = _metadata()
    metadata["claims"][0]["sd"] = "sometimes"
    with pytest.raises(errors.InvalidEntry, match="claim 'sd' must be one of"):
        publish_op(ministry.did, ministry.key, metadata, T0 + 30)


def test_deactivated_grantor_breaks_the_chain(chain: Any) -> None:
    from registry.did import deactivate_op

    state, ministry, province, city, _ = chain
    ministry.grant(province, T0 + 10, actions=["issue", "accredit"], max_depth=1)
    province.grant(city, T0 + 20)
    state.apply(deactivate_op(province.did, province.create.hash, province.key, T0 + 100), now=T0 + 100)
    assert state.is_accredited(city.did, VCT, T0 + 99)
    with pytest.raises(errors.NotAuthorized, match="was deactivated at 1750000100"):
        state.authorization(city.did, VCT, T0 + 100)
