"""bench_verifier's wrk driver (bench/wrk_replay.lua) against a real HTTP/1.1 server on loopback.

The benchmark's HTTP figures are only as good as its client: every verifier request must go out
once (the replay guard refuses a second use), a refusal must count as an error, and a pool that
runs dry must say so. The server here records every body it receives and answers like the
verifier (``"decision": true`` or ``false``), so the driver's counts can be checked against it.
"""

from __future__ import annotations

import shutil
import sys
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests" / "verifier"))

import bench_verifier  # noqa: E402

pytestmark = pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed (Debian package wrk; .ci/run installs it)")


class Recorder(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, delay: float) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.delay = delay
        self.bodies: Counter[bytes] = Counter()
        self.refused = 0
        self.busy = 0
        self.lock = threading.Lock()

    def handle_error(self, request: object, client_address: object) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return  # wrk resets its connections when its time is up: not an error of the server's.
        super().handle_error(request, client_address)  # type: ignore[arg-type]

    def settled(self) -> tuple[Counter[bytes], int]:
        """What was received, once no handler is still answering (wrk may leave a few in flight)."""
        deadline = time.monotonic() + 5
        while True:
            with self.lock:
                if not self.busy or time.monotonic() > deadline:
                    return Counter(self.bodies), self.refused
            time.sleep(0.01)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # Keep-alive, as wrk expects.
    server: Recorder

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        with self.server.lock:
            self.server.busy += 1
        time.sleep(self.server.delay)
        with self.server.lock:
            self.server.busy -= 1
            self.server.bodies[body] += 1
            good = b"good" in body and self.server.bodies[body] == 1
            if not good:
                self.server.refused += 1
        answer = b'{"decision": true}' if good else b'{"decision": false, "reasons": [{"code": "presentation_replayed"}]}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args: object) -> None:
        pass


def serve(delay: float) -> Iterator[Recorder]:
    server = Recorder(delay)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def slow_server() -> Iterator[Recorder]:
    yield from serve(0.004)  # At most ~250 answers/s per connection: 4 connections cannot drain 3,000.


@pytest.fixture
def fast_server() -> Iterator[Recorder]:
    yield from serve(0.0)


def requests(count: int, bad: set[int] = frozenset()) -> list[bytes]:  # type: ignore[assignment]
    return [bench_verifier._request("/api/verify", b'{"n": %d, "kind": "%s"}' % (i, b"bad" if i in bad else b"good"), "t" * 40)
            for i in range(count)]


def index(body: bytes) -> int:
    return int(body.split(b'"n": ')[1].split(b",")[0])


def test_once_sends_every_request_at_most_once_and_counts_refusals(slow_server: Recorder) -> None:
    bad = set(range(0, 3000, 7))
    result = bench_verifier.load(slow_server.server_address[1], requests(3000, bad), 1.0, 4, cycle=False, client="wrk")
    bodies, refused = slow_server.settled()

    assert not result["pool_exhausted"]
    assert result["requests"] > 50
    assert max(bodies.values()) == 1  # Nothing was sent twice.
    # The script counts the answers it read before wrk's time was up; the server may have sent a few more.
    assert result["requests"] <= sum(bodies.values()) <= result["requests"] + 4
    assert result["errors"] <= refused <= result["errors"] + 4
    assert refused > 0
    # The next round starts after the last request sent by any connection.
    assert max(index(body) for body in bodies) < result["consumed"] <= 3000 + 4
    # Units: every answer takes the server's 4 ms at least; 4 connections make at most ~1,000 a second.
    assert 4.0 <= result["p50_ms"] <= result["p99_ms"] < 1000
    assert 0.5 * result["requests"] <= result["per_s"] <= 1.5 * result["requests"]


def test_once_reports_an_exhausted_pool_and_counts_its_repeats_as_errors(fast_server: Recorder) -> None:
    result = bench_verifier.load(fast_server.server_address[1], requests(40), 1.0, 4, cycle=False, client="wrk")
    bodies, _ = fast_server.settled()

    assert result["pool_exhausted"]
    # Every request went out (but the first: wrk calls thread 0's request() once to check the script) ...
    assert {index(body) for body in bodies} == set(range(1, 40))
    assert max(bodies.values()) > 1  # ... and the last ones again,
    assert result["errors"] >= result["requests"] - 39  # which the server refused and the driver counted.


def test_cycle_repeats_the_pool_without_calling_it_exhausted(fast_server: Recorder) -> None:
    result = bench_verifier.load(fast_server.server_address[1], requests(10), 1.0, 2, cycle=True, client="wrk")
    bodies, _ = fast_server.settled()

    assert not result["pool_exhausted"]
    assert {index(body) for body in bodies} == set(range(10)) and max(bodies.values()) > 1
    assert result["errors"] >= result["requests"] - 10  # The recorder refuses repeats; the driver saw each.


def test_ceilings_are_the_floor_plus_bare_decoding() -> None:
    # Per round: a verifier that only decodes and then makes the floor's cryptography takes
    # 1/floor + 1/decode seconds. Equal rates halve it; decoding for free keeps the floor's rate.
    rates = {"floor": [100.0, 200.0, 300.0], "decode": [100.0, 200.0, 1e12],
             "floor_es256": [50.0, 50.0, 50.0], "reference": [10.0, 10.0, 10.0]}
    got = bench_verifier.ceilings(rates)

    assert got["vs_floor"] == pytest.approx(0.5)  # Median of 0.5, 0.5, ~1.0.
    assert got["vs_reference"] == pytest.approx(4.0)  # 33.3, 40 and ~50 a second against 10: median 4.


def test_a_server_that_never_answers_is_a_clear_error_not_a_figure() -> None:
    port = bench_verifier._free_port()  # Nothing listens there.
    with pytest.raises(RuntimeError, match="no answer|wrk failed"):
        bench_verifier.load(port, requests(20), 1.0, 2, cycle=False, client="wrk")
