"""Flask app factories: the registry (``create_app``) and a witness (``create_witness_app``).

Configuration: defaults, then ``<instance>/registry.json`` (or ``witness.json``), then
``CIVICID_REGISTRY_*`` (``CIVICID_WITNESS_*``) environment variables, then test
overrides. Invalid configuration fails at start with a one-line reason.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Mapping

from flask import Flask, Response, jsonify, request

from . import admission, errors
from .api import resolver, tlog, trqp
from .bundle import TrustPolicy
from .checkpoint import CosignatureSigner, Ed25519Verifier
from .config import DEFAULTS, ConfigError, load_seed, load_signer, parse_list, parse_witnesses
from .ledger import Ledger, WitnessConfig
from .storage import Database, LogStore
from .witness import MAX_REQUEST_BYTES, SizeConflict, TrustedLog, Witness, WitnessError

__all__ = ["create_app", "create_witness_app"]

_OPENAPI = Path(__file__).with_name("openapi.json")


def _configure(app: Flask, defaults: Mapping[str, Any], filename: str, prefix: str, overrides: Mapping[str, Any] | None) -> None:
    app.config.from_mapping(defaults)
    app.config.from_file(filename, load=json.load, silent=True)
    app.config.from_prefixed_env(prefix)
    if overrides:
        app.config.from_mapping(overrides)


def _instance_path(overrides: Mapping[str, Any] | None, name: str) -> str:
    """INSTANCE_PATH from the overrides or CIVICID_<NAME>_INSTANCE_PATH, else ./instance/<name>."""
    given = (overrides or {}).get("INSTANCE_PATH") or os.environ.get(f"CIVICID_{name.upper()}_INSTANCE_PATH")
    return os.path.abspath(given or os.path.join("instance", name))


def create_app(overrides: Mapping[str, Any] | None = None) -> Flask:
    """The registry service: submission, tiles, resolution and TRQP over one ledger."""
    app = Flask("registry", instance_relative_config=True, instance_path=_instance_path(overrides, "registry"))
    _configure(app, DEFAULTS, "registry.json", "CIVICID_REGISTRY", overrides)
    os.makedirs(app.instance_path, exist_ok=True)
    url = app.config["DB"] or os.path.join(app.instance_path, "registry.db")
    signer = load_signer(app.config, app.instance_path)
    roots = parse_list(app.config["ROOTS"])
    witnesses = parse_witnesses(app.config["WITNESSES"])
    quorum = app.config["QUORUM"]
    try:
        quorum = len(witnesses) if quorum in (None, "") else int(quorum)
        ledger = Ledger(
            LogStore(Database(str(url))),
            origin=str(app.config["ORIGIN"]),
            signer=signer,
            roots=roots,
            witnesses=[WitnessConfig(u, v) for u, v in witnesses],
            quorum=quorum,
            checkpoint_interval=float(app.config["CHECKPOINT_INTERVAL"]),
        )
    except ValueError as exc:
        raise ConfigError(f"invalid registry configuration: {exc}") from exc
    app.extensions["civicid.ledger"] = ledger
    if app.config.get("POLICY_FILE"):
        # A mirror answers with the primary's checkpoints, so it replays under the primary's policy.
        try:
            policy = TrustPolicy.from_json(json.loads(Path(app.config["POLICY_FILE"]).read_text(encoding="utf-8")))
        except (OSError, ValueError, errors.RegistryError) as exc:
            raise ConfigError(f"POLICY_FILE cannot be read ({type(exc).__name__})") from exc
    else:
        policy = TrustPolicy(
            origin=ledger.origin,
            log=signer.verifier,
            witnesses=tuple(v for _, v in witnesses),
            quorum=quorum,
            roots=tuple(roots),
        )
    app.extensions["civicid.policy"] = policy
    read_only = str(app.config.get("READ_ONLY", False)).lower() in ("1", "true", "yes")
    app.extensions["civicid.read_only"] = read_only
    if app.config["START_THREADS"] and not read_only:
        ledger.start()

    app.register_blueprint(tlog)
    app.register_blueprint(resolver)
    app.register_blueprint(trqp)

    @app.get("/policy")
    def policy() -> Any:
        """The trust policy a client should pin (log key, witnesses, quorum, roots).

        Clients must get it out of band in production; this copy is for bootstrapping.
        """
        return jsonify(app.extensions["civicid.policy"].to_json())

    @app.get("/openapi.json")
    def openapi() -> Response:
        return Response(_OPENAPI.read_text(encoding="utf-8"), mimetype="application/json")

    errors.init_app(app)
    # Load shedding: 503 problem+json at once beyond MAX_IN_FLIGHT per process (docs/hardening/load.md).
    admission.install(app, problem_type=errors.PROBLEM_BASE, error=ConfigError)
    return app


WITNESS_DEFAULTS: dict[str, Any] = {
    "NAME": "witness.civicid.localhost",
    "KEY_FILE": None,  # 32-byte seed for the cosignature key; created on first start if absent.
    "DB": None,
    "LOGS": "",  # "<origin> <log vkey>" pairs separated by ';'.
    "MAX_CONTENT_LENGTH": MAX_REQUEST_BYTES,
}


def create_witness_app(overrides: Mapping[str, Any] | None = None) -> Flask:
    """A C2SP tlog-witness: ``POST /add-checkpoint`` with the specified status codes."""
    app = Flask("registry.witness", instance_relative_config=True, instance_path=_instance_path(overrides, "witness"))
    _configure(app, WITNESS_DEFAULTS, "witness.json", "CIVICID_WITNESS", overrides)
    os.makedirs(app.instance_path, exist_ok=True)
    seed = load_seed(Path(app.config["KEY_FILE"] or os.path.join(app.instance_path, "witness-key.seed")))
    try:
        signer = CosignatureSigner(str(app.config["NAME"]), seed)
    except ValueError as exc:
        raise ConfigError("NAME is not a valid witness key name (no spaces, '+' or newlines)") from exc
    logs = []
    for item in str(app.config["LOGS"] or "").split(";"):
        if item.strip():
            origin, _, vkey = item.strip().rpartition(" ")
            try:
                logs.append(TrustedLog(origin.strip(), Ed25519Verifier.from_vkey(vkey)))
            except (ValueError, errors.RegistryError) as exc:
                raise ConfigError(f"LOGS holds an invalid log key ({type(exc).__name__})") from exc
    url = app.config["DB"] or os.path.join(app.instance_path, "witness.db")
    witness = Witness(Database(str(url)), signer, logs)
    app.extensions["civicid.witness"] = witness

    @app.post("/add-checkpoint")
    def add_checkpoint() -> Response:
        try:
            line = witness.add_checkpoint(request.get_data(cache=False))
        except SizeConflict as exc:
            return Response(f"{exc.current_size}\n", status=409, mimetype="text/x.tlog.size")
        except WitnessError as exc:
            return Response(exc.message + "\n", status=exc.status, mimetype="text/plain")
        return Response(line, status=200, mimetype="text/plain")

    @app.get("/vkey")
    def vkey() -> Response:
        """The witness's cosignature verifier key, for the registry's configuration."""
        return Response(signer.verifier.vkey + "\n", mimetype="text/plain")

    errors.init_app(app)
    return app
