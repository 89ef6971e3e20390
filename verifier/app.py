"""The verifier service: ``create_app(overrides=None)`` (flask's application factory).

Blueprints: ``oid4vp`` (request object, direct_post response), ``api``
(counter API, plain JSON API, offline scan), ``counter`` (the counter screen
and ``/openapi.json``). Objects that tests inject rather than configure:
``TRUST`` (a :class:`registry.trust.TrustSource`), ``STATUS_FETCHER``
(``uri -> token``), ``CLOCK`` (``() -> int``), ``RANDOM`` (``n -> bytes``).
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import time
from pathlib import Path
from typing import Any, Mapping

from flask import Flask

import sdjwt
from registry import admission
from registry.trust import StaticTrust, TrustSource

from . import api, counter, errors, oid4vp
from .config import DEFAULTS, api_tokens, load_signing_key, validate
from .errors import ConfigError
from .pipeline import Pipeline
from .policy import load_policies
from .status import StatusLists, http_fetcher
from .storage import open_store

__all__ = ["create_app", "trust_from_file"]

log = logging.getLogger("civicid.verifier")


def trust_from_file(path: str) -> StaticTrust:
    """A trust snapshot as JSON: ``{"snapshot_time", "keys": [{did, kid, jwk, valid_from, valid_until}],
    "accreditations": [{did, vct, valid_from, valid_until}]}`` (an offline counter's registry copy)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        trust = StaticTrust()
        for k in data.get("keys", []):
            trust.add_key(k["did"], k["kid"], sdjwt.public_key_from_jwk(k["jwk"]), int(k.get("valid_from", 0)),
                          None if k.get("valid_until") is None else int(k["valid_until"]))
        for g in data.get("accreditations", []):
            trust.accredit(g["did"], g["vct"], int(g.get("valid_from", 0)), int(g.get("valid_until", 2**62)))
        snapshot_time = data.get("snapshot_time")
        if isinstance(snapshot_time, int):
            trust.snapshot_time = snapshot_time  # type: ignore[attr-defined]
        return trust
    except (OSError, ValueError, KeyError, TypeError, AttributeError, sdjwt.SDJWTError) as exc:
        raise ConfigError(f"TRUST_FILE {path} is not a readable trust snapshot ({type(exc).__name__})") from exc


def _trust(config: Mapping[str, Any]) -> TrustSource:
    if config.get("TRUST") is not None:
        trust: TrustSource = config["TRUST"]
        return trust
    if config.get("TRUST_FILE"):
        return trust_from_file(config["TRUST_FILE"])
    from registry import client
    from registry.errors import RegistryError

    try:
        if config.get("REGISTRY_SNAPSHOT"):
            # An offline counter: proof bundles checked against the pinned policy, no network.
            if not config.get("REGISTRY_POLICY"):
                raise ConfigError("REGISTRY_SNAPSHOT needs REGISTRY_POLICY, the trust policy file to check it against")
            policy = client.from_url("http://offline.invalid", config["REGISTRY_POLICY"]).policy
            return client.RegistryClient.from_snapshot(config["REGISTRY_SNAPSHOT"], policy)
        if config.get("REGISTRY_URL"):
            return client.from_url(config["REGISTRY_URL"], config.get("REGISTRY_POLICY"),
                                   cache_ttl=float(config.get("REGISTRY_CACHE_TTL", 300)))
    except RegistryError as exc:
        raise ConfigError(f"the registry trust source cannot be set up: {exc}") from exc
    raise ConfigError("no trust source: set CIVICID_VERIFIER_REGISTRY_URL (and REGISTRY_POLICY) or TRUST_FILE")


def create_app(overrides: Mapping[str, Any] | None = None) -> Flask:
    """Defaults -> ``<instance>/verifier.json`` -> ``CIVICID_VERIFIER_*`` -> ``overrides``; validated."""
    overrides = dict(overrides or {})
    instance = overrides.pop("INSTANCE_PATH", None) or os.environ.get("CIVICID_VERIFIER_INSTANCE_PATH")
    app = Flask("verifier", instance_path=str(Path(instance).resolve()) if instance else None, instance_relative_config=True)
    app.config.from_mapping(DEFAULTS)
    app.config.from_file("verifier.json", load=json.load, silent=True)
    app.config.from_prefixed_env("CIVICID_VERIFIER")
    app.config.update(overrides)
    validate(app.config)
    if app.config["DATABASE"] is None:
        app.config["DATABASE"] = os.path.join(app.instance_path, "verifier.db")
        os.makedirs(app.instance_path, exist_ok=True)

    key = load_signing_key(app.config, app.instance_path)
    trust = _trust(app.config)
    clock = app.config.get("CLOCK") or (lambda: int(time.time()))
    random = app.config.get("RANDOM") or secrets.token_bytes
    store = open_store(app.config["DATABASE"])
    algorithms = tuple(app.config["ALGORITHMS"])
    status = StatusLists(
        trust.key_at,
        app.config.get("STATUS_FETCHER") or http_fetcher(),
        algorithms=algorithms,
        default_ttl=app.config["STATUS_DEFAULT_TTL"],
        max_ttl=app.config["STATUS_MAX_TTL"],
        stale_max_age=app.config["STATUS_STALE_MAX_AGE"],
        leeway=app.config["LEEWAY"],
    )
    pipeline = Pipeline(
        trust, status, replay=store.first_use, algorithms=algorithms, holder_algorithms=algorithms,
        leeway=app.config["LEEWAY"], kb_max_age=app.config["KB_MAX_AGE"],
    )
    policies = load_policies(app.config.get("POLICY_DIR"), app.config.get("POLICY_PARAMS"))
    policies.forget_passes_after(app.config["RESULT_RETENTION"])
    app.extensions["civicid_verifier"] = oid4vp.Service(
        store=store, pipeline=pipeline, policies=policies, key=key, public_url=app.config.get("PUBLIC_URL"),
        client_name=app.config["CLIENT_NAME"], algorithms=algorithms, request_ttl=app.config["REQUEST_TTL"],
        retention=app.config["RESULT_RETENTION"], clock=clock, random=random,
    )
    app.extensions["civicid_verifier_tokens"] = api_tokens(app.config["API_TOKENS"])
    app.register_blueprint(oid4vp.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(counter.bp)
    errors.init_app(app)
    # POST /api/verify without Flask's per-request machinery where that changes nothing (api.DirectVerify).
    app.wsgi_app = api.DirectVerify(app, app.wsgi_app)  # type: ignore[method-assign]
    # Load shedding: 503 at once beyond MAX_IN_FLIGHT per process; OAuth-style on /oid4vp/ (docs/hardening/load.md).
    admission.install(app, problem_type=errors.PROBLEM_BASE, oauth_paths=("/oid4vp/",), error=ConfigError)
    return app
