"""The issuer's configuration: defaults, validation, and the signing identity.

Every setting is read as ``app.config[NAME]`` and can be set from the
environment as ``CIVICID_ISSUER_<NAME>`` (values are parsed as JSON when they
parse). Validation runs once at start-up and fails with one line naming the
setting.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping
from urllib.parse import urlsplit

import nacl.utils

import sdjwt

from .errors import ConfigError

__all__ = ["DEFAULTS", "RATE_LIMITS", "SigningIdentity", "validate", "signing_identity", "clock", "random_source"]

DEFAULTS: dict[str, Any] = {
    # Where the service stores offers, credentials, status lists, officers and the audit log.
    "DATABASE": "civicid-issuer.db",
    # The Credential Issuer Identifier (OpenID4VCI 1.0 section 12.2.1): https URL, no query or fragment.
    "PUBLIC_URL": None,
    # Keys HMACs of PINs and derivation of pre-authorized codes, and signs console sessions.
    "SECRET_KEY": None,
    # The signing identity: the office's DID, the DID URL of its signing key, the encrypted keystore.
    "DID": None,
    "KID": None,
    "KEYSTORE": None,
    "KEYSTORE_PASSPHRASE": None,
    # The registry this office publishes to (wired by `issuer.registration`).
    "REGISTRY_URL": None,
    "OFFER_TTL": 14 * 24 * 3600,
    "TX_CODE_LENGTH": 6,
    "MAX_TX_CODE_ATTEMPTS": 5,
    "TOKEN_TTL": 600,
    "NONCE_TTL": 300,
    "PROOF_MAX_AGE": 300,
    "BATCH_SIZE": 10,
    "CREDENTIAL_VALIDITY": 365 * 24 * 3600,
    "STATUS_LIST_SIZE": 1 << 17,
    "STATUS_LIST_TTL": 300,
    "STATUS_LIST_VALIDITY": 24 * 3600,
    "DISPLAY_NAME": {"en": "Civic Registry Office", "zh-CN": "民政登记办公室"},
    "SESSION_COOKIE_SECURE": True,
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Strict",
    "SESSION_COOKIE_NAME": "__Host-civicid-issuer" ,
    "PERMANENT_SESSION_LIFETIME": 8 * 3600,
    "MAX_CONTENT_LENGTH": 1024 * 1024,
    # Whether this app instance must be able to sign (the service does; some CLI commands do not).
    "SIGNING_REQUIRED": True,
    # Load shedding (registry.admission, docs/hardening/load.md): requests inside the app per process
    # (matters with `serve --threads`; keep it below the thread count); 503 + Retry-After beyond. 0: off.
    "MAX_IN_FLIGHT": 3,
    "MAX_QUEUE_WAIT": 0,
    "RETRY_AFTER": 1,
    # Per-process token buckets on the OpenID4VCI endpoints, [burst, refill per minute] or null (off);
    # 429 + Retry-After beyond. nginx's limit_req (deploy/nginx.conf) is the global limit.
    "RATE_LIMIT_TOKEN_PER_ADDRESS": [30, 30],  # /token (PIN attempts) per client address (IPv6: per /64)
    "RATE_LIMIT_TOKEN_PER_OFFER": [10, 6],  # /token per pre-authorized code, on top of MAX_TX_CODE_ATTEMPTS
    "RATE_LIMIT_NONCE_PER_ADDRESS": [120, 600],
    "RATE_LIMIT_CREDENTIAL_PER_ADDRESS": [120, 600],
    "RATE_LIMIT_CREDENTIAL_PER_TOKEN": [20, 60],  # /credential per access token
    "RATE_LIMIT_TRUSTED_PROXIES": [],  # Peers whose X-Forwarded-For names the client (the nginx hosts).
    # Injected in tests: "CLOCK" () -> int seconds, "RANDOM" (n) -> bytes, "SIGNING_KEY" a PrivateKey.
}

#: The token-bucket settings (see DEFAULTS and issuer.oid4vci.rate_limited).
RATE_LIMITS = (
    "RATE_LIMIT_TOKEN_PER_ADDRESS",
    "RATE_LIMIT_TOKEN_PER_OFFER",
    "RATE_LIMIT_NONCE_PER_ADDRESS",
    "RATE_LIMIT_CREDENTIAL_PER_ADDRESS",
    "RATE_LIMIT_CREDENTIAL_PER_TOKEN",
)


@dataclass(frozen=True)
class SigningIdentity:
    """Who signs: the issuer DID (``iss``), the DID URL of the key (``kid``) and the key."""

    did: str
    kid: str
    key: sdjwt.PrivateKey


def _positive_int(config: Mapping[str, Any], name: str) -> None:
    value = config.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ConfigError(f"{name} must be a positive integer")


def _check_public_url(value: Any, testing: bool) -> None:
    if not isinstance(value, str) or not value:
        raise ConfigError("PUBLIC_URL is not set; set CIVICID_ISSUER_PUBLIC_URL to the office's https URL")
    parts = urlsplit(value)
    loopback = parts.hostname in ("127.0.0.1", "localhost", "::1")
    if parts.scheme != "https" and not (parts.scheme == "http" and (testing or loopback)):
        raise ConfigError("PUBLIC_URL must be an https URL (OpenID4VCI 1.0 section 12.2.1)")
    if parts.query or parts.fragment or value.endswith("/"):
        raise ConfigError("PUBLIC_URL must have no query, fragment or trailing slash")


def validate(config: dict[str, Any]) -> None:
    """Fail fast with one line naming the bad setting."""
    testing = bool(config.get("TESTING"))
    if config.get("PUBLIC_URL") is not None or config.get("SIGNING_REQUIRED"):
        _check_public_url(config.get("PUBLIC_URL"), testing)
    secret = config.get("SECRET_KEY")
    if not isinstance(secret, (str, bytes)) or len(secret) < 32:
        if testing and secret is None:
            config["SECRET_KEY"] = nacl.utils.random(32).hex()
        else:
            raise ConfigError("SECRET_KEY must be set to at least 32 random characters (CIVICID_ISSUER_SECRET_KEY)")
    if isinstance(config["SECRET_KEY"], str) and config["SECRET_KEY"] in ("dev", "changeme", "secret" * 6):
        raise ConfigError("SECRET_KEY is a well-known development value; generate a random one")
    if not isinstance(config.get("DATABASE"), str) or not config["DATABASE"]:
        raise ConfigError("DATABASE must be a SQLite path or a postgresql:// URL")
    for name in (
        "OFFER_TTL",
        "TX_CODE_LENGTH",
        "MAX_TX_CODE_ATTEMPTS",
        "TOKEN_TTL",
        "NONCE_TTL",
        "PROOF_MAX_AGE",
        "BATCH_SIZE",
        "CREDENTIAL_VALIDITY",
        "STATUS_LIST_SIZE",
        "STATUS_LIST_TTL",
        "STATUS_LIST_VALIDITY",
    ):
        _positive_int(config, name)
    if not 4 <= config["TX_CODE_LENGTH"] <= 12:
        raise ConfigError("TX_CODE_LENGTH must be between 4 and 12 digits")
    if config["BATCH_SIZE"] < 2:
        raise ConfigError("BATCH_SIZE must be 2 or more (OpenID4VCI 1.0 section 12.2.4, batch_size)")
    if config["STATUS_LIST_SIZE"] < 1024 or config["STATUS_LIST_SIZE"] % 8:
        raise ConfigError("STATUS_LIST_SIZE must be a multiple of 8 and at least 1024 (herd privacy)")
    from registry.admission import parse_limit

    for name in RATE_LIMITS:
        parse_limit(config.get(name), name, ConfigError)
    proxies = config.get("RATE_LIMIT_TRUSTED_PROXIES")
    if not isinstance(proxies, list) or not all(isinstance(p, str) for p in proxies):
        raise ConfigError("RATE_LIMIT_TRUSTED_PROXIES must be a JSON list of proxy addresses")
    if config.get("SIGNING_REQUIRED"):
        signing_identity(config)  # Loads and checks the key once, so a bad keystore stops start-up.


def signing_identity(config: dict[str, Any]) -> SigningIdentity:
    """The configured signing identity, loading the keystore on first use."""
    cached = config.get("_SIGNING_IDENTITY")
    if isinstance(cached, SigningIdentity):
        return cached
    did, kid = config.get("DID"), config.get("KID")
    if not isinstance(did, str) or not did.startswith("did:"):
        raise ConfigError("DID must be the office's DID (run `civicid issuer init`)")
    if not isinstance(kid, str) or not kid.startswith(did + "#"):
        raise ConfigError("KID must be a DID URL of the office's DID, like <DID>#key-1")
    key = config.get("SIGNING_KEY")
    if key is None:
        from .keys import Keystore

        path, passphrase = config.get("KEYSTORE"), config.get("KEYSTORE_PASSPHRASE")
        if not path or not passphrase:
            raise ConfigError("KEYSTORE and KEYSTORE_PASSPHRASE must be set (CIVICID_ISSUER_KEYSTORE, ..._PASSPHRASE)")
        key = Keystore.open(str(path), str(passphrase)).signing_key(kid.partition("#")[2])
    if not isinstance(key, sdjwt.PrivateKey):
        raise ConfigError("SIGNING_KEY must be a private key")
    identity = SigningIdentity(did, kid, key)
    config["_SIGNING_IDENTITY"] = identity
    return identity


def clock(config: Mapping[str, Any]) -> int:
    fn: Callable[[], int] | None = config.get("CLOCK")
    return int(fn()) if fn is not None else int(time.time())


def random_source(config: Mapping[str, Any]) -> Callable[[int], bytes]:
    fn: Callable[[int], bytes] | None = config.get("RANDOM")
    return fn if fn is not None else nacl.utils.random


def instance_config_path() -> str | None:
    return os.environ.get("CIVICID_ISSUER_CONFIG")
