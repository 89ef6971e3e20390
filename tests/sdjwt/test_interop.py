"""Interoperability with the SD-JWT reference implementation (PyPI ``sd-jwt`` 0.10.4).

Both directions are exercised:

* what :mod:`sdjwt` issues and presents, the reference verifier accepts, and it
  sees exactly the claims the holder disclosed, no more;
* what the reference issues (ES256 and EdDSA issuers, ``typ`` set to
  ``dc+sd-jwt`` through its ``extra_header_parameters``) and presents with a Key
  Binding JWT, :func:`sdjwt.verify` accepts.

The reference verifier has known faults. They are *measured* here, not skipped:
each test asserts what the reference actually does, so a test fails (and must be
revisited) the day the reference changes.

* It verifies every KB-JWT with ``ES256`` hard-coded
  (``SDJWTVerifier._verify_key_binding_jwt``: ``_alg = sign_alg or
  DEFAULT_SIGNING_ALG`` and the constructor never passes ``sign_alg``), so an
  EdDSA holder's presentation fails there although it is valid (RFC 9901
  section 7.3 puts no such restriction on the holder).
* It never checks ``exp``, ``nbf`` (``# TODO: Check exp/nbf/iat``) or the
  KB-JWT's ``iat`` (RFC 9901 section 7.3 step 5c), and it silently ignores a
  disclosure that no digest references instead of rejecting the presentation
  (RFC 9901 section 7.1 step 4).
"""

from __future__ import annotations

import random
import time
from typing import Any, Callable

import pytest
from jwcrypto.jwk import JWK
from jwcrypto.jws import InvalidJWSSignature
from sd_jwt.common import SDObj
from sd_jwt.holder import SDJWTHolder
from sd_jwt.issuer import SDJWTIssuer
from sd_jwt.verifier import SDJWTVerifier

import sdjwt
from sdjwt.jws import CompactJWS, sign_compact

AUD = "https://verifier.example"
NONCE = "n-0S6_WzA2Mj"
ISS = "https://issuer.example"
REF_ISS = "https://reference-issuer.example"
VCT = "urn:eudi:pid:1"

# Non-ASCII values on purpose: the two implementations encode disclosures
# differently (we keep UTF-8, the reference escapes to \uXXXX), and each must
# still read the other's bytes.
CLAIMS: dict[str, Any] = {
    "given_name": "Erika",
    "family_name": "Mustermann",
    "birthdate": "1963-08-12",
    "address": {
        "street_address": "Heidestraße 17",
        "locality": "Köln",
        "postal_code": "51147",
        "country": "DE",
    },
    "nationalities": ["DE", "FR"],
    "age_equal_or_over": {"18": True, "21": True},
}

DISCLOSABLE: list[sdjwt.ClaimPath] = [
    ("given_name",),
    ("family_name",),
    ("birthdate",),
    ("address",),
    ("address", "street_address"),
    ("address", "locality"),
    ("address", "postal_code"),
    ("nationalities", None),
    ("age_equal_or_over", "18"),
    ("age_equal_or_over", "21"),
]

# The containers whose members are all disclosable stay visible, empty, when
# nothing inside them is disclosed.
_EMPTY_CONTAINERS: dict[str, Any] = {"nationalities": [], "age_equal_or_over": {}}


def _seeded(seed: int) -> Callable[[int], bytes]:
    """A deterministic salt source, so a failing case can be replayed."""
    return random.Random(seed).randbytes


def _jwcrypto(jwk: dict[str, str]) -> JWK:
    return JWK(**jwk)


def _issue_ours(
    issuer_key: sdjwt.PrivateKey,
    holder_key: sdjwt.PrivateKey,
    now: int,
    **extra: Any,
) -> sdjwt.IssuedSDJWT:
    return sdjwt.issue(
        CLAIMS,
        disclosable=DISCLOSABLE,
        issuer_key=issuer_key,
        kid="key-1",
        iss=ISS,
        vct=VCT,
        iat=now,
        random=_seeded(now),
        holder_jwk=holder_key.public_key().public_jwk(),
        decoys=2,
        **extra,
    )


def _reference_verify(presentation: str, issuer_key: sdjwt.PrivateKey, *, key_binding: bool = True) -> dict[str, Any]:
    """Run the reference verifier; return the payload it considers verified."""
    seen: list[tuple[str, dict[str, Any]]] = []

    def issuer_key_callback(iss: str, header: dict[str, Any]) -> JWK:
        seen.append((iss, header))
        return _jwcrypto(issuer_key.public_key().public_jwk())

    if key_binding:
        verifier = SDJWTVerifier(presentation, issuer_key_callback, expected_aud=AUD, expected_nonce=NONCE)
    else:
        verifier = SDJWTVerifier(presentation, issuer_key_callback)
    # The reference hands its callback the (unverified) iss and JOSE header.
    assert seen == [(ISS, {"alg": issuer_key.alg, "typ": sdjwt.TYP, "kid": "key-1"})]
    payload: dict[str, Any] = verifier.get_verified_payload()
    return payload


def _verify_ours(presentation: str, issuer_key: sdjwt.PublicKey, *, algorithms: list[str], now: int) -> sdjwt.VerifiedSDJWT:
    return sdjwt.verify(
        presentation,
        issuer_key=lambda iss, kid, iat: issuer_key,
        algorithms=algorithms,
        now=now,
        audience=AUD,
        nonce=NONCE,
    )


def _always_visible(holder_key: sdjwt.PrivateKey, now: int, **extra: Any) -> dict[str, Any]:
    return {"iss": ISS, "iat": now, "vct": VCT, "cnf": {"jwk": holder_key.public_key().public_jwk()}, **extra}


# --------------------------------------------------------------------------
# (a) sdjwt issues and presents; the reference verifies.
# --------------------------------------------------------------------------

# (paths the holder discloses, the claims a verifier must then see besides the always-visible ones)
OUR_PRESENTATIONS = {
    "one-top-level-claim": ([("given_name",)], {**_EMPTY_CONTAINERS, "given_name": "Erika"}),
    "nested-claims-with-parent": (
        [("address", "locality"), ("age_equal_or_over", "18")],
        {"nationalities": [], "address": {"locality": "Köln", "country": "DE"}, "age_equal_or_over": {"18": True}},
    ),
    "one-array-element": ([("nationalities", 1)], {"nationalities": ["FR"], "age_equal_or_over": {}}),
    "whole-subtree": (
        [("address",), ("birthdate",)],
        {
            **_EMPTY_CONTAINERS,
            "birthdate": "1963-08-12",
            "address": {"street_address": "Heidestraße 17", "locality": "Köln", "postal_code": "51147", "country": "DE"},
        },
    ),
    "nothing-selectively-disclosed": ([], dict(_EMPTY_CONTAINERS)),
}


@pytest.mark.parametrize("case", sorted(OUR_PRESENTATIONS))
def test_reference_verifies_our_presentation_with_es256_holder(case: str) -> None:
    paths, disclosed = OUR_PRESENTATIONS[case]
    now = int(time.time())
    issuer_key, holder_key = sdjwt.Ed25519PrivateKey.generate(), sdjwt.P256PrivateKey.generate()
    issued = _issue_ours(issuer_key, holder_key, now)
    presentation = sdjwt.create_presentation(issued.serialize(), paths, holder_key=holder_key, aud=AUD, nonce=NONCE, iat=now)

    expected = _always_visible(holder_key, now, **disclosed)
    assert _reference_verify(presentation, issuer_key) == expected
    # Ours agrees with the reference claim for claim.
    assert _verify_ours(presentation, issuer_key.public_key(), algorithms=["EdDSA"], now=now).claims == expected


@pytest.mark.parametrize("holder", ["ES256", "EdDSA"])
def test_reference_verifies_our_presentation_without_key_binding(holder: str) -> None:
    # Without a KB-JWT the reference checks only the issuer signature and the
    # digests, so an EdDSA holder's credential is readable there too.
    now = int(time.time())
    issuer_key = sdjwt.Ed25519PrivateKey.generate()
    holder_key = sdjwt.P256PrivateKey.generate() if holder == "ES256" else sdjwt.Ed25519PrivateKey.generate()
    issued = _issue_ours(issuer_key, holder_key, now)
    presentation = sdjwt.create_presentation(issued.serialize(), [("family_name",), ("nationalities", 0)], holder_key=None)

    assert _reference_verify(presentation, issuer_key, key_binding=False) == _always_visible(
        holder_key, now, family_name="Mustermann", nationalities=["DE"], age_equal_or_over={}
    )


def test_reference_rejects_valid_eddsa_key_binding_because_it_hard_codes_es256() -> None:
    """The reference's fault, not ours: its KB-JWT check only ever tries ES256.

    ``SDJWTVerifier._verify_key_binding_jwt`` defaults ``sign_alg`` to
    ``DEFAULT_SIGNING_ALG`` ("ES256") and its constructor never passes one, so
    a correct EdDSA KB-JWT is refused with an "alg mismatch". The same
    presentation verifies with ours, and its issuer-signed part verifies with
    the reference when key binding is not checked.
    """
    now = int(time.time())
    issuer_key, holder_key = sdjwt.Ed25519PrivateKey.generate(), sdjwt.Ed25519PrivateKey.generate()
    issued = _issue_ours(issuer_key, holder_key, now)
    presentation = sdjwt.create_presentation(
        issued.serialize(), [("given_name",)], holder_key=holder_key, aud=AUD, nonce=NONCE, iat=now
    )

    with pytest.raises(InvalidJWSSignature, match='"alg" mismatch, requested "ES256", found "EdDSA"'):
        _reference_verify(presentation, issuer_key)

    expected = _always_visible(holder_key, now, given_name="Erika", **_EMPTY_CONTAINERS)
    assert _reference_verify(presentation, issuer_key, key_binding=False) == expected
    verified = _verify_ours(presentation, issuer_key.public_key(), algorithms=["EdDSA"], now=now)
    assert verified.claims == expected
    assert verified.key_binding is not None and verified.key_binding["aud"] == AUD


# --------------------------------------------------------------------------
# (b) The reference issues and presents; sdjwt verifies.
# --------------------------------------------------------------------------

_REF_KEY_TYPES = {"ES256": {"kty": "EC", "crv": "P-256"}, "EdDSA": {"kty": "OKP", "crv": "Ed25519"}}


def _reference_issue(
    issuer_alg: str, holder_jwk: JWK, now: int, *, typ: str | None = sdjwt.TYP, **registered: Any
) -> tuple[str, sdjwt.PublicKey]:
    """Issue with the reference; return the SD-JWT and the issuer's public key as ours sees it."""
    issuer_jwk = JWK.generate(**_REF_KEY_TYPES[issuer_alg])
    user_claims = {
        "iss": REF_ISS,
        "iat": now,
        "vct": VCT,
        **registered,
        SDObj("given_name"): "Erika",
        SDObj("family_name"): "Mustermann",
        "address": {SDObj("locality"): "Köln", SDObj("postal_code"): "51147", "country": "DE"},
        "nationalities": [SDObj("DE"), SDObj("FR")],
    }
    header = {"kid": "ref-key-1"} if typ is None else {"typ": typ, "kid": "ref-key-1"}
    issuer = SDJWTIssuer(
        user_claims,
        issuer_jwk,
        holder_key=holder_jwk,
        sign_alg=issuer_alg,
        add_decoy_claims=True,
        extra_header_parameters=header,
    )
    return issuer.sd_jwt_issuance, sdjwt.public_key_from_jwk(issuer_jwk.export_public(as_dict=True))


def _reference_present(issuance: str, holder_alg: str, holder_jwk: JWK) -> str:
    holder = SDJWTHolder(issuance)
    holder.create_presentation(
        {"given_name": True, "address": {"locality": True}, "nationalities": [False, True]},
        nonce=NONCE,
        aud=AUD,
        holder_key=holder_jwk,
        sign_alg=holder_alg,
    )
    presentation: str = holder.sd_jwt_presentation
    return presentation


@pytest.mark.parametrize("holder_alg", ["ES256", "EdDSA"])
@pytest.mark.parametrize("issuer_alg", ["ES256", "EdDSA"])
def test_we_verify_reference_issued_and_presented(issuer_alg: str, holder_alg: str) -> None:
    now = int(time.time())
    holder_jwk = JWK.generate(**_REF_KEY_TYPES[holder_alg])
    issuance, issuer_public = _reference_issue(issuer_alg, holder_jwk, now)
    presentation = _reference_present(issuance, holder_alg, holder_jwk)

    seen: list[tuple[str, str | None, int | None]] = []

    def lookup(iss: str, kid: str | None, iat: int | None) -> sdjwt.PublicKey:
        seen.append((iss, kid, iat))
        return issuer_public

    verified = sdjwt.verify(
        presentation, issuer_key=lookup, algorithms=[issuer_alg], now=int(time.time()), audience=AUD, nonce=NONCE
    )

    assert seen == [(REF_ISS, "ref-key-1", now)]
    assert verified.header["typ"] == sdjwt.TYP and verified.header["alg"] == issuer_alg
    assert verified.claims == {
        "iss": REF_ISS,
        "iat": now,
        "vct": VCT,
        "cnf": {"jwk": holder_jwk.export_public(as_dict=True)},
        "given_name": "Erika",
        "address": {"locality": "Köln", "country": "DE"},
        "nationalities": ["FR"],
    }
    assert sorted(verified.disclosed, key=str) == sorted(
        [("given_name",), ("address", "locality"), ("nationalities", 0)], key=str
    )
    assert verified.key_binding is not None
    assert verified.key_binding["aud"] == AUD and verified.key_binding["nonce"] == NONCE


def test_we_refuse_reference_issuer_alg_outside_the_allow_list() -> None:
    now = int(time.time())
    holder_jwk = JWK.generate(kty="EC", crv="P-256")
    issuance, issuer_public = _reference_issue("ES256", holder_jwk, now)
    presentation = _reference_present(issuance, "ES256", holder_jwk)

    with pytest.raises(sdjwt.UnsupportedAlgorithm, match="issuer-signed JWT alg is not allowed; accepted: EdDSA"):
        _verify_ours(presentation, issuer_public, algorithms=["EdDSA"], now=int(time.time()))


def test_we_refuse_reference_default_typ_which_is_not_an_sd_jwt_vc() -> None:
    # Left to its default, the reference writes typ "example+sd-jwt" (overridable
    # with the SD_JWT_HEADER environment variable): not an SD-JWT VC.
    now = int(time.time())
    holder_jwk = JWK.generate(kty="EC", crv="P-256")
    issuance, issuer_public = _reference_issue("ES256", holder_jwk, now, typ=None)
    assert CompactJWS.parse(sdjwt.SDJWT.parse(issuance).jwt).header["typ"] == "example+sd-jwt"
    presentation = _reference_present(issuance, "ES256", holder_jwk)

    with pytest.raises(sdjwt.MalformedSDJWT, match="issuer-signed JWT typ must be one of: dc\\+sd-jwt"):
        _verify_ours(presentation, issuer_public, algorithms=["ES256"], now=int(time.time()))


# --------------------------------------------------------------------------
# Faults of the reference verifier: it accepts, we refuse.
#
# Each presentation below uses an ES256 holder, so the reference's hard-coded
# KB-JWT algorithm is not what decides the outcome.
# --------------------------------------------------------------------------


def _present_es256(issued: sdjwt.IssuedSDJWT, holder_key: sdjwt.PrivateKey, iat: int) -> str:
    return sdjwt.create_presentation(issued.serialize(), [("given_name",)], holder_key=holder_key, aud=AUD, nonce=NONCE, iat=iat)


def test_expired_credential_accepted_by_reference_refused_by_us() -> None:
    now = int(time.time())
    issuer_key, holder_key = sdjwt.Ed25519PrivateKey.generate(), sdjwt.P256PrivateKey.generate()
    issued = _issue_ours(issuer_key, holder_key, now - 86400, exp=now - 3600)
    presentation = _present_es256(issued, holder_key, now)

    payload = _reference_verify(presentation, issuer_key)
    assert payload["exp"] == now - 3600 and payload["given_name"] == "Erika"

    with pytest.raises(sdjwt.Expired, match="the credential has expired"):
        _verify_ours(presentation, issuer_key.public_key(), algorithms=["EdDSA"], now=now)


def test_not_yet_valid_credential_accepted_by_reference_refused_by_us() -> None:
    now = int(time.time())
    issuer_key, holder_key = sdjwt.Ed25519PrivateKey.generate(), sdjwt.P256PrivateKey.generate()
    issued = _issue_ours(issuer_key, holder_key, now, nbf=now + 86400)
    presentation = _present_es256(issued, holder_key, now)

    payload = _reference_verify(presentation, issuer_key)
    assert payload["nbf"] == now + 86400 and payload["given_name"] == "Erika"

    with pytest.raises(sdjwt.NotYetValid, match="not valid yet"):
        _verify_ours(presentation, issuer_key.public_key(), algorithms=["EdDSA"], now=now)


def test_disclosure_injection_accepted_by_reference_refused_by_us() -> None:
    """A holder appends a disclosure no digest refers to, and signs it into ``sd_hash``.

    RFC 9901 section 7.1 step 4 requires rejecting the presentation. The
    reference does not reject it; it quietly leaves the claim out.
    """
    now = int(time.time())
    issuer_key, holder_key = sdjwt.Ed25519PrivateKey.generate(), sdjwt.P256PrivateKey.generate()
    issued = _issue_ours(issuer_key, holder_key, now)
    selected = sdjwt.SDJWT.parse(issued.serialize()).select([("given_name",)])
    forged = sdjwt.Disclosure.create("c2FsdHNhbHRzYWx0c2FsdA", "is_admin", True)
    body = selected.without_key_binding() + forged.encoded + "~"
    kb_jwt = sign_compact(
        {"typ": sdjwt.KB_TYP}, {"iat": now, "aud": AUD, "nonce": NONCE, "sd_hash": sdjwt.sd_hash(body)}, holder_key
    )
    presentation = body + kb_jwt

    payload = _reference_verify(presentation, issuer_key)
    assert payload == _always_visible(holder_key, now, given_name="Erika", **_EMPTY_CONTAINERS)
    assert "is_admin" not in payload

    with pytest.raises(sdjwt.DisclosureMismatch, match="not referenced by any digest the issuer signed"):
        _verify_ours(presentation, issuer_key.public_key(), algorithms=["EdDSA"], now=now)


def test_day_old_key_binding_jwt_replay_accepted_by_reference_refused_by_us() -> None:
    now = int(time.time())
    issuer_key, holder_key = sdjwt.Ed25519PrivateKey.generate(), sdjwt.P256PrivateKey.generate()
    issued = _issue_ours(issuer_key, holder_key, now - 2 * 86400)
    presentation = _present_es256(issued, holder_key, now - 86400)
    kb_payload = CompactJWS.parse(presentation.rsplit("~", 1)[1]).payload
    assert kb_payload["iat"] == now - 86400

    payload = _reference_verify(presentation, issuer_key)
    assert payload["given_name"] == "Erika"

    with pytest.raises(sdjwt.KeyBindingError, match="KB-JWT is too old"):
        _verify_ours(presentation, issuer_key.public_key(), algorithms=["EdDSA"], now=now)
