"""``present`` with a request passed by value and ``--show-qr``: an offline counter, no network at all."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import sdjwt
from wallet.qr import decode_image, make_qr, save_qr
from wallet.store import Store

from wallet_support import AGE_QUERY, CANARY, PASSPHRASE, Runner
from wallet_support import received_id


def test_by_value_request_answered_as_a_qr_code_without_any_network(run: Runner, issuer: Any, verifier: Any,
                                                                     pki: Any, tmp_path: Path) -> None:
    cid = received_id(run, issuer)
    link = verifier.state.add_request_by_value(AGE_QUERY)
    assert "request=" in link and "request_uri=" not in link
    out = tmp_path / "answer.png"
    result = run("present", link, "--yes", "--show-qr", "--out", str(out), "--json")
    assert result.exit_code == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["shown"] is True and shown["out"] == str(out) and shown["disclosed"] == ["Over 18"]
    assert 1 <= shown["qr_version"] <= 40
    # The consent screen is the same as online: who asks, and what is and is not disclosed.
    assert "Test Pharmacy Counter" in result.stderr and "will be disclosed:     Over 18" in result.stderr
    # Nothing went to the verifier: not the request, not the answer, not a decline.
    assert verifier.hits == []
    [tx] = verifier.state.transactions.values()
    assert tx.result is None and not tx.presentations

    # What the counter scans: the vp_token, key-bound to this request's nonce and the verifier's client_id.
    vp_token = json.loads(decode_image(out))
    assert list(vp_token) == ["pid"] and len(vp_token["pid"]) == 1
    verified = sdjwt.verify(vp_token["pid"][0], issuer_key=pki.trust.issuer_key_lookup(), algorithms=["EdDSA"],
                            now=verified_now(), audience=verifier.state.client_id, nonce=tx.nonce)
    assert verified.claims["age_equal_or_over"] == {"18": True}
    assert "given_name" not in verified.claims and CANARY not in decode_image(out)

    history = json.loads(run("history", "--json").stdout)
    assert history[-1]["channel"] == "qr" and history[-1]["outcome"] == "shown" and history[-1]["credential_id"] == cid
    with Store.open(run.home, PASSPHRASE) as store:
        assert [c["used_by"] for c in store.credentials[0]["copies"] if c["used_by"]] == [[verifier.state.client_id]]


def verified_now() -> int:
    import time

    return int(time.time())


def test_by_value_request_from_a_photo_and_posted_when_online(run: Runner, issuer: Any, verifier: Any,
                                                              tmp_path: Path) -> None:
    received_id(run, issuer)
    photo = tmp_path / "counter.png"
    save_qr(make_qr(verifier.state.add_request_by_value(AGE_QUERY)), photo)
    # Without --show-qr the wallet answers by direct_post, and still never fetches a request URI.
    result = run("present", "--qr", str(photo), "--yes", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["accepted"] is True
    assert verifier.hits == ["/response"]
    [tx] = verifier.state.transactions.values()
    assert tx.result is not None and tx.result["pid"]["age_equal_or_over"] == {"18": True}


def test_show_qr_declined_tells_nobody_and_uses_no_copy(run: Runner, issuer: Any, verifier: Any) -> None:
    received_id(run, issuer)
    result = run("present", verifier.state.add_request_by_value(AGE_QUERY), "--show-qr", input="n\n")
    assert result.exit_code == 1 and "error: consent_declined:" in result.stderr
    assert verifier.hits == []
    assert json.loads(run("history", "--json").stdout)[-1]["outcome"] == "declined"
    with Store.open(run.home, PASSPHRASE) as store:
        assert not any(c["used_by"] for c in store.credentials[0]["copies"])


def test_show_qr_with_a_tampered_by_value_request_fails_before_consent(run: Runner, issuer: Any, verifier: Any) -> None:
    received_id(run, issuer)
    link = verifier.state.add_request_by_value(AGE_QUERY)
    tampered = link[:-6] + ("AAAAAA" if not link.endswith("AAAAAA") else "BBBBBB")
    result = run("present", tampered, "--yes", "--show-qr")
    assert result.exit_code == 1 and result.stderr.startswith("error: untrusted_verifier:")
    assert "Traceback" not in result.stderr and verifier.hits == []


def test_present_qr_output_arguments(run: Runner, issuer: Any, verifier: Any, tmp_path: Path) -> None:
    received_id(run, issuer)
    link = verifier.state.add_request_by_value(AGE_QUERY)
    assert run("present", link, "--yes", "--out", str(tmp_path / "a.png")).exit_code == 2  # --out needs --show-qr
    assert run("present", link, "--yes", "--show-qr", "--out", str(tmp_path / "a.gif")).exit_code == 2
    both = link + "&request_uri=https%3A%2F%2Fverifier.example%2Fr"
    result = run("present", both, "--yes", "--show-qr")
    assert result.exit_code == 1 and "both request and request_uri" in result.stderr
    assert verifier.hits == []


def test_show_qr_too_large_marks_nothing(run: Runner, issuer: Any, verifier: Any) -> None:
    big = {"given_name": "x" * 4000, "family_name": "Zhang", "birthdate": "1990-04-01", "address": {"locality": "H"},
           "nationalities": ["CN"], "age_equal_or_over": {"18": True, "65": False}}
    received_id(run, issuer, claims=big)
    query = {"credentials": [{**AGE_QUERY["credentials"][0], "claims": [{"path": ["given_name"]}]}]}
    result = run("present", verifier.state.add_request_by_value(query), "--yes", "--show-qr")
    last = result.stderr.strip().splitlines()[-1]
    assert result.exit_code == 1 and last.startswith("error: qr_too_large:") and "without --show-qr" in last
    assert json.loads(run("history", "--json").stdout) == [] and verifier.hits == []
    with Store.open(run.home, PASSPHRASE) as store:
        assert not any(c["used_by"] for c in store.credentials[0]["copies"])


def test_show_qr_needs_somewhere_to_show_the_code_before_it_uses_a_copy(run: Runner, issuer: Any, verifier: Any,
                                                                        tmp_path: Path) -> None:
    received_id(run, issuer)
    link = verifier.state.add_request_by_value(AGE_QUERY)
    # JSON on stdout leaves no room for the code: --out is required, checked before anything happens.
    result = run("present", link, "--yes", "--show-qr", "--json")
    assert result.exit_code == 2 and "--out" in result.stderr
    # An unwritable --out fails with its own error before the copy is marked or the history written.
    result = run("present", link, "--yes", "--show-qr", "--out", str(tmp_path / "no-such-folder" / "a.png"))
    last = result.stderr.strip().splitlines()[-1]
    assert result.exit_code == 1 and last.startswith("error: cannot_write_output:") and "Traceback" not in result.stderr
    assert json.loads(run("history", "--json").stdout) == []
    with Store.open(run.home, PASSPHRASE) as store:
        assert not any(c["used_by"] for c in store.credentials[0]["copies"])
    # The same for show-qr.
    result = run("show-qr", store_first_id(run), "--claims", "age_equal_or_over.18", "--nonce", "n",
                 "--out", str(tmp_path / "no-such-folder" / "b.svg"))
    assert result.exit_code == 1 and "error: cannot_write_output:" in result.stderr
    assert json.loads(run("history", "--json").stdout) == []


def store_first_id(run: Runner) -> str:
    return str(json.loads(run("list", "--json", "--offline").stdout)[0]["id"])
