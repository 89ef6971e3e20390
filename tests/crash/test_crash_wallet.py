"""kill -9 of wallet writers: the wallet always opens whole, with the last acknowledged write (or the one after it).

The store driver appends a credential per write, varies the file size, and
re-keys every ninth write (``change_passphrase``), printing an ack with a digest
of the contents after each; ``civicid wallet change-passphrase`` is killed at
random moments of its short life.
"""

from __future__ import annotations

from pathlib import Path
from random import Random

from crash_loops import wallet_cli_loop, wallet_loop


def test_sigkill_during_store_writes_keeps_the_last_acknowledged_write(tmp_path: Path, rng: Random) -> None:
    stats = wallet_loop(tmp_path, kills=12, rng=rng)
    assert stats["kills"] == 12 and stats["writes_acked"] > 0


def test_sigkill_during_change_passphrase_opens_with_old_or_new(tmp_path: Path, rng: Random) -> None:
    stats = wallet_cli_loop(tmp_path, kills=10, rng=rng)
    assert stats["runs"] == 10
