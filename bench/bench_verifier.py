"""Verifier throughput, in one run: in-process and over HTTP.

Run from the repository root::

    python bench/bench_verifier.py                 # table
    python bench/bench_verifier.py --json          # for machines
    python bench/bench_verifier.py --duration 1 --http-seconds 3

In-process (rows per second, best batch):

* ``pipeline``: :class:`verifier.pipeline.Pipeline` over a senior-bus-pass ``vp_token``: registry
  key lookup (StaticTrust), signature, disclosures, accreditation, cached status list, key binding
  with a real replay guard (every presentation is distinct), CEL policy;
* ``reference``: the SD-JWT reference implementation (sd-jwt 0.10.4) verifying a presentation
  with key binding (from bench/bench_sdjwt.py; no status, registry or policy);
* ``floor``: the cryptography alone (2x Ed25519 + SHA-256s, bench/bench_sdjwt.py).

Over HTTP: gunicorn (2 workers x 4 threads, like ``civicid verifier serve``) serving the
verifier's ``POST /api/verify`` on SQLite, against gunicorn serving a minimal Flask endpoint that
verifies one Ed25519 signature; 32 keep-alive connections from a threaded client on the same
machine (which shares the 2 cores, so both sides are measured under the same handicap).

Goals: pipeline >= 3x reference, >= 0.8x floor; HTTP >= 0.6x the minimal endpoint, p99 < 20 ms.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests" / "verifier"))

import bench_sdjwt  # noqa: E402

import sdjwt  # noqa: E402
from verifier.pipeline import MemoryReplayGuard, Pipeline  # noqa: E402
from verifier.policy import load_policies  # noqa: E402
from verifier.status import StatusLists  # noqa: E402
from verifier_helpers import T0, Issuer, LedgerTrust, present  # noqa: E402

AUD = "decentralized_identifier:did:key:z6MkBench"
NONCE = "bench-nonce-000000000000"
PATHS = [("age_equal_or_over", "65"), ("address", "locality")]
GOALS = {"vs_reference": 3.0, "vs_floor": 0.8, "http_vs_minimal": 0.6, "p99_ms": 20.0}


def pool(size: int, now: int, aud: str = AUD, nonce: str = NONCE) -> tuple[Issuer, LedgerTrust, list[str]]:
    trust = LedgerTrust()
    issuer = Issuer(trust)
    holder = sdjwt.Ed25519PrivateKey(b"\x22" * 32)
    # Distinct KB-JWTs (a credential per 200, distinct iat within the freshness window): the replay
    # guard is real, so each presentation can be used once per pass.
    credentials = [issuer.issue(holder, iat=now - 1000, exp=now + 86400) for _ in range(size // 200 + 1)]
    return issuer, trust, [present(credentials[i // 200], PATHS, holder, aud=aud, nonce=nonce, iat=now - i % 200)
                           for i in range(size)]


def in_process(duration: float) -> dict[str, Any]:
    now = T0 + 300
    issuer, trust, presentations = pool(4000, now)
    policy = load_policies().get("senior-bus-pass")
    status = StatusLists(trust.key_at, issuer.fetcher())
    state = {"i": 0, "pipeline": Pipeline(trust, status, replay=MemoryReplayGuard())}

    def verify_one() -> None:
        i = state["i"]
        if i == len(presentations):
            state["i"], i = 0, 0
            state["pipeline"] = Pipeline(trust, status, replay=MemoryReplayGuard())
        state["i"] = i + 1
        outcome = state["pipeline"].decide({"national_id": [presentations[i]]}, policy, nonce=NONCE, audience=AUD, now=now)
        if not outcome.decision:
            raise AssertionError(outcome.reasons)

    best, median, _ = bench_sdjwt.measure(verify_one, duration)
    # The reference verifier hard-codes ES256 for the KB-JWT, so its row has an ES256 holder.
    ref = bench_sdjwt.reference_setup("ES256", int(time.time()))
    ref_best, ref_median, _ = bench_sdjwt.measure(ref["verify"], duration)
    floor_best, floor_median, _ = bench_sdjwt.measure(floor_setup(presentations[0]), duration)
    return {
        "pipeline_per_s": best, "pipeline_median_per_s": median,
        "reference_per_s": ref_best, "reference_median_per_s": ref_median,
        "floor_per_s": floor_best, "floor_median_per_s": floor_median,
        "pipeline_vs_reference": best / ref_best, "pipeline_vs_floor": best / floor_best,
    }


def floor_setup(presentation: str) -> Any:
    """The cryptography no verifier can skip for this presentation: 2 Ed25519 verifies, digests, sd_hash."""
    import hashlib

    import nacl.signing

    parsed = sdjwt.SDJWT.parse(presentation)
    msgs = [parsed.jwt.rsplit(".", 1)[0].encode(), str(parsed.kb_jwt).rsplit(".", 1)[0].encode()]
    keys = [nacl.signing.SigningKey(bytes([i + 1]) * 32) for i in range(2)]
    signed = [(k.verify_key, m, k.sign(m).signature) for k, m in zip(keys, msgs)]
    disclosures = [d.encoded.encode("ascii") for d in parsed.disclosures]
    body = parsed.without_key_binding().encode("ascii")

    def floor() -> None:
        for vk, m, sig in signed:
            vk.verify(m, sig)
        for d in disclosures:
            hashlib.sha256(d).digest()
        hashlib.sha256(body).digest()

    return floor


MINIMAL_APP = textwrap.dedent(
    """
    import nacl.signing
    from flask import Flask, request
    key = nacl.signing.SigningKey(b"\\x07" * 32)
    verify_key = key.verify_key
    signed = key.sign(b"x" * 64)
    app = Flask("minimal")

    @app.post("/verify")
    def verify():
        body = request.get_json()
        verify_key.verify(signed)
        return {"decision": bool(body)}
    """
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.time() + 30
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("server exited: " + (proc.stderr.read().decode() if proc.stderr else ""))
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("server did not start")


def load(port: int, path: str, bodies: list[bytes], headers: dict[str, str], seconds: float, connections: int) -> dict[str, Any]:
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    counter = [0]
    stop = time.perf_counter() + seconds

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        mine: list[float] = []
        while time.perf_counter() < stop:
            with lock:
                i = counter[0]
                counter[0] += 1
            if i >= len(bodies):
                break
            start = time.perf_counter()
            conn.request("POST", path, body=bodies[i], headers=headers)
            response = conn.getresponse()
            data = response.read()
            mine.append(time.perf_counter() - start)
            if response.status != 200 or b'"decision":true' not in data.replace(b" ", b""):
                errors[0] += 1
        conn.close()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(connections)]
    begin = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - begin
    latencies.sort()
    return {
        "requests": len(latencies), "errors": errors[0], "per_s": len(latencies) / elapsed,
        "p50_ms": 1000 * latencies[len(latencies) // 2] if latencies else None,
        "p99_ms": 1000 * latencies[int(len(latencies) * 0.99)] if latencies else None,
    }


def over_http(seconds: float, connections: int) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="civicid-bench-"))
    now = int(time.time())
    signing = sdjwt.Ed25519PrivateKey(b"\x44" * 32)
    client_id = "decentralized_identifier:" + sdjwt.did_from_key(signing.public_key())
    issuer, trust, presentations = pool(int(seconds * 1500) + 500, now, aud=client_id)
    # The issuer's key and accreditation as a trust snapshot; the status list from a local file fetcher.
    from verifier_helpers import ISSUER_DID, NATIONAL_ID

    (tmp / "trust.json").write_text(json.dumps({
        "keys": [{"did": ISSUER_DID, "kid": issuer.kid, "jwk": issuer.key.public_key().public_jwk(), "valid_from": 0}],
        "accreditations": [{"did": ISSUER_DID, "vct": NATIONAL_ID, "valid_from": 0}],
    }))
    (tmp / "status.jwt").write_text(issuer.status_token(now))
    (tmp / "serve.py").write_text(textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(ROOT)!r})
        from pathlib import Path
        from verifier import create_app
        text = Path({str(tmp / 'status.jwt')!r}).read_text()
        app = create_app({{"STATUS_FETCHER": lambda uri: text, "SIGNING_KEY": {sdjwt.encoding.b64url_encode(signing.seed)!r},
                          "DATABASE": {str(tmp / 'bench.db')!r}, "TRUST_FILE": {str(tmp / 'trust.json')!r},
                          "KB_MAX_AGE": 3600}})
    """))
    (tmp / "minimal.py").write_text(MINIMAL_APP)
    token = "b" * 40
    env = {**os.environ, "PYTHONPATH": str(tmp), "CIVICID_VERIFIER_PUBLIC_URL": "http://127.0.0.1",
           "CIVICID_VERIFIER_API_TOKENS": json.dumps([token]), "CIVICID_VERIFIER_INSTANCE_PATH": str(tmp)}
    results: dict[str, Any] = {}
    for name, module, path in (("minimal", "minimal:app", "/verify"), ("verifier", "serve:app", "/api/verify")):
        port = _free_port()
        proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-w", "2", "--threads", "4", "-k", "gthread", "-b", f"127.0.0.1:{port}",
             "--log-level", "warning", module], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=tmp)
        try:
            _wait(port, proc)
            if name == "verifier":
                bodies = [json.dumps({"policy": "senior-bus-pass", "nonce": NONCE, "presentation": p}).encode() for p in presentations]
            else:
                bodies = [json.dumps({"presentation": p}).encode() for p in presentations]
            headers = {"Content-Type": "application/json", "Authorization": "Bearer " + token}
            load(port, path, bodies[:50], headers, 2, 4)  # Warm-up (distinct presentations).
            results[name] = load(port, path, bodies[50:], headers, seconds, connections)
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    results["verifier_vs_minimal"] = results["verifier"]["per_s"] / results["minimal"]["per_s"]
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=2.0, help="seconds per in-process row")
    parser.add_argument("--http-seconds", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    result = {"in_process": in_process(args.duration), "http": over_http(args.http_seconds, args.connections), "goals": GOALS}
    ip, h = result["in_process"], result["http"]
    result["met"] = {
        "pipeline >= 3x reference": ip["pipeline_vs_reference"] >= GOALS["vs_reference"],
        "pipeline >= 0.8x floor": ip["pipeline_vs_floor"] >= GOALS["vs_floor"],
        "http >= 0.6x minimal": h["verifier_vs_minimal"] >= GOALS["http_vs_minimal"],
        "http p99 < 20 ms": (h["verifier"]["p99_ms"] or 1e9) < GOALS["p99_ms"],
    }
    if args.json:
        print(json.dumps(result, indent=1))
        return 0
    print(f"in-process  pipeline {ip['pipeline_per_s']:9.0f}/s   reference {ip['reference_per_s']:9.0f}/s   "
          f"floor {ip['floor_per_s']:9.0f}/s")
    print(f"            pipeline/reference {ip['pipeline_vs_reference']:.2f}x   pipeline/floor {ip['pipeline_vs_floor']:.2f}x")
    for name in ("minimal", "verifier"):
        r = h[name]
        print(f"http {name:9s} {r['per_s']:8.0f}/s  p50 {r['p50_ms']:.1f} ms  p99 {r['p99_ms']:.1f} ms  "
              f"errors {r['errors']} of {r['requests']}")
    print(f"            verifier/minimal {h['verifier_vs_minimal']:.2f}x")
    for goal, met in result["met"].items():
        print(f"goal {goal:28s} {'met' if met else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
