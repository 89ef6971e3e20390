"""A bounded fuzz run per harness, so CI keeps the harnesses, the corpus and the engine working.

A few thousand structure-aware mutations per parser (deterministic seed) and a
hypothesis property over generated JSON for the JSON parsers: only the
package's typed errors may escape. The million-input runs and their figures
are in docs/hardening/fuzzing.md.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from fuzz.harnesses import HARNESSES  # noqa: E402
from fuzz.run import run_mutate  # noqa: E402

# Slow parsers (image decoding) get fewer inputs; the whole module stays well under 60 s on 2 shared cores.
INPUTS = {"qr_image": 150}
DEFAULT_INPUTS = 1500


@pytest.mark.parametrize("name", sorted(HARNESSES))
def test_harness_has_no_untyped_escape(name: str) -> None:
    stats = run_mutate(HARNESSES[name], INPUTS.get(name, DEFAULT_INPUTS), None, seed=12345, timeout=5.0, slow=5.0,
                       save=False)
    assert stats.inputs >= INPUTS.get(name, DEFAULT_INPUTS)
    assert not stats.findings, "\n\n".join(f.trace for f in stats.findings.values())
    # Every corpus seed ran; the "-valid" ones are accepted (make_corpus.py checks them too).
    assert stats.ok >= 1


def test_committed_corpus_matches_its_generator() -> None:
    from fuzz.make_corpus import CORPUS, seeds

    for harness, items in seeds().items():
        assert harness in HARNESSES
        for name, data in items.items():
            assert (CORPUS / harness / name).read_bytes() == data, f"run python fuzz/make_corpus.py ({harness}/{name})"


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=5),
    max_leaves=30,
)
_JSON_HARNESSES = ["offer", "status_list", "jwk", "credential_request", "bundle", "registry_answer", "wallet_file",
                   "vp_response"]


def _seed_object(name: str) -> Any:
    from fuzz.run import load_corpus

    for data in load_corpus(name):
        if data[:1] == b"{":
            return json.loads(data)
    return {}


@pytest.mark.parametrize("name", _JSON_HARNESSES)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=_json, member=st.text(max_size=20))
def test_generated_json_reaches_only_typed_errors(name: str, value: Any, member: str) -> None:
    harness = HARNESSES[name]
    seed = _seed_object(name)
    # Both a whole generated document and a real document with one generated member.
    for doc in (value, {**seed, member: value} if isinstance(seed, dict) else value):
        try:
            harness.run(json.dumps(doc).encode())
        except harness.allowed:
            pass
