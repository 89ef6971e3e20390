"""show-qr: an offline presentation as a QR code, decoded back and verified."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import sdjwt
from wallet.cli import DEFAULT_QR_AUDIENCE
from wallet.qr import decode_image

from wallet_support import CANARY, Runner
from wallet_support import received_id


def test_show_qr_png_decodes_to_a_verifying_presentation(run: Runner, issuer: Any, pki: Any, tmp_path: Path) -> None:
    cid = received_id(run, issuer)
    out = tmp_path / "p.png"
    result = run("show-qr", cid, "--claims", "age_equal_or_over.18,address.locality", "--nonce", "n-123",
                 "--out", str(out))
    assert result.exit_code == 0, result.stderr
    assert "\u2588" in result.stdout or "#" in result.stdout or "▀" in result.stdout  # A terminal QR code.
    text = decode_image(out)
    verified = sdjwt.verify(text, issuer_key=pki.trust.issuer_key_lookup(), algorithms=["EdDSA"], now=int(time.time()),
                            audience=DEFAULT_QR_AUDIENCE, nonce="n-123")
    assert verified.claims["address"] == {"locality": "Hangzhou"}
    assert verified.claims["age_equal_or_over"] == {"18": True}
    assert "given_name" not in verified.claims and CANARY not in text
    history = json.loads(run("history", "--json").stdout)
    assert history[-1]["channel"] == "qr" and history[-1]["disclosed"] == ["City", "Over 18"]


def test_show_qr_svg_and_audience(run: Runner, issuer: Any, pki: Any, tmp_path: Path) -> None:
    cid = received_id(run, issuer)
    out = tmp_path / "p.svg"
    result = run("show-qr", cid, "--claims", '["nationalities", null]', "--nonce", "x", "--audience", "did:civic:counter7",
                 "--out", str(out))
    assert result.exit_code == 0, result.stderr
    assert out.read_text().lstrip().startswith("<?xml") or "<svg" in out.read_text()


def test_show_qr_too_large_says_so_and_uses_no_copy(run: Runner, issuer: Any) -> None:
    big = {"given_name": "x" * 4000, "family_name": "Zhang", "birthdate": "1990-04-01", "address": {"locality": "H"},
           "nationalities": ["CN"], "age_equal_or_over": {"18": True, "65": False}}
    cid = received_id(run, issuer, claims=big)
    result = run("show-qr", cid, "--claims", "given_name", "--nonce", "n")
    assert result.exit_code == 1 and result.stderr.startswith("error: qr_too_large:")
    assert "at most 2953" in result.stderr
    assert json.loads(run("history", "--json").stdout) == []


def test_show_qr_bad_arguments(run: Runner, issuer: Any) -> None:
    cid = received_id(run, issuer)
    assert run("show-qr", cid, "--claims", "nope", "--nonce", "n").exit_code == 1
    assert run("show-qr", cid, "--claims", "given_name", "--nonce", "n", "--out", "x.gif").exit_code == 2
    assert run("show-qr", cid, "--claims", "given_name").exit_code == 2
    assert run("show-qr", cid, "--claims", "[not json", "--nonce", "n").exit_code == 1
