"""The issuer signs with sdjwt.CompiledIssuer: sdjwt.issue, byte for byte, compiled once per credential type."""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
from typing import Any, Callable

import pytest

import sdjwt
from issuer.credential_types import load_types

from issuer_helpers import NATIONAL_ID

TYPE = load_types()["national_id"]
KEY = sdjwt.Ed25519PrivateKey(bytes(range(32)))
HOLDER = sdjwt.Ed25519PrivateKey(bytes(range(1, 33))).public_key().public_jwk()
STATUS = sdjwt.StatusReference(41, "https://office.example/status/0a1b")


def _random(seed: str) -> Callable[[int], bytes]:
    counter = [0]

    def source(n: int) -> bytes:
        out = b""
        while len(out) < n:
            counter[0] += 1
            out += hashlib.sha256(f"{seed}:{counter[0]}".encode()).digest()
        return out[:n]
    return source


def _present(claims: dict[str, Any], paths: tuple[Any, ...]) -> list[Any]:
    def has(value: Any, path: tuple[Any, ...]) -> bool:
        if not path:
            return True
        step, rest = path[0], path[1:]
        if step is None:
            return isinstance(value, list) and all(has(v, rest) for v in value)
        return isinstance(value, dict) and step in value and has(value[step], rest)
    return [p for p in paths if has(claims, p)]


def _variants() -> list[dict[str, Any]]:
    full = copy.deepcopy(NATIONAL_ID)
    no_region = copy.deepcopy(NATIONAL_ID)
    del no_region["address"]["region"]  # type: ignore[attr-defined]
    many = copy.deepcopy(NATIONAL_ID)
    many["nationalities"] = ["CN", "HK", "MO"]
    many["given_name"] = "美 \"quoted\" \\ é"
    return [full, no_region, many]


OPTIONS: dict[str, Any] = dict(issuer_key=KEY, kid="did:civic:x#key-1", iss="did:civic:x", vct=TYPE.vct, iat=1_760_000_000,
                               exp=1_790_000_000, holder_jwk=HOLDER, status=STATUS)


def test_type_signer_is_sdjwts_compiled_issuer_skipping_absent_claims() -> None:
    assert isinstance(TYPE.signer, sdjwt.CompiledIssuer)
    assert TYPE.signer is TYPE.signer  # Compiled once per type.


@pytest.mark.parametrize("index", range(3))
def test_signer_matches_sdjwt_issue_byte_for_byte(index: int) -> None:
    claims = TYPE.complete(_variants()[index], dt.date(2025, 10, 9))
    before = copy.deepcopy(claims)
    ours = TYPE.signer.serialize(claims, random=_random("s"), **OPTIONS)
    theirs = sdjwt.issue(claims, disclosable=_present(claims, TYPE.disclosable), random=_random("s"), **OPTIONS).serialize()
    assert ours == theirs
    assert claims == before  # The claims are read, never changed.


@pytest.mark.parametrize("decoys", [0, 2])
def test_compiled_issue_is_sdjwt_issue_with_disclosure_objects(decoys: int) -> None:
    claims = TYPE.complete(_variants()[0], dt.date(2025, 10, 9))
    compiled = sdjwt.CompiledIssuer(TYPE.disclosable)
    ours = compiled.issue(claims, random=_random("d"), decoys=decoys, nbf=1_759_999_000, **OPTIONS)
    theirs = sdjwt.issue(claims, disclosable=TYPE.disclosable, random=_random("d"), decoys=decoys, nbf=1_759_999_000,
                         **OPTIONS)
    assert ours == theirs
    assert compiled.serialize(claims, random=_random("d"), decoys=decoys, nbf=1_759_999_000, **OPTIONS) == theirs.serialize()


def test_absent_disclosable_claim_is_refused_unless_skipped() -> None:
    claims = TYPE.complete(_variants()[1], dt.date(2025, 10, 9))
    message = r"disclosable claim \$\.address\.region is not in the claims"
    with pytest.raises(sdjwt.IssuanceError, match=message):
        sdjwt.issue(claims, disclosable=TYPE.disclosable, random=_random("a"), **OPTIONS)
    with pytest.raises(sdjwt.IssuanceError, match=message):
        sdjwt.CompiledIssuer(TYPE.disclosable).serialize(claims, random=_random("a"), **OPTIONS)
    assert "region" not in str(sdjwt.CompiledIssuer(TYPE.disclosable, skip_absent=True).issue(
        claims, random=_random("a"), **OPTIONS).disclosures)


def test_errors_name_the_claim_path() -> None:
    compiled = sdjwt.CompiledIssuer([("address", "{x}")])
    with pytest.raises(sdjwt.IssuanceError, match=r"^disclosable claim \$\.address\.\{x\} is not in the claims$"):
        compiled.serialize({"address": {"locality": "Beijing"}}, random=_random("e"), **OPTIONS)
    with pytest.raises(sdjwt.IssuanceError, match=r"^claim name '_sd' under \$\.list\[1\] is reserved by RFC 9901$"):
        sdjwt.CompiledIssuer([]).serialize({"list": [{}, {"_sd": 1}]}, random=_random("e"), **OPTIONS)
    with pytest.raises(sdjwt.IssuanceError, match=r"^claim \$\.name is not an object or array"):
        sdjwt.CompiledIssuer([("name", "first")]).serialize({"name": "Mei"}, random=_random("e"), **OPTIONS)


def test_signed_credential_verifies_with_every_disclosure() -> None:
    claims = TYPE.complete(_variants()[1], dt.date(2025, 10, 9))
    text = TYPE.signer.serialize(claims, random=_random("v"), **OPTIONS)
    verified = sdjwt.verify(text, issuer_key=lambda iss, kid, iat: KEY.public_key(), algorithms=("EdDSA",), now=1_760_000_100,
                            require_key_binding=False)
    assert verified.claims["address"] == claims["address"]
    assert verified.claims["age_equal_or_over"] == claims["age_equal_or_over"]
    assert ("address", "region") not in set(verified.disclosed)


def test_signer_refuses_reserved_and_registered_claim_names_and_private_holder_keys() -> None:
    sign = TYPE.signer.serialize
    kwargs: dict[str, Any] = dict(OPTIONS, random=_random("r"))
    with pytest.raises(sdjwt.IssuanceError, match="reserved"):
        sign({"_sd": ["x"]}, **kwargs)
    with pytest.raises(sdjwt.IssuanceError, match="set by the issuer"):
        sign({"iss": "did:evil"}, **kwargs)
    with pytest.raises(sdjwt.IssuanceError, match="holder JWK must be a public key"):
        sign({}, **dict(kwargs, holder_jwk=sdjwt.Ed25519PrivateKey(bytes(32)).private_jwk()))
    with pytest.raises(sdjwt.IssuanceError, match="never be selectively disclosable"):
        sdjwt.CompiledIssuer([("vct",)])
