"""Run the fuzz harnesses: ``python fuzz/run.py <harness|all> --inputs N [--seconds S]``.

Engines:

* ``mutate`` (default): the structure-aware engine of ``fuzz/mutate.py`` on
  ``random.Random(seed)``, seeded by ``fuzz/corpus/<harness>/``, with outcome
  feedback. Deterministic for a given ``--seed``.
* ``atheris``: coverage-guided libFuzzer (``pip install atheris``), one
  harness per process, whose custom mutator is the same structure-aware
  engine half of the time and libFuzzer's own byte mutator otherwise.

Each input runs under a per-input time limit (``signal.setitimer``); an
input over the limit is a hang finding, and inputs over ``--slow`` seconds
are reported. Anything a harness raises outside its package's typed error
root is a finding: one reproducer per unique (exception class, innermost
product frame) is written to ``fuzz/findings/<harness>/`` with its traceback.

Output: one line per harness (inputs, seconds, inputs/s, unique findings,
slowest input) and, with ``--json``, a machine-readable summary.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import signal
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fuzz.harnesses import HARNESSES, Harness  # noqa: E402
from fuzz.mutate import Mutator  # noqa: E402

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "corpus"
FINDINGS = HERE / "findings"


_DIGITS = re.compile(r"[0-9]+")


class Hang(BaseException):
    """Raised by the per-input timer; a BaseException so no product ``except Exception`` swallows it."""


def _alarm(signum: int, frame: Any) -> None:
    raise Hang("input exceeded the per-input time limit")


@dataclass
class Finding:
    key: str
    kind: str
    where: str
    message: str
    count: int = 1
    example: bytes = b""
    trace: str = ""


@dataclass
class Stats:
    harness: str
    engine: str
    inputs: int = 0
    seconds: float = 0.0
    ok: int = 0
    typed: int = 0
    findings: dict[str, Finding] = field(default_factory=dict)
    slow: list[tuple[float, str]] = field(default_factory=list)
    max_seconds: float = 0.0
    corpus: int = 0

    def line(self) -> str:
        rate = self.inputs / self.seconds if self.seconds else 0.0
        return (f"{self.harness:20s} {self.engine:7s} inputs={self.inputs:>9,d} seconds={self.seconds:8.1f} "
                f"inputs/s={rate:9,.0f} accepted={self.ok:>8,d} typed={self.typed:>9,d} "
                f"findings={len(self.findings)} slowest={self.max_seconds * 1000:.1f}ms corpus={self.corpus}")

    def to_json(self) -> dict[str, Any]:
        return {
            "harness": self.harness, "engine": self.engine, "inputs": self.inputs, "seconds": round(self.seconds, 2),
            "inputs_per_s": round(self.inputs / self.seconds) if self.seconds else 0, "accepted": self.ok,
            "typed_errors": self.typed, "slowest_ms": round(self.max_seconds * 1000, 2),
            "slow_inputs": len(self.slow),
            "findings": [{"kind": f.kind, "where": f.where, "message": f.message, "count": f.count}
                         for f in self.findings.values()],
        }


def _where(tb: Any) -> str:
    """The innermost frame outside fuzz/ and the standard library: where the product let it escape."""
    frames = traceback.extract_tb(tb)
    root = str(HERE.parent)
    for frame in reversed(frames):
        if frame.filename.startswith(root) and "/fuzz/" not in frame.filename:
            return f"{os.path.relpath(frame.filename, root)}:{frame.lineno}"
    return f"{frames[-1].filename}:{frames[-1].lineno}" if frames else "?"


def load_corpus(name: str) -> list[bytes]:
    folder = CORPUS / name
    return [p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()] if folder.is_dir() else []


class Runner:
    """Runs one input at a time under the timer and classifies what it raised."""

    def __init__(self, harness: Harness, stats: Stats, timeout: float, slow: float, save: bool) -> None:
        self.h = harness
        self.stats = stats
        self.timeout = timeout
        self.slow = slow
        self.save = save
        signal.signal(signal.SIGALRM, _alarm)

    def one(self, data: bytes) -> str:
        """Run ``data``; return an outcome signature (for feedback)."""
        st = self.stats
        st.inputs += 1
        start = time.perf_counter()
        signal.setitimer(signal.ITIMER_REAL, self.timeout)
        try:
            try:
                result = self.h.run(data)
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
            st.ok += 1
            outcome = result if isinstance(result, str) else "ok"
        except self.h.allowed as exc:
            st.typed += 1
            outcome = type(exc).__name__ + ":" + _DIGITS.sub("N", str(exc)[:48])
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # Everything else is a finding, hangs and MemoryError included.
            outcome = "finding:" + self.record(data, exc)
        elapsed = time.perf_counter() - start
        if elapsed > st.max_seconds:
            st.max_seconds = elapsed
        if elapsed > self.slow:
            st.slow.append((elapsed, hashlib.sha256(data).hexdigest()[:16]))
            if self.save:
                self._write("slow", data, f"{elapsed:.3f} s\n")
        return outcome

    def record(self, data: bytes, exc: BaseException) -> str:
        kind = "hang" if isinstance(exc, Hang) else type(exc).__name__
        where = _where(exc.__traceback__)
        key = f"{kind}@{where}"
        found = self.stats.findings.get(key)
        if found is not None:
            found.count += 1
            if len(data) < len(found.example):
                found.example = data
            return key
        trace = "".join(traceback.format_exception(exc))[-6000:]
        self.stats.findings[key] = Finding(key, kind, where, str(exc)[:200], 1, data, trace)
        if self.save:
            self._write(key, data, trace)
        return key

    def _write(self, key: str, data: bytes, note: str) -> None:
        folder = FINDINGS / self.h.name
        folder.mkdir(parents=True, exist_ok=True)
        name = hashlib.sha256(key.encode()).hexdigest()[:12] if key != "slow" else "slow-" + hashlib.sha256(data).hexdigest()[:12]
        (folder / f"{name}.bin").write_bytes(data)
        (folder / f"{name}.txt").write_text(f"{key}\n\n{note}", encoding="utf-8")


def run_mutate(harness: Harness, inputs: int, seconds: float | None, seed: int, timeout: float, slow: float,
               save: bool = True, progress: Callable[[Stats], None] | None = None) -> Stats:
    stats = Stats(harness.name, "mutate")
    corpus = load_corpus(harness.name)
    runner = Runner(harness, stats, timeout, slow, save)
    mutator = Mutator(corpus, harness.codec, seed)
    seen: set[str] = set()
    start = time.perf_counter()
    deadline = start + seconds if seconds else None
    for data in corpus:  # The seeds themselves first.
        seen.add(runner.one(data))
    i = 0
    while stats.inputs < inputs:
        i += 1
        parent = mutator.rng.choice(mutator.corpus)
        data = mutator.mutate(parent)
        outcome = runner.one(data)
        if outcome not in seen:
            # Feedback: an input with a new outcome becomes a parent (bounded working corpus).
            seen.add(outcome)
            if len(mutator.corpus) < 2048:
                mutator.corpus.append(data)
        if (i & 1023) == 0:
            now = time.perf_counter()
            stats.seconds = now - start
            if progress is not None and (i & 0xFFFF) == 0:
                progress(stats)
            if deadline is not None and now >= deadline:
                break
    stats.seconds = time.perf_counter() - start
    stats.corpus = len(mutator.corpus)
    return stats


def run_atheris(harness: Harness, inputs: int, seconds: float | None, seed: int, timeout: float, slow: float,
                json_out: str | None) -> None:
    """libFuzzer in this process (it exits when done); the summary is printed from an atexit hook."""
    import shutil
    import tempfile

    import atheris

    stats = Stats(harness.name, "atheris")
    runner = Runner(harness, stats, timeout, slow, True)
    mutator = Mutator(load_corpus(harness.name), harness.codec, seed)
    start = time.perf_counter()

    def test_one(data: bytes) -> None:
        runner.one(data)
        # libFuzzer ends the process with _exit (no atexit): report along the way and at the last input.
        if stats.inputs % 50_000 == 0 or stats.inputs >= inputs:
            report()

    def custom(data: bytes, max_size: int, s: int) -> bytes:
        if s & 1:
            return atheris.Mutate(data, max_size)
        mutator.rng.seed(s)
        return mutator.mutate(data)[:max_size]

    def report() -> None:
        stats.seconds = time.perf_counter() - start
        print(stats.line(), flush=True)
        for f in stats.findings.values():
            print(f"  FINDING {f.key} x{f.count}: {f.message}", flush=True)
        if json_out:
            Path(json_out).write_text(json.dumps([stats.to_json()], indent=2) + "\n", encoding="utf-8")

    work = Path(tempfile.mkdtemp(prefix=f"fuzz-{harness.name}-"))
    shutil.copytree(CORPUS / harness.name, work, dirs_exist_ok=True)
    args = [sys.argv[0], str(work), f"-runs={inputs}", f"-seed={seed or 1}", "-max_len=65536",
            f"-timeout={max(1, int(timeout) + 1)}", "-rss_limit_mb=4096", "-print_final_stats=1"]
    if seconds:
        args.append(f"-max_total_time={int(seconds)}")
    # Coverage: instrument the product's bytecode (every module the harness has imported).
    for data in load_corpus(harness.name)[:1]:  # Imports everything the harness uses, so all of it is instrumented.
        runner.one(data)
    atheris.instrument_all()
    atheris.Setup(args, test_one, custom_mutator=custom)
    atheris.Fuzz()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("harness", help="a harness name, or 'all' (" + ", ".join(HARNESSES) + ")")
    parser.add_argument("--inputs", type=int, default=1_000_000, help="inputs per harness (default 1,000,000)")
    parser.add_argument("--seconds", type=float, default=None, help="stop each harness after this many seconds")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--engine", choices=("mutate", "atheris"), default="mutate")
    parser.add_argument("--timeout", type=float, default=2.0, help="per-input time limit in seconds (a hang)")
    parser.add_argument("--slow", type=float, default=0.25, help="report inputs slower than this (seconds)")
    parser.add_argument("--json", dest="json_out", help="write the summary as JSON to this file")
    args = parser.parse_args(argv)
    names = list(HARNESSES) if args.harness == "all" else args.harness.split(",")
    for name in names:
        if name not in HARNESSES:
            parser.error(f"unknown harness {name!r}")
    if args.engine == "atheris":
        if len(names) != 1:
            parser.error("atheris runs one harness per process")
        run_atheris(HARNESSES[names[0]], args.inputs, args.seconds, args.seed, args.timeout, args.slow, args.json_out)
        return 0
    results = []
    failed = False
    for name in names:
        stats = run_mutate(HARNESSES[name], args.inputs, args.seconds, args.seed, args.timeout, args.slow,
                           progress=lambda s: print("  ..." + s.line(), file=sys.stderr, flush=True))
        print(stats.line(), flush=True)
        for f in stats.findings.values():
            print(f"  FINDING {f.key} x{f.count}: {f.message}", flush=True)
        failed = failed or bool(stats.findings)
        results.append(stats.to_json())
        if args.json_out:
            Path(args.json_out).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
