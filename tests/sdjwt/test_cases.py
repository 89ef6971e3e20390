"""Run every case file in tests/vectors/sdjwt/ (issuer -> holder -> verifier, data-driven).

A ``verify`` case either verifies to exactly the expected claims and disclosed
paths, or raises exactly the expected error class with a message matching the
expected pattern. ``issue`` and ``present`` cases do the same for issuance
refusals and presentation requests.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import ModuleType
from typing import Any, Callable

import pytest

import sdjwt

CASES_DIR = Path(__file__).resolve().parents[1] / "vectors" / "sdjwt"
CASES = {p.stem: json.loads(p.read_text(encoding="ascii")) for p in sorted(CASES_DIR.glob("*.json"))}
ERRORS = {name: getattr(sdjwt, name) for name in sdjwt.__all__ if isinstance(getattr(sdjwt, name), type)}


def path_tuple(path: list[Any]) -> tuple[Any, ...]:
    return tuple(path)


def _run(case: dict[str, Any], gen: ModuleType, verify_case: Callable[..., Any]) -> Any:
    operation = case["operation"]
    if operation == "verify":
        return verify_case(case)
    if operation == "issue":
        spec = case["issue"]
        return sdjwt.issue(
            spec["claims"],
            disclosable=[path_tuple(p) for p in spec["disclosable"]],
            issuer_key=gen.ISSUER_ED,
            kid=gen.KID_ED,
            iss=gen.ISS,
            vct=gen.VCT,
            iat=gen.IAT,
            random=gen.SeededRandom("issue-case"),
            holder_jwk=spec.get("holder_jwk", gen.HOLDER_ED.public_key().public_jwk()),
        )
    if operation == "present":
        return sdjwt.create_presentation(case["sd_jwt"], [path_tuple(p) for p in case["paths"]], holder_key=None)
    raise AssertionError(f"unknown operation {operation!r}")


def test_there_are_enough_cases() -> None:
    negative = [n for n, c in CASES.items() if c["operation"] == "verify" and "error" in c["expect"]]
    positive = [n for n, c in CASES.items() if c["operation"] == "verify" and "claims" in c["expect"]]
    assert len(negative) >= 40
    assert len(positive) >= 10


@pytest.mark.parametrize("name", sorted(n for n, c in CASES.items() if "claims" in c["expect"]))
def test_valid_case(name: str, run_verify_case: Callable[..., sdjwt.VerifiedSDJWT]) -> None:
    case = CASES[name]
    result = run_verify_case(case)
    assert isinstance(result, sdjwt.VerifiedSDJWT)
    assert result.claims == case["expect"]["claims"]
    assert sorted(result.disclosed) == sorted(path_tuple(p) for p in case["expect"]["disclosed"])


@pytest.mark.parametrize("name", sorted(n for n, c in CASES.items() if "error" in c["expect"]))
def test_invalid_case(name: str, generator: ModuleType, run_verify_case: Callable[..., Any]) -> None:
    case = CASES[name]
    expected = ERRORS[case["expect"]["error"]]
    with pytest.raises(expected, match=case["expect"]["match"]) as excinfo:
        _run(case, generator, run_verify_case)
    assert type(excinfo.value) is expected, f"raised {type(excinfo.value).__name__}, expected {expected.__name__}"
    assert isinstance(excinfo.value, sdjwt.SDJWTError)


@pytest.mark.parametrize("name", sorted(CASES))
def test_case_file_is_well_formed(name: str) -> None:
    case = CASES[name]
    assert case["description"]
    assert case["operation"] in {"verify", "issue", "present"}
    assert ("claims" in case["expect"]) != ("error" in case["expect"])
    if "error" in case["expect"]:
        re.compile(case["expect"]["match"])
        assert case["expect"]["error"] in ERRORS


def test_readme_names_every_case() -> None:
    readme = (CASES_DIR / "README.md").read_text(encoding="utf-8")
    missing = [name for name in CASES if f"`{name}`" not in readme]
    assert not missing


def test_generator_reproduces_the_committed_files(generator: ModuleType) -> None:
    """The committed files are exactly what the deterministic generator writes today."""
    gen = generator
    generated = gen.all_cases()
    assert sorted(generated) == sorted(CASES)
    for name, case in generated.items():
        assert gen.render(case) == (CASES_DIR / f"{name}.json").read_text(encoding="ascii"), name
    assert gen.readme(generated) == (CASES_DIR / "README.md").read_text(encoding="utf-8")


def test_error_messages_never_carry_claim_values(generator: ModuleType, run_verify_case: Callable[..., Any]) -> None:
    # House style: no claim values, nonces or keys in messages.
    secrets = ["Ada", "Lovelace", "1815-12-10", "London", generator.NONCE, generator.HOLDER_ED.public_key().public_jwk()["x"]]
    for name, case in CASES.items():
        if "error" not in case["expect"]:
            continue
        with pytest.raises(sdjwt.SDJWTError) as excinfo:
            _run(case, generator, run_verify_case)
        message = str(excinfo.value)
        assert not [s for s in secrets if s in message], (name, message)
