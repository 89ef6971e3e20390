"""The verification pipeline: every step's failure has its own reason code (in-process)."""

from __future__ import annotations

import json
from typing import Any

import pytest

import sdjwt
from sdjwt.encoding import b64url_decode, b64url_encode
from verifier import errors
from verifier.pipeline import MemoryReplayGuard, Pipeline, parse_vp_token
from verifier.status import StatusLists
from verifier_helpers import BENEFIT, ISSUER_DID, NATIONAL_ID, RESIDENCE, T0, Issuer, national_id_claims, present

from verifier_constants import AUD, NONCE

SENIOR_PATHS = [("age_equal_or_over", "65"), ("address", "locality")]


def decide(pipeline: Pipeline, policies: Any, presentation: str, now: int, policy: str = "senior-bus-pass",
           query: str = "national_id", nonce: str = NONCE, aud: str = AUD) -> Any:
    return pipeline.decide({query: [presentation]}, policies.get(policy), nonce=nonce, audience=aud, now=now)


def code(outcome: Any) -> str:
    assert outcome.decision is False
    assert len(outcome.reasons) == 1
    return str(outcome.reasons[0]["code"])


def senior(issuer: Issuer, holder: Any, now: int, **kw: Any) -> str:
    credential = issuer.issue(holder, **kw)
    return present(credential, SENIOR_PATHS, holder, aud=AUD, nonce=NONCE, iat=now)


def test_eligible_senior_gets_true_with_only_the_used_claims(pipeline, policies, issuer, holder, now) -> None:
    outcome = decide(pipeline, policies, senior(issuer, holder, now), now)
    assert outcome.decision is True
    assert outcome.reasons == ()
    assert outcome.claims == {"national_id": {"age_equal_or_over": {"65": True}, "address": {"locality": "Shenzhen"}}}
    assert outcome.status_list_age == 0


def test_oversharing_wallet_still_yields_only_the_policy_claims(pipeline, policies, issuer, holder, now) -> None:
    credential = issuer.issue(holder)
    presentation = present(credential, SENIOR_PATHS + [("given_name",), ("address", "street_address")], holder,
                           aud=AUD, nonce=NONCE, iat=now)
    outcome = decide(pipeline, policies, presentation, now)
    assert outcome.decision is True
    assert "given_name" not in json.dumps(outcome.to_json())
    assert "street_address" not in json.dumps(outcome.to_json())


def test_policy_false_names_the_failed_condition_only(pipeline, policies, issuer, holder, now) -> None:
    p = senior(issuer, holder, now, claims=national_id_claims(age65=False, city="Guangzhou"))
    outcome = decide(pipeline, policies, p, now)
    assert code(outcome) == "policy_not_satisfied"
    assert outcome.reasons[0]["conditions"] == ["age_over_65", "lives_in_city"]
    assert "Guangzhou" not in outcome.reasons[0]["message"]


def test_one_condition_false(pipeline, policies, issuer, holder, now) -> None:
    outcome = decide(pipeline, policies, senior(issuer, holder, now, claims=national_id_claims(city="Beijing")), now)
    assert outcome.reasons[0]["conditions"] == ["lives_in_city"]


def test_missing_claim(pipeline, policies, issuer, holder, now) -> None:
    credential = issuer.issue(holder)
    p = present(credential, [("age_equal_or_over", "65")], holder, aud=AUD, nonce=NONCE, iat=now)
    outcome = decide(pipeline, policies, p, now)
    assert code(outcome) == "claim_missing"
    assert "address.locality" in outcome.reasons[0]["message"]


def test_tampered_signature(pipeline, policies, issuer, holder, now) -> None:
    credential = issuer.issue(holder)
    jwt, rest = credential.split("~", 1)
    header, payload, sig = jwt.split(".")
    claims = json.loads(b64url_decode(payload, "p"))
    claims["exp"] = claims["exp"] + 1  # Any change to the signed payload.
    forged = ".".join([header, b64url_encode(json.dumps(claims).encode()), sig]) + "~" + rest
    p = present(forged, SENIOR_PATHS, holder, aud=AUD, nonce=NONCE, iat=now)
    assert code(decide(pipeline, policies, p, now)) == "signature_invalid"


def test_forged_by_another_key(pipeline, policies, issuer, holder, now) -> None:
    p = senior(issuer, holder, now, key=sdjwt.Ed25519PrivateKey(b"\x99" * 32))
    assert code(decide(pipeline, policies, p, now)) == "signature_invalid"


def test_tampered_disclosure(pipeline, policies, issuer, holder, now) -> None:
    credential = issuer.issue(holder)
    parsed = sdjwt.SDJWT.parse(credential)
    bogus = sdjwt.Disclosure.create("c2FsdHNhbHRzYWx0", "locality", "Shenzhen")
    selected = parsed.select([("age_equal_or_over", "65")])
    body = selected.without_key_binding() + bogus.encoded + "~"
    kb = sdjwt.jws.sign_compact({"typ": "kb+jwt"}, {"iat": now, "aud": AUD, "nonce": NONCE, "sd_hash": sdjwt.sd_hash(body)}, holder)
    assert code(decide(pipeline, policies, body + kb, now)) == "disclosure_invalid"


def test_unknown_issuer(pipeline, policies, issuer, holder, now) -> None:
    other = "did:civic:QmUnknown00000000000000000000000000000000000000"
    p = senior(issuer, holder, now, iss=other, kid=other + "#key-1")
    assert code(decide(pipeline, policies, p, now)) == "issuer_unknown"


def test_unknown_kid(pipeline, policies, issuer, holder, now) -> None:
    p = senior(issuer, holder, now, kid=ISSUER_DID + "#key-9")
    assert code(decide(pipeline, policies, p, now)) == "issuer_key_unknown"


def test_unaccredited_issuer(pipeline, policies, issuer, holder, trust, now) -> None:
    trust.grants[ISSUER_DID] = [g for g in trust.grants[ISSUER_DID] if g.vct != NATIONAL_ID]
    assert code(decide(pipeline, policies, senior(issuer, holder, now), now)) == "issuer_not_accredited"


def test_accreditation_ended_before_issuance(pipeline, policies, issuer, holder, trust, now) -> None:
    trust.grants[ISSUER_DID] = []
    trust.accredit(ISSUER_DID, NATIONAL_ID, valid_from=0, valid_until=T0 - 1)
    assert code(decide(pipeline, policies, senior(issuer, holder, now), now)) == "issuer_not_accredited"


def test_key_rotated_before_issuance(pipeline, policies, issuer, holder, trust, now) -> None:
    trust.add_key(ISSUER_DID, issuer.kid, issuer.key.public_key(), valid_from=0, valid_until=T0 - 5)
    assert code(decide(pipeline, policies, senior(issuer, holder, now), now)) == "key_not_valid_at_issuance"


def test_key_added_after_issuance(pipeline, policies, issuer, holder, trust, now) -> None:
    trust.add_key(ISSUER_DID, issuer.kid, issuer.key.public_key(), valid_from=T0 + 1)
    assert code(decide(pipeline, policies, senior(issuer, holder, now), now)) == "key_not_valid_at_issuance"


def test_compromised_key(pipeline, policies, issuer, holder, trust, now) -> None:
    trust.compromise(ISSUER_DID, issuer.kid, since=T0 - 100)
    assert code(decide(pipeline, policies, senior(issuer, holder, now), now)) == "key_compromised"


def test_key_compromised_after_issuance_still_verifies(pipeline, policies, issuer, holder, trust, now) -> None:
    trust.compromise(ISSUER_DID, issuer.kid, since=T0 + 50)
    assert decide(pipeline, policies, senior(issuer, holder, now), now).decision is True


def test_revoked(pipeline, policies, issuer, holder, now) -> None:
    p = senior(issuer, holder, now)
    issuer.set_status(0, 1)
    assert code(decide(pipeline, policies, p, now)) == "status_revoked"


def test_suspended(pipeline, policies, issuer, holder, now) -> None:
    p = senior(issuer, holder, now)
    issuer.set_status(0, 2)
    assert code(decide(pipeline, policies, p, now)) == "status_suspended"


def test_status_list_is_cached_for_its_ttl_then_refetched(trust, issuer, holder, policies, now) -> None:
    fetch = issuer.fetcher()
    pipeline = Pipeline(trust, StatusLists(trust.key_at, fetch), replay=MemoryReplayGuard())
    assert decide(pipeline, policies, senior(issuer, holder, now), now).decision is True
    issuer.set_status(1, 1)  # Revoke the next credential; the cached list does not know yet.
    assert decide(pipeline, policies, senior(issuer, holder, now + 10), now + 10).decision is True
    assert len(fetch.calls) == 1
    later = now + issuer.list_ttl + 1
    issuer.set_status(2, 1)
    assert code(decide(pipeline, policies, senior(issuer, holder, later), later)) == "status_revoked"
    assert len(fetch.calls) == 2


def test_status_list_signed_by_someone_else(trust, issuer, holder, policies, now) -> None:
    def fetch(uri: str) -> str:
        lst = sdjwt.StatusList.empty(16)
        return sdjwt.sign_status_list(lst, uri=uri, key=sdjwt.Ed25519PrivateKey(b"\x55" * 32), kid=issuer.kid, iat=T0)

    pipeline = Pipeline(trust, StatusLists(trust.key_at, fetch), replay=MemoryReplayGuard())
    assert code(decide(pipeline, policies, senior(issuer, holder, now), now)) == "status_unavailable"


def test_status_list_unreachable(trust, issuer, holder, policies, now) -> None:
    def fetch(uri: str) -> str:
        raise OSError("connection refused")

    pipeline = Pipeline(trust, StatusLists(trust.key_at, fetch), replay=MemoryReplayGuard())
    assert code(decide(pipeline, policies, senior(issuer, holder, now), now)) == "status_unavailable"


def test_expired(pipeline, policies, issuer, holder, now) -> None:
    p = senior(issuer, holder, now, exp=T0 + 10)
    assert code(decide(pipeline, policies, p, now)) == "credential_expired"


def test_not_yet_valid(pipeline, policies, issuer, holder, now) -> None:
    p = senior(issuer, holder, now, iat=now + 3600)
    assert code(decide(pipeline, policies, p, now)) == "credential_not_yet_valid"


def test_too_old_for_the_policy(pipeline, policies, issuer, holder, now) -> None:
    credential = issuer.issue(holder, claims={"benefit_type": "senior_allowance", "eligible": True}, vct=BENEFIT,
                              disclosable=[("benefit_type",), ("eligible",)], iat=T0 - 2 * 31536000)
    p = present(credential, [("benefit_type",), ("eligible",)], holder, aud=AUD, nonce=NONCE, iat=now)
    assert code(decide(pipeline, policies, p, now, policy="benefit", query="benefit_eligibility")) == "credential_too_old"


def test_benefit_eligible(pipeline, policies, issuer, holder, now) -> None:
    credential = issuer.issue(holder, claims={"benefit_type": "senior_allowance", "eligible": True, "case_number": "X"},
                              vct=BENEFIT, disclosable=[("benefit_type",), ("eligible",), ("case_number",)])
    p = present(credential, [("benefit_type",), ("eligible",)], holder, aud=AUD, nonce=NONCE, iat=now)
    outcome = decide(pipeline, policies, p, now, policy="benefit", query="benefit_eligibility")
    assert outcome.decision is True
    assert outcome.claims == {"benefit_eligibility": {"benefit_type": "senior_allowance", "eligible": True}}


def test_wrong_credential_type(pipeline, policies, issuer, holder, now) -> None:
    p = senior(issuer, holder, now, vct=RESIDENCE)
    assert code(decide(pipeline, policies, p, now)) == "credential_type_mismatch"


def test_wrong_nonce(pipeline, policies, issuer, holder, now) -> None:
    assert code(decide(pipeline, policies, senior(issuer, holder, now), now, nonce="another-nonce")) == "nonce_mismatch"


def test_wrong_audience(pipeline, policies, issuer, holder, now) -> None:
    outcome = decide(pipeline, policies, senior(issuer, holder, now), now, aud="decentralized_identifier:did:key:z6MkOther")
    assert code(outcome) == "audience_mismatch"


def test_stale_key_binding(pipeline, policies, issuer, holder, now) -> None:
    credential = issuer.issue(holder)
    p = present(credential, SENIOR_PATHS, holder, aud=AUD, nonce=NONCE, iat=now - 3600)
    assert code(decide(pipeline, policies, p, now)) == "key_binding_stale"


def test_missing_key_binding(pipeline, policies, issuer, holder, now) -> None:
    credential = issuer.issue(holder)
    p = sdjwt.create_presentation(credential, SENIOR_PATHS, holder_key=None)
    assert code(decide(pipeline, policies, p, now)) == "key_binding_missing"


def test_key_binding_by_another_key(pipeline, policies, issuer, holder, now) -> None:
    credential = issuer.issue(holder)
    thief = sdjwt.Ed25519PrivateKey(b"\x33" * 32)
    p = present(credential, SENIOR_PATHS, thief, aud=AUD, nonce=NONCE, iat=now)
    assert code(decide(pipeline, policies, p, now)) == "key_binding_invalid"


def test_sd_hash_mismatch_when_a_disclosure_is_dropped(pipeline, policies, issuer, holder, now) -> None:
    credential = issuer.issue(holder)
    p = present(credential, SENIOR_PATHS + [("given_name",)], holder, aud=AUD, nonce=NONCE, iat=now)
    parsed = sdjwt.SDJWT.parse(p)
    # Drop the given_name disclosure the KB-JWT covers.
    keep = tuple(d for d in parsed.disclosures if d.name != "given_name")
    stripped = sdjwt.SDJWT(parsed.jwt, keep, parsed.kb_jwt).serialize()
    assert code(decide(pipeline, policies, stripped, now)) == "sd_hash_mismatch"


def test_replayed_presentation(pipeline, policies, issuer, holder, now) -> None:
    p = senior(issuer, holder, now)
    assert decide(pipeline, policies, p, now).decision is True
    assert code(decide(pipeline, policies, p, now + 1)) == "presentation_replayed"


@pytest.mark.parametrize("garbage", ["", "not an sd-jwt", "a.b.c~", "~~~~", "\u00e9~", "x" * 60000, "eyJ9.e30.AA~"])
def test_garbage_presentation(pipeline, policies, garbage, now) -> None:
    assert code(decide(pipeline, policies, garbage, now)) in {"presentation_malformed", "presentation_too_large"}


def test_alg_none_refused(pipeline, policies, issuer, holder, now) -> None:
    credential = issuer.issue(holder)
    jwt, rest = credential.split("~", 1)
    header = b64url_encode(json.dumps({"alg": "none", "typ": "dc+sd-jwt", "kid": issuer.kid}).encode())
    p = present(header + "." + jwt.split(".", 1)[1] + "~" + rest, SENIOR_PATHS, holder, aud=AUD, nonce=NONCE, iat=now)
    assert code(decide(pipeline, policies, p, now)) == "algorithm_not_allowed"


@pytest.mark.parametrize(
    "vp_token, expected",
    [
        ("{", "response_malformed"),
        ("[]", "response_malformed"),
        ('{"national_id": "x"}', "response_malformed"),
        ('{"national_id": []}', "response_malformed"),
        ('{"national_id": ["a", "b"]}', "response_malformed"),
        ('{"national_id": ["a"], "other": ["b"]}', "response_malformed"),
        ("{}", "claim_missing"),
        ({"national_id": [1]}, "response_malformed"),
    ],
)
def test_vp_token_shape(pipeline, policies, vp_token, expected, now) -> None:
    outcome = pipeline.decide(vp_token, policies.get("senior-bus-pass"), nonce=NONCE, audience=AUD, now=now)
    assert code(outcome) == expected


def test_vp_token_parser_returns_one_presentation_per_query(policies) -> None:
    assert parse_vp_token('{"national_id": ["p"]}', policies.get("age-over-18")) == {"national_id": "p"}


def test_every_failure_code_is_distinct() -> None:
    verification = [c for c, k in errors.ERROR_CODES.items() if issubclass(k, errors.VerificationFailed)]
    assert len(verification) == len(set(verification)) >= 28
    with pytest.raises(TypeError, match="already used"):
        type("Dup", (errors.VerificationFailed,), {"code": "signature_invalid"})
