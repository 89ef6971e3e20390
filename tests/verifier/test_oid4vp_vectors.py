"""The verifier side of tests/vectors/oid4vp/*.json (see the README there); the wallet runs the same files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import sdjwt
from sdjwt.jws import CompactJWS

FOLDER = Path(__file__).resolve().parents[1] / "vectors" / "oid4vp"
REQUESTS = sorted(FOLDER.glob("request-*.json"))


def _load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def test_the_verifier_still_makes_every_committed_vector_byte_for_byte() -> None:
    """The generator drives the real verifier; a change to links or request objects shows here."""
    run = subprocess.run([sys.executable, str(FOLDER / "generate.py"), "--check"], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert len([p for p in REQUESTS if _load(p)["kind"] == "request"]) == 4
    assert len([p for p in REQUESTS if _load(p)["kind"] == "request_reject"]) >= 15


@pytest.mark.parametrize("path", [p for p in REQUESTS if _load(p)["kind"] == "request"], ids=lambda p: p.stem)
def test_request_object_is_signed_by_the_verifier_and_asks_what_the_policy_needs(path: Path) -> None:
    from verifier.policy import load_policies

    case = _load(path)
    key = sdjwt.public_key_from_jwk(case["input"]["verifier_jwk"])
    jws = CompactJWS.parse(case["request_object"], "request object")
    jws.verify_signature(key, "request object")
    assert dict(jws.header) == case["expected"]["header"] and dict(jws.payload) == case["expected"]["payload"]
    payload = case["expected"]["payload"]
    policy = load_policies().get(case["input"]["policy"])
    assert payload["dcql_query"] == policy.dcql_query()
    assert payload["client_id"] == "decentralized_identifier:" + sdjwt.did_from_key(key)
    assert payload["response_mode"] == "direct_post" and payload["response_type"] == "vp_token"
    assert case["link"].startswith("openid4vp://?client_id=decentralized_identifier%3Adid%3Akey%3A")
