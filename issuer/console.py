"""The officers' web console (blueprint ``console``), server-rendered, in English and Simplified Chinese.

Sign in with an officer account; choose a credential type; fill a form
generated from the type's metadata and schema; get the offer as a QR code and
the PIN; search issued credentials and revoke, suspend or reinstate them
(supervisors); read the audit log (auditors, supervisors).

Sessions are Flask's signed cookies (``Secure``, ``HttpOnly``,
``SameSite=Strict``, ``__Host-`` name in production). Every POST carries the
session's CSRF token, compared with :func:`hmac.compare_digest`. The session
id is renewed at sign-in (no fixation).
"""

from __future__ import annotations

import base64
import hmac
import io
import secrets
from typing import Any

from flask import Blueprint, Response, abort, current_app, make_response, redirect, render_template, request, session, url_for

from . import audit, officers
from .admin import search_credentials
from .config import clock, random_source
from .credential_types import CredentialType, lookup
from .errors import BadRequest, Forbidden, InvalidClaims, IssuerError, Unauthenticated
from .offers import OfferSettings, create_offers
from .status import ACTIONS, change_status
from .storage import get_store

__all__ = ["bp", "render_error", "LOCALES", "offer_qr_png"]

bp = Blueprint("console", __name__, url_prefix="/console")
LOCALES = ("en", "zh-CN")

TEXT: dict[str, dict[str, str]] = {
    "en": {
        "title": "Issuer console", "sign_in": "Sign in", "username": "Username", "password": "Password",
        "sign_out": "Sign out", "choose_type": "Issue a credential", "create_offer": "Create offer",
        "offer_ready": "Offer ready", "scan": "Let the citizen scan this code with their wallet.",
        "pin": "PIN (give it separately)", "expires": "Expires at", "credentials": "Issued credentials",
        "search": "Search by personal identifier", "audit": "Audit log", "status": "Status",
        "revoke": "Revoke", "suspend": "Suspend", "reinstate": "Reinstate", "error": "Error",
        "comma": "comma-separated", "actor": "Who", "action": "What", "target": "Which", "time": "When",
        "issued": "Issued", "type": "Type", "id": "Id",
    },
    "zh-CN": {
        "title": "签发控制台", "sign_in": "登录", "username": "用户名", "password": "密码",
        "sign_out": "退出", "choose_type": "签发凭证", "create_offer": "生成凭证要约",
        "offer_ready": "要约已生成", "scan": "请市民用钱包扫描此二维码。",
        "pin": "PIN 码（请另行告知）", "expires": "失效时间", "credentials": "已签发凭证",
        "search": "按个人身份号码搜索", "audit": "审计日志", "status": "状态",
        "revoke": "撤销", "suspend": "暂停", "reinstate": "恢复", "error": "错误",
        "comma": "以逗号分隔", "actor": "操作人", "action": "操作", "target": "对象", "time": "时间",
        "issued": "签发时间", "type": "类型", "id": "编号",
    },
}


def _locale() -> str:
    wanted = request.args.get("lang")
    if wanted in LOCALES:
        session["lang"] = wanted
    chosen = session.get("lang")
    if chosen in LOCALES:
        return str(chosen)
    best = request.accept_languages.best_match(["en", "zh-CN", "zh"])
    return "zh-CN" if best in ("zh-CN", "zh") else "en"


def _csrf_token() -> str:
    token = session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        session["csrf"] = token
    return token


def _check_csrf() -> None:
    sent = request.form.get("csrf_token", "")
    expected = session.get("csrf")
    if not isinstance(expected, str) or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise Forbidden("the form's CSRF token is missing or stale; reload the page and try again")


def _principal() -> officers.Principal | None:
    actor, role = session.get("actor"), session.get("role")
    if not isinstance(actor, str) or role not in officers.ROLES:
        return None
    # The session cookie is only a claim made at sign-in: an officer disabled (or re-roled) since then
    # must lose access on the next request, not when the cookie expires (tests/security/test_access_control.py).
    if officers.current_role(get_store(), actor) != role:
        session.clear()
        return None
    return officers.Principal(actor, role)


def _render(template: str, status: int = 200, **context: Any) -> Response:
    locale = _locale()
    html = render_template(
        template, t=TEXT[locale], locale=locale, csrf_token=_csrf_token(), principal=_principal(), **context
    )
    response = make_response(html, status)
    response.headers["Content-Security-Policy"] = "default-src 'none'; img-src data:; style-src 'self'; form-action 'self'; frame-ancestors 'none'"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def render_error(exc: IssuerError) -> Response:
    if isinstance(exc, Unauthenticated) and request.method == "GET":
        return redirect(url_for("console.login"))  # type: ignore[return-value]
    return _render("error.html", exc.status, message=exc.message)


@bp.before_request
def _guard() -> None:
    if request.method == "POST":
        _check_csrf()


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    if request.method == "GET":
        return _render("login.html")
    principal = officers.authenticate_password(get_store(), request.form.get("username", ""), request.form.get("password", ""))
    lang = session.get("lang")
    session.clear()  # A fresh session at sign-in: no fixation.
    session.permanent = True
    session.update(actor=principal.actor, role=principal.role, csrf=secrets.token_urlsafe(32))
    if lang in LOCALES:
        session["lang"] = lang
    return redirect(url_for("console.index"))


@bp.post("/logout")
def logout() -> Any:
    session.clear()
    return redirect(url_for("console.login"))


@bp.get("/")
def index() -> Response:
    if _principal() is None:
        raise Unauthenticated("sign in first")
    types = current_app.extensions["civicid_issuer_types"]
    return _render("index.html", types=sorted(types.values(), key=lambda c: c.configuration_id))


def _fields(ctype: CredentialType, locale: str) -> list[dict[str, Any]]:
    """Form fields generated from the type's input schema and its claim labels."""
    schema = ctype.input_schema()
    required = set(schema.get("required", []))
    fields: list[dict[str, Any]] = []
    for name, prop in schema["properties"].items():
        if prop.get("type") == "object":
            sub_required = set(prop.get("required", []))
            for sub, subprop in prop["properties"].items():
                fields.append(_field(f"{name}.{sub}", ctype.label((name, sub), locale), subprop, name in required and sub in sub_required))
        else:
            fields.append(_field(name, ctype.label((name,), locale), prop, name in required))
    return fields


def _field(name: str, label: str, prop: dict[str, Any], required: bool) -> dict[str, Any]:
    kind = "text"
    if prop.get("format") == "date":
        kind = "date"
    elif "enum" in prop:
        kind = "select"
    elif prop.get("type") == "array":
        kind = "list"
    return {"name": name, "label": label, "kind": kind, "required": required, "options": prop.get("enum", []), "schema": prop}


def _claims_from_form(ctype: CredentialType, form: Any) -> dict[str, Any]:
    schema = ctype.input_schema()
    claims: dict[str, Any] = {}
    for name, prop in schema["properties"].items():
        if prop.get("type") == "object":
            obj = {}
            for sub, subprop in prop["properties"].items():
                value = _coerce(form.get(f"{name}.{sub}", "").strip(), subprop, f"{name}.{sub}")
                if value is not None:
                    obj[sub] = value
            if obj:
                claims[name] = obj
        else:
            value = _coerce(form.get(name, "").strip(), prop, name)
            if value is not None:
                claims[name] = value
    return claims


def _coerce(raw: str, prop: dict[str, Any], name: str) -> Any:
    if raw == "":
        return None
    if prop.get("type") == "integer":
        if not raw.lstrip("-").isdigit() or len(raw) > 9:
            raise InvalidClaims(f"{name} must be a whole number", name)
        return int(raw)
    if prop.get("type") == "array":
        return [part.strip() for part in raw.split(",") if part.strip()]
    return raw


@bp.route("/offer/<configuration_id>", methods=["GET", "POST"])
def offer(configuration_id: str) -> Response:
    principal = officers.require(_principal(), "offers.create")
    types = current_app.extensions["civicid_issuer_types"]
    try:
        ctype = lookup(types, configuration_id)
    except IssuerError:
        abort(404)
    locale = _locale()
    fields = _fields(ctype, locale)
    if request.method == "GET":
        return _render("offer_form.html", ctype=ctype, name=ctype.display_name(locale), fields=fields, values={}, error=None)
    values = {f["name"]: request.form.get(f["name"], "") for f in fields}
    try:
        claims = _claims_from_form(ctype, request.form)
        config = current_app.config
        created = create_offers(
            get_store(), OfferSettings.from_config(config), ctype, claims,
            actor=principal.actor, now=clock(config), random=random_source(config),
        )
    except InvalidClaims as exc:
        return _render("offer_form.html", 400, ctype=ctype, name=ctype.display_name(locale), fields=fields, values=values,
                       error=exc.message, bad_field=exc.field)
    return _render("offer_done.html", offer=created, qr=offer_qr_png(created.credential_offer))


def offer_qr_png(link: str) -> str:
    """The offer link as a PNG QR code, base64 for a data: URI."""
    import qrcode

    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=6, border=4)
    qr.add_data(link)
    qr.make(fit=True)
    buffer = io.BytesIO()
    qr.make_image().save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


@bp.get("/credentials")
def credentials() -> Response:
    principal = officers.require(_principal(), "credentials.read")
    subject = request.args.get("subject", "").strip()[:200]
    found = search_credentials(get_store(), subject or None, None, 100) if subject else []
    return _render("credentials.html", subject=subject, found=found, can_change=principal.can("credentials.status"), actions=list(ACTIONS))


@bp.post("/credentials/<credential_id>/<action>")
def credential_action(credential_id: str, action: str) -> Any:
    principal = officers.require(_principal(), "credentials.status")
    if action not in ACTIONS:
        raise BadRequest("action must be revoke, suspend or reinstate")
    change_status(get_store(), credential_id, action, actor=principal.actor, now=clock(current_app.config))
    return redirect(url_for("console.credentials", subject=request.form.get("subject", "")))


@bp.get("/audit")
def audit_log() -> Response:
    officers.require(_principal(), "audit.read")
    after = request.args.get("after", "0")
    records = audit.records(get_store(), int(after) if after.isdigit() else 0, 200)
    return _render("audit.html", records=records)
