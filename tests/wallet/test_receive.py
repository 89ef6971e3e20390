"""Receiving over OpenID4VCI against the spec-following test issuer, through the CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from wallet.store import WALLET_FILE, Store

from wallet_support import CANARY, CLAIMS, NATIONAL_ID, PASSPHRASE, Runner, offer_link, received_id


def test_receive_with_pin_then_list_and_show(run: Runner, issuer: Any) -> None:
    cid = received_id(run, issuer, pin="4711")
    assert len(issuer.state.issued) == 3  # batch_size copies, each its own key.
    result = run("list", "--json")
    [row] = json.loads(result.stdout)
    assert row["id"] == cid and row["vct"] == NATIONAL_ID and row["status"] == "valid"
    assert row["copies"] == 3 and row["unused_copies"] == 3 and row["issuer"] == "Test Civil Registry"
    result = run("show", cid, "--lang", "zh-CN")
    assert result.exit_code == 0
    assert "居民身份证" in result.stdout and "名: " + CANARY in result.stdout and "测试户籍处" in result.stdout
    result = run("show", cid, "--json")
    claims = {tuple(c["path"]): c for c in json.loads(result.stdout)["claims"]}
    assert claims[("address", "locality")]["label"] == "City"
    assert claims[("given_name",)]["value"] == CANARY


def test_each_copy_has_its_own_holder_key(run: Runner, issuer: Any) -> None:
    received_id(run, issuer)
    with Store.open(run.home, PASSPHRASE) as store:
        copies = store.credentials[0]["copies"]
    keys = {c["holder_key"]["x"] for c in copies}
    assert len(keys) == 3
    assert CANARY.encode() not in (run.home / WALLET_FILE).read_bytes()


def test_wrong_pin_is_reported_with_attempts_left_and_nothing_stored(run: Runner, issuer: Any) -> None:
    run("init")
    link = offer_link(issuer, pin="4711")
    result = run("receive", link, env={"CIVICID_WALLET_PIN": "0000"})
    assert result.exit_code == 1
    assert result.stderr.startswith("error: wrong_pin: the PIN was wrong (2 attempts left)")
    assert "0000" not in result.stderr
    assert json.loads(run("list", "--json", "--offline").stdout) == []
    # The right PIN still works afterwards.
    assert run("receive", link, env={"CIVICID_WALLET_PIN": "4711"}).exit_code == 0


def test_wrong_pin_shape_is_refused_before_spending_an_attempt(run: Runner, issuer: Any) -> None:
    run("init")
    link = offer_link(issuer, pin="4711")
    result = run("receive", link, env={"CIVICID_WALLET_PIN": "12"})
    assert result.exit_code == 1 and "4 characters" in result.stderr
    assert next(iter(issuer.state.offers.values())).attempts == 3


def test_pin_prompted_when_not_given(run: Runner, issuer: Any) -> None:
    run("init")
    result = run("receive", offer_link(issuer, pin="4711"), input="4711\n")
    assert result.exit_code == 0, result.stderr
    assert "PIN" in result.stderr and "4711" not in result.stderr + result.stdout


def test_offer_used_twice(run: Runner, issuer: Any) -> None:
    run("init")
    link = offer_link(issuer)
    assert run("receive", link).exit_code == 0
    result = run("receive", link)
    assert result.exit_code == 1 and result.stderr.startswith("error: offer_used: the offer was already used")


def test_offer_expired(run: Runner, issuer: Any) -> None:
    run("init")
    result = run("receive", offer_link(issuer, ttl=-1))
    assert result.exit_code == 1 and result.stderr.startswith("error: offer_expired:")


def test_offer_locked_after_wrong_pins(run: Runner, issuer: Any) -> None:
    run("init")
    link = offer_link(issuer, pin="4711")
    for _ in range(2):
        assert "wrong_pin" in run("receive", link, env={"CIVICID_WALLET_PIN": "1111"}).stderr
    result = run("receive", link, env={"CIVICID_WALLET_PIN": "1111"})
    assert result.stderr.startswith("error: offer_locked:")


def test_https_offer_uri_directly(run: Runner, issuer: Any) -> None:
    run("init")
    offer_id = issuer.state.add_offer("national_id", CLAIMS)
    assert run("receive", f"{issuer.url}/offers/{offer_id}").exit_code == 0


def test_tampered_credential_is_not_stored(run: Runner, issuer: Any) -> None:
    issuer.state.tamper = "signature"
    run("init")
    result = run("receive", offer_link(issuer))
    assert result.exit_code == 1 and result.stderr.startswith("error: credential_rejected:")
    assert json.loads(run("list", "--json", "--offline").stdout) == []


def test_credential_bound_to_a_foreign_key_is_refused(run: Runner, issuer: Any) -> None:
    issuer.state.tamper = "other_holder"
    run("init")
    result = run("receive", offer_link(issuer))
    assert result.exit_code == 1 and "did not send" in result.stderr


def test_unaccredited_issuer_is_refused(run: Runner, issuer: Any, pki: Any) -> None:
    snapshot = json.loads(pki.trust_file.read_text())
    snapshot["accreditations"] = []
    pki.trust_file.write_text(json.dumps(snapshot))
    run("init")
    result = run("receive", offer_link(issuer))
    assert result.exit_code == 1 and "not accredited" in result.stderr


def test_http_refused_without_insecure_loopback(run: Runner, issuer: Any) -> None:
    run("init")
    result = run.runner.invoke(__import__("wallet.cli", fromlist=["cli"]).cli,
                               ["--home", str(run.home), "--trust", str(run.pki.trust_file), "receive", offer_link(issuer)],
                               env={"CIVICID_WALLET_PASSPHRASE": PASSPHRASE, "CIVICID_WALLET_INSECURE_LOOPBACK": ""})
    assert result.exit_code == 1 and "must use https" in result.stderr


def test_revoked_and_suspended_status(run: Runner, issuer: Any) -> None:
    cid = received_id(run, issuer)
    issuer.state.set_status(1, 2)
    assert json.loads(run("show", cid, "--json").stdout)["status"] == "suspended"
    issuer.state.set_status(0, 1)
    assert json.loads(run("show", cid, "--json").stdout)["status"] == "revoked"
    assert json.loads(run("show", cid, "--json", "--offline").stdout)["status"] == "unknown"


@pytest.mark.parametrize(
    "link, code",
    [
        ("openid-credential-offer://?foo=bar", "invalid_offer"),
        ("openid-credential-offer://?credential_offer_uri=ftp%3A%2F%2Fx", "invalid_offer"),
        ("openid-credential-offer://?credential_offer=%7Bnot-json", "invalid_offer"),
        ("openid-credential-offer://?credential_offer=%7B%7D", "invalid_offer"),
        ("mailto:someone@example.com", "invalid_offer"),
        ("openid-credential-offer://?credential_offer_uri=http%3A%2F%2F127.0.0.1%3A1%2Fx", "network_error"),
        ("x" * 9000, "invalid_offer"),
    ],
)
def test_hostile_offer_links(run: Runner, link: str, code: str) -> None:
    run("init")
    result = run("receive", link)
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: {code}:"), result.stderr
    assert result.stderr.count("\n") == 1


def test_offer_from_a_qr_image(run: Runner, issuer: Any, tmp_path: Path) -> None:
    from wallet.qr import make_qr, save_qr

    run("init")
    image = tmp_path / "offer.png"
    save_qr(make_qr(offer_link(issuer)), image)
    result = run("receive", "--qr", str(image))
    assert result.exit_code == 0, result.stderr


def test_qr_image_that_is_not_an_image(run: Runner, tmp_path: Path) -> None:
    run("init")
    bogus = tmp_path / "photo.png"
    bogus.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 100)
    result = run("receive", "--qr", str(bogus))
    assert result.exit_code == 1 and result.stderr.startswith("error: qr_unreadable:")
