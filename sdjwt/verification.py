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

from .disclosure import ARRAY_KEY, SD_ALG, SD_KEY, Disclosure
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
    SignatureInvalid,
    UnknownIssuerKey,
    UnsupportedAlgorithm,
)
from .issuance import ClaimPath
from .jwk import public_key_from_jwk
from .jws import _check_header
from .jws import _parse as _parse_jws
from .keys import Ed25519PublicKey, P256PublicKey, PublicKey
from .presentation import _split, sd_hash
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


_KEY_CLASSES = (Ed25519PublicKey, P256PublicKey)
_SPECIAL_NAMES = frozenset({SD_KEY, "_sd_alg", ARRAY_KEY})


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
    if got.__class__ is not str and not isinstance(got, str):
        return False
    if got.isascii() and expected.isascii():
        return hmac.compare_digest(got, expected)
    return hmac.compare_digest(got.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass"))


def _replace_digests(
    payload: dict[str, Any],
    by_digest: dict[str, tuple[str | None, Any]],
    max_depth: int,
    seen: set[str] | None = None,
) -> tuple[dict[str, Any], list[ClaimPath], int]:
    """RFC 9901 section 7.1 step 3: put disclosures in place of their digests.

    ``by_digest`` maps each presented disclosure's digest to its ``(name, value)``
    (``name`` is ``None`` for an array element). Returns the processed claims, the
    paths that came from disclosures (innermost first) and how many disclosures a
    digest referenced. JSON gives exact ``dict``/``list``/``str`` types, so the
    walk tests classes by identity. ``seen`` collects every digest met.
    """
    if seen is None:
        seen = set()
    disclosed: list[ClaimPath] = []
    used = 0

    def obj(node: dict[str, Any], path: ClaimPath) -> dict[str, Any]:
        nonlocal used
        result: dict[str, Any] = {}
        # Every child sits one level below this object.
        deep = len(path) >= max_depth
        top = not path
        for name, child in node.items():
            if name in _SPECIAL_NAMES:
                if name == SD_KEY or name == "_sd_alg" and top:
                    continue
                raise DisclosureMismatch(f"claim name {name!r} is reserved and must not appear in the payload")
            if deep:
                raise LimitExceeded(f"credential nests deeper than {max_depth} levels")
            kind = child.__class__
            if kind is dict:
                child = obj(child, path + (name,))
            elif kind is list:
                child = array(child, path + (name,))
            result[name] = child
        digests = node.get(SD_KEY)
        if digests is None:
            return result
        if digests.__class__ is not list:
            raise MalformedSDJWT("'_sd' must be an array of digests")
        for digest in digests:
            # Step 3.2.1: find the disclosure for each digest in `_sd`.
            if digest.__class__ is not str:
                raise MalformedSDJWT("every digest must be a string")
            # Step 3.4: a digest may appear only once in the whole payload, disclosures included.
            if digest in seen:
                raise DisclosureMismatch("a digest appears more than once in the credential")
            seen.add(digest)
            found = by_digest.get(digest)
            if found is None:
                continue  # An undisclosed claim or a decoy.
            used += 1
            name, value = found  # type: ignore[assignment]
            # Step 3.2.2: it must be an object property disclosure ...
            if name is None:
                raise DisclosureMismatch("an array element disclosure is referenced from an object's '_sd'")
            # ... whose name is not already present at this level.
            if name in result:
                raise DisclosureMismatch("a disclosed claim name already exists in the same object")
            sub = path + (name,)
            if deep:
                raise LimitExceeded(f"credential nests deeper than {max_depth} levels")
            kind = value.__class__
            if kind is dict:
                value = obj(value, sub)
            elif kind is list:
                value = array(value, sub)
            result[name] = value
            disclosed.append(sub)
        return result

    def array(node: list[Any], path: ClaimPath) -> list[Any]:
        nonlocal used
        result: list[Any] = []
        deep = len(path) >= max_depth
        for item in node:
            kind = item.__class__
            if kind is dict and ARRAY_KEY in item:
                if len(item) != 1:
                    raise DisclosureMismatch("an array digest object must hold only the '...' key")
                # Step 3.3: an array element digest.
                digest = item[ARRAY_KEY]
                if digest.__class__ is not str:
                    raise MalformedSDJWT("every digest must be a string")
                if digest in seen:
                    raise DisclosureMismatch("a digest appears more than once in the credential")
                seen.add(digest)
                found = by_digest.get(digest)
                if found is None:
                    continue  # Step 3.3.3: an undisclosed element is removed.
                used += 1
                name, item = found
                if name is not None:
                    raise DisclosureMismatch("an object property disclosure is referenced from an array element")
                sub = path + (len(result),)
                if deep:
                    raise LimitExceeded(f"credential nests deeper than {max_depth} levels")
                kind = item.__class__
                if kind is dict:
                    item = obj(item, sub)
                elif kind is list:
                    item = array(item, sub)
                result.append(item)
                disclosed.append(sub)
            else:
                if deep:
                    raise LimitExceeded(f"credential nests deeper than {max_depth} levels")
                if kind is dict:
                    item = obj(item, path + (len(result),))
                elif kind is list:
                    item = array(item, path + (len(result),))
                result.append(item)
        return result

    claims = obj(payload, ())
    return claims, disclosed, used


class _Processor:
    """Step 3 over :class:`Disclosure` objects, for tests that run the RFC's steps one by one."""

    def __init__(self, disclosures: tuple[Disclosure, ...], max_depth: int) -> None:
        self.by_digest: dict[str, tuple[str | None, Any]] = {}
        for disclosure in disclosures:
            if disclosure.digest in self.by_digest:
                raise DisclosureMismatch("a disclosure appears more than once in the presentation")
            self.by_digest[disclosure.digest] = (disclosure.name, disclosure.value)
        self.max_depth = max_depth
        self.used: set[str] = set()
        self.disclosed: list[ClaimPath] = []

    def obj(self, obj: dict[str, Any], path: ClaimPath = ()) -> dict[str, Any]:
        if path:
            raise ValueError("processing starts at the payload's root")
        seen: set[str] = set()
        claims, self.disclosed, _ = _replace_digests(obj, self.by_digest, self.max_depth, seen)
        self.used = seen.intersection(self.by_digest)
        return claims


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
    max_depth = limits.max_depth

    # Section 7.1 step 1: separate the issuer-signed JWT and the disclosures (within limits).
    # The parts are kept as plain values: this is the hot path, and nothing here is returned.
    jwt, disclosures, kb_jwt = _split(presentation, limits)
    header, payload, signing_input, signature = _parse_jws(jwt, "issuer-signed JWT", max_depth)

    # Step 2.1: `none` and anything off the allow-list are refused; SD-JWT VC section 3.2.1: typ.
    alg = _check_header(header, algorithms, None, "issuer-signed JWT")
    header_typ = header.get("typ")
    if not isinstance(header_typ, str) or header_typ not in typ:
        raise MalformedSDJWT(f"issuer-signed JWT typ must be one of: {', '.join(sorted(typ))}")
    iss = payload.get("iss")
    if not isinstance(iss, str) or not iss:
        raise MalformedSDJWT("issuer-signed JWT has no 'iss'; civicid looks up issuer keys by it")
    kid = header.get("kid")
    if kid is not None and not isinstance(kid, str):
        raise MalformedSDJWT("issuer-signed JWT 'kid' must be a string")
    iat = payload.get("iat")
    if iat.__class__ is not int:
        iat = _numeric_date(payload, "iat", "issuer-signed JWT")

    # Step 2.2: verify the signature with the issuer's key as it was at `iat`.
    key = issuer_key(iss, kid, iat)
    if key.__class__ not in _KEY_CLASSES and (
        not callable(getattr(key, "verify", None)) or not isinstance(getattr(key, "alg", None), str)
    ):
        raise UnknownIssuerKey("no verification key is known for this issuer and kid")
    if key.alg != alg:
        raise UnsupportedAlgorithm("issuer-signed JWT alg does not match the issuer's key type")
    if not key.verify(signing_input, signature):
        raise SignatureInvalid(
            "issuer-signed JWT signature does not verify; the token was altered or signed by another key"
        )
    # The signature's base64url is canonical: the strict decoder refuses any other spelling.

    # Step 2.3: `_sd_alg` must be one we support.
    if payload.get("_sd_alg", SD_ALG) != SD_ALG:
        raise UnsupportedAlgorithm("_sd_alg must be 'sha-256'")

    # Step 3: replace digests with disclosures, refusing duplicates and reserved names.
    by_digest: dict[str, tuple[str | None, Any]] = {}
    for _encoded, (_salt, name, value, digest) in disclosures:
        if digest in by_digest:
            # Step 3.4 (and 7.3): the same disclosure twice is refused.
            raise DisclosureMismatch("a disclosure appears more than once in the presentation")
        by_digest[digest] = (name, value)
    claims, disclosed, used = _replace_digests(payload, by_digest, max_depth)
    # Step 4: every disclosure must be referenced by a digest somewhere.
    if used != len(disclosures):
        raise DisclosureMismatch("a disclosure is not referenced by any digest the issuer signed")
    # SD-JWT VC section 3.2.2.2: registered claims must stay in the issuer-signed payload;
    # were `exp` or `status` disclosable, a holder could simply withhold them.
    for path in disclosed:
        if len(path) == 1 and path[0] in NEVER_DISCLOSABLE:
            raise DisclosureMismatch(
                f"claim {path[0]!r} must not be selectively disclosed; the issuer must put it in the signed payload"
            )

    # SD-JWT VC section 3.2.2: vct is required, and must be a string.
    if not isinstance(claims.get("vct"), str) or not claims["vct"]:
        raise MalformedSDJWT("credential has no 'vct' string; it is not an SD-JWT VC")

    # Step 5: validity times, with bounded skew.
    exp = claims.get("exp")
    if exp is not None and now >= _numeric_date(claims, "exp", "credential") + leeway:  # type: ignore[operator]
        raise Expired("the credential has expired; ask the issuer for a new one")
    nbf = claims.get("nbf")
    if nbf is not None and now + leeway < _numeric_date(claims, "nbf", "credential"):  # type: ignore[operator]
        raise NotYetValid("the credential is not valid yet ('nbf' is in the future)")
    if iat is not None and now + leeway < iat:
        raise NotYetValid("the credential was issued in the future ('iat'); check the clocks")

    # Section 7.3 step 5: key binding (inline: this is the verifier's hot path).
    holder_jwk: Mapping[str, Any] | None = None
    kb_payload: Mapping[str, Any] | None = None
    if require_key_binding or kb_jwt is not None:
        if kb_jwt is None:
            raise KeyBindingError(
                "key binding is required but the presentation has no KB-JWT; present it with the holder key"
            )
        cnf = claims.get("cnf")
        holder_jwk = cnf.get("jwk") if cnf.__class__ is dict else None
        if holder_jwk.__class__ is not dict:
            raise KeyBindingError("the credential has no 'cnf.jwk' holder key, so it cannot be key-bound")
        try:
            # The holder key is built once, for this call only.
            holder_key = public_key_from_jwk(holder_jwk)
            kb_header, kb_payload, kb_input, kb_signature = _parse_jws(kb_jwt, "KB-JWT", max_depth)
            # 5a: typ must be kb+jwt; alg must be allowed.
            _check_header(kb_header, holder_algorithms, KB_TYP, "KB-JWT")
            # 5b: the signature verifies with the key in cnf (its base64url is canonical, see above).
            if holder_key.alg != kb_header.get("alg"):
                raise UnsupportedAlgorithm("KB-JWT alg does not match the type of its verification key")
            if not holder_key.verify(kb_input, kb_signature):
                raise SignatureInvalid(
                    "KB-JWT signature does not verify; the token was altered or signed by another key"
                )
        except SDJWTError as exc:
            raise KeyBindingError(f"key binding failed: {exc.message}") from exc
        # 5c: iat within the acceptable window.
        kb_iat = kb_payload.get("iat")
        if kb_iat.__class__ is not int and (isinstance(kb_iat, bool) or not isinstance(kb_iat, int)):
            raise KeyBindingError("KB-JWT has no integer 'iat'")
        if kb_iat > now + leeway:
            raise KeyBindingError("KB-JWT 'iat' is in the future; check the wallet's clock")
        if kb_iat < now - kb_max_age - leeway:
            raise KeyBindingError("KB-JWT is too old; the wallet must create a fresh presentation")
        # 5d: nonce and aud, compared in constant time.
        if audience is not None and not _same(kb_payload.get("aud"), audience):
            raise KeyBindingError("KB-JWT 'aud' does not name this verifier")
        if nonce is not None and not _same(kb_payload.get("nonce"), nonce):
            raise KeyBindingError("KB-JWT 'nonce' does not match this request; start a new request")
        # 5e: sd_hash over exactly the disclosures sent: the presentation up to and including the last '~'.
        if not _same(kb_payload.get("sd_hash"), sd_hash(presentation[: len(presentation) - len(kb_jwt)])):
            raise KeyBindingError("KB-JWT 'sd_hash' does not match the presented disclosures")

    # Token Status List section 8: the referenced status must be VALID.
    if status is not None:
        reference = StatusReference.from_claims(claims)
        if reference is None:
            raise InvalidSDJWT("the credential has no status reference, but this verifier requires one")
        status(reference)

    return VerifiedSDJWT(dict(header), claims, tuple(disclosed), holder_jwk, kb_payload)

