"""A minimal OpenID4VP 1.0 verifier for the wallet's tests, following docs/protocols.md exactly.

Signed request object by reference (``client_id`` = ``decentralized_identifier:<DID>``,
``typ: oauth-authz-req+jwt``, ``kid`` = the DID URL), DCQL, ``direct_post`` to the
``response_uri`` with ``vp_token`` = ``{query id: [presentation]}``, verified with
:func:`sdjwt.verify` (KB-JWT ``aud`` = ``client_id``, ``nonce`` = the request's).
"""

from __future__ import annotations

import json
import secrets
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, Response, jsonify, request

import sdjwt
from sdjwt.jws import sign_compact


@dataclass
class Transaction:
    nonce: str
    state: str
    dcql: dict[str, Any]
    purpose: dict[str, str]
    result: dict[str, Any] | None = None
    declined: bool = False
    presentations: list[str] = field(default_factory=list)


@dataclass
class VerifierState:
    key: Any
    did: str
    kid: str
    trust: Any
    transactions: dict[str, Transaction] = field(default_factory=dict)
    signing_key: Any = None  # A test knob: sign with another key.
    request_overrides: dict[str, Any] = field(default_factory=dict)
    url: str = ""
    decision: bool | None = None  # A test knob: answer 200 with {"decision": ...} as civicid verifiers do.

    @property
    def client_id(self) -> str:
        return "decentralized_identifier:" + self.did

    def add_request(self, dcql: dict[str, Any], purpose: dict[str, str] | None = None) -> str:
        tid = secrets.token_urlsafe(8)
        self.transactions[tid] = Transaction(secrets.token_urlsafe(16), secrets.token_urlsafe(16), dcql,
                                             purpose or {"en": "Check your age", "zh-CN": "核实年龄"})
        query = urllib.parse.urlencode({"client_id": self.client_id, "request_uri": f"{self.url}/request/{tid}"})
        return "openid4vp://?" + query

    def add_request_by_value(self, dcql: dict[str, Any], purpose: dict[str, str] | None = None) -> str:
        """The same request with the signed request object inside the link (``request=``), as offline counters show it."""
        tid = urllib.parse.parse_qs(urllib.parse.urlsplit(self.add_request(dcql, purpose)).query)["request_uri"][0]
        tid = tid.rsplit("/", 1)[1]
        query = urllib.parse.urlencode({"client_id": self.client_id, "request": self.request_token(self.transactions[tid])})
        return "openid4vp://?" + query

    def request_token(self, tx: Transaction) -> str:
        claims = {
            "iss": self.client_id,
            "aud": "https://self-issued.me/v2",
            "iat": int(time.time()),
            "exp": int(time.time()) + 300,
            "response_type": "vp_token",
            "response_mode": "direct_post",
            "response_uri": f"{self.url}/response",
            "client_id": self.client_id,
            "nonce": tx.nonce,
            "state": tx.state,
            "dcql_query": tx.dcql,
            "client_metadata": {"client_name": "Test Pharmacy Counter",
                                "vp_formats_supported": {"dc+sd-jwt": {"sd-jwt_alg_values": ["EdDSA"],
                                                                       "kb-jwt_alg_values": ["EdDSA", "ES256"]}}},
            "purpose": tx.purpose,
            **self.request_overrides,
        }
        return sign_compact({"typ": "oauth-authz-req+jwt", "kid": self.kid}, claims, self.signing_key or self.key)


def create_app(state: VerifierState) -> Flask:
    app = Flask("test_oid4vp")
    app.config["HITS"] = []  # Every request the verifier received: offline tests check there were none.

    @app.before_request
    def count() -> None:
        app.config["HITS"].append(request.path)

    @app.get("/request/<tid>")
    def request_object(tid: str) -> Any:
        tx = state.transactions.get(tid)
        if tx is None:
            return jsonify({"error": "invalid_request"}), 404
        return Response(state.request_token(tx), content_type="application/oauth-authz-req+jwt")

    @app.post("/response")
    def response() -> Any:
        tx = next((t for t in state.transactions.values() if t.state == request.form.get("state")), None)
        if tx is None:
            return jsonify({"error": "invalid_request", "error_description": "unknown state"}), 400
        if request.form.get("error") == "access_denied":
            tx.declined = True
            return jsonify({})
        try:
            vp_token = json.loads(request.form.get("vp_token", ""))
        except ValueError:
            return jsonify({"error": "invalid_request", "error_description": "vp_token is not JSON"}), 400
        results = {}
        for query in tx.dcql["credentials"]:
            items = vp_token.get(query["id"]) if isinstance(vp_token, dict) else None
            if not isinstance(items, list) or len(items) != 1:
                return jsonify({"error": "invalid_request", "error_description": "missing presentation"}), 400
            tx.presentations.append(items[0])
            try:
                verified = sdjwt.verify(items[0], issuer_key=state.trust.issuer_key_lookup(), algorithms=["EdDSA"],
                                        now=int(time.time()), audience=state.client_id, nonce=tx.nonce)
            except sdjwt.SDJWTError as exc:
                return jsonify({"error": "invalid_request", "error_description": exc.code}), 400
            if verified.vct not in query["meta"]["vct_values"]:
                return jsonify({"error": "invalid_request", "error_description": "wrong vct"}), 400
            results[query["id"]] = {k: v for k, v in verified.claims.items() if k not in ("cnf", "status", "_sd_alg")}
        tx.result = results
        if state.decision is not None:
            return jsonify({"decision": state.decision, "reasons": [] if state.decision else ["policy_not_met"]})
        return jsonify({"redirect_uri": f"{state.url}/done/{tx.state[:6]}"})

    return app
