"""Credential types: SD-JWT VC Type Metadata published on the ledger (``vct.publish``).

The body is SD-JWT VC Type Metadata (draft-ietf-oauth-sd-jwt-vc, "SD-JWT VC Type
Metadata"): ``vct``, ``name``, ``display`` (one object per ``locale``),
``claims`` (each with a claim ``path``, per-locale ``label`` and
``sd`` = ``always`` | ``allowed`` | ``never``) and an optional embedded JSON
``schema``. civicid requires the ``en`` and ``zh-CN`` locales in every display
list, because wallets and counters must show both.

Each publication is a new version; lookups give the latest or the version in
force at a time. Only a root or an issuer accredited for that vct may publish
(checked in :mod:`registry.state`).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Any, Mapping

from .did import KeySpec
from .entry import Digest, Entry, sign_entry
from .errors import InvalidEntry, UnknownType, VersionNotFound

__all__ = [
    "REQUIRED_LOCALES",
    "SD_VALUES",
    "TypeVersion",
    "TypeRegistry",
    "parse_type_metadata",
    "publish_op",
]

REQUIRED_LOCALES = ("en", "zh-CN")
SD_VALUES = ("always", "allowed", "never")
_MAX_CLAIMS = 128


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise InvalidEntry(message)


def _text(value: Any, what: str, limit: int = 512) -> None:
    _require(isinstance(value, str) and 0 < len(value) <= limit, f"{what} must be a non-empty string")


def _display(value: Any, what: str, name_member: str) -> None:
    _require(isinstance(value, list) and bool(value), f"{what} must be a non-empty list")
    locales = []
    for item in value:
        _require(isinstance(item, dict), f"each {what} item must be an object")
        _require({"locale", name_member} <= set(item), f"each {what} item needs 'locale' and '{name_member}'")
        _require(set(item) <= {"locale", name_member, "description", "rendering"}, f"{what} item has unexpected members")
        _text(item["locale"], f"{what} 'locale'", 35)
        _text(item[name_member], f"{what} '{name_member}'")
        if "description" in item:
            _text(item["description"], f"{what} 'description'", 2048)
        locales.append(item["locale"])
    _require(len(set(locales)) == len(locales), f"{what} must not repeat a locale")
    missing = [loc for loc in REQUIRED_LOCALES if loc not in locales]
    _require(not missing, f"{what} lacks the required locales {missing}")


def parse_type_metadata(body: Mapping[str, Any]) -> str:
    """Validate a ``vct.publish`` body; return its ``vct``."""
    keys = set(body)
    _require({"vct", "name", "display", "claims"} <= keys, "vct.publish body needs vct, name, display and claims")
    _require(keys <= {"vct", "name", "description", "display", "claims", "schema"}, "vct.publish body has unexpected members")
    _text(body["vct"], "'vct'")
    _text(body["name"], "'name'")
    if "description" in body:
        _text(body["description"], "'description'", 2048)
    _display(body["display"], "'display'", "name")
    claims = body["claims"]
    _require(isinstance(claims, list) and len(claims) <= _MAX_CLAIMS, f"'claims' must list at most {_MAX_CLAIMS}")
    paths = []
    for claim in claims:
        _require(isinstance(claim, dict) and {"path", "display", "sd"} == set(claim), "each claim needs exactly path, display and sd")
        path = claim["path"]
        _require(
            isinstance(path, list)
            and bool(path)
            and all(p is None or isinstance(p, str) or (isinstance(p, int) and not isinstance(p, bool) and p >= 0) for p in path),
            "claim 'path' must be a non-empty list of strings, null or non-negative integers",
        )
        _display(claim["display"], "claim 'display'", "label")
        _require(claim["sd"] in SD_VALUES, f"claim 'sd' must be one of {list(SD_VALUES)}")
        paths.append(tuple(path))
    _require(len(set(paths)) == len(paths), "'claims' must not repeat a path")
    if "schema" in body:
        _require(isinstance(body["schema"], dict), "'schema' must be an embedded JSON Schema object")
    return str(body["vct"])


@dataclass(frozen=True)
class TypeVersion:
    """One published version of a type's metadata."""

    vct: str
    version: int
    hash: Digest
    publisher: str
    time: int
    seq: int
    metadata: Mapping[str, Any]


class TypeRegistry:
    """The types projection: every version of every vct, in ledger order."""

    def __init__(self) -> None:
        self._versions: dict[str, list[TypeVersion]] = {}

    def add(self, vct: str, hash: Digest, publisher: str, time: int, seq: int, metadata: Mapping[str, Any]) -> TypeVersion:
        versions = self._versions.setdefault(vct, [])
        record = TypeVersion(vct, len(versions) + 1, hash, publisher, time, seq, metadata)
        versions.append(record)
        return record

    def last_time(self, vct: str) -> int | None:
        versions = self._versions.get(vct)
        return versions[-1].time if versions else None

    def versions(self, vct: str) -> list[TypeVersion]:
        if vct not in self._versions:
            raise UnknownType(f"no metadata has been published for vct {vct}")
        return list(self._versions[vct])

    def lookup(self, vct: str, version: int | None = None, at: int | None = None) -> TypeVersion:
        """The latest version, version number ``version``, or the version in force at time ``at``."""
        versions = self.versions(vct)
        if version is not None:
            if not 1 <= version <= len(versions):
                raise VersionNotFound(f"vct {vct} has versions 1 to {len(versions)}, not {version}")
            return versions[version - 1]
        if at is not None:
            index = bisect.bisect_right([v.time for v in versions], at)
            if index == 0:
                raise VersionNotFound(f"vct {vct} was first published at {versions[0].time}, after {at}")
            return versions[index - 1]
        return versions[-1]


def publish_op(author: str, signer: KeySpec, metadata: Mapping[str, Any], time: int) -> Entry:
    """Build and sign a ``vct.publish`` of ``metadata``."""
    parse_type_metadata(metadata)
    return sign_entry("vct.publish", dict(metadata), f"{author}#{signer.kid}", time, None, signer.private_key)
