"""The admin API (blueprint ``admin``): offers from other systems, credential status, officers, tokens, audit.

Every endpoint authenticates a bearer API token (``Authorization: Bearer
cit_...``) and checks the token's role against :data:`issuer.officers.PERMISSIONS`.
Errors are RFC 9457 problem documents.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from . import audit, officers
from .config import clock, random_source
from .credential_types import lookup
from .errors import BadRequest
from .offers import OfferSettings, create_offers
from .status import ACTIONS, STATUS_NAMES, change_status
from .storage import IssuerStore, get_store

__all__ = ["bp", "search_credentials"]

bp = Blueprint("admin", __name__, url_prefix="/admin")


def _principal() -> officers.Principal | None:
    header = request.headers.get("Authorization", "")
    if not header:
        return None
    if not header.startswith("Bearer "):
        return None
    return officers.authenticate_token(get_store(), header[len("Bearer ") :].strip(), clock(current_app.config))


def _json_object() -> dict[str, Any]:
    if request.mimetype != "application/json":
        raise BadRequest("send a JSON object with Content-Type: application/json")
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object")
    return body


@bp.post("/offers")
def post_offer() -> tuple[Response, int]:
    principal = officers.require(_principal(), "offers.create")
    body = _json_object()
    config = current_app.config
    ctype = lookup(current_app.extensions["civicid_issuer_types"], body.get("credential_configuration_id"))
    offer = create_offers(
        get_store(),
        OfferSettings.from_config(config),
        ctype,
        body.get("claims"),
        actor=principal.actor,
        now=clock(config),
        random=random_source(config),
    )
    response = jsonify(offer.to_json())
    response.headers["Cache-Control"] = "no-store"
    return response, 201


def search_credentials(store: IssuerStore, subject: str | None = None, offer_id: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
    if subject:
        where, params = "subject = ?", (subject,)
    elif offer_id:
        where, params = "offer_id = ?", (offer_id,)
    else:
        where, params = "1 = 1", ()
    rows = store.read().execute(
        "SELECT id, offer_id, configuration_id, subject, list_id, idx, status, issued_at, expires_at FROM credentials "
        f"WHERE {where} ORDER BY issued_at DESC, id LIMIT ?",
        (*params, limit),
    ).fetchall()
    return [
        {
            "id": r[0],
            "offer_id": r[1],
            "credential_configuration_id": r[2],
            "subject": r[3],
            "status_list": r[4],
            "status": STATUS_NAMES.get(int(r[6]), "unknown"),
            "issued_at": int(r[7]),
            "expires_at": int(r[8]),
        }
        for r in rows
    ]


def _limit(default: int = 50, maximum: int = 500) -> int:
    raw = request.args.get("limit", str(default))
    if not raw.isdigit() or not 1 <= int(raw) <= maximum:
        raise BadRequest(f"limit must be an integer from 1 to {maximum}")
    return int(raw)


@bp.get("/credentials")
def get_credentials() -> Response:
    officers.require(_principal(), "credentials.read")
    subject = request.args.get("subject")
    offer_id = request.args.get("offer_id")
    for value in (subject, offer_id):
        if value is not None and len(value) > 200:
            raise BadRequest("search terms are at most 200 characters")
    return jsonify({"credentials": search_credentials(get_store(), subject, offer_id, _limit())})


@bp.post("/credentials/<credential_id>/<action>")
def post_status(credential_id: str, action: str) -> Response:
    principal = officers.require(_principal(), "credentials.status")
    if action not in ACTIONS:
        raise BadRequest("action must be revoke, suspend or reinstate")
    reason = None
    if request.content_length:
        reason = _json_object().get("reason")
        if reason is not None and not isinstance(reason, str):
            raise BadRequest("reason must be a string")
    new = change_status(get_store(), credential_id, action, actor=principal.actor, now=clock(current_app.config), reason=reason)
    return jsonify({"id": credential_id, "status": STATUS_NAMES[new]})


@bp.get("/audit")
def get_audit() -> Response:
    officers.require(_principal(), "audit.read")
    after = request.args.get("after", "0")
    if not after.isdigit():
        raise BadRequest("after must be a record number")
    return jsonify({"records": [r.to_json() for r in audit.records(get_store(), int(after), _limit(100, 1000))]})


@bp.get("/audit/verify")
def verify_audit() -> Response:
    officers.require(_principal(), "audit.read")
    summary = audit.verify_chain(get_store())
    return jsonify({"records": summary.count, "head": summary.head_hash})


@bp.get("/officers")
def get_officers() -> Response:
    officers.require(_principal(), "officers.manage")
    return jsonify({"officers": officers.list_officers(get_store())})


@bp.post("/officers")
def post_officer() -> tuple[Response, int]:
    principal = officers.require(_principal(), "officers.manage")
    body = _json_object()
    officers.add_officer(
        get_store(), body.get("username"), body.get("password"), body.get("role"),  # type: ignore[arg-type]
        actor=principal.actor, now=clock(current_app.config),
    )
    return jsonify({"username": body["username"], "role": body["role"]}), 201


@bp.post("/officers/<username>/<action>")
def post_officer_state(username: str, action: str) -> Response:
    principal = officers.require(_principal(), "officers.manage")
    if action not in ("enable", "disable"):
        raise BadRequest("action must be enable or disable")
    officers.set_active(get_store(), username, action == "enable", actor=principal.actor, now=clock(current_app.config))
    return jsonify({"username": username, "active": action == "enable"})


@bp.post("/tokens")
def post_token() -> tuple[Response, int]:
    principal = officers.require(_principal(), "officers.manage")
    body = _json_object()
    config = current_app.config
    now = clock(config)
    lifetime = body.get("expires_in", officers.TOKEN_LIFETIME)
    token = officers.create_token(
        get_store(), body.get("name"), body.get("role"), actor=principal.actor, now=now, random=random_source(config),  # type: ignore[arg-type]
        lifetime=lifetime,
    )
    response = jsonify({"token": token, "name": body["name"], "role": body["role"], "expires_at": now + lifetime})
    response.headers["Cache-Control"] = "no-store"
    return response, 201
