"""Bounded load on loopback: the verifier and the registry shed excess load with 503 and recover,
straight at gunicorn and behind nginx with the shipped deploy/nginx-overload.conf.

Each service runs under real gunicorn (1 worker, 3 gthread threads, ``MAX_IN_FLIGHT`` 2),
its capacity is measured with bench_verifier's closed-loop generator at the admitted
concurrency, then it is driven open-loop at twice that rate for a few seconds. Whatever
the machine manages to offer, every answer must be a success or a 503 problem document
with ``Retry-After`` (never a 500, never a hang past the client timeout), the accepted
requests must all be correct, and right after the burst the service must answer normally.
About 30 s in all; figures for the docs come from ``scripts/load_soak.py``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

import pytest

import loadgen as lg

BURST_SECONDS = 4.0
CLIENT_TIMEOUT = 5.0
CONNECTIONS = 128  # Enough that connections / latency exceeds 2x capacity: the schedule, not the sockets, sets the rate.
FRONT_CONNECTIONS = 64  # nginx answers a refusal in microseconds, so fewer connections keep the 2x schedule.
needs_nginx = pytest.mark.skipif(lg.NGINX is None, reason="nginx is not installed (Debian package nginx; .ci/run installs it)")


@pytest.fixture
def verifier(tmp_path: Path) -> Iterator[lg.Server]:
    server = lg.start_verifier(tmp_path / "verifier", workers=1, threads=3, max_in_flight=2, presentations=3000)
    yield server
    server.stop()


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[lg.Server]:
    server = lg.start_registry(tmp_path / "registry", workers=1, threads=3, max_in_flight=2, dids=60)
    yield server
    server.stop()


def _overload_then_recover(server: lg.Server, tmp: Path | None = None) -> dict[str, Any]:
    """Capacity, then 2x that for a few seconds; with ``tmp``, through nginx (deploy/nginx-overload.conf)."""
    cap = lg.capacity(server, 1.5, 2)["per_s"]
    assert cap > 20, f"{server.name} served only {cap:.0f}/s unloaded; see {server.log}"
    offset = 0 if server.name != "verifier" else int(cap * 1.5) + 10
    front = None if tmp is None else lg.start_front(tmp / "nginx", server, rate=cap, burst=max(1, int(cap / 10)))
    target = server if front is None else front.server
    try:
        burst = lg.paced(target, server.requests[offset:] or server.requests, rate=2 * cap, seconds=BURST_SECONDS,
                         connections=CONNECTIONS if front is None else FRONT_CONNECTIONS, timeout=CLIENT_TIMEOUT)  # fmt: skip
        after = lg.recovery(target, rate=max(cap / 10, 10), seconds=2.0)
    finally:
        if front is not None:
            front.stop()
    summary = burst.summary()
    label = server.name + ("" if front is None else " behind nginx")
    print(label, json.dumps({"capacity_per_s": round(cap), **summary, "recovery": after["recovered_after_s"]}))

    # The client really overloaded the service. Straight at gunicorn, refusals cost the worker its
    # request parsing, so the answers (accepted + shed) top out at 1.5-1.7x capacity and the
    # keep-alive client cannot send faster than it is answered; behind nginx the full 2x goes out.
    assert summary["sent_per_s"] > (1.2 if front is None else 1.8) * cap, summary
    # Excess load is shed, not queued without bound: 503s, and no request left without an answer.
    assert summary["shed"] > 0, summary
    assert summary["timeouts"] == 0 and summary["broken"] == 0, summary
    assert set(summary["statuses"]) <= {"200", "503"}, summary["statuses"]
    assert summary["server_errors"] == 0
    # What was accepted was served correctly, at a useful rate and with a bounded tail.
    assert summary["not_ok_accepted"] == 0, summary
    assert summary["accepted_per_s"] > 0.1 * cap, summary
    assert summary["p99_ms"] < 1000 * CLIENT_TIMEOUT / 5, summary
    # A shed answer is a problem document that says when to come back.
    status, headers, body = burst.shed_samples[0]
    assert status == 503 and headers["retry-after"] == "1"
    assert headers["content-type"] == "application/problem+json"
    assert json.loads(body)["code"] == "overloaded"
    # Recovery: at a tenth of the load right after the burst, every answer is a success again.
    probe = after["probe"]
    assert probe["timeouts"] == 0 and probe["server_errors"] == 0, probe
    assert after["recovered_after_s"] is not None and after["recovered_after_s"] <= 1.0, after
    assert probe["ok"] >= 0.9 * probe["sent"], probe
    return summary


def test_verifier_sheds_at_twice_capacity_and_recovers(verifier: lg.Server) -> None:
    _overload_then_recover(verifier)
    assert verifier.proc.poll() is None


def test_registry_sheds_at_twice_capacity_and_recovers(registry: lg.Server) -> None:
    _overload_then_recover(registry)
    assert registry.proc.poll() is None


@needs_nginx
def test_verifier_behind_nginx_sheds_at_twice_capacity_and_recovers(verifier: lg.Server, tmp_path: Path) -> None:
    _overload_then_recover(verifier, tmp_path)
    assert verifier.proc.poll() is None


@needs_nginx
def test_registry_behind_nginx_sheds_at_twice_capacity_and_recovers(registry: lg.Server, tmp_path: Path) -> None:
    _overload_then_recover(registry, tmp_path)
    assert registry.proc.poll() is None
