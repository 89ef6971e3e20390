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

import binascii
import hashlib
import hmac
import math
from dataclasses import dataclass
from typing import Any, Callable, Collection, Mapping

import nacl.exceptions

from .disclosure import _RESERVED_NAMES, ARRAY_KEY, SD_ALG, SD_KEY, Disclosure
from .encoding import _PADDING, _SCAN, _UNUSED_BITS, _URLSAFE_TO_STANDARD, DEFAULT_LIMITS, Limits, check_depth
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
from .jws import _FORBIDDEN_HEADERS, ALLOWED_ALGORITHMS, _check_header, _parse_header
from .jws import _parse as _parse_jws
from .keys import Ed25519PublicKey, P256PublicKey, PublicKey, _crypto_sign_open
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


class _Handover:
    """What the fast path learnt before it gave an input up, for the strict path to reuse.

    ``lookup`` is the issuer key lookup's ``((iss, kid, iat), key)``: the
    caller's callable is called once per verification, whichever path ends
    it. ``signatures`` holds ``(key, signing input, signature, valid)`` for the
    signatures already checked, so that no signature is verified twice: a
    forged one costs what it costs on the strict path alone.
    """

    __slots__ = ("lookup", "signatures")

    def __init__(
        self,
        lookup: tuple[tuple[str, str | None, int | None], PublicKey] | None = None,
        signatures: tuple[tuple[PublicKey, bytes, bytes, bool], ...] = (),
    ) -> None:
        self.lookup = lookup
        self.signatures = signatures

    def verify(self, key: PublicKey, signing_input: bytes, signature: bytes) -> bool:
        """``key.verify``, unless this very signature was checked already under an equal key."""
        if self.signatures and key.__class__ in _KEY_CLASSES:
            for known, known_input, known_signature, valid in self.signatures:
                if known == key and known_input == signing_input and known_signature == signature:
                    return valid
        return key.verify(signing_input, signature)


_NOTHING_LEARNT = _Handover()


def _verify_strict(
    presentation: str,
    issuer_key: IssuerKeyLookup,
    algorithms: Collection[str],
    now: int,
    audience: str | None,
    nonce: str | None,
    require_key_binding: bool,
    holder_algorithms: Collection[str],
    typ: Collection[str],
    leeway: int,
    kb_max_age: int,
    status: StatusCheck | None,
    limits: Limits,
    handover: _Handover,
) -> VerifiedSDJWT:
    """:func:`verify`, step by step: every input the fast path does not accept comes here.

    ``handover`` carries what the fast path already learnt from outside this
    module (the issuer key lookup's answer) or paid for (a signature that did
    not verify), so that nothing is looked up or verified twice.
    """
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
    if handover.lookup is not None and handover.lookup[0] == (iss, kid, iat):
        key = handover.lookup[1]
    else:
        key = issuer_key(iss, kid, iat)
    if key.__class__ not in _KEY_CLASSES and (
        not callable(getattr(key, "verify", None)) or not isinstance(getattr(key, "alg", None), str)
    ):
        raise UnknownIssuerKey("no verification key is known for this issuer and kid")
    if key.alg != alg:
        raise UnsupportedAlgorithm("issuer-signed JWT alg does not match the issuer's key type")
    if not handover.verify(key, signing_input, signature):
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
            if not handover.verify(holder_key, kb_input, kb_signature):
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

    The common case (a flat credential, canonical JSON without escapes) takes
    a fast path that makes every check of the step-by-step path; any input it
    does not accept, valid or not, is verified again step by step, which
    raises the error. The two are held equal by
    ``tests/sdjwt/test_fast_path_differential.py``.
    """
    if require_key_binding and (not audience or not nonce):
        raise ValueError("key binding needs the expected audience and nonce")
    if not algorithms:
        raise ValueError("algorithms must name at least one allowed algorithm")
    outcome = _verify_fast(
        presentation, issuer_key, algorithms, now, audience, nonce, require_key_binding,
        holder_algorithms, typ, leeway, kb_max_age, status, limits,
    )
    if outcome.__class__ is VerifiedSDJWT:
        return outcome
    return _verify_strict(
        presentation, issuer_key, algorithms, now, audience, nonce, require_key_binding,
        holder_algorithms, typ, leeway, kb_max_age, status, limits, outcome or _NOTHING_LEARNT,  # type: ignore[arg-type]
    )


# The fast path decodes each part with one strict a2b_base64 call, after checking the
# presentation once for the three characters only the standard alphabet has.
_a2b = binascii.a2b_base64
_b2a = binascii.b2a_base64
_sha256 = hashlib.sha256
_STANDARD_TO_URLSAFE = bytes.maketrans(b"+/", b"-_")
# The 6-bit value of each base64url byte, for the unused-bits rule (RFC 4648 section 3.5).
_B64URL_VALUE = bytes(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".find(chr(i)) & 63 for i in range(256)
)
_OKP_ED25519 = ("OKP", "Ed25519")
_PRIVATE_JWK_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
_BadSignature = nacl.exceptions.BadSignatureError
try:  # A dependency; should a platform lack it, binascii does the same work a little slower.
    from pybase64 import b64decode as _b64decode
except ImportError:  # pragma: no cover
    _b64decode = None
_SIMD_FROM = 200


# Protected headers repeat (one per issuer key, one per holder algorithm): the fast path keeps
# the parses of headers whose members are all plain values (so valid under any max_depth),
# keyed by their base64url bytes. Bounded; never mutated by a reader.
_HEADERS: dict[bytes, dict[str, Any]] = {}
_HEADER_CACHE_SIZE = 256


def _header(encoded: bytes, what: str, max_depth: int) -> dict[str, Any]:
    header = _parse_header(encoded.decode("ascii"), what, max_depth)
    if header.__class__ is dict and not any(value.__class__ in (dict, list) for value in header.values()):
        if len(_HEADERS) >= _HEADER_CACHE_SIZE:
            _HEADERS.clear()
        _HEADERS[encoded] = header
    return header


def _unpadded(encoded: bytes) -> bytes | None:
    """Strict unpadded base64url of bytes known to hold no '+', '/' or '=', or None.

    Long parts (the issuer payload) go to pybase64's SIMD decoder, which reads the URL-safe
    alphabet itself (measured here: 0.5 us against 1.5 us for 870 characters); short ones stay
    with binascii, which wins below a couple of hundred characters. Both are strict: with
    ``validate=True`` pybase64 refuses any byte outside the alphabet and wrong padding, and the
    caller has already refused '+', '/' and '=' in the whole presentation.
    """
    rest = len(encoded) & 3
    if rest == 1 or rest and _B64URL_VALUE[encoded[-1]] & _UNUSED_BITS[rest]:
        return None
    if _b64decode is not None and len(encoded) >= _SIMD_FROM:
        return _b64decode(encoded + _PADDING[rest], altchars=b"-_", validate=True)
    return _a2b(encoded.translate(_URLSAFE_TO_STANDARD) + _PADDING[rest], strict_mode=True)


def _verify_fast(
    presentation: str,
    issuer_key: IssuerKeyLookup,
    algorithms: Collection[str],
    now: int,
    audience: str | None,
    nonce: str | None,
    require_key_binding: bool,
    holder_algorithms: Collection[str],
    typ: Collection[str],
    leeway: int,
    kb_max_age: int,
    status: StatusCheck | None,
    limits: Limits,
) -> VerifiedSDJWT | _Handover | None:
    """The common case of :func:`verify` in one function, or what it learnt before giving up.

    It accepts a subset of what :func:`_verify_strict` accepts and returns the
    same :class:`VerifiedSDJWT`: an EdDSA or ES256 issuer key of our own
    classes; JSON without backslash escapes. Flat credentials (every digest in
    the payload's top-level ``_sd``) are put together inline; recursive
    disclosures, nested ``_sd`` and array elements (a PID's ``address`` and
    ``nationalities``) go through the strict path's own step-3 walk,
    :func:`_replace_digests`. It makes
    every check of the strict path, each as a test that gives up instead of
    raising: ``None`` (nothing learnt) or a :class:`_Handover` sends the input to
    the strict path, which words the error. Without a backslash, every ``"`` in a
    JSON text delimits a string, so reserved names are looked for as substrings,
    and a text with no more brackets than ``max_depth`` cannot nest deeper.

    The callables are called as the strict path calls them: ``issuer_key`` only
    once every check that precedes it there has passed, ``status`` only when
    nothing else can fail. Their exceptions propagate, as there.
    """
    max_depth = limits.max_depth
    try:
        # Section 7.1 step 1: within limits, ASCII, no character of the standard alphabet only.
        if presentation.__class__ is not str or len(presentation) > limits.max_length or not presentation.isascii():
            return None
        raw = presentation.encode("ascii")
        if b"+" in raw or b"/" in raw or b"=" in raw:
            return None
        parts = raw.split(b"~")
        count = len(parts) - 2
        if count < 0 or count > limits.max_disclosures:
            return None

        # The disclosures: JSON arrays [salt, name, value]. A reserved name is refused below, where
        # every name is checked against NEVER_DISCLOSABLE; a value that is an object or an array
        # must hold no reserved name and fit in max_depth.
        entries: list[tuple[str | None, Any]] = []
        hashes: list[bytes] = []
        # Whether step 3 needs the general walk (`_replace_digests`, the strict path's own): an
        # `_sd` below the top, an array element digest, or an array element disclosure.
        nested = False
        for index in range(1, count + 1):
            encoded = parts[index]
            rest = len(encoded) & 3
            if rest == 1 or rest and _B64URL_VALUE[encoded[-1]] & _UNUSED_BITS[rest]:
                return None
            text = _a2b(encoded.translate(_URLSAFE_TO_STANDARD) + _PADDING[rest], strict_mode=True).decode("utf-8")
            array, end = _SCAN(text, 0)
            if end != len(text) or array.__class__ is not list or "\\" in text:
                return None
            if len(array) == 3:
                salt, name, value = array
                if name.__class__ is not str or name in _RESERVED_NAMES:
                    return None
            else:
                salt, value = array  # A ValueError unless there are two.
                name = None
                nested = True
            if salt.__class__ is not str:
                return None
            if value.__class__ is dict or value.__class__ is list:
                if text.count("[") + text.count("{") > max_depth:
                    return None
                if '"_sd' in text or '"..."' in text:
                    nested = True
            entries.append((name, value))
            hashes.append(_sha256(encoded).digest())
        # Section 4.2.3: 32 bytes and a zero byte are 44 base64 characters whose first 43 are the
        # digest's unpadded base64, so one encode serves every disclosure.
        digests = _b2a(b"\0".join(hashes) + b"\0", newline=False).translate(_STANDARD_TO_URLSAFE).decode("ascii")
        # A disclosure sent twice makes one entry here, and then fails step 4's count below.
        by_digest: dict[str, tuple[str, Any]] = {}
        for index in range(count):
            by_digest[digests[44 * index : 44 * index + 43]] = entries[index]

        # The issuer-signed JWT: the memoised header, the payload, the signature.
        # (`_unpadded` returns None for a non-canonical part: `.decode` then raises AttributeError.)
        jwt = parts[0]
        pieces = jwt.split(b".")
        if len(pieces) != 3:
            return None
        encoded_header, encoded_payload, encoded_signature = pieces
        header = _HEADERS.get(encoded_header) or _header(encoded_header, "issuer-signed JWT", max_depth)
        text = _unpadded(encoded_payload).decode("utf-8")  # type: ignore[union-attr]
        payload, end = _SCAN(text, 0)
        if end != len(text) or header.__class__ is not dict or payload.__class__ is not dict or "\\" in text:
            return None
        sd = payload.get(SD_KEY)
        # The flat case: the only `_sd` is the top-level one, `_sd_alg` is at the top or nowhere,
        # there is no `...`, and too few brackets to nest past the limit. Anything else takes the
        # general walk of step 3, after the depth check the strict path's parser makes.
        if text.count('"_sd') != (sd is not None) + ("_sd_alg" in payload) or '"..."' in text:
            nested = True
        if text.count("[") + text.count("{") > max_depth:
            check_depth(payload, max_depth)
            nested = True
        signature = _unpadded(encoded_signature)
        if signature is None:
            return None
        signing_input = jwt[: len(encoded_header) + 1 + len(encoded_payload)]

        # Step 2.1 and SD-JWT VC section 3.2.1: alg allow-list, no key-carrying headers, typ; iss, kid, iat.
        alg = header.get("alg")
        header_typ = header.get("typ")
        kid = header.get("kid")
        iss = payload.get("iss")
        iat = payload.get("iat")
        if (
            alg.__class__ is not str
            or alg not in algorithms
            or alg not in ALLOWED_ALGORITHMS
            or not _FORBIDDEN_HEADERS.isdisjoint(header)
            or header_typ.__class__ is not str
            or header_typ not in typ
            or iss.__class__ is not str
            or not iss
            or kid is not None and kid.__class__ is not str
            or iat is not None and iat.__class__ is not int
        ):
            return None

        # Step 2.3: `_sd_alg`.
        if payload.get("_sd_alg", SD_ALG) != SD_ALG:
            return None

        # Step 3: each digest a string, and once (3.4); the disclosed claims follow the
        # always-visible ones in the order of `_sd`, never over an existing name (3.2.2) and
        # never a registered claim (SD-JWT VC section 3.2.2.2). The payload is this call's own
        # parse, so it becomes the claims in place.
        claims = payload
        disclosed: list[ClaimPath] = []
        if nested:
            # Step 3 as the strict path makes it; any error hands the input over. A disclosure sent
            # twice makes one entry here, so `used` falls short of `count` (step 4 below).
            claims, disclosed, used = _replace_digests(payload, by_digest, max_depth)  # type: ignore[arg-type]
            if used != count:
                return None
            for path in disclosed:
                if len(path) == 1 and path[0] in NEVER_DISCLOSABLE:
                    return None
        elif sd is not None:
            del claims[SD_KEY]
            "".join(sd)  # A TypeError unless `_sd` is an array of strings.
            if sd.__class__ is not list or len(set(sd)) != len(sd):
                return None
            for digest in sd:
                found = by_digest.get(digest)
                if found is not None:
                    name, value = found
                    if name in claims or name in NEVER_DISCLOSABLE:
                        return None
                    claims[name] = value
                    disclosed.append((name,))
            if "_sd_alg" in claims:
                del claims["_sd_alg"]
            # Step 4: every disclosure is referenced.
            if len(disclosed) != count:
                return None
        elif "_sd_alg" in claims or count:
            # No `_sd` at all: `_sd_alg` goes, and a disclosure cannot be referenced.
            if count:
                return None
            del claims["_sd_alg"]

        # SD-JWT VC section 3.2.2: vct; step 5: validity times.
        vct = claims.get("vct")
        exp = claims.get("exp")
        nbf = claims.get("nbf")
        if (
            vct.__class__ is not str
            or not vct
            or exp is not None and (exp.__class__ is not int or now >= exp + leeway)
            or nbf is not None and (nbf.__class__ is not int or now + leeway < nbf)
            or iat is not None and now + leeway < iat
        ):
            return None

        # Section 7.3 step 5: key binding, all but the signature.
        kb_jwt = parts[-1]
        holder_jwk: dict[str, Any] | None = None
        kb_payload: dict[str, Any] | None = None
        if kb_jwt:
            cnf = claims.get("cnf")
            holder_jwk = cnf.get("jwk") if cnf.__class__ is dict else None
            if holder_jwk.__class__ is not dict or not _PRIVATE_JWK_MEMBERS.isdisjoint(holder_jwk):
                return None
            pieces = kb_jwt.split(b".")
            if len(pieces) != 3:
                return None
            kb_encoded_header, kb_encoded_payload, kb_encoded_signature = pieces
            kb_header = _HEADERS.get(kb_encoded_header) or _header(kb_encoded_header, "KB-JWT", max_depth)
            text = _unpadded(kb_encoded_payload).decode("utf-8")  # type: ignore[union-attr]
            kb_payload, end = _SCAN(text, 0)
            if (
                end != len(text)
                or kb_header.__class__ is not dict
                or kb_payload.__class__ is not dict
                or "\\" in text
                or text.count("[") + text.count("{") > max_depth
            ):
                return None
            decoded = _unpadded(kb_encoded_signature)
            if decoded is None:
                return None
            kb_signature = decoded
            kb_input = kb_jwt[: len(kb_encoded_header) + 1 + len(kb_encoded_payload)]
            # 5a: typ and the holder's allow-list; the key in cnf is of the same type.
            kb_alg = kb_header.get("alg")
            if (
                kb_alg.__class__ is not str
                or kb_alg not in holder_algorithms
                or kb_alg not in ALLOWED_ALGORITHMS
                or not _FORBIDDEN_HEADERS.isdisjoint(kb_header)
                or kb_header.get("typ") != KB_TYP
            ):
                return None
            if holder_jwk.get("kty") == "OKP" and holder_jwk.get("crv") == "Ed25519":
                x = holder_jwk["x"]
                if kb_alg != "EdDSA" or not x.isascii() or "+" in x or "/" in x or "=" in x:
                    return None
                decoded = _unpadded(x.encode("ascii"))
                if decoded is None or len(decoded) != 32:
                    return None
                holder_raw = decoded
                holder_key: PublicKey | None = None
            else:
                holder_key = public_key_from_jwk(holder_jwk)
                if holder_key.__class__ is not P256PublicKey or kb_alg != "ES256":
                    return None
            # 5c: iat within the window; 5d: aud and nonce; 5e: sd_hash over the presentation up
            # to and including the last '~'. compare_digest is constant-time, and raises a
            # TypeError for anything but two ASCII strings.
            kb_iat = kb_payload.get("iat")
            if kb_iat.__class__ is not int or kb_iat > now + leeway or kb_iat < now - kb_max_age - leeway:
                return None
            if audience is not None and not _compare(kb_payload.get("aud"), audience):
                return None
            if nonce is not None and not _compare(kb_payload.get("nonce"), nonce):
                return None
            expected_hash = _b2a(_sha256(raw[: len(raw) - len(kb_jwt)]).digest(), newline=False)[:43]
            if not _compare(kb_payload.get("sd_hash"), expected_hash.translate(_STANDARD_TO_URLSAFE).decode("ascii")):
                return None
        elif require_key_binding:
            return None
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, StopIteration, RecursionError, SDJWTError):
        return None

    # Every check but the signatures and the status has passed: the strict path would make this
    # lookup too, with these arguments. The two signatures are then verified back to back.
    # Step 2.2: the issuer's key as it was at `iat`; giving up from here hands the answer over.
    key = issuer_key(iss, kid, iat)
    lookup = ((iss, kid, iat), key)
    key_class = key.__class__
    if key_class is Ed25519PublicKey and alg == "EdDSA" and len(signature) == 64:
        try:
            _crypto_sign_open(signature + signing_input, key.raw)  # type: ignore[attr-defined]
        except _BadSignature:
            return _Handover(lookup, ((key, signing_input, signature, False),))
    elif key_class is P256PublicKey and alg == "ES256":
        if not key.verify(signing_input, signature):
            return _Handover(lookup, ((key, signing_input, signature, False),))
    else:
        return _Handover(lookup)
    # Section 7.3 step 5b: the KB-JWT signature verifies with the key in cnf.
    if kb_jwt:
        if holder_key is None:
            try:
                _crypto_sign_open(kb_signature + kb_input, holder_raw)
            except _BadSignature:
                return _Handover(
                    lookup,
                    (
                        (key, signing_input, signature, True),
                        (Ed25519PublicKey(holder_raw), kb_input, kb_signature, False),
                    ),
                )
        elif not holder_key.verify(kb_input, kb_signature):
            return _Handover(lookup, ((key, signing_input, signature, True), (holder_key, kb_input, kb_signature, False)))

    # Token Status List section 8: last, once nothing else can fail.
    if status is not None:
        try:
            reference = StatusReference.from_claims(claims)
        except SDJWTError:
            reference = None
        if reference is None:
            return _Handover(lookup, ((key, signing_input, signature, True),))
        status(reference)

    return VerifiedSDJWT(dict(header), claims, tuple(disclosed), holder_jwk, kb_payload)


_compare: Callable[[Any, Any], bool] = hmac.compare_digest
