"""Verifier throughput, in one run: in-process and over HTTP.

Run from the repository root::

    python bench/bench_verifier.py                 # table
    python bench/bench_verifier.py --json          # for machines
    python bench/bench_verifier.py --duration 1 --http-seconds 3

In-process (rows per second; best and median ~50 ms batch):

* ``pipeline``: :class:`verifier.pipeline.Pipeline` over a senior-bus-pass ``vp_token``: registry
  key lookup (StaticTrust), signature, disclosures, accreditation, cached status list, key binding
  with a real replay guard (every presentation is distinct), CEL policy. Two rows: an EdDSA holder
  (compared with the floor, which is made of EdDSA signatures) and an ES256 holder (compared with the
  reference, which can only verify ES256 key binding JWTs: like for like);
* ``reference``: the SD-JWT reference implementation (sd-jwt 0.10.4) verifying a presentation
  with an ES256 key binding JWT (from bench/bench_sdjwt.py; no status, registry or policy);
* ``floor``: the cryptography alone (2x Ed25519 + SHA-256 of the disclosures and of ``sd_hash``); for the
  ES256 row's ceiling, ``floor_es256`` (an Ed25519 and a P-256 verify, the same digests);
* ``decode``: splitting, base64url and JSON of every part of the same presentation, nothing else.
  With the floor's cryptography it gives the *ceilings*: estimates of the best ratios a verifier
  written in CPython could reach if it checked nothing at all (:func:`ceilings`).

Over HTTP: gunicorn (2 workers x 4 gthread threads, like ``civicid verifier serve``; ``--server-args``
to try others) on loopback serving the verifier's ``POST /api/verify`` on SQLite, and gunicorn with the
same settings serving a minimal Flask endpoint that parses the JSON body and verifies one Ed25519
signature. The load comes from 32 keep-alive connections sending pre-built requests (closed loop: a
connection sends its next request when the answer is in) for a bounded time, through wrk (the Debian
package, one thread per connection, with bench/wrk_replay.lua timing each request itself) when it is
installed, else through bench/httpload.py (one Python thread on ``selectors``); ``--client`` chooses.
The client shares the 2 cores with the servers, so both endpoints carry the same handicap, a lighter
one with wrk; the two servers run one after the other in each of ``--rounds`` rounds, and the
figures are the best and the median round. Every verifier request carries a distinct presentation
(the replay guard is real).

Goals: pipeline >= 3x reference, >= 0.8x floor; HTTP >= 0.6x the minimal endpoint, p99 < 20 ms.
With a closed-loop client the mean latency is connections / throughput (Little's law), so p99 < 20 ms
at 32 connections needs well over 1,600 answers per second.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests" / "verifier"))

import bench_sdjwt  # noqa: E402
import httpload  # noqa: E402

import sdjwt  # noqa: E402
from verifier.pipeline import MemoryReplayGuard, Pipeline  # noqa: E402
from verifier.policy import load_policies  # noqa: E402
from verifier.status import StatusLists  # noqa: E402
from verifier_helpers import T0, Issuer, LedgerTrust, present  # noqa: E402

AUD = "decentralized_identifier:did:key:z6MkBench"
NONCE = "bench-nonce-000000000000"
PATHS = [("age_equal_or_over", "65"), ("address", "locality")]
GOALS = {"vs_reference": 3.0, "vs_floor": 0.8, "http_vs_minimal": 0.6, "p99_ms": 20.0}


def pool(size: int, now: int, aud: str = AUD, nonce: str = NONCE, holder_alg: str = "EdDSA") -> tuple[Issuer, LedgerTrust, list[str]]:
    trust = LedgerTrust()
    issuer = Issuer(trust)
    holder: sdjwt.PrivateKey = (
        sdjwt.Ed25519PrivateKey(b"\x22" * 32) if holder_alg == "EdDSA" else sdjwt.P256PrivateKey.generate()
    )
    # Distinct KB-JWTs (a credential per 200, distinct iat within the freshness window): the replay
    # guard is real, so each presentation can be used once per pass.
    credentials = [issuer.issue(holder, iat=now - 1000, exp=now + 86400) for _ in range(size // 200 + 1)]
    return issuer, trust, [present(credentials[i // 200], PATHS, holder, aud=aud, nonce=nonce, iat=now - i % 200)
                           for i in range(size)]


def pipeline_rate(duration: float, holder_alg: str) -> tuple[float, float, str]:
    """(best, median) verifications per second of the whole pipeline, and one presentation used."""
    verify_one, sample = pipeline_setup(holder_alg)
    best, median, _ = bench_sdjwt.measure(verify_one, duration)
    return best, median, sample


def pipeline_setup(holder_alg: str) -> tuple[Any, str]:
    """One pipeline decision per call (each on a distinct presentation), and one presentation used."""
    now = T0 + 300
    issuer, trust, presentations = pool(4000, now, holder_alg=holder_alg)
    policy = load_policies().get("senior-bus-pass")
    status = StatusLists(trust.key_at, issuer.fetcher())
    state: dict[str, Any] = {"i": 0, "pipeline": Pipeline(trust, status, replay=MemoryReplayGuard())}

    def verify_one() -> None:
        i = state["i"]
        if i == len(presentations):
            state["i"], i = 0, 0
            state["pipeline"] = Pipeline(trust, status, replay=MemoryReplayGuard())
        state["i"] = i + 1
        outcome = state["pipeline"].decide({"national_id": [presentations[i]]}, policy, nonce=NONCE, audience=AUD, now=now)
        if not outcome.decision:
            raise AssertionError(outcome.reasons)

    return verify_one, presentations[0]


def in_process(duration: float) -> dict[str, Any]:
    best, median, sample = pipeline_rate(duration, "EdDSA")
    es_best, es_median, _ = pipeline_rate(duration, "ES256")
    # The reference verifier hard-codes ES256 for the KB-JWT, so its row has an ES256 holder.
    ref = bench_sdjwt.reference_setup("ES256", int(time.time()))
    ref_best, ref_median, _ = bench_sdjwt.measure(ref["verify"], duration)
    floor_best, floor_median, _ = bench_sdjwt.measure(floor_setup(sample), duration)
    # The same four, interleaved in ~50 ms batches (bench_sdjwt.measure_paired): this VM's speed
    # changes by up to a third within seconds, so rows measured one after the other can compare a
    # fast moment with a slow one; within a round they run back to back. Median of per-round ratios.
    eddsa, _ = pipeline_setup("EdDSA")
    es256, es_sample = pipeline_setup("ES256")
    rates = bench_sdjwt.measure_paired({"pipeline": eddsa, "pipeline_es256": es256, "reference": ref["verify"],
                                         "floor": floor_setup(sample), "floor_es256": floor_es256_setup(es_sample),
                                         "decode": decode_setup(sample), "decode_es256": decode_setup(es_sample)}, duration)
    paired = bench_sdjwt.paired_ratio
    return {
        "pipeline_per_s": best, "pipeline_median_per_s": median,
        "pipeline_es256_per_s": es_best, "pipeline_es256_median_per_s": es_median,
        "reference_per_s": ref_best, "reference_median_per_s": ref_median,
        "floor_per_s": floor_best, "floor_median_per_s": floor_median,
        # Like for like: both with an ES256 holder; the EdDSA-holder ratio is for information.
        "pipeline_vs_reference": es_best / ref_best, "pipeline_eddsa_vs_reference": best / ref_best,
        "pipeline_vs_floor": best / floor_best,
        "interleaved": {"pipeline_vs_reference": paired(rates, "pipeline_es256", "reference"),
                        "pipeline_eddsa_vs_reference": paired(rates, "pipeline", "reference"),
                        "pipeline_vs_floor": paired(rates, "pipeline", "floor"), "rounds": len(rates["floor"])},
        "decode_per_s": statistics.median(rates["decode"]),
        "ceilings": ceilings(rates),
    }


def ceilings(rates: dict[str, list[float]]) -> dict[str, float]:
    """Estimates of the best ratios a CPython verifier could reach: its cryptography plus bare decoding.

    Per round, a verifier that only decoded the presentation (``decode``: the standard library's
    base64 and JSON, no check, no lookup, no status, no policy) and then made the floor's
    cryptography would take ``1/floor + 1/decode`` seconds. Median over rounds, like the
    interleaved ratios. The ES256 row's ceiling decodes the ES256 presentation (its ``cnf`` is longer).
    """
    def best(floor: str, decode: str) -> list[float]:
        return [1 / (1 / f + 1 / d) for f, d in zip(rates[floor], rates[decode])]

    return {
        "vs_floor": statistics.median(b / f for b, f in zip(best("floor", "decode"), rates["floor"])),
        "vs_reference": statistics.median(
            b / r for b, r in zip(best("floor_es256", "decode_es256" if "decode_es256" in rates else "decode"), rates["reference"])),
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


def floor_es256_setup(presentation: str) -> Any:
    """The ES256-holder row's cryptography: an Ed25519 verify (issuer), a P-256 verify (KB-JWT), digests, sd_hash."""
    import hashlib

    import nacl.signing
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    parsed = sdjwt.SDJWT.parse(presentation)
    issuer_msg = parsed.jwt.rsplit(".", 1)[0].encode()
    kb_msg = str(parsed.kb_jwt).rsplit(".", 1)[0].encode()
    issuer = nacl.signing.SigningKey(b"\x05" * 32)
    issuer_signed = issuer.sign(issuer_msg)
    holder = ec.generate_private_key(ec.SECP256R1())
    kb_der = holder.sign(kb_msg, ec.ECDSA(hashes.SHA256()))
    holder_public = holder.public_key()
    disclosures = [d.encoded.encode("ascii") for d in parsed.disclosures]
    body = parsed.without_key_binding().encode("ascii")

    def floor() -> None:
        issuer.verify_key.verify(issuer_signed)
        holder_public.verify(kb_der, kb_msg, ec.ECDSA(hashes.SHA256()))
        for d in disclosures:
            hashlib.sha256(d).digest()
        hashlib.sha256(body).digest()

    return floor


def decode_setup(presentation: str) -> Any:
    """The decoding no CPython verifier can skip, and nothing else: split, base64url and JSON of every part.

    No check at all (not even for duplicate JSON members), no registry, status, policy or replay
    guard: with the floor's cryptography it estimates the most a verifier written in Python can
    reach (:func:`ceilings`).
    """
    import binascii

    scan = json.JSONDecoder().scan_once
    to_standard = bytes.maketrans(b"-_", b"+/")
    padding = (b"", b"", b"==", b"=")
    a2b = binascii.a2b_base64
    raw = presentation.encode("ascii")

    def decode() -> None:
        parts = raw.split(b"~")
        for part in parts[1:-1]:
            scan(a2b(part.translate(to_standard) + padding[len(part) & 3]).decode("utf-8"), 0)
        for jwt in (parts[0], parts[-1]):
            header, payload, signature = jwt.split(b".")
            scan(a2b(header.translate(to_standard) + padding[len(header) & 3]).decode("utf-8"), 0)
            scan(a2b(payload.translate(to_standard) + padding[len(payload) & 3]).decode("utf-8"), 0)
            a2b(signature.translate(to_standard) + padding[len(signature) & 3])

    return decode


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


def _request(path: str, body: bytes, token: str) -> bytes:
    head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Authorization: Bearer {token}\r\nContent-Length: {len(body)}\r\n\r\n")
    return head.encode("ascii") + body


def _read_response(sock: socket.socket, buf: bytes) -> tuple[int, bytes, bytes]:
    """(status, body, what is left over) of one HTTP/1.1 answer with a Content-Length."""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("server closed the connection")
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("server closed the connection")
        rest += chunk
    return status, rest[:length], rest[length:]


def load(port: int, requests: list[bytes], seconds: float, connections: int, cycle: bool, client: str = "python") -> dict[str, Any]:
    """Closed loop: ``connections`` keep-alive connections for ``seconds``, through wrk or bench/httpload.py.

    Every request is used once unless ``cycle`` (the verifier's replay guard refuses a second use).
    An answer counts as an error unless it is a 200 with ``"decision": true``.
    """
    if client == "wrk":
        return _load_wrk(port, requests, seconds, connections, cycle)

    def ok(status: int, head: bytes, body: bytes) -> bool:
        return status == 200 and b'"decision":true' in body.replace(b" ", b"")

    answers, elapsed, exhausted = httpload.closed_loop(port, requests, seconds, connections, cycle=cycle, observe=ok)
    latencies = sorted(a.done - a.sent for a in answers)
    return {
        "requests": len(latencies), "errors": sum(1 for a in answers if not a.note), "per_s": len(latencies) / elapsed,
        "p50_ms": 1000 * latencies[len(latencies) // 2] if latencies else None,
        "p99_ms": 1000 * latencies[int(len(latencies) * 0.99)] if latencies else None,
        "pool_exhausted": exhausted,
    }


MAX_RATE = 6000
"""Requests per second and round the pool holds (several times what this box serves); a round that
runs out reports ``pool_exhausted`` (wrk then repeats requests, which count as errors; the Python
client stops sending)."""
WARM_UP = 3000
"""Distinct requests for each server's 1 s warm-up at 4 connections."""
WRK_SCRIPT = ROOT / "bench" / "wrk_replay.lua"


def _load_wrk(port: int, requests: list[bytes], seconds: float, connections: int, cycle: bool) -> dict[str, Any]:
    """One closed-loop round through wrk (C; bench/wrk_replay.lua), one thread per connection.

    wrk spends a few microseconds of CPU per request where the Python client spends tens, so
    on this 2-core box more of the cores go to the servers, as with a load generator on another
    machine. With one connection per thread the script times every request itself: wrk's own
    percentiles carry its coordinated-omission correction, which raises a closed loop's tail
    (kept as ``wrk_corrected_p99_ms`` for information). The rate counts the answers completed
    while every connection was running. Durations are whole seconds, so ``seconds`` is rounded up.
    """
    whole = max(1, math.ceil(seconds))
    block = requests if cycle else requests[: whole * MAX_RATE]
    folder = Path(tempfile.mkdtemp(prefix="civicid-wrk-"))
    try:
        # Thread t reads requests t, t + connections, ... from its own file (wrk sets threads up one by one).
        for t in range(connections):
            with open(folder / f"requests.{t}", "wb") as out:
                for request in block[t::connections]:
                    out.write(b"%d\n" % len(request))
                    out.write(request)
        done = subprocess.run(
            ["wrk", f"-t{connections}", f"-c{connections}", f"-d{whole}s", "--timeout", "10s", "-s", str(WRK_SCRIPT),
             f"http://127.0.0.1:{port}/", "--", str(folder / "requests"), str(connections), "cycle" if cycle else "once"],
            capture_output=True, text=True, timeout=whole + 120)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}")
    figures = json.loads(lines[-1])
    if not figures["window_us"]:
        raise RuntimeError("wrk: some connection got no answer; no window in which all of them ran")
    return {
        "requests": figures["answered"], "errors": figures["bad"] + figures["socket_errors"],
        "per_s": figures["in_window"] / (figures["window_us"] / 1e6),
        "p50_ms": figures["p50_us"] / 1000, "p99_ms": figures["p99_us"] / 1000,
        "wrk_corrected_p99_ms": figures["wrk_corrected_p99_us"] / 1000,
        "pool_exhausted": bool(figures["exhausted"]),
        # Connection t sends requests t, t + connections, ...: the next round starts after the last one sent.
        "consumed": connections * figures["most_sent_by_a_thread"],
    }


SERVER_ARGS = "-w 2 --threads 4 -k gthread"
"""gunicorn's settings for both servers: those of ``civicid verifier serve`` (2 workers x 4 threads)."""


def over_http(seconds: float, connections: int, rounds: int, client: str = "python", server_args: str = SERVER_ARGS) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="civicid-bench-"))
    now = int(time.time())
    signing = sdjwt.Ed25519PrivateKey(b"\x44" * 32)
    client_id = "decentralized_identifier:" + sdjwt.did_from_key(signing.public_key())
    # Distinct presentations for every verifier request of every round (and the warm-up).
    issuer, trust, presentations = pool(rounds * math.ceil(seconds) * MAX_RATE + WARM_UP, now, aud=client_id)
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
    # Shedding off (MAX_IN_FLIGHT=0): this measures what the service serves, like the minimal
    # endpoint, which has none; a shed 503 is quick and would count as served.
    env = {**os.environ, "PYTHONPATH": str(tmp), "CIVICID_VERIFIER_PUBLIC_URL": "http://127.0.0.1",
           "CIVICID_VERIFIER_MAX_IN_FLIGHT": "0",
           "CIVICID_VERIFIER_API_TOKENS": json.dumps([token]), "CIVICID_VERIFIER_INSTANCE_PATH": str(tmp)}
    requests = {
        "verifier": [_request("/api/verify", json.dumps({"policy": "senior-bus-pass", "nonce": NONCE, "presentation": p}).encode(), token)
                     for p in presentations],
        "minimal": [_request("/verify", json.dumps({"presentation": p}).encode(), token) for p in presentations[:2000]],
    }
    servers: dict[str, tuple[int, subprocess.Popen[bytes]]] = {}
    runs: dict[str, list[dict[str, Any]]] = {"minimal": [], "verifier": []}
    try:
        for name, module in (("minimal", "minimal:app"), ("verifier", "serve:app")):
            port = _free_port()
            proc = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", *server_args.split(), "-b", f"127.0.0.1:{port}",
                 "--log-level", "warning", module], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=tmp)
            servers[name] = (port, proc)
            _wait(port, proc)
        for name in ("minimal", "verifier"):  # Warm-up: both workers of each server, distinct presentations.
            load(servers[name][0], requests[name][:WARM_UP], 1.0, 4, cycle=False, client=client)
        used = WARM_UP
        for _ in range(rounds):
            runs["minimal"].append(load(servers["minimal"][0], requests["minimal"], seconds, connections, cycle=True, client=client))
            result = load(servers["verifier"][0], requests["verifier"][used:], seconds, connections, cycle=False, client=client)
            used += result["consumed"] if "consumed" in result else result["requests"] + connections
            runs["verifier"].append(result)
    finally:
        for _, proc in servers.values():
            proc.terminate()
            proc.wait(timeout=10)
    results: dict[str, Any] = {"client": client, "server_args": server_args, "rounds": runs}
    for name in ("minimal", "verifier"):
        ordered = sorted(runs[name], key=lambda r: r["per_s"])
        results[name] = {
            "per_s": ordered[-1]["per_s"], "median_per_s": statistics.median(r["per_s"] for r in ordered),
            "p50_ms": statistics.median(r["p50_ms"] for r in ordered), "p99_ms": statistics.median(r["p99_ms"] for r in ordered),
            "best_p99_ms": min(r["p99_ms"] for r in ordered),
            "errors": sum(r["errors"] for r in ordered), "requests": sum(r["requests"] for r in ordered),
            "pool_exhausted": any(r["pool_exhausted"] for r in ordered),
        }
    ratios = [v["per_s"] / m["per_s"] for m, v in zip(runs["minimal"], runs["verifier"])]
    results["verifier_vs_minimal"] = results["verifier"]["per_s"] / results["minimal"]["per_s"]
    results["round_ratios"] = ratios
    results["median_round_ratio"] = statistics.median(ratios)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=2.0, help="seconds per in-process row")
    parser.add_argument("--http-seconds", type=float, default=5.0, help="seconds per endpoint per round")
    parser.add_argument("--rounds", type=int, default=3, help="HTTP rounds (minimal, then verifier)")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--client", choices=("auto", "wrk", "python"), default="auto",
                        help="HTTP load generator: wrk (Debian package), bench/httpload.py, or wrk when on PATH")
    parser.add_argument("--server-args", default=SERVER_ARGS, help="gunicorn options for both servers")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    client = args.client if args.client != "auto" else ("wrk" if shutil.which("wrk") else "python")
    result = {"in_process": in_process(args.duration),
              "http": over_http(args.http_seconds, args.connections, args.rounds, client, args.server_args), "goals": GOALS}
    ip, h = result["in_process"], result["http"]
    result["met"] = {
        "pipeline >= 3x reference": ip["pipeline_vs_reference"] >= GOALS["vs_reference"],
        "pipeline >= 0.8x floor": ip["pipeline_vs_floor"] >= GOALS["vs_floor"],
        # Only with every answer a correct decision: a refusal is not a verification.
        "http >= 0.6x minimal": h["verifier_vs_minimal"] >= GOALS["http_vs_minimal"] and h["verifier"]["errors"] == 0,
        "http p99 < 20 ms": (h["verifier"]["p99_ms"] or 1e9) < GOALS["p99_ms"] and h["verifier"]["errors"] == 0,
    }
    if args.json:
        print(json.dumps(result, indent=1))
        return 0
    print("in-process (best / median batch, per second)")
    for label, key in (("pipeline, EdDSA holder", "pipeline"), ("pipeline, ES256 holder", "pipeline_es256"),
                       ("reference, ES256 holder", "reference"), ("crypto floor, EdDSA", "floor")):
        print(f"  {label:26s} {ip[key + '_per_s']:8.0f} {ip[key + '_median_per_s']:8.0f}")
    print(f"  pipeline/reference {ip['pipeline_vs_reference']:.2f}x (ES256 holders; EdDSA holder "
          f"{ip['pipeline_eddsa_vs_reference']:.2f}x)   pipeline/floor {ip['pipeline_vs_floor']:.2f}x")
    il = ip["interleaved"]
    print(f"  interleaved ({il['rounds']} rounds, median ratio): pipeline/reference {il['pipeline_vs_reference']:.2f}x "
          f"(EdDSA holder {il['pipeline_eddsa_vs_reference']:.2f}x)   pipeline/floor {il['pipeline_vs_floor']:.2f}x")
    ce = ip["ceilings"]
    print(f"  decoding only {ip['decode_per_s']:.0f}/s; ceilings (floor's cryptography + decoding, nothing checked): "
          f"{ce['vs_floor']:.2f}x floor, {ce['vs_reference']:.2f}x reference")
    print(f"http, {args.connections} connections, {args.rounds} rounds of {args.http_seconds:g} s, client {client}, "
          f"gunicorn {args.server_args} (best / median round)")
    for name in ("minimal", "verifier"):
        r = h[name]
        print(f"  {name:9s} {r['per_s']:7.0f} {r['median_per_s']:7.0f} /s   p50 {r['p50_ms']:.1f} ms  p99 {r['p99_ms']:.1f} ms "
              f"(median round; best p99 {r['best_p99_ms']:.1f})  errors {r['errors']} of {r['requests']}")
    print(f"  verifier/minimal {h['verifier_vs_minimal']:.2f}x best, {h['median_round_ratio']:.2f}x median round")
    for goal, met in result["met"].items():
        print(f"goal {goal:28s} {'met' if met else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
