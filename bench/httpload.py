"""An HTTP/1.1 load client in one thread: keep-alive sockets driven by ``selectors`` (epoll).

Why not threads: a Python thread per connection spends most of the client's CPU on waking
threads and passing the GIL around (measured here: the 32-thread client of bench_verifier.py
and the 48-thread paced driver of tests/load/loadgen.py topped out near 1,700 requests/s while
taking a core the servers needed). One thread that sends pre-built request bytes and parses only
the status line, ``Content-Length`` and the body costs a few tens of microseconds per request,
so the servers keep the cores and the client can offer more than twice what they serve.

Two drivers:

* :func:`closed_loop`: ``connections`` sockets, each sends its next request when the answer is
  in (throughput and latency of a saturated server);
* :func:`open_loop`: request ``i`` is due at ``start + i / rate`` on connection
  ``i % connections`` whatever the answers (a fixed offered rate). Each record keeps the latency
  from the scheduled time too, so a client that falls behind shows it (coordinated omission).

Loopback only; no TLS, no chunked answers (the servers under test send ``Content-Length``).
"""

from __future__ import annotations

import selectors
import socket
import time
from dataclasses import dataclass, field
from typing import Any, Callable

__all__ = ["Answer", "closed_loop", "open_loop", "TIMEOUT", "BROKEN"]

TIMEOUT, BROKEN = 0, -1  # Pseudo statuses: no answer within the timeout; the connection failed.
Observer = Callable[[int, bytes, bytes], Any]
"""``observe(status, head, body)``, called on every answer as it arrives; its result is kept."""


@dataclass
class Answer:
    """One request's fate: when it was due and sent, when it was answered, and the answer."""

    index: int
    scheduled: float
    sent: float
    done: float
    status: int
    note: Any = None  # What ``observe(status, head, body)`` made of the answer (bodies are not kept).


@dataclass
class _Conn:
    k: int
    sock: socket.socket | None = None
    buf: bytearray = field(default_factory=bytearray)
    index: int = -1  # Request in flight, -1 when idle.
    scheduled: float = 0.0
    sent: float = 0.0
    head_end: int = -1
    length: int = -1


def _parse(conn: _Conn) -> tuple[int, bytes, bytes] | None:
    """(status, head, body) when ``conn.buf`` holds a whole answer (which is then cut off), else None."""
    buf = conn.buf
    if conn.head_end < 0:
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            return None
        conn.head_end = end
        head = bytes(buf[:end])
        length = 0
        lower = head.lower()
        at = lower.find(b"\r\ncontent-length:")
        if at >= 0:
            stop = lower.find(b"\r\n", at + 2)
            length = int(head[at + 17: stop if stop >= 0 else len(head)])
        conn.length = length
    total = conn.head_end + 4 + conn.length
    if len(buf) < total:
        return None
    head = bytes(buf[:conn.head_end])
    body = bytes(buf[conn.head_end + 4:total])
    del buf[:total]
    conn.head_end = conn.length = -1
    return int(head[9:12]), head, body


class _Engine:
    def __init__(self, port: int, connections: int, timeout: float, observe: Observer | None) -> None:
        self.port = port
        self.timeout = timeout
        self.observe = observe
        self.selector = selectors.DefaultSelector()
        self.conns = [_Conn(k) for k in range(connections)]
        self.answers: list[Answer] = []

    def _open(self, conn: _Conn) -> None:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=self.timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setblocking(True)  # sendall blocks (loopback buffers are large); recv only after readiness.
        conn.sock = sock
        conn.buf.clear()
        conn.head_end = conn.length = -1
        self.selector.register(sock, selectors.EVENT_READ, conn)

    def _close(self, conn: _Conn) -> None:
        if conn.sock is not None:
            self.selector.unregister(conn.sock)
            conn.sock.close()
            conn.sock = None

    def send(self, conn: _Conn, index: int, scheduled: float, data: bytes) -> None:
        conn.index, conn.scheduled = index, scheduled
        try:
            if conn.sock is None:
                self._open(conn)
            conn.sent = time.perf_counter()
            assert conn.sock is not None
            conn.sock.sendall(data)
        except OSError:
            self._finish(conn, BROKEN, b"", b"")

    def _finish(self, conn: _Conn, status: int, head: bytes, body: bytes) -> None:
        done = time.perf_counter()
        note = self.observe(status, head, body) if status > 0 and self.observe is not None else None
        self.answers.append(Answer(conn.index, conn.scheduled, conn.sent, done, status, note))
        conn.index = -1
        if status <= 0:
            self._close(conn)

    def poll(self, wait: float) -> list[_Conn]:
        """Wait up to ``wait`` seconds; the connections whose answer completed (now idle)."""
        finished = []
        for key, _ in self.selector.select(max(0.0, wait)):
            conn: _Conn = key.data
            try:
                chunk = conn.sock.recv(262144) if conn.sock is not None else b""
            except OSError:
                chunk = b""
            if not chunk:
                if conn.index >= 0:
                    self._finish(conn, BROKEN, b"", b"")
                    finished.append(conn)
                else:
                    self._close(conn)
                continue
            conn.buf += chunk
            parsed = _parse(conn)
            if parsed is not None and conn.index >= 0:
                self._finish(conn, *parsed)
                finished.append(conn)
        now = time.perf_counter()
        for conn in self.conns:
            if conn.index >= 0 and now - conn.sent > self.timeout:
                self._finish(conn, TIMEOUT, b"", b"")
                finished.append(conn)
        return finished

    def close(self) -> None:
        for conn in self.conns:
            self._close(conn)
        self.selector.close()


def closed_loop(port: int, requests: list[bytes], seconds: float, connections: int, *, cycle: bool,
                timeout: float = 30.0, observe: Observer | None = None) -> tuple[list[Answer], float, bool]:
    """Send ``requests`` in order over ``connections`` sockets for ``seconds``: (answers, elapsed, pool exhausted).

    Every request is used once unless ``cycle``.
    """
    engine = _Engine(port, connections, timeout, observe)
    nxt = 0
    exhausted = False
    begin = time.perf_counter()
    end = begin + seconds

    def feed(conn: _Conn) -> None:
        nonlocal nxt, exhausted
        if nxt >= len(requests) and not cycle:
            exhausted = True
            return
        i = nxt % len(requests)
        nxt += 1
        engine.send(conn, i, time.perf_counter(), requests[i])

    try:
        for conn in engine.conns:
            feed(conn)
        while True:
            busy = [c for c in engine.conns if c.index >= 0]
            if not busy:
                break
            for conn in engine.poll(0.05):
                if time.perf_counter() < end:
                    feed(conn)
    finally:
        engine.close()
    return engine.answers, time.perf_counter() - begin, exhausted


def open_loop(port: int, requests: list[bytes], *, rate: float, seconds: float, connections: int,
              timeout: float = 5.0, stop: Callable[[], bool] | None = None,
              observe: Observer | None = None) -> tuple[list[Answer], float, float, bool]:
    """Request ``i`` (cycling ``requests``) is due at ``begin + i / rate`` on connection ``i % connections``.

    A connection still waiting for an answer sends its next request as soon as the answer is in
    (late). Runs for ``seconds`` of wall time; ``stop()``, polled every 0.5 s, ends it early.
    Returns (answers, begin, elapsed, stopped early).
    """
    engine = _Engine(port, connections, timeout, observe)
    begin = time.perf_counter() + 0.05
    end = begin + seconds
    next_index = list(range(connections))  # Connection k sends k, k + connections, ...
    halted = False
    last_stop_check = begin
    try:
        while True:
            now = time.perf_counter()
            if now >= end or halted:
                break
            if stop is not None and now - last_stop_check >= 0.5:
                last_stop_check = now
                if stop():
                    halted = True
                    break
            soonest = end
            for conn in engine.conns:
                if conn.index >= 0:
                    continue
                i = next_index[conn.k]
                due = begin + i / rate
                if due <= now:
                    engine.send(conn, i, due, requests[i % len(requests)])
                    next_index[conn.k] = i + connections
                elif due < soonest:
                    soonest = due
            engine.poll(min(soonest - time.perf_counter(), 0.05) if soonest < end else 0.01)
        # Let the requests in flight finish (bounded by the timeout).
        deadline = time.perf_counter() + timeout + 0.1
        while any(c.index >= 0 for c in engine.conns) and time.perf_counter() < deadline:
            engine.poll(0.05)
    finally:
        engine.close()
    return engine.answers, begin, time.perf_counter() - begin, halted
