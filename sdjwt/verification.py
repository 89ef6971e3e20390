"""Verifying an SD-JWT VC presentation (RFC 9901 section 7, SD-JWT VC section 3).

:func:`verify` follows the numbered steps of RFC 9901 section 7.1 (the
SD-JWT) and 7.3 (the Key Binding JWT), with the SD-JWT VC rules on ``typ`` and
registered claims. It returns a :class:`VerifiedSDJWT` holding only what the
issuer signed and the holder disclosed, or raises a subclass of
:class:`~sdjwt.errors.SDJWTError`; it never returns a bool.

The issuer's key is looked up by a callable the caller injects (the registry,
in civicid), given ``iss``, the JWS ``kid`` and ``iat`` so that a historical
key can be chosen. Time is injected too (``now``).
"""

from __future__ import annotations

import hmac
import math
from dataclasses import dataclass
from typing import Any, Callable, Collection, Mapping

from .disclosure import ARRAY_KEY, SD_ALG, SD_KEY, Digest, Disclosure
from .encoding import DEFAULT_LIMITS, Limits, b64url_encode
from .errors import (
    DisclosureMismatch,
    Expired,
    InvalidSDJWT,
    KeyBindingError,
    LimitExceeded,
    MalformedSDJWT,
    NotYetValid,
    SDJWTError,
    UnknownIssuerKey,
    UnsupportedAlgorithm,
)
from .issuance import ClaimPath
from .jwk import public_key_from_jwk
from .jws import CompactJWS
from .keys import PublicKey
from .presentation import SDJWT, sd_hash
from .vc import KB_TYP, NEVER_DISCLOSABLE, TYP, StatusReference

__all__ = ["IssuerKeyLookup", "StatusCheck", "VerifiedSDJWT", "verify", "DEFAULT_LEEWAY", "DEFAULT_KB_MAX_AGE"]

IssuerKeyLookup = Callable[[str, "str | None", "int | None"], PublicKey]
"""``(iss, kid, iat) -> key``; raises :class:`UnknownIssuerKey` (or another SDJWTError) when there is none."""

StatusCheck = Callable[[StatusReference], None]
"""Raises :class:`StatusRevoked` / :class:`StatusSuspended` for a referenced token that is not valid."""

DEFAULT_LEEWAY = 60
"""Seconds of clock skew tolerated on ``exp``, ``nbf`` and ``iat``."""

DEFAULT_KB_MAX_AGE = 300
"""How old a Key Binding JWT may be, in seconds (RFC 9901 section 7.3 step 5: verifier policy)."""


@dataclass(frozen=True, slots=True)
class VerifiedSDJWT:
    """The outcome of a successful verification.

    ``claims`` is the issuer's payload with every disclosed claim put in place
    and every undisclosed digest removed; ``disclosed`` lists the paths that
    came from disclosures, so a verifier can tell them from always-visible ones.
    """

    header: Mapping[str, Any]
    claims: Mapping[str, Any]
    disclosed: tuple[ClaimPath, ...]
    holder_jwk: Mapping[str, Any] | None
    key_binding: Mapping[str, Any] | None

    @property
    def iss(self) -> str:
        return str(self.claims["iss"])

    @property
    def vct(self) -> str:
        return str(self.claims["vct"])

    @property
    def iat(self) -> int | None:
        value = self.claims.get("iat")
        return value if isinstance(value, int) else None


def _numeric_date(claims: Mapping[str, Any], name: str, what: str) -> int | None:
    value = claims.get(name)
    if value is None:
        return None
    # json reads 1e400 as infinity, and int(inf) raises OverflowError: refuse non-finite numbers.
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise MalformedSDJWT(f"{what} claim {name!r} must be a NumericDate (seconds since the epoch)")
    return int(value)


def _same(got: Any, expected: str) -> bool:
    """Constant-time string equality that cannot raise on hostile input (lone surrogates included)."""
    if not isinstance(got, str):
        return False
    return hmac.compare_digest(got.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass"))


def _require_canonical_signature(token: str, jws: CompactJWS, what: str) -> None:
    """Refuse a signature whose base64url text is not the canonical encoding of its bytes.

    Base64url leaves unused low bits in the last character, so several strings
    decode to the same signature. Accepting them would let anyone change a
    presentation without detection (the KB-JWT signature is not covered by
    ``sd_hash``, and a presentation without key binding is covered by nothing).
    """
    if b64url_encode(jws.signature) != token.rsplit(".", 1)[-1]:
        raise MalformedSDJWT(f"{what} signature is not canonical base64url; re-encode it")


class _Processor:
    """RFC 9901 section 7.1 step 3: put disclosures in place of their digests."""

    def __init__(self, disclosures: tuple[Disclosure, ...], max_depth: int) -> None:
        self.by_digest: dict[Digest, Disclosure] = {}
        for disclosure in disclosures:
            if disclosure.digest in self.by_digest:
                # Step 3.4 (and 7.3): the same disclosure twice is refused.
                raise DisclosureMismatch("a disclosure appears more than once in the presentation")
            self.by_digest[disclosure.digest] = disclosure
        self.seen: set[str] = set()
        self.used: set[Digest] = set()
        self.disclosed: list[ClaimPath] = []
        self.max_depth = max_depth

    def _claim_digest(self, digest: Any) -> Disclosure | None:
        if not isinstance(digest, str):
            raise MalformedSDJWT("every digest must be a string")
        # Step 3.4: a digest may appear only once in the whole payload, disclosures included.
        if digest in self.seen:
            raise DisclosureMismatch("a digest appears more than once in the credential")
        self.seen.add(digest)
        found = self.by_digest.get(Digest(digest))
        if found is not None:
            self.used.add(found.digest)
        return found

    def value(self, value: Any, path: ClaimPath) -> Any:
        if len(path) > self.max_depth:
            raise LimitExceeded(f"credential nests deeper than {self.max_depth} levels")
        if isinstance(value, dict):
            return self.obj(value, path)
        if isinstance(value, list):
            return self.array(value, path)
        return value

    def obj(self, obj: dict[str, Any], path: ClaimPath) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for name, child in obj.items():
            if name == SD_KEY or name == "_sd_alg" and not path:
                continue
            if name == ARRAY_KEY or name == "_sd_alg":
                raise DisclosureMismatch(f"claim name {name!r} is reserved and must not appear in the payload")
            result[name] = self.value(child, path + (name,))
        digests = obj.get(SD_KEY)
        if digests is None:
            return result
        if not isinstance(digests, list):
            raise MalformedSDJWT("'_sd' must be an array of digests")
        for digest in digests:
            # Step 3.2.1: find the disclosure for each digest in `_sd`.
            disclosure = self._claim_digest(digest)
            if disclosure is None:
                continue  # An undisclosed claim or a decoy.
            # Step 3.2.2: it must be an object property disclosure ...
            if disclosure.name is None:
                raise DisclosureMismatch("an array element disclosure is referenced from an object's '_sd'")
            # ... whose name is not already present at this level.
            if disclosure.name in result:
                raise DisclosureMismatch("a disclosed claim name already exists in the same object")
            sub = path + (disclosure.name,)
            result[disclosure.name] = self.value(disclosure.value, sub)
            self.disclosed.append(sub)
        return result

    def array(self, array: list[Any], path: ClaimPath) -> list[Any]:
        result: list[Any] = []
        for item in array:
            sub = path + (len(result),)
            if isinstance(item, dict) and ARRAY_KEY in item:
                if len(item) != 1:
                    raise DisclosureMismatch("an array digest object must hold only the '...' key")
                # Step 3.3: an array element digest.
                disclosure = self._claim_digest(item[ARRAY_KEY])
                if disclosure is None:
                    continue  # Step 3.3.3: an undisclosed element is removed.
                if disclosure.name is not None:
                    raise DisclosureMismatch("an object property disclosure is referenced from an array element")
                result.append(self.value(disclosure.value, sub))
                self.disclosed.append(sub)
            else:
                result.append(self.value(item, sub))
        return result


def _verify_key_binding(
    parsed: SDJWT,
    claims: Mapping[str, Any],
    *,
    algorithms: Collection[str],
    audience: str | None,
    nonce: str | None,
    now: int,
    leeway: int,
    max_age: int,
    max_depth: int,
) -> tuple[Mapping[str, Any], Mapping[str, Any]]:
    """RFC 9901 section 7.3 step 5: verify the KB-JWT; return (holder JWK, KB-JWT payload)."""
    if parsed.kb_jwt is None:
        raise KeyBindingError("key binding is required but the presentation has no KB-JWT; present it with the holder key")
    cnf = claims.get("cnf")
    holder_jwk = cnf.get("jwk") if isinstance(cnf, dict) else None
    if not isinstance(holder_jwk, dict):
        raise KeyBindingError("the credential has no 'cnf.jwk' holder key, so it cannot be key-bound")
    try:
        holder_key = public_key_from_jwk(holder_jwk)
        kb = CompactJWS.parse(parsed.kb_jwt, "KB-JWT", max_depth)
        # 5a: typ must be kb+jwt; alg must be allowed.
        kb.check_header(algorithms, KB_TYP, "KB-JWT")
        # 5b: the signature verifies with the key in cnf.
        kb.verify_signature(holder_key, "KB-JWT")
        _require_canonical_signature(parsed.kb_jwt, kb, "KB-JWT")
    except SDJWTError as exc:
        raise KeyBindingError(f"key binding failed: {exc.message}") from exc
    payload = kb.payload
    # 5c: iat within the acceptable window.
    iat = payload.get("iat")
    if isinstance(iat, bool) or not isinstance(iat, int):
        raise KeyBindingError("KB-JWT has no integer 'iat'")
    if iat > now + leeway:
        raise KeyBindingError("KB-JWT 'iat' is in the future; check the wallet's clock")
    if iat < now - max_age - leeway:
        raise KeyBindingError("KB-JWT is too old; the wallet must create a fresh presentation")
    # 5d: nonce and aud, compared in constant time.
    if audience is not None:
        if not _same(payload.get("aud"), audience):
            raise KeyBindingError("KB-JWT 'aud' does not name this verifier")
    if nonce is not None:
        if not _same(payload.get("nonce"), nonce):
            raise KeyBindingError("KB-JWT 'nonce' does not match this request; start a new request")
    # 5e: sd_hash over exactly the disclosures sent.
    expected = sd_hash(parsed.without_key_binding())
    if not _same(payload.get("sd_hash"), expected):
        raise KeyBindingError("KB-JWT 'sd_hash' does not match the presented disclosures")
    return holder_jwk, payload


def verify(
    presentation: str,
    *,
    issuer_key: IssuerKeyLookup,
    algorithms: Collection[str],
    now: int,
    audience: str | None = None,
    nonce: str | None = None,
    require_key_binding: bool = True,
    holder_algorithms: Collection[str] = ("EdDSA", "ES256"),
    typ: Collection[str] = (TYP,),
    leeway: int = DEFAULT_LEEWAY,
    kb_max_age: int = DEFAULT_KB_MAX_AGE,
    status: StatusCheck | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> VerifiedSDJWT:
    """Verify an SD-JWT VC presentation and return only what it discloses.

    With ``require_key_binding`` (the default) both ``audience`` and ``nonce``
    are required: a verifier that does not check them accepts replays.
    """
    if require_key_binding and (not audience or not nonce):
        raise ValueError("key binding needs the expected audience and nonce")
    if not algorithms:
        raise ValueError("algorithms must name at least one allowed algorithm")

    # Section 7.1 step 1: separate the issuer-signed JWT and the disclosures (within limits).
    parsed = SDJWT.parse(presentation, limits)
    jws = CompactJWS.parse(parsed.jwt, "issuer-signed JWT", limits.max_depth)

    # Step 2.1: `none` and anything off the allow-list are refused; SD-JWT VC section 3.2.1: typ.
    alg = jws.check_header(algorithms, None, "issuer-signed JWT")
    header_typ = jws.header.get("typ")
    if not isinstance(header_typ, str) or header_typ not in typ:
        raise MalformedSDJWT(f"issuer-signed JWT typ must be one of: {', '.join(sorted(typ))}")
    payload = jws.payload
    iss = payload.get("iss")
    if not isinstance(iss, str) or not iss:
        raise MalformedSDJWT("issuer-signed JWT has no 'iss'; civicid looks up issuer keys by it")
    kid = jws.header.get("kid")
    if kid is not None and not isinstance(kid, str):
        raise MalformedSDJWT("issuer-signed JWT 'kid' must be a string")
    iat = _numeric_date(payload, "iat", "issuer-signed JWT")

    # Step 2.2: verify the signature with the issuer's key as it was at `iat`.
    key = issuer_key(iss, kid, iat)
    if not callable(getattr(key, "verify", None)) or not isinstance(getattr(key, "alg", None), str):
        raise UnknownIssuerKey("no verification key is known for this issuer and kid")
    if key.alg != alg:
        raise UnsupportedAlgorithm("issuer-signed JWT alg does not match the issuer's key type")
    jws.verify_signature(key, "issuer-signed JWT")
    _require_canonical_signature(parsed.jwt, jws, "issuer-signed JWT")

    # Step 2.3: `_sd_alg` must be one we support.
    if payload.get("_sd_alg", SD_ALG) != SD_ALG:
        raise UnsupportedAlgorithm("_sd_alg must be 'sha-256'")

    # Step 3: replace digests with disclosures, refusing duplicates and reserved names.
    processor = _Processor(parsed.disclosures, limits.max_depth)
    claims = processor.obj(payload, ())
    # Step 4: every disclosure must be referenced by a digest somewhere.
    if len(processor.used) != len(parsed.disclosures):
        raise DisclosureMismatch("a disclosure is not referenced by any digest the issuer signed")
    # SD-JWT VC section 3.2.2.2: registered claims must stay in the issuer-signed payload;
    # were `exp` or `status` disclosable, a holder could simply withhold them.
    for path in processor.disclosed:
        if len(path) == 1 and path[0] in NEVER_DISCLOSABLE:
            raise DisclosureMismatch(
                f"claim {path[0]!r} must not be selectively disclosed; the issuer must put it in the signed payload"
            )

    # SD-JWT VC section 3.2.2: vct is required, and must be a string.
    if not isinstance(claims.get("vct"), str) or not claims["vct"]:
        raise MalformedSDJWT("credential has no 'vct' string; it is not an SD-JWT VC")

    # Step 5: validity times, with bounded skew.
    exp = _numeric_date(claims, "exp", "credential")
    if exp is not None and now >= exp + leeway:
        raise Expired("the credential has expired; ask the issuer for a new one")
    nbf = _numeric_date(claims, "nbf", "credential")
    if nbf is not None and now + leeway < nbf:
        raise NotYetValid("the credential is not valid yet ('nbf' is in the future)")
    if iat is not None and now + leeway < iat:
        raise NotYetValid("the credential was issued in the future ('iat'); check the clocks")

    # Section 7.3 step 5: key binding.
    holder_jwk: Mapping[str, Any] | None = None
    kb_payload: Mapping[str, Any] | None = None
    if require_key_binding or parsed.kb_jwt is not None:
        holder_jwk, kb_payload = _verify_key_binding(
            parsed,
            claims,
            algorithms=holder_algorithms,
            audience=audience,
            nonce=nonce,
            now=now,
            leeway=leeway,
            max_age=kb_max_age,
            max_depth=limits.max_depth,
        )

    # Token Status List section 8: the referenced status must be VALID.
    if status is not None:
        reference = StatusReference.from_claims(claims)
        if reference is None:
            raise InvalidSDJWT("the credential has no status reference, but this verifier requires one")
        status(reference)

    return VerifiedSDJWT(dict(jws.header), claims, tuple(processor.disclosed), holder_jwk, kb_payload)
