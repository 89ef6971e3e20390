"""Credential types as data: SD-JWT VC Type Metadata files in ``issuer/types/``.

``types/<id>.json`` is exactly the Type Metadata published to the registry
(draft-ietf-oauth-sd-jwt-vc, "SD-JWT VC Type Metadata", in the registry's
``vct.publish`` shape: ``claims[].path/display/sd`` and an embedded JSON
``schema``). ``types/configurations.json`` maps each OpenID4VCI credential
configuration id to its metadata file, the claim that identifies the subject
(for searching issued credentials) and the claims the issuer derives at
issuance (``age_equal_or_over`` from ``birthdate``).

Which claims are selectively disclosable comes from the metadata: every claim
whose ``sd`` is ``always`` or ``allowed``; ``never`` stays in the clear.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
from dataclasses import dataclass, field
from functools import cached_property
from importlib import resources
from typing import Any, Mapping

from sdjwt import ClaimPath, CompiledIssuer

from .errors import InvalidClaims, UnknownConfiguration

__all__ = ["CredentialType", "load_types", "validate_value", "age_thresholds", "FORMAT"]

FORMAT = "dc+sd-jwt"
_MAX_STRING = 4096


@dataclass(frozen=True)
class CredentialType:
    configuration_id: str
    vct: str
    metadata: Mapping[str, Any]
    subject_claim: str
    derived: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @property
    def schema(self) -> Mapping[str, Any]:
        return self.metadata["schema"]  # type: ignore[no-any-return]

    @cached_property
    def disclosable(self) -> tuple[ClaimPath, ...]:
        """The selectively disclosable claim paths, computed once per type (issuance reads them per credential)."""
        return tuple(tuple(c["path"]) for c in self.metadata["claims"] if c["sd"] in ("always", "allowed"))

    @cached_property
    def signer(self) -> CompiledIssuer:
        """This type's SD-JWT VC issuer, with the disclosability map compiled once.

        An optional claim the offer lacks (``address.region``) is skipped: the
        issuer discloses what the offer holds.
        """
        return CompiledIssuer(self.disclosable, skip_absent=True)

    @cached_property
    def _input_schema(self) -> dict[str, Any]:
        schema = dict(self.schema)
        schema["properties"] = {k: v for k, v in schema["properties"].items() if k not in self.derived}
        schema["required"] = [k for k in schema.get("required", []) if k not in self.derived]
        schema["additionalProperties"] = False
        return schema

    def input_schema(self) -> dict[str, Any]:
        """The schema of what an officer or a register export supplies: the type's schema minus derived claims."""
        return dict(self._input_schema)

    def validate_input(self, claims: Any) -> dict[str, Any]:
        """Check supplied claims against the type; raise :class:`InvalidClaims` naming the field."""
        if not isinstance(claims, dict):
            raise InvalidClaims("claims must be a JSON object", "$")
        for name in self.derived:
            if name in claims:
                raise InvalidClaims(f"claim {name} is computed by the issuer at issuance; leave it out", name)
        validate_value(claims, self._input_schema, "")
        return claims

    def subject(self, claims: Mapping[str, Any]) -> str:
        value = claims.get(self.subject_claim)
        return value if isinstance(value, str) else ""

    def complete(self, claims: Mapping[str, Any], today: _dt.date) -> dict[str, Any]:
        """The credential's claims: the supplied ones plus the derived ones as of ``today``."""
        result = dict(claims)
        for name, rule in self.derived.items():
            source = claims.get(rule["from"])
            if isinstance(source, str):
                result[name] = age_thresholds(_dt.date.fromisoformat(source), today, rule["thresholds"])
        return result

    def label(self, path: ClaimPath, locale: str) -> str:
        for claim in self.metadata["claims"]:
            if tuple(claim["path"]) == tuple(path):
                for item in claim["display"]:
                    if item["locale"] == locale:
                        return str(item["label"])
        return ".".join(str(p) for p in path)

    def display_name(self, locale: str) -> str:
        for item in self.metadata["display"]:
            if item["locale"] == locale:
                return str(item["name"])
        return str(self.metadata["name"])

    def configuration_metadata(self, signing_algs: list[str]) -> dict[str, Any]:
        """The ``credential_configurations_supported`` entry (OpenID4VCI 1.0 sections 12.2.4 and A.3)."""
        return {
            "format": FORMAT,
            "vct": self.vct,
            "scope": self.configuration_id,
            "cryptographic_binding_methods_supported": ["jwk"],
            "credential_signing_alg_values_supported": signing_algs,
            "proof_types_supported": {"jwt": {"proof_signing_alg_values_supported": ["EdDSA", "ES256"]}},
            "credential_metadata": {
                "display": [
                    {"name": d["name"], "locale": d["locale"], **({"description": d["description"]} if "description" in d else {})}
                    for d in self.metadata["display"]
                ],
                "claims": [
                    {"path": c["path"], "display": [{"name": x["label"], "locale": x["locale"]} for x in c["display"]]}
                    for c in self.metadata["claims"]
                ],
            },
        }


def age_thresholds(birthdate: _dt.date, today: _dt.date, thresholds: list[int]) -> dict[str, bool]:
    """``{"18": true, ...}``: whether the person has reached each age on ``today`` (29 Feb -> 1 Mar)."""
    result = {}
    for years in thresholds:
        try:
            birthday = birthdate.replace(year=birthdate.year + years)
        except ValueError:
            birthday = _dt.date(birthdate.year + years, 3, 1)
        result[str(years)] = today >= birthday
    return result


def load_types() -> dict[str, CredentialType]:
    """Load every configuration from ``issuer/types``."""
    folder = resources.files("issuer") / "types"
    configurations = json.loads((folder / "configurations.json").read_text("utf-8"))
    types: dict[str, CredentialType] = {}
    for configuration_id, entry in configurations.items():
        metadata = json.loads((folder / entry["metadata"]).read_text("utf-8"))
        types[configuration_id] = CredentialType(
            configuration_id, metadata["vct"], metadata, entry["subject_claim"], entry.get("derived", {})
        )
    return types


def lookup(types: Mapping[str, CredentialType], configuration_id: Any) -> CredentialType:
    if not isinstance(configuration_id, str) or configuration_id not in types:
        raise UnknownConfiguration(f"unknown credential configuration; use one of: {', '.join(sorted(types))}")
    return types[configuration_id]


# A small JSON Schema (2020-12) subset: exactly the keywords the type files use.
_KEYWORDS = {"$schema", "type", "properties", "required", "additionalProperties", "items", "minItems", "maxItems",
             "minLength", "maxLength", "pattern", "enum", "format"}


_CONTROL = re.compile("[\x00-\x1f\ud800-\udfff]")


def _show(path: str) -> str:
    return path or "$"


def validate_value(value: Any, schema: Mapping[str, Any], path: str) -> None:
    """Validate ``value`` against the schema subset; :class:`InvalidClaims` names the first bad field."""
    unknown = set(schema) - _KEYWORDS
    if unknown:
        raise ValueError(f"schema keyword {sorted(unknown)[0]} is not supported by the issuer's validator")
    kind = schema.get("type")
    where = _show(path)
    if kind == "object":
        if not isinstance(value, dict):
            raise InvalidClaims(f"{where} must be an object", where)
        properties = schema.get("properties", {})
        for name in schema.get("required", []):
            if name not in value:
                child = f"{path}.{name}" if path else name
                raise InvalidClaims(f"{child} is required", child)
        for name, item in value.items():
            child = f"{path}.{name}" if path else str(name)
            if name not in properties:
                if schema.get("additionalProperties", True) is False:
                    raise InvalidClaims(f"{child} is not a claim of this credential type", child)
                continue
            validate_value(item, properties[name], child)
    elif kind == "array":
        if not isinstance(value, list):
            raise InvalidClaims(f"{where} must be an array", where)
        if len(value) < schema.get("minItems", 0) or len(value) > schema.get("maxItems", 1000):
            raise InvalidClaims(f"{where} has the wrong number of entries", where)
        for i, item in enumerate(value):
            validate_value(item, schema.get("items", {}), f"{path}[{i}]")
        if len(set(map(json.dumps, value))) != len(value):
            raise InvalidClaims(f"{where} repeats an entry", where)
    elif kind == "string":
        if not isinstance(value, str):
            raise InvalidClaims(f"{where} must be a string", where)
        if len(value) < schema.get("minLength", 0) or len(value) > schema.get("maxLength", _MAX_STRING):
            raise InvalidClaims(f"{where} has the wrong length", where)
        if _CONTROL.search(value):
            raise InvalidClaims(f"{where} contains control characters", where)
        if "pattern" in schema and not re.search(schema["pattern"], value):
            raise InvalidClaims(f"{where} is not in the expected format", where)
        if schema.get("format") == "date":
            if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
                raise InvalidClaims(f"{where} must be a date as YYYY-MM-DD", where)
            try:
                _dt.date.fromisoformat(value)
            except ValueError:
                raise InvalidClaims(f"{where} is not a real calendar date", where) from None
    elif kind == "integer":
        if not isinstance(value, int) or isinstance(value, bool):
            raise InvalidClaims(f"{where} must be an integer", where)
    elif kind == "boolean":
        if not isinstance(value, bool):
            raise InvalidClaims(f"{where} must be true or false", where)
    elif kind is not None:
        raise ValueError(f"schema type {kind} is not supported")
    if "enum" in schema and not any(value == e and type(value) is type(e) for e in schema["enum"]):
        raise InvalidClaims(f"{where} is not one of the allowed values", where)
