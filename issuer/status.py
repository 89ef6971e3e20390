"""Token Status Lists per office (draft-ietf-oauth-status-list): allocation, changes and the signed list.

Each credential gets a *random free* index in the current list, so indices do
not reveal issuance order; a list is filled to half its size before a new one
is opened, which keeps a random probe cheap (at most 2 expected tries) and
keeps every list's population large. Statuses live in the ``credentials``
rows; a change updates the row, bumps the list's ``version`` and appends the
audit record in one transaction. The signed list is built from the rows and
cached in memory per (list, version) for at most its ``ttl``.
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass
from typing import Any, Callable

import sdjwt
from registry.storage import Cursor
from sdjwt.status_list import INVALID, SUSPENDED, VALID

from . import audit
from .config import SigningIdentity
from .errors import Conflict, NotFound
from .storage import IssuerStore

__all__ = ["BITS", "allocate", "change_status", "StatusListCache", "STATUS_NAMES", "ACTIONS"]

BITS = 2
STATUS_NAMES = {VALID: "valid", INVALID: "revoked", SUSPENDED: "suspended"}
# action -> (statuses it may start from, status it sets)
ACTIONS = {
    "revoke": ((VALID, SUSPENDED), INVALID),
    "suspend": ((VALID,), SUSPENDED),
    "reinstate": ((SUSPENDED,), VALID),
}


def _open_list(cur: Cursor, store: IssuerStore, size: int, now: int, random: Callable[[int], bytes]) -> tuple[str, int, int]:
    list_id = random(8).hex()
    cur.execute(
        "INSERT INTO status_lists (id, bits, size, allocated, version, created_at) VALUES (?, ?, ?, 0, 1, ?)",
        (list_id, BITS, size, now),
    )
    return list_id, size, 0


def allocate(
    cur: Cursor, store: IssuerStore, count: int, *, size: int, now: int, random: Callable[[int], bytes]
) -> list[tuple[str, int]]:
    """``count`` distinct random free (list id, index) pairs, inside the caller's transaction."""
    result: list[tuple[str, int]] = []
    while len(result) < count:
        row = cur.execute(
            "SELECT id, size, allocated FROM status_lists WHERE allocated * 2 < size ORDER BY created_at, id LIMIT 1"
            + store.for_update
        ).fetchone()
        list_id, list_size, allocated = row if row is not None else _open_list(cur, store, size, now, random)
        list_size, allocated = int(list_size), int(allocated)
        taken = {idx for lid, idx in result if lid == list_id}
        room = min(count - len(result), list_size // 2 - allocated)
        picked: list[int] = []
        while len(picked) < room:
            idx = int.from_bytes(random(4), "big") % list_size
            if idx in taken:
                continue
            used = cur.execute("SELECT 1 FROM credentials WHERE list_id = ? AND idx = ?", (list_id, idx)).fetchone()
            if used is None:
                taken.add(idx)
                picked.append(idx)
        cur.execute("UPDATE status_lists SET allocated = ? WHERE id = ?", (allocated + len(picked), list_id))
        result.extend((list_id, idx) for idx in picked)
    return result


def change_status(store: IssuerStore, credential_id: str, action: str, *, actor: str, now: int, reason: str | None = None) -> int:
    """Revoke, suspend or reinstate one credential atomically; returns the new status value."""
    if action not in ACTIONS:
        raise ValueError(f"unknown status action {action!r}")
    allowed_from, new_status = ACTIONS[action]
    with store.transaction() as cur:
        row = cur.execute(
            "SELECT list_id, status FROM credentials WHERE id = ?" + store.for_update, (credential_id,)
        ).fetchone()
        if row is None:
            raise NotFound("no issued credential has this id; search for it first")
        list_id, status = row[0], int(row[1])
        if status not in allowed_from:
            raise Conflict(f"cannot {action} a credential that is {STATUS_NAMES.get(status, 'unknown')}")
        cur.execute("UPDATE credentials SET status = ? WHERE id = ?", (new_status, credential_id))
        cur.execute("UPDATE status_lists SET version = version + 1 WHERE id = ?", (list_id,))
        details: dict[str, Any] = {"from": STATUS_NAMES[status], "to": STATUS_NAMES[new_status]}
        if reason:
            details["reason"] = reason[:200]
        audit.append(cur, store, time=now, actor=actor, action=f"credential.{action}", target=f"credential:{credential_id}", details=details)
    return new_status


@dataclass(frozen=True)
class SignedList:
    token: str
    iat: int
    ttl: int


class StatusListCache:
    """Signed status list tokens, rebuilt when the list changes or the cached one is older than ``ttl``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[int, SignedList]] = {}

    def get(
        self, store: IssuerStore, list_id: str, *, uri: str, identity: SigningIdentity, now: int, ttl: int, validity: int
    ) -> SignedList:
        if not isinstance(list_id, str) or not 1 <= len(list_id) <= 64:
            raise NotFound("no such status list")
        row = store.read().execute("SELECT size, version FROM status_lists WHERE id = ?", (list_id,)).fetchone()
        if row is None:
            raise NotFound("no such status list")
        size, version = int(row[0]), int(row[1])
        with self._lock:
            cached = self._cache.get(list_id)
            if cached is not None and cached[0] == version and now - cached[1].iat < ttl:
                return cached[1]
        rows = store.read().execute(
            "SELECT idx, status FROM credentials WHERE list_id = ? AND status <> ?", (list_id, VALID)
        ).fetchall()
        status_list = sdjwt.StatusList.empty(size, BITS).with_status({int(i): int(s) for i, s in rows})
        token = sdjwt.sign_status_list(
            status_list, uri=uri, key=identity.key, kid=identity.kid, iat=now, exp=now + validity, ttl=ttl
        )
        signed = SignedList(token, now, ttl)
        with self._lock:
            self._cache[list_id] = (version, signed)
        return signed


def new_credential_id() -> str:
    return secrets.token_hex(16)
