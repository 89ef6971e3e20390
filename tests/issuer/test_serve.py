"""``civicid issuer serve`` runs gunicorn with the app, signing from the encrypted keystore."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from typing import Any

from issuer.keys import Keystore


def test_serve_with_keystore(tmp_path: Any) -> None:
    ks = Keystore.create(str(tmp_path / "ks"), "a long passphrase", now=1)
    ks.did = "did:civic:QmServeTest"
    ks.save()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {
        **os.environ,
        "CIVICID_ISSUER_SECRET_KEY": "s" * 40,
        "CIVICID_ISSUER_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "CIVICID_ISSUER_DID": ks.did,
        "CIVICID_ISSUER_KID": ks.did + "#key-1",
        "CIVICID_ISSUER_KEYSTORE": str(tmp_path / "ks"),
        "CIVICID_ISSUER_KEYSTORE_PASSPHRASE": "a long passphrase",
    }
    proc = subprocess.Popen(
        [sys.executable, "-c", "from civicid.cli import main; main()", "issuer", "serve", "--port", str(port), "--workers", "1",
         "--db", str(tmp_path / "db.sqlite")],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        body = None
        for _ in range(100):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/.well-known/jwt-vc-issuer", timeout=2) as resp:
                    body = json.loads(resp.read())
                break
            except OSError:
                time.sleep(0.1)
        assert body is not None, proc.stderr.read() if proc.poll() is not None else "server did not start"
        assert body["jwks"]["keys"][0]["kid"] == ks.did + "#key-1"
        assert body["jwks"]["keys"][0]["x"] == ks.signing_key().public_key().public_jwk()["x"]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)


def test_serve_fails_fast_on_bad_passphrase(tmp_path: Any) -> None:
    ks = Keystore.create(str(tmp_path / "ks"), "a long passphrase", now=1)
    ks.did = "did:civic:QmServeTest"
    ks.save()
    env = {**os.environ, "CIVICID_ISSUER_SECRET_KEY": "s" * 40, "CIVICID_ISSUER_PUBLIC_URL": "https://office.example",
           "CIVICID_ISSUER_DID": ks.did, "CIVICID_ISSUER_KID": ks.did + "#key-1", "CIVICID_ISSUER_KEYSTORE": str(tmp_path / "ks"),
           "CIVICID_ISSUER_KEYSTORE_PASSPHRASE": "wrong passphrase!!"}
    proc = subprocess.run([sys.executable, "-c", "from civicid.cli import main; main()", "issuer", "serve", "--db", str(tmp_path / "d")],
                          env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert proc.stderr.strip() == "error: wrong keystore passphrase (or the file was altered) [keystore_error]"
