"""Registry service configuration: defaults, validation, and the log key on disk."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

import nacl.utils

from .checkpoint import CosignatureVerifier, Ed25519Signer
from .errors import RegistryError

__all__ = ["ConfigError", "DEFAULTS", "load_signer", "load_seed", "parse_witnesses", "parse_list"]


class ConfigError(RegistryError):
    """The service cannot start with this configuration."""

    code = "config_invalid"
    hint = "fix the setting named in the message (CIVICID_REGISTRY_<NAME> or the instance config file)"


DEFAULTS: dict[str, Any] = {
    "ORIGIN": "registry.civicid.localhost/v1",
    "DB": None,  # A SQLite path or a postgresql:// URL; defaults to <instance>/registry.db.
    "LOG_KEY_FILE": None,  # 32-byte Ed25519 seed; created (mode 0600) on first start if absent.
    "ROOTS": "",  # Root authority DIDs, comma-separated.
    "WITNESSES": "",  # "<url> <vkey>" pairs separated by ';'.
    "QUORUM": None,  # Default: every witness.
    "CHECKPOINT_INTERVAL": 1.0,
    "MAX_CONTENT_LENGTH": 64 * 1024,
    "START_THREADS": True,
    "READ_ONLY": False,  # A mirror's node: serve reads, refuse submissions, sign no checkpoints.
    "POLICY_FILE": None,  # A mirror's pinned policy of the primary (its answers replay under it).
    # Load shedding (registry.admission, docs/hardening/load.md): requests inside the app per process,
    # below serve's 4 threads; the rest answer 503 + Retry-After at once. 0 turns shedding off.
    "MAX_IN_FLIGHT": 3,
    "MAX_QUEUE_WAIT": 0,  # Seconds a request may wait for a slot; keep 0 under gunicorn.
    "RETRY_AFTER": 1,
}


def parse_list(value: Any) -> list[str]:
    if isinstance(value, (list, tuple)):
        return [str(v).strip() for v in value if str(v).strip()]
    return [part.strip() for part in str(value or "").split(",") if part.strip()]


def parse_witnesses(value: Any) -> list[tuple[str, CosignatureVerifier]]:
    """``"http://w1 name+id+key; http://w2 ..."`` or a list of (url, vkey) pairs."""
    pairs: list[tuple[str, str]] = []
    if isinstance(value, (list, tuple)):
        pairs = [(str(url), str(vkey)) for url, vkey in value]
    else:
        for item in str(value or "").split(";"):
            if item.strip():
                url, _, vkey = item.strip().partition(" ")
                pairs.append((url, vkey.strip()))
    try:
        return [(url, CosignatureVerifier.from_vkey(vkey)) for url, vkey in pairs]
    except (ValueError, RegistryError) as exc:
        raise ConfigError(f"WITNESSES holds an invalid witness key ({type(exc).__name__})") from exc


def load_seed(path: Path) -> bytes:
    """A 32-byte Ed25519 seed from ``path``, created (mode 0600, fsynced) with fresh randomness if absent."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write a temporary file, then link it into place: a crash never leaves an empty key
        # file, and of two processes starting at once exactly one key wins (link refuses to overwrite).
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(nacl.utils.random(32))
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            os.unlink(tmp)
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
    seed = path.read_bytes()
    if len(seed) != 32:
        raise ConfigError(f"key file {path} must hold exactly 32 bytes")
    return seed


def load_signer(config: Mapping[str, Any], instance_path: str) -> Ed25519Signer:
    """The log's checkpoint signer, from LOG_KEY_FILE (created with a fresh random seed if absent)."""
    seed = load_seed(Path(config.get("LOG_KEY_FILE") or os.path.join(instance_path, "log-key.seed")))
    try:
        return Ed25519Signer(str(config["ORIGIN"]), seed)
    except ValueError as exc:
        raise ConfigError("ORIGIN is not a valid key name (no spaces, '+' or newlines)") from exc
