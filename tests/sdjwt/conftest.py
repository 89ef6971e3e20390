"""Shared fixtures for the sdjwt tests: the vector cases and the generator's fixed keys.

The keys, claims and times are those of ``tests/vectors/generate_sdjwt.py``,
imported from it, so the hand-written tests and the committed case files
describe the same credential.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any, Callable

import pytest

import sdjwt
from sdjwt import StatusListToken, StatusReference, check_status, public_key_from_jwk

VECTORS = Path(__file__).resolve().parents[1] / "vectors"
CASES_DIR = VECTORS / "sdjwt"


def _load_generator() -> ModuleType:
    name = "civicid_tests_generate_sdjwt"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, VECTORS / "generate_sdjwt.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


gen = _load_generator()


def load_cases() -> dict[str, dict[str, Any]]:
    return {path.stem: json.loads(path.read_text(encoding="ascii")) for path in sorted(CASES_DIR.glob("*.json"))}


def key_lookup(entries: list[dict[str, Any]]) -> Callable[[str, str | None, int | None], sdjwt.PublicKey]:
    """An issuer key lookup over ``(iss, kid) -> jwk`` entries, as the registry would answer."""

    def lookup(iss: str, kid: str | None, iat: int | None) -> sdjwt.PublicKey:
        for entry in entries:
            if entry["iss"] == iss and entry["kid"] == kid:
                return public_key_from_jwk(entry["jwk"])
        raise sdjwt.UnknownIssuerKey("no verification key is known for this issuer and kid")

    return lookup


def status_check(status_list: dict[str, Any], lookup: Any, now: int) -> Callable[[StatusReference], None]:
    """A status check that verifies the case's signed Status List Token, then reads the entry."""

    def check(reference: StatusReference) -> None:
        header = json.loads(sdjwt.encoding.b64url_decode(status_list["token"].split(".")[0]))
        token = StatusListToken.verify(
            status_list["token"],
            key=lookup(gen.ISS, header["kid"], None),
            algorithms=status_list["algorithms"],
            uri=reference.uri,
            now=now,
        )
        check_status(token, reference)

    return check


def path_tuple(path: list[Any]) -> tuple[Any, ...]:
    return tuple(path)


def verify_case(case: dict[str, Any], presentation: str | None = None) -> sdjwt.VerifiedSDJWT:
    """Run :func:`sdjwt.verify` with the options a ``verify`` case names."""
    options = dict(case["verifier"])
    lookup = key_lookup(case["issuer_keys"])
    limits = options.pop("limits", None)
    if limits is not None:
        options["limits"] = sdjwt.Limits(**limits)
    if "status_list" in case:
        options["status"] = status_check(case["status_list"], lookup, options["now"])
    return sdjwt.verify(case["presentation"] if presentation is None else presentation, issuer_key=lookup, **options)


@pytest.fixture(scope="session")
def cases() -> dict[str, dict[str, Any]]:
    return load_cases()


@pytest.fixture(scope="session")
def generator() -> ModuleType:
    """The vector generator module: fixed keys, claims, times and crafting helpers."""
    return gen


@pytest.fixture(scope="session")
def run_verify_case() -> Callable[..., sdjwt.VerifiedSDJWT]:
    return verify_case


@pytest.fixture
def seeded() -> Callable[[str], Any]:
    """A fresh seeded salt source per label."""
    return gen.SeededRandom


@pytest.fixture(scope="session")
def issuer_lookup() -> Callable[[str, str | None, int | None], sdjwt.PublicKey]:
    return key_lookup(gen.ISSUER_KEYS)
