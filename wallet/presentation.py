"""The OpenID4VP 1.0 client: signed request by reference, DCQL, consent, direct_post.

Steps (sections of OpenID4VP 1.0):

1. Parse ``openid4vp://?client_id=...&request_uri=...`` (5.7 ``request_uri``), or
   ``openid4vp://?client_id=...&request=<JWT>``: the request object passed by value
   (5.7 ``request``, RFC 9101 section 5.1), which an offline counter shows in its QR
   code so that the wallet needs no network to read it. Exactly one of the two.
2. ``GET`` the ``request_uri`` (nothing to fetch when passed by value); the answer
   is a signed Request Object (5.10, RFC 9101), ``typ: oauth-authz-req+jwt``.
3. Its ``client_id`` must equal the link's (5.10). The ``decentralized_identifier:``
   prefix (5.9.3) names the verifier's DID; the ``kid`` must be a DID URL of that
   DID and the key comes from the registry (``TrustSource.key_at``), never from the request.
4. Check ``response_type=vp_token``, ``response_mode=direct_post``, ``response_uri``,
   ``nonce``, ``dcql_query``, ``client_metadata.vp_formats_supported`` has ``dc+sd-jwt``.
5. Match the DCQL query (:mod:`wallet.dcql`), show who asks, why, and which claims
   will and will not be disclosed; ask for consent.
6. For each answered query, take an unused copy, disclose only the asked claims, and
   add a KB-JWT with ``aud`` = ``client_id`` and ``nonce`` = the request's (appendix B.3.6).
7. ``POST`` the ``response_uri`` (8.2, direct_post) with ``vp_token`` (a JSON object
   mapping each query id to an array with one presentation) and ``state``; or, for an
   offline counter, show that same ``vp_token`` as a QR code (:func:`vp_token_text`),
   which the counter scans.
"""

from __future__ import annotations

import json
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from .dcql import DCQLQuery, Match, select
from .errors import (
    InvalidRequest,
    NetworkError,
    NoUnusedCopy,
    PresentationFailed,
    UntrustedVerifier,
)
from .transport import Http, check_url

__all__ = [
    "REQUEST_TYP",
    "DID_PREFIX",
    "RequestLink",
    "AuthorizationRequest",
    "Disclosure",
    "parse_request_link",
    "fetch_request",
    "plan",
    "choose_copy",
    "build_vp_token",
    "send_response",
    "send_decline",
    "vp_token_text",
]

REQUEST_TYP = "oauth-authz-req+jwt"
DID_PREFIX = "decentralized_identifier:"
REQUEST_ALGORITHMS = ("EdDSA", "ES256")
MAX_LINK = 8192
LEEWAY = 60


MAX_BY_VALUE_LIFETIME = 900
"""Longest ``exp - iat`` of a request passed by value (civicid verifiers use 300 s): a photo of a counter's
screen shown elsewhere stops working soon."""
MAX_REQUEST_OBJECT = 6144
"""Longest request object accepted by value (a QR code holds at most 2953 bytes; by reference, 6 KiB too)."""


@dataclass(frozen=True)
class RequestLink:
    """A parsed request link: the request object comes by reference (``request_uri``) or by value (``request``)."""

    client_id: str
    request_uri: str | None
    request: str | None = None


def parse_request_link(text: Any, *, allow_loopback_http: bool) -> RequestLink:
    """Step 1: an ``openid4vp://`` link (or an https link with the same parameters)."""
    if not isinstance(text, str):
        raise InvalidRequest("the request must be text")
    text = text.strip()
    if not text or len(text) > MAX_LINK or not text.isprintable():
        raise InvalidRequest("the request link is empty, too long or has control characters")
    try:
        parts = urllib.parse.urlsplit(text)
        query = urllib.parse.parse_qs(parts.query, keep_blank_values=True, max_num_fields=16)
    except ValueError as exc:
        raise InvalidRequest("the request is not a link") from exc
    if parts.scheme not in ("openid4vp", "https", "http"):
        raise InvalidRequest("the request must be an openid4vp:// link")
    client_id, request_uri, by_value = query.get("client_id"), query.get("request_uri"), query.get("request")
    if request_uri is not None and by_value is not None:
        # RFC 9101 section 5: request and request_uri must not both be present.
        raise InvalidRequest("the request link carries both request and request_uri; it must carry one")
    if by_value is not None:
        if not client_id or len(client_id) != 1 or len(by_value) != 1:
            raise InvalidRequest("the request link needs exactly one client_id and one request")
        if "request_uri_method" in query:
            raise InvalidRequest("request_uri_method belongs with request_uri, not with a request passed by value")
        token = by_value[0]
        if not token or len(token) > MAX_REQUEST_OBJECT:
            raise InvalidRequest("the request passed by value is empty or too long")
        return RequestLink(client_id[0], None, token)
    if not client_id or not request_uri or len(client_id) != 1 or len(request_uri) != 1:
        raise InvalidRequest("the request link needs exactly one client_id and one request_uri (or request)")
    method = query.get("request_uri_method", ["get"])
    if method != ["get"] and method != ["post"]:
        raise InvalidRequest("the request link's request_uri_method must be get or post")
    # Section 5.10.1: a wallet that does not use POST sends GET, which every verifier must accept.
    try:
        uri = check_url(request_uri[0], "request URI", allow_loopback_http=allow_loopback_http)
    except NetworkError as exc:
        raise InvalidRequest(f"the request URI is not acceptable: {exc.message}") from exc
    return RequestLink(client_id[0], uri)


@dataclass(frozen=True)
class AuthorizationRequest:
    """A verified request object: everything the consent screen and the response need."""

    client_id: str
    verifier_did: str
    client_name: str | None
    purpose: Mapping[str, str]
    response_uri: str
    nonce: str
    state: str | None
    dcql: DCQLQuery

    def purpose_text(self, lang: str) -> str:
        return self.purpose.get(lang) or self.purpose.get("en") or "(the verifier gave no purpose)"

    def __repr__(self) -> str:
        return f"AuthorizationRequest(client_id={self.client_id!r})"


def fetch_request(link: RequestLink, *, http: Http, trust: Any, now: int | None = None) -> AuthorizationRequest:
    """Steps 2-4: fetch (unless passed by value) and verify the signed request object.

    A request passed by value goes through exactly the same checks as a fetched one:
    it is signed by a key the registry (or the trust snapshot) holds for the
    verifier's DID, so showing it in a QR code makes it no easier to forge.
    """
    import sdjwt
    from registry.errors import RegistryError
    from sdjwt.jws import CompactJWS

    now = int(time.time()) if now is None else now
    # Step 2.
    if link.request is not None:
        token = link.request
    else:
        if link.request_uri is None:
            raise InvalidRequest("the request link has neither request nor request_uri")
        response = http.get(link.request_uri, "request URI", accept="application/oauth-authz-req+jwt")
        if response.status != 200:
            raise InvalidRequest(f"the verifier answered HTTP {response.status} for the request (it may have expired)")
        if response.content_type != "application/oauth-authz-req+jwt":
            raise InvalidRequest("the verifier's request is not an application/oauth-authz-req+jwt")
        try:
            token = response.body.decode("ascii").strip()
        except UnicodeDecodeError as exc:
            raise InvalidRequest("the verifier's request object is not a valid signed JWT") from exc
    try:
        jws = CompactJWS.parse(token, "request object")
        jws.check_header(REQUEST_ALGORITHMS, REQUEST_TYP, "request object")
    except sdjwt.SDJWTError as exc:
        raise InvalidRequest("the verifier's request object is not a valid signed JWT") from exc
    claims = jws.payload
    # Step 3.
    if claims.get("client_id") != link.client_id:
        raise UntrustedVerifier("the request object's client_id differs from the link's")
    if not link.client_id.startswith(DID_PREFIX):
        raise UntrustedVerifier("the verifier is not identified by a DID (client_id prefix decentralized_identifier:)")
    did = link.client_id[len(DID_PREFIX):]
    if not did.startswith("did:"):
        raise UntrustedVerifier("the verifier's client_id holds no DID")
    kid = jws.header.get("kid")
    if not isinstance(kid, str) or kid.partition("#")[0] != did or "#" not in kid:
        raise UntrustedVerifier("the request is not signed with a key of the verifier's DID (kid)")
    try:
        key = trust.key_at(did, kid, now)
    except RegistryError as exc:
        raise UntrustedVerifier(f"the registry does not vouch for the verifier's key: {exc.message}") from exc
    try:
        if key.alg != jws.header.get("alg"):
            raise sdjwt.UnsupportedAlgorithm("the request's alg does not match the verifier's key")
        jws.verify_signature(key, "request object")
    except sdjwt.SDJWTError as exc:
        raise UntrustedVerifier("the request object's signature does not verify") from exc
    exp, iat = claims.get("exp"), claims.get("iat")
    if exp is not None and (not isinstance(exp, int) or now >= exp + LEEWAY):
        raise InvalidRequest("the verifier's request has expired; ask the counter for a new one")
    if iat is not None and (not isinstance(iat, int) or iat > now + LEEWAY):
        raise InvalidRequest("the verifier's request is dated in the future; check this device's clock")
    if link.request is not None:
        # Fetched, a request is live by construction (the verifier serves only pending ones); passed
        # by value, in a picture that can be shown again elsewhere, only its own times say so.
        if exp.__class__ is not int or iat.__class__ is not int:
            raise InvalidRequest("a request passed by value must carry integer iat and exp; ask the counter for a new one")
        if exp - iat > MAX_BY_VALUE_LIFETIME:
            raise InvalidRequest(f"a request passed by value may be valid for at most {MAX_BY_VALUE_LIFETIME} s")
    # Step 4.
    if claims.get("response_type") != "vp_token":
        raise InvalidRequest("the request's response_type must be vp_token")
    if claims.get("response_mode") != "direct_post":
        raise InvalidRequest("the request's response_mode must be direct_post")
    try:
        response_uri = http.check(claims.get("response_uri"), "response URI")
    except NetworkError as exc:
        raise InvalidRequest(f"the request's response_uri is not acceptable: {exc.message}") from exc
    nonce, state = claims.get("nonce"), claims.get("state")
    if not isinstance(nonce, str) or not nonce or len(nonce) > 512:
        raise InvalidRequest("the request has no nonce")
    if state is not None and (not isinstance(state, str) or len(state) > 512):
        raise InvalidRequest("the request's state must be a string")
    metadata = claims.get("client_metadata", {})
    if not isinstance(metadata, dict):
        raise InvalidRequest("the request's client_metadata must be an object")
    formats = metadata.get("vp_formats_supported")
    if not isinstance(formats, dict) or "dc+sd-jwt" not in formats:
        raise InvalidRequest("the verifier does not accept dc+sd-jwt presentations")
    name = metadata.get("client_name")
    purpose = claims.get("purpose", {})
    if not isinstance(purpose, dict):
        purpose = {}
    purpose = {k: v[:500] for k, v in purpose.items() if isinstance(k, str) and isinstance(v, str)}
    dcql = DCQLQuery.from_json(claims.get("dcql_query"))
    return AuthorizationRequest(
        link.client_id, did, name[:200] if isinstance(name, str) else None, purpose, response_uri, nonce, state, dcql
    )


@dataclass
class Disclosure:
    """What one answered query would show: labels disclosed, withheld and always visible."""

    match: Match
    disclosed: list[str] = field(default_factory=list)
    withheld: list[str] = field(default_factory=list)
    always: list[str] = field(default_factory=list)


def plan(request: AuthorizationRequest, records: list[dict[str, Any]], lang: str) -> list[Disclosure]:
    """Step 5: which credential answers which query, and exactly which claims it reveals."""
    from .credentials import claim_rows

    result = []
    for match in select(request.dcql, records):
        item = Disclosure(match)
        for row in claim_rows(dict(match.record), lang):
            chosen = any(
                len(p) <= len(row.path) and all(s is None and isinstance(r, int) or s == r for s, r in zip(p, row.path))
                for p in match.paths
            )
            if not row.selectively_disclosable:
                item.always.append(row.label)
            elif chosen:
                item.disclosed.append(row.label)
            else:
                item.withheld.append(row.label)
        result.append(item)
    return result


def choose_copy(record: Mapping[str, Any], client_id: str, *, allow_reuse: bool = False) -> dict[str, Any]:
    """An unused copy; else one only ever shown to this same verifier; else (if allowed) the least used."""
    copies = list(record.get("copies", []))
    for copy in copies:
        if not copy.get("used_by"):
            return copy  # type: ignore[no-any-return]
    for copy in copies:
        if set(copy.get("used_by", [])) == {client_id}:
            return copy  # type: ignore[no-any-return]
    if allow_reuse and copies:
        return min(copies, key=lambda c: len(c.get("used_by", [])))  # type: ignore[no-any-return]
    raise NoUnusedCopy("every copy of this credential was already shown to another verifier, which could link you")


def make_presentation(copy: Mapping[str, Any], paths: tuple[tuple[Any, ...], ...], *, audience: str, nonce: str,
                      now: int) -> str:
    """Step 6: only the asked claims, key-bound to ``audience`` and ``nonce``."""
    import sdjwt

    from .keys import load_holder_key

    return sdjwt.create_presentation(copy["sd_jwt"], list(paths), holder_key=load_holder_key(copy["holder_key"]),
                                     aud=audience, nonce=nonce, iat=now)


def build_vp_token(request: AuthorizationRequest, chosen: list[tuple[Match, Mapping[str, Any]]], now: int) -> dict[str, list[str]]:
    return {
        match.query.id: [make_presentation(copy, match.paths, audience=request.client_id, nonce=request.nonce, now=now)]
        for match, copy in chosen
    }


def vp_token_text(vp_token: Mapping[str, list[str]]) -> str:
    """The ``vp_token`` as compact JSON: what ``direct_post`` sends, and what an offline counter's QR holds."""
    return json.dumps(vp_token, separators=(",", ":"))


@dataclass(frozen=True)
class VerifierAnswer:
    accepted: bool
    redirect_uri: str | None
    details: Mapping[str, Any]


def send_response(request: AuthorizationRequest, vp_token: Mapping[str, list[str]], http: Http) -> VerifierAnswer:
    """Step 7: direct_post of the vp_token; read the verifier's answer."""
    form = {"vp_token": vp_token_text(vp_token)}
    if request.state is not None:
        form["state"] = request.state
    response = http.post_form(request.response_uri, "verifier's response URI", form)
    try:
        body = response.json_object("verifier's answer") if response.body.strip() else {}
    except NetworkError:
        body = {}
    if response.status != 200:
        error = body.get("error") if isinstance(body.get("error"), str) else f"HTTP {response.status}"
        description = body.get("error_description")
        detail = f": {description[:200]}" if isinstance(description, str) else ""
        raise PresentationFailed(f"the verifier refused the presentation ({error[:60]}){detail}")
    redirect = body.get("redirect_uri")
    if body.get("decision") is False:
        # civicid verifiers answer 200 with decision=false when a valid presentation does not
        # satisfy their policy (docs/verifier.md); report it, with reason codes only.
        reasons = body.get("reasons")
        codes = ", ".join(str(r)[:60] for r in reasons[:5]) if isinstance(reasons, list) else ""
        raise PresentationFailed(f"the verifier's policy was not satisfied{f' ({codes})' if codes else ''}")
    return VerifierAnswer(True, redirect if isinstance(redirect, str) else None,
                          {k: v for k, v in body.items() if k != "redirect_uri"})


def send_decline(request: AuthorizationRequest, http: Http) -> None:
    """Tell the verifier the user declined (section 8.5 ``access_denied``); best effort."""
    form = {"error": "access_denied", "error_description": "the user declined"}
    if request.state is not None:
        form["state"] = request.state
    try:
        http.post_form(request.response_uri, "verifier's response URI", form)
    except NetworkError:
        pass


def consent_text(request: AuthorizationRequest, items: list[Disclosure], lang: str,
                 type_name: Callable[[Mapping[str, Any], str], str],
                 issuer_name: Callable[[Mapping[str, Any], str], str]) -> str:
    """The consent screen: who asks, why, and what is and is not disclosed."""
    lines = [
        f"Verifier: {request.client_name or '(no name given)'}",
        f"  identity: {request.verifier_did} (request signature checked against the registry)",
        f"Purpose: {request.purpose_text(lang)}",
    ]
    for item in items:
        record = item.match.record
        lines.append(f"From your {type_name(record, lang)} (issued by {issuer_name(record, lang)}):")
        lines.append("  will be disclosed:     " + (", ".join(item.disclosed) or "(no selectable claims)"))
        lines.append("  will NOT be disclosed: " + (", ".join(item.withheld) or "-"))
        always = ", ".join(item.always + ["issuer", "type", "validity", "status reference"])
        lines.append("  always visible:        " + always)
    return "\n".join(lines)


def parse_claim_paths(specs: list[str], claims: Any) -> list[tuple[Any, ...]]:
    """``--claims`` values: comma-separated dotted paths (``address.locality``, ``nationalities.*``)
    or JSON arrays (``["age_equal_or_over","65"]``). A step is an array index (or ``*`` for every
    element) where the credential has an array, an object key otherwise."""
    from .errors import InputError

    paths: list[tuple[Any, ...]] = []
    for spec in specs:
        spec = spec.strip()
        if spec.startswith("["):
            try:
                raw = json.loads(spec)
            except ValueError as exc:
                raise InputError("a --claims JSON path is not valid JSON") from exc
            if not isinstance(raw, list) or not raw:
                raise InputError("a --claims JSON path must be a non-empty array")
            candidates = [raw]
        else:
            candidates = [p.split(".") for p in spec.split(",") if p.strip()]
        for steps in candidates:
            value, path = claims, []
            for step in steps:
                if isinstance(value, list):
                    if step in ("*", None):
                        path.append(None)
                        value = value[0] if value else None
                        continue
                    try:
                        index = int(step)
                        value = value[index]
                    except (ValueError, TypeError, IndexError) as exc:
                        raise InputError(f"the credential has no claim at {'.'.join(map(str, steps))}") from exc
                    path.append(index)
                elif isinstance(value, dict) and isinstance(step, str) and step in value:
                    value = value[step]
                    path.append(step)
                else:
                    raise InputError(f"the credential has no claim at {'.'.join(map(str, steps))}")
            paths.append(tuple(path))
    if not paths:
        raise InputError("--claims names no claim")
    return paths
