"""``registry.audit``: a clean log replays clean; each kind of tampering is reported at the right place."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from registry.audit import AuditFailed, AuditFinding, AuditReport, audit
from registry.checkpoint import Checkpoint, CosignatureSigner, Ed25519Signer, SignedNote
from registry.did import KeySpec, create_op, update_op
from registry.entry import canonical
from registry.ledger import Ledger, Receipt
from registry.merkle import leaf_hash, node_hash, root_hash
from registry.storage import Database, LogStore
from sdjwt import Ed25519PrivateKey

ORIGIN = "registry.gov.example/v1"
NOW = 1_800_000_000
LOG_SIGNER = Ed25519Signer(ORIGIN, bytes([7]) * 32)
WITNESS = CosignatureSigner("witness.dept.example/w1", bytes([9]) * 32)


def _key(n: int) -> Ed25519PrivateKey:
    return Ed25519PrivateKey(bytes([n]) * 32)


def _office(n: int) -> tuple[Any, str, KeySpec]:
    spec = KeySpec("key-1", _key(n))
    entry, did = create_op([spec], [], [_key(n + 100).public_key()], NOW)
    return entry, did, spec


class Log:
    """A small real log: 6 DIDs created (checkpoint at 3 and 6), then an update of the first (size 7)."""

    def __init__(self, url: str) -> None:
        self.store = LogStore(Database(url))
        self.ledger = Ledger(self.store, origin=ORIGIN, signer=LOG_SIGNER, clock=lambda: NOW)
        self.offices = [_office(10 + n) for n in range(6)]
        assert all(isinstance(r, Receipt) for r in self.ledger.submit([o[0].raw for o in self.offices[:3]]))
        assert self.ledger.checkpoint_now() is not None
        assert all(isinstance(r, Receipt) for r in self.ledger.submit([o[0].raw for o in self.offices[3:]]))
        assert self.ledger.checkpoint_now() is not None
        create, did, spec = self.offices[0]
        self.update = update_op(did, create.hash, spec, [spec, KeySpec("key-2", _key(40))], [], NOW + 1)
        assert isinstance(self.ledger.submit([self.update.raw])[0], Receipt)

    def sql(self, statement: str, params: tuple[Any, ...] = ()) -> None:
        self.store.db.read().execute(statement, params)

    def audit(self, **kwargs: Any) -> AuditReport:
        kwargs.setdefault("cosigners", ())
        return audit(self.store, origin=ORIGIN, log_verifier=LOG_SIGNER.verifier, roots=(), now=NOW, **kwargs)


def _finding(report: AuditReport) -> AuditFinding:
    assert not report.ok
    assert report.first_error is not None
    return report.first_error


def test_a_clean_log_audits_ok(db_url: str) -> None:
    log = Log(db_url)
    report = log.audit()
    assert report == AuditReport(True, 7, root_hash(7, log.store), None, 2)
    report.raise_for_error()
    assert report.to_json()["firstError"] is None


def test_a_rewritten_entry_body_is_reported_at_its_seq(db_url: str) -> None:
    log = Log(db_url)
    forged = log.offices[5][0].raw.replace(b'"time":', b'"time":1', 1)
    log.sql("UPDATE entries SET body = ? WHERE seq = 2", (forged,))
    finding = _finding(log.audit())
    assert (finding.kind, finding.seq) == ("entry_hash_mismatch", 2)
    assert finding.expected == bytes.fromhex(log.offices[2][0].hash)
    assert finding.calculated == hashlib.sha256(forged).digest()
    with pytest.raises(AuditFailed, match="entry_hash_mismatch: .*seq 2"):
        log.audit().raise_for_error()


def test_a_body_rewritten_with_its_entry_hash_breaks_the_leaf_hash(db_url: str) -> None:
    log = Log(db_url)
    other = log.offices[1][0].raw.replace(b"key-1", b"key-9")
    log.sql("UPDATE entries SET body = ?, entry_hash = ? WHERE seq = 4", (other, hashlib.sha256(other).digest()))
    report = log.audit()
    finding = _finding(report)
    assert (finding.kind, finding.seq, finding.level, finding.index) == ("node_mismatch", 4, 0, 4)
    assert finding.expected == leaf_hash(log.offices[4][0].raw)
    assert finding.calculated == leaf_hash(other)
    # The report covers the prefix that replayed cleanly: the 4 entries before.
    assert (report.size, report.root) == (4, root_hash(4, log.store))


def test_a_tampered_interior_node_is_reported_with_both_hashes(db_url: str) -> None:
    log = Log(db_url)
    true_hash = log.store.get_node(1, 1)
    log.sql("UPDATE nodes SET hash = ? WHERE level = 1 AND idx = 1", (b"\x00" * 32,))
    finding = _finding(log.audit())
    assert (finding.kind, finding.seq, finding.level, finding.index) == ("node_mismatch", 3, 1, 1)
    assert finding.expected == b"\x00" * 32
    assert finding.calculated == true_hash == node_hash(
        leaf_hash(log.offices[2][0].raw), leaf_hash(log.offices[3][0].raw)
    )


def test_a_deleted_node_is_reported(db_url: str) -> None:
    log = Log(db_url)
    four = root_hash(4, log.store)
    log.sql("DELETE FROM nodes WHERE level = 2 AND idx = 0")
    finding = _finding(log.audit())
    assert (finding.kind, finding.seq, finding.level, finding.index) == ("node_missing", 3, 2, 0)
    assert finding.calculated == four


def test_a_deleted_entry_is_reported(db_url: str) -> None:
    log = Log(db_url)
    log.sql("DELETE FROM entries WHERE seq = 5")
    report = log.audit()
    assert (_finding(report).kind, _finding(report).seq) == ("entry_missing", 5)
    assert report.size == 5


def test_a_tampered_checkpoint_note_is_reported(db_url: str) -> None:
    log = Log(db_url)
    note = log.store.checkpoint_at(3)
    assert note is not None
    body = Checkpoint.from_text(note.split("\n\n")[0] + "\n")
    forged_text = Checkpoint(ORIGIN, 3, hashlib.sha256(b"other").digest()).to_text()
    # The text changed under the log's signature: the signature no longer verifies.
    log.sql("UPDATE checkpoints SET note = ? WHERE size = 3", (note.replace(body.to_text(), forged_text),))
    finding = _finding(log.audit())
    assert (finding.kind, finding.seq, finding.checkpoint_size) == ("checkpoint_invalid", 2, 3)
    assert finding.error_code == "signature_invalid"


def test_a_signed_checkpoint_with_another_root_is_reported(db_url: str) -> None:
    log = Log(db_url)
    forged_root = hashlib.sha256(b"other").digest()
    text = Checkpoint(ORIGIN, 6, forged_root).to_text()
    log.store.put_checkpoint(6, SignedNote(text, (LOG_SIGNER.sign(text),)).to_text())
    finding = _finding(log.audit())
    assert (finding.kind, finding.checkpoint_size) == ("checkpoint_root_mismatch", 6)
    assert (finding.expected, finding.calculated) == (forged_root, root_hash(6, log.store))


def test_cosignatures_are_checked_for_configured_witnesses(db_url: str) -> None:
    log = Log(db_url)
    note = SignedNote.from_text(log.store.checkpoint_at(6) or "")
    cosigned = note.with_signature(WITNESS.sign(note.text, timestamp=NOW + 2))
    log.store.put_checkpoint(6, cosigned.to_text())
    assert log.audit(cosigners=(WITNESS.verifier,)).ok
    # Size 3 has no cosignature: a quorum of one refuses it.
    finding = _finding(log.audit(cosigners=(WITNESS.verifier,), quorum=1))
    assert (finding.kind, finding.checkpoint_size) == ("checkpoint_quorum", 3)
    # A cosignature over another timestamp than the one it carries fails to verify.
    bad = cosigned.signatures[-1]
    broken = type(bad)(bad.name, bad.key_id, (NOW + 3).to_bytes(8, "big") + bad.signature[8:])
    log.store.put_checkpoint(6, note.with_signature(broken).to_text())
    finding = _finding(log.audit(cosigners=(WITNESS.verifier,)))
    assert (finding.kind, finding.checkpoint_size, finding.error_code) == ("checkpoint_invalid", 6, "signature_invalid")


def test_an_entry_whose_signature_does_not_verify_is_refused_at_replay(db_url: str) -> None:
    log = Log(db_url)
    create, did, spec = log.offices[1]
    honest = update_op(did, create.hash, spec, [spec], [], NOW + 1)
    value = json.loads(honest.raw)
    value["body"]["keys"][0]["purposes"] = ["capabilityInvocation"]  # Changed after signing.
    forged = canonical(value)
    # Appended directly, under the storage layer: the tree is consistent, only the signature is wrong.
    log.store.append([forged], [hashlib.sha256(forged).digest()])
    finding = _finding(log.audit())
    assert (finding.kind, finding.seq, finding.error_code) == ("entry_refused", 7, "entry_signature_invalid")
    assert "does not verify" in finding.message


def test_an_entry_breaking_a_rule_is_refused_at_replay(db_url: str) -> None:
    log = Log(db_url)
    create, did, spec = log.offices[0]
    # A second update on the same predecessor: the sequencer would answer 409.
    stale = update_op(did, create.hash, spec, [spec, KeySpec("key-3", _key(41))], [], NOW + 2)
    log.store.append([stale.raw], [bytes.fromhex(stale.hash)])
    finding = _finding(log.audit())
    assert (finding.kind, finding.seq, finding.error_code) == ("entry_refused", 7, "prev_conflict")
    assert "prev does not name the head" in finding.message


def test_a_rolled_back_log_is_caught_by_its_newer_checkpoint(tmp_path: Any) -> None:
    log = Log(str(tmp_path / "log.db"))
    text = Checkpoint(ORIGIN, 9, hashlib.sha256(b"future").digest()).to_text()
    log.store.put_checkpoint(9, SignedNote(text, (LOG_SIGNER.sign(text),)).to_text())
    finding = _finding(log.audit())
    assert (finding.kind, finding.checkpoint_size) == ("checkpoint_beyond_log", 9)


def test_a_node_beyond_the_log_is_reported(tmp_path: Any) -> None:
    log = Log(str(tmp_path / "log.db"))
    log.sql("INSERT INTO nodes (level, idx, hash) VALUES (1, 3, ?)", (b"\x01" * 32,))
    finding = _finding(log.audit())
    assert (finding.kind, finding.level, finding.index, finding.seq) == ("node_beyond_log", 1, 3, 7)


def test_the_audit_streams_pages(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import registry.audit as audit_module

    monkeypatch.setattr(audit_module, "PAGE_SIZE", 2)
    log = Log(str(tmp_path / "log.db"))
    assert log.audit().ok
    log.sql("UPDATE nodes SET hash = ? WHERE level = 0 AND idx = 6", (b"\x02" * 32,))
    finding = _finding(log.audit())
    assert (finding.kind, finding.seq) == ("node_mismatch", 6)
