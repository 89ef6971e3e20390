"""A minimal OpenID4VCI 1.0 issuer for the wallet's tests, following docs/protocols.md exactly.

Pre-authorized code flow with ``tx_code``, nonce endpoint, batch issuance with
one ``openid4vci-proof+jwt`` per copy, and a Token Status List. It issues with
:func:`sdjwt.issue` and checks proofs with :mod:`sdjwt.jws`; it is kept small
on purpose, and is not the production issuer (that lives in ``issuer/``).
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, Response, jsonify, request

import sdjwt
from sdjwt.jws import CompactJWS

PRE_AUTH = "urn:ietf:params:oauth:grant-type:pre-authorized_code"


@dataclass
class Offer:
    code: str
    configuration_id: str
    claims: dict[str, Any]
    pin: str | None
    expires: float
    attempts: int = 3
    redeemed: bool = False
    locked: bool = False


@dataclass
class IssuerState:
    issuer_key: Any
    did: str
    kid: str
    vct_by_config: dict[str, str]
    disclosable: dict[str, list[tuple[Any, ...]]]
    batch_size: int = 3
    offers: dict[str, Offer] = field(default_factory=dict)  # by offer id
    tokens: dict[str, str] = field(default_factory=dict)  # access token -> offer id
    nonces: set[str] = field(default_factory=set)
    status: sdjwt.StatusList = field(default_factory=lambda: sdjwt.StatusList.empty(1024, 2))
    next_idx: int = 0
    issued: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # Test knobs for misbehaving issuers.
    tamper: str | None = None

    def add_offer(self, configuration_id: str, claims: dict[str, Any], pin: str | None = None, ttl: float = 600) -> str:
        offer_id = secrets.token_urlsafe(8)
        self.offers[offer_id] = Offer(secrets.token_urlsafe(16), configuration_id, claims, pin, time.time() + ttl)
        return offer_id

    def set_status(self, idx: int, value: int) -> None:
        self.status = self.status.with_status({idx: value})


def _error(error: str, status: int = 400, **extra: Any) -> Response:
    response = jsonify({"error": error, **extra})
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


def create_app(state: IssuerState) -> Flask:
    app = Flask("test_oid4vci")

    def base() -> str:
        return request.url_root.rstrip("/")

    @app.get("/.well-known/openid-credential-issuer")
    def issuer_metadata() -> Any:
        return jsonify({
            "credential_issuer": base(),
            "credential_endpoint": base() + "/credential",
            "nonce_endpoint": base() + "/nonce",
            "batch_credential_issuance": {"batch_size": state.batch_size},
            "display": [{"name": "Test Civil Registry", "locale": "en"}, {"name": "测试户籍处", "locale": "zh-CN"}],
            "credential_configurations_supported": {
                cid: {
                    "format": "dc+sd-jwt",
                    "vct": vct,
                    "cryptographic_binding_methods_supported": ["jwk"],
                    "credential_signing_alg_values_supported": ["EdDSA"],
                    "proof_types_supported": {"jwt": {"proof_signing_alg_values_supported": ["EdDSA", "ES256"]}},
                }
                for cid, vct in state.vct_by_config.items()
            },
        })

    @app.get("/.well-known/oauth-authorization-server")
    def as_metadata() -> Any:
        return jsonify({"issuer": base(), "token_endpoint": base() + "/token",
                        "pre-authorized_grant_anonymous_access_supported": True})

    @app.get("/offers/<offer_id>")
    def offer(offer_id: str) -> Any:
        found = state.offers.get(offer_id)
        if found is None:
            return _error("not_found", 404)
        grant: dict[str, Any] = {"pre-authorized_code": found.code}
        if found.pin is not None:
            grant["tx_code"] = {"input_mode": "numeric", "length": len(found.pin), "description": "PIN from the letter"}
        return jsonify({"credential_issuer": base(), "credential_configuration_ids": [found.configuration_id],
                        "grants": {PRE_AUTH: grant}})

    @app.post("/token")
    def token() -> Any:
        form = request.form
        if form.get("grant_type") != PRE_AUTH:
            return _error("unsupported_grant_type")
        code = form.get("pre-authorized_code", "")
        with state.lock:
            match = next(((oid, o) for oid, o in state.offers.items() if hmac.compare_digest(o.code, code)), None)
            if match is None:
                return _error("invalid_grant", civicid_reason="unknown_code")
            offer_id, found = match
            if found.redeemed:
                return _error("invalid_grant", civicid_reason="offer_redeemed")
            if time.time() > found.expires:
                return _error("invalid_grant", civicid_reason="offer_expired")
            if found.locked:
                return _error("invalid_grant", civicid_reason="offer_locked")
            if found.pin is not None:
                if not hmac.compare_digest(form.get("tx_code", ""), found.pin):
                    found.attempts -= 1
                    if found.attempts <= 0:
                        found.locked = True
                        return _error("invalid_grant", civicid_reason="offer_locked")
                    return _error("invalid_grant", civicid_reason="wrong_tx_code", attempts_remaining=found.attempts)
            found.redeemed = True
            access = secrets.token_urlsafe(24)
            state.tokens[access] = offer_id
        response = jsonify({"access_token": access, "token_type": "Bearer", "expires_in": 300})
        response.headers["Cache-Control"] = "no-store"
        return response

    @app.post("/nonce")
    def nonce() -> Any:
        value = secrets.token_urlsafe(16)
        state.nonces.add(value)
        response = jsonify({"c_nonce": value})
        response.headers["Cache-Control"] = "no-store"
        return response

    @app.post("/credential")
    def credential() -> Any:
        auth = request.headers.get("Authorization", "")
        offer_id = state.tokens.get(auth.removeprefix("Bearer ")) if auth.startswith("Bearer ") else None
        if offer_id is None:
            return _error("invalid_token", 401)
        found = state.offers[offer_id]
        body = request.get_json(silent=True)
        if not isinstance(body, dict) or body.get("credential_configuration_id") != found.configuration_id:
            return _error("unknown_credential_configuration")
        proofs = body.get("proofs", {}).get("jwt") if isinstance(body.get("proofs"), dict) else None
        if not isinstance(proofs, list) or not 1 <= len(proofs) <= state.batch_size:
            return _error("invalid_proof")
        holder_jwks = []
        for proof in proofs:
            try:
                jws = CompactJWS.parse(proof, "proof")
                if jws.header.get("typ") != "openid4vci-proof+jwt" or jws.header.get("alg") not in ("EdDSA", "ES256"):
                    return _error("invalid_proof")
                jwk = jws.header.get("jwk")
                jws.verify_signature(sdjwt.public_key_from_jwk(jwk), "proof")
            except sdjwt.SDJWTError:
                return _error("invalid_proof")
            if jws.payload.get("aud") != base() or not isinstance(jws.payload.get("iat"), int):
                return _error("invalid_proof")
            if jws.payload.get("nonce") not in state.nonces:
                return _error("invalid_nonce")
            holder_jwks.append(jwk)
        for proof in proofs:
            state.nonces.discard(CompactJWS.parse(proof).payload["nonce"])
        vct = state.vct_by_config[found.configuration_id]
        now = int(time.time())
        credentials = []
        for jwk in holder_jwks:
            with state.lock:
                idx = state.next_idx
                state.next_idx += 1
            issued = sdjwt.issue(
                found.claims, disclosable=state.disclosable[found.configuration_id], issuer_key=state.issuer_key,
                kid=state.kid, iss=state.did, vct=vct, iat=now, exp=now + 365 * 86400, random=secrets.token_bytes,
                holder_jwk=jwk, status=sdjwt.StatusReference(idx, base() + "/status/1"), decoys=2,
            ).serialize()
            if state.tamper == "signature":
                issued = issued[:20] + ("A" if issued[20] != "A" else "B") + issued[21:]
            if state.tamper == "other_holder":
                other = sdjwt.Ed25519PrivateKey.generate().public_key().public_jwk()
                issued = sdjwt.issue(found.claims, disclosable=state.disclosable[found.configuration_id],
                                     issuer_key=state.issuer_key, kid=state.kid, iss=state.did, vct=vct, iat=now,
                                     random=secrets.token_bytes, holder_jwk=other).serialize()
            state.issued.append(issued)
            credentials.append({"credential": issued})
        return jsonify({"credentials": credentials})

    @app.get("/status/1")
    def status() -> Any:
        token = sdjwt.sign_status_list(state.status, uri=base() + "/status/1", key=state.issuer_key, kid=state.kid,
                                       iat=int(time.time()), ttl=60)
        return Response(token, content_type="application/statuslist+jwt", headers={"Cache-Control": "max-age=60"})

    return app
