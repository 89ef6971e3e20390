"""Benchmark the Merkle core: append rate, proof generation + verification at 1M leaves.

Not a test. Run ``python bench/bench_merkle.py [--leaves N] [--samples K]``.
The goal is under 1 ms per proof (generation plus verification) at 1,000,000
leaves, with every proof costing O(log n) node reads.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from registry.merkle import CompactRange, MemoryNodeStore, consistency_proof, inclusion_proof, leaf_hash, root_hash  # noqa: E402
from registry.proof import verify_consistency, verify_inclusion  # noqa: E402


class CountingStore:
    """Counts node reads to show that a proof costs O(log n) of them."""

    def __init__(self, inner: MemoryNodeStore) -> None:
        self.inner = inner
        self.reads = 0

    def get_node(self, level: int, index: int) -> bytes:
        self.reads += 1
        return self.inner.get_node(level, index)


def _us(samples: list[float]) -> str:
    s = sorted(samples)
    p99 = s[min(len(s) - 1, int(len(s) * 0.99))]
    return f"median {statistics.median(s) * 1e6:7.1f} us  p99 {p99 * 1e6:7.1f} us  max {s[-1] * 1e6:7.1f} us"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leaves", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=2_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    n = args.leaves
    rng = random.Random(args.seed)

    hashes = [leaf_hash(b"entry %d" % i) for i in range(n)]

    store = MemoryNodeStore()
    t0 = time.perf_counter()
    for h in hashes:
        store.append(h)
    t_store = time.perf_counter() - t0

    compact = CompactRange()
    t0 = time.perf_counter()
    for h in hashes:
        compact.append(h)
    t_compact = time.perf_counter() - t0
    assert compact.root() == root_hash(n, store)

    print(f"leaves: {n:,}")
    print(f"append, MemoryNodeStore (all nodes): {n / t_store:12,.0f} leaves/s")
    print(f"append, CompactRange (frontier):     {n / t_compact:12,.0f} leaves/s")

    roots = {n: root_hash(n, store)}
    counter = CountingStore(store)

    gen, ver, reads = [], [], []
    for _ in range(args.samples):
        index = rng.randrange(n)
        counter.reads = 0
        t0 = time.perf_counter()
        proof = inclusion_proof(index, n, counter)
        t1 = time.perf_counter()
        verify_inclusion(hashes[index], index, n, proof, roots[n])
        t2 = time.perf_counter()
        gen.append(t1 - t0)
        ver.append(t2 - t1)
        reads.append(counter.reads)
    total = [g + v for g, v in zip(gen, ver)]
    print(f"inclusion   generate: {_us(gen)}")
    print(f"inclusion   verify:   {_us(ver)}")
    print(f"inclusion   total:    {_us(total)}  reads max {max(reads)}")

    sizes = sorted({rng.randrange(1, n) for _ in range(64)})
    for s in sizes:
        roots[s] = root_hash(s, store)
    gen, ver, reads = [], [], []
    for _ in range(args.samples):
        size1 = rng.choice(sizes)
        counter.reads = 0
        t0 = time.perf_counter()
        proof = consistency_proof(size1, n, counter)
        t1 = time.perf_counter()
        verify_consistency(size1, n, proof, roots[size1], roots[n])
        t2 = time.perf_counter()
        gen.append(t1 - t0)
        ver.append(t2 - t1)
        reads.append(counter.reads)
    total = [g + v for g, v in zip(gen, ver)]
    print(f"consistency generate: {_us(gen)}")
    print(f"consistency verify:   {_us(ver)}")
    print(f"consistency total:    {_us(total)}  reads max {max(reads)}")

    t0 = time.perf_counter()
    for _ in range(1000):
        root_hash(n, store)
    print(f"root_hash({n:,}): {(time.perf_counter() - t0) * 1e3:.1f} us")


if __name__ == "__main__":
    main()
