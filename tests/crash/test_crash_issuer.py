"""kill -9 of ``civicid issuer bulk`` and of a process changing credential statuses.

Bulk: the run is killed (the main process only, as ``kill -9 <pid>`` would) at
random moments and rerun; after every kill each committed offer has exactly one
audit record and its letter, whole and carrying that offer's PIN, and the audit
chain verifies; the final rerun completes every row exactly once and
``civicid issuer audit-verify`` passes.

Statuses: a driver calls :func:`issuer.status.change_status` (what ``civicid
issuer credential`` and the admin API call) in a loop and prints an ack after
each; after each kill every acknowledged status is in the credentials table, the
audit records replay to the table, and the status list's version counts every
change.
"""

from __future__ import annotations

from pathlib import Path
from random import Random

import pytest

from crash_loops import bulk_loop, status_loop


def test_sigkill_during_bulk_issuance_reruns_to_exactly_one_offer_and_letter_per_row(tmp_path: Path, rng: Random) -> None:
    stats = bulk_loop(tmp_path, str(tmp_path / "issuer.db"), rows=2000, kills=3, rng=rng, delay=(0.8, 3.0))
    assert stats["kills"] == 3
    assert stats["final_offers"] == 2000 and stats["final_audit_records"] == 2000
    assert stats["temp_files_left"] == 0


def test_sigkill_during_status_changes_keeps_every_acknowledged_change_sqlite(tmp_path: Path, rng: Random) -> None:
    stats = status_loop(tmp_path, str(tmp_path / "issuer.db"), kills=10, rng=rng)
    assert stats["kills"] >= 1 and stats["acked"] > 0


@pytest.mark.postgres
def test_sigkill_during_status_changes_keeps_every_acknowledged_change_postgres(tmp_path: Path, pg_url: str, rng: Random) -> None:
    stats = status_loop(tmp_path, pg_url, kills=5, rng=rng)
    assert stats["kills"] >= 1 and stats["acked"] > 0
