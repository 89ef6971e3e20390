"""JWK parsing and RFC 7638 thumbprints, against RFC 7638, RFC 8037 and RFC 9901 data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import sdjwt
from sdjwt.jwk import public_jwk, thumbprint_uri

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "jwk"


def _load(name: str) -> dict[str, Any]:
    return json.loads((VECTORS / name).read_text("utf-8"))


def _names(prefix: str) -> list[str]:
    return sorted(p.name for p in VECTORS.glob(f"{prefix}*.json"))


def test_rfc7638_rsa_thumbprint() -> None:
    case = _load("rfc7638-3.1-rsa-thumbprint.json")
    assert sdjwt.thumbprint(case["jwk"]) == case["expected"]["thumbprint"]
    # Only the required members count: dropping alg and kid changes nothing.
    required = {k: case["jwk"][k] for k in ("kty", "n", "e")}
    assert sdjwt.thumbprint(required) == case["expected"]["thumbprint"]


def test_rfc8037_ed25519_key_and_thumbprint() -> None:
    case = _load("rfc8037-a.1-a.3-ed25519-key.json")
    private = sdjwt.private_key_from_jwk(case["private_jwk"])
    assert isinstance(private, sdjwt.Ed25519PrivateKey)
    assert private.public_key().public_jwk() == case["expected"]["public_jwk"]
    assert private.private_jwk() == {**case["expected"]["public_jwk"], "d": case["private_jwk"]["d"]}
    assert public_jwk(private) == case["expected"]["public_jwk"]
    assert sdjwt.thumbprint(case["expected"]["public_jwk"]) == case["expected"]["thumbprint"]
    assert thumbprint_uri(case["expected"]["public_jwk"]) == (
        "urn:ietf:params:oauth:jwk-thumbprint:sha-256:" + case["expected"]["thumbprint"]
    )
    parsed = sdjwt.public_key_from_jwk(case["expected"]["public_jwk"])
    assert parsed == private.public_key()


def test_thumbprint_ignores_member_order_and_extra_members() -> None:
    case = _load("rfc8037-a.1-a.3-ed25519-key.json")
    reordered = dict(reversed(list(case["expected"]["public_jwk"].items())))
    assert sdjwt.thumbprint({**reordered, "kid": "x", "use": "sig"}) == case["expected"]["thumbprint"]


def test_thumbprint_rejects_unknown_kty_and_missing_members() -> None:
    with pytest.raises(sdjwt.MalformedSDJWT, match="no supported 'kty'"):
        sdjwt.thumbprint({"kty": "oct", "k": "AAAA"})
    with pytest.raises(sdjwt.MalformedSDJWT, match="member 'y' is missing"):
        sdjwt.thumbprint({"kty": "EC", "crv": "P-256", "x": "AAAA"})


def test_rfc9901_p256_public_key_parses() -> None:
    case = _load("rfc9901-a.5-p256-public-key.json")
    key = sdjwt.public_key_from_jwk(case["jwk"])
    assert isinstance(key, sdjwt.P256PublicKey)
    assert key.alg == case["expected"]["alg"]
    assert key.public_jwk() == case["jwk"]


@pytest.mark.parametrize("name", _names("reject-"))
def test_public_jwk_rejections(name: str) -> None:
    case = _load(name)
    error = getattr(sdjwt, case["expected"]["error"])
    with pytest.raises(error, match=case["expected"]["match"]):
        sdjwt.public_key_from_jwk(case["jwk"])


def test_private_jwk_whose_public_part_does_not_match_is_refused() -> None:
    case = _load("rfc8037-a.1-a.3-ed25519-key.json")
    other_x = sdjwt.Ed25519PrivateKey(bytes(32)).public_key().public_jwk()["x"]
    with pytest.raises(sdjwt.MalformedSDJWT, match="public part does not match"):
        sdjwt.private_key_from_jwk({**case["private_jwk"], "x": other_x})


def test_private_jwk_of_unsupported_type_is_refused() -> None:
    with pytest.raises(sdjwt.UnsupportedAlgorithm, match="use OKP/Ed25519 or EC/P-256"):
        sdjwt.private_key_from_jwk({"kty": "OKP", "crv": "Ed448", "d": "AAAA"})


def test_p256_private_jwk_round_trip() -> None:
    key = sdjwt.P256PrivateKey.generate()
    loaded = sdjwt.private_key_from_jwk(key.private_jwk())
    assert loaded.public_key() == key.public_key()
    assert sdjwt.public_key_from_jwk(key.public_key().public_jwk()) == key.public_key()


def test_p256_private_jwk_with_the_mirrored_y_is_refused() -> None:
    # (x, p - y) is also on the curve, so checking x alone would accept a JWK whose
    # public part is not the key's.
    p = 2**256 - 2**224 + 2**192 + 2**96 - 1
    key = sdjwt.P256PrivateKey.generate()
    jwk = key.private_jwk()
    y = int.from_bytes(sdjwt.encoding.b64url_decode(jwk["y"]), "big")
    mirrored = sdjwt.encoding.b64url_encode((p - y).to_bytes(32, "big"))
    assert sdjwt.public_key_from_jwk({**key.public_key().public_jwk(), "y": mirrored}) != key.public_key()
    with pytest.raises(sdjwt.MalformedSDJWT, match="public part does not match"):
        sdjwt.private_key_from_jwk({**jwk, "y": mirrored})
