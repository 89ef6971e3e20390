"""The office's encrypted keystore and key lifecycle: create, rotate (pre-rotation), recover.

File format (JSON, mode 0600, replaced atomically)::

    {"format": "civicid-issuer-keystore/1",
     "kdf": {"alg": "argon2id", "salt": <b64url>, "opslimit": n, "memlimit": n},
     "box": <b64url of nacl.secret.SecretBox(key).encrypt(plaintext JSON)>}

The plaintext holds the DID, the signing keys by fragment (``key-1``, ...) with
their state (``active``, ``retired`` after a normal rotation, ``compromised``
after recovery), the pre-committed *next* key (did:webvh-style pre-rotation:
its hash is published with the DID, so a thief of the active key cannot
rotate) and the recovery key. Retired keys are kept: the registry keeps them
valid for credentials signed before the rotation.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from typing import Any, Callable

import nacl.exceptions
import nacl.pwhash
import nacl.secret
import nacl.utils

from sdjwt.did_key import multibase_from_key
from sdjwt.encoding import b64url_decode, b64url_encode
from sdjwt.keys import Ed25519PrivateKey

from .errors import KeystoreError

__all__ = ["Keystore", "next_key_commitment", "FORMAT"]

FORMAT = "civicid-issuer-keystore/1"
_OPS = nacl.pwhash.argon2id.OPSLIMIT_INTERACTIVE
_MEM = nacl.pwhash.argon2id.MEMLIMIT_INTERACTIVE


def next_key_commitment(key: Ed25519PrivateKey) -> str:
    """did:webvh pre-rotation hash of the next key's Multikey (``base58btc(multihash(multikey))``)."""
    from registry.did import key_hash

    return key_hash(multibase_from_key(key.public_key()))


@dataclass
class Keystore:
    path: str
    passphrase: str
    did: str | None = None
    keys: dict[str, dict[str, Any]] = field(default_factory=dict)
    next_seed: bytes = b""
    recovery_seed: bytes = b""
    ops: int = _OPS
    mem: int = _MEM

    # Construction ---------------------------------------------------------------------------

    @classmethod
    def create(cls, path: str, passphrase: str, *, now: int, random: Callable[[int], bytes] = nacl.utils.random,
               ops: int = _OPS, mem: int = _MEM) -> "Keystore":
        if os.path.exists(path):
            raise KeystoreError("a keystore already exists at this path; refusing to overwrite it")
        if len(passphrase) < 12:
            raise KeystoreError("the keystore passphrase must be at least 12 characters")
        store = cls(path, passphrase, ops=ops, mem=mem)
        store.keys["key-1"] = {"seed": random(32), "state": "active", "created": now}
        store.next_seed = random(32)
        store.recovery_seed = random(32)
        return store

    @classmethod
    def open(cls, path: str, passphrase: str) -> "Keystore":
        try:
            with open(path, encoding="utf-8") as handle:
                doc = json.load(handle)
        except OSError as exc:
            raise KeystoreError(f"cannot read the keystore ({exc.strerror})") from exc
        except ValueError as exc:
            raise KeystoreError("the keystore file is not JSON; restore it from backup") from exc
        try:
            if doc["format"] != FORMAT or doc["kdf"]["alg"] != "argon2id":
                raise KeystoreError("unsupported keystore format")
            salt = b64url_decode(doc["kdf"]["salt"])
            ops, mem = int(doc["kdf"]["opslimit"]), int(doc["kdf"]["memlimit"])
            box = b64url_decode(doc["box"])
        except (KeyError, TypeError, ValueError) as exc:
            raise KeystoreError("the keystore file is damaged; restore it from backup") from exc
        except Exception as exc:  # b64url errors from sdjwt
            raise KeystoreError("the keystore file is damaged; restore it from backup") from exc
        if not (nacl.pwhash.argon2id.OPSLIMIT_MIN <= ops <= nacl.pwhash.argon2id.OPSLIMIT_SENSITIVE) or not (
            nacl.pwhash.argon2id.MEMLIMIT_MIN <= mem <= nacl.pwhash.argon2id.MEMLIMIT_SENSITIVE
        ):
            raise KeystoreError("the keystore's key-derivation limits are out of range")
        key = nacl.pwhash.argon2id.kdf(nacl.secret.SecretBox.KEY_SIZE, passphrase.encode("utf-8"), salt, opslimit=ops, memlimit=mem)
        try:
            plain = json.loads(nacl.secret.SecretBox(key).decrypt(box))
        except nacl.exceptions.CryptoError:
            raise KeystoreError("wrong keystore passphrase (or the file was altered)") from None
        store = cls(path, passphrase, plain.get("did"), ops=ops, mem=mem)
        store.keys = {k: {**v, "seed": b64url_decode(v["seed"])} for k, v in plain["keys"].items()}
        store.next_seed = b64url_decode(plain["next"])
        store.recovery_seed = b64url_decode(plain["recovery"])
        return store

    def save(self, random: Callable[[int], bytes] = nacl.utils.random) -> None:
        """Encrypt and write atomically (temp file 0600 in the same folder, fsync, rename)."""
        salt = random(nacl.pwhash.argon2id.SALTBYTES)
        key = nacl.pwhash.argon2id.kdf(nacl.secret.SecretBox.KEY_SIZE, self.passphrase.encode("utf-8"), salt, opslimit=self.ops, memlimit=self.mem)
        plain = {
            "did": self.did,
            "keys": {k: {**v, "seed": b64url_encode(v["seed"])} for k, v in self.keys.items()},
            "next": b64url_encode(self.next_seed),
            "recovery": b64url_encode(self.recovery_seed),
        }
        doc = {
            "format": FORMAT,
            "kdf": {"alg": "argon2id", "salt": b64url_encode(salt), "opslimit": self.ops, "memlimit": self.mem},
            "box": b64url_encode(bytes(nacl.secret.SecretBox(key).encrypt(json.dumps(plain).encode()))),
        }
        folder = os.path.dirname(os.path.abspath(self.path))
        fd, tmp = tempfile.mkstemp(prefix=".keystore-", dir=folder)
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(doc, handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    # Keys ------------------------------------------------------------------------------------

    @property
    def active_fragment(self) -> str:
        for fragment, entry in self.keys.items():
            if entry["state"] == "active":
                return fragment
        raise KeystoreError("the keystore has no active signing key; run `civicid issuer recover`")

    def signing_key(self, fragment: str | None = None) -> Ed25519PrivateKey:
        fragment = fragment or self.active_fragment
        entry = self.keys.get(fragment)
        if entry is None:
            raise KeystoreError(f"the keystore has no key {fragment}; check KID")
        if entry["state"] != "active":
            raise KeystoreError(f"key {fragment} is {entry['state']}; configure KID with the active key {self.active_fragment}")
        return Ed25519PrivateKey(entry["seed"])

    @property
    def next_key(self) -> Ed25519PrivateKey:
        return Ed25519PrivateKey(self.next_seed)

    @property
    def recovery_key(self) -> Ed25519PrivateKey:
        return Ed25519PrivateKey(self.recovery_seed)

    def _new_fragment(self) -> str:
        return f"key-{max(int(k.split('-')[1]) for k in self.keys) + 1}"

    def rotate(self, *, now: int, random: Callable[[int], bytes] = nacl.utils.random) -> tuple[str, str]:
        """Normal rotation: the committed next key becomes active; returns (old, new) fragments."""
        old = self.active_fragment
        new = self._new_fragment()
        self.keys[old]["state"] = "retired"
        self.keys[old]["retired"] = now
        self.keys[new] = {"seed": self.next_seed, "state": "active", "created": now}
        self.next_seed = random(32)
        return old, new

    def recover(self, *, now: int, random: Callable[[int], bytes] = nacl.utils.random) -> tuple[list[str], str]:
        """After compromise: every signing key and the next key are replaced; returns (compromised, new)."""
        compromised = [k for k, v in self.keys.items() if v["state"] == "active"]
        for fragment in compromised:
            self.keys[fragment]["state"] = "compromised"
            self.keys[fragment]["compromised"] = now
        new = self._new_fragment()
        self.keys[new] = {"seed": random(32), "state": "active", "created": now}
        self.next_seed = random(32)
        self.recovery_seed = random(32)
        return compromised, new
