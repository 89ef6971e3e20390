"""Soak: each service's capacity, then twice that rate for minutes, with the workers' RSS sampled.

Run from the repository root (loopback only; the figures go to docs/hardening/load.md)::

    python scripts/load_soak.py                      # verifier then registry, 5 min each at most
    python scripts/load_soak.py --minutes 1 --json   # shorter, for machines
    python scripts/load_soak.py --services registry

For each service under gunicorn with serve's thread count (1 worker x 4 gthread threads: on 2
shared cores a Python client cannot offer twice what 2 workers serve, since those take both cores):

1. capacity: shedding off (``MAX_IN_FLIGHT=0``), bench_verifier's closed-loop generator with
   32 keep-alive connections for ``--capacity-seconds``; answers per second;
2. overload: a fresh server with the default settings (``MAX_IN_FLIGHT=3`` per process), behind
   nginx with deploy/nginx-overload.conf and a capacity zone at the measured rate (``--front
   nginx``, the default when nginx is installed; ``--front none`` drives gunicorn directly),
   driven open-loop at 2x that rate (``--connections``) for ``--minutes``, the RSS of every
   gunicorn worker sampled from /proc every ``--sample-seconds``; accepted rate, shed %,
   p50/p99 of accepted answers (from send, and from the schedule), statuses, timeouts;
3. recovery: right after the burst, a paced load at a quarter of capacity for 5 s;
   recovery time = start of the first 0.5 s window in which every answer was a success.

A CPU budget (``--cpu-minutes``, default 15, client and servers together) shortens the
overload phases so the whole run stays within it on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "load"))

import loadgen as lg  # noqa: E402


WORKERS = 1


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Budget:
    """CPU seconds spent by this script and every server it started (dead ones included)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.finished = 0.0
        self.live: list[lg.Server] = []

    def spent(self) -> float:
        return _own_cpu() + self.finished + sum(s.cpu_seconds() for s in self.live)

    def retire(self, server: lg.Server) -> None:
        self.finished += server.cpu_seconds()
        self.live.remove(server)
        server.stop()


def start(name: str, tmp: Path, max_in_flight: int | None, pool: int) -> lg.Server:
    if name == "verifier":
        return lg.start_verifier(tmp, workers=WORKERS, threads=4, max_in_flight=max_in_flight, presentations=pool)
    return lg.start_registry(tmp, workers=WORKERS, threads=4, max_in_flight=max_in_flight, dids=200)


def soak(name: str, args: argparse.Namespace, budget: Budget, share: float, base: Path) -> dict[str, Any]:
    started_cpu = budget.spent()
    result: dict[str, Any] = {"service": name, "workers": WORKERS, "threads": 4}
    _log(f"{name}: capacity, shedding off")
    server = start(name, base / f"{name}-capacity", 0, int(args.capacity_seconds * 4000) + 400)
    budget.live.append(server)
    try:
        lg.capacity(server, 1.0, 8)  # Warm-up: both workers, caches.
        offset = 4000 if name == "verifier" else 0
        cpu0 = server.cpu_seconds()
        cap = lg.capacity(server, args.capacity_seconds, 32, offset=offset)
        result["capacity"] = {"per_s": cap["per_s"], "p50_ms": cap["p50_ms"], "p99_ms": cap["p99_ms"],
                              "connections": 32, "seconds": args.capacity_seconds,
                              "server_cpu_per_s": (server.cpu_seconds() - cpu0) / args.capacity_seconds}  # fmt: skip
    finally:
        budget.retire(server)
    rate = 2 * cap["per_s"]
    _log(f"{name}: capacity {cap['per_s']:.0f}/s; overload at {rate:.0f}/s for up to {args.minutes:g} min")

    # The replay guard is real: the verifier gets as many distinct presentations as memory allows,
    # then cycles them (a replay costs the whole pipeline and answers presentation_replayed).
    server = start(name, base / f"{name}-overload", None, args.presentations)
    budget.live.append(server)
    front = None
    target = server
    if args.front == "nginx":
        front = lg.start_front(base / f"{name}-nginx", server, rate=cap["per_s"], burst=max(1, int(cap["per_s"] / 10)))
        budget.live.append(front)  # type: ignore[arg-type]
        target = front.server
    result["front"] = args.front
    samples: list[dict[str, Any]] = []
    stop_sampling = threading.Event()
    limit = started_cpu + share

    def sample() -> None:
        begin = time.perf_counter()
        while True:
            samples.append({"t": round(time.perf_counter() - begin, 1), "rss_mib": server.rss_mib(),
                            "cpu_spent_s": round(budget.spent(), 1)})  # fmt: skip
            if stop_sampling.wait(args.sample_seconds):
                break

    sampler = threading.Thread(target=sample, daemon=True)
    try:
        initial_workers = sorted(server.worker_pids())
        cpu0 = server.cpu_seconds()
        sampler.start()
        checked = [time.perf_counter()]

        def over_budget() -> bool:
            if time.perf_counter() - checked[0] < 2:
                return False
            checked[0] = time.perf_counter()
            return budget.spent() > limit

        run = lg.paced(target, server.requests, rate=rate, seconds=args.minutes * 60,
                       connections=args.connections or (64 if front is not None else 128),
                       timeout=10.0, stop=over_budget)  # fmt: skip
        server_cpu = server.cpu_seconds() - cpu0
        stop_sampling.set()
        sampler.join()
        after = lg.recovery(target, rate=cap["per_s"] / 4, seconds=5.0)
        final_workers = sorted(server.worker_pids())
    finally:
        stop_sampling.set()
        if front is not None:
            result["nginx_cpu_seconds"] = front.cpu_seconds()
            budget.retire(front)  # type: ignore[arg-type]
        budget.retire(server)
    summary = run.summary()
    summary["server_cpu_per_s"] = server_cpu / run.elapsed
    windows = run.windows(10.0)
    result["overload"] = summary
    result["overload_windows_10s"] = [{k: (round(v, 1) if isinstance(v, float) else v) for k, v in w.items()}
                                      for w in windows]  # fmt: skip
    result["recovery"] = {"recovered_after_s": after["recovered_after_s"], "probe_rate_per_s": cap["per_s"] / 4,
                          "probe": after["probe"]}  # fmt: skip
    result["workers_restarted"] = initial_workers != final_workers
    result["rss"] = samples
    per_worker: dict[int, list[float]] = {}
    for s in samples:
        for pid, mib in s["rss_mib"].items():
            per_worker.setdefault(pid, []).append(mib)
    result["rss_summary"] = {
        str(pid): {"first": values[0], "after_1_min": values[min(len(values) - 1, int(60 / args.sample_seconds))],
                   "last": values[-1], "max": max(values)}
        for pid, values in per_worker.items()
    }  # fmt: skip
    result["cpu_seconds"] = budget.spent() - started_cpu
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", nargs="+", default=["verifier", "registry"], choices=["verifier", "registry"])
    parser.add_argument("--minutes", type=float, default=5.0, help="overload per service, at most")
    parser.add_argument("--capacity-seconds", type=float, default=10.0)
    parser.add_argument("--sample-seconds", type=float, default=5.0)
    parser.add_argument("--cpu-minutes", type=float, default=15.0, help="CPU budget of the whole run (all processes)")
    parser.add_argument("--presentations", type=int, default=30000, help="distinct verifier presentations")
    parser.add_argument("--connections", type=int, default=0,
                        help="open-loop connections (default: 64 behind nginx, 128 straight at gunicorn)")
    parser.add_argument("--front", choices=["nginx", "none"], default="nginx" if lg.NGINX else "none",
                        help="drive the overload through nginx with deploy/nginx-overload.conf (default when installed)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    budget = Budget(args.cpu_minutes * 60)
    results = {"date": time.strftime("%Y-%m-%d"), "cpus": os.cpu_count(), "python": sys.version.split()[0],
               "load_average_start": os.getloadavg(), "services": []}  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="civicid-soak-") as tmp:
        for index, name in enumerate(args.services):
            remaining = budget.seconds - budget.spent()
            share = remaining / (len(args.services) - index)
            results["services"].append(soak(name, args, budget, share, Path(tmp)))
    results["load_average_end"] = os.getloadavg()
    results["cpu_seconds"] = budget.spent()
    if args.json:
        print(json.dumps(results, indent=1))
        return 0
    for r in results["services"]:
        o, c, rec = r["overload"], r["capacity"], r["recovery"]
        print(f"{r['service']}: capacity {c['per_s']:.0f}/s (p99 {c['p99_ms']:.1f} ms, server CPU {c['server_cpu_per_s']:.2f} cores)")
        print(f"  2x = {o['offered_per_s']:.0f}/s offered for {o['seconds']:.0f} s; sent {o['sent_per_s']:.0f}/s; "
              f"accepted {o['accepted_per_s']:.0f}/s ({o['ok']} ok, {o['not_ok_accepted']} not ok); "
              f"shed {o['shed_pct']:.1f} %; timeouts {o['timeouts']}; 5xx other than 503: {o['server_errors']}")
        print(f"  accepted p50 {o['p50_ms']:.1f} ms, p99 {o['p99_ms']:.1f} ms (from schedule {o['p99_from_schedule_ms']:.0f} ms); "
              f"503 p99 {o['shed_p99_ms'] or 0:.1f} ms; server CPU {o['server_cpu_per_s']:.2f} cores")
        print(f"  recovery: all ok from {rec['recovered_after_s']} s after the burst; workers restarted: {r['workers_restarted']}")
        for pid, s in r["rss_summary"].items():
            print(f"  worker {pid} RSS MiB: first {s['first']:.1f}, after 1 min {s['after_1_min']:.1f}, "
                  f"last {s['last']:.1f}, max {s['max']:.1f}")
    print(f"CPU spent (all processes): {results['cpu_seconds'] / 60:.1f} min")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
