"""The ``did:civic`` method: identifiers, SCIDs, pre-rotation hashes, operation bodies and builders.

``did:civic:<SCID>`` follows did:webvh v1.0 for the two things that make a DID
self-certifying and recoverable (docs/did-method.md has the full method):

* the SCID is ``base58btc(multihash(JCS(preliminary genesis entry), sha2-256))``
  where every occurrence of the SCID in the genesis ``did.create`` entry
  (without ``sig``) is the literal placeholder ``{SCID}`` (did:webvh
  "SCID Generation and Verification");
* ``nextKeyHashes`` are ``base58btc(multihash(multikey))`` of future keys
  (did:webvh "Pre-Rotation Key Hash Generation and Verification").

This module parses bodies into typed values and builds signed operations for
clients. Whether an operation may be applied to the ledger's current state is
decided in :mod:`registry.state`.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, NewType, Sequence

import base58

from sdjwt.did_key import key_from_multibase, multibase_from_key
from sdjwt.encoding import b64url_decode
from sdjwt.errors import SDJWTError
from sdjwt.keys import Ed25519PrivateKey, Ed25519PublicKey

from .entry import Digest, Entry, canonical, sign_entry
from .errors import InvalidEntry

__all__ = [
    "DID",
    "METHOD_PREFIX",
    "SCID_PLACEHOLDER",
    "PURPOSES",
    "DEFAULT_PURPOSES",
    "sha256_multihash_b58",
    "generate_scid",
    "verify_scid",
    "key_hash",
    "parse_did",
    "VerificationKey",
    "Service",
    "CreateBody",
    "UpdateBody",
    "RecoverBody",
    "DeactivateBody",
    "parse_body",
    "KeySpec",
    "create_op",
    "update_op",
    "recover_op",
    "deactivate_op",
]

DID = NewType("DID", str)

METHOD_PREFIX = "did:civic:"
SCID_PLACEHOLDER = "{SCID}"
_SHA256_MULTIHASH_PREFIX = b"\x12\x20"  # multicodec sha2-256 (0x12), digest length 32.
# did:webvh v1.0 "Method-Specific Identifier": scid = 46(base58btc-char).
_SCID = re.compile(r"[1-9A-HJ-NP-Za-km-z]{46}")
_KID = re.compile(r"[A-Za-z0-9._-]{1,64}")
_FRAGMENT = re.compile(r"[A-Za-z0-9._-]{1,64}")

PURPOSES = ("authentication", "assertionMethod", "keyAgreement", "capabilityInvocation", "capabilityDelegation")
"""W3C DID Core s5.3 verification relationships; ``capabilityInvocation`` authorizes DID operations."""
DEFAULT_PURPOSES = ("authentication", "assertionMethod", "capabilityInvocation")
MAX_KEYS = 16
MAX_SERVICES = 16
MAX_NEXT_KEY_HASHES = 16


def sha256_multihash_b58(data: bytes) -> str:
    """``base58btc(multihash(data, sha2-256))``: the did:webvh hash string (46 characters, ``Qm...``)."""
    return base58.b58encode(_SHA256_MULTIHASH_PREFIX + hashlib.sha256(data).digest()).decode("ascii")


def generate_scid(preliminary: Mapping[str, Any]) -> str:
    """did:webvh "Generate SCID": hash of the JCS of the genesis object holding ``{SCID}`` placeholders."""
    return sha256_multihash_b58(canonical(dict(preliminary)))


def verify_scid(unsigned: Mapping[str, Any], scid: str) -> None:
    """did:webvh "Verify SCID", steps 4-8, on the genesis entry without ``sig``.

    The entry is treated as a string and every occurrence of the SCID is
    replaced by the placeholder; the hash of the result must be the SCID.

    The string is the entry's JCS text, so when no member name holds the SCID
    the replaced text is already JCS(preliminary entry) and is hashed as it
    is: the SCID is base58 (letters and digits), so it occurs only inside
    strings, and writing ``{SCID}`` in place of it needs no escaping. A
    replacement that cuts into an escape sequence leaves text that is not the
    JCS of anything and cannot hash to the SCID. Only when a member name holds
    the SCID (the order of names may change) is the text parsed and
    canonicalised again.
    """
    if not _SCID.fullmatch(scid):
        raise InvalidEntry("SCID must be 46 base58btc characters (a sha2-256 multihash)")
    text = canonical(dict(unsigned))
    if _PLACEHOLDER_BYTES in text:
        raise InvalidEntry("genesis entry must not contain the literal '{SCID}' (did:webvh SCID generation)")
    replaced = text.replace(scid.encode("ascii"), _PLACEHOLDER_BYTES)
    if _names_hold(unsigned, scid):
        try:
            replaced = canonical(json.loads(replaced))
        except ValueError as exc:  # The replacement cut an escape sequence: no SCID is the hash of that.
            raise InvalidEntry(_SCID_MISMATCH) from exc
    if sha256_multihash_b58(replaced) != scid:
        raise InvalidEntry(_SCID_MISMATCH)


_SCID_MISMATCH = "SCID does not match the hash of the genesis did.create entry; rebuild it with create_op"


_PLACEHOLDER_BYTES = SCID_PLACEHOLDER.encode("ascii")


def _names_hold(value: Any, text: str) -> bool:
    """Whether any object member name inside ``value`` (JSON: dicts, lists, tuples) contains ``text``."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for name, member in item.items():
                if text in name:
                    return True
                if isinstance(member, (dict, list, tuple)):
                    stack.append(member)
        elif isinstance(item, (list, tuple)):
            stack.extend(member for member in item if isinstance(member, (dict, list, tuple)))
    return False


def key_hash(multikey: str) -> str:
    """did:webvh pre-rotation hash of a Multikey string: ``base58btc(multihash(multikey))``."""
    return sha256_multihash_b58(multikey.encode("utf-8"))


def parse_did(did: str) -> str:
    """The SCID of a ``did:civic`` (ABNF in docs/did-method.md); anything else is an :class:`InvalidEntry`."""
    if not isinstance(did, str) or not did.startswith(METHOD_PREFIX) or not _SCID.fullmatch(did[len(METHOD_PREFIX) :]):
        raise InvalidEntry("not a did:civic identifier ('did:civic:' followed by a 46-character SCID)")
    return did[len(METHOD_PREFIX) :]


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise InvalidEntry(message)


def _exact(obj: Any, required: Iterable[str], optional: Iterable[str] = (), what: str = "body") -> dict[str, Any]:
    _require(isinstance(obj, dict), f"{what} must be a JSON object")
    required, optional = set(required), set(optional)
    keys = set(obj)
    _require(required <= keys, f"{what} lacks {sorted(required - keys)}")
    _require(keys <= required | optional, f"{what} has unexpected members {sorted(keys - required - optional)}")
    return dict(obj)


def _time(value: Any, what: str) -> int:
    _require(isinstance(value, int) and not isinstance(value, bool) and value >= 0, f"{what} must be Unix seconds")
    return int(value)


@dataclass(frozen=True)
class VerificationKey:
    """One Ed25519 key of a DID: ``kid``, its public JWK (with ``kid``), its Multikey and purposes."""

    kid: str
    key: Ed25519PublicKey
    purposes: tuple[str, ...]

    @property
    def multibase(self) -> str:
        return multibase_from_key(self.key)

    @property
    def jwk(self) -> dict[str, str]:
        return {**self.key.public_jwk(), "kid": self.kid}

    def to_json(self) -> dict[str, Any]:
        return {
            "kid": self.kid,
            "publicKeyJwk": self.jwk,
            "publicKeyMultibase": self.multibase,
            "purposes": list(self.purposes),
        }

    @classmethod
    def from_json(cls, obj: Any) -> VerificationKey:
        obj = _exact(obj, ("kid", "publicKeyJwk", "publicKeyMultibase", "purposes"), what="key")
        kid = obj["kid"]
        _require(isinstance(kid, str) and bool(_KID.fullmatch(kid)), "key 'kid' must match [A-Za-z0-9._-]{1,64}")
        jwk = _exact(obj["publicKeyJwk"], ("kty", "crv", "x", "kid"), what="publicKeyJwk")
        _require(jwk["kty"] == "OKP" and jwk["crv"] == "Ed25519", "publicKeyJwk must be an OKP Ed25519 key")
        _require(jwk["kid"] == kid, "publicKeyJwk 'kid' must equal the key's 'kid'")
        try:
            key = Ed25519PublicKey(b64url_decode(jwk["x"], "publicKeyJwk x"))
            from_multibase = key_from_multibase(obj["publicKeyMultibase"])
        except (SDJWTError, ValueError) as exc:
            raise InvalidEntry("key is not a valid Ed25519 public key in both JWK and Multikey form") from exc
        _require(from_multibase == key, "publicKeyMultibase and publicKeyJwk name different keys")
        purposes = obj["purposes"]
        _require(
            isinstance(purposes, list) and bool(purposes) and all(p in PURPOSES for p in purposes),
            f"key 'purposes' must be a non-empty list drawn from {list(PURPOSES)}",
        )
        _require(len(set(purposes)) == len(purposes), "key 'purposes' must not repeat")
        return cls(kid=kid, key=key, purposes=tuple(purposes))


@dataclass(frozen=True)
class Service:
    """A DID Core s5.4 service; ``id`` is a fragment, expanded to ``<did>#<id>`` on resolution."""

    id: str
    type: str
    endpoint: Any

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "type": self.type, "serviceEndpoint": self.endpoint}

    @classmethod
    def from_json(cls, obj: Any) -> Service:
        obj = _exact(obj, ("id", "type", "serviceEndpoint"), what="service")
        _require(isinstance(obj["id"], str) and bool(_FRAGMENT.fullmatch(obj["id"])), "service 'id' must be a fragment")
        _require(isinstance(obj["type"], str) and 0 < len(obj["type"]) <= 128, "service 'type' must be a string")
        endpoint = obj["serviceEndpoint"]
        _require(isinstance(endpoint, (str, dict, list)), "service 'serviceEndpoint' must be a URI, map or set")
        return cls(id=obj["id"], type=obj["type"], endpoint=endpoint)


def _keys(value: Any) -> tuple[VerificationKey, ...]:
    _require(isinstance(value, list) and 0 < len(value) <= MAX_KEYS, f"'keys' must list 1 to {MAX_KEYS} keys")
    keys = tuple(VerificationKey.from_json(k) for k in value)
    _require(len({k.kid for k in keys}) == len(keys), "'keys' must not repeat a kid")
    _require(len({k.key for k in keys}) == len(keys), "'keys' must not list the same public key twice")
    _require(
        any("capabilityInvocation" in k.purposes for k in keys),
        "at least one key must have the capabilityInvocation purpose, or nobody could update the DID",
    )
    return keys


def _services(value: Any) -> tuple[Service, ...]:
    _require(isinstance(value, list) and len(value) <= MAX_SERVICES, f"'services' must list at most {MAX_SERVICES}")
    services = tuple(Service.from_json(s) for s in value)
    _require(len({s.id for s in services}) == len(services), "'services' must not repeat an id")
    return services


def _next_key_hashes(value: Any) -> tuple[str, ...]:
    _require(
        isinstance(value, list) and 0 < len(value) <= MAX_NEXT_KEY_HASHES,
        f"'nextKeyHashes' must list 1 to {MAX_NEXT_KEY_HASHES} pre-rotation hashes",
    )
    _require(
        all(isinstance(h, str) and _SCID.fullmatch(h) for h in value),
        "each 'nextKeyHashes' item must be a base58btc sha2-256 multihash of a Multikey",
    )
    return tuple(value)


@dataclass(frozen=True)
class CreateBody:
    """``did.create``: the genesis key set, services and pre-rotation commitments."""

    scid: str
    keys: tuple[VerificationKey, ...]
    services: tuple[Service, ...]
    next_key_hashes: tuple[str, ...]


@dataclass(frozen=True)
class UpdateBody:
    """``did.update``: the complete new key set and services (``nextKeyHashes`` stay as they are)."""

    keys: tuple[VerificationKey, ...]
    services: tuple[Service, ...]


@dataclass(frozen=True)
class RecoverBody:
    """``did.recover``: a new key set signed by a committed key, new commitments, optional compromise time."""

    keys: tuple[VerificationKey, ...]
    services: tuple[Service, ...]
    next_key_hashes: tuple[str, ...]
    compromised_from: int | None


@dataclass(frozen=True)
class DeactivateBody:
    """``did.deactivate``: an empty body; deactivation is final."""


def parse_body(kind: str, body: Mapping[str, Any]) -> CreateBody | UpdateBody | RecoverBody | DeactivateBody:
    """Parse a DID operation body strictly (exact members, typed values)."""
    if kind == "did.create":
        obj = _exact(body, ("scid", "keys", "services", "nextKeyHashes"), what="did.create body")
        _require(isinstance(obj["scid"], str) and bool(_SCID.fullmatch(obj["scid"])), "'scid' must be 46 base58btc")
        return CreateBody(obj["scid"], _keys(obj["keys"]), _services(obj["services"]), _next_key_hashes(obj["nextKeyHashes"]))
    if kind == "did.update":
        obj = _exact(body, ("keys", "services"), what="did.update body")
        return UpdateBody(_keys(obj["keys"]), _services(obj["services"]))
    if kind == "did.recover":
        obj = _exact(body, ("keys", "services", "nextKeyHashes"), ("compromisedFrom",), what="did.recover body")
        compromised = _time(obj["compromisedFrom"], "'compromisedFrom'") if "compromisedFrom" in obj else None
        return RecoverBody(
            _keys(obj["keys"]), _services(obj["services"]), _next_key_hashes(obj["nextKeyHashes"]), compromised
        )
    if kind == "did.deactivate":
        _exact(body, (), what="did.deactivate body")
        return DeactivateBody()
    raise ValueError(f"{kind!r} is not a DID operation")


# Client-side builders. They never touch ledger state: the caller passes the
# DID's current head (``prev``) from a fresh resolution.


@dataclass(frozen=True)
class KeySpec:
    """A private key the client holds, with the kid and purposes it will have in the DID document."""

    kid: str
    private_key: Ed25519PrivateKey
    purposes: tuple[str, ...] = field(default=DEFAULT_PURPOSES)

    def public(self) -> VerificationKey:
        return VerificationKey(self.kid, self.private_key.public_key(), tuple(self.purposes))


def _keys_json(keys: Sequence[KeySpec | VerificationKey]) -> list[dict[str, Any]]:
    return [(k.public() if isinstance(k, KeySpec) else k).to_json() for k in keys]


def _hashes(next_keys: Sequence[Ed25519PublicKey | str]) -> list[str]:
    return [key_hash(multibase_from_key(k)) if isinstance(k, Ed25519PublicKey) else k for k in next_keys]


def create_op(
    keys: Sequence[KeySpec],
    services: Sequence[Service],
    next_keys: Sequence[Ed25519PublicKey | str],
    time: int,
    signer: str | None = None,
) -> tuple[Entry, DID]:
    """Build and sign a genesis ``did.create``; returns the entry and the new DID.

    ``next_keys`` are the future recovery keys (or their ready-made hashes).
    The signer is ``signer`` (a kid) or the first capabilityInvocation key.
    """
    by_kid = {k.kid: k for k in keys}
    if signer is None:
        signer = next((k.kid for k in keys if "capabilityInvocation" in k.purposes), None)
    if signer not in by_kid:
        raise ValueError("create_op needs a signer among the keys with the capabilityInvocation purpose")
    body = {
        "scid": SCID_PLACEHOLDER,
        "keys": _keys_json(keys),
        "services": [s.to_json() for s in services],
        "nextKeyHashes": _hashes(next_keys),
    }
    preliminary = {
        "v": 1,
        "kind": "did.create",
        "body": body,
        "author": f"{METHOD_PREFIX}{SCID_PLACEHOLDER}#{signer}",
        "time": time,
        "prev": None,
    }
    scid = generate_scid(preliminary)
    final = json.loads(json.dumps(preliminary, ensure_ascii=False).replace(SCID_PLACEHOLDER, scid))
    entry = sign_entry("did.create", final["body"], final["author"], time, None, by_kid[signer].private_key)
    return entry, DID(METHOD_PREFIX + scid)


def update_op(
    did: str,
    prev: Digest | str,
    signer: KeySpec,
    keys: Sequence[KeySpec | VerificationKey],
    services: Sequence[Service],
    time: int,
) -> Entry:
    """Build and sign a ``did.update`` replacing the key set and services; signed by a current key."""
    parse_did(did)
    body = {"keys": _keys_json(keys), "services": [s.to_json() for s in services]}
    return sign_entry("did.update", body, f"{did}#{signer.kid}", time, prev, signer.private_key)


def recover_op(
    did: str,
    prev: Digest | str,
    signer: KeySpec,
    keys: Sequence[KeySpec | VerificationKey],
    services: Sequence[Service],
    next_keys: Sequence[Ed25519PublicKey | str],
    time: int,
    compromised_from: int | None = None,
) -> Entry:
    """Build and sign a ``did.recover``: ``signer`` is a pre-rotated key listed in ``keys``."""
    parse_did(did)
    body: dict[str, Any] = {
        "keys": _keys_json(keys),
        "services": [s.to_json() for s in services],
        "nextKeyHashes": _hashes(next_keys),
    }
    if compromised_from is not None:
        body["compromisedFrom"] = compromised_from
    return sign_entry("did.recover", body, f"{did}#{signer.kid}", time, prev, signer.private_key)


def deactivate_op(did: str, prev: Digest | str, signer: KeySpec, time: int) -> Entry:
    """Build and sign a final ``did.deactivate``."""
    parse_did(did)
    return sign_entry("did.deactivate", {}, f"{did}#{signer.kid}", time, prev, signer.private_key)
