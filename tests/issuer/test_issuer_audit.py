"""The hash-chained audit log: every change is recorded, and any tampering is found at the right record."""

from __future__ import annotations

import json
from typing import Any, Callable

import nacl.utils
import pytest
from click.testing import CliRunner

from issuer import audit
from issuer.cli import cli
from issuer.errors import AuditChainBroken
from issuer.offers import OfferSettings, create_offers
from issuer.officers import add_officer
from issuer.status import change_status
from issuer_helpers import NATIONAL_ID


def _populate(app: Any) -> Any:
    store = app.extensions["civicid_issuer_store"]
    types = app.extensions["civicid_issuer_types"]
    settings = OfferSettings.from_config(app.config)
    offers = [
        create_offers(store, settings, types["national_id"], NATIONAL_ID, actor="officer:alice", now=1_760_000_000 + i, random=nacl.utils.random)
        for i in range(3)
    ]
    add_officer(store, "bob", "a long enough password", "auditor", actor="officer:alice", now=1_760_000_200)
    with store.transaction() as cur:
        cur.execute("INSERT INTO credentials (id, offer_id, configuration_id, subject, list_id, idx, status, issued_at, expires_at, holder_jkt) VALUES ('c1', 'o1', 'national_id', 's', 'l1', 5, 0, 1, 2, 'j')")
        cur.execute("INSERT INTO status_lists (id, bits, size, allocated, version, created_at) VALUES ('l1', 2, 1024, 1, 1, 1)")
    change_status(store, "c1", "revoke", actor="officer:carol", now=1_760_000_300, reason="reported stolen")
    return store, offers


def test_changes_are_recorded_without_secrets(plain_app: Any) -> None:
    store, offers = _populate(plain_app)
    records = audit.records(store)
    assert [r.action for r in records] == ["offer.create"] * 3 + ["officer.add", "credential.revoke"]
    assert records[-1].actor == "officer:carol" and records[-1].target == "credential:c1"
    assert records[-1].details == {"from": "valid", "to": "revoked", "reason": "reported stolen"}
    assert records[0].prev_hash == "0" * 64 and records[1].prev_hash == records[0].hash
    dump = json.dumps([r.to_json() for r in records])
    for secret in ["Chen", "Mei", "110101", *[o.tx_code for o in offers], "a long enough password"]:
        assert secret not in dump
    summary = audit.verify_chain(store)
    assert summary.count == 5 and summary.head_hash == records[-1].hash


TAMPERS: list[tuple[str, Callable[[Any], None], int]] = [
    ("edit-details", lambda cur: cur.execute("UPDATE audit SET details = ? WHERE seq = 2", ('{"configuration_id":"residence_permit"}',)), 2),
    ("edit-actor", lambda cur: cur.execute("UPDATE audit SET actor = 'officer:mallory' WHERE seq = 5"), 5),
    ("edit-time", lambda cur: cur.execute("UPDATE audit SET time = time + 1 WHERE seq = 1"), 1),
    ("delete-middle", lambda cur: cur.execute("DELETE FROM audit WHERE seq = 3"), 3),
    ("delete-newest", lambda cur: cur.execute("DELETE FROM audit WHERE seq = 5"), 5),
    ("rehash-one-record", lambda cur: cur.execute("UPDATE audit SET hash = ? WHERE seq = 4", ("f" * 64,)), 4),
]


@pytest.mark.parametrize("name,tamper,seq", TAMPERS, ids=[t[0] for t in TAMPERS])
def test_tampering_is_detected(plain_app: Any, name: str, tamper: Callable[[Any], None], seq: int) -> None:
    store, _ = _populate(plain_app)
    with store.transaction() as cur:
        tamper(cur)
    with pytest.raises(AuditChainBroken, match="altered|removed") as info:
        audit.verify_chain(store)
    assert info.value.seq == seq


def test_rewritten_consistent_chain_caught_by_expected_head(plain_app: Any) -> None:
    store, _ = _populate(plain_app)
    head = audit.verify_chain(store).head_hash
    # An attacker with database access rewrites record 5 and re-links the head consistently.
    with store.transaction() as cur:
        row = cur.execute("SELECT seq, time, actor, action, target, details, prev_hash FROM audit WHERE seq = 5").fetchone()
        new_hash = audit.record_hash(5, row[1], "officer:mallory", row[3], row[4], row[5], row[6])
        cur.execute("UPDATE audit SET actor = 'officer:mallory', hash = ? WHERE seq = 5", (new_hash,))
        cur.execute("UPDATE audit_head SET hash = ? WHERE id = 1", (new_hash,))
    audit.verify_chain(store)  # Self-consistent...
    with pytest.raises(AuditChainBroken, match="rewritten"):
        audit.verify_chain(store, expected_head=head)  # ...but not the chain the auditor saw.


def test_audit_verify_cli(plain_app: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    store, _ = _populate(plain_app)
    db = plain_app.config["DATABASE"]
    monkeypatch.setenv("CIVICID_ISSUER_SECRET_KEY", "s" * 40)
    runner = CliRunner()
    result = runner.invoke(cli, ["audit-verify", "--db", db])
    assert result.exit_code == 0, result.output
    assert "5 records" in result.output
    with store.transaction() as cur:
        cur.execute("UPDATE audit SET target = 'credential:c2' WHERE seq = 5")
    result = runner.invoke(cli, ["audit-verify", "--db", db])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == ["error: audit record 5 does not match its hash; the log was altered [audit_chain_broken]"]
    assert "Traceback" not in result.output
