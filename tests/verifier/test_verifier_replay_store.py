"""The database replay guard: one statement per use, expired rows taken over, durability as documented."""

from __future__ import annotations

import multiprocessing
from typing import Any

from verifier import storage
from verifier.storage import open_store


def test_second_use_is_refused_until_the_row_expires(db_url: str) -> None:
    store = open_store(db_url)
    assert store.first_use("d1", keep_until=1100, now=1000) is True
    assert store.first_use("d1", keep_until=1200, now=1050) is False
    # Past keep_until the key binding JWT could no longer pass its freshness check; the row is taken over.
    assert store.first_use("d1", keep_until=1300, now=1100) is True
    assert store.first_use("d1", keep_until=1400, now=1200) is False


def test_expired_rows_are_purged_at_most_once_per_interval(tmp_path: Any) -> None:
    store = open_store(str(tmp_path / "v.db"))
    for i in range(5):
        assert store.first_use(f"old-{i}", keep_until=1000, now=900)
    assert store.first_use("new", keep_until=5000, now=1000 + storage.SEEN_PURGE_INTERVAL)
    rows = store.db.read().execute("SELECT digest FROM vp_seen").fetchall()
    assert [r[0] for r in rows] == ["new"]


def test_sqlite_runs_wal_with_synchronous_normal(tmp_path: Any) -> None:
    store = open_store(str(tmp_path / "v.db"))
    cur = store.db.read()
    assert cur.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert cur.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    full = open_store(str(tmp_path / "f.db"), synchronous="FULL")
    assert full.db.read().execute("PRAGMA synchronous").fetchone()[0] == 2


def _use(path: str, digest: str, out: Any) -> None:
    out.put(open_store(path).first_use(digest, keep_until=2000, now=1000))


def test_two_processes_racing_for_one_presentation_accept_it_once(tmp_path: Any) -> None:
    path = str(tmp_path / "v.db")
    open_store(path)
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=_use, args=(path, "same", out)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert sorted(out.get(timeout=5) for _ in procs) == [False, False, False, True]


def test_threads_racing_for_one_presentation_accept_it_once(tmp_path: Any) -> None:
    import threading

    store = open_store(str(tmp_path / "v.db"))
    results: list[bool] = []
    start = threading.Barrier(8)

    def use(i: int) -> None:
        start.wait()
        for n in range(50):
            results.append(store.first_use(f"shared-{n}", keep_until=2000, now=1000))
            store.first_use(f"own-{i}-{n}", keep_until=2000, now=1000)

    threads = [threading.Thread(target=use, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sum(results) == 50 and len(results) == 400
    # The write lock was left free: another write goes through at once.
    assert store.first_use("after", keep_until=2000, now=1000) is True
