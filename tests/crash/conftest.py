"""Crash tests: a random seed per run, printed on failure (``CIVICID_CRASH_SEED`` replays the choices)."""

from __future__ import annotations

import os
import random

import pytest


@pytest.fixture
def rng(request: pytest.FixtureRequest) -> random.Random:
    seed = int(os.environ.get("CIVICID_CRASH_SEED") or random.SystemRandom().randrange(2**32))
    request.node.user_properties.append(("crash_seed", seed))
    print(f"crash seed {seed} (CIVICID_CRASH_SEED={seed} replays the random choices)")
    return random.Random(seed)
