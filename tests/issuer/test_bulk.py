"""Bulk offers from a register export: row validation with row numbers, idempotent reruns, letters."""

from __future__ import annotations

import io
import json
import os
from typing import Any

import pytest
from click.testing import CliRunner

from issuer.cli import cli

HEADER = "record_id,given_name,family_name,birthdate,sex,nationalities,personal_identifier,address.street_address,address.locality,address.postal_code,address.country\n"


def _row(rid: str, birthdate: str = "1980-05-17", pid: str | None = None) -> str:
    return f"{rid},Wei,Zhang,{birthdate},1,CN;HK,{pid or 'P-' + rid},2 Road,Shanghai,200000,CN\n"


CSV = HEADER + _row("r1") + _row("r2", "1980-13-01") + "r3,Li,,1970-01-01,1,CN,P-r3,,,,\n" + _row("r1") + _row("bad id!") + _row("r4") + "r5,Too,Many,1970-01-01,1,CN,P-r5,a,b,1000,CN,extra\n"


@pytest.fixture
def env(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("CIVICID_ISSUER_SECRET_KEY", "s" * 40)
    monkeypatch.setenv("CIVICID_ISSUER_PUBLIC_URL", "https://office.example")
    monkeypatch.setenv("CIVICID_ISSUER_DATABASE", str(tmp_path / "db.sqlite"))
    path = tmp_path / "records.csv"
    path.write_text(CSV, encoding="utf-8")
    return tmp_path


def test_bulk_reports_bad_rows_and_never_duplicates(env: Any) -> None:
    out = env / "letters"
    runner = CliRunner()
    result = runner.invoke(cli, ["bulk", str(env / "records.csv"), "--out", str(out), "--workers", "2", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["created"] == 2 and report["skipped_existing"] == 0
    assert [(b["row"], b["field"]) for b in report["invalid"]] == [
        (3, "birthdate"), (4, "family_name"), (5, "record_id"), (6, "record_id"), (8, "$"),
    ]
    assert "Zhang" not in result.stdout  # Reasons never echo claim values.
    letters = sorted(os.listdir(out))
    assert letters == ["r1.html", "r4.html"]
    text = (out / "r1.html").read_text(encoding="utf-8")
    assert "data:image/png;base64," in text and "PIN: <strong>" in text
    # A rerun creates nothing new.
    result = runner.invoke(cli, ["bulk", str(env / "records.csv"), "--out", str(out), "--workers", "1", "--json"])
    report = json.loads(result.stdout)
    assert report["created"] == 0 and report["skipped_existing"] == 3  # r1 twice, r4
    # A human-readable run reports rows on stderr.
    result = runner.invoke(cli, ["bulk", str(env / "records.csv"), "--out", str(out), "--workers", "1"])
    assert "row 3: birthdate: birthdate is not a real calendar date" in result.stderr
    assert "created 0 offers, skipped 3 already offered, 4 invalid rows" in result.stdout


def test_bulk_letter_pin_redeems(env: Any) -> None:
    """The PIN printed in a letter is the offer's PIN (checked against the stored HMAC)."""
    import re

    from issuer import create_app
    from issuer.offers import OfferSettings

    out = env / "letters"
    CliRunner().invoke(cli, ["bulk", str(env / "records.csv"), "--out", str(out), "--workers", "1", "--json"])
    pin = re.search(r"PIN: <strong>(\d+)</strong>", (out / "r4.html").read_text()).group(1)  # type: ignore[union-attr]
    app = create_app({"SIGNING_REQUIRED": False})
    store = app.extensions["civicid_issuer_store"]
    offer_id, tx_hash = store.read().execute("SELECT id, tx_hash FROM offers WHERE external_ref = 'national_id:r4'").fetchone()
    assert OfferSettings.from_config(app.config).tx_hash(offer_id, pin) == tx_hash


def test_bulk_needs_record_id_header(env: Any) -> None:
    (env / "bad.csv").write_text("given_name\nMei\n")
    result = CliRunner().invoke(cli, ["bulk", str(env / "bad.csv"), "--out", str(env / "l")])
    assert result.exit_code == 1 and "record_id" in result.output


def test_bulk_letter_qr_decodes_to_the_offer_link(env: Any) -> None:
    """The inline PNG (fixed data mask) scans back to the offer link the wallet opens."""
    import base64
    import re

    import zxingcpp
    from PIL import Image

    out = env / "letters"
    CliRunner().invoke(cli, ["bulk", str(env / "records.csv"), "--out", str(out), "--workers", "1", "--json"])
    text = (out / "r1.html").read_text(encoding="utf-8")
    png = base64.b64decode(re.search(r"data:image/png;base64,([A-Za-z0-9+/=]+)", text).group(1))  # type: ignore[union-attr]
    image = Image.open(io.BytesIO(png))
    image = image.resize((image.width * 4, image.height * 4), Image.NEAREST)
    link = zxingcpp.read_barcode(image).text
    assert link.startswith("openid-credential-offer://?credential_offer_uri=https%3A%2F%2Foffice.example%2Fcredential-offer%2F")


def test_bulk_batches_keep_one_chained_audit_record_per_offer(env: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Several batches through the worker pool: every offer has its letter and its own audit record; the chain verifies."""
    from issuer import audit, bulk, create_app

    monkeypatch.setattr(bulk, "BATCH", 7)
    monkeypatch.setattr(bulk, "CHUNK", 3)
    rows = HEADER + "".join(_row(f"p{i}") for i in range(40))
    (env / "many.csv").write_text(rows, encoding="utf-8")
    out = env / "letters"
    result = CliRunner().invoke(cli, ["bulk", str(env / "many.csv"), "--out", str(out), "--workers", "2", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["created"] == 40
    assert sorted(os.listdir(out)) == sorted(f"p{i}.html" for i in range(40))
    store = create_app({"SIGNING_REQUIRED": False}).extensions["civicid_issuer_store"]
    summary = audit.verify_chain(store)
    creates = [r for r in audit.records(store, limit=100) if r.action == "offer.create"]
    assert summary.count == len(creates) == 40
    assert {r.details["external_ref"] for r in creates} == {f"national_id:p{i}" for i in range(40)}


def test_bulk_failed_letters_commit_no_offers(env: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A batch whose letters cannot be written is not committed, so a rerun offers those rows again."""
    from issuer import bulk, create_app

    def broken(job: Any) -> int:
        raise OSError("disk full")

    monkeypatch.setattr(bulk, "_write_letters", broken)
    result = CliRunner().invoke(cli, ["bulk", str(env / "records.csv"), "--out", str(env / "letters"), "--workers", "1", "--json"])
    assert result.exit_code != 0
    store = create_app({"SIGNING_REQUIRED": False}).extensions["civicid_issuer_store"]
    assert store.read().execute("SELECT COUNT(*) FROM offers").fetchone()[0] == 0


def test_offer_without_optional_claims_issues(office: Any) -> None:
    """Regression: a register row has no address.region; its offer must still issue (it used to fail in sdjwt.issue)."""
    import copy

    from issuer_helpers import NATIONAL_ID

    claims = copy.deepcopy(NATIONAL_ID)
    del claims["address"]["region"]
    offer = office.offer(claims)
    credentials, _ = office.wallet().receive(offer.credential_offer, offer.tx_code, copies=2)
    assert len(credentials) == 2
