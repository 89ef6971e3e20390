"""did:key (W3C CCG did:key method) for Ed25519: spec vectors, DID document shape, rejections."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import base58
import pytest

import sdjwt
from sdjwt.did_key import ED25519_MULTICODEC, key_from_jwk_or_did, key_from_multibase, multibase_from_key

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "did_key"


def _load(name: str) -> dict[str, Any]:
    return json.loads((VECTORS / name).read_text("utf-8"))


def _names(prefix: str) -> list[str]:
    return sorted(p.name for p in VECTORS.glob(f"{prefix}*.json"))


def test_vector_files_present() -> None:
    assert len(_names("ed25519-seed-")) == 5
    assert len(_names("reject-")) == 11


@pytest.mark.parametrize("name", _names("ed25519-seed-"))
def test_spec_seed_to_did_and_back(name: str) -> None:
    case = _load(name)
    expected = case["expected"]
    public = sdjwt.Ed25519PrivateKey(bytes.fromhex(case["seed_hex"])).public_key()
    if "public_key_base58" in expected:
        assert public.raw == base58.b58decode(expected["public_key_base58"])
    else:
        assert public.public_jwk() == expected["public_jwk"]
    assert sdjwt.did_from_key(public) == expected["did"]
    assert sdjwt.key_from_did(expected["did"]) == public
    # A DID URL naming the key's own verification method resolves to the same key.
    assert sdjwt.key_from_did(expected["verification_method_id"]) == public
    assert sdjwt.resolve_did_key(expected["did"])["verificationMethod"][0]["id"] == expected["verification_method_id"]


def test_spec_example_document_shape() -> None:
    case = _load("spec-example-document.json")
    expected = case["expected"]
    doc = sdjwt.resolve_did_key(case["did"])
    assert doc["id"] == expected["id"]
    assert doc["@context"][0] == "https://www.w3.org/ns/did/v1"
    (method,) = doc["verificationMethod"]
    assert method["type"] == "Multikey"
    for field in ("id", "controller", "publicKeyMultibase"):
        assert method[field] == expected["verification_method"][field]
    for relationship in expected["relationships"]:
        assert doc[relationship] == [expected["verification_method"]["id"]]
    # The JWK form names the same key.
    assert sdjwt.public_key_from_jwk(method["publicKeyJwk"]) == sdjwt.key_from_did(case["did"])
    # Resolving a DID URL gives the document of the DID itself.
    assert sdjwt.resolve_did_key(expected["verification_method"]["id"]) == doc


def test_multibase_is_z_base58btc_of_the_multicodec_prefixed_key() -> None:
    key = sdjwt.Ed25519PrivateKey(bytes(32)).public_key()
    value = multibase_from_key(key)
    assert value.startswith("z6Mk")
    assert base58.b58decode(value[1:]) == ED25519_MULTICODEC + key.raw
    assert key_from_multibase(value) == key


@pytest.mark.parametrize("name", _names("reject-"))
def test_rejections(name: str) -> None:
    case = _load(name)
    error = getattr(sdjwt, case["expected"]["error"])
    with pytest.raises(error, match=case["expected"]["match"]):
        sdjwt.key_from_did(case["did"])


def test_non_string_did_is_refused() -> None:
    with pytest.raises(sdjwt.MalformedSDJWT, match="not a did:key identifier"):
        sdjwt.key_from_did(None)  # type: ignore[arg-type]


def test_did_from_key_refuses_p256() -> None:
    with pytest.raises(sdjwt.UnsupportedAlgorithm, match="Ed25519 keys only"):
        sdjwt.did_from_key(sdjwt.P256PrivateKey.generate().public_key())


def test_key_from_jwk_or_did_accepts_both_forms() -> None:
    key = sdjwt.Ed25519PrivateKey(bytes(range(32))).public_key()
    assert key_from_jwk_or_did(sdjwt.did_from_key(key)) == key
    assert key_from_jwk_or_did(key.public_jwk()) == key
