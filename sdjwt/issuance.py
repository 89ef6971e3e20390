"""Issuing an SD-JWT VC (RFC 9901 section 4, SD-JWT VC section 3).

The issuer gives the claims and a *disclosability map*: the list of claim
paths that the holder may later choose to reveal. A path is a tuple of object
keys and array indices (``None`` meaning every element), in the style of the
claims path pointers of SD-JWT VC section 7 and DCQL. ``("address", "locality")``
makes one address part disclosable, ``("nationalities", None)`` every array
element, ``("address",)`` the address object as a whole; both may be given.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from .disclosure import ARRAY_KEY, SD_ALG, SD_KEY, Digest, Disclosure, decoy_digest
from .encoding import b64url_encode
from .errors import IssuanceError, SDJWTError
from .jwk import public_key_from_jwk
from .jws import sign_compact
from .keys import PrivateKey, RandomSource
from .vc import NEVER_DISCLOSABLE, TYP, StatusReference

__all__ = ["ClaimPath", "IssuedSDJWT", "issue", "SALT_BYTES"]

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


@dataclass
class _Node:
    """A node of the disclosability map: is this claim disclosable, and which children are."""

    selective: bool = False
    children: dict[str | int | None, "_Node"] = field(default_factory=dict)


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


class _Issuer:
    def __init__(self, random: RandomSource, decoys: int) -> None:
        self.random = random
        self.decoys = decoys
        self.disclosures: list[Disclosure] = []

    def salt(self) -> str:
        salt = self.random(SALT_BYTES)
        if not isinstance(salt, bytes) or len(salt) != SALT_BYTES:
            raise ValueError("the random source must return the number of bytes asked for")
        return b64url_encode(salt)

    def _disclose(self, name: str | None, value: Any) -> Digest:
        disclosure = Disclosure.create(self.salt(), name, value)
        self.disclosures.append(disclosure)
        return disclosure.digest

    def process(self, value: Any, node: _Node, path: str) -> Any:
        if isinstance(value, dict):
            return self._object(value, node, path)
        if isinstance(value, list):
            return self._array(value, node, path)
        if node.children:
            raise IssuanceError(f"claim {path} is not an object or array, so nothing inside it can be disclosable")
        return value

    def _object(self, obj: dict[str, Any], node: _Node, path: str) -> dict[str, Any]:
        for name in obj:
            if not isinstance(name, str) or name in (SD_KEY, ARRAY_KEY, "_sd_alg"):
                raise IssuanceError(f"claim name {name!r} under {path} is reserved by RFC 9901")
        for key in node.children:
            if not isinstance(key, str) or key not in obj:
                raise IssuanceError(f"disclosable claim {path}.{key} is not in the claims")
        result: dict[str, Any] = {}
        digests: list[str] = []
        for name, value in obj.items():
            child = node.children.get(name, _Node())
            processed = self.process(value, child, f"{path}.{name}")
            if child.selective:
                digests.append(self._disclose(name, processed))
            else:
                result[name] = processed
        if digests:
            digests.extend(decoy_digest(self.random(SALT_BYTES)) for _ in range(self.decoys))
            # Section 4.2.4.1: the order of digests must not reveal the claims' order.
            result[SD_KEY] = sorted(digests)
        return result

    def _array(self, array: list[Any], node: _Node, path: str) -> list[Any]:
        every = node.children.get(None)
        for key in node.children:
            if key is not None and (not isinstance(key, int) or isinstance(key, bool) or not 0 <= key < len(array)):
                raise IssuanceError(f"disclosable element {path}[{key}] is not in the claims")
        result: list[Any] = []
        for index, value in enumerate(array):
            child = node.children.get(index) or every or _Node()
            processed = self.process(value, child, f"{path}[{index}]")
            if child.selective:
                result.append({ARRAY_KEY: self._disclose(None, processed)})
            else:
                result.append(processed)
        return result


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
    """Issue an SD-JWT VC.

    ``random`` supplies salts and decoys (pass ``nacl.utils.random`` in
    production, a seeded source in tests). The registered claims (``iss``,
    ``iat``, ``vct``, ...) come from the keyword arguments only, so a claims
    object cannot smuggle in a second issuer or type.
    """
    if not isinstance(claims, Mapping):
        raise TypeError("claims must be a mapping")
    # Reserved names (`_sd`, `...`, `_sd_alg`) are refused as such by `_Issuer._object` below.
    clash = (NEVER_DISCLOSABLE - _RESERVED).intersection(claims)
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
    tree = _build_tree(disclosable)
    issuer = _Issuer(random, decoys)
    body = issuer._object(copy.deepcopy(dict(claims)), tree, "$")
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
    token = sign_compact({"typ": typ, "kid": kid}, payload, issuer_key)
    return IssuedSDJWT(token, tuple(issuer.disclosures))
