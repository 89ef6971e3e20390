"""The verification pipeline: a presentation in, an eligibility decision out.

Written as numbered steps, each failing with its own error (and so its own
reason code, see :mod:`verifier.errors`):

1. parse within size limits (RFC 9901 section 7.1 step 1), ``alg`` allow-list (step 2.1);
2. resolve the issuer's key through the registry (:class:`registry.trust.TrustSource`,
   whose networked client checks the inclusion proof and the witnessed checkpoint);
3. the key must have been valid at the credential's ``iat`` (not added later,
   not removed or reported compromised before it);
4. signature (step 2.2) and disclosures (steps 3-4), by :func:`sdjwt.verify`; then the
   issuer's accreditation for that ``vct`` at ``iat`` (checked on signed data only);
5. the ``vct`` must be one the policy's query accepts;
6. validity times with bounded skew (step 5; SD-JWT VC section 3.2.2.2), and the policy's maximum age;
7. the status list (draft-ietf-oauth-status-list section 8.3), cached per its ``ttl``;
8. (disclosures were checked in step 4);
9. key binding (RFC 9901 section 7.3 step 5): typ and alg, signature by ``cnf.jwk``,
   freshness, nonce, audience, ``sd_hash``, and one use only;
10. the policy (:meth:`verifier.policy.Policy.evaluate`).

Nothing here reads a clock or logs a claim: ``now`` is passed in, and errors
carry codes and fixed messages only.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
from dataclasses import dataclass
from typing import Any, Callable, Collection, Mapping

import sdjwt
from registry import errors as registry_errors
from registry.trust import NotTrusted, TrustSource
from sdjwt.encoding import b64url_encode, json_loads
from sdjwt.jws import CompactJWS

from .errors import (
    AlgorithmNotAllowed,
    AudienceMismatch,
    ClaimMissing,
    CredentialExpired,
    CredentialNotYetValid,
    CredentialTooOld,
    CredentialTypeMismatch,
    DisclosureInvalid,
    IssuerKeyUnknown,
    IssuerNotAccredited,
    IssuerUnknown,
    KeyBindingInvalid,
    KeyBindingMissing,
    KeyBindingStale,
    KeyCompromised,
    KeyNotValidAtIssuance,
    NonceMismatch,
    PolicyNotSatisfied,
    PresentationMalformed,
    PresentationReplayed,
    PresentationTooLarge,
    RegistryUnverifiable,
    ResponseMalformed,
    SdHashMismatch,
    SignatureInvalid,
    StatusUnavailable,
    VerificationFailed,
)
from .policy import CredentialQuery, Policy
from .status import StatusLists

__all__ = ["Outcome", "Pipeline", "ReplayGuard", "MemoryReplayGuard", "parse_vp_token", "MAX_VP_TOKEN"]

MAX_VP_TOKEN = 48 * 1024
"""Largest ``vp_token`` accepted, in characters (one credential with its disclosures fits many times over)."""

_VP_TOKEN_DEPTH = 4
"""``vp_token`` is ``{query id: [presentation, ...]}``: two levels; a little room, no more."""

ReplayGuard = Callable[[str, int, int], bool]
"""``(kb_jwt_digest, keep_until, now) -> first_use``: record a key binding JWT, False if seen before."""


class MemoryReplayGuard:
    """An in-process replay guard (one verifier process; the services use the database's)."""

    def __init__(self) -> None:
        self._seen: dict[str, int] = {}
        self._lock = threading.Lock()

    def __call__(self, digest: str, keep_until: int, now: int) -> bool:
        with self._lock:
            if len(self._seen) > 100_000:
                self._seen = {k: v for k, v in self._seen.items() if v > now}
            until = self._seen.get(digest)
            if until is not None and until > now:
                return False
            self._seen[digest] = keep_until
            return True


@dataclass(frozen=True)
class Outcome:
    """A decision with its reasons (codes, messages, condition ids) and the claims the policy used."""

    decision: bool
    reasons: tuple[Mapping[str, Any], ...]
    claims: Mapping[str, Any]
    status_list_age: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {"decision": self.decision, "reasons": [dict(r) for r in self.reasons], "claims": dict(self.claims)}


def _same(got: Any, expected: str) -> bool:
    if not isinstance(got, str):
        return False
    return hmac.compare_digest(got.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass"))


def parse_vp_token(raw: Any, policy: Policy) -> dict[str, str]:
    """OpenID4VP 1.0 section 8.1: ``vp_token`` is a JSON object from DCQL query id to an array of presentations.

    Each of the policy's queries must be answered with exactly one
    presentation (``multiple`` is not requested); unknown ids are refused.
    """
    if isinstance(raw, str):
        if len(raw) > MAX_VP_TOKEN:
            raise PresentationTooLarge(f"vp_token is longer than {MAX_VP_TOKEN} characters")
        # Strict JSON (no duplicate query ids, bounded depth): the stdlib parser would let the last of two
        # duplicate ids win and raise RecursionError on deep nesting (a 500 before this was fixed).
        try:
            raw = json_loads(raw, "vp_token", _VP_TOKEN_DEPTH)
        except sdjwt.LimitExceeded as exc:
            raise PresentationTooLarge("vp_token nests too deeply; it is an object of arrays of strings") from exc
        except sdjwt.SDJWTError as exc:
            raise ResponseMalformed("vp_token must be a JSON object mapping each credential query id to presentations") from exc
    if not isinstance(raw, dict):
        raise ResponseMalformed("vp_token must be a JSON object mapping each credential query id to presentations")
    wanted = {q.id for q in policy.credentials}
    extra = set(raw) - wanted
    if extra:
        raise ResponseMalformed("vp_token answers a credential query that was not asked")
    found: dict[str, str] = {}
    for query in policy.credentials:
        value = raw.get(query.id)
        if value is None:
            raise ClaimMissing(f"credential {query.id!r} was not presented")
        if not isinstance(value, list) or len(value) != 1 or not isinstance(value[0], str):
            raise ResponseMalformed(f"vp_token[{query.id!r}] must be an array holding one presentation string")
        found[query.id] = value[0]
    return found


def _trust_error(exc: Exception) -> VerificationFailed:
    """Steps 2-3: what the registry's refusal means, as our own code."""
    if isinstance(exc, registry_errors.KeyNotValid):
        if exc.rule == "compromised":
            return KeyCompromised("the issuer reported this key compromised before the credential was issued; refuse it")
        if exc.rule == "unknown_kid":
            return IssuerKeyUnknown("the issuer never registered the key that signed this credential")
        return KeyNotValidAtIssuance("the issuer's key was not valid when the credential was issued")
    if isinstance(exc, (registry_errors.UnknownDID, registry_errors.NotFound, registry_errors.Deactivated)):
        return IssuerUnknown("the registry does not know this issuer")
    if isinstance(exc, (registry_errors.ProofError, registry_errors.SignatureError, registry_errors.ConsistencyError,
                        registry_errors.CheckpointError, registry_errors.MalformedInput)):
        return RegistryUnverifiable("the registry's answer did not verify against a witnessed checkpoint; try again later")
    if isinstance(exc, NotTrusted):
        return IssuerUnknown("the registry does not vouch for this issuer and key")
    return RegistryUnverifiable("the registry could not be consulted; try again later")


def _sdjwt_error(exc: sdjwt.SDJWTError) -> VerificationFailed:
    """Steps 1, 4 and 6: sdjwt's error classes mapped onto our codes."""
    if isinstance(exc, sdjwt.LimitExceeded):
        return PresentationTooLarge(exc.message)
    if isinstance(exc, sdjwt.UnsupportedAlgorithm):
        return AlgorithmNotAllowed(exc.message)
    if isinstance(exc, sdjwt.SignatureInvalid):
        return SignatureInvalid("the issuer's signature does not verify; the credential was altered or forged")
    if isinstance(exc, sdjwt.DisclosureMismatch):
        return DisclosureInvalid(exc.message)
    if isinstance(exc, sdjwt.Expired):
        return CredentialExpired("the credential has expired; the holder must ask the issuer for a new one")
    if isinstance(exc, sdjwt.NotYetValid):
        return CredentialNotYetValid(exc.message)
    if isinstance(exc, sdjwt.UnknownIssuerKey):
        return IssuerKeyUnknown(exc.message)
    return PresentationMalformed(exc.message)


class Pipeline:
    """Verifies presentations for policies. Stateless apart from the status-list cache and replay guard."""

    def __init__(
        self,
        trust: TrustSource,
        status: StatusLists | None,
        *,
        replay: ReplayGuard,
        algorithms: Collection[str] = ("EdDSA", "ES256"),
        holder_algorithms: Collection[str] = ("EdDSA", "ES256"),
        leeway: int = 60,
        kb_max_age: int = 300,
        limits: sdjwt.Limits = sdjwt.DEFAULT_LIMITS,
    ) -> None:
        self.trust = trust
        self.status = status
        self.replay = replay
        self.algorithms = tuple(algorithms)
        self.holder_algorithms = tuple(holder_algorithms)
        self.leeway = leeway
        self.kb_max_age = kb_max_age
        self.limits = limits

    # One credential ---------------------------------------------------------------------

    def verify_presentation(
        self, text: str, query: CredentialQuery, policy: Policy, *, nonce: str, audience: str, now: int
    ) -> tuple[Mapping[str, Any], int | None]:
        """Steps 1-9 for one presentation; returns (disclosed claims, age of the status list used)."""
        if not nonce or not audience:
            raise ValueError("the expected nonce and audience are required")

        # Step 1: parse within limits (RFC 9901 section 7.1 step 1); alg allow-list (step 2.1).
        # The presentation is parsed once, by `sdjwt.verify` below: it splits and bounds the parts,
        # decodes the disclosures and the issuer JWT and checks the header, then asks `issuer_key`
        # (steps 1-3 here) for the key before any signature is checked. The KB-JWT is the text after
        # the last '~' and is checked in step 9; the limits apply to the whole presentation.
        if not isinstance(text, str):
            raise PresentationMalformed("the presentation must be a string")
        if len(text) > self.limits.max_length:
            raise PresentationTooLarge(f"SD-JWT is longer than {self.limits.max_length} characters")
        if not text.isascii():
            raise PresentationMalformed("SD-JWT must be ASCII (base64url parts separated by '~')")
        kb_jwt = text[text.rfind("~") + 1:]
        body = text[: len(text) - len(kb_jwt)]  # Up to and including the last '~': what sd_hash covers.
        trust = self.trust
        signed: dict[str, Any] = {}

        def issuer_key(iss: str, kid: str | None, iat: int | None) -> sdjwt.PublicKey:
            # Step 1 (continued): sdjwt has checked that `iss` is a non-empty string and `kid` a string or absent.
            if iat.__class__ is not int:
                raise PresentationMalformed("the credential has no integer 'iat'; civicid checks keys as of issuance")
            if not kb_jwt:
                raise KeyBindingMissing("the presentation has no key binding JWT; the wallet must sign it with the holder key")
            signed["iss"], signed["iat"] = iss, iat
            # Steps 2-3: the issuer's key as the registry knew it at `iat` (the client verifies the
            # inclusion proof and the witnessed checkpoint; a key removed or compromised before `iat` fails).
            try:
                return trust.key_at(iss, kid, iat)
            except Exception as exc:  # Whatever the trust source raises means: not trusted.
                raise _trust_error(exc) from exc

        # Step 4: signature and disclosures (RFC 9901 section 7.1 steps 2-4) and validity
        # times with bounded skew (step 5); the key binding is checked in step 9 below.
        try:
            verified = sdjwt.verify(
                body if kb_jwt else text,
                issuer_key=issuer_key,
                algorithms=self.algorithms,
                now=now,
                require_key_binding=False,
                leeway=self.leeway,
                limits=self.limits,
            )
        except sdjwt.SDJWTError as exc:
            raise _sdjwt_error(exc) from exc
        claims = verified.claims

        # Step 5: the type must be one the query asked for, and the issuer accredited for it at `iat`.
        iss, iat = signed["iss"], signed["iat"]
        vct = verified.vct
        if vct not in query.vct_values:
            raise CredentialTypeMismatch(f"credential query {query.id!r} needs another credential type")
        try:
            self.trust.check_accredited(iss, vct, iat)
        except Exception as exc:
            if isinstance(exc, NotTrusted):
                raise IssuerNotAccredited("the issuer was not accredited for this credential type when it issued it") from exc
            raise _trust_error(exc) from exc

        # Step 6: the policy's maximum credential age (exp/nbf were checked in step 4).
        if now - iat > policy.max_credential_age + self.leeway:
            raise CredentialTooOld("the credential is older than this policy accepts; the holder must renew it")

        # Step 7: status list (draft-ietf-oauth-status-list section 8.3).
        age: int | None = None
        if self.status is not None:
            try:
                reference = sdjwt.StatusReference.from_claims(dict(claims))
            except sdjwt.SDJWTError as exc:
                raise StatusUnavailable("the credential's status reference is malformed") from exc
            if reference is None:
                raise StatusUnavailable("the credential has no status reference, so revocation cannot be checked")
            age = self.status.check(iss, reference, now)

        # Step 9: key binding (RFC 9901 section 7.3 step 5).
        self._key_binding(kb_jwt, body, claims, nonce=nonce, audience=audience, now=now)
        return claims, age

    def _key_binding(self, kb_jwt: str, body: str, claims: Mapping[str, Any], *, nonce: str, audience: str, now: int) -> None:
        cnf = claims.get("cnf")
        holder_jwk = cnf.get("jwk") if isinstance(cnf, dict) else None
        if not isinstance(holder_jwk, dict):
            raise KeyBindingInvalid("the credential has no holder key ('cnf.jwk'), so it cannot be key-bound")
        try:
            holder_key = sdjwt.public_key_from_jwk(holder_jwk)
            kb = CompactJWS.parse(kb_jwt, "KB-JWT", self.limits.max_depth)
            # 5a: typ kb+jwt, alg on the allow-list.
            kb.check_header(self.holder_algorithms, sdjwt.KB_TYP, "KB-JWT")
            # 5b: signed by the key in cnf.
            kb.verify_signature(holder_key, "KB-JWT")
        except sdjwt.SDJWTError as exc:
            raise KeyBindingInvalid("the key binding JWT is not signed by the credential's holder key") from exc
        if b64url_encode(kb.signature) != kb_jwt[kb_jwt.rfind(".") + 1:]:
            raise KeyBindingInvalid("the key binding JWT signature is not canonical base64url")
        payload = kb.payload
        # 5c: iat within the window.
        kb_iat = payload.get("iat")
        if isinstance(kb_iat, bool) or not isinstance(kb_iat, int):
            raise KeyBindingInvalid("the key binding JWT has no integer 'iat'")
        if kb_iat > now + self.leeway or kb_iat < now - self.kb_max_age - self.leeway:
            raise KeyBindingStale("the key binding JWT is too old or from the future; present again")
        # 5d: nonce and audience, in constant time.
        if not _same(payload.get("nonce"), nonce):
            raise NonceMismatch("the presentation answers another request (nonce); start a new request")
        if not _same(payload.get("aud"), audience):
            raise AudienceMismatch("the presentation was made for another verifier (aud)")
        # 5e: sd_hash over exactly the disclosures sent.
        if not _same(payload.get("sd_hash"), sdjwt.sd_hash(body)):
            raise SdHashMismatch("the key binding JWT does not cover the disclosures sent ('sd_hash')")
        # One use only: a verified KB-JWT is remembered until it could no longer pass 5c.
        digest = hashlib.sha256(kb_jwt.encode("ascii")).hexdigest()
        if not self.replay(digest, kb_iat + self.kb_max_age + 2 * self.leeway, now):
            raise PresentationReplayed("this presentation was already used; the wallet must make a fresh one")

    # A whole response -----------------------------------------------------------------------

    def decide(self, vp_token: Any, policy: Policy, *, nonce: str, audience: str, now: int) -> Outcome:
        """Steps 1-10 over a ``vp_token``; a failure is a ``false`` decision with its reason code, never an exception."""
        try:
            presentations = parse_vp_token(vp_token, policy)
            disclosed: dict[str, Mapping[str, Any]] = {}
            ages: list[int] = []
            for query in policy.credentials:
                claims, age = self.verify_presentation(
                    presentations[query.id], query, policy, nonce=nonce, audience=audience, now=now
                )
                disclosed[query.id] = claims
                if age is not None:
                    ages.append(age)
            # Step 10: the policy, over only the claims it requested.
            try:
                decision = policy.evaluate(disclosed)
            except PolicyNotSatisfied as exc:
                minimal = _minimal(policy, disclosed)
                return Outcome(False, (exc.reason(),), minimal, max(ages) if ages else None)
            return Outcome(True, (), decision.claims, max(ages) if ages else None)
        except VerificationFailed as exc:
            return Outcome(False, (exc.reason(),), {})


def _minimal(policy: Policy, disclosed: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The requested claims only (for explaining a false decision), without raising."""
    from .policy import _copy_path

    out: dict[str, Any] = {}
    for query in policy.credentials:
        picked: dict[str, Any] = {}
        for path in query.claims:
            _copy_path(disclosed.get(query.id, {}), picked, path)
        out[query.id] = picked
    return out
