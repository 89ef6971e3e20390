"""Crash safety: a writer killed with SIGKILL at a random moment leaves a wallet that opens intact."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from wallet.store import KdfParams, Store

from wallet_support import PASSPHRASE

_WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from wallet.store import Store
    home = Path(sys.argv[1])
    with Store.open(home, sys.argv[2]) as store:
        print("ready", flush=True)
        while True:
            store.contents["counter"] += 1
            # A large, changing payload makes the kill likely to land mid-write.
            store.contents["padding"] = str(store.contents["counter"]) * 50000
            store.save()
    """
)


def test_sigkill_during_repeated_writes_leaves_previous_or_new_wallet(tmp_path: Path) -> None:
    with Store.create(tmp_path, PASSPHRASE, kdf=KdfParams(1, 8192)) as store:
        store.contents["counter"] = 0
        store.contents["padding"] = ""
        store.save()
    last = 0
    for round_ in range(4):
        proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(tmp_path), PASSPHRASE],
                                stdout=subprocess.PIPE, cwd=Path(__file__).resolve().parents[2])
        assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
        time.sleep(0.15 + 0.07 * round_)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        assert proc.returncode == -signal.SIGKILL
        with Store.open(tmp_path, PASSPHRASE) as store:
            counter = store.contents["counter"]
            # Intact: the counter only moves forward and the padding belongs to the same write.
            assert counter >= last
            assert store.contents["padding"] == (str(counter) * 50000 if counter else "")
            last = counter
    assert last > 0, "the writer never completed a write; the test proved nothing"
    # Temporary files of the killed writers were cleaned up by the next open.
    assert not list(tmp_path.glob(".*.tmp"))
