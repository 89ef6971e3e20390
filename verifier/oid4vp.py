"""OpenID4VP 1.0: the request object by reference and the ``direct_post`` response endpoint.

A counter opens one request per visit (:meth:`Service.open_request`): fresh
random id, ``nonce`` and ``state``; the QR code carries
``openid4vp://?client_id=<client_id>&request_uri=<url>`` (section 5.7 and
JAR, RFC 9101, ``request_uri``). ``GET request_uri`` answers the signed
request object (section 5.8, ``typ: oauth-authz-req+jwt``) naming
``response_mode: direct_post`` and the ``response_uri`` (section 8.2). The
wallet ``POST``\\ s ``vp_token`` and ``state`` there as a form; the verdict is
kept for the counter screen until the retention time, then forgotten.

``client_id`` uses the ``decentralized_identifier`` prefix (section 5.9.3):
the verifier's did:key, whose key signs the request object.
"""

from __future__ import annotations

import functools
import hmac
import logging
import re
import urllib.parse
from dataclasses import dataclass
from typing import Any, Callable

from flask import Blueprint, Response, current_app, request

import sdjwt
from sdjwt.did_key import did_from_key, multibase_from_key
from sdjwt.encoding import b64url_encode
from sdjwt.jws import sign_compact

from .errors import (
    BadRequest,
    RequestExpired,
    RequestNotFound,
    RequestTooLargeForQR,
    ResponseReplayed,
    StorageUnavailable,
    VerifierError,
    oauth_error,
)
from .pipeline import Outcome, Pipeline
from .policy import Policy, PolicySet
from .storage import RequestStore, StoredRequest

__all__ = ["Service", "bp", "CLIENT_ID_PREFIX", "REQUEST_TYP", "SELF_ISSUED_AUD"]

log = logging.getLogger("civicid.verifier")

CLIENT_ID_PREFIX = "decentralized_identifier:"
REQUEST_TYP = "oauth-authz-req+jwt"
SELF_ISSUED_AUD = "https://self-issued.me/v2"
"""Section 5.8: the request object's ``aud`` when the wallet's metadata is static (as civicid's is)."""

QR_BYTES = 2953
"""The most a QR code holds (version 40, level L, byte mode): the longest request link by value."""

_RID = re.compile(r"[A-Za-z0-9_-]{43}")
_ERROR = re.compile(r"[a-z_]{1,64}")

bp = Blueprint("oid4vp", __name__, url_prefix="/oid4vp")


@dataclass
class Service:
    """Everything a request needs: the store, the pipeline, the policies, identity, clock and randomness."""

    store: RequestStore
    pipeline: Pipeline
    policies: PolicySet
    key: sdjwt.Ed25519PrivateKey
    public_url: str | None
    client_name: str
    algorithms: tuple[str, ...]
    request_ttl: int
    retention: int
    clock: Callable[[], int]
    random: Callable[[int], bytes]

    # The identity is derived once: the key never changes, and base58 costs ~20 us per request.
    @functools.cached_property
    def did(self) -> str:
        return did_from_key(self.key.public_key())

    @functools.cached_property
    def kid(self) -> str:
        return self.did + "#" + multibase_from_key(self.key.public_key())

    @functools.cached_property
    def client_id(self) -> str:
        return CLIENT_ID_PREFIX + self.did

    def base(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        # TESTING only (validated): the URL the test client used.
        return request.host_url.rstrip("/")

    def token(self) -> str:
        value = self.random(32)
        if not isinstance(value, bytes) or len(value) != 32:
            raise ValueError("the random source must return 32 bytes")
        return b64url_encode(value)

    def urls(self, rid: str) -> dict[str, str]:
        base = self.base()
        request_uri = f"{base}/oid4vp/request/{rid}"
        query = urllib.parse.urlencode({"client_id": self.client_id, "request_uri": request_uri})
        return {
            "request_uri": "openid4vp://?" + query,
            "result_url": f"{base}/api/requests/{rid}",
            "request_object_uri": request_uri,
            "response_uri": f"{base}/oid4vp/response/{rid}",
        }

    def open_request(self, policy_id: Any, *, by_value: bool = False) -> dict[str, Any]:
        """A fresh request for one visit: ``{"request_uri": "openid4vp://...", "result_url": ...}``.

        ``by_value`` adds ``request_by_value``: the same request with the signed request
        object inside the link (``request=``), for wallets that cannot reach the counter.
        """
        policy = self.policies.get(policy_id)
        now = self.clock()
        rid, state, nonce = self.token(), self.token(), self.token()
        expires = now + self.request_ttl
        self.store.create(rid, state, nonce, policy.id, now, expires, expires + self.retention)
        log.info("request opened policy=%s", policy.id)
        urls = self.urls(rid)
        opened = {"id": rid, "request_uri": urls["request_uri"], "result_url": urls["result_url"],
                  "policy": policy.id, "expires_at": expires}
        if by_value:
            opened["request_by_value"] = self.by_value_link(self.lookup(rid))
        return opened

    def by_value_link(self, stored: StoredRequest) -> str:
        """``openid4vp://?client_id=...&request=<signed request object>`` (OpenID4VP 1.0 section 5.7, RFC 9101 5.1).

        An offline counter shows this in its QR code: the wallet reads the whole request,
        signature included, from the picture, and answers with a QR code of its own.
        """
        query = urllib.parse.urlencode({"client_id": self.client_id, "request": self.request_object(stored)})
        link = "openid4vp://?" + query
        if len(link) > QR_BYTES:
            raise RequestTooLargeForQR(
                f"this policy's request is {len(link)} bytes by value and a QR code holds at most {QR_BYTES}; "
                "open it by reference, or shorten the policy's purpose texts"
            )
        return link

    def lookup(self, rid: str) -> StoredRequest:
        if not isinstance(rid, str) or not _RID.fullmatch(rid):
            raise RequestNotFound("no such request; open a new one")
        return self.store.get(rid, self.clock())

    def request_object(self, stored: StoredRequest) -> str:
        """Section 5 parameters as a signed request object (section 5.8, RFC 9101)."""
        policy = self.policies.get(stored.policy)
        urls = self.urls(stored.rid)
        claims = {
            "iss": self.client_id,
            "aud": SELF_ISSUED_AUD,
            "iat": self.clock(),
            "exp": stored.expires,
            "client_id": self.client_id,
            "response_type": "vp_token",
            "response_mode": "direct_post",
            "response_uri": urls["response_uri"],
            "nonce": stored.nonce,
            "state": stored.state,
            "dcql_query": policy.dcql_query(),
            "client_metadata": {
                "client_name": self.client_name,
                "vp_formats_supported": {
                    "dc+sd-jwt": {"sd-jwt_alg_values": list(self.algorithms), "kb-jwt_alg_values": list(self.algorithms)}
                },
            },
            "purpose": dict(policy.purpose),
        }
        return sign_compact({"typ": REQUEST_TYP, "kid": self.kid}, claims, self.key)

    def finish(self, stored: StoredRequest, outcome: Outcome) -> bool:
        """Keep the verdict for the counter screen until the retention time; False if already answered."""
        now = self.clock()
        result = outcome.to_json()
        if outcome.status_list_age is not None:
            result["status_list_age"] = outcome.status_list_age
        done = self.store.complete(stored.rid, outcome.decision, result, now, now + self.retention)
        if done:
            log.info(
                "request done policy=%s decision=%s reasons=%s",
                stored.policy, outcome.decision, ",".join(str(r.get("code")) for r in outcome.reasons) or "-",
            )
        return done

    def answer(self, stored: StoredRequest, vp_token: Any) -> Outcome:
        """Verify a response to a stored request and record the verdict (direct_post, or an offline scan)."""
        now = self.clock()
        if stored.status != "pending":
            raise ResponseReplayed("this request was already answered; the counter must open a new request")
        if now >= stored.expires:
            raise RequestExpired("this request has expired; the counter must open a new request")
        policy: Policy = self.policies.get(stored.policy)
        outcome = self.pipeline.decide(vp_token, policy, nonce=stored.nonce, audience=self.client_id, now=now)
        if not self.finish(stored, outcome):
            raise ResponseReplayed("this request was already answered; the counter must open a new request")
        return outcome


def service() -> Service:
    svc: Service = current_app.extensions["civicid_verifier"]
    return svc


@bp.errorhandler(VerifierError)
def _oauth(exc: VerifierError) -> Any:
    # OpenID4VP endpoints answer with OAuth-style errors (RFC 6749 section 5.2 shape).
    if isinstance(exc, StorageUnavailable):
        return oauth_error("temporarily_unavailable", exc.message, 503)
    return oauth_error("invalid_request", f"{exc.code}: {exc.message}", 400 if exc.status < 500 else exc.status)


@bp.errorhandler(413)
def _too_large(exc: Any) -> Any:
    return oauth_error("invalid_request", "request body too large", 400)


@bp.get("/request/<rid>")
def get_request_object(rid: str) -> Response:
    """Section 5.7: the request object, by reference."""
    svc = service()
    stored = svc.lookup(rid)
    if stored.status != "pending" or svc.clock() >= stored.expires:
        raise RequestExpired("this request was answered or has expired; ask the counter for a new one")
    response = Response(svc.request_object(stored), content_type="application/oauth-authz-req+jwt")
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/response/<rid>")
def post_response(rid: str) -> Any:
    """Section 8.2: ``direct_post``. A failed verification ends the request with ``false`` and answers 400."""
    svc = service()
    if request.mimetype != "application/x-www-form-urlencoded":
        raise BadRequest("the response must be application/x-www-form-urlencoded (response_mode direct_post)")
    form = request.form
    stored = svc.lookup(rid)
    state = form.get("state", "")
    if not hmac.compare_digest(state.encode("utf-8", "surrogatepass"), stored.state.encode("utf-8")):
        raise BadRequest("'state' does not match this request")
    error = form.get("error")
    if error is not None:
        # Section 8.5: the wallet reports an error (the holder declined, no matching credential ...).
        code = error if _ERROR.fullmatch(error) else "invalid"
        outcome = Outcome(False, ({"code": "wallet_error", "error": code,
                                   "message": "the wallet did not present a credential"},), {})
        if not svc.finish(stored, outcome):
            raise ResponseReplayed("this request was already answered")
        return {}, 200, {"Cache-Control": "no-store"}
    vp_token = form.get("vp_token")
    if vp_token is None:
        raise BadRequest("the response has no 'vp_token'")
    outcome = svc.answer(stored, vp_token)
    if not outcome.decision and outcome.reasons and outcome.reasons[0].get("code") != "policy_not_satisfied":
        reason = outcome.reasons[0]
        return oauth_error("invalid_request", f"{reason.get('code')}: {reason.get('message')}", 400)
    return {}, 200, {"Cache-Control": "no-store"}
