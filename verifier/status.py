"""Status lists (draft-ietf-oauth-status-list): fetch, verify, cache per time-to-live.

The fetcher is injected (``(uri) -> token text``): :func:`http_fetcher` by
default, a dict in tests, a snapshot directory on an offline counter. A
verified list is kept until its ``ttl`` (section 13.7, capped by
configuration) or its ``exp`` runs out, whichever comes first; revoked and
suspended stay distinct outcomes. An offline counter may keep using a stale
list up to ``stale_max_age`` seconds old, and every answer says how old the
list it used is.
"""

from __future__ import annotations

import threading
import urllib.request
from dataclasses import dataclass
from typing import Callable

import sdjwt
from sdjwt.jws import CompactJWS

from .errors import StatusRevoked, StatusSuspended, StatusUnavailable

__all__ = ["Fetcher", "http_fetcher", "StatusLists", "MAX_STATUS_LIST_BYTES"]

Fetcher = Callable[[str], str]
"""``(uri) -> Status List Token text``; raises anything on failure (it becomes ``status_unavailable``)."""

MAX_STATUS_LIST_BYTES = 1 << 20


def http_fetcher(timeout: float = 5.0, max_bytes: int = MAX_STATUS_LIST_BYTES) -> Fetcher:
    """Fetch a Status List Token over HTTP(S) (section 8.1: ``Accept: application/statuslist+jwt``)."""

    def fetch(uri: str) -> str:
        if not uri.startswith(("https://", "http://")):
            raise ValueError("status list URI must be http(s)")
        request = urllib.request.Request(uri, headers={"Accept": "application/statuslist+jwt"})
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - scheme checked above
            body = response.read(max_bytes + 1)
        if len(body) > max_bytes:
            raise ValueError("status list token is too large")
        return body.decode("ascii")

    return fetch


@dataclass(frozen=True)
class _Entry:
    token: sdjwt.StatusListToken
    fetched_at: int
    fresh_until: int


class StatusLists:
    """Checks a credential's status against its issuer's signed, cached status list."""

    def __init__(
        self,
        key_at: Callable[[str, str | None, int | None], sdjwt.PublicKey],
        fetcher: Fetcher,
        *,
        algorithms: tuple[str, ...] = ("EdDSA", "ES256"),
        default_ttl: int = 300,
        max_ttl: int = 3600,
        stale_max_age: int = 0,
        leeway: int = 60,
    ) -> None:
        self._key_at = key_at
        self._fetch = fetcher
        self._algorithms = algorithms
        self._default_ttl = default_ttl
        self._max_ttl = max_ttl
        self._stale_max_age = stale_max_age
        self._leeway = leeway
        self._cache: dict[tuple[str, str], _Entry] = {}
        self._lock = threading.Lock()

    def _load(self, iss: str, uri: str, text: str, now: int, fetched_at: int) -> _Entry:
        try:
            unverified = CompactJWS.parse(text, "status list token")
            kid, iat = unverified.header.get("kid"), unverified.payload.get("iat")
            # The list must be signed by the credential's issuer, with a key valid when the list was made.
            key = self._key_at(iss, kid if isinstance(kid, str) else None, iat if isinstance(iat, int) else None)
            token = sdjwt.StatusListToken.verify(text, key=key, algorithms=self._algorithms, uri=uri, now=now, leeway=self._leeway)
        except Exception as exc:  # Registry, format and signature failures all mean: no usable list.
            raise StatusUnavailable("the credential's status list does not verify; the issuer must publish a valid one") from exc
        ttl = min(token.ttl or self._default_ttl, self._max_ttl)
        fresh_until = fetched_at + ttl
        if token.exp is not None:
            fresh_until = min(fresh_until, token.exp)
        return _Entry(token, fetched_at, fresh_until)

    def seed(self, iss: str, uri: str, text: str, fetched_at: int, now: int) -> None:
        """Prime the cache with a list fetched earlier (an offline counter's snapshot)."""
        entry = self._load(iss, uri, text, now, fetched_at)
        with self._lock:
            self._cache[(iss, uri)] = entry

    def _entry(self, iss: str, uri: str, now: int) -> _Entry:
        with self._lock:
            cached = self._cache.get((iss, uri))
        if cached is not None and now < cached.fresh_until:
            return cached
        try:
            text = self._fetch(uri)
            if not isinstance(text, str):
                raise TypeError("fetcher must return text")
        except Exception as exc:
            if cached is not None and now - cached.fetched_at <= self._stale_max_age:
                return cached  # Offline: use the stale list, and say how old it is.
            raise StatusUnavailable("the credential's status list cannot be fetched; try again when online") from exc
        entry = self._load(iss, uri, text, now, now)
        with self._lock:
            self._cache[(iss, uri)] = entry
        return entry

    def check(self, iss: str, reference: sdjwt.StatusReference, now: int) -> int:
        """Raise unless the referenced credential is VALID; return the age of the list used, in seconds."""
        entry = self._entry(iss, reference.uri, now)
        try:
            sdjwt.check_status(entry.token, reference)
        except sdjwt.StatusRevoked as exc:
            raise StatusRevoked("the credential has been revoked by its issuer") from exc
        except sdjwt.StatusSuspended as exc:
            raise StatusSuspended("the credential is suspended by its issuer; it may be reinstated later") from exc
        except sdjwt.SDJWTError as exc:
            raise StatusUnavailable("the credential's status entry cannot be read from its status list") from exc
        return max(0, now - entry.fetched_at)

    def ages(self, now: int) -> dict[str, int]:
        """How old each cached list is, by URI (for an offline counter's display)."""
        with self._lock:
            return {uri: max(0, now - e.fetched_at) for (_, uri), e in self._cache.items()}
