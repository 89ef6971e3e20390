"""Presenting over OpenID4VP against the spec-following test verifier, through the CLI."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

import sdjwt
from wallet.store import Store

from wallet_support import AGE_QUERY, CANARY, PASSPHRASE, Runner
from wallet_support import received_id


def test_present_discloses_only_what_is_asked(run: Runner, issuer: Any, verifier: Any) -> None:
    cid = received_id(run, issuer)
    link = verifier.state.add_request(AGE_QUERY)
    result = run("present", link, "--yes", "--json")
    assert result.exit_code == 0, result.stderr
    # Consent screen: who, why, disclosed and withheld, by label.
    assert "Test Pharmacy Counter" in result.stderr and "did:civic:testverifier" in result.stderr
    assert "Check your age" in result.stderr
    assert "will be disclosed:     Over 18" in result.stderr
    assert "Given name" in result.stderr.split("will NOT be disclosed:")[1]
    assert CANARY not in result.stderr
    answer = json.loads(result.stdout)
    assert answer["accepted"] and answer["redirect_uri"].startswith(verifier.url)
    [tx] = verifier.state.transactions.values()
    assert tx.result["pid"]["age_equal_or_over"] == {"18": True}
    assert "given_name" not in tx.result["pid"] and "birthdate" not in tx.result["pid"]
    # History: what went to whom, by label, never values.
    history = json.loads(run("history", "--json").stdout)
    assert history[-1]["outcome"] == "accepted" and history[-1]["disclosed"] == ["Over 18"]
    assert history[-1]["verifier"] == "did:civic:testverifier" and history[-1]["credential_id"] == cid
    assert CANARY not in json.dumps(history)


def test_a_presentation_uses_exactly_one_copy(run: Runner, issuer: Any, verifier: Any) -> None:
    received_id(run, issuer)
    run("present", verifier.state.add_request(AGE_QUERY), "--yes")
    first, = [t.presentations[0] for t in verifier.state.transactions.values()]
    with Store.open(run.home, PASSPHRASE) as store:
        used = [c for c in store.credentials[0]["copies"] if c["used_by"]]
    assert len(used) == 1
    issuer_jwts = {sdjwt.SDJWT.parse(c["sd_jwt"]).jwt for c in used}
    assert sdjwt.SDJWT.parse(first).jwt in issuer_jwts


def test_copies_rotate_and_run_out_across_verifiers(run: Runner, issuer: Any, verifier: Any, pki: Any) -> None:
    received_id(run, issuer)
    seen = set()
    for n in range(3):
        verifier.state.did = f"did:civic:testverifier{n}" if n else "did:civic:testverifier"
        # Each "verifier" needs its key in the trust snapshot.
        snapshot = json.loads(pki.trust_file.read_text())
        snapshot["keys"].append({"did": verifier.state.did, "kid": verifier.state.did + "#key-1",
                                 "jwk": pki.verifier_key.public_key().public_jwk()})
        pki.trust_file.write_text(json.dumps(snapshot))
        pki.trust.add_key(verifier.state.did, verifier.state.did + "#key-1", pki.verifier_key.public_key())
        verifier.state.kid = verifier.state.did + "#key-1"
        result = run("present", verifier.state.add_request(AGE_QUERY), "--yes")
        assert result.exit_code == 0, result.stderr
        tx = list(verifier.state.transactions.values())[-1]
        seen.add(sdjwt.SDJWT.parse(tx.presentations[0]).jwt)
    assert len(seen) == 3  # Three verifiers, three unlinkable copies.
    verifier.state.did, verifier.state.kid = "did:civic:testverifier", "did:civic:testverifier#key-1"
    result = run("present", verifier.state.add_request(AGE_QUERY), "--yes")
    assert result.exit_code == 0  # The same verifier may see its own copy again.
    snapshot = json.loads(pki.trust_file.read_text())
    snapshot["keys"].append({"did": "did:civic:fourth", "kid": "did:civic:fourth#key-1",
                             "jwk": pki.verifier_key.public_key().public_jwk()})
    pki.trust_file.write_text(json.dumps(snapshot))
    verifier.state.did, verifier.state.kid = "did:civic:fourth", "did:civic:fourth#key-1"
    pki.trust.add_key("did:civic:fourth", "did:civic:fourth#key-1", pki.verifier_key.public_key())
    result = run("present", verifier.state.add_request(AGE_QUERY), "--yes")
    assert result.exit_code == 1 and result.stderr.startswith("error: no_unused_copy:")
    assert run("present", verifier.state.add_request(AGE_QUERY), "--yes", "--allow-reuse").exit_code == 0


def test_consent_declined_sends_access_denied_and_discloses_nothing(run: Runner, issuer: Any, verifier: Any) -> None:
    received_id(run, issuer)
    result = run("present", verifier.state.add_request(AGE_QUERY), input="n\n")
    assert result.exit_code == 1 and "error: consent_declined:" in result.stderr
    [tx] = verifier.state.transactions.values()
    assert tx.declined and not tx.presentations
    assert json.loads(run("history", "--json").stdout)[-1]["outcome"] == "declined"
    with Store.open(run.home, PASSPHRASE) as store:
        assert all(not c["used_by"] for c in store.credentials[0]["copies"])


def test_consent_prompt_yes(run: Runner, issuer: Any, verifier: Any) -> None:
    received_id(run, issuer)
    result = run("present", verifier.state.add_request(AGE_QUERY), input="y\n")
    assert result.exit_code == 0, result.stderr


def test_request_signed_by_another_key_is_refused(run: Runner, issuer: Any, verifier: Any) -> None:
    received_id(run, issuer)
    verifier.state.signing_key = sdjwt.Ed25519PrivateKey(bytes(32))
    result = run("present", verifier.state.add_request(AGE_QUERY), "--yes")
    assert result.exit_code == 1 and result.stderr.startswith("error: untrusted_verifier:")
    assert not list(verifier.state.transactions.values())[0].presentations


def test_unknown_verifier_did_is_refused(run: Runner, issuer: Any, verifier: Any) -> None:
    received_id(run, issuer)
    verifier.state.did, verifier.state.kid = "did:civic:stranger", "did:civic:stranger#key-1"
    result = run("present", verifier.state.add_request(AGE_QUERY), "--yes")
    assert result.exit_code == 1 and "untrusted_verifier" in result.stderr


def test_client_id_mismatch_is_refused(run: Runner, issuer: Any, verifier: Any) -> None:
    received_id(run, issuer)
    verifier.state.request_overrides = {"client_id": "decentralized_identifier:did:civic:someoneelse"}
    result = run("present", verifier.state.add_request(AGE_QUERY), "--yes")
    assert result.exit_code == 1 and "client_id differs" in result.stderr


@pytest.mark.parametrize("override, message", [
    ({"response_mode": "fragment"}, "direct_post"),
    ({"response_type": "code"}, "vp_token"),
    ({"exp": 1000}, "expired"),
    ({"nonce": 5}, "no nonce"),
    ({"response_uri": "http://evil.example/x"}, "response_uri"),
    ({"client_metadata": {"vp_formats_supported": {"mso_mdoc": {}}}}, "dc+sd-jwt"),
    ({"dcql_query": {"credentials": []}}, "DCQL"),
])
def test_bad_request_objects(run: Runner, issuer: Any, verifier: Any, override: dict[str, Any], message: str) -> None:
    received_id(run, issuer)
    verifier.state.request_overrides = override
    result = run("present", verifier.state.add_request(AGE_QUERY), "--yes")
    assert result.exit_code == 1 and message in result.stderr, result.stderr
    assert result.stderr.count("\n") == 1


def test_no_matching_credential(run: Runner, issuer: Any, verifier: Any) -> None:
    received_id(run, issuer)
    query = copy.deepcopy(AGE_QUERY)
    query["credentials"][0]["meta"]["vct_values"] = ["urn:civicid:residence_permit:1"]
    result = run("present", verifier.state.add_request(query), "--yes")
    assert result.exit_code == 1 and result.stderr.startswith("error: no_matching_credential:")


def test_hostile_request_links(run: Runner) -> None:
    run("init")
    for link in ("openid4vp://?client_id=x", "openid4vp://?request=eyJ&client_id=x",
                 "openid4vp://?client_id=x&request_uri=ftp%3A%2F%2Fa", "nonsense"):
        result = run("present", link, "--yes")
        assert result.exit_code == 1 and result.stderr.startswith("error: invalid_request:"), result.stderr


def test_present_from_qr_image(run: Runner, issuer: Any, verifier: Any, tmp_path: Path) -> None:
    from wallet.qr import make_qr, save_qr

    received_id(run, issuer)
    image = tmp_path / "request.png"
    save_qr(make_qr(verifier.state.add_request(AGE_QUERY)), image)
    assert run("present", "--qr", str(image), "--yes").exit_code == 0


def test_verifier_refusal_is_reported_and_logged(run: Runner, issuer: Any, verifier: Any) -> None:
    received_id(run, issuer)
    link = verifier.state.add_request(AGE_QUERY)
    verifier.state.request_overrides = {"nonce": "not the nonce the verifier will check"}
    result = run("present", link, "--yes")
    assert result.exit_code == 1 and "error: presentation_failed:" in result.stderr
    history = json.loads(run("history", "--json").stdout)
    assert history[-1]["outcome"] == "failed: presentation_failed"


def test_verifier_policy_decision_false_is_not_reported_as_accepted(run: Runner, issuer: Any, verifier: Any) -> None:
    received_id(run, issuer)
    verifier.state.decision = False
    result = run("present", verifier.state.add_request(AGE_QUERY), "--yes")
    assert result.exit_code == 1 and "policy was not satisfied (policy_not_met)" in result.stderr
    assert "accepted" not in result.stderr
    verifier.state.decision = True
    result = run("present", verifier.state.add_request(AGE_QUERY), "--yes", "--json")
    assert result.exit_code == 0 and json.loads(result.stdout)["answer"]["decision"] is True
