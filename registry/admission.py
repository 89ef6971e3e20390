"""Admission control shared by every civicid service: shed excess load at once, and token buckets.

Two mechanisms, both per worker process (see ``docs/hardening/load.md``):

* :class:`Admission`, a WSGI middleware that lets at most ``max_in_flight``
  requests into the application at a time. A request that finds every slot
  taken waits at most ``max_queue_wait`` seconds for one, and is otherwise
  answered ``503`` with ``Retry-After`` before any application code runs: a
  problem document (RFC 9457), or on OAuth endpoints the OAuth-style object
  ``{"error": "temporarily_unavailable"}`` (RFC 6749 section 4.1.2.1). Under
  gunicorn's gthread workers the slots must be fewer than ``--threads``: the
  spare threads are the ones that answer the 503s quickly, so gunicorn's own
  queue (which has no bound in time) stays short. Overload then costs the
  client one fast answer instead of an ever longer wait.
* :class:`TokenBuckets`, per-key token buckets (``burst`` tokens, refilled
  at a rate per minute) for endpoints that guard secrets,
  such as the issuer's ``/token`` (PIN attempts). Memory is bounded: at most
  ``max_keys`` buckets, least recently used first out.

Neither mechanism shares state between processes: behind several processes or
hosts the proxy's limits (``limit_req`` in ``deploy/nginx.conf``) are the
global ones, and these are each process's own backstop.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import threading
import time
from collections import OrderedDict
from typing import Any, Callable, Iterable, Mapping, Sequence

__all__ = ["Admission", "TokenBuckets", "install", "client_address", "parse_limit", "DEFAULT_MAX_IN_FLIGHT"]

log = logging.getLogger("civicid.admission")

#: Requests inside the application per process. ``serve`` runs 4 gthread threads per worker: 3 do
#: the work (on 2 cores, CPU-bound requests gain nothing from more) and the 4th answers 503s fast.
DEFAULT_MAX_IN_FLIGHT = 3

_StartResponse = Callable[..., Any]


class Admission:
    """WSGI middleware: at most ``max_in_flight`` requests in ``app``; the rest get 503 at once.

    ``problem_type`` is the prefix of the problem document's ``type`` (the code
    ``overloaded`` is appended); paths starting with one of ``oauth_paths``
    answer in the OAuth style instead. ``max_queue_wait`` (seconds) lets a
    request wait that long for a slot, at most ``max_in_flight`` requests at a
    time; keep it 0 under gunicorn (a waiting request holds a thread that would
    otherwise answer a 503).
    """

    def __init__(
        self,
        app: Callable[[dict[str, Any], _StartResponse], Iterable[bytes]],
        *,
        max_in_flight: int,
        problem_type: str,
        oauth_paths: Sequence[str] = (),
        max_queue_wait: float = 0.0,
        retry_after: int = 1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_in_flight < 1:
            raise ValueError("max_in_flight must be at least 1")
        if max_queue_wait < 0:
            raise ValueError("max_queue_wait must not be negative")
        self.app = app
        self.max_in_flight = max_in_flight
        self.max_queue_wait = max_queue_wait
        self.retry_after = max(int(retry_after), 1)
        self._oauth_paths = tuple(oauth_paths)
        self._clock = clock
        self._cond = threading.Condition(threading.Lock())
        self.in_flight = 0
        self.waiting = 0
        self.admitted = 0
        self.shed = 0
        self._shed_logged = 0
        self._last_log = clock()
        detail = f"the service is at capacity; retry after {self.retry_after} second{'s' if self.retry_after > 1 else ''}"
        self._problem = json.dumps({
            "type": problem_type + "overloaded", "title": "Service overloaded", "status": 503,
            "detail": detail, "code": "overloaded",
        }).encode()  # fmt: skip
        self._oauth = json.dumps({"error": "temporarily_unavailable", "error_description": detail}).encode()

    def _enter(self) -> bool:
        with self._cond:
            if self.in_flight < self.max_in_flight:
                self.in_flight += 1
                self.admitted += 1
                return True
            if self.max_queue_wait > 0 and self.waiting < self.max_in_flight:
                self.waiting += 1
                try:
                    deadline = self._clock() + self.max_queue_wait
                    while self.in_flight >= self.max_in_flight:
                        remaining = deadline - self._clock()
                        if remaining <= 0:
                            break
                        self._cond.wait(remaining)
                    if self.in_flight < self.max_in_flight:
                        self.in_flight += 1
                        self.admitted += 1
                        return True
                finally:
                    self.waiting -= 1
            self.shed += 1
            return False

    def _leave(self) -> None:
        with self._cond:
            self.in_flight -= 1
            self._cond.notify()

    def __call__(self, environ: dict[str, Any], start_response: _StartResponse) -> Iterable[bytes]:
        if not self._enter():
            return self._refuse(environ, start_response)
        # Flask runs the view and builds the whole body before it returns; only sending is left,
        # which needs no slot. (A streamed body would run outside the bound; none of ours is.)
        try:
            return self.app(environ, start_response)
        finally:
            self._leave()

    def _refuse(self, environ: dict[str, Any], start_response: _StartResponse) -> list[bytes]:
        self._log_shedding()
        path = str(environ.get("PATH_INFO", ""))
        oauth = bool(self._oauth_paths) and path.startswith(self._oauth_paths)
        body = self._oauth if oauth else self._problem
        start_response("503 Service Unavailable", [
            ("Content-Type", "application/json" if oauth else "application/problem+json"),
            ("Content-Length", str(len(body))),
            ("Retry-After", str(self.retry_after)),
            ("Cache-Control", "no-store"),
        ])  # fmt: skip
        # The request body is left unread; gunicorn and werkzeug drain or close the connection.
        return [body]

    def _log_shedding(self) -> None:
        now = self._clock()
        if now - self._last_log < 10:
            return
        with self._cond:
            if now - self._last_log < 10:
                return
            count, self._shed_logged, self._last_log = self.shed - self._shed_logged, self.shed, now
        log.warning("overloaded: %d requests answered 503 since the last report (MAX_IN_FLIGHT=%d per process)",
                    count, self.max_in_flight)  # fmt: skip

    def stats(self) -> dict[str, int]:
        with self._cond:
            return {"in_flight": self.in_flight, "admitted": self.admitted, "shed": self.shed,
                    "max_in_flight": self.max_in_flight}  # fmt: skip


def install(
    app: Any,
    *,
    problem_type: str,
    oauth_paths: Sequence[str] = (),
    error: type[Exception] = ValueError,
) -> Admission | None:
    """Wrap ``app.wsgi_app`` per ``MAX_IN_FLIGHT`` / ``MAX_QUEUE_WAIT`` / ``RETRY_AFTER`` in ``app.config``.

    ``MAX_IN_FLIGHT`` 0 (or ``None``) turns shedding off. A bad value raises
    ``error`` (the service's ``ConfigError``) with a one-line reason.
    """
    config = app.config
    limit = config.get("MAX_IN_FLIGHT", DEFAULT_MAX_IN_FLIGHT)
    wait = config.get("MAX_QUEUE_WAIT", 0)
    retry = config.get("RETRY_AFTER", 1)
    if limit is None or limit == 0:
        return None
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
        raise error("MAX_IN_FLIGHT must be a non-negative integer (requests per process; 0 turns shedding off)")
    if not isinstance(wait, (int, float)) or isinstance(wait, bool) or not 0 <= wait <= 60:
        raise error("MAX_QUEUE_WAIT must be a number of seconds between 0 and 60")
    if not isinstance(retry, int) or isinstance(retry, bool) or not 1 <= retry <= 3600:
        raise error("RETRY_AFTER must be an integer number of seconds between 1 and 3600")
    admission = Admission(app.wsgi_app, max_in_flight=limit, max_queue_wait=float(wait), retry_after=retry,
                          problem_type=problem_type, oauth_paths=oauth_paths)  # fmt: skip
    app.wsgi_app = admission
    app.extensions["civicid.admission"] = admission
    return admission


# Token buckets ------------------------------------------------------------------------------


def parse_limit(value: Any, name: str, error: type[Exception] = ValueError) -> tuple[float, float] | None:
    """``[burst, per_minute]`` -> ``(burst, per_second)``; ``None`` turns the limit off."""
    if value is None:
        return None
    if (
        not isinstance(value, (list, tuple)) or len(value) != 2
        or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
        or value[0] < 1 or value[1] <= 0
    ):  # fmt: skip
        raise error(f"{name} must be [burst, refill per minute] with burst >= 1 and refill > 0, or null to turn it off")
    return float(value[0]), float(value[1]) / 60.0


class TokenBuckets:
    """One token bucket per key: ``burst`` tokens, refilled at ``per_second``; thread-safe.

    At most ``max_keys`` buckets are kept (least recently used dropped first),
    so a flood of distinct keys costs bounded memory; a dropped key starts
    again with a full bucket, which is why keys should be coarse (an IPv6
    client is keyed by its /64, see :func:`client_address`).
    """

    def __init__(self, burst: float, per_second: float, *, max_keys: int = 65536) -> None:
        if burst < 1 or per_second <= 0 or max_keys < 1:
            raise ValueError("burst >= 1, per_second > 0 and max_keys >= 1 are required")
        self.burst = burst
        self.per_second = per_second
        self.max_keys = max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, key: str, now: float) -> float:
        """Take one token for ``key`` at monotonic time ``now``: 0.0 if granted, else seconds until one is."""
        with self._lock:
            tokens, last = self._buckets.pop(key, (self.burst, now))
            tokens = min(self.burst, tokens + max(now - last, 0.0) * self.per_second)
            if tokens >= 1.0:
                tokens -= 1.0
                wait = 0.0
            else:
                wait = (1.0 - tokens) / self.per_second
            self._buckets[key] = (tokens, now)
            while len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
            return wait

    def __len__(self) -> int:
        return len(self._buckets)


def client_address(environ: Mapping[str, Any], trusted_proxies: Sequence[str] = ()) -> str:
    """The client's address as a rate-limit key: IPv4 as is, IPv6 by its /64.

    When the peer is one of ``trusted_proxies``, the rightmost
    ``X-Forwarded-For`` entry that is not itself a trusted proxy is the client
    (nginx's ``$proxy_add_x_forwarded_for`` appends the address it saw).
    """
    address = str(environ.get("REMOTE_ADDR") or "")
    if trusted_proxies and address in trusted_proxies:
        forwarded = [part.strip() for part in str(environ.get("HTTP_X_FORWARDED_FOR", "")).split(",") if part.strip()]
        for hop in reversed(forwarded):
            if hop not in trusted_proxies:
                address = hop
                break
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address[:64]
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.ip_network(f"{parsed}/64", strict=False))
    return str(parsed)
