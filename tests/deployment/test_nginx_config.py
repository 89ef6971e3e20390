"""The sample deploy/nginx.conf (with deploy/nginx-overload.conf) is a configuration nginx accepts.

``nginx -t`` parses it inside an ``http {}`` block, with the certificate, log, cache and include
paths pointed at a temporary folder and a throwaway self-signed certificate.
"""

from __future__ import annotations

import datetime
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)

pytestmark = pytest.mark.skipif(NGINX is None, reason="nginx is not installed (Debian package nginx; .ci/run installs it)")


def _self_signed(folder: Path, name: str) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .sign(key, hashes.SHA256()))
    (folder / f"{name}.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / f"{name}.key").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                           serialization.NoEncryption()))


def test_sample_nginx_config_is_valid(tmp_path: Path) -> None:
    tls, logs, cache = tmp_path / "tls", tmp_path / "logs", tmp_path / "cache"
    for folder in (tls, logs, cache):
        folder.mkdir()
    for name in ("issuer.office.gov.example", "verify.office.gov.example", "registry.gov.example"):
        _self_signed(tls, name)
    text = (ROOT / "deploy" / "nginx.conf").read_text()
    for shipped, local in (("/etc/nginx/tls/", f"{tls}/"), ("/var/log/nginx/", f"{logs}/"),
                           ("/var/cache/nginx/", f"{cache}/"), ("/etc/nginx/civicid/", f"{ROOT / 'deploy'}/")):
        assert shipped in text, shipped
        text = text.replace(shipped, local)
    (tmp_path / "civicid.conf").write_text(text)
    (tmp_path / "nginx.conf").write_text(f"""
pid {tmp_path}/nginx.pid;
error_log {logs}/error.log;
events {{ }}
http {{
    client_body_temp_path {tmp_path}/body;
    proxy_temp_path {tmp_path}/proxy;
    fastcgi_temp_path {tmp_path}/fastcgi;
    uwsgi_temp_path {tmp_path}/uwsgi;
    scgi_temp_path {tmp_path}/scgi;
    include {tmp_path}/civicid.conf;
}}
""")
    proc = subprocess.run([str(NGINX), "-t", "-c", str(tmp_path / "nginx.conf"), "-p", str(tmp_path)],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert "syntax is ok" in proc.stderr and "test is successful" in proc.stderr
