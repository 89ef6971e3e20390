"""The main flows as real processes (`python -m wallet`, `civicid wallet`) against loopback servers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path
from typing import Any

import pytest

import sdjwt

from wallet_support import AGE_QUERY, CANARY, CLAIMS, PASSPHRASE

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.e2e


def wallet(home: Path, trust: Path, *args: str, extra_env: dict[str, str] | None = None,
           input: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CIVICID_WALLET_")}
    env.update({"CIVICID_WALLET_HOME": str(home), "CIVICID_WALLET_TRUST": str(trust),
                "CIVICID_WALLET_INSECURE_LOOPBACK": "1", "CIVICID_WALLET_PASSPHRASE": PASSPHRASE,
                **(extra_env or {})})
    return subprocess.run([sys.executable, "-m", "wallet", *args], env=env, cwd=ROOT, capture_output=True, text=True,
                          input=input, timeout=60)


def test_receive_list_present_show_qr_history_as_processes(issuer: Any, verifier: Any, pki: Any, tmp_path: Path) -> None:
    home = tmp_path / "w"
    assert wallet(home, pki.trust_file, "init").returncode == 0
    offer_id = issuer.state.add_offer("national_id", CLAIMS, pin="2468")
    link = "openid-credential-offer://?credential_offer_uri=" + urllib.parse.quote(f"{issuer.url}/offers/{offer_id}", safe="")
    bad = wallet(home, pki.trust_file, "receive", link, extra_env={"CIVICID_WALLET_PIN": "1357"})
    assert bad.returncode == 1 and bad.stderr.startswith("error: wrong_pin:") and "Traceback" not in bad.stderr
    good = wallet(home, pki.trust_file, "receive", link, extra_env={"CIVICID_WALLET_PIN": "2468"})
    assert good.returncode == 0, good.stderr
    cid = good.stdout.strip()
    listed = json.loads(wallet(home, pki.trust_file, "list", "--json").stdout)
    assert listed[0]["id"] == cid and listed[0]["status"] == "valid"
    assert CANARY.encode() not in (home / "wallet.civicid").read_bytes()

    presented = wallet(home, pki.trust_file, "present", verifier.state.add_request(AGE_QUERY), "--yes", "--json")
    assert presented.returncode == 0, presented.stderr
    [tx] = verifier.state.transactions.values()
    assert tx.result["pid"]["age_equal_or_over"] == {"18": True}

    out = tmp_path / "qr.png"
    shown = wallet(home, pki.trust_file, "show-qr", cid, "--claims", "address.locality", "--nonce", "abc",
                   "--audience", "did:civic:counter", "--out", str(out))
    assert shown.returncode == 0, shown.stderr
    from wallet.qr import decode_image

    sdjwt.verify(decode_image(out), issuer_key=pki.trust.issuer_key_lookup(), algorithms=["EdDSA"],
                 now=int(time.time()), audience="did:civic:counter", nonce="abc")
    history = json.loads(wallet(home, pki.trust_file, "history", "--json").stdout)
    assert [h["outcome"] for h in history] == ["accepted", "shown"]

    wrong = wallet(home, pki.trust_file, "list", extra_env={"CIVICID_WALLET_PASSPHRASE": "nope"})
    assert wrong.returncode == 1 and wrong.stderr.count("\n") == 1


def test_civicid_wallet_help_and_usage_exit_codes(tmp_path: Path, pki: Any) -> None:
    env = dict(os.environ)
    result = subprocess.run([sys.executable, "-c", "from civicid.cli import main; main()", "wallet", "--help"],
                            capture_output=True, text=True, env=env, cwd=ROOT, timeout=30)
    assert result.returncode == 0 and "show-qr" in result.stdout
    result = wallet(tmp_path / "w", pki.trust_file, "show")
    assert result.returncode == 2


def test_backup_restore_on_another_machine_as_processes(tmp_path: Path, pki: Any) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    assert wallet(first, pki.trust_file, "init").returncode == 0
    backup = tmp_path / "b.bak"
    env = {"CIVICID_WALLET_BACKUP_PASSPHRASE": "backup words"}
    assert wallet(first, pki.trust_file, "backup", str(backup), extra_env=env).returncode == 0
    restored = wallet(second, pki.trust_file, "restore", str(backup), extra_env={**env, "CIVICID_WALLET_PASSPHRASE": "p2"})
    assert restored.returncode == 0, restored.stderr
    assert wallet(second, pki.trust_file, "list", extra_env={"CIVICID_WALLET_PASSPHRASE": "p2"}).returncode == 0
