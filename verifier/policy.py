"""Eligibility policies as data: what to request, from whom, and the rule over it.

A policy file (``verifier/policies/<id>.json``) names the credential(s) to
request (one DCQL credential query each: an ``id``, the accepted ``vct``
values, the claim paths), a purpose text in ``en`` and ``zh-CN``, the maximum
age of a credential, parameters (a city, a benefit type) and a list of named
conditions. Each condition is one CEL expression (the Common Expression
Language, https://cel.dev, evaluated by the ``common-expression-language``
package; never Python's ``eval``). A decision is the conjunction of the
conditions (:class:`AllOf`); an empty list is refused when the file is loaded,
so an empty policy cannot pass everything.

Inside an expression the disclosed claims of each credential are a variable
named by its query id (``national_id.age_equal_or_over["65"]``) and the
policy's parameters are ``params`` (``national_id.address.locality ==
params.city``). Only claims the policy requests are given to the expression,
and every requested claim is required: a missing claim is :class:`ClaimMissing`,
never "false" and never "skipped".

Issuers count when the registry says they were accredited for the credential's
``vct`` at its issuance time; that check is the pipeline's step 4 and every
policy requires it (there is no "any issuer" switch).
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
import weakref
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Iterable, Mapping

import cel

from .errors import ClaimMissing, PolicyError, PolicyNotSatisfied, UnknownPolicy

__all__ = ["ClaimPath", "CredentialQuery", "Condition", "AllOf", "Policy", "PolicySet", "load_policies", "Decision"]

ClaimPath = tuple[str | int | None, ...]

_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
_QUERY_ID = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")  # DCQL ids are alphanumeric/underscore; also a CEL identifier.
_MAX_RULE = 2000


def _path(raw: Any, where: str) -> ClaimPath:
    if not isinstance(raw, list) or not raw:
        raise PolicyError(f"{where}: a claim path is a non-empty array of names and indices")
    out: list[str | int | None] = []
    for step in raw:
        if step is None or isinstance(step, str) or (isinstance(step, int) and not isinstance(step, bool) and step >= 0):
            out.append(step)
        else:
            raise PolicyError(f"{where}: claim path steps are strings, non-negative integers or null")
    return tuple(out)


def show_path(path: ClaimPath) -> str:
    """A path for messages: ``address.locality``, ``nationalities[*]``."""
    text = ""
    for step in path:
        if step is None:
            text += "[*]"
        elif isinstance(step, int):
            text += f"[{step}]"
        else:
            text += ("." if text else "") + step
    return text


@dataclass(frozen=True)
class CredentialQuery:
    """One credential the policy needs: a DCQL credential query (OpenID4VP 1.0 section 6.1)."""

    id: str
    vct_values: tuple[str, ...]
    claims: tuple[ClaimPath, ...]

    def dcql(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "format": "dc+sd-jwt",
            "meta": {"vct_values": list(self.vct_values)},
            "claims": [{"path": list(p)} for p in self.claims],
        }


@dataclass(frozen=True)
class Condition:
    """A named CEL expression that must evaluate to ``true``."""

    id: str
    rule: str
    description: Mapping[str, str]
    program: Any = field(compare=False, repr=False)

    @classmethod
    def parse(cls, raw: Any, where: str) -> "Condition":
        if not isinstance(raw, dict):
            raise PolicyError(f"{where}: a condition is an object with 'id' and 'rule'")
        cid, rule = raw.get("id"), raw.get("rule")
        if not isinstance(cid, str) or not _ID.fullmatch(cid):
            raise PolicyError(f"{where}: condition 'id' must match {_ID.pattern}")
        if not isinstance(rule, str) or not rule.strip() or len(rule) > _MAX_RULE:
            raise PolicyError(f"{where}: condition {cid!r} needs a non-empty CEL 'rule'")
        try:
            program = cel.compile(rule)
        except Exception as exc:  # The binding raises ValueError; any failure means the same.
            raise PolicyError(f"{where}: condition {cid!r} is not valid CEL ({type(exc).__name__})") from exc
        description = raw.get("description", {})
        if not isinstance(description, dict) or not all(isinstance(v, str) for v in description.values()):
            raise PolicyError(f"{where}: condition {cid!r} 'description' maps languages to text")
        return cls(cid, rule, dict(description), program)

    def holds(self, context: Mapping[str, Any]) -> bool:
        """True only when the expression yields the boolean ``true``; errors and non-booleans are false."""
        try:
            result = self.program.execute(dict(context))
        except Exception:  # A type error in the rule over these values: the condition is not met.
            return False
        return result is True


_PASSED_MAX = 4096
"""Contexts remembered per rule as passing (:meth:`AllOf.failed`); the set starts again when full."""

PASSED_TTL = 300
"""Seconds a remembered pass is kept at most: the verifier's default ``RESULT_RETENTION``; the app sets its own."""

_SWEEP_EVERY = 5.0
"""Seconds between two sweeps of every pass memory in the process (:func:`_sweeper`)."""


def _uptime() -> float:
    """Seconds on a clock that also runs while the machine sleeps (a counter laptop suspended overnight)."""
    return time.clock_gettime(_CLOCK)


_CLOCK = getattr(time, "CLOCK_BOOTTIME", time.CLOCK_MONOTONIC)


class _PassMemory:
    """The contexts a rule passed, forgotten within ``ttl`` seconds, and all at once when ``_PASSED_MAX`` are held.

    They are claim values the policy reads, so they may be kept no longer than the decisions
    that used them (``RESULT_RETENTION``). Keys live in two generations (see :meth:`age`): the
    current one is answered from and added to, the previous one only answered from. A daemon
    thread (:func:`_sweeper`) ages every memory in the process every few seconds, so a policy
    nobody uses forgets too.
    """

    def __init__(self, ttl: float = PASSED_TTL, clock: Any = _uptime) -> None:
        self.ttl = ttl
        self.clock = clock
        self._current: set[tuple[Any, ...]] = set()
        self._previous: set[tuple[Any, ...]] = set()
        self._since = clock()
        self._lock = threading.Lock()
        _MEMORIES.add(self)

    def age(self) -> None:
        """Start a new generation every ``(ttl - _SWEEP_EVERY) / 2`` seconds; forget everything after two.

        Generations start at fixed times (``_since`` advances by exactly one length), so a key is
        dropped at most two lengths after it was added, plus the sweeper's period: within ``ttl``.
        """
        now = self.clock()
        half = max(self.ttl - _SWEEP_EVERY, 0.0) / 2
        if now - self._since < half:
            return
        with self._lock:
            elapsed = now - self._since
            if elapsed >= 2 * half:
                self._current, self._previous, self._since = set(), set(), now
            elif elapsed >= half:
                self._current, self._previous, self._since = set(), self._current, self._since + half

    def __contains__(self, key: tuple[Any, ...]) -> bool:
        self.age()
        return key in self._current or key in self._previous

    def add(self, key: tuple[Any, ...]) -> None:
        self.age()
        _start_sweeper()
        if len(self._current) + len(self._previous) >= _PASSED_MAX:
            with self._lock:
                self._current, self._previous = set(), set()
        self._current.add(key)

    def __len__(self) -> int:
        self.age()
        return len(self._current) + len(self._previous)


_MEMORIES: "weakref.WeakSet[_PassMemory]" = weakref.WeakSet()
_sweeper_pid = 0
_sweeper_lock = threading.Lock()


def _start_sweeper() -> None:
    """One daemon thread per process, started on first use (a forked gunicorn worker starts its own)."""
    global _sweeper_pid
    if _sweeper_pid == os.getpid():
        return
    with _sweeper_lock:
        if _sweeper_pid != os.getpid():
            _sweeper_pid = os.getpid()
            threading.Thread(target=_sweeper, name="civicid-policy-forget", daemon=True).start()


def _sweeper() -> None:
    while True:
        time.sleep(_SWEEP_EVERY)
        for memory in list(_MEMORIES):
            memory.age()


def _context_key(context: Mapping[str, Any]) -> tuple[Any, ...] | None:
    """The exact values a rule runs over, as a hashable key; None when a value is not plain JSON.

    A flat token stream: for each member its name, its exact class, then its length (an object or
    an array, whose members follow) or its value. Lengths make the stream unambiguous, classes keep
    ``True``, ``1`` and ``1.0`` apart, floats are keyed by ``float.hex`` (so ``-0.0`` is not ``0.0``),
    and member order is kept: equal keys mean identical inputs to the CEL program.
    """
    out: list[Any] = []
    if not _flatten_into(context, out):
        return None
    return tuple(out)


def _flatten_into(value: Any, out: list[Any]) -> bool:
    """Append ``value``'s members (a dict with string names, or a list) to ``out``; False if not plain JSON."""
    if value.__class__ is dict:
        for name, child in value.items():
            if name.__class__ is not str:
                return False
            out.append(name)
            if not _token(child, out):
                return False
        return True
    for child in value:
        if not _token(child, out):
            return False
    return True


def _token(child: Any, out: list[Any]) -> bool:
    cls = child.__class__
    out.append(cls)
    if cls is str or cls is int or cls is bool or child is None:
        out.append(child)
        return True
    if cls is dict or cls is list:
        out.append(len(child))
        return _flatten_into(child, out)
    if cls is float:
        out.append(child.hex())
        return True
    return False


@dataclass(frozen=True)
class AllOf:
    """Every condition must hold (sigstore-python's ``AllOf``: empty is an error, not a pass)."""

    conditions: tuple[Condition, ...]
    # Every rule in one program, ``(\n r1 \n) && (\n r2 \n) ...`` (newlines end any ``//`` comment):
    # CEL's ``&&`` is true only when every operand is the boolean true, so one run answers the
    # common case; only a false or erroneous result runs the rules one by one to name the failures.
    combined: Any = field(default=None, compare=False, repr=False)
    # Contexts (:func:`_context_key`) for which every rule returned the boolean true. A CEL program
    # is a pure function of its input (the ``cel`` package offers no clock, randomness or I/O), so
    # the same values pass again; only passes are remembered (a refusal, or a rule that raised, is
    # evaluated every time). In memory only, bounded in number and in time (the retention time,
    # see :class:`_PassMemory`): it holds the claim values the policy reads.
    _passed: _PassMemory = field(default_factory=_PassMemory, init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not self.conditions:
            raise PolicyError("a policy needs at least one condition; an empty policy would accept anyone")
        if len(self.conditions) > 1 and self.combined is None:
            try:
                program = cel.compile(" && ".join(f"(\n{c.rule}\n)" for c in self.conditions))
            except Exception:  # Each rule compiled alone; without the shortcut they are run one by one.
                program = None
            object.__setattr__(self, "combined", program)

    def failed(self, context: Mapping[str, Any]) -> tuple[Condition, ...]:
        key = _context_key(context)
        if key is not None and key in self._passed:
            return ()
        failed = self._evaluate(context)
        if not failed and key is not None:
            self._passed.add(key)
        return failed

    def _evaluate(self, context: Mapping[str, Any]) -> tuple[Condition, ...]:
        if self.combined is not None:
            try:
                if self.combined.execute(dict(context)) is True:
                    return ()
            except Exception:  # Some rule errs over these values: find which, one by one.
                pass
        return tuple(c for c in self.conditions if not c.holds(context))


@dataclass(frozen=True)
class Decision:
    """The outcome of a policy over verified, disclosed claims."""

    decision: bool
    reasons: tuple[Mapping[str, Any], ...]
    claims: Mapping[str, Any]


@dataclass(frozen=True)
class Policy:
    """An eligibility policy, validated when it is parsed."""

    id: str
    purpose: Mapping[str, str]
    title: Mapping[str, str]
    credentials: tuple[CredentialQuery, ...]
    max_credential_age: int
    params: Mapping[str, Any]
    rule: AllOf

    @classmethod
    def parse(cls, raw: Any, where: str = "policy") -> "Policy":
        if not isinstance(raw, dict):
            raise PolicyError(f"{where}: a policy is a JSON object")
        pid = raw.get("id")
        if not isinstance(pid, str) or not _ID.fullmatch(pid):
            raise PolicyError(f"{where}: 'id' must match {_ID.pattern}")
        where = f"policy {pid}"
        texts: dict[str, dict[str, str]] = {}
        for name in ("purpose", "title"):
            value = raw.get(name)
            if not isinstance(value, dict) or not all(isinstance(value.get(lang), str) and value[lang] for lang in ("en", "zh-CN")):
                raise PolicyError(f"{where}: {name!r} needs non-empty 'en' and 'zh-CN' texts")
            texts[name] = {k: v for k, v in value.items() if isinstance(v, str)}
        creds_raw = raw.get("credentials")
        if not isinstance(creds_raw, list) or not creds_raw:
            raise PolicyError(f"{where}: 'credentials' must list at least one credential query")
        credentials: list[CredentialQuery] = []
        for i, c in enumerate(creds_raw):
            if not isinstance(c, dict):
                raise PolicyError(f"{where}: credentials[{i}] must be an object")
            qid, vcts, claims = c.get("id"), c.get("vct_values"), c.get("claims")
            if not isinstance(qid, str) or not _QUERY_ID.fullmatch(qid) or qid == "params":
                raise PolicyError(f"{where}: credentials[{i}].id must be a CEL identifier other than 'params'")
            if not isinstance(vcts, list) or not vcts or not all(isinstance(v, str) and v for v in vcts):
                raise PolicyError(f"{where}: credentials[{i}].vct_values must list the accepted vct values")
            if not isinstance(claims, list) or not claims:
                raise PolicyError(f"{where}: credentials[{i}].claims must list the claim paths to request")
            paths = tuple(_path(p, f"{where}: credentials[{i}].claims") for p in claims)
            credentials.append(CredentialQuery(qid, tuple(vcts), paths))
        if len({c.id for c in credentials}) != len(credentials):
            raise PolicyError(f"{where}: credential query ids must be unique")
        max_age = raw.get("max_credential_age")
        if not isinstance(max_age, int) or isinstance(max_age, bool) or max_age <= 0:
            raise PolicyError(f"{where}: 'max_credential_age' must be a positive number of seconds")
        params = raw.get("params", {})
        if not isinstance(params, dict):
            raise PolicyError(f"{where}: 'params' must be an object")
        conditions_raw = raw.get("conditions")
        if not isinstance(conditions_raw, list):
            raise PolicyError(f"{where}: 'conditions' must be a list")
        conditions = tuple(Condition.parse(c, where) for c in conditions_raw)
        if len({c.id for c in conditions}) != len(conditions):
            raise PolicyError(f"{where}: condition ids must be unique")
        return cls(pid, texts["purpose"], texts["title"], tuple(credentials), max_age, dict(params), AllOf(conditions))

    def with_params(self, params: Mapping[str, Any]) -> "Policy":
        """The same policy with some parameters replaced (a deployment's city, say)."""
        merged = {**self.params, **params}
        return Policy(self.id, self.purpose, self.title, self.credentials, self.max_credential_age, merged, self.rule)

    def dcql_query(self) -> dict[str, Any]:
        """OpenID4VP 1.0 section 6: the DCQL query for this policy."""
        return {"credentials": [c.dcql() for c in self.credentials]}

    def public(self) -> dict[str, Any]:
        """What a counter screen may show about the policy."""
        return {
            "id": self.id,
            "title": dict(self.title),
            "purpose": dict(self.purpose),
            "conditions": [{"id": c.id, "description": dict(c.description)} for c in self.rule.conditions],
        }

    def evaluate(self, disclosed: Mapping[str, Mapping[str, Any]]) -> Decision:
        """Step 10: pick the requested claims out of each credential and apply the conditions.

        ``disclosed`` maps each credential query id to the verified claims of
        that credential. Raises :class:`ClaimMissing` when a requested claim was
        not disclosed, :class:`PolicyNotSatisfied` (naming the failed
        conditions, never values) when a condition is false. The returned
        decision's ``claims`` hold only the requested claims.
        """
        context: dict[str, Any] = {"params": dict(self.params)}
        for query in self.credentials:
            claims = disclosed.get(query.id)
            if claims is None:
                raise ClaimMissing(f"credential {query.id!r} was not presented")
            picked: dict[str, Any] = {}
            for path in query.claims:
                if not _copy_path(claims, picked, path):
                    raise ClaimMissing(f"claim {show_path(path)} of credential {query.id!r} was not disclosed")
            context[query.id] = picked
        failed = self.rule.failed(context)
        minimal = {k: v for k, v in context.items() if k != "params"}
        if failed:
            ids = tuple(c.id for c in failed)
            raise PolicyNotSatisfied(f"condition(s) not met: {', '.join(ids)}", ids)
        return Decision(True, (), minimal)


def _copy_path(src: Any, dst: dict[str, Any], path: ClaimPath) -> bool:
    """Copy the value at ``path`` from ``src`` into ``dst`` (same nesting); False if absent."""
    if not path:
        return True
    step, rest = path[0], path[1:]
    if isinstance(step, str):
        if not isinstance(src, dict) or step not in src:
            return False
        if not rest:
            dst[step] = src[step]
            return True
        child = src[step]
        if isinstance(child, list):
            # Arrays are copied whole below this point: an index path needs the list's shape.
            dst[step] = child
            return _has(child, rest)
        target = dst.setdefault(step, {})
        return isinstance(target, dict) and _copy_path(child, target, rest)
    return False  # Paths at the top of a credential start with a claim name.


def _has(value: Any, path: ClaimPath) -> bool:
    if not path:
        return True
    step, rest = path[0], path[1:]
    if step is None:
        return isinstance(value, list) and bool(value) and all(_has(v, rest) for v in value)
    if isinstance(step, int):
        return isinstance(value, list) and 0 <= step < len(value) and _has(value[step], rest)
    return isinstance(value, dict) and step in value and _has(value[step], rest)


class PolicySet:
    """The policies this verifier offers, by id."""

    def __init__(self, policies: Iterable[Policy]) -> None:
        self._by_id: dict[str, Policy] = {}
        for p in policies:
            if p.id in self._by_id:
                raise PolicyError(f"policy id {p.id!r} is defined twice")
            self._by_id[p.id] = p
        if not self._by_id:
            raise PolicyError("no policies are configured")

    def get(self, pid: Any) -> Policy:
        if not isinstance(pid, str) or pid not in self._by_id:
            raise UnknownPolicy("no policy with that id; GET /api/policies lists them")
        return self._by_id[pid]

    def ids(self) -> list[str]:
        return sorted(self._by_id)

    def forget_passes_after(self, seconds: float) -> None:
        """Keep remembered passes (claim values) no longer than ``seconds``: the verifier's retention time."""
        for policy in self._by_id.values():
            policy.rule._passed.ttl = min(seconds, PASSED_TTL)

    def __iter__(self) -> Any:
        return iter(self._by_id[k] for k in self.ids())


def load_policies(extra_dir: str | Path | None = None, params: Mapping[str, Mapping[str, Any]] | None = None) -> PolicySet:
    """The shipped policies, plus ``*.json`` in ``extra_dir`` (which may replace shipped ones by id)."""
    found: dict[str, Policy] = {}
    shipped = resources.files("verifier") / "policies"
    sources: list[tuple[str, str]] = []
    for entry in sorted(shipped.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".json"):
            sources.append((entry.name, entry.read_text(encoding="utf-8")))
    if extra_dir:
        directory = Path(extra_dir)
        if not directory.is_dir():
            raise PolicyError(f"policy directory {directory} does not exist")
        for path in sorted(directory.glob("*.json")):
            sources.append((path.name, path.read_text(encoding="utf-8")))
    for name, text in sources:
        try:
            raw = json.loads(text)
        except ValueError as exc:
            raise PolicyError(f"policy file {name} is not JSON") from exc
        policy = Policy.parse(raw, f"policy file {name}")
        found[policy.id] = policy
    for pid, values in (params or {}).items():
        if pid not in found:
            raise PolicyError(f"parameters given for unknown policy {pid!r}")
        if not isinstance(values, Mapping):
            raise PolicyError(f"parameters for policy {pid!r} must be an object")
        found[pid] = found[pid].with_params(values)
    return PolicySet(found.values())
