"""The encrypted wallet file: one sealed JSON document, written atomically.

Layout of ``<home>/wallet.civicid`` (and of a backup file)::

    {"format": "civicid-wallet", "version": 1,
     "kdf": {"alg": "argon2id13", "opslimit": 2, "memlimit": 67108864, "salt": "<b64url 16 bytes>"},
     "cipher": "xsalsa20poly1305",
     "box": "<b64url 24-byte nonce || ciphertext || tag>"}

The key is Argon2id (libsodium ``crypto_pwhash``, through pynacl) of the
passphrase and salt; the contents are sealed with XSalsa20-Poly1305
(``crypto_secretbox``). Nothing but these header fields is in the clear: not
the number of credentials, not their types. The header is not authenticated
separately, but every field in it changes the key or the cipher, so an altered
header makes the box fail to open (reported as a corrupt file or a wrong
passphrase, never silently accepted); a larger ``version`` is refused before
any decryption.

Every write goes to a temporary file in the same directory (mode 0600), is
fsynced, then renamed over the wallet, and the directory is fsynced: after a
crash the file is either the previous or the new wallet, never a mixture.
An exclusive ``flock`` on ``<home>/.lock`` keeps two wallet processes from
losing each other's writes.
"""

from __future__ import annotations

import base64
import binascii
import errno
import fcntl
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from .errors import (
    CorruptWallet,
    StoreError,
    UnsupportedVersion,
    WalletExists,
    WalletLocked,
    WalletNotFound,
    WrongPassphrase,
)

__all__ = [
    "FORMAT_VERSION",
    "WALLET_FILE",
    "BACKUP_FORMAT",
    "KdfParams",
    "DEFAULT_KDF",
    "BACKUP_KDF",
    "Store",
    "seal",
    "unseal",
    "atomic_write",
    "default_home",
    "empty_contents",
]

FORMAT_VERSION = 1
WALLET_FILE = "wallet.civicid"
LOCK_FILE = ".lock"
WALLET_FORMAT = "civicid-wallet"
BACKUP_FORMAT = "civicid-wallet-backup"
MAX_FILE_BYTES = 64 * 1024 * 1024
"""A wallet larger than this is refused before it is read (a hostile file must not exhaust memory)."""

RandomSource = Callable[[int], bytes]


@dataclass(frozen=True)
class KdfParams:
    """Argon2id cost parameters, stored in the file so they can be raised later."""

    opslimit: int
    memlimit: int

    # Bounds on what a file may ask for: below libsodium's minimum is refused,
    # and so is anything that would take gigabytes of memory to open.
    MIN_OPS = 1
    MAX_OPS = 16
    MIN_MEM = 8192
    MAX_MEM = 1024 * 1024 * 1024

    def check(self) -> None:
        if not (self.MIN_OPS <= self.opslimit <= self.MAX_OPS and self.MIN_MEM <= self.memlimit <= self.MAX_MEM):
            raise CorruptWallet("the file's key derivation parameters are out of range")


# libsodium's "interactive" Argon2id limits: about 0.13 s here, so `list` starts
# in well under 0.3 s. Backups leave the machine, so they pay "moderate" (~0.6 s).
DEFAULT_KDF = KdfParams(opslimit=2, memlimit=64 * 1024 * 1024)
BACKUP_KDF = KdfParams(opslimit=3, memlimit=256 * 1024 * 1024)


def default_home() -> Path:
    """The user's application directory for the wallet (click's per-platform rules)."""
    import click

    return Path(click.get_app_dir("civicid")) / "wallet"


def _b64e(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64d(text: Any, what: str) -> bytes:
    if not isinstance(text, str) or not text.isascii():
        raise CorruptWallet(f"the file's {what} is not base64url text")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise CorruptWallet(f"the file's {what} is not base64url text") from exc


def _derive(passphrase: str, salt: bytes, params: KdfParams) -> bytes:
    import nacl.pwhash

    if not isinstance(passphrase, str) or not passphrase:
        raise ValueError("a passphrase is required")
    return bytes(
        nacl.pwhash.argon2id.kdf(
            32, passphrase.encode("utf-8"), salt, opslimit=params.opslimit, memlimit=params.memlimit
        )
    )


@dataclass(frozen=True)
class _Sealed:
    """A parsed envelope, not yet opened."""

    format: str
    params: KdfParams
    salt: bytes
    box: bytes

    @classmethod
    def parse(cls, raw: bytes, expected_format: str) -> "_Sealed":
        try:
            envelope = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise CorruptWallet("the file is truncated or is not a civicid wallet") from exc
        if not isinstance(envelope, dict) or envelope.get("format") not in (WALLET_FORMAT, BACKUP_FORMAT):
            raise CorruptWallet("the file is not a civicid wallet")
        if envelope["format"] != expected_format:
            kind = "a backup" if envelope["format"] == BACKUP_FORMAT else "a wallet, not a backup"
            raise CorruptWallet(f"the file is {kind}; use `restore` for backups")
        version = envelope.get("version")
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise CorruptWallet("the file has no valid format version")
        if version > FORMAT_VERSION:
            raise UnsupportedVersion(f"the file has format version {version}; this civicid reads up to {FORMAT_VERSION}")
        kdf = envelope.get("kdf")
        if not isinstance(kdf, dict) or kdf.get("alg") != "argon2id13" or envelope.get("cipher") != "xsalsa20poly1305":
            raise CorruptWallet("the file names an unknown key derivation or cipher")
        ops, mem = kdf.get("opslimit"), kdf.get("memlimit")
        if any(isinstance(v, bool) or not isinstance(v, int) for v in (ops, mem)):
            raise CorruptWallet("the file's key derivation parameters are not integers")
        params = KdfParams(ops, mem)
        params.check()
        salt = _b64d(kdf.get("salt"), "salt")
        if len(salt) != 16:
            raise CorruptWallet("the file's salt has the wrong length")
        box = _b64d(envelope.get("box"), "sealed contents")
        if len(box) < 24 + 16:
            raise CorruptWallet("the file's sealed contents are truncated")
        return cls(envelope["format"], params, salt, box)


def seal(contents: dict[str, Any], key: bytes, salt: bytes, params: KdfParams, fmt: str, random: RandomSource) -> bytes:
    """Serialise and seal ``contents`` under ``key`` (derived from ``salt`` with ``params``)."""
    import nacl.secret

    plaintext = json.dumps(contents, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    nonce = random(24)
    box = nacl.secret.SecretBox(key).encrypt(plaintext, nonce)
    envelope = {
        "format": fmt,
        "version": FORMAT_VERSION,
        "kdf": {"alg": "argon2id13", "opslimit": params.opslimit, "memlimit": params.memlimit, "salt": _b64e(salt)},
        "cipher": "xsalsa20poly1305",
        "box": _b64e(bytes(box)),
    }
    return (json.dumps(envelope, separators=(",", ":")) + "\n").encode("ascii")


def unseal(raw: bytes, passphrase: str, fmt: str) -> tuple[dict[str, Any], bytes, bytes, KdfParams]:
    """Open a sealed file: (contents, key, salt, params). Raises a :class:`StoreError`."""
    import nacl.exceptions
    import nacl.secret

    sealed = _Sealed.parse(raw, fmt)
    key = _derive(passphrase, sealed.salt, sealed.params)
    try:
        plaintext = nacl.secret.SecretBox(key).decrypt(sealed.box)
    except nacl.exceptions.CryptoError as exc:
        # Poly1305 cannot tell a wrong key from altered bytes; a wrong passphrase is far more likely.
        raise WrongPassphrase("the passphrase does not open this file (or the file was altered)") from exc
    try:
        contents = json.loads(plaintext.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise CorruptWallet("the wallet's contents are not valid") from exc
    _check_contents(contents)
    return contents, key, sealed.salt, sealed.params


def empty_contents() -> dict[str, Any]:
    return {"version": FORMAT_VERSION, "credentials": [], "history": []}


def _check_contents(contents: Any) -> None:
    if not isinstance(contents, dict):
        raise CorruptWallet("the wallet's contents are not valid")
    version = contents.get("version")
    if isinstance(version, bool) or not isinstance(version, int):
        raise CorruptWallet("the wallet's contents have no version")
    if version > FORMAT_VERSION:
        raise UnsupportedVersion(f"the wallet's contents have version {version}; this civicid reads up to {FORMAT_VERSION}")
    if not isinstance(contents.get("credentials"), list) or not isinstance(contents.get("history"), list):
        raise CorruptWallet("the wallet's contents are not valid")
    for item in contents["credentials"]:
        if not isinstance(item, dict) or not isinstance(item.get("id"), str) or not isinstance(item.get("copies"), list):
            raise CorruptWallet("a credential in the wallet is not valid")
        # The shapes the listing and presentation code read (wallet/credentials.py), checked once here.
        disclosable = item.get("disclosable", [])
        if (
            not all(isinstance(c, dict) for c in item["copies"])
            or not isinstance(item.get("claims", {}), dict)
            or not isinstance(item.get("type_metadata", {}), dict)
            or not isinstance(item.get("issuer_names") or {}, dict)
            or not isinstance(disclosable, list)
            or not all(isinstance(p, list) and all(s is None or isinstance(s, (str, int)) for s in p) for p in disclosable)
        ):
            raise CorruptWallet("a credential in the wallet is not valid")


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a crash leaves either the old or the new file.

    Write a temporary file in the same directory, fsync it, rename it over
    ``path`` (atomic on POSIX), then fsync the directory so the rename itself
    survives a power loss.
    """
    directory = path.parent
    tmp = directory / f".{path.name}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _read_bounded(path: Path) -> bytes:
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise WalletNotFound(f"no wallet at {path.parent}") from None
    except IsADirectoryError:
        raise CorruptWallet(f"{path} is a directory, not a wallet file") from None
    except OSError as exc:
        raise StoreError(f"cannot read {path}: {exc.strerror}") from exc
    if len(data) > MAX_FILE_BYTES:
        raise CorruptWallet("the file is larger than any wallet can be")
    return data


class Store:
    """An open, unlocked wallet: its contents in memory and the key to write them back.

    Use as a context manager (``with Store.open(home, passphrase) as store:``)
    so the process lock is released; :meth:`save` seals and writes atomically.
    """

    def __init__(self, home: Path, contents: dict[str, Any], key: bytes, salt: bytes, params: KdfParams,
                 lock_fd: int, random: RandomSource) -> None:
        self.home = home
        self.contents = contents
        self._key = key
        self._salt = salt
        self._params = params
        self._lock_fd: int | None = lock_fd
        self._random = random

    # -- locking ---------------------------------------------------------

    @staticmethod
    def _lock(home: Path, timeout: float = 5.0) -> int:
        fd = os.open(home / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES) or time.monotonic() > deadline:
                    os.close(fd)
                    raise WalletLocked("the wallet is in use by another process") from exc
                time.sleep(0.05)
        # Temporary files left by a crashed writer are garbage: the rename never happened.
        for stale in home.glob(f".{WALLET_FILE}.*.tmp"):
            try:
                stale.unlink()
            except OSError:
                pass
        return fd

    def close(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # Closing releases the flock.
            self._lock_fd = None

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- life cycle ------------------------------------------------------

    @classmethod
    def create(cls, home: Path, passphrase: str, *, kdf: KdfParams | None = None,
               random: RandomSource | None = None, contents: dict[str, Any] | None = None,
               replace: bool = False) -> "Store":
        """Make a new wallet in ``home`` (refusing to overwrite one unless ``replace``)."""
        import nacl.utils

        random = random or nacl.utils.random
        params = kdf or DEFAULT_KDF
        home = Path(home)
        try:
            home.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise StoreError(f"cannot create the wallet directory {home}: {exc.strerror}") from exc
        lock = cls._lock(home)
        try:
            if (home / WALLET_FILE).exists() and not replace:
                raise WalletExists(f"a wallet already exists at {home}")
            salt = random(16)
            key = _derive(passphrase, salt, params)
            store = cls(home, contents if contents is not None else empty_contents(), key, salt, params, lock, random)
            store.save()
            return store
        except BaseException:
            os.close(lock)
            raise

    @classmethod
    def open(cls, home: Path, passphrase: str, *, random: RandomSource | None = None) -> "Store":
        import nacl.utils

        home = Path(home)
        if not (home / WALLET_FILE).exists():
            raise WalletNotFound(f"no wallet at {home}")
        lock = cls._lock(home)
        try:
            raw = _read_bounded(home / WALLET_FILE)
            contents, key, salt, params = unseal(raw, passphrase, WALLET_FORMAT)
            return cls(home, contents, key, salt, params, lock, random or nacl.utils.random)
        except BaseException:
            os.close(lock)
            raise

    @property
    def path(self) -> Path:
        return self.home / WALLET_FILE

    def save(self) -> None:
        """Seal the contents with a fresh nonce and replace the file atomically."""
        if self._lock_fd is None:
            raise RuntimeError("the store is closed")
        atomic_write(self.path, seal(self.contents, self._key, self._salt, self._params, WALLET_FORMAT, self._random))

    def change_passphrase(self, new_passphrase: str, kdf: KdfParams | None = None) -> None:
        """Re-key with a fresh salt; the old file stays until the new one is in place."""
        params = kdf or self._params
        salt = self._random(16)
        key = _derive(new_passphrase, salt, params)
        self._key, self._salt, self._params = key, salt, params
        self.save()

    # -- backups ---------------------------------------------------------

    def export_backup(self, destination: Path, passphrase: str, kdf: KdfParams | None = None) -> None:
        """Write an encrypted, self-contained copy that opens on any machine with ``passphrase``."""
        params = kdf or BACKUP_KDF
        salt = self._random(16)
        key = _derive(passphrase, salt, params)
        atomic_write(Path(destination), seal(self.contents, key, salt, params, BACKUP_FORMAT, self._random))

    @staticmethod
    def read_backup(source: Path, passphrase: str) -> dict[str, Any]:
        raw = _read_bounded(Path(source)) if Path(source).exists() else None
        if raw is None:
            raise StoreError(f"no backup file at {source}")
        contents, _, _, _ = unseal(raw, passphrase, BACKUP_FORMAT)
        return contents

    # -- contents --------------------------------------------------------

    @property
    def credentials(self) -> list[dict[str, Any]]:
        return self.contents["credentials"]  # type: ignore[no-any-return]

    @property
    def history(self) -> list[dict[str, Any]]:
        return self.contents["history"]  # type: ignore[no-any-return]

    def iter_credentials(self) -> Iterator[dict[str, Any]]:
        yield from self.credentials
