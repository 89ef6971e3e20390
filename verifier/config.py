"""The verifier's configuration: defaults, validation, and the service identity key.

Order (flask's tutorial factory): these defaults, then ``verifier.json`` in the
instance folder, then ``CIVICID_VERIFIER_*`` environment variables (values
parsed as JSON where they parse: ``CIVICID_VERIFIER_API_TOKENS='["..."]'``),
then the overrides a test or the CLI passes. :func:`validate` fails fast with
a one-line reason; outside testing there is no default secret and no default
public URL.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Mapping

import sdjwt
from sdjwt.encoding import b64url_decode, b64url_encode

from .errors import ConfigError

__all__ = ["DEFAULTS", "validate", "load_signing_key", "KEY_FILE", "ApiToken", "api_tokens"]

DEFAULTS: dict[str, Any] = {
    "DATABASE": None,  # A SQLite path or a postgresql:// URL; default <instance>/verifier.db.
    "PUBLIC_URL": None,  # https://verifier.example: the base of request_uri, response_uri and result_url.
    # Bearer tokens of counter screens and back-office systems (>= 32 characters each): a string, or
    # {"token": "...", "expires_at": "2027-06-30T00:00:00Z" | unix seconds} for a token that expires.
    "API_TOKENS": [],
    "SIGNING_KEY": None,  # base64url Ed25519 seed of the verifier's did:key; generated into the instance folder if absent.
    "CLIENT_NAME": "civicid verifier",
    "REQUEST_TTL": 300,  # Seconds a presentation request can be answered.
    "RESULT_RETENTION": 300,  # Seconds a decision is kept for the counter screen, then forgotten.
    "KB_MAX_AGE": 300,  # Seconds a key binding JWT may be old.
    "LEEWAY": 60,  # Seconds of clock skew tolerated.
    "STATUS_DEFAULT_TTL": 300,  # Cache time for a status list without 'ttl'.
    "STATUS_MAX_TTL": 3600,  # A list's own 'ttl' is capped at this.
    "STATUS_STALE_MAX_AGE": 0,  # Offline counters: how old a cached list may be when the issuer is unreachable.
    "POLICY_DIR": None,  # Extra policy files (*.json); same id replaces a shipped policy.
    "POLICY_PARAMS": {},  # {"resident": {"city": "Shenzhen"}}: deployment parameters per policy.
    "TRUST_FILE": None,  # A JSON trust snapshot (see docs/verifier.md) when no registry client is configured.
    "REGISTRY_URL": None,  # The registry, through registry.client (proofs checked against REGISTRY_POLICY).
    "REGISTRY_CACHE_TTL": 300,  # Seconds a verified registry answer is reused (bounds how fast a compromise reaches counters).
    "REGISTRY_POLICY": None,  # The pinned trust policy JSON file (log vkey, witnesses, quorum, roots).
    "REGISTRY_SNAPSHOT": None,  # An offline registry snapshot (registry.client.RegistryClient.save_snapshot).
    "ALGORITHMS": ["EdDSA", "ES256"],
    "MAX_CONTENT_LENGTH": 256 * 1024,
    # Load shedding (registry.admission, docs/hardening/load.md): requests inside the app per process,
    # below serve's 4 threads; the rest answer 503 + Retry-After at once. 0 turns shedding off.
    "MAX_IN_FLIGHT": 3,
    "MAX_QUEUE_WAIT": 0,  # Seconds a request may wait for a slot; keep 0 under gunicorn.
    "RETRY_AFTER": 1,
}

KEY_FILE = "verifier-key.json"
_MIN_TOKEN = 32


@dataclass(frozen=True)
class ApiToken:
    """A counter API token as the service compares it: its bytes, and when it stops working (None: never)."""

    secret: bytes = field(repr=False)
    expires_at: int | None


def _expiry(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**53:
        return value
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})", value):
        try:
            return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp())
        except ValueError:
            pass
    raise ConfigError("an API token's expires_at must be an RFC 3339 UTC time such as 2027-06-30T00:00:00Z, or unix seconds")


def api_tokens(configured: Any) -> tuple[ApiToken, ...]:
    """``API_TOKENS`` entries (strings, or objects with ``token`` and ``expires_at``) as :class:`ApiToken`."""
    if not isinstance(configured, list):
        raise ConfigError("API_TOKENS must be a JSON list of tokens (strings, or objects with token and expires_at)")
    tokens = []
    for entry in configured:
        if isinstance(entry, str):
            tokens.append(ApiToken(entry.encode("utf-8"), None))
        elif isinstance(entry, dict) and isinstance(entry.get("token"), str) and set(entry) <= {"token", "expires_at", "name"}:
            tokens.append(ApiToken(entry["token"].encode("utf-8"), _expiry(entry.get("expires_at"))))
        else:
            raise ConfigError("API_TOKENS must be a JSON list of tokens (strings, or objects with token and expires_at)")
    return tuple(tokens)


def _positive(config: Mapping[str, Any], name: str) -> None:
    value = config.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ConfigError(f"{name} must be a non-negative integer number of seconds")


def validate(config: Mapping[str, Any]) -> None:
    """Refuse a configuration that cannot serve safely; one line says what to fix."""
    testing = bool(config.get("TESTING"))
    public = config.get("PUBLIC_URL")
    if public is not None and (not isinstance(public, str) or not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", public)):
        raise ConfigError("PUBLIC_URL must be an absolute http(s) URL without query or fragment")
    if not testing:
        if not public:
            raise ConfigError("set CIVICID_VERIFIER_PUBLIC_URL to the verifier's public https URL")
        if not public.startswith("https://") and not re.match(r"http://(127\.0\.0\.1|localhost)(:\d+)?(/|$)", public):
            raise ConfigError("PUBLIC_URL must use https (plain http is accepted for loopback only)")
    tokens = api_tokens(config.get("API_TOKENS"))
    if not testing:
        if not tokens:
            raise ConfigError("set CIVICID_VERIFIER_API_TOKENS to a JSON list of bearer tokens for the counter API")
        if any(len(t.secret) < _MIN_TOKEN for t in tokens):
            raise ConfigError(f"every API token must be at least {_MIN_TOKEN} characters (use `openssl rand -hex 32`)")
    for name in ("REQUEST_TTL", "RESULT_RETENTION", "KB_MAX_AGE", "LEEWAY", "STATUS_DEFAULT_TTL", "STATUS_MAX_TTL",
                 "STATUS_STALE_MAX_AGE"):
        _positive(config, name)
    if config["REQUEST_TTL"] == 0 or config["RESULT_RETENTION"] == 0:
        raise ConfigError("REQUEST_TTL and RESULT_RETENTION must be positive")
    algorithms = config.get("ALGORITHMS")
    if not isinstance(algorithms, list) or not algorithms or not set(algorithms) <= {"EdDSA", "ES256"}:
        raise ConfigError("ALGORITHMS must be a non-empty list drawn from EdDSA and ES256")
    if not isinstance(config.get("POLICY_PARAMS"), dict):
        raise ConfigError("POLICY_PARAMS must be a JSON object of policy id -> parameters")
    db = config.get("DATABASE")
    if db is not None and (not isinstance(db, str) or not db):
        raise ConfigError("DATABASE must be a SQLite path or a postgresql:// URL")


def _key_from_seed(text: Any, where: str) -> sdjwt.Ed25519PrivateKey:
    try:
        seed = b64url_decode(text, "signing key") if isinstance(text, str) else b""
        return sdjwt.Ed25519PrivateKey(seed)
    except (sdjwt.SDJWTError, ValueError) as exc:
        raise ConfigError(f"{where} must be a base64url 32-byte Ed25519 seed") from exc


def load_signing_key(config: Mapping[str, Any], instance_path: str) -> sdjwt.Ed25519PrivateKey:
    """The verifier's did:key signing key: from config, else the instance folder (created on first start)."""
    configured = config.get("SIGNING_KEY")
    if isinstance(configured, sdjwt.Ed25519PrivateKey):
        return configured
    if configured:
        return _key_from_seed(configured, "SIGNING_KEY")
    path = Path(instance_path) / KEY_FILE
    if not path.exists():
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # O_EXCL: of several processes starting at once, exactly one writes the key.
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        except OSError as exc:
            raise ConfigError(f"cannot create the verifier key in {path.parent} ({exc.strerror})") from exc
        else:
            with os.fdopen(fd, "w") as handle:
                json.dump({"seed": b64url_encode(secrets.token_bytes(32))}, handle)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read the verifier key {path}") from exc
    return _key_from_seed(data.get("seed") if isinstance(data, dict) else None, f"{path}")
