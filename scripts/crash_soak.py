"""The crash tests' loops, many more times: SIGKILL each civicid writer at random moments and check after every restart.

    python scripts/crash_soak.py                       # the run recorded in docs/hardening/crash.md
    python scripts/crash_soak.py --only wallet --wallet 500 --seed 1234

Loops (tests/crash/crash_loops.py): the registry server under a stream of
appends (SQLite, and PostgreSQL at CIVICID_TEST_POSTGRES when reachable),
``civicid issuer bulk``, credential status changes (SQLite and PostgreSQL),
wallet store writes and ``civicid wallet change-passphrase``. Each loop stops
at its first broken guarantee and the script exits 1 naming it; otherwise it
prints one summary line per loop and, with ``--json FILE``, writes them all.
The registry and bulk loops start a fresh database every ``--segment`` kills
so each audit stays short (an audit replays the whole log).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import secrets
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "crash")]

import crash_loops as loops  # noqa: E402

POSTGRES_ADMIN_URL = os.environ.get("CIVICID_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


def _postgres_available() -> bool:
    try:
        import psycopg

        with psycopg.connect(POSTGRES_ADMIN_URL, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
        return True
    except Exception:  # No driver or no server: skip the PostgreSQL loops.
        return False


@contextmanager
def _pg_database() -> Iterator[str]:
    import psycopg

    name = "civicid_crash_" + secrets.token_hex(6)
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def _sqlite_database(folder: Path) -> Iterator[str]:
    yield str(folder / "store.db")


def _segmented(run: Callable[[Path, str, int], dict[str, Any]], total: int, segment: int, base: Path,
               database: Callable[[Path], Any]) -> dict[str, Any]:
    """Run ``total`` kills as segments of ``segment`` kills, each on a fresh database; sum the counters."""
    summed: dict[str, Any] = {}
    done, index = 0, 0
    while done < total:
        kills = min(segment, total - done)
        folder = base / f"segment-{index}"
        folder.mkdir(parents=True)
        with database(folder) as url:
            stats = run(folder, url, kills)
        for key, value in stats.items():
            if key.startswith("max_"):
                summed[key] = max(summed.get(key, 0), value)
            elif isinstance(value, (int, float)):
                summed[key] = round(summed.get(key, 0) + value, 1)
        done += kills
        index += 1
    summed["databases"] = index
    return summed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=None, help="Seed of the random kill moments (default: fresh).")
    parser.add_argument("--registry", type=int, default=80, help="Kills of the registry server on SQLite.")
    parser.add_argument("--registry-pg", type=int, default=30, help="Kills of the registry server on PostgreSQL.")
    parser.add_argument("--bulk", type=int, default=30, help="Kills of civicid issuer bulk.")
    parser.add_argument("--bulk-rows", type=int, default=3000)
    parser.add_argument("--status", type=int, default=150, help="Kills of the status-change driver on SQLite.")
    parser.add_argument("--status-pg", type=int, default=50, help="Kills of the status-change driver on PostgreSQL.")
    parser.add_argument("--wallet", type=int, default=200, help="Kills of the wallet store writer.")
    parser.add_argument("--wallet-cli", type=int, default=200, help="Kills of civicid wallet change-passphrase.")
    parser.add_argument("--segment", type=int, default=20, help="Kills per fresh database (registry, status).")
    parser.add_argument("--only", action="append", default=None,
                        choices=["registry", "registry-pg", "bulk", "status", "status-pg", "wallet", "wallet-cli"])
    parser.add_argument("--json", dest="json_file", default=None, help="Write the summary as JSON to this file.")
    parser.add_argument("--verbose", action="store_true", help="One line per kill.")
    args = parser.parse_args(argv)

    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**32)
    rng = random.Random(seed)
    log = print if args.verbose else loops._quiet
    postgres = _postgres_available()
    wanted = set(args.only or ["registry", "registry-pg", "bulk", "status", "status-pg", "wallet", "wallet-cli"])
    print(f"crash soak: seed {seed}, PostgreSQL {'at ' + POSTGRES_ADMIN_URL if postgres else 'unavailable (skipped)'}")

    plan: list[tuple[str, Callable[[Path], dict[str, Any]]]] = [
        ("registry", lambda base: _segmented(
            lambda d, url, k: loops.registry_loop(d, url, kills=k, rng=rng, delay=(0.2, 1.0), log=log),
            args.registry, args.segment, base, _sqlite_database)),
        ("registry-pg", lambda base: _segmented(
            lambda d, url, k: loops.registry_loop(d, url, kills=k, rng=rng, delay=(0.2, 1.0), log=log),
            args.registry_pg, args.segment, base, lambda _: _pg_database())),
        ("bulk", lambda base: _segmented(
            lambda d, url, k: loops.bulk_loop(d, url, rows=args.bulk_rows, kills=k, rng=rng, delay=(0.6, 3.0), log=log),
            args.bulk, 10, base, _sqlite_database)),
        ("status", lambda base: _segmented(
            lambda d, url, k: loops.status_loop(d, url, kills=k, rng=rng, log=log),
            args.status, 50, base, _sqlite_database)),
        ("status-pg", lambda base: _segmented(
            lambda d, url, k: loops.status_loop(d, url, kills=k, rng=rng, log=log),
            args.status_pg, 50, base, lambda _: _pg_database())),
        ("wallet", lambda base: loops.wallet_loop(base, kills=args.wallet, rng=rng, log=log)),
        ("wallet-cli", lambda base: loops.wallet_cli_loop(base, kills=args.wallet_cli, rng=rng, log=log)),
    ]
    results: dict[str, Any] = {"seed": seed, "date": time.strftime("%Y-%m-%d"), "loops": {}}
    started = time.monotonic()
    failed = None
    with tempfile.TemporaryDirectory(prefix="civicid-crash-") as tmp:
        for name, run in plan:
            if name not in wanted or (name.endswith("-pg") and not postgres):
                continue
            base = Path(tmp) / name
            base.mkdir()
            try:
                stats = run(base)
            except loops.CrashCheckFailed as exc:
                failed = f"{name}: {exc}"
                print(f"FAILED {failed}", flush=True)
                break
            results["loops"][name] = stats
            print(f"{name}: " + ", ".join(f"{k}={v}" for k, v in stats.items()), flush=True)
    usage_self = resource.getrusage(resource.RUSAGE_SELF)
    usage_children = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = usage_self.ru_utime + usage_self.ru_stime + usage_children.ru_utime + usage_children.ru_stime
    results.update({"wall_seconds": round(time.monotonic() - started, 1), "cpu_seconds": round(cpu, 1), "failed": failed})
    print(f"wall {results['wall_seconds']} s, CPU {results['cpu_seconds']} s (this process and its children); "
          f"{'FAILED' if failed else 'every check passed'}")
    if args.json_file:
        Path(args.json_file).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
