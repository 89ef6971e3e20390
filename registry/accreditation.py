"""Accreditations: who may issue (or accredit others to issue) which credential types, as of a time.

Registry design sketch, "Accreditation": ``accredit.grant {subject, vct|vct_prefix,
actions, validFrom, validUntil, maxDepth}`` is signed by the grantor; the roots
are pinned in policy (EBSI's RootTAO plays this role); chains are evaluated as
of a time ``t`` and withdrawals take effect from their time. This is what a
ToIP TRQP v2 ``/authorization`` query (``action=issue``, ``resource=vct``,
``context.time``) is answered from.

Depth: ``maxDepth`` is how many further levels of delegation the subject may
create. A grant with ``maxDepth = d`` may only be made by a root or by a holder
of an ``accredit`` grant with ``maxDepth >= d + 1`` that covers the new scope.

Back-dating: a grant never takes effect before the entry's own ``time``
(``effective_from = max(validFrom, time)``), so a grantor cannot accredit
credentials retroactively.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, Sequence

from .did import KeySpec, parse_did
from .entry import Digest, Entry, sign_entry
from .errors import InvalidEntry, NotAuthorized

__all__ = [
    "ACTIONS",
    "MAX_DEPTH",
    "Scope",
    "GrantBody",
    "WithdrawBody",
    "Grant",
    "AccreditationIndex",
    "parse_grant",
    "parse_withdraw",
    "grant_op",
    "withdraw_op",
]

ACTIONS = ("issue", "accredit")
MAX_DEPTH = 8
_DIGEST = re.compile(r"[0-9a-f]{64}")
_MAX_VCT = 512


@dataclass(frozen=True)
class Scope:
    """Either one exact ``vct`` or every vct starting with ``vct_prefix``."""

    vct: str | None = None
    vct_prefix: str | None = None

    def covers_vct(self, vct: str) -> bool:
        if self.vct is not None:
            return self.vct == vct
        return self.vct_prefix is not None and vct.startswith(self.vct_prefix)

    def covers(self, other: Scope) -> bool:
        """True when every vct in ``other`` is in this scope."""
        if other.vct is not None:
            return self.covers_vct(other.vct)
        return self.vct_prefix is not None and other.vct_prefix is not None and other.vct_prefix.startswith(self.vct_prefix)

    def describe(self) -> str:
        return f"vct {self.vct}" if self.vct is not None else f"vct prefix {self.vct_prefix}"

    def to_json(self) -> dict[str, str]:
        return {"vct": self.vct} if self.vct is not None else {"vct_prefix": self.vct_prefix or ""}


@dataclass(frozen=True)
class GrantBody:
    subject: str
    scope: Scope
    actions: tuple[str, ...]
    valid_from: int
    valid_until: int
    max_depth: int


@dataclass(frozen=True)
class WithdrawBody:
    grant: Digest


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise InvalidEntry(message)


def _int(value: Any, what: str, upper: int = 2**53 - 1) -> int:
    _require(isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= upper, f"{what} is out of range")
    return int(value)


def parse_grant(body: Mapping[str, Any]) -> GrantBody:
    """Parse an ``accredit.grant`` body strictly."""
    required = {"subject", "actions", "validFrom", "validUntil", "maxDepth"}
    keys = set(body)
    scope_keys = keys & {"vct", "vct_prefix"}
    _require(len(scope_keys) == 1, "accredit.grant body needs exactly one of 'vct' or 'vct_prefix'")
    _require(keys == required | scope_keys, f"accredit.grant body members must be {sorted(required)} plus the scope")
    subject = body["subject"]
    parse_did(subject)
    (scope_key,) = scope_keys
    value = body[scope_key]
    _require(isinstance(value, str) and 0 < len(value) <= _MAX_VCT, f"'{scope_key}' must be a non-empty string")
    scope = Scope(vct=value) if scope_key == "vct" else Scope(vct_prefix=value)
    actions = body["actions"]
    _require(
        isinstance(actions, list) and bool(actions) and all(a in ACTIONS for a in actions) and len(set(actions)) == len(actions),
        f"'actions' must be a non-empty list of distinct values from {list(ACTIONS)}",
    )
    valid_from = _int(body["validFrom"], "'validFrom'")
    valid_until = _int(body["validUntil"], "'validUntil'")
    _require(valid_until > valid_from, "'validUntil' must be after 'validFrom'")
    max_depth = _int(body["maxDepth"], "'maxDepth'", MAX_DEPTH)
    return GrantBody(subject, scope, tuple(actions), valid_from, valid_until, max_depth)


def parse_withdraw(body: Mapping[str, Any]) -> WithdrawBody:
    """Parse an ``accredit.withdraw`` body strictly."""
    _require(set(body) == {"grant"}, "accredit.withdraw body must be exactly {'grant': <entry hash>}")
    _require(isinstance(body["grant"], str) and bool(_DIGEST.fullmatch(body["grant"])), "'grant' must be an entry hash")
    return WithdrawBody(Digest(body["grant"]))


@dataclass(frozen=True)
class Grant:
    """An accepted grant, as the ``accreditations`` projection holds it."""

    hash: Digest
    grantor: str
    subject: str
    scope: Scope
    actions: tuple[str, ...]
    effective_from: int
    valid_until: int
    max_depth: int
    time: int
    seq: int
    withdrawn_at: int | None = None
    #: Log position of the withdrawal, so proof bundles can carry it.
    withdrawn_seq: int | None = None

    def in_force_at(self, at: int) -> bool:
        return self.effective_from <= at < self.valid_until and (self.withdrawn_at is None or at < self.withdrawn_at)

    def to_json(self) -> dict[str, Any]:
        return {
            "grant": self.hash,
            "grantor": self.grantor,
            "subject": self.subject,
            **self.scope.to_json(),
            "actions": list(self.actions),
            "validFrom": self.effective_from,
            "validUntil": self.valid_until,
            "maxDepth": self.max_depth,
            "withdrawnAt": self.withdrawn_at,
        }


DeactivatedAt = Callable[[str], "int | None"]


class AccreditationIndex:
    """The accreditations projection: grants by hash and by subject, evaluated as of a time.

    Mutators (:meth:`add`, :meth:`withdraw`) are only called by
    :class:`registry.state.LedgerState` after every check passed.
    """

    def __init__(self, roots: Iterable[str]) -> None:
        self.roots = frozenset(roots)
        for root in self.roots:
            parse_did(root)
        self._grants: dict[Digest, Grant] = {}
        self._by_subject: dict[str, list[Digest]] = {}

    def get(self, grant: Digest) -> Grant | None:
        return self._grants.get(grant)

    def grants_for(self, subject: str) -> list[Grant]:
        return [self._grants[h] for h in self._by_subject.get(subject, ())]

    def add(self, grant: Grant) -> None:
        self._grants[grant.hash] = grant
        self._by_subject.setdefault(grant.subject, []).append(grant.hash)

    def withdraw(self, grant: Digest, at: int, seq: int | None = None) -> None:
        self._grants[grant] = dataclasses.replace(self._grants[grant], withdrawn_at=at, withdrawn_seq=seq)

    def authorize(
        self,
        did: str,
        scope: Scope,
        at: int,
        action: str = "issue",
        depth: int = 0,
        deactivated_at: DeactivatedAt = lambda _: None,
    ) -> tuple[Grant, ...]:
        """The chain of grants (root's grant first) that lets ``did`` perform ``action`` on ``scope`` at ``at``.

        ``depth`` is the delegation depth the action needs (0 to issue, ``d + 1``
        to make a grant of ``maxDepth = d``). Raises :class:`NotAuthorized`
        naming the rules that failed. A root gets the empty chain.
        """
        reasons: list[str] = []
        chain = self._chain(did, scope, at, action, depth, deactivated_at, frozenset(), reasons)
        if chain is None:
            why = "; ".join(dict.fromkeys(reasons)) or "it holds no accreditation"
            raise NotAuthorized(f"{did} is not accredited to {action} {scope.describe()} at {at}: {why}")
        return chain

    def _chain(
        self,
        did: str,
        scope: Scope,
        at: int,
        action: str,
        depth: int,
        deactivated_at: DeactivatedAt,
        seen: frozenset[Digest],
        reasons: list[str],
    ) -> tuple[Grant, ...] | None:
        ended = deactivated_at(did)
        if ended is not None and ended <= at:
            reasons.append(f"{did} was deactivated at {ended}")
            return None
        if did in self.roots:
            return ()
        candidates = self.grants_for(did)
        if not candidates:
            reasons.append(f"{did} holds no accreditation")
        for grant in candidates:
            if grant.hash in seen:
                continue
            if not grant.scope.covers(scope):
                reasons.append(f"grant {grant.hash[:12]} does not cover {scope.describe()}")
                continue
            if action not in grant.actions:
                reasons.append(f"grant {grant.hash[:12]} does not include the '{action}' action")
                continue
            if grant.withdrawn_at is not None and grant.withdrawn_at <= at:
                reasons.append(f"grant {grant.hash[:12]} was withdrawn at {grant.withdrawn_at}")
                continue
            if not grant.effective_from <= at < grant.valid_until:
                reasons.append(
                    f"grant {grant.hash[:12]} is valid only from {grant.effective_from} until {grant.valid_until}"
                )
                continue
            if grant.max_depth < depth:
                reasons.append(f"grant {grant.hash[:12]} has delegation depth {grant.max_depth} left, {depth} needed")
                continue
            parent = self._chain(
                grant.grantor, grant.scope, at, "accredit", grant.max_depth + 1, deactivated_at, seen | {grant.hash}, reasons
            )
            if parent is not None:
                return parent + (grant,)
        return None


def grant_op(
    grantor: str,
    signer: KeySpec,
    subject: str,
    *,
    vct: str | None = None,
    vct_prefix: str | None = None,
    actions: Sequence[str] = ("issue",),
    valid_from: int,
    valid_until: int,
    max_depth: int = 0,
    time: int,
) -> Entry:
    """Build and sign an ``accredit.grant`` (exactly one of ``vct`` or ``vct_prefix``)."""
    if (vct is None) == (vct_prefix is None):
        raise ValueError("give exactly one of vct or vct_prefix")
    body: dict[str, Any] = {
        "subject": subject,
        "actions": list(actions),
        "validFrom": valid_from,
        "validUntil": valid_until,
        "maxDepth": max_depth,
    }
    body.update({"vct": vct} if vct is not None else {"vct_prefix": vct_prefix})
    parse_grant(body)
    return sign_entry("accredit.grant", body, f"{grantor}#{signer.kid}", time, None, signer.private_key)


def withdraw_op(author: str, signer: KeySpec, grant: Digest | str, time: int) -> Entry:
    """Build and sign an ``accredit.withdraw`` of the grant with entry hash ``grant``."""
    return sign_entry("accredit.withdraw", {"grant": grant}, f"{author}#{signer.kid}", time, None, signer.private_key)
