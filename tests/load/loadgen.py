"""Bounded load on loopback against real gunicorn servers: the verifier and the registry.

Shared by ``tests/load/test_shedding.py`` (seconds, in CI) and ``scripts/load_soak.py``
(minutes, by hand). The raw-socket keep-alive pieces come from ``bench/bench_verifier.py``
(request bytes, response reading, ports, start-up wait, the closed-loop :func:`load` used
to measure capacity, the presentation pool); this module adds what a load test needs on
top: servers started with admission settings, an open-loop (paced) driver that keeps
sending at a fixed rate whatever the answers, status counts, timeouts, per-window
figures, and the RSS of the gunicorn workers from ``/proc``.

The paced driver measures latency from each request's *scheduled* time as well as from
its send, so a client that falls behind (a connection stuck on a slow answer) shows up as
latency instead of silently lowering the offered rate (coordinated omission).
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[2]
for _extra in (ROOT / "bench", ROOT / "tests" / "verifier"):
    if str(_extra) not in sys.path:
        sys.path.insert(0, str(_extra))

import bench_verifier as bv  # noqa: E402
import httpload  # noqa: E402

import sdjwt  # noqa: E402

TOKEN = "b" * 40
#: Statuses counted as load shedding or rate limiting (not failures).
SHED = (503, 429)
TIMEOUT, BROKEN = 0, -1  # Pseudo statuses: no answer within the client timeout; connection failed.


# Servers ------------------------------------------------------------------------------------


@dataclass
class Server:
    """A gunicorn master on 127.0.0.1 with its pre-built requests and what an accepted answer looks like."""

    name: str
    port: int
    proc: subprocess.Popen[bytes]
    requests: list[bytes]
    probe: list[bytes]
    accepted_ok: Callable[[int, bytes], bool]
    log: Path

    def worker_pids(self) -> list[int]:
        return children(self.proc.pid)

    def rss_mib(self) -> dict[int, float]:
        return {pid: rss for pid in self.worker_pids() if (rss := rss_mib(pid)) is not None}

    def cpu_seconds(self) -> float:
        return sum(cpu_seconds(pid) for pid in [self.proc.pid, *self.worker_pids()])

    def stop(self) -> None:
        terminate(self.proc, 15)


def terminate(proc: subprocess.Popen[bytes], grace: float) -> None:
    """SIGTERM, then SIGKILL after ``grace`` seconds."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def children(pid: int) -> list[int]:
    """The child processes of ``pid`` (gunicorn's workers), from /proc."""
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
        return [int(p) for p in text.split()]
    except OSError:
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                        found.append(int(entry.name))
                except (OSError, IndexError, ValueError):
                    continue
        return found


def rss_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def cpu_seconds(pid: int) -> float:
    """User + system CPU of one process (its threads included), from /proc/<pid>/stat."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def _gunicorn(app: str, *, workers: int, threads: int, env: dict[str, str], cwd: Path, log: Path) -> tuple[int, subprocess.Popen[bytes]]:
    port = bv._free_port()
    argv = [sys.executable, "-m", "gunicorn", "-w", str(workers), "--threads", str(threads), "-k", "gthread",
            "-b", f"127.0.0.1:{port}", "--log-level", "warning", "--graceful-timeout", "5", app]
    return port, _spawn(argv, port, log, f"see {log}", env=env, cwd=cwd, stdout=subprocess.DEVNULL)


def _spawn(argv: list[str], port: int, log: Path, hint: str, **popen: Any) -> subprocess.Popen[bytes]:
    """Start ``argv`` with stderr (and, unless given, stdout) appended to ``log``; return once ``port`` answers."""
    with open(log, "ab") as handle:
        popen.setdefault("stdout", handle)
        proc = subprocess.Popen(argv, stderr=handle, **popen)
    try:
        bv._wait(port, proc)
    except RuntimeError as exc:
        proc.kill()
        raise RuntimeError(f"{exc}; {hint}") from None
    return proc


NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)

_FRONT_CONF = """
worker_processes 1;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    keepalive_requests 1000000;
    limit_req_zone $server_name zone=civicid_capacity:1m rate={rate}r/s;
    upstream civicid_app {{
        server 127.0.0.1:{upstream};
        keepalive 64;
        keepalive_timeout 1s;  # Below gunicorn's 2 s, so nginx never reuses a connection gunicorn is closing.
    }}
    server {{
        listen 127.0.0.1:{port};
        server_name civicid-front;
        include {overload};
        location / {{
            limit_req zone=civicid_capacity burst={burst} nodelay;
            limit_req_status 503;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_pass http://civicid_app;
        }}
    }}
}}
"""


@dataclass
class Front:
    """nginx on loopback in front of a :class:`Server`, with deploy/nginx-overload.conf and a capacity zone."""

    server: Server  # The same requests and checks, with ``port`` set to nginx's.
    proc: subprocess.Popen[bytes]
    rate: int

    def cpu_seconds(self) -> float:
        return sum(cpu_seconds(pid) for pid in [self.proc.pid, *children(self.proc.pid)])

    def stop(self) -> None:
        terminate(self.proc, 10)


def start_front(tmp: Path, server: Server, *, rate: float, burst: int) -> Front:
    """Start nginx (``NGINX``) proxying to ``server`` with a global ``rate`` per second, the rest 503."""
    if NGINX is None:
        raise RuntimeError("nginx is not installed (Debian package nginx)")
    tmp.mkdir(parents=True, exist_ok=True)
    port = bv._free_port()
    conf = tmp / "nginx.conf"
    conf.write_text(_FRONT_CONF.format(tmp=tmp, rate=max(1, int(rate)), burst=burst, upstream=server.port, port=port,
                                       overload=ROOT / "deploy" / "nginx-overload.conf"))  # fmt: skip
    proc = _spawn([NGINX, "-c", str(conf), "-p", str(tmp)], port, tmp / "nginx.out",
                  f"see {tmp / 'error.log'} and {tmp / 'nginx.out'}")
    return Front(dataclasses.replace(server, port=port), proc, int(rate))


def _admission_env(prefix: str, max_in_flight: int | None) -> dict[str, str]:
    return {} if max_in_flight is None else {f"{prefix}_MAX_IN_FLIGHT": str(max_in_flight)}


def start_verifier(tmp: Path, *, workers: int, threads: int, max_in_flight: int | None, presentations: int,
                   probes: int = 400) -> Server:
    """``POST /api/verify`` on SQLite with a trust snapshot and a local status list, as bench_verifier does.

    ``presentations`` distinct presentations are built (each verifies once: the replay guard is real);
    a driver cycling past them gets ``presentation_replayed`` answers, which cost the full pipeline too.
    """
    tmp.mkdir(parents=True, exist_ok=True)
    now = int(time.time())
    signing = sdjwt.Ed25519PrivateKey(b"\x44" * 32)
    client_id = "decentralized_identifier:" + sdjwt.did_from_key(signing.public_key())
    issuer, _, pool = bv.pool(presentations + probes, now, aud=client_id)
    from verifier_helpers import ISSUER_DID, NATIONAL_ID

    (tmp / "trust.json").write_text(json.dumps({
        "keys": [{"did": ISSUER_DID, "kid": issuer.kid, "jwk": issuer.key.public_key().public_jwk(), "valid_from": 0}],
        "accreditations": [{"did": ISSUER_DID, "vct": NATIONAL_ID, "valid_from": 0}],
    }))  # fmt: skip
    (tmp / "status.jwt").write_text(issuer.status_token(now))
    (tmp / "serve_verifier.py").write_text(textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(ROOT)!r})
        from pathlib import Path
        from verifier import create_app
        text = Path({str(tmp / 'status.jwt')!r}).read_text()
        app = create_app({{"STATUS_FETCHER": lambda uri: text, "SIGNING_KEY": {sdjwt.encoding.b64url_encode(signing.seed)!r},
                          "DATABASE": {str(tmp / 'verifier.db')!r}, "TRUST_FILE": {str(tmp / 'trust.json')!r},
                          "KB_MAX_AGE": 3600}})
    """))
    env = {**os.environ, "PYTHONPATH": str(tmp), "CIVICID_VERIFIER_PUBLIC_URL": "http://127.0.0.1",
           "CIVICID_VERIFIER_API_TOKENS": json.dumps([TOKEN]), "CIVICID_VERIFIER_INSTANCE_PATH": str(tmp),
           **_admission_env("CIVICID_VERIFIER", max_in_flight)}  # fmt: skip
    log = tmp / "verifier.log"
    port, proc = _gunicorn("serve_verifier:app", workers=workers, threads=threads, env=env, cwd=tmp, log=log)

    def build(p: str) -> bytes:
        body = json.dumps({"policy": "senior-bus-pass", "nonce": bv.NONCE, "presentation": p}).encode()
        return bv._request("/api/verify", body, TOKEN)

    requests = [build(p) for p in pool[:presentations]]
    probe = [build(p) for p in pool[presentations:]]

    def ok(status: int, body: bytes) -> bool:
        compact = body.replace(b" ", b"")
        # A cycled (replayed) presentation went through the whole pipeline and was refused at step 9.
        return status == 200 and (b'"decision":true' in compact or b"presentation_replayed" in compact)

    return Server("verifier", port, proc, requests, probe, ok, log)


def _get(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode("ascii")


def start_registry(tmp: Path, *, workers: int, threads: int, max_in_flight: int | None, dids: int = 200) -> Server:
    """DID resolution with proof bundles (``GET /1.0/identifiers/<did>``) over ``dids`` registered DIDs."""
    from registry.did import KeySpec, create_op, key_hash
    from sdjwt.did_key import multibase_from_key

    tmp.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "CIVICID_REGISTRY_INSTANCE_PATH": str(tmp), "CIVICID_REGISTRY_DB": str(tmp / "registry.db"),
           **_admission_env("CIVICID_REGISTRY", max_in_flight)}  # fmt: skip
    log = tmp / "registry.log"
    port, proc = _gunicorn("registry.app:create_app()", workers=workers, threads=threads, env=env, cwd=ROOT, log=log)
    next_hash = key_hash(multibase_from_key(sdjwt.Ed25519PrivateKey(bytes([255]) * 32).public_key()))
    now = int(time.time())
    names = []
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    buf = b""
    try:
        for n in range(dids):
            entry, did = create_op([KeySpec("key-1", sdjwt.Ed25519PrivateKey((n + 1).to_bytes(8, "big") * 4))], [],
                                   [next_hash], now)  # fmt: skip
            head = (f"POST /entries HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/octet-stream\r\n"
                    f"Content-Length: {len(entry.raw)}\r\n\r\n").encode()  # fmt: skip
            for _ in range(50):  # A 503 while the sequencer is busy is a fair answer: retry.
                sock.sendall(head + entry.raw)
                status, body, buf = bv._read_response(sock, buf)
                if status != 503:
                    break
                time.sleep(0.05)
            if status not in (200, 201, 202):
                raise RuntimeError(f"registry refused a did.create: {status} {body[:200]!r}")
            names.append(str(did))
    finally:
        sock.close()
    # Wait for a published checkpoint that covers the entries (the checkpoint thread runs every second).
    deadline = time.time() + 20
    while time.time() < deadline:
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        try:
            sock.sendall(_get("/1.0/identifiers/" + names[-1]))
            status, _, _ = bv._read_response(sock, b"")
        finally:
            sock.close()
        if status == 200:
            break
        time.sleep(0.2)
    requests = [_get("/1.0/identifiers/" + d) for d in names]

    def ok(status: int, body: bytes) -> bool:
        return status == 200 and b'"didDocument"' in body

    return Server("registry", port, proc, requests, requests[:50], ok, log)


# Closed loop: capacity ----------------------------------------------------------------------


def capacity(server: Server, seconds: float, connections: int, offset: int = 0) -> dict[str, Any]:
    """Answers per second of bench_verifier's closed-loop generator (``connections`` keep-alive sockets)."""
    cycle = server.name != "verifier"
    result = bv.load(server.port, server.requests[offset:], seconds, connections, cycle=cycle)
    return result


# Open loop: a fixed offered rate ------------------------------------------------------------


@dataclass
class Run:
    """The answers of one paced run: (scheduled offset s, status, latency from schedule s, from send s, ok)."""

    rate: float
    seconds: float
    connections: int
    records: list[tuple[float, int, float, float, bool]] = field(default_factory=list)
    shed_samples: list[tuple[int, dict[str, str], bytes]] = field(default_factory=list)
    elapsed: float = 0.0

    def summary(self) -> dict[str, Any]:
        statuses: dict[str, int] = {}
        for _, status, _, _, _ in self.records:
            statuses[str(status)] = statuses.get(str(status), 0) + 1
        accepted = [r for r in self.records if r[1] > 0 and r[1] not in SHED]
        ok = [r for r in accepted if r[4]]
        shed = [r for r in self.records if r[1] in SHED]
        n = len(self.records)
        served = sorted(r[3] for r in accepted)
        scheduled = sorted(r[2] for r in accepted)
        shed_lat = sorted(r[3] for r in shed)
        return {
            "offered_per_s": self.rate, "seconds": self.seconds, "connections": self.connections,
            "sent": n, "sent_per_s": n / self.elapsed if self.elapsed else 0.0, "statuses": statuses,
            "accepted": len(accepted), "accepted_per_s": len(accepted) / self.elapsed if self.elapsed else 0.0,
            "ok": len(ok), "not_ok_accepted": len(accepted) - len(ok),
            "shed": len(shed), "shed_pct": 100.0 * len(shed) / n if n else 0.0,
            "timeouts": statuses.get(str(TIMEOUT), 0), "broken": statuses.get(str(BROKEN), 0),
            "server_errors": sum(v for k, v in statuses.items() if int(k) >= 500 and int(k) != 503),
            "p50_ms": _pct(served, 0.50), "p99_ms": _pct(served, 0.99), "max_ms": 1000 * served[-1] if served else None,
            "p99_from_schedule_ms": _pct(scheduled, 0.99),
            "shed_p99_ms": _pct(shed_lat, 0.99),
        }  # fmt: skip

    def windows(self, width: float = 1.0) -> list[dict[str, Any]]:
        """Per ``width`` seconds of schedule: sent, accepted ok, shed, other, p99 of accepted (ms)."""
        buckets: dict[int, list[tuple[float, int, float, float, bool]]] = {}
        for record in self.records:
            buckets.setdefault(int(record[0] // width), []).append(record)
        out = []
        for index in sorted(buckets):
            rows = buckets[index]
            lat = sorted(r[3] for r in rows if r[1] > 0 and r[1] not in SHED)
            out.append({
                "t": index * width, "sent": len(rows), "ok": sum(1 for r in rows if r[4]),
                "shed": sum(1 for r in rows if r[1] in SHED),
                "other": sum(1 for r in rows if not r[4] and r[1] not in SHED), "p99_ms": _pct(lat, 0.99),
            })  # fmt: skip
        return out


def _pct(sorted_seconds: list[float], q: float) -> float | None:
    if not sorted_seconds:
        return None
    return 1000 * sorted_seconds[min(len(sorted_seconds) - 1, int(len(sorted_seconds) * q))]


def paced(
    server: Server,
    requests: list[bytes],
    *,
    rate: float,
    seconds: float,
    connections: int,
    timeout: float = 5.0,
    stop: Callable[[], bool] | None = None,
) -> Run:
    """Send ``rate`` requests per second for ``seconds`` (request i at start + i / rate), cycling ``requests``.

    Connection k sends requests k, k + connections, ...; each waits for its answer (HTTP/1.1
    keep-alive), so enough connections are needed to keep the schedule. A request without an
    answer within ``timeout`` counts as a timeout (status 0) and its connection is reopened.
    ``stop()``, polled every 0.5 s, ends the run early. One client thread (bench/httpload.py).
    """
    run = Run(rate, seconds, connections)

    def observe(status: int, head: bytes, body: bytes) -> bool:
        if status in SHED and len(run.shed_samples) < 3:
            run.shed_samples.append((status, _headers(head), body))
        return server.accepted_ok(status, body)

    answers, begin, elapsed, halted = httpload.open_loop(
        server.port, requests, rate=rate, seconds=seconds, connections=connections, timeout=timeout, stop=stop,
        observe=observe,
    )
    run.records = [(a.scheduled - begin, a.status, a.done - a.scheduled, a.done - a.sent, bool(a.note)) for a in answers]
    run.elapsed = max(min(elapsed, seconds) if not halted else elapsed, 1e-9)
    if halted:
        run.seconds = run.elapsed
    run.records.sort()
    return run


def _read(sock: socket.socket, buf: bytes) -> tuple[int, bytes, bytes, bytes]:
    """bench_verifier's response reader, keeping the head of the answer (for Retry-After)."""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("server closed the connection")
        buf += chunk
    head = buf.partition(b"\r\n\r\n")[0]
    status, body, rest = bv._read_response(sock, buf)
    return status, body, rest, head


def _headers(head: bytes) -> dict[str, str]:
    headers = {}
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        headers[name.strip().lower().decode("latin-1")] = value.strip().decode("latin-1")
    return headers


def recovery(server: Server, *, rate: float, seconds: float, window: float = 0.5) -> dict[str, Any]:
    """Right after a burst: a light paced load; recovery = start of the first window answered all ok."""
    run = paced(server, server.probe, rate=rate, seconds=seconds, connections=4)
    recovered_at = None
    for w in run.windows(window):
        if w["sent"] and w["ok"] == w["sent"]:
            recovered_at = w["t"]
            break
    summary = run.summary()
    return {"recovered_after_s": recovered_at, "probe": summary, "first_ok_ms": next(
        (1000 * r[0] for r in run.records if r[4]), None)}


def median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0
