"""The OpenID4VCI 1.0 endpoints (blueprint ``oid4vci``): metadata, offers, token, nonce, credential, status lists.

Errors are the specifications' OAuth-style objects (``error``,
``error_description``), never problem documents; see :mod:`issuer.errors`.
"""

from __future__ import annotations

import hashlib
import math
import time
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from registry.admission import TokenBuckets, client_address, parse_limit

from . import issuance
from .config import RATE_LIMITS, clock, random_source, signing_identity
from .credential_types import CredentialType
from .errors import OAuthError
from .offers import PRE_AUTHORIZED_GRANT, OfferSettings, offer_object, redeem
from .status import StatusListCache

__all__ = ["bp", "issuer_metadata", "authorization_server_metadata"]

bp = Blueprint("oid4vci", __name__)


def _types() -> dict[str, CredentialType]:
    return current_app.extensions["civicid_issuer_types"]  # type: ignore[no-any-return]


def _store() -> Any:
    from .storage import get_store

    return get_store()


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


def rate_limited(*checks: tuple[str, str | None]) -> Response | None:
    """Take a token from each ``(setting, key)`` bucket; a 429 answer when one is empty, else ``None``.

    A key of ``None`` means the client's address. OAuth (RFC 6749 section 5.2,
    OpenID4VCI 1.0 sections 6.3 and 8.3.1.2) defines no rate-limit error code
    (``slow_down`` belongs to RFC 8628's device flow), so the answer is
    ``invalid_request`` with HTTP 429 (RFC 6585 section 4), ``Retry-After`` and
    ``civicid_reason: rate_limited``. Refused requests never reach the offer,
    so they never count as a wrong PIN. Per process: see docs/hardening/load.md.
    """
    config = current_app.config
    buckets: dict[str, TokenBuckets | None] | None = current_app.extensions.get("civicid_issuer_rate_limits")
    if buckets is None:
        buckets = {}
        for name in RATE_LIMITS:
            limit = parse_limit(config.get(name), name)
            buckets[name] = None if limit is None else TokenBuckets(*limit)
        buckets = current_app.extensions.setdefault("civicid_issuer_rate_limits", buckets)
    now = (config.get("RATE_LIMIT_CLOCK") or time.monotonic)()
    for name, key in checks:
        bucket = buckets.get(name)
        if bucket is None:
            continue
        if key is None:
            key = client_address(request.environ, config.get("RATE_LIMIT_TRUSTED_PROXIES") or ())
        wait = bucket.take(key, now)
        if wait > 0:
            response = OAuthError(
                "invalid_request", "too many requests; retry after the time in Retry-After", 429,
                civicid_reason="rate_limited",
            ).to_response()
            response.headers["Retry-After"] = str(max(1, math.ceil(wait)))
            return response
    return None


def _secret_key(value: str) -> str:
    """A bucket key for a bearer secret (code, token) that does not keep the secret in memory."""
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def issuer_metadata(config: Any, types: dict[str, CredentialType]) -> dict[str, Any]:
    """Credential Issuer Metadata (OpenID4VCI 1.0 section 12.2.4)."""
    base = config["PUBLIC_URL"]
    identity = signing_identity(config)
    names = config["DISPLAY_NAME"]
    return {
        "credential_issuer": base,
        "credential_endpoint": f"{base}/credential",
        "nonce_endpoint": f"{base}/nonce",
        "batch_credential_issuance": {"batch_size": config["BATCH_SIZE"]},
        "display": [{"name": name, "locale": locale} for locale, name in names.items()],
        "credential_configurations_supported": {
            cid: ctype.configuration_metadata([identity.key.alg]) for cid, ctype in sorted(types.items())
        },
    }


def authorization_server_metadata(config: Any) -> dict[str, Any]:
    """RFC 8414 metadata; OpenID4VCI 1.0 section 12.3 lets a pre-authorized-only server omit response_types_supported."""
    base = config["PUBLIC_URL"]
    return {
        "issuer": base,
        "token_endpoint": f"{base}/token",
        "grant_types_supported": [PRE_AUTHORIZED_GRANT],
        "token_endpoint_auth_methods_supported": ["none"],
        "pre-authorized_grant_anonymous_access_supported": True,
    }


@bp.get("/.well-known/openid-credential-issuer")
def credential_issuer_metadata() -> Response:
    return jsonify(issuer_metadata(current_app.config, _types()))


@bp.get("/.well-known/oauth-authorization-server")
def oauth_metadata() -> Response:
    return jsonify(authorization_server_metadata(current_app.config))


@bp.get("/.well-known/jwt-vc-issuer")
def jwt_vc_issuer() -> Response:
    """SD-JWT VC "JWT VC Issuer Metadata": the signing key, with ``kid`` = the DID URL in credentials."""
    identity = signing_identity(current_app.config)
    jwk = {**identity.key.public_key().public_jwk(), "kid": identity.kid, "alg": identity.key.alg, "use": "sig"}
    return jsonify({"issuer": current_app.config["PUBLIC_URL"], "jwks": {"keys": [jwk]}})


@bp.get("/credential-offer/<ref>")
def credential_offer(ref: str) -> Response:
    settings = OfferSettings.from_config(current_app.config)
    body = offer_object(
        _store(), settings, ref, clock(current_app.config), "Enter the PIN from the letter the office gave you"
    )
    return _no_store(jsonify(body))


@bp.post("/token")
def token() -> Response:
    """Token endpoint (OpenID4VCI 1.0 section 6, RFC 6749 section 4.1.3 form encoding)."""
    if request.mimetype != "application/x-www-form-urlencoded":
        raise OAuthError("invalid_request", "the token request must be application/x-www-form-urlencoded")
    form = request.form
    for name, values in form.lists():
        if len(values) > 1:
            raise OAuthError("invalid_request", f"parameter {name} is repeated")
    grant_type = form.get("grant_type")
    if not grant_type:
        raise OAuthError("invalid_request", "grant_type is required")
    if grant_type != PRE_AUTHORIZED_GRANT:
        raise OAuthError("unsupported_grant_type", "only the pre-authorized code grant is supported")
    code = form.get("pre-authorized_code")
    if not code or len(code) > 256:
        raise OAuthError("invalid_request", "pre-authorized_code is required")
    limited = rate_limited(("RATE_LIMIT_TOKEN_PER_ADDRESS", None), ("RATE_LIMIT_TOKEN_PER_OFFER", _secret_key(code)))
    if limited is not None:
        return limited
    tx_code = form.get("tx_code")
    if tx_code is not None and len(tx_code) > 64:
        raise OAuthError("invalid_request", "tx_code is too long")
    config = current_app.config
    result = redeem(
        _store(), OfferSettings.from_config(config), code, tx_code, now=clock(config), random=random_source(config)
    )
    return _no_store(jsonify({"access_token": result.access_token, "token_type": "Bearer", "expires_in": result.expires_in}))


@bp.post("/nonce")
def nonce() -> Response:
    limited = rate_limited(("RATE_LIMIT_NONCE_PER_ADDRESS", None))
    if limited is not None:
        return limited
    config = current_app.config
    value = issuance.new_nonce(_store(), now=clock(config), ttl=config["NONCE_TTL"], random=random_source(config))
    return _no_store(jsonify({"c_nonce": value}))


@bp.post("/credential")
def credential() -> Response:
    limited = rate_limited(("RATE_LIMIT_CREDENTIAL_PER_ADDRESS", None),
                           ("RATE_LIMIT_CREDENTIAL_PER_TOKEN", _secret_key(request.headers.get("Authorization", ""))))
    if limited is not None:
        return limited
    config = current_app.config
    now = clock(config)
    store = _store()
    grant = issuance.check_token(store, request.headers.get("Authorization"), now)
    if request.mimetype != "application/json":
        raise OAuthError("invalid_credential_request", "the credential request must be application/json")
    body = request.get_json(silent=True)
    settings = issuance.IssuanceSettings.from_config(config)
    types = _types()
    jwts = issuance.parse_request(body, grant, types, settings.batch_size)
    proofs = issuance.check_proofs(jwts, audience=settings.issuer_url, now=now, max_age=settings.proof_max_age)
    credentials = issuance.issue_credentials(
        store,
        grant,
        types[grant.configuration_id],
        proofs,
        identity=signing_identity(config),
        settings=settings,
        now=now,
        random=random_source(config),
    )
    return _no_store(jsonify({"credentials": [{"credential": c} for c in credentials]}))


@bp.get("/status/<list_id>")
def status_list(list_id: str) -> Response:
    """The signed Status List Token (draft-ietf-oauth-status-list section 8), cacheable for ``ttl`` seconds."""
    config = current_app.config
    cache: StatusListCache = current_app.extensions["civicid_issuer_status_cache"]
    uri = f"{config['PUBLIC_URL']}/status/{list_id}"
    signed = cache.get(
        _store(),
        list_id,
        uri=uri,
        identity=signing_identity(config),
        now=clock(config),
        ttl=config["STATUS_LIST_TTL"],
        validity=config["STATUS_LIST_VALIDITY"],
    )
    response = Response(signed.token, mimetype="application/statuslist+jwt")
    remaining = max(signed.iat + signed.ttl - clock(config), 0)
    response.headers["Cache-Control"] = f"public, max-age={remaining}"
    return response
