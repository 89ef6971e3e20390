"""The issuer's SD-JWT VC signer, compiled once per credential type.

It produces exactly what :func:`sdjwt.issue` produces for the same claims,
disclosability paths and random source, byte for byte (pinned by
``tests/issuer/test_signing.py``), with the per-call work that the credential
endpoint repeats for every credential done once per type instead:

* the disclosability map is compiled once (``sdjwt.issue`` rebuilds it per call);
* the claims are not deep-copied (they come from the offer row and are only read);
* each disclosure is encoded with one shared ``json.JSONEncoder(ensure_ascii=False)``
  (``json.dumps`` with a keyword builds a new encoder per call) and kept as its
  string, with no per-disclosure object;
* the holder key is not re-parsed: it is the public JWK of a verified key proof.

Disclosure encoding, digests and the JWS come from :mod:`sdjwt`'s own
primitives (``b64url_encode``, ``digest``, ``sign_compact``). A disclosable
path whose claim is absent (an optional claim such as ``address.region``) is
skipped, where ``sdjwt.issue`` refuses it: the issuer discloses what the
offer holds. The measured effect is in docs/issuer.md (Measured).
"""

from __future__ import annotations

import json
from typing import Any, Callable, Iterable, Mapping

from sdjwt import ClaimPath, IssuanceError, PrivateKey, StatusReference
from sdjwt.disclosure import ARRAY_KEY, SD_ALG, SD_KEY, digest
from sdjwt.encoding import b64url_encode
from sdjwt.issuance import SALT_BYTES
from sdjwt.jws import sign_compact
from sdjwt.vc import NEVER_DISCLOSABLE, TYP

__all__ = ["CredentialSigner"]

_ENCODER = json.JSONEncoder(ensure_ascii=False)
_RESERVED = frozenset({SD_KEY, ARRAY_KEY, "_sd_alg"})


class _Node:
    """Whether a claim is disclosable, and its children's nodes (``None`` = every array element)."""

    __slots__ = ("selective", "children")

    def __init__(self) -> None:
        self.selective = False
        self.children: dict[str | int | None, _Node] = {}


_LEAF = _Node()


class CredentialSigner:
    """Sign SD-JWT VCs (RFC 9901 section 4, SD-JWT VC section 3) for one set of disclosable paths."""

    def __init__(self, disclosable: Iterable[ClaimPath]) -> None:
        root = _Node()
        for path in disclosable:
            if not isinstance(path, tuple) or not path:
                raise ValueError("each disclosable path must be a non-empty tuple of keys and indices")
            if isinstance(path[0], str) and path[0] in NEVER_DISCLOSABLE:
                raise IssuanceError(f"claim {path[0]!r} must never be selectively disclosable (SD-JWT VC section 3.2.2.2)")
            node = root
            for step in path:
                node = node.children.setdefault(step, _Node())
            node.selective = True
        self._root = root

    def sign(
        self,
        claims: Mapping[str, Any],
        *,
        issuer_key: PrivateKey,
        kid: str,
        iss: str,
        vct: str,
        iat: int,
        exp: int,
        holder_jwk: Mapping[str, str],
        status: StatusReference,
        random: Callable[[int], bytes],
    ) -> str:
        """The serialized SD-JWT ``<JWT>~<D1>~...~<Dn>~`` (no Key Binding JWT)."""
        clash = (NEVER_DISCLOSABLE - _RESERVED).intersection(claims)
        if clash:
            raise IssuanceError(f"claim {sorted(clash)[0]!r} is set by the issuer, not in the claims object")
        disclosures: list[str] = []
        body = _object(claims, self._root, random, disclosures)
        payload: dict[str, Any] = {
            "iss": iss,
            "iat": iat,
            "exp": exp,
            "vct": vct,
            "cnf": {"jwk": dict(holder_jwk)},
            "status": status.to_claim(),
        }
        payload.update(body)
        payload["_sd_alg"] = SD_ALG
        token = sign_compact({"typ": TYP, "kid": kid}, payload, issuer_key)
        return "".join([token, "~", *(d + "~" for d in disclosures)])


def _disclose(array: list[Any], random: Callable[[int], bytes], disclosures: list[str]) -> str:
    # RFC 9901 section 4.2.1: base64url of the JSON array [salt, (name,) value]; the salt comes first.
    salt = random(SALT_BYTES)
    if len(salt) != SALT_BYTES:
        raise ValueError("the random source must return the number of bytes asked for")
    array[0] = b64url_encode(salt)
    encoded = b64url_encode(_ENCODER.encode(array).encode("utf-8"))
    disclosures.append(encoded)
    return digest(encoded)


def _value(value: Any, node: _Node, random: Callable[[int], bytes], disclosures: list[str]) -> Any:
    if isinstance(value, dict):
        return _object(value, node, random, disclosures)
    if isinstance(value, list):
        every = node.children.get(None)
        result: list[Any] = []
        for index, item in enumerate(value):
            child = node.children.get(index) or every or _LEAF
            processed = _value(item, child, random, disclosures)
            if child.selective:
                result.append({ARRAY_KEY: _disclose([None, processed], random, disclosures)})
            else:
                result.append(processed)
        return result
    if node.children:
        raise IssuanceError("a disclosable path goes inside a claim that is not an object or array")
    return value


def _object(obj: Mapping[str, Any], node: _Node, random: Callable[[int], bytes], disclosures: list[str]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    digests: list[str] = []
    children = node.children
    for name, value in obj.items():
        if name.__class__ is not str or name in _RESERVED:
            raise IssuanceError("a claim name is reserved by RFC 9901 or not a string")
        child = children.get(name, _LEAF)
        processed = _value(value, child, random, disclosures)
        if child.selective:
            digests.append(_disclose([None, name, processed], random, disclosures))
        else:
            result[name] = processed
    if digests:
        # Section 4.2.4.1: the order of digests must not reveal the claims' order.
        result[SD_KEY] = sorted(digests)
    return result
