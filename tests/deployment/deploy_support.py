"""Helpers for the deployment tests: `civicid` subprocesses, a round-robin reverse proxy, PostgreSQL databases.

The proxy stands in for nginx (deploy/nginx.conf): it forwards each request to
the next backend in turn and adds the X-Forwarded-* headers, so a service's
``PUBLIC_URL`` can name one address while several processes answer behind it.
"""

from __future__ import annotations

import contextlib
import http.client
import http.server
import itertools
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

__all__ = ["RoundRobinProxy", "Service", "civicid", "free_port", "hermetic_env", "postgres_database", "rebase"]

_CIVICID = [sys.executable, "-c", "import sys; from civicid.cli import main; sys.exit(main())"]
_HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers",
               "transfer-encoding", "upgrade", "content-length"}


def free_port() -> int:
    """A loopback port that was free a moment ago (good enough for a test)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def hermetic_env(extra: Mapping[str, str]) -> dict[str, str]:
    """The current environment without any CIVICID_* variable, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CIVICID_")}
    env.update(extra)
    return env


def civicid(*args: str, env: Mapping[str, str], timeout: float = 60) -> str:
    """Run one `civicid ...` command as a real subprocess; return its stdout, fail with its stderr."""
    proc = subprocess.run([*_CIVICID, *args], env=hermetic_env(env), capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(f"civicid {' '.join(args[:3])} exited {proc.returncode}: {proc.stderr.strip()[-2000:]}")
    return proc.stdout


def rebase(url: str, base: str) -> str:
    """``url`` with its scheme and authority replaced by ``base``'s: send a public URL to one chosen process."""
    parts, target = urllib.parse.urlsplit(url), urllib.parse.urlsplit(base)
    return urllib.parse.urlunsplit((target.scheme, target.netloc, parts.path, parts.query, parts.fragment))


@dataclass
class Service:
    """One `civicid <role> serve` process (gunicorn master and its workers), logging to a file."""

    name: str
    args: Sequence[str]
    env: Mapping[str, str]
    log_dir: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.log_dir / f"{self.name}.log"

    def start(self) -> "Service":
        # gunicorn 23+ opens a control socket at $XDG_RUNTIME_DIR/gunicorn.ctl (else ~/.gunicorn/gunicorn.ctl):
        # one directory per process, or the masters on this machine take the socket from each other.
        runtime = self.log_dir / f"{self.name}.run"
        runtime.mkdir(mode=0o700, exist_ok=True)
        log = open(self.log_path, "wb")  # noqa: SIM115 - the child holds its own copy
        self.proc = subprocess.Popen(
            [*_CIVICID, *self.args, "--host", "127.0.0.1", "--port", str(self.port)],
            env=hermetic_env({**self.env, "XDG_RUNTIME_DIR": str(runtime)}), stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        return self

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def wait_ready(self, path: str, timeout: float = 60) -> None:
        """Poll ``path`` until it answers below 500; fail with the log if the process dies or never answers."""
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.name} exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.url + path, timeout=2):
                    return
            except urllib.error.HTTPError as exc:
                if exc.code < 500:
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name} did not answer {path} within {timeout} s:\n{self.log_tail()}")
            time.sleep(0.2)

    def stop(self) -> None:
        """SIGTERM to the gunicorn master (graceful), SIGKILL to its process group if it lingers."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)


class RoundRobinProxy:
    """A minimal reverse proxy on loopback: each request goes to the next backend (nginx's default balancing)."""

    def __init__(self, backends: Sequence[str] = (), port: int = 0) -> None:
        self.backends: list[str] = list(backends)
        self.hits: Counter[str] = Counter()
        self._next = itertools.count()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
                pass

            def _forward(self) -> None:
                backend = proxy.backends[next(proxy._next) % len(proxy.backends)]
                proxy.hits[backend] += 1
                target = urllib.parse.urlsplit(backend)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP and k.lower() != "host"}
                headers["Host"] = str(target.netloc)
                headers["X-Forwarded-For"] = self.client_address[0]
                headers["X-Forwarded-Proto"] = "http"
                headers["X-Forwarded-Host"] = self.headers.get("Host", "")
                conn = http.client.HTTPConnection(str(target.hostname), target.port, timeout=30)
                try:
                    conn.request(self.command, self.path, body=body, headers=headers)
                    upstream = conn.getresponse()
                    payload = upstream.read()
                except OSError:
                    self.send_error(502, "bad gateway")
                    return
                finally:
                    conn.close()
                self.send_response(upstream.status, upstream.reason)
                for name, value in upstream.getheaders():
                    if name.lower() not in _HOP_BY_HOP and name.lower() not in ("server", "date"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _forward

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


@contextlib.contextmanager
def postgres_database(admin_url: str) -> Iterator[str]:
    """Another fresh PostgreSQL database, as the ``pg_url`` fixture makes one, dropped afterwards."""
    import psycopg

    name = "civicid_t_" + secrets.token_hex(6)
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{admin_url.rsplit('/', 1)[0]}/{name}"
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

