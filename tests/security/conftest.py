"""Fixtures for the security suites: the other suites' test-side actors, and a verifier world from vectors."""

from __future__ import annotations

import sys
from pathlib import Path

# Reuse the protocol-speaking helpers of the role suites instead of copying them.
_TESTS = Path(__file__).resolve().parents[1]
for _sub in ("verifier", "registry", "issuer"):
    _path = str(_TESTS / _sub)
    if _path not in sys.path:
        sys.path.append(_path)
