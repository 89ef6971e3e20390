"""Verification (RFC 9901 section 7, SD-JWT VC), end to end from issuance.

The first tests are named for faults of the SD-JWT reference implementation
(sd-jwt-python) that civicid must not share: it accepts expired and
not-yet-valid credentials, disclosures the issuer never signed and day-old Key
Binding JWTs, and it hard-codes ES256 for Key Binding JWTs.
"""

from __future__ import annotations

import base64
import dataclasses
import json
from types import ModuleType
from typing import Any

import pytest

import sdjwt
from sdjwt import (
    DisclosureMismatch,
    Expired,
    KeyBindingError,
    MalformedSDJWT,
    NotYetValid,
    P256PrivateKey,
    UnknownIssuerKey,
    UnsupportedAlgorithm,
    create_presentation,
    verify,
)
from sdjwt.disclosure import Disclosure
from sdjwt.encoding import b64url_decode, b64url_encode


@pytest.fixture
def g(generator: ModuleType) -> ModuleType:
    return generator


def _verify(g: ModuleType, presentation: str, **overrides: Any) -> sdjwt.VerifiedSDJWT:
    options: dict[str, Any] = {
        "issuer_key": sdjwt_lookup(g),
        "algorithms": ["EdDSA"],
        "now": g.NOW,
        "audience": g.AUD,
        "nonce": g.NONCE,
    }
    options.update(overrides)
    return verify(presentation, **options)


def sdjwt_lookup(g: ModuleType) -> Any:
    def lookup(iss: str, kid: str | None, iat: int | None) -> sdjwt.PublicKey:
        for entry in g.ISSUER_KEYS:
            if (entry["iss"], entry["kid"]) == (iss, kid):
                return sdjwt.public_key_from_jwk(entry["jwk"])
        raise UnknownIssuerKey("no verification key is known for this issuer and kid")

    return lookup


# Reference-implementation faults, one named test each.


def test_rejects_expired_credential(g: ModuleType) -> None:
    issued = g.credential("expired", exp=g.NOW - g.DAY)
    with pytest.raises(Expired, match="the credential has expired; ask the issuer for a new one"):
        _verify(g, g.present(issued, [("given_name",)]))


def test_rejects_not_yet_valid_credential(g: ModuleType) -> None:
    issued = g.credential("nbf", nbf=g.NOW + g.DAY)
    with pytest.raises(NotYetValid, match=r"not valid yet \('nbf' is in the future\)"):
        _verify(g, g.present(issued, [("given_name",)]))


def test_rejects_disclosure_issuer_never_signed(g: ModuleType) -> None:
    jwt, disclosures = g.parts(g.BASE)
    forged = Disclosure.create(b64url_encode(b"\x07" * 16), "is_admin", True)
    # The holder signs a KB-JWT over the forged disclosure, so only the digest check can refuse it.
    presentation = g.assemble(jwt, [g.find(disclosures, "given_name"), forged.encoded])
    with pytest.raises(DisclosureMismatch, match="not referenced by any digest the issuer signed"):
        _verify(g, presentation)


def test_rejects_day_old_key_binding_jwt(g: ModuleType) -> None:
    presentation = g.present(g.BASE, [("given_name",)], iat=g.NOW - g.DAY)
    with pytest.raises(KeyBindingError, match="KB-JWT is too old; the wallet must create a fresh presentation"):
        _verify(g, presentation)


def test_key_binding_works_with_es256_holder(g: ModuleType) -> None:
    # The library's own (randomised) ES256 key, not only the generator's deterministic one.
    holder = P256PrivateKey.generate()
    issued = g.credential("es256-fresh", holder=holder)
    result = _verify(g, g.present(issued, [("given_name",)], holder=holder))
    assert result.holder_jwk == holder.public_key().public_jwk()
    assert result.key_binding is not None
    assert json.loads(b64url_decode(g.present(issued, [], holder=holder).rsplit("~", 1)[1].split(".")[0]))["alg"] == "ES256"
    assert result.claims["given_name"] == "Ada"


def test_key_binding_works_with_eddsa_holder(g: ModuleType) -> None:
    result = _verify(g, g.present(g.BASE, [("given_name",)], holder=g.HOLDER_ED))
    assert result.holder_jwk == g.HOLDER_ED.public_key().public_jwk()
    assert result.key_binding == {
        "iat": g.NOW - 10,
        "aud": g.AUD,
        "nonce": g.NONCE,
        "sd_hash": sdjwt.sd_hash(g.present(g.BASE, [("given_name",)], holder=None)),
    }


def test_holder_algorithm_allow_list_applies_to_kb_jwt(g: ModuleType) -> None:
    issued = g.credential("es256-holder", holder=g.HOLDER_P256)
    presentation = g.present(issued, [("given_name",)], holder=g.HOLDER_P256)
    with pytest.raises(KeyBindingError, match="KB-JWT alg is not allowed; accepted: EdDSA"):
        _verify(g, presentation, holder_algorithms=["EdDSA"])


# The result value.


def test_verified_sdjwt_is_frozen(g: ModuleType) -> None:
    result = _verify(g, g.present(g.BASE, [("given_name",)]))
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.claims = {}  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.disclosed = ()  # type: ignore[misc]


def test_verified_sdjwt_holds_only_disclosed_claims(g: ModuleType) -> None:
    result = _verify(g, g.present(g.BASE, [("given_name",), ("address", "country")]))
    assert result.claims["given_name"] == "Ada"
    assert result.claims["address"] == {"country": "GB"}
    text = repr(result) + json.dumps(result.claims) + repr(result.disclosed)
    for undisclosed in ("Lovelace", "1815-12-10", "12 Analytical Row", "London", '"IT"'):
        assert undisclosed not in text
    assert "_sd" not in json.dumps(result.claims)
    assert "..." not in json.dumps(result.claims)
    assert sorted(result.disclosed) == [("address",), ("address", "country"), ("given_name",)]
    assert (result.iss, result.vct, result.iat) == (g.ISS, g.VCT, g.IAT)


def test_verify_refuses_key_binding_without_nonce(g: ModuleType) -> None:
    with pytest.raises(ValueError, match="key binding needs the expected audience and nonce"):
        _verify(g, g.present(g.BASE, []), nonce=None)


def test_verify_refuses_key_binding_without_audience(g: ModuleType) -> None:
    with pytest.raises(ValueError, match="key binding needs the expected audience and nonce"):
        _verify(g, g.present(g.BASE, []), audience="")


def test_verify_refuses_empty_algorithm_list(g: ModuleType) -> None:
    with pytest.raises(ValueError, match="algorithms must name at least one allowed algorithm"):
        _verify(g, g.present(g.BASE, []), algorithms=[])


# Times, with the leeway at its edges.


@pytest.mark.parametrize("skew, ok", [(-59, True), (-60, False), (3600, True)])
def test_exp_leeway_edges(g: ModuleType, skew: int, ok: bool) -> None:
    # exp = now + skew; with the default 60 s leeway an exp 59 s ago still passes and 60 s ago does not.
    presentation = g.present(g.credential(f"exp{skew}", exp=g.NOW + skew), [])
    if ok:
        assert _verify(g, presentation).claims["exp"] == g.NOW + skew
    else:
        with pytest.raises(Expired, match="has expired"):
            _verify(g, presentation)


@pytest.mark.parametrize("age, ok", [(300, True), (360, True), (361, False)])
def test_kb_jwt_max_age_edges(g: ModuleType, age: int, ok: bool) -> None:
    presentation = g.present(g.BASE, [], iat=g.NOW - age)
    if ok:
        assert _verify(g, presentation).key_binding["iat"] == g.NOW - age  # type: ignore[index]
    else:
        with pytest.raises(KeyBindingError, match="too old"):
            _verify(g, presentation)


def test_nbf_in_the_past_is_accepted(g: ModuleType) -> None:
    result = _verify(g, g.present(g.credential("nbf-past", nbf=g.NOW - g.DAY), []))
    assert result.claims["nbf"] == g.NOW - g.DAY


# Issuer keys and algorithms.


def test_key_lookup_receives_iss_kid_and_iat(g: ModuleType) -> None:
    calls: list[tuple[Any, ...]] = []
    inner = sdjwt_lookup(g)

    def lookup(iss: str, kid: str | None, iat: int | None) -> sdjwt.PublicKey:
        calls.append((iss, kid, iat))
        return inner(iss, kid, iat)

    _verify(g, g.present(g.BASE, []), issuer_key=lookup)
    assert calls == [(g.ISS, g.KID_ED, g.IAT)]


def test_lookup_returning_no_key_is_unknown_issuer_key(g: ModuleType) -> None:
    with pytest.raises(UnknownIssuerKey, match="no verification key is known for this issuer and kid"):
        _verify(g, g.present(g.BASE, []), issuer_key=lambda iss, kid, iat: None)


def test_es256_issuer_refused_unless_allowed(g: ModuleType) -> None:
    issued = g.credential("es256-issuer", issuer=g.ISSUER_P256, kid=g.KID_P256)
    presentation = g.present(issued, [("given_name",)])
    with pytest.raises(UnsupportedAlgorithm, match="issuer-signed JWT alg is not allowed; accepted: EdDSA"):
        _verify(g, presentation)
    assert _verify(g, presentation, algorithms=["EdDSA", "ES256"]).header["alg"] == "ES256"


def test_legacy_typ_accepted_only_when_asked(g: ModuleType) -> None:
    presentation = g.present(g.credential("legacy", typ=sdjwt.vc.LEGACY_TYP), [])
    with pytest.raises(MalformedSDJWT, match="typ must be one of: dc\\+sd-jwt"):
        _verify(g, presentation)
    result = _verify(g, presentation, typ=(sdjwt.TYP, sdjwt.vc.LEGACY_TYP))
    assert result.header["typ"] == "vc+sd-jwt"


# Malleability: base64url leaves spare bits in the last character of a signature.


def _respell_last_char(token: str) -> str:
    """The same signature bytes spelled with a different final base64url character."""
    head, signature = token.rsplit(".", 1)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    index = alphabet.index(signature[-1])
    other = signature[:-1] + alphabet[index ^ 1]
    # Lenient decoding (the stdlib's) ignores the spare bits: the bytes are unchanged.
    assert base64.urlsafe_b64decode(other + "==") == base64.urlsafe_b64decode(signature + "==")
    return f"{head}.{other}"


def test_rejects_non_canonical_kb_jwt_signature(g: ModuleType) -> None:
    body, kb = g.present(g.BASE, [("given_name",)]).rsplit("~", 1)
    with pytest.raises(KeyBindingError, match="KB-JWT signature is not (canonical|valid unpadded) base64url"):
        _verify(g, body + "~" + _respell_last_char(kb))


def test_rejects_non_canonical_issuer_signature(g: ModuleType) -> None:
    jwt, disclosures = g.parts(g.BASE)
    presentation = g.assemble(_respell_last_char(jwt), [g.find(disclosures, "given_name")], holder=None)
    with pytest.raises(MalformedSDJWT, match="issuer-signed JWT signature is not (canonical|valid unpadded) base64url"):
        _verify(g, presentation, require_key_binding=False, audience=None, nonce=None)


# Without key binding.


def test_presentation_without_kb_jwt_is_refused_by_default(g: ModuleType) -> None:
    presentation = create_presentation(g.BASE, [("given_name",)], holder_key=None)
    with pytest.raises(KeyBindingError, match="has no KB-JWT"):
        _verify(g, presentation)
    result = _verify(g, presentation, require_key_binding=False, audience=None, nonce=None)
    assert result.key_binding is None and result.holder_jwk is None


def test_kb_jwt_still_checked_when_not_required(g: ModuleType) -> None:
    # A KB-JWT that is present must verify even if the verifier did not ask for one.
    presentation = g.present(g.BASE, [("given_name",)], holder=g.ATTACKER_ED)
    with pytest.raises(KeyBindingError, match="signature does not verify"):
        _verify(g, presentation, require_key_binding=False)


def test_disclosures_nested_within_the_depth_limit_verify(g: ModuleType) -> None:
    chain = [("deep",) + ("a",) * i for i in range(10)]
    issued = g.credential("depth-ok", claims={"deep": g._nested(9)}, disclosable=chain)
    result = _verify(g, g.present(issued, [chain[-1] + ("leaf",)]))
    assert len(result.disclosed) == 10
    assert json.dumps(result.claims["deep"]).count('"a"') == 9
