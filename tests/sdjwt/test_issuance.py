"""Issuance (RFC 9901 section 4, SD-JWT VC section 3): what the issuer signs."""

from __future__ import annotations

import hashlib
import json
from types import ModuleType
from typing import Any

import pytest

import sdjwt
from sdjwt import IssuanceError, issue
from sdjwt.disclosure import Disclosure
from sdjwt.encoding import b64url_decode, b64url_encode


@pytest.fixture
def g(generator: ModuleType) -> ModuleType:
    return generator


def _payload(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    header, payload, _ = token.split("~")[0].split(".")
    return json.loads(b64url_decode(header)), json.loads(b64url_decode(payload))


def _issue(g: ModuleType, claims: Any = None, disclosable: Any = None, label: str = "t", **kw: Any) -> sdjwt.IssuedSDJWT:
    options: dict[str, Any] = {
        "issuer_key": g.ISSUER_ED,
        "kid": g.KID_ED,
        "iss": g.ISS,
        "vct": g.VCT,
        "iat": g.IAT,
        "random": g.SeededRandom(label),
    }
    options.update(kw)
    return issue(g.CLAIMS if claims is None else claims, disclosable=g.DISCLOSABLE if disclosable is None else disclosable, **options)


def test_rfc9901_example_disclosures_and_digests() -> None:
    # RFC 9901 section 5.1 examples: an object property and an array element.
    given = Disclosure.create("2GLC42sKQveCfGfryNRN9w", "given_name", "John")
    assert given.encoded == "WyIyR0xDNDJzS1F2ZUNmR2ZyeU5STjl3IiwgImdpdmVuX25hbWUiLCAiSm9obiJd"
    assert given.digest == "jsu9yVulwQQlhFlM_3JlzMaSFzglhQG0DpfayQwLUK4"
    country = Disclosure.create("lklxF5jMYlGTPUovMNIvCA", None, "US")
    assert country.encoded == "WyJsa2x4RjVqTVlsR1RQVW92TU5JdkNBIiwgIlVTIl0"
    assert country.digest == "pFndjkZ_VCzmyTa6UjlZo3dh-ko8aIKQc9DlGzhaVYo"


def test_header_and_registered_claims(g: ModuleType) -> None:
    issued = _issue(g, exp=g.EXP, nbf=g.IAT, holder_jwk=g.HOLDER_ED.public_key().public_jwk(),
                    status=sdjwt.StatusReference(4, g.STATUS_URI))
    header, payload = _payload(issued.jwt)
    assert header == {"alg": "EdDSA", "typ": "dc+sd-jwt", "kid": g.KID_ED}
    assert payload["iss"] == g.ISS and payload["vct"] == g.VCT
    assert (payload["iat"], payload["nbf"], payload["exp"]) == (g.IAT, g.IAT, g.EXP)
    assert payload["cnf"] == {"jwk": g.HOLDER_ED.public_key().public_jwk()}
    assert payload["status"] == {"status_list": {"idx": 4, "uri": g.STATUS_URI}}
    assert payload["_sd_alg"] == "sha-256"


def test_signature_verifies_under_the_issuer_key(g: ModuleType) -> None:
    issued = _issue(g)
    signing_input, signature = issued.jwt.rsplit(".", 1)
    assert g.ISSUER_ED.public_key().verify(signing_input.encode(), b64url_decode(signature))
    assert not g.ATTACKER_ED.public_key().verify(signing_input.encode(), b64url_decode(signature))


def test_disclosable_values_are_not_in_the_signed_payload(g: ModuleType) -> None:
    issued = _issue(g)
    _, payload = _payload(issued.jwt)
    text = json.dumps(payload)
    for value in ("Ada", "Lovelace", "1815-12-10", "London", "Analytical", '"GB"', '"IT"'):
        assert value not in text
    assert set(payload) == {"iss", "iat", "vct", "_sd", "_sd_alg", "nationalities"}
    assert len(payload["_sd"]) == 4  # given_name, family_name, birthdate, address


def test_digests_are_sha256_of_the_encoded_disclosures_and_sorted(g: ModuleType) -> None:
    issued = _issue(g)
    _, payload = _payload(issued.jwt)
    by_name = {d.name: d for d in issued.disclosures if d.name is not None}
    for disclosure in issued.disclosures:
        expected = b64url_encode(hashlib.sha256(disclosure.encoded.encode("ascii")).digest())
        assert disclosure.digest == expected
    assert payload["_sd"] == sorted(by_name[n].digest for n in ("given_name", "family_name", "birthdate", "address"))
    # Array elements become {"...": digest}, in place.
    elements = [d for d in issued.disclosures if d.name is None]
    assert payload["nationalities"] == [{"...": d.digest} for d in elements]
    assert [d.value for d in elements] == ["GB", "IT"]


def test_disclosure_json_shape_and_salts(g: ModuleType) -> None:
    issued = _issue(g)
    salts = set()
    for disclosure in issued.disclosures:
        array = json.loads(b64url_decode(disclosure.encoded))
        assert array[0] == disclosure.salt
        assert len(b64url_decode(disclosure.salt)) == 16
        salts.add(disclosure.salt)
        if disclosure.name is None:
            assert array == [disclosure.salt, disclosure.value]
        else:
            assert array == [disclosure.salt, disclosure.name, disclosure.value]
    assert len(salts) == len(issued.disclosures) == 9


def test_recursive_disclosure_holds_the_childrens_digests(g: ModuleType) -> None:
    issued = _issue(g)
    address = next(d for d in issued.disclosures if d.name == "address")
    children = {d.name: d for d in issued.disclosures if d.name in ("street_address", "locality", "country")}
    assert address.value == {"_sd": sorted(d.digest for d in children.values())}


def test_nested_property_only(g: ModuleType) -> None:
    issued = _issue(g, disclosable=[("address", "locality")])
    _, payload = _payload(issued.jwt)
    assert payload["address"]["street_address"] == "12 Analytical Row"
    assert "locality" not in payload["address"]
    assert len(payload["address"]["_sd"]) == 1
    assert [d.name for d in issued.disclosures] == ["locality"]


def test_single_array_index(g: ModuleType) -> None:
    issued = _issue(g, disclosable=[("nationalities", 1)])
    _, payload = _payload(issued.jwt)
    assert payload["nationalities"][0] == "GB"
    assert list(payload["nationalities"][1]) == ["..."]


def test_decoys_are_added_to_every_sd_array(g: ModuleType) -> None:
    issued = _issue(g, decoys=3)
    _, payload = _payload(issued.jwt)
    assert len(payload["_sd"]) == 4 + 3
    address = next(d for d in issued.disclosures if d.name == "address")
    assert len(address.value["_sd"]) == 3 + 3
    real = {d.digest for d in issued.disclosures}
    decoys = [d for d in payload["_sd"] if d not in real]
    assert len(decoys) == 3 and all(len(b64url_decode(d)) == 32 for d in decoys)
    assert payload["_sd"] == sorted(payload["_sd"])


def test_issuance_is_deterministic_given_the_random_source(g: ModuleType) -> None:
    assert _issue(g, label="same").serialize() == _issue(g, label="same").serialize()
    assert _issue(g, label="one").serialize() != _issue(g, label="two").serialize()


def test_serialize_ends_with_tilde(g: ModuleType) -> None:
    issued = _issue(g)
    text = issued.serialize()
    assert text.endswith("~")
    assert text.split("~")[1:-1] == [d.encoded for d in issued.disclosures]


def test_claims_object_is_not_modified(g: ModuleType) -> None:
    claims = json.loads(json.dumps(g.CLAIMS))
    _issue(g, claims=claims)
    assert claims == g.CLAIMS


# Refusals that are not in the case files (which cover the IssuanceError ones).


def test_random_source_must_return_the_length_asked(g: ModuleType) -> None:
    with pytest.raises(ValueError, match="the random source must return the number of bytes asked for"):
        _issue(g, random=lambda n: b"\x00" * (n - 1))


def test_negative_decoys_are_refused(g: ModuleType) -> None:
    with pytest.raises(ValueError, match="decoys must be zero or more"):
        _issue(g, decoys=-1)


def test_claims_must_be_a_mapping(g: ModuleType) -> None:
    with pytest.raises(TypeError, match="claims must be a mapping"):
        _issue(g, claims=[("given_name", "Ada")])


@pytest.mark.parametrize("path", [(), ["given_name"], "given_name"])
def test_paths_must_be_non_empty_tuples(g: ModuleType, path: Any) -> None:
    with pytest.raises(ValueError, match="each disclosable path must be a non-empty tuple"):
        _issue(g, disclosable=[path])


@pytest.mark.parametrize("claim", ["iss", "vct", "cnf", "status", "exp", "nbf", "iat"])
def test_registered_claims_cannot_be_disclosable(g: ModuleType, claim: str) -> None:
    with pytest.raises(IssuanceError, match=f"claim '{claim}' must never be selectively disclosable"):
        _issue(g, disclosable=[(claim,)])


def test_nested_claim_named_iss_may_be_disclosable(g: ModuleType) -> None:
    # Only the top-level registered claims are protected; a nested "iss" is ordinary data.
    issued = _issue(g, claims={"employer": {"iss": "ACME"}}, disclosable=[("employer", "iss")])
    assert [d.name for d in issued.disclosures] == ["iss"]
