"""Looking at stored credentials: labels from type metadata, validity and live status.

Labels come from the SD-JWT VC Type Metadata ``claims[].display[].label`` for the
user's locale (``zh-CN`` or ``en``, falling back to ``en``, then to the path
itself). Live status is the Token Status List entry of each stored copy,
fetched from the issuer and verified with the issuer's key from the registry.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterator, Mapping

from .errors import CredentialNotFound, NetworkError, WalletError

if TYPE_CHECKING:
    from .transport import Http

__all__ = ["LOCALES", "ClaimRow", "find", "claim_rows", "type_name", "issuer_name", "label_for", "live_status",
           "summary", "path_text"]

LOCALES = ("en", "zh-CN")
STATUS_TYP_ACCEPT = "application/statuslist+jwt"


@dataclass(frozen=True)
class ClaimRow:
    path: tuple[Any, ...]
    label: str
    value: Any
    selectively_disclosable: bool


def find(credentials: list[dict[str, Any]], credential_id: str) -> dict[str, Any]:
    for record in credentials:
        if record.get("id") == credential_id:
            return record
    raise CredentialNotFound("no credential with that id in this wallet")


def _pick(display: Any, lang: str, member: str) -> str | None:
    if not isinstance(display, list):
        return None
    # Type metadata comes from issuers and the registry: a non-string locale is skipped, not hashed.
    by_locale = {d.get("locale"): d.get(member) for d in display if isinstance(d, dict) and isinstance(d.get("locale"), str)}
    for locale in (lang, "en"):
        value = by_locale.get(locale)
        if isinstance(value, str):
            return value
    return None


def path_text(path: tuple[Any, ...] | list[Any]) -> str:
    return ".".join("*" if p is None else str(p) for p in path)


def _matches(meta_path: Any, path: tuple[Any, ...]) -> bool:
    if not isinstance(meta_path, list) or len(meta_path) != len(path):
        return False
    return all(m == p or (m is None and isinstance(p, int)) for m, p in zip(meta_path, path))


def label_for(metadata: Mapping[str, Any], path: tuple[Any, ...], lang: str) -> str:
    """The display label of ``path``; for an unlabelled child, the parent's label and the key."""
    claims = metadata.get("claims", []) if isinstance(metadata, Mapping) else []
    for claim in claims if isinstance(claims, list) else []:
        if isinstance(claim, dict) and _matches(claim.get("path"), path):
            label = _pick(claim.get("display"), lang, "label")
            if label:
                return label
    if len(path) > 1:
        parent = label_for(metadata, path[:-1], lang)
        return f"{parent} / {path[-1]}"
    return path_text(path)


def type_name(record: Mapping[str, Any], lang: str) -> str:
    metadata = record.get("type_metadata", {})
    return _pick(metadata.get("display"), lang, "name") or str(metadata.get("name") or record.get("vct"))


def issuer_name(record: Mapping[str, Any], lang: str) -> str:
    names = record.get("issuer_names") or {}
    return str(names.get(lang) or names.get("en") or next(iter(names.values()), None) or record.get("iss"))


def _leaves(value: Any, path: tuple[Any, ...]) -> Iterator[tuple[tuple[Any, ...], Any]]:
    if isinstance(value, dict) and value:
        for key, child in value.items():
            yield from _leaves(child, path + (key,))
    elif isinstance(value, list) and value and any(isinstance(v, (dict, list)) for v in value):
        for index, child in enumerate(value):
            yield from _leaves(child, path + (index,))
    else:
        yield path, value


def claim_rows(record: Mapping[str, Any], lang: str) -> list[ClaimRow]:
    disclosable = {tuple(p) for p in record.get("disclosable", [])}
    rows = []
    for path, value in _leaves(record.get("claims", {}), ()):
        selective = any(path[: len(d)] == d for d in disclosable)
        rows.append(ClaimRow(path, label_for(record.get("type_metadata", {}), path, lang), value, selective))
    return rows


def unused_copies(record: Mapping[str, Any]) -> int:
    return sum(1 for c in record.get("copies", []) if not c.get("used_by"))


def _fetch_status_token(http: Http, uri: str, iss: str, trust: Any, now: int) -> Any:
    import sdjwt
    from registry.errors import RegistryError
    from sdjwt.jws import CompactJWS

    response = http.get(uri, "status list", accept=STATUS_TYP_ACCEPT)
    if response.status != 200:
        raise NetworkError(f"the status list answered HTTP {response.status}")
    try:
        token = response.body.decode("ascii").strip()
        unverified = CompactJWS.parse(token, "status list token")
        kid = unverified.header.get("kid")
        iat = unverified.payload.get("iat")
        if not isinstance(kid, str) or kid.partition("#")[0] != iss:
            raise NetworkError("the status list is not signed by the credential's issuer")
        key = trust.key_at(iss, kid, iat if isinstance(iat, int) else None)
        return sdjwt.StatusListToken.verify(token, key=key, algorithms=("EdDSA",), uri=uri, now=now)
    except (UnicodeDecodeError, sdjwt.SDJWTError, RegistryError) as exc:
        raise NetworkError("the status list could not be verified") from exc


def live_status(record: Mapping[str, Any], *, http: Http | None, trust: Any, now: int | None = None) -> str:
    """``valid``, ``revoked``, ``suspended``, ``expired``, or ``unknown`` (offline, or the list did not verify)."""
    now = int(time.time()) if now is None else now
    exp = record.get("exp")
    if isinstance(exp, int) and now >= exp:
        return "expired"
    if http is None or trust is None:
        return "unknown"
    import sdjwt

    tokens: dict[str, Any] = {}
    worst = "valid"
    for copy in record.get("copies", []):
        try:
            reference = sdjwt.StatusReference.from_claims({"status": copy.get("status")})
        except sdjwt.SDJWTError:
            return "unknown"
        if reference is None:
            continue
        try:
            if reference.uri not in tokens:
                http.check(reference.uri, "status list")
                tokens[reference.uri] = _fetch_status_token(http, reference.uri, str(record.get("iss")), trust, now)
            sdjwt.check_status(tokens[reference.uri], reference)
        except sdjwt.StatusRevoked:
            return "revoked"
        except sdjwt.StatusSuspended:
            worst = "suspended"
        except (WalletError, sdjwt.SDJWTError):
            return "unknown"
    return worst


def summary(record: Mapping[str, Any], lang: str, status: str) -> dict[str, Any]:
    """The machine-readable view (``--json``) of one credential, without any claim value."""
    return {
        "id": record["id"],
        "type": type_name(record, lang),
        "vct": record.get("vct"),
        "issuer": issuer_name(record, lang),
        "issuer_did": record.get("iss"),
        "issued_at": record.get("iat"),
        "expires_at": record.get("exp"),
        "status": status,
        "copies": len(record.get("copies", [])),
        "unused_copies": unused_copies(record),
    }
