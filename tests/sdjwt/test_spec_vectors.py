"""RFC 9901 worked examples, reproduced and verified from ``tests/vectors/rfc9901``.

The examples are signed with the RFC's appendix A.5 P-256 key. ECDSA signatures
cannot be forged, so a case that verifies proves the data was copied from the
RFC without a typo; the disclosure cases are recomputed byte for byte.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

import sdjwt
from sdjwt.disclosure import Disclosure, digest
from sdjwt.encoding import b64url_encode
from sdjwt.jws import CompactJWS
from sdjwt.presentation import SDJWT, sd_hash
from sdjwt.verification import _Processor

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "rfc9901"


def _load(name: str) -> dict[str, Any]:
    return json.loads((VECTORS / name).read_text("utf-8"))


def _names(prefix: str) -> list[str]:
    return sorted(p.name for p in VECTORS.glob(f"{prefix}*.json"))


def test_every_vector_file_is_exercised() -> None:
    exercised = set(_names("disclosure-")) | set(_names("example-")) | set(_names("a3-"))
    assert exercised == {p.name for p in VECTORS.glob("*.json")}
    assert len(_names("a3-")) == 11


@pytest.mark.parametrize("name", ["disclosure-object-property.json", "disclosure-array-element.json"])
def test_disclosure_is_reproduced_byte_for_byte(name: str) -> None:
    case = _load(name)
    created = Disclosure.create(case["salt"], case["name"], case["value"])
    assert created.encoded == case["expected"]["disclosure"]
    assert created.digest == case["expected"]["digest"]
    parsed = Disclosure.parse(case["expected"]["disclosure"])
    assert (parsed.salt, parsed.name, parsed.value) == (case["salt"], case["name"], case["value"])


def test_digest_is_over_the_ascii_disclosure_not_the_decoded_json() -> None:
    # RFC 9901 section 4.2.3: hash the base64url string itself, then base64url the raw digest.
    case = _load("disclosure-object-property.json")
    encoded = case["expected"]["disclosure"]
    assert digest(encoded) == b64url_encode(hashlib.sha256(encoded.encode("ascii")).digest())
    decoded_json = json.dumps([case["salt"], case["name"], case["value"]], ensure_ascii=False).encode()
    assert digest(encoded) != b64url_encode(hashlib.sha256(decoded_json).digest())
    assert digest(encoded) == case["expected"]["digest"]


@pytest.mark.parametrize("name", _names("disclosure-variant-"))
def test_disclosure_variants_decode_to_the_same_claim_with_their_own_digest(name: str) -> None:
    case = _load(name)
    parsed = Disclosure.parse(case["disclosure"])
    expected = case["expected"]
    assert (parsed.salt, parsed.name, parsed.value) == (expected["salt"], expected["name"], expected["value"])
    # The digest covers the variant's own bytes, so it differs from the canonical example's.
    assert parsed.digest == digest(case["disclosure"])
    assert parsed.digest != _load("disclosure-object-property.json")["expected"]["digest"]


def _issuer_key(case: dict[str, Any]) -> sdjwt.P256PublicKey:
    key = sdjwt.public_key_from_jwk(case["issuer_jwk"])
    assert isinstance(key, sdjwt.P256PublicKey)
    return key


def test_section_5_1_issued_sd_jwt_signature_and_every_disclosure() -> None:
    case = _load("example-5.1-issuance.json")
    jws = CompactJWS.parse(case["issuer_signed_jwt"], "issuer-signed JWT")
    assert jws.check_header(["ES256"], case["typ"]) == "ES256"
    jws.verify_signature(_issuer_key(case))

    parsed = SDJWT.parse(case["sd_jwt"])
    assert parsed.jwt == case["issuer_signed_jwt"] and parsed.kb_jwt is None
    assert len(parsed.disclosures) == len(case["disclosures"]) == 10
    for got, want in zip(parsed.disclosures, case["disclosures"]):
        assert got.encoded == want["disclosure"]
        assert got.digest == want["digest"]
        assert [got.salt, *([got.name] if got.name is not None else []), got.value] == want["contents"]
        assert got.name == want["claim"]

    processor = _Processor(parsed.disclosures, 16)
    claims = processor.obj(jws.payload, ())
    assert len(processor.used) == 10
    expected = {**case["expected"]["user_claims"], **case["expected"]["always_visible"]}
    assert claims == expected


def test_section_5_2_presentation_through_the_processing_steps() -> None:
    # `sdjwt.verify` implements SD-JWT *VC*: it requires `vct`, which this RFC 9901
    # example (typ example+sd-jwt) does not have. So the same steps run here one by one:
    # issuer signature, disclosure processing, then the KB-JWT (section 7.3).
    case = _load("example-5.2-presentation.json")
    parsed = SDJWT.parse(case["presentation"])
    assert len(parsed.disclosures) == 4 and parsed.kb_jwt is not None

    jws = CompactJWS.parse(parsed.jwt, "issuer-signed JWT")
    jws.check_header(case["verifier"]["algorithms"], case["typ"])
    jws.verify_signature(_issuer_key(case))
    processor = _Processor(parsed.disclosures, 16)
    assert processor.obj(jws.payload, ()) == case["expected"]["processed_payload"]
    assert len(processor.used) == len(parsed.disclosures)

    kb = CompactJWS.parse(parsed.kb_jwt, "KB-JWT")
    kb.check_header(["ES256"], sdjwt.KB_TYP)
    kb.verify_signature(sdjwt.public_key_from_jwk(jws.payload["cnf"]["jwk"]))
    assert kb.payload == case["expected"]["kb_jwt_payload"]
    assert sd_hash(parsed.without_key_binding()) == kb.payload["sd_hash"]


def test_section_5_2_presentation_is_refused_by_verify_for_lack_of_vct() -> None:
    case = _load("example-5.2-presentation.json")
    key = _issuer_key(case)
    verifier = case["verifier"]
    with pytest.raises(sdjwt.MalformedSDJWT, match="no 'vct' string"):
        sdjwt.verify(
            case["presentation"],
            issuer_key=lambda iss, kid, iat: key,
            algorithms=verifier["algorithms"],
            typ=(case["typ"],),
            now=verifier["now"],
            audience=verifier["audience"],
            nonce=verifier["nonce"],
        )


def _verify(case: dict[str, Any]) -> sdjwt.VerifiedSDJWT:
    key = _issuer_key(case)
    seen: list[tuple[str, str | None, int | None]] = []

    def lookup(iss: str, kid: str | None, iat: int | None) -> sdjwt.PublicKey:
        seen.append((iss, kid, iat))
        return key

    verifier = case["verifier"]
    result = sdjwt.verify(
        case["presentation"],
        issuer_key=lookup,
        algorithms=verifier["algorithms"],
        now=verifier["now"],
        audience=verifier["audience"],
        nonce=verifier["nonce"],
    )
    assert seen == [("https://pid-issuer.bund.de.example", None, 1683000000)]
    return result


def test_appendix_a3_sd_jwt_vc_presentation_verifies_end_to_end() -> None:
    case = _load("example-a.3-sd-jwt-vc-presentation.json")
    result = _verify(case)
    assert dict(result.claims) == case["expected"]["processed_payload"]
    assert dict(result.key_binding or {}) == case["expected"]["kb_jwt_payload"]
    assert result.holder_jwk == case["expected"]["processed_payload"]["cnf"]["jwk"]
    assert result.vct == "urn:eudi:pid:de:1"
    assert set(result.disclosed) == {("age_equal_or_over",), ("age_equal_or_over", "18"), ("nationalities",)}


@pytest.mark.parametrize("name", _names("a3-"))
def test_appendix_a3_mutations_are_refused(name: str) -> None:
    case = _load(name)
    error = getattr(sdjwt, case["expected"]["error"])
    with pytest.raises(error, match=case["expected"]["match"]):
        _verify(case)
