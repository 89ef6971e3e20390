"""DCQL (OpenID4VP 1.0 section 6): parsing a query and matching it against stored credentials.

Only the ``dc+sd-jwt`` format is kept in this wallet. Supported: ``credentials``
with ``id``, ``format``, ``meta.vct_values``, ``claims`` (``id``, ``path``,
``values``), ``claim_sets``, ``multiple``, ``require_cryptographic_holder_binding``;
and ``credential_sets`` (``options``, ``required``). ``trusted_authorities`` is
refused rather than ignored (we could not honour it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterator, Mapping, Sequence

from .errors import InvalidRequest, NoMatchingCredential

__all__ = ["ClaimQuery", "CredentialQuery", "CredentialSet", "DCQLQuery", "Match", "resolve", "select"]

_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_MAX_ITEMS = 32


def _id(value: Any, what: str) -> str:
    if not isinstance(value, str) or not _ID.match(value):
        raise InvalidRequest(f"the DCQL {what} id must be 1-64 letters, digits, '_' or '-'")
    return value


def _list(value: Any, what: str, *, allow_empty: bool = False) -> list[Any]:
    if not isinstance(value, list) or (not value and not allow_empty) or len(value) > _MAX_ITEMS:
        raise InvalidRequest(f"the DCQL {what} must be a non-empty list of at most {_MAX_ITEMS}")
    return value


@dataclass(frozen=True)
class ClaimQuery:
    id: str | None
    path: tuple[str | int | None, ...]
    values: tuple[Any, ...] | None

    @classmethod
    def from_json(cls, value: Any) -> "ClaimQuery":
        if not isinstance(value, dict):
            raise InvalidRequest("a DCQL claims query must be an object")
        claim_id = _id(value["id"], "claim") if "id" in value else None
        path = _list(value.get("path"), "claim path")
        for step in path:
            if not (step is None or isinstance(step, str) or (isinstance(step, int) and not isinstance(step, bool) and step >= 0)):
                raise InvalidRequest("a DCQL claim path holds only strings, non-negative integers and null")
        values = value.get("values")
        if values is not None:
            values = _list(values, "claim values")
            if not all(isinstance(v, (str, int, bool)) for v in values):
                raise InvalidRequest("DCQL claim values must be strings, integers or booleans")
        return cls(claim_id, tuple(path), tuple(values) if values is not None else None)


@dataclass(frozen=True)
class CredentialQuery:
    id: str
    format: str
    vct_values: tuple[str, ...] | None
    claims: tuple[ClaimQuery, ...] | None
    claim_sets: tuple[tuple[str, ...], ...] | None
    multiple: bool
    require_binding: bool

    @classmethod
    def from_json(cls, value: Any) -> "CredentialQuery":
        if not isinstance(value, dict):
            raise InvalidRequest("a DCQL credential query must be an object")
        query_id = _id(value.get("id"), "credential")
        fmt = value.get("format")
        if not isinstance(fmt, str):
            raise InvalidRequest("a DCQL credential query needs a format")
        if "trusted_authorities" in value:
            raise InvalidRequest("DCQL trusted_authorities is not supported by this wallet")
        meta = value.get("meta", {})
        if not isinstance(meta, dict):
            raise InvalidRequest("DCQL meta must be an object")
        vct_values = meta.get("vct_values")
        if vct_values is not None:
            vct_values = tuple(_list(vct_values, "vct_values"))
            if not all(isinstance(v, str) for v in vct_values):
                raise InvalidRequest("DCQL vct_values must be strings")
        claims = None
        if "claims" in value:
            claims = tuple(ClaimQuery.from_json(c) for c in _list(value["claims"], "claims"))
        claim_sets = None
        if "claim_sets" in value:
            if claims is None or any(c.id is None for c in claims):
                raise InvalidRequest("DCQL claim_sets needs claims that all have ids")
            known = {c.id for c in claims}
            claim_sets = tuple(tuple(_list(s, "claim set")) for s in _list(value["claim_sets"], "claim_sets"))
            if any(i not in known for s in claim_sets for i in s):
                raise InvalidRequest("a DCQL claim set names an unknown claim id")
        multiple = value.get("multiple", False)
        binding = value.get("require_cryptographic_holder_binding", True)
        if not isinstance(multiple, bool) or not isinstance(binding, bool):
            raise InvalidRequest("DCQL multiple and require_cryptographic_holder_binding must be booleans")
        return cls(query_id, fmt, vct_values, claims, claim_sets, multiple, binding)


@dataclass(frozen=True)
class CredentialSet:
    options: tuple[tuple[str, ...], ...]
    required: bool


@dataclass(frozen=True)
class DCQLQuery:
    credentials: tuple[CredentialQuery, ...]
    credential_sets: tuple[CredentialSet, ...] | None

    @classmethod
    def from_json(cls, value: Any) -> "DCQLQuery":
        if not isinstance(value, dict):
            raise InvalidRequest("the request's dcql_query is not an object")
        credentials = tuple(CredentialQuery.from_json(c) for c in _list(value.get("credentials"), "credentials"))
        ids = [c.id for c in credentials]
        if len(set(ids)) != len(ids):
            raise InvalidRequest("DCQL credential query ids must be unique")
        sets = None
        if "credential_sets" in value:
            sets = []
            for item in _list(value["credential_sets"], "credential_sets"):
                if not isinstance(item, dict):
                    raise InvalidRequest("a DCQL credential set must be an object")
                options = tuple(tuple(_list(o, "credential set option")) for o in _list(item.get("options"), "options"))
                if any(i not in ids for o in options for i in o):
                    raise InvalidRequest("a DCQL credential set names an unknown credential query")
                required = item.get("required", True)
                if not isinstance(required, bool):
                    raise InvalidRequest("DCQL credential set 'required' must be a boolean")
                sets.append(CredentialSet(options, required))
            sets = tuple(sets)
        return cls(credentials, sets)


def resolve(claims: Any, path: Sequence[Any]) -> Iterator[tuple[tuple[Any, ...], Any]]:
    """OpenID4VP section 7 claims path pointer: every (concrete path, value) selected by ``path``."""

    def walk(value: Any, rest: Sequence[Any], done: tuple[Any, ...]) -> Iterator[tuple[tuple[Any, ...], Any]]:
        if not rest:
            yield done, value
            return
        step, tail = rest[0], rest[1:]
        if isinstance(step, str):
            if isinstance(value, dict) and step in value:
                yield from walk(value[step], tail, done + (step,))
        elif step is None:
            if isinstance(value, list):
                for index, item in enumerate(value):
                    yield from walk(item, tail, done + (index,))
        elif isinstance(value, list) and 0 <= step < len(value):
            yield from walk(value[step], tail, done + (step,))

    yield from walk(claims, list(path), ())


@dataclass(frozen=True)
class Match:
    """One credential query answered: the credential and the claim paths to disclose."""

    query: CredentialQuery
    record: Mapping[str, Any]
    paths: tuple[tuple[Any, ...], ...]


def _claim_matches(claims: Mapping[str, Any], query: ClaimQuery) -> bool:
    found = list(resolve(claims, query.path))
    if not found:
        return False
    if query.values is None:
        return True
    return any(any(value == v and type(value) is type(v) for v in query.values) for _, value in found)


def _match(query: CredentialQuery, record: Mapping[str, Any]) -> Match | None:
    if query.format != "dc+sd-jwt":
        return None
    if query.vct_values is not None and record.get("vct") not in query.vct_values:
        return None
    claims = dict(record.get("claims", {}))
    for name in ("iss", "vct", "iat", "exp"):
        if record.get(name) is not None:
            claims.setdefault(name, record[name])
    if query.claims is None:
        return Match(query, record, ())
    by_id = {c.id: c for c in query.claims}
    candidates: list[tuple[ClaimQuery, ...]] = (
        [tuple(by_id[i] for i in s) for s in query.claim_sets] if query.claim_sets else [query.claims]
    )
    for option in candidates:  # Section 6.4.1: options in the verifier's order of preference.
        if all(_claim_matches(claims, c) for c in option):
            paths = tuple(c.path for c in option if not (len(c.path) == 1 and c.path[0] in ("iss", "vct", "iat", "exp")))
            return Match(query, record, paths)
    return None


def select(dcql: DCQLQuery, records: Sequence[Mapping[str, Any]]) -> list[Match]:
    """Answer the query from ``records``; raise :class:`NoMatchingCredential` when it cannot be."""
    answers: dict[str, Match] = {}
    for query in dcql.credentials:
        # Prefer a credential that still has an unused copy.
        matches = [m for m in (_match(query, r) for r in records) if m is not None]
        matches.sort(key=lambda m: not any(not c.get("used_by") for c in m.record.get("copies", [])))
        if matches:
            answers[query.id] = matches[0]
    if dcql.credential_sets is None:
        missing = [q.id for q in dcql.credentials if q.id not in answers]
        if missing:
            raise NoMatchingCredential("no credential in the wallet matches what the verifier asks for")
        return [answers[q.id] for q in dcql.credentials]
    chosen: list[str] = []
    for credential_set in dcql.credential_sets:
        option = next((o for o in credential_set.options if all(i in answers for i in o)), None)
        if option is None:
            if credential_set.required:
                raise NoMatchingCredential("no credential in the wallet matches what the verifier asks for")
            continue
        chosen.extend(i for i in option if i not in chosen)
    return [answers[i] for i in chosen]
