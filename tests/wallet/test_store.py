"""The encrypted store: sealing, wrong passphrases, corrupt/truncated/newer files, backups, atomicity."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import pytest

from wallet.errors import CorruptWallet, UnsupportedVersion, WalletExists, WalletLocked, WalletNotFound, WrongPassphrase
from wallet.store import WALLET_FILE, Store

from wallet_support import CANARY, PASSPHRASE


def _make(home: Path, **contents: object) -> None:
    with Store.create(home, PASSPHRASE) as store:
        store.credentials.append({"id": "abcd0123", "copies": [], "claims": {"given_name": CANARY}})
        store.contents.update(contents)
        store.save()


def test_round_trip_and_file_mode(tmp_path: Path) -> None:
    _make(tmp_path)
    assert stat.S_IMODE(os.stat(tmp_path / WALLET_FILE).st_mode) == 0o600
    with Store.open(tmp_path, PASSPHRASE) as store:
        assert store.credentials[0]["claims"]["given_name"] == CANARY


def test_canary_claim_is_not_in_the_file_in_any_plain_encoding(tmp_path: Path) -> None:
    _make(tmp_path)
    raw = (tmp_path / WALLET_FILE).read_bytes()
    for needle in (CANARY.encode(), base64.b64encode(CANARY.encode()), base64.urlsafe_b64encode(CANARY.encode()).rstrip(b"="),
                   CANARY.encode("utf-16-le"), CANARY.lower().encode()):
        assert needle not in raw


def test_wrong_passphrase_is_a_clear_error_and_changes_nothing(tmp_path: Path) -> None:
    _make(tmp_path)
    before = (tmp_path / WALLET_FILE).read_bytes()
    with pytest.raises(WrongPassphrase, match="passphrase does not open"):
        Store.open(tmp_path, "not the passphrase")
    assert (tmp_path / WALLET_FILE).read_bytes() == before


def test_missing_wallet(tmp_path: Path) -> None:
    with pytest.raises(WalletNotFound, match="no wallet at"):
        Store.open(tmp_path, PASSPHRASE)


def test_create_refuses_to_overwrite(tmp_path: Path) -> None:
    _make(tmp_path)
    with pytest.raises(WalletExists):
        Store.create(tmp_path, PASSPHRASE)
    with Store.open(tmp_path, PASSPHRASE) as store:
        assert store.credentials


@pytest.mark.parametrize("cut", [0, 1, 10, 50, 100, -40, -2])
def test_truncated_file_is_corrupt_not_a_crash(tmp_path: Path, cut: int) -> None:
    _make(tmp_path)
    path = tmp_path / WALLET_FILE
    raw = path.read_bytes()
    path.write_bytes(raw[:cut])
    with pytest.raises((CorruptWallet, WrongPassphrase)):
        Store.open(tmp_path, PASSPHRASE)
    assert path.read_bytes() == raw[:cut]  # Nothing overwritten.


def test_flipped_ciphertext_byte_is_refused(tmp_path: Path) -> None:
    _make(tmp_path)
    path = tmp_path / WALLET_FILE
    envelope = json.loads(path.read_text())
    box = bytearray(base64.urlsafe_b64decode(envelope["box"] + "=="))
    box[40] ^= 1
    envelope["box"] = base64.urlsafe_b64encode(bytes(box)).rstrip(b"=").decode()
    path.write_text(json.dumps(envelope))
    with pytest.raises(WrongPassphrase, match="or the file was altered"):
        Store.open(tmp_path, PASSPHRASE)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda e: e.update(format="something-else"),
        lambda e: e.update(cipher="aes-gcm"),
        lambda e: e["kdf"].update(alg="scrypt"),
        lambda e: e["kdf"].update(memlimit=2**40),
        lambda e: e["kdf"].update(opslimit=True),
        lambda e: e["kdf"].update(salt="!!"),
        lambda e: e["kdf"].update(salt="AAAA"),
        lambda e: e.update(version="1"),
        lambda e: e.update(box="AAAA"),
    ],
    ids=["format", "cipher", "kdf-alg", "memlimit-huge", "opslimit-bool", "salt-not-b64", "salt-short", "version-str", "box-short"],
)
def test_altered_header_is_corrupt(tmp_path: Path, mutate) -> None:  # type: ignore[no-untyped-def]
    _make(tmp_path)
    path = tmp_path / WALLET_FILE
    envelope = json.loads(path.read_text())
    mutate(envelope)
    path.write_text(json.dumps(envelope))
    with pytest.raises(CorruptWallet):
        Store.open(tmp_path, PASSPHRASE)


def test_newer_format_version_is_refused_before_decrypting(tmp_path: Path) -> None:
    _make(tmp_path)
    path = tmp_path / WALLET_FILE
    envelope = json.loads(path.read_text())
    envelope["version"] = 2
    path.write_text(json.dumps(envelope))
    with pytest.raises(UnsupportedVersion, match="format version 2"):
        Store.open(tmp_path, "even a wrong passphrase")


def test_newer_contents_version_is_refused(tmp_path: Path) -> None:
    _make(tmp_path, version=7)
    with pytest.raises(UnsupportedVersion, match="version 7"):
        Store.open(tmp_path, PASSPHRASE)


def test_not_json_and_directory(tmp_path: Path) -> None:
    _make(tmp_path)
    (tmp_path / WALLET_FILE).write_bytes(b"\xff\xfe garbage")
    with pytest.raises(CorruptWallet, match="not a civicid wallet"):
        Store.open(tmp_path, PASSPHRASE)


def test_change_passphrase(tmp_path: Path) -> None:
    _make(tmp_path)
    with Store.open(tmp_path, PASSPHRASE) as store:
        store.change_passphrase("new passphrase")
    with pytest.raises(WrongPassphrase):
        Store.open(tmp_path, PASSPHRASE)
    with Store.open(tmp_path, "new passphrase") as store:
        assert store.credentials[0]["id"] == "abcd0123"


def test_backup_restores_elsewhere_and_is_not_a_wallet(tmp_path: Path) -> None:
    _make(tmp_path / "a")
    backup = tmp_path / "wallet.backup"
    with Store.open(tmp_path / "a", PASSPHRASE) as store:
        store.export_backup(backup, "backup pass")
    assert CANARY.encode() not in backup.read_bytes()
    with pytest.raises(WrongPassphrase):
        Store.read_backup(backup, PASSPHRASE)
    contents = Store.read_backup(backup, "backup pass")
    with Store.create(tmp_path / "b", "other", contents=contents) as store:
        assert store.credentials[0]["claims"]["given_name"] == CANARY
    # A wallet file is not a backup, and a backup is not a wallet.
    with pytest.raises(CorruptWallet, match="not a backup"):
        Store.read_backup(tmp_path / "a" / WALLET_FILE, PASSPHRASE)
    (tmp_path / "c").mkdir()
    os.replace(backup, tmp_path / "c" / WALLET_FILE)
    with pytest.raises(CorruptWallet, match="is a backup"):
        Store.open(tmp_path / "c", "backup pass")


def test_second_process_lock_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _make(tmp_path)
    monkeypatch.setattr(Store, "_lock", staticmethod(lambda home, timeout=0.2, _orig=Store._lock: _orig(home, timeout)))
    with Store.open(tmp_path, PASSPHRASE):
        with pytest.raises(WalletLocked):
            Store.open(tmp_path, PASSPHRASE)


def test_failed_write_leaves_previous_wallet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _make(tmp_path)
    before = (tmp_path / WALLET_FILE).read_bytes()

    def broken_fsync(fd: int) -> None:
        raise OSError(28, "No space left on device")

    with Store.open(tmp_path, PASSPHRASE) as store:
        store.credentials.clear()
        monkeypatch.setattr(os, "fsync", broken_fsync)
        with pytest.raises(OSError):
            store.save()
        monkeypatch.undo()
    assert (tmp_path / WALLET_FILE).read_bytes() == before
    assert not list(tmp_path.glob("*.tmp"))
