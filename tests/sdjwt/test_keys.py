"""Signing keys: RFC 8037 A.4 Ed25519 known answer, ES256 signature form, and pyjwt registration."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import sdjwt
from sdjwt.encoding import b64url_decode, b64url_encode
from sdjwt.jws import CompactJWS, register_with_pyjwt, sign_compact
from sdjwt.keys import generate_private_key

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "jwk"


def _load(name: str) -> dict[str, Any]:
    return json.loads((VECTORS / name).read_text("utf-8"))


def test_rfc8037_a4_signature_verifies() -> None:
    case = _load("rfc8037-a.4-ed25519-signature.json")
    public = sdjwt.public_key_from_jwk({k: v for k, v in case["private_jwk"].items() if k != "d"})
    signing_input, _, signature = case["expected"]["jws"].rpartition(".")
    assert signing_input == case["expected"]["signing_input"]
    assert public.verify(signing_input.encode("ascii"), b64url_decode(signature))
    assert not public.verify(signing_input.encode("ascii") + b"x", b64url_decode(signature))


def test_rfc8037_a4_signing_reproduces_the_signature() -> None:
    case = _load("rfc8037-a.4-ed25519-signature.json")
    private = sdjwt.private_key_from_jwk(case["private_jwk"])
    header = b64url_encode(json.dumps(case["protected_header"], separators=(",", ":")).encode())
    payload = b64url_encode(case["payload"].encode())
    signing_input = f"{header}.{payload}"
    assert signing_input == case["expected"]["signing_input"]
    assert f"{signing_input}.{b64url_encode(private.sign(signing_input.encode()))}" == case["expected"]["jws"]


def test_ed25519_verify_returns_false_for_bad_signatures() -> None:
    key = sdjwt.Ed25519PrivateKey(bytes(32))
    signature = key.sign(b"message")
    assert key.public_key().verify(b"message", signature)
    assert not key.public_key().verify(b"message", signature[:-1])
    assert not key.public_key().verify(b"message", bytes(64))
    assert not sdjwt.Ed25519PrivateKey(bytes(range(32))).public_key().verify(b"message", signature)


def test_es256_signature_is_raw_r_s_and_verifies() -> None:
    key = sdjwt.P256PrivateKey.generate()
    signature = key.sign(b"message")
    assert len(signature) == 64
    assert key.public_key().verify(b"message", signature)
    assert not key.public_key().verify(b"other", signature)
    assert not key.public_key().verify(b"message", signature + b"\x00")


def test_key_constructors_refuse_wrong_sizes() -> None:
    with pytest.raises(ValueError, match="exactly 32 bytes"):
        sdjwt.Ed25519PublicKey(bytes(31))
    with pytest.raises(ValueError, match="seed is exactly 32 bytes"):
        sdjwt.Ed25519PrivateKey(bytes(33))
    with pytest.raises(ValueError, match="exactly 32 bytes each"):
        sdjwt.P256PublicKey(bytes(32), bytes(31))
    with pytest.raises(ValueError, match="unsupported algorithm 'RS256'"):
        generate_private_key("RS256")


def test_generate_uses_the_injected_random_source() -> None:
    key = sdjwt.Ed25519PrivateKey.generate(lambda n: bytes([7]) * n)
    assert key.seed == bytes([7]) * 32
    assert isinstance(generate_private_key("ES256"), sdjwt.P256PrivateKey)


def test_repr_never_shows_the_seed() -> None:
    key = sdjwt.Ed25519PrivateKey(bytes([9]) * 32)
    assert b64url_encode(key.seed) not in repr(key)


def test_keys_satisfy_the_protocols() -> None:
    for private in (sdjwt.Ed25519PrivateKey(bytes(32)), sdjwt.P256PrivateKey.generate()):
        assert isinstance(private, sdjwt.PrivateKey)
        assert isinstance(private.public_key(), sdjwt.PublicKey)


def test_pyjwt_decodes_an_eddsa_token_through_the_registered_algorithm() -> None:
    pyjws = register_with_pyjwt()
    key = sdjwt.Ed25519PrivateKey(bytes(range(32)))
    token = sign_compact({"typ": "JWT"}, {"sub": "alice", "n": 1}, key)
    decoded = pyjws.decode_complete(token, key=key.public_key(), algorithms=["EdDSA"])
    assert json.loads(decoded["payload"]) == {"sub": "alice", "n": 1}
    assert decoded["header"] == {"alg": "EdDSA", "typ": "JWT"}
    # A JWK dict works as the key too.
    assert pyjws.decode(token, key=key.public_key().public_jwk(), algorithms=["EdDSA"]) == b'{"sub":"alice","n":1}'


def test_pyjwt_refuses_a_token_signed_by_another_key() -> None:
    import jwt

    pyjws = register_with_pyjwt()
    token = sign_compact({}, {"sub": "alice"}, sdjwt.Ed25519PrivateKey(bytes(range(32))))
    other = sdjwt.Ed25519PrivateKey(bytes(32)).public_key()
    with pytest.raises(jwt.InvalidSignatureError, match="Signature verification failed"):
        pyjws.decode(token, key=other, algorithms=["EdDSA"])
    # A P-256 JWK is not an EdDSA key: refused rather than verified.
    with pytest.raises(jwt.InvalidSignatureError, match="Signature verification failed"):
        pyjws.decode(token, key=sdjwt.P256PrivateKey.generate().public_key().public_jwk(), algorithms=["EdDSA"])


def test_pyjwt_can_still_verify_with_its_own_key_objects() -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey as CryptoEd25519

    pyjws = register_with_pyjwt()
    seed = bytes(range(32))
    token = sign_compact({}, {"sub": "alice"}, sdjwt.Ed25519PrivateKey(seed))
    crypto_public = CryptoEd25519.from_private_bytes(seed).public_key()
    assert pyjws.decode(token, key=crypto_public, algorithms=["EdDSA"]) == b'{"sub":"alice"}'


def test_compact_jws_round_trip_for_both_algorithms() -> None:
    for key in (sdjwt.Ed25519PrivateKey(bytes(32)), sdjwt.P256PrivateKey.generate()):
        token = sign_compact({"typ": "x"}, {"a": 1}, key)
        jws = CompactJWS.parse(token)
        assert jws.check_header(["EdDSA", "ES256"], "x") == key.alg
        jws.verify_signature(key.public_key())
