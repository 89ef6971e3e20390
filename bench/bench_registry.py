"""Benchmark the registry: durable signed appends, resolution, proofs at 1M entries, memory as the log grows.

Not a test. Run ``python bench/bench_registry.py [--json] [--quick]``; progress
goes to stderr, the table (or JSON) to stdout. Every section is bounded:

- ``tree``: build a 1,000,000-leaf SQLite LogStore through ``LogStore.append``
  in batches of 50,000 raw leaves (dummy entry hashes: only the tree is
  measured), sampling RSS every 100,000 leaves; then time inclusion and
  consistency proof generation (O(log n) node reads in one query) plus
  verification. Goals: each proof < 1 ms; RSS flat as the log grows.
- ``append``: durable signed appends through ``Ledger.submit`` in batches of
  256, and through ``Ledger.submit_one`` from many threads (group commit), on
  SQLite (WAL, synchronous=FULL) and on PostgreSQL when reachable (a scratch
  database is created and dropped). Entries are ``did.create`` operations
  signed before the clock starts (signing is the client's cost); the timing
  includes parsing, Ed25519 verification, the ledger rules and the commit.
  Goal: >= 5,000 entries/s on SQLite.
- ``resolve``: ``LedgerState.resolve`` and ``key_at`` p50/p99 on the ledger
  built by ``append`` (10,240 DIDs by default).

``--profile`` adds a cProfile of one SQLite ``submit`` run (top functions by
cumulative and own time) to stderr.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import random
import resource
import secrets
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from registry.checkpoint import Ed25519Signer  # noqa: E402
from registry.did import KeySpec, create_op, key_hash  # noqa: E402
from registry.entry import Entry  # noqa: E402
from registry.ledger import MAX_BATCH, Ledger, Receipt  # noqa: E402
from registry.merkle import consistency_proof, inclusion_proof, leaf_hash, root_hash  # noqa: E402
from registry.proof import verify_consistency, verify_inclusion  # noqa: E402
from registry.storage import Database, LogStore  # noqa: E402
from sdjwt import Ed25519PrivateKey  # noqa: E402
from sdjwt.did_key import multibase_from_key  # noqa: E402

ORIGIN = "registry.bench.example/v1"
NOW = 1_800_000_000
PG_ADMIN = os.environ.get("CIVICID_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")

Row = dict[str, Any]


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _rss_mib() -> float:
    """Current resident set size (VmRSS), in MiB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _pct(samples: list[float], q: float) -> float:
    s = sorted(samples)
    return s[min(len(s) - 1, int(len(s) * q))]


def _row(section: str, metric: str, engine: str, value: float, unit: str, goal: str = "", ok: bool | None = None) -> Row:
    return {"section": section, "metric": metric, "engine": engine, "value": value, "unit": unit, "goal": goal,
            "result": "" if ok is None else ("PASS" if ok else "FAIL")}  # fmt: skip


# Tree: 1M leaves, proofs, memory ----------------------------------------------------------


def bench_tree(leaves: int, batch: int, samples: int, directory: Path) -> list[Row]:
    store = LogStore(Database(str(directory / "tree.db")))
    rows: list[Row] = []
    rss: list[tuple[int, float]] = [(0, _rss_mib())]
    sample_every = max(leaves // 10, 1)
    t0 = time.perf_counter()
    appended = 0
    while appended < leaves:
        n = min(batch, leaves - appended)
        bodies = [b"leaf %d" % i for i in range(appended, appended + n)]
        hashes = [i.to_bytes(32, "big") for i in range(appended, appended + n)]
        store.append(bodies, hashes)
        appended += n
        del bodies, hashes
        if appended % sample_every == 0 or appended == leaves:
            rss.append((appended, _rss_mib()))
            _log(f"  tree: {appended:,} leaves, {time.perf_counter() - t0:.1f} s, RSS {rss[-1][1]:.1f} MiB")
    build = time.perf_counter() - t0
    rows.append(_row("tree", f"build {leaves:,} leaves (LogStore.append, {batch:,}/batch)", "sqlite",
                     leaves / build, "leaves/s", f"{build:.0f} s total, < 120 s", build < 120))  # fmt: skip
    after_first = [m for n, m in rss if n >= sample_every]
    growth = max(after_first) - min(after_first) if after_first else 0.0
    rows.append(_row("memory", "RSS at 100k .. 1M leaves (min / max)", "sqlite", max(after_first), "MiB",
                     f"min {min(after_first):.1f}, growth {growth:.1f} MiB < 16", growth < 16))  # fmt: skip
    rows.append(_row("memory", "RSS samples every 100k leaves", "sqlite", 0, "MiB",
                     " ".join(f"{m:.0f}" for _, m in rss[1:])))  # fmt: skip

    rng = random.Random(1)
    size = leaves
    root = root_hash(size, store)
    gen, ver = [], []
    for _ in range(samples):
        index = rng.randrange(size)
        t0 = time.perf_counter()
        proof = inclusion_proof(index, size, store)
        t1 = time.perf_counter()
        verify_inclusion(leaf_hash(b"leaf %d" % index), index, size, proof, root)
        t2 = time.perf_counter()
        gen.append(t1 - t0)
        ver.append(t2 - t1)
    total = [g + v for g, v in zip(gen, ver)]
    rows.append(_row("proofs", f"inclusion generate at {size:,} p50", "sqlite", statistics.median(gen) * 1e6, "µs"))
    rows.append(_row("proofs", f"inclusion verify at {size:,} p50", "sqlite", statistics.median(ver) * 1e6, "µs"))
    rows.append(_row("proofs", "inclusion generate+verify p50 / p99", "sqlite", statistics.median(total) * 1e6, "µs",
                     f"p90 {_pct(total, 0.9) * 1e6:.0f}, p99 {_pct(total, 0.99) * 1e6:.0f} µs; p99 < 1000 µs",
                     _pct(total, 0.99) < 1e-3))  # fmt: skip

    old_sizes = sorted({rng.randrange(1, size) for _ in range(32)})
    old_roots = {s: root_hash(s, store) for s in old_sizes}  # The verifier's cached tree heads.
    gen, ver = [], []
    for _ in range(samples):
        old = rng.choice(old_sizes)
        t0 = time.perf_counter()
        proof = consistency_proof(old, size, store)
        t1 = time.perf_counter()
        verify_consistency(old, size, proof, old_roots[old], root)
        t2 = time.perf_counter()
        gen.append(t1 - t0)
        ver.append(t2 - t1)
    total = [g + v for g, v in zip(gen, ver)]
    rows.append(_row("proofs", f"consistency generate at {size:,} p50", "sqlite", statistics.median(gen) * 1e6, "µs"))
    rows.append(_row("proofs", f"consistency verify at {size:,} p50", "sqlite", statistics.median(ver) * 1e6, "µs"))
    rows.append(_row("proofs", "consistency generate+verify p50 / p99", "sqlite", statistics.median(total) * 1e6, "µs",
                     f"p90 {_pct(total, 0.9) * 1e6:.0f}, p99 {_pct(total, 0.99) * 1e6:.0f} µs; p99 < 1000 µs",
                     _pct(total, 0.99) < 1e-3))  # fmt: skip
    t0 = time.perf_counter()
    for _ in range(samples):
        root_hash(size, store)
    rows.append(_row("proofs", f"root_hash at {size:,} (from stored nodes)", "sqlite",
                     (time.perf_counter() - t0) / samples * 1e6, "µs"))  # fmt: skip
    store.db.close()
    return rows


# Appends --------------------------------------------------------------------------------


def presign(count: int) -> tuple[list[bytes], list[str]]:
    """``count`` valid did.create entries (one fresh key each), signed outside any timing."""
    bodies, dids = [], []
    # One recovery-key commitment shared by all (the rules do not care whose it is).
    next_hash = key_hash(multibase_from_key(Ed25519PrivateKey(bytes([255]) * 32).public_key()))
    t0 = time.perf_counter()
    for n in range(count):
        spec = KeySpec("key-1", Ed25519PrivateKey((n + 1).to_bytes(8, "big") * 4))
        entry, did = create_op([spec], [], [next_hash], NOW)
        bodies.append(entry.raw)
        dids.append(str(did))
    _log(f"  signed {count:,} did.create entries in {time.perf_counter() - t0:.1f} s (client cost, not timed)")
    return bodies, dids


def _ledger(url: str) -> Ledger:
    return Ledger(LogStore(Database(url)), origin=ORIGIN, signer=Ed25519Signer(ORIGIN, bytes([7]) * 32),
                  clock=lambda: NOW)  # fmt: skip


def run_batches(ledger: Ledger, bodies: list[bytes]) -> float:
    t0 = time.perf_counter()
    for start in range(0, len(bodies), MAX_BATCH):
        results = ledger.submit(bodies[start : start + MAX_BATCH])
        if not all(isinstance(r, Receipt) for r in results):
            raise SystemExit(f"an entry was refused: {next(r for r in results if not isinstance(r, Receipt))!r}")
    return time.perf_counter() - t0


def run_threads(ledger: Ledger, bodies: list[bytes], threads: int) -> float:
    ledger.start()
    failures: list[BaseException] = []
    slices = [bodies[i::threads] for i in range(threads)]

    def worker(mine: list[bytes]) -> None:
        try:
            for body in mine:
                ledger.submit_one(body)
        except BaseException as exc:  # Reported after the run.
            failures.append(exc)

    pool = [threading.Thread(target=worker, args=(s,)) for s in slices]
    t0 = time.perf_counter()
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    elapsed = time.perf_counter() - t0
    ledger.stop()
    if failures:
        raise SystemExit(f"submit_one failed: {failures[0]!r}")
    return elapsed


def bench_appends(
    engine: str, make_url: Callable[[str], str], bodies: list[bytes], threads: int, profile: bool
) -> tuple[list[Row], Ledger]:
    rows: list[Row] = []
    n = len(bodies)
    ledger = _ledger(make_url("batches"))
    if profile:
        profiler = cProfile.Profile()
        profiler.enable()
    elapsed = run_batches(ledger, bodies)
    if profile:
        profiler.disable()
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats("cumulative").print_stats(25)
        stats.sort_stats("tottime").print_stats(20)
        _log(out.getvalue())
    goal = engine == "sqlite"
    rows.append(_row("append", f"Ledger.submit, {MAX_BATCH}/batch, {n:,} entries", engine, n / elapsed, "entries/s",
                     ">= 5,000/s" if goal else "", (n / elapsed >= 5000) if goal else None))  # fmt: skip
    assert ledger.store.size() == n
    threaded = _ledger(make_url("threads"))
    elapsed = run_threads(threaded, bodies, threads)
    rows.append(_row("append", f"Ledger.submit_one, {threads} threads (group commit)", engine, n / elapsed,
                     "entries/s", ">= 5,000/s" if goal else "", (n / elapsed >= 5000) if goal else None))  # fmt: skip
    assert threaded.store.size() == n
    threaded.store.db.close()
    return rows, ledger


def floor_rows(bodies: list[bytes]) -> list[Row]:
    """The unavoidable per-entry work, without storage: parse + Ed25519 verify (one core)."""
    from registry.did import parse_body

    sample = bodies[: min(len(bodies), 2000)]
    t0 = time.perf_counter()
    parsed = [Entry.from_bytes(b) for b in sample]
    t1 = time.perf_counter()
    keys = [parse_body("did.create", e.body).keys[0].key for e in parsed]  # type: ignore[union-attr]
    t2 = time.perf_counter()
    for entry, key in zip(parsed, keys):
        entry.verify_signature(key)
    t3 = time.perf_counter()
    n = len(sample)
    return [
        _row("append", "floor: Entry.from_bytes only", "-", n / (t1 - t0), "entries/s"),
        _row("append", "floor: parse body (keys)", "-", n / (t2 - t1), "entries/s"),
        _row("append", "floor: Ed25519 verify only", "-", n / (t3 - t2), "entries/s"),
    ]


def what_if_reference_jcs(bodies: list[bytes], directory: Path, threads: int) -> list[Row]:
    """Re-run the SQLite appends with every canonicalisation through ``rfc8785`` (the pre-``registry.jcs`` cost).

    Only the C fast path is switched off, in this process: the signing input is
    still cut from the canonical bytes and the SCID still hashed from the JCS text.
    """
    from registry import jcs

    original = jcs.dumps_plain
    jcs.dumps_plain = lambda value: None
    try:
        counter = iter(range(1_000))
        rows, ledger = bench_appends(
            "sqlite", lambda label: str(directory / f"whatif-{label}-{next(counter)}.db"), bodies, threads, False
        )
        ledger.store.db.close()
    finally:
        jcs.dumps_plain = original
    for row in rows:
        row["metric"] = "what-if rfc8785 only: " + row["metric"]
    return rows


def postgres_scratch() -> tuple[Callable[[str], str], Callable[[], None]] | None:
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN, connect_timeout=3, autocommit=True) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:  # No server: the PostgreSQL rows are skipped, with the reason.
        _log(f"  PostgreSQL not reachable at {PG_ADMIN} ({type(exc).__name__}); skipped")
        return None
    created: list[str] = []
    base = PG_ADMIN.rsplit("/", 1)[0]

    def make(label: str) -> str:
        name = f"civicid_bench_{label}_{secrets.token_hex(4)}"
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        created.append(name)
        return f"{base}/{name}"

    def drop() -> None:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            for name in created:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return make, drop


# Resolution -----------------------------------------------------------------------------


def bench_resolve(ledger: Ledger, dids: list[str], samples: int) -> list[Row]:
    rng = random.Random(2)
    state = ledger.state
    resolve, key_at = [], []
    for _ in range(samples):
        did = rng.choice(dids)
        t0 = time.perf_counter()
        state.resolve(did)
        t1 = time.perf_counter()
        state.key_at(did, "key-1", NOW + 10)
        t2 = time.perf_counter()
        resolve.append(t1 - t0)
        key_at.append(t2 - t1)
    n = len(dids)
    return [
        _row("resolve", f"LedgerState.resolve p50 ({n:,} DIDs)", "memory", statistics.median(resolve) * 1e6, "µs",
             f"p99 {_pct(resolve, 0.99) * 1e6:.1f} µs"),
        _row("resolve", f"LedgerState.key_at p50 ({n:,} DIDs)", "memory", statistics.median(key_at) * 1e6, "µs",
             f"p99 {_pct(key_at, 0.99) * 1e6:.1f} µs"),
    ]  # fmt: skip


# Main -----------------------------------------------------------------------------------


def print_table(rows: list[Row]) -> None:
    header = ("section", "metric", "engine", "value", "unit", "goal / detail", "result")
    table = [header] + [
        (r["section"], r["metric"], r["engine"], f"{r['value']:,.1f}" if r["value"] else "", r["unit"], r["goal"], r["result"])
        for r in rows
    ]
    widths = [max(len(str(line[i])) for line in table) for i in range(len(header))]
    for i, line in enumerate(table):
        print("  ".join(str(cell).ljust(widths[j]) if j != 3 else str(cell).rjust(widths[j]) for j, cell in enumerate(line)))
        if i == 0:
            print("  ".join("-" * w for w in widths))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    parser.add_argument("--quick", action="store_true", help="100k leaves, 2,560 entries: a smoke run")
    parser.add_argument("--sections", default="tree,append,resolve", help="comma-separated subset")
    parser.add_argument("--leaves", type=int, default=1_000_000)
    parser.add_argument("--tree-batch", type=int, default=50_000)
    parser.add_argument("--entries", type=int, default=10_240, help="signed entries per append run")
    parser.add_argument("--threads", type=int, default=256)
    parser.add_argument("--samples", type=int, default=1_000)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--profile", action="store_true", help="cProfile one SQLite submit run (stderr)")
    parser.add_argument("--what-if-reference-jcs", action="store_true",
                        help="also time SQLite appends with every JCS through rfc8785 (in-process patch)")
    args = parser.parse_args()
    if args.quick:
        args.leaves, args.entries = min(args.leaves, 100_000), min(args.entries, 2_560)
    sections = set(args.sections.split(","))
    rows: list[Row] = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="civicid-bench-") as tmp:
        directory = Path(tmp)
        if "tree" in sections:
            # First, so the RSS samples are not inflated by the other sections' projections.
            _log(f"tree: {args.leaves:,} leaves")
            rows += bench_tree(args.leaves, args.tree_batch, args.samples, directory)
        if sections & {"append", "resolve"}:
            _log("append: pre-signing")
            bodies, dids = presign(args.entries)
            rows += floor_rows(bodies)
            _log("append: sqlite")
            counter = iter(range(1_000))
            sqlite_rows, ledger = bench_appends(
                "sqlite", lambda label: str(directory / f"{label}-{next(counter)}.db"), bodies, args.threads, args.profile
            )
            rows += sqlite_rows
            if "resolve" in sections:
                rows += bench_resolve(ledger, dids, args.samples * 5)
            ledger.store.db.close()
            if args.what_if_reference_jcs and "append" in sections:
                _log("append: sqlite, what-if rfc8785 only")
                rows += what_if_reference_jcs(bodies, directory, args.threads)
            pg = None if args.no_postgres else postgres_scratch()
            if pg is not None and "append" in sections:
                make, drop = pg
                _log("append: postgresql")
                try:
                    pg_rows, pg_ledger = bench_appends("postgresql", make, bodies, args.threads, False)
                    pg_ledger.store.db.close()
                    rows += pg_rows
                finally:
                    drop()
    rows.append(_row("run", "wall time", "-", time.perf_counter() - started, "s"))
    if args.json:
        json.dump({"date": time.strftime("%Y-%m-%d"), "cpus": os.cpu_count(), "python": sys.version.split()[0],
                   "rows": rows}, sys.stdout, indent=2)  # fmt: skip
        print()
    else:
        print_table(rows)


if __name__ == "__main__":
    main()
