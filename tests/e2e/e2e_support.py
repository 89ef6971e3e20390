"""Helpers for the end-to-end tests: `civicid up` and the wallet as real processes on loopback."""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

CIVICID = [sys.executable, "-c", "from civicid.cli import main; main()"]
UP_READY_TIMEOUT = 90.0


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without the caller's CIVICID_* settings (and no default data folder to stumble on)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CIVICID_")}
    env.update(extra)
    return env


class Up:
    """`civicid up --json` as a subprocess; :attr:`info` is the JSON line it printed when ready."""

    def __init__(self, data_dir: Path, *args: str) -> None:
        self.data_dir = data_dir
        self.stderr_path = data_dir.parent / f"{data_dir.name}-up-{time.monotonic_ns()}.err"
        self.stderr = open(self.stderr_path, "wb")
        self.process = subprocess.Popen([*CIVICID, "up", "--json", "--data-dir", str(data_dir), *args],
                                        env=clean_env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self.stderr)
        self.info: dict[str, Any] = {}
        self.stdout_lines: list[bytes] = []

    def wait_ready(self, timeout: float = UP_READY_TIMEOUT) -> dict[str, Any]:
        assert self.process.stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.process.stdout], [], [], 0.5)
            if ready:
                line = self.process.stdout.readline()
                if not line:
                    break
                self.stdout_lines.append(line)
                self.info = json.loads(line)
                return self.info
        raise AssertionError(f"civicid up did not get ready (status {self.process.poll()}): {self.errors()}")

    def errors(self) -> str:
        if not self.stderr.closed:
            self.stderr.flush()
        return self.stderr_path.read_text(errors="replace")

    def stop(self, signum: int = signal.SIGINT, timeout: float = 40) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signum)
        try:
            code = self.process.wait(timeout=timeout)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
            if self.process.stdout is not None:
                self.process.stdout.close()
            self.stderr.close()
        return code

    def ports(self) -> list[int]:
        return [int(self.info[k].rsplit(":", 1)[1]) for k in ("registry", "issuer", "verifier", "witness")]


def port_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def processes_mentioning(text: str) -> list[int]:
    """Pids of live (not zombie) processes whose command line or environment mentions ``text``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
            environ = (entry / "environ").read_bytes().decode(errors="replace")
            status = (entry / "status").read_text()
        except OSError:
            continue
        if entry.name != str(os.getpid()) and (text in cmdline or text in environ) and "\nState:\tZ" not in status:
            found.append(int(entry.name))
    return found


def wait_until(check: Any, timeout: float = 20.0, step: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(step)
    return bool(check())


def http(url: str, *, body: Any = None, token: str | None = None, method: str | None = None) -> tuple[int, Any]:
    from civicid.up import http_json

    return http_json(url, body=body, token=token, method=method)


class WalletCLI:
    """`civicid wallet` as a subprocess with its own home, trusting the registry through the pinned policy."""

    def __init__(self, home: Path, info: dict[str, Any]) -> None:
        self.home = home
        self.registry = str(info["registry"])
        self.env = clean_env(CIVICID_WALLET_PASSPHRASE="correct horse battery staple",
                             CIVICID_WALLET_REGISTRY_POLICY=str(info["registry_policy"]), CIVICID_WALLET_LANG="en")

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*CIVICID, "wallet", "--home", str(self.home), "--registry", self.registry, "--insecure-loopback", *args],
                              env=self.env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)

    def must(self, *args: str) -> str:
        done = self.run(*args)
        assert done.returncode == 0, done.stderr
        return done.stdout
