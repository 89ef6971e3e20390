"""Issuing an SD-JWT VC (RFC 9901 section 4, SD-JWT VC section 3).

The issuer gives the claims and a *disclosability map*: the list of claim
paths that the holder may later choose to reveal. A path is a tuple of object
keys and array indices (``None`` meaning every element), in the style of the
claims path pointers of SD-JWT VC section 7 and DCQL. ``("address", "locality")``
makes one address part disclosable, ``("nationalities", None)`` every array
element, ``("address",)`` the address object as a whole; both may be given.

:class:`CompiledIssuer` compiles the map once, for an issuer that signs many
credentials of one type; :func:`issue` compiles it per call. Both produce the
same bytes for the same claims and random source.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from .disclosure import _ENCODER, ARRAY_KEY, SD_ALG, SD_KEY, Digest, Disclosure, _sha256_b64url, decoy_digest
from .encoding import b64url_encode
from .errors import IssuanceError, SDJWTError
from .jwk import public_key_from_jwk
from .jws import sign_compact
from .keys import PrivateKey, RandomSource
from .vc import NEVER_DISCLOSABLE, TYP, StatusReference

__all__ = ["ClaimPath", "CompiledIssuer", "IssuedSDJWT", "issue", "SALT_BYTES"]

ClaimPath = tuple[str | int | None, ...]

_RESERVED = frozenset({SD_KEY, ARRAY_KEY, "_sd_alg"})

SALT_BYTES = 16
"""128-bit salts, as RFC 9901 section 9.3 recommends."""


@dataclass(frozen=True, slots=True)
class IssuedSDJWT:
    """An issued SD-JWT: the issuer-signed JWT and every disclosure."""

    jwt: str
    disclosures: tuple[Disclosure, ...]

    def serialize(self) -> str:
        """Section 4: ``<JWT>~<D1>~...~<Dn>~`` (no Key Binding JWT yet)."""
        return "".join([self.jwt, "~", *(d.encoded + "~" for d in self.disclosures)])


class _Node:
    """A node of the disclosability map: is this claim disclosable, and which children are."""

    __slots__ = ("selective", "children")

    def __init__(self) -> None:
        self.selective = False
        self.children: dict[str | int | None, _Node] = {}


_LEAF = _Node()


def _build_tree(paths: Iterable[ClaimPath]) -> _Node:
    root = _Node()
    for path in paths:
        if not isinstance(path, tuple) or not path:
            raise ValueError("each disclosable path must be a non-empty tuple of keys and indices")
        if isinstance(path[0], str) and path[0] in NEVER_DISCLOSABLE:
            raise IssuanceError(
                f"claim {path[0]!r} must never be selectively disclosable (RFC 9901 / SD-JWT VC section 3.2.2.2)"
            )
        node = root
        for step in path:
            node = node.children.setdefault(step, _Node())
        node.selective = True
    return root


class _Refused(Exception):
    """An IssuanceError on its way out: each level adds its step to the claim's path, so that
    paths are built only for an error. The message is ``before + path + after``."""

    def __init__(self, before: str, after: str) -> None:
        super().__init__(before, after)
        self.before, self.after = before, after
        self.steps: list[str] = []

    def error(self) -> IssuanceError:
        return IssuanceError(self.before + "$" + "".join(reversed(self.steps)) + self.after)


# One disclosure: (encoded, salt, name, value, digest), as Disclosure holds it.
_Made = tuple[str, str, "str | None", Any, Digest]


class _Run:
    """One credential's issuance: the random source, the decoys per object, the disclosures made."""

    __slots__ = ("random", "decoys", "skip_absent", "made")

    def __init__(self, random: RandomSource, decoys: int, skip_absent: bool) -> None:
        self.random = random
        self.decoys = decoys
        self.skip_absent = skip_absent
        self.made: list[_Made] = []

    def disclose(self, name: str | None, value: Any) -> Digest:
        # Section 4.2.1: base64url of the JSON array [salt, (name,) value], in the JSON style of
        # the RFC's examples (json.dumps defaults, non-ASCII kept). One shared encoder.
        salt_bytes = self.random(SALT_BYTES)
        if not isinstance(salt_bytes, bytes) or len(salt_bytes) != SALT_BYTES:
            raise ValueError("the random source must return the number of bytes asked for")
        salt = b64url_encode(salt_bytes)
        array = [salt, value] if name is None else [salt, name, value]
        encoded = b64url_encode(_ENCODER.encode(array).encode("utf-8"))
        digest = _sha256_b64url(encoded)
        self.made.append((encoded, salt, name, value, digest))
        return digest

    def value(self, value: Any, node: _Node) -> Any:
        if isinstance(value, dict):
            return self.object(value, node)
        if isinstance(value, list):
            return self.array(value, node)
        if node.children:
            raise _Refused("claim ", " is not an object or array, so nothing inside it can be disclosable")
        return value

    def object(self, obj: Mapping[str, Any], node: _Node) -> dict[str, Any]:
        for name in obj:
            if name.__class__ is not str and not isinstance(name, str) or name in _RESERVED:
                raise _Refused(f"claim name {name!r} under ", " is reserved by RFC 9901")
        children = node.children
        if not self.skip_absent:
            for key in children:
                if key.__class__ is not str and not isinstance(key, str) or key not in obj:
                    raise _Refused("disclosable claim ", f".{key} is not in the claims")
        result: dict[str, Any] = {}
        digests: list[str] = []
        for name, value in obj.items():
            child = children.get(name, _LEAF)
            try:
                processed = self.value(value, child)
            except _Refused as refused:
                refused.steps.append(f".{name}")
                raise
            if child.selective:
                digests.append(self.disclose(name, processed))
            else:
                result[name] = processed
        if digests:
            if self.decoys:
                digests.extend(decoy_digest(self.random(SALT_BYTES)) for _ in range(self.decoys))
            # Section 4.2.4.1: the order of digests must not reveal the claims' order.
            result[SD_KEY] = sorted(digests)
        return result

    def array(self, array: list[Any], node: _Node) -> list[Any]:
        children = node.children
        every = children.get(None)
        if not self.skip_absent:
            for key in children:
                if key is not None and (not isinstance(key, int) or isinstance(key, bool) or not 0 <= key < len(array)):
                    raise _Refused("disclosable element ", f"[{key}] is not in the claims")
        result: list[Any] = []
        for index, value in enumerate(array):
            child = children.get(index) or every or _LEAF
            try:
                processed = self.value(value, child)
            except _Refused as refused:
                refused.steps.append(f"[{index}]")
                raise
            if child.selective:
                result.append({ARRAY_KEY: self.disclose(None, processed)})
            else:
                result.append(processed)
        return result


class CompiledIssuer:
    """Issue SD-JWT VCs (RFC 9901 section 4, SD-JWT VC section 3) for one set of disclosable paths.

    The disclosability map is checked and compiled once, here; each credential
    then costs its disclosures and one signature: the claims are read, never
    copied or changed, and every disclosure is encoded by one shared JSON
    encoder. :func:`issue` is this class used once, so both give the same bytes
    for the same claims and random source.

    With ``skip_absent``, a disclosable path whose claim is absent (an optional
    claim such as ``("address", "region")``) is skipped; by default it is
    refused, as a disclosability map that names a missing claim is usually a
    mistake.
    """

    __slots__ = ("_root", "_skip_absent")

    def __init__(self, disclosable: Iterable[ClaimPath], *, skip_absent: bool = False) -> None:
        self._root = _build_tree(disclosable)
        self._skip_absent = skip_absent

    def issue(
        self,
        claims: Mapping[str, Any],
        *,
        issuer_key: PrivateKey,
        kid: str,
        iss: str,
        vct: str,
        iat: int,
        random: RandomSource,
        exp: int | None = None,
        nbf: int | None = None,
        holder_jwk: Mapping[str, str] | None = None,
        status: StatusReference | None = None,
        decoys: int = 0,
        typ: str = TYP,
    ) -> IssuedSDJWT:
        """Issue one credential; the arguments are those of :func:`issue`.

        ``random`` supplies salts and decoys (``nacl.utils.random`` in
        production, a seeded source in tests). The registered claims come from
        the keyword arguments only, so a claims object cannot smuggle in a
        second issuer or type. ``holder_jwk`` is taken as given, for a key the
        caller has already parsed (a verified key proof's); only private key
        members are refused. :func:`issue` parses it in full.
        """
        jwt, made = self._sign(claims, issuer_key, kid, iss, vct, iat, random, exp, nbf, holder_jwk, status, decoys, typ)
        return IssuedSDJWT(jwt, tuple(Disclosure(*entry) for entry in made))

    def serialize(
        self,
        claims: Mapping[str, Any],
        *,
        issuer_key: PrivateKey,
        kid: str,
        iss: str,
        vct: str,
        iat: int,
        random: RandomSource,
        exp: int | None = None,
        nbf: int | None = None,
        holder_jwk: Mapping[str, str] | None = None,
        status: StatusReference | None = None,
        decoys: int = 0,
        typ: str = TYP,
    ) -> str:
        """:meth:`issue` serialised, ``<JWT>~<D1>~...~<Dn>~``, without a :class:`Disclosure` per disclosure."""
        jwt, made = self._sign(claims, issuer_key, kid, iss, vct, iat, random, exp, nbf, holder_jwk, status, decoys, typ)
        return "".join([jwt, "~", *(entry[0] + "~" for entry in made)])

    def _sign(
        self,
        claims: Mapping[str, Any],
        issuer_key: PrivateKey,
        kid: str,
        iss: str,
        vct: str,
        iat: int,
        random: RandomSource,
        exp: int | None,
        nbf: int | None,
        holder_jwk: Mapping[str, str] | None,
        status: StatusReference | None,
        decoys: int,
        typ: str,
    ) -> tuple[str, list[_Made]]:
        if not isinstance(claims, Mapping):
            raise TypeError("claims must be a mapping")
        # Reserved names (`_sd`, `...`, `_sd_alg`) are refused as such while the claims are read.
        clash = _SET_BY_ISSUER.intersection(claims)
        if clash:
            raise IssuanceError(
                f"claim {sorted(clash)[0]!r} is set by the issuer, not in the claims object; pass it as a keyword"
            )
        if decoys < 0:
            raise ValueError("decoys must be zero or more")
        if holder_jwk is not None and not _PRIVATE_JWK_MEMBERS.isdisjoint(holder_jwk):
            # RFC 7800 section 3.2: cnf.jwk is the holder's *public* key.
            raise IssuanceError("holder JWK must be a public key: it contains private key material")
        run = _Run(random, decoys, self._skip_absent)
        try:
            body = run.object(claims, self._root)
        except _Refused as refused:
            raise refused.error() from None
        payload: dict[str, Any] = {"iss": iss, "iat": iat}
        if nbf is not None:
            payload["nbf"] = nbf
        if exp is not None:
            payload["exp"] = exp
        payload["vct"] = vct
        if holder_jwk is not None:
            payload["cnf"] = {"jwk": dict(holder_jwk)}
        if status is not None:
            payload["status"] = status.to_claim()
        payload.update(body)
        payload["_sd_alg"] = SD_ALG
        return sign_compact({"typ": typ, "kid": kid}, payload, issuer_key), run.made


_SET_BY_ISSUER = NEVER_DISCLOSABLE - _RESERVED
_PRIVATE_JWK_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})


def issue(
    claims: Mapping[str, Any],
    *,
    disclosable: Iterable[ClaimPath],
    issuer_key: PrivateKey,
    kid: str,
    iss: str,
    vct: str,
    iat: int,
    random: RandomSource,
    exp: int | None = None,
    nbf: int | None = None,
    holder_jwk: Mapping[str, str] | None = None,
    status: StatusReference | None = None,
    decoys: int = 0,
    typ: str = TYP,
) -> IssuedSDJWT:
    """Issue an SD-JWT VC: :class:`CompiledIssuer` for one credential.

    ``random`` supplies salts and decoys (pass ``nacl.utils.random`` in
    production, a seeded source in tests). The registered claims (``iss``,
    ``iat``, ``vct``, ...) come from the keyword arguments only, so a claims
    object cannot smuggle in a second issuer or type.
    """
    if not isinstance(claims, Mapping):
        raise TypeError("claims must be a mapping")
    clash = _SET_BY_ISSUER.intersection(claims)
    if clash:
        raise IssuanceError(
            f"claim {sorted(clash)[0]!r} is set by the issuer, not in the claims object; pass it as a keyword"
        )
    if decoys < 0:
        raise ValueError("decoys must be zero or more")
    if holder_jwk is not None:
        # RFC 7800 section 3.2: cnf.jwk is the holder's *public* key; a private
        # member here would publish the holder's key to every verifier.
        try:
            public_key_from_jwk(holder_jwk)
        except SDJWTError as exc:
            raise IssuanceError(f"holder JWK must be a public key: {exc.message}") from exc
    return CompiledIssuer(disclosable).issue(
        claims,
        issuer_key=issuer_key,
        kid=kid,
        iss=iss,
        vct=vct,
        iat=iat,
        random=random,
        exp=exp,
        nbf=nbf,
        holder_jwk=holder_jwk,
        status=status,
        decoys=decoys,
        typ=typ,
    )
