"""kill -9 of ``civicid registry serve`` during a stream of appends: no acknowledged entry is lost, the log audits clean.

Each round starts the real server (gunicorn, 2 workers) on the same database,
checks the previous round's acknowledgements, streams pre-signed ``did.create``
entries from 4 client threads, and SIGKILLs the server's process group at a
random moment. The long run is ``scripts/crash_soak.py`` (docs/hardening/crash.md).
"""

from __future__ import annotations

from pathlib import Path
from random import Random

import pytest

from crash_loops import registry_loop


def test_sigkill_during_appends_loses_no_acknowledged_entry_sqlite(tmp_path: Path, rng: Random) -> None:
    stats = registry_loop(tmp_path, str(tmp_path / "registry.db"), kills=5, rng=rng)
    assert stats["kills"] == 5 and stats["audits"] == 5
    # The kills landed during appends: entries were acknowledged and some were in flight.
    assert stats["acked"] > 0 and stats["kills_with_inflight"] > 0


@pytest.mark.postgres
def test_sigkill_during_appends_loses_no_acknowledged_entry_postgres(tmp_path: Path, pg_url: str, rng: Random) -> None:
    stats = registry_loop(tmp_path, pg_url, kills=3, rng=rng)
    assert stats["kills"] == 3 and stats["audits"] == 3
    assert stats["acked"] > 0
