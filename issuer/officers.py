"""Officer accounts, roles and API tokens.

Roles and what they may do (checked on every admin endpoint and console page):

=============  ==========================================================
``officer``    create offers, search issued credentials
``supervisor`` everything an officer may, plus revoke / suspend / reinstate,
               manage officers and API tokens, read the audit log
``auditor``    read and verify the audit log (nothing else)
=============  ==========================================================

Passwords are hashed with Argon2id (libsodium, ``nacl.pwhash.argon2id``,
interactive limits), API tokens are 256-bit random and stored as SHA-256; every
token expires (``TOKEN_LIFETIME`` by default, at most ``TOKEN_MAX_LIFETIME``)
so a token forgotten in a script or a leaked log stops working on its own.
"""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass
from typing import Callable

import nacl.exceptions
import nacl.pwhash

from sdjwt.encoding import b64url_encode

from . import audit
from .errors import BadRequest, Conflict, Forbidden, NotFound, Unauthenticated
from .storage import IssuerStore, sha256_hex

__all__ = [
    "ROLES",
    "PERMISSIONS",
    "Principal",
    "require",
    "add_officer",
    "authenticate_password",
    "create_token",
    "authenticate_token",
    "list_officers",
    "set_active",
    "current_role",
    "TOKEN_PREFIX",
    "TOKEN_LIFETIME",
    "TOKEN_MAX_LIFETIME",
]

ROLES = ("officer", "supervisor", "auditor")
PERMISSIONS: dict[str, frozenset[str]] = {
    "offers.create": frozenset({"officer", "supervisor"}),
    "credentials.read": frozenset({"officer", "supervisor"}),
    "credentials.status": frozenset({"supervisor"}),
    "officers.manage": frozenset({"supervisor"}),
    "audit.read": frozenset({"auditor", "supervisor"}),
}
TOKEN_PREFIX = "cit_"
TOKEN_LIFETIME = 90 * 86400
TOKEN_MAX_LIFETIME = 366 * 86400
TOKEN_MIN_LIFETIME = 60
_USERNAME = re.compile(r"[a-z0-9._-]{3,64}")
# A precomputed hash so an unknown username costs the same as a wrong password.
_DUMMY_HASH: bytes | None = None


@dataclass(frozen=True)
class Principal:
    """Who is acting: ``officer:<username>`` or ``token:<name>``, with a role."""

    actor: str
    role: str

    def can(self, permission: str) -> bool:
        return self.role in PERMISSIONS[permission]


def require(principal: Principal | None, permission: str) -> Principal:
    if principal is None:
        raise Unauthenticated("sign in, or send an API token as 'Authorization: Bearer ...'")
    if not principal.can(permission):
        raise Forbidden(f"the role {principal.role} may not do this ({permission})")
    return principal


def _hash_password(password: str) -> str:
    return nacl.pwhash.argon2id.str(
        password.encode("utf-8"),
        opslimit=nacl.pwhash.argon2id.OPSLIMIT_INTERACTIVE,
        memlimit=nacl.pwhash.argon2id.MEMLIMIT_INTERACTIVE,
    ).decode("ascii")


def _check_password(stored: str, password: str) -> bool:
    try:
        return bool(nacl.pwhash.verify(stored.encode("ascii"), password.encode("utf-8", "surrogatepass")))
    except (nacl.exceptions.InvalidkeyError, nacl.exceptions.CryptoError, ValueError):
        return False


def add_officer(store: IssuerStore, username: str, password: str, role: str, *, actor: str, now: int) -> None:
    if not isinstance(username, str) or not _USERNAME.fullmatch(username):
        raise BadRequest("username must be 3-64 characters of a-z, 0-9, '.', '_' or '-'")
    if role not in ROLES:
        raise BadRequest(f"role must be one of: {', '.join(ROLES)}")
    if not isinstance(password, str) or len(password) < 12 or len(password) > 1024:
        raise BadRequest("password must be 12 to 1024 characters")
    hashed = _hash_password(password)
    with store.transaction() as cur:
        if cur.execute("SELECT 1 FROM officers WHERE username = ?", (username,)).fetchone():
            raise Conflict("an officer with this username exists")
        cur.execute(
            "INSERT INTO officers (username, password_hash, role, active, created_at) VALUES (?, ?, ?, 1, ?)",
            (username, hashed, role, now),
        )
        audit.append(cur, store, time=now, actor=actor, action="officer.add", target=f"officer:{username}", details={"role": role})


def set_active(store: IssuerStore, username: str, active: bool, *, actor: str, now: int) -> None:
    with store.transaction() as cur:
        if not cur.execute("SELECT 1 FROM officers WHERE username = ?" + store.for_update, (username,)).fetchone():
            raise NotFound("no officer has this username")
        cur.execute("UPDATE officers SET active = ? WHERE username = ?", (1 if active else 0, username))
        audit.append(
            cur, store, time=now, actor=actor, action="officer.enable" if active else "officer.disable", target=f"officer:{username}"
        )


def list_officers(store: IssuerStore) -> list[dict[str, object]]:
    rows = store.read().execute("SELECT username, role, active, created_at FROM officers ORDER BY username").fetchall()
    return [{"username": r[0], "role": r[1], "active": bool(r[2]), "created_at": int(r[3])} for r in rows]


def authenticate_password(store: IssuerStore, username: str, password: str) -> Principal:
    global _DUMMY_HASH
    row = None
    if isinstance(username, str) and _USERNAME.fullmatch(username):
        row = store.read().execute(
            "SELECT password_hash, role, active FROM officers WHERE username = ?", (username,)
        ).fetchone()
    if row is None:
        if _DUMMY_HASH is None:
            _DUMMY_HASH = _hash_password("not-a-real-password").encode("ascii")
        _check_password(_DUMMY_HASH.decode("ascii"), password if isinstance(password, str) else "")
        raise Unauthenticated("wrong username or password")
    if not _check_password(row[0], password if isinstance(password, str) else "") or not row[2]:
        raise Unauthenticated("wrong username or password")
    return Principal(f"officer:{username}", row[1])


def current_role(store: IssuerStore, actor: str) -> str | None:
    """The role of an active officer ``officer:<username>`` now, or None (unknown or disabled)."""
    username = actor.removeprefix("officer:")
    if username == actor or not _USERNAME.fullmatch(username):
        return None
    row = store.read().execute("SELECT role, active FROM officers WHERE username = ?", (username,)).fetchone()
    return str(row[0]) if row is not None and row[1] else None


def create_token(store: IssuerStore, name: str, role: str, *, actor: str, now: int, random: Callable[[int], bytes],
                 lifetime: int = TOKEN_LIFETIME) -> str:
    """A new API token for a system, valid ``lifetime`` seconds; returned once and stored only as a hash."""
    if not isinstance(name, str) or not _USERNAME.fullmatch(name):
        raise BadRequest("token name must be 3-64 characters of a-z, 0-9, '.', '_' or '-'")
    if role not in ROLES:
        raise BadRequest(f"role must be one of: {', '.join(ROLES)}")
    if (not isinstance(lifetime, int) or isinstance(lifetime, bool)
            or not TOKEN_MIN_LIFETIME <= lifetime <= TOKEN_MAX_LIFETIME):
        raise BadRequest(f"expires_in must be a whole number of seconds from {TOKEN_MIN_LIFETIME} to {TOKEN_MAX_LIFETIME} (366 days)")
    token = TOKEN_PREFIX + b64url_encode(random(32))
    token_id = random(8).hex()
    expires_at = now + lifetime
    with store.transaction() as cur:
        cur.execute(
            "INSERT INTO api_tokens (id, token_hash, name, role, created_at, revoked, expires_at) VALUES (?, ?, ?, ?, ?, 0, ?)",
            (token_id, sha256_hex(token), name, role, now, expires_at),
        )
        audit.append(cur, store, time=now, actor=actor, action="token.create", target=f"token:{token_id}",
                     details={"name": name, "role": role, "expires_at": expires_at})
    return token


def authenticate_token(store: IssuerStore, token: str, now: int) -> Principal:
    if not isinstance(token, str) or not token.startswith(TOKEN_PREFIX) or len(token) > 128:
        raise Unauthenticated("the API token is malformed")
    digest = sha256_hex(token)
    row = store.read().execute(
        "SELECT token_hash, name, role, revoked, expires_at FROM api_tokens WHERE token_hash = ?", (digest,)
    ).fetchone()
    if row is None or not hmac.compare_digest(row[0], digest) or row[3]:
        raise Unauthenticated("the API token is not valid")
    if row[4] is None or now >= row[4]:
        raise Unauthenticated("the API token has expired; ask a supervisor for a new one (civicid issuer token create)")
    return Principal(f"token:{row[1]}", row[2])
