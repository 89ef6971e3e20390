"""Parsing an SD-JWT and presenting a chosen subset of it (RFC 9901 sections 4 and 5).

The holder picks claims by path; every disclosure needed to reach a chosen
claim (its parents) and every disclosure below it comes along, nothing else.
A Key Binding JWT (section 4.3) then binds the presentation to the verifier's
``aud`` and ``nonce`` and to the exact disclosures sent, through ``sd_hash``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Iterable, Iterator

from .disclosure import ARRAY_KEY, SD_KEY, Digest, Disclosure
from .disclosure import _parse as _parse_disclosure
from .encoding import DEFAULT_LIMITS, Limits, b64url_encode
from .errors import ClaimNotAvailable, LimitExceeded, MalformedSDJWT
from .issuance import ClaimPath
from .jws import CompactJWS, sign_compact
from .keys import PrivateKey
from .vc import KB_TYP

__all__ = ["SDJWT", "sd_hash", "create_presentation", "disclosure_paths"]


def sd_hash(sd_jwt_without_kb: str) -> str:
    """Section 4.3.1: base64url SHA-256 over the ASCII SD-JWT up to and including the last ``~``."""
    return b64url_encode(hashlib.sha256(sd_jwt_without_kb.encode("ascii")).digest())


@dataclass(frozen=True, slots=True)
class SDJWT:
    """An SD-JWT split into its parts; nothing is verified yet."""

    jwt: str
    disclosures: tuple[Disclosure, ...]
    kb_jwt: str | None = None

    @classmethod
    def parse(cls, text: str, limits: Limits = DEFAULT_LIMITS) -> "SDJWT":
        """Section 4 serialisation: ``<JWT>~<D1>~...~<Dn>~[<KB-JWT>]``, within ``limits``."""
        jwt, parsed, kb_jwt = _split(text, limits)
        disclosures = tuple(Disclosure(encoded, *parts) for encoded, parts in parsed)
        return cls(jwt, disclosures, kb_jwt)

    def without_key_binding(self) -> str:
        """The presentation as it is hashed into ``sd_hash``."""
        return "".join([self.jwt, "~", *(d.encoded + "~" for d in self.disclosures)])

    def serialize(self) -> str:
        return self.without_key_binding() + (self.kb_jwt or "")

    def select(self, paths: Iterable[ClaimPath], limits: Limits = DEFAULT_LIMITS) -> "SDJWT":
        """Keep only the disclosures needed for ``paths`` (parents and subtrees included)."""
        payload = CompactJWS.parse(self.jwt, "issuer-signed JWT", limits.max_depth).payload
        entries = list(disclosure_paths(payload, self.disclosures))
        keep: set[Digest] = set()
        for path in paths:
            if not isinstance(path, tuple) or not path:
                raise ValueError("a claim path is a non-empty tuple of keys and indices")
            matched = False
            for entry_path, chain in entries:
                if _prefix_matches(path, entry_path):
                    matched = True
                    keep.update(d.digest for d in chain)
            if not matched:
                raise ClaimNotAvailable(f"the credential has no claim at {_show(path)}")
        chosen = tuple(d for d in self.disclosures if d.digest in keep)
        return SDJWT(self.jwt, chosen, None)


def _split(
    text: str, limits: Limits
) -> tuple[str, list[tuple[str, tuple[str, str | None, Any, Digest]]], str | None]:
    """The checks of :meth:`SDJWT.parse`; returns ``(jwt, [(encoded, (salt, name, value, digest))], kb_jwt)``.

    The verifier calls this directly: it needs the parts, not an object per disclosure.
    """
    if not isinstance(text, str):
        raise MalformedSDJWT("SD-JWT must be a string")
    if len(text) > limits.max_length:
        raise LimitExceeded(f"SD-JWT is longer than {limits.max_length} characters")
    if not text.isascii():
        raise MalformedSDJWT("SD-JWT must be ASCII (base64url parts separated by '~')")
    parts = text.split("~")
    if len(parts) < 2:
        raise MalformedSDJWT("SD-JWT has no '~' separator; expected <JWT>~<disclosures>~[<KB-JWT>]")
    if len(parts) - 2 > limits.max_disclosures:
        raise LimitExceeded(f"SD-JWT has more than {limits.max_disclosures} disclosures")
    jwt, last = parts[0], parts[-1]
    del parts[0], parts[-1]
    if not jwt:
        raise MalformedSDJWT("SD-JWT has an empty issuer-signed JWT")
    if "" in parts:
        raise MalformedSDJWT("SD-JWT has an empty disclosure ('~~')")
    max_depth = limits.max_depth
    return jwt, [(encoded, _parse_disclosure(encoded, max_depth)) for encoded in parts], last or None


def _show(path: ClaimPath) -> str:
    return "/".join("*" if step is None else str(step) for step in path)


def _prefix_matches(wanted: ClaimPath, actual: ClaimPath) -> bool:
    if len(actual) < len(wanted):
        return False
    for want, got in zip(wanted, actual):
        if want is None:
            if not isinstance(got, int):
                return False
        elif want != got or type(want) is not type(got):
            return False
    return True


def disclosure_paths(
    payload: dict[str, Any], disclosures: Iterable[Disclosure]
) -> Iterator[tuple[ClaimPath, tuple[Disclosure, ...]]]:
    """Every claim path in the credential with the disclosures needed to reveal it.

    Digests that match no disclosure (decoys, or claims not sent) are skipped;
    this is the holder's view, so no rule is enforced here (that is the
    verifier's job, in :mod:`sdjwt.verification`).
    """
    by_digest = {d.digest: d for d in disclosures}

    def walk(value: Any, path: ClaimPath, chain: tuple[Disclosure, ...]) -> Iterator[tuple[ClaimPath, tuple[Disclosure, ...]]]:
        if isinstance(value, dict):
            for name, child in value.items():
                if name == SD_KEY and isinstance(child, list):
                    for item in child:
                        found = by_digest.get(item) if isinstance(item, str) else None
                        if found is not None and found.name is not None:
                            sub = path + (found.name,)
                            yield sub, chain + (found,)
                            yield from walk(found.value, sub, chain + (found,))
                elif name != "_sd_alg":
                    sub = path + (name,)
                    yield sub, chain
                    yield from walk(child, sub, chain)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                sub = path + (index,)
                if isinstance(item, dict) and len(item) == 1 and ARRAY_KEY in item:
                    digest = item[ARRAY_KEY]
                    # The issuer's payload is outside input: a non-string digest matches nothing.
                    found = by_digest.get(digest) if isinstance(digest, str) else None
                    if found is not None and found.name is None:
                        yield sub, chain + (found,)
                        yield from walk(found.value, sub, chain + (found,))
                else:
                    yield sub, chain
                    yield from walk(item, sub, chain)

    yield from walk(payload, (), ())


def create_presentation(
    sd_jwt: SDJWT | str,
    paths: Iterable[ClaimPath],
    *,
    holder_key: PrivateKey | None,
    aud: str | None = None,
    nonce: str | None = None,
    iat: int | None = None,
) -> str:
    """Select ``paths`` and, when ``holder_key`` is given, append a KB-JWT (section 4.3)."""
    parsed = SDJWT.parse(sd_jwt) if isinstance(sd_jwt, str) else sd_jwt
    selected = parsed.select(paths)
    body = selected.without_key_binding()
    if holder_key is None:
        return body
    if not aud or not nonce or iat is None:
        raise ValueError("a key binding JWT needs aud, nonce and iat")
    kb = sign_compact(
        {"typ": KB_TYP},
        {"iat": iat, "aud": aud, "nonce": nonce, "sd_hash": sd_hash(body)},
        holder_key,
    )
    return body + kb
