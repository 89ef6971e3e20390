"""issuer.signing.CredentialSigner is sdjwt.issue, byte for byte, only faster."""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
from typing import Any, Callable

import pytest

import sdjwt
from issuer.credential_types import load_types
from issuer.signing import CredentialSigner

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


@pytest.mark.parametrize("index", range(3))
def test_signer_matches_sdjwt_issue_byte_for_byte(index: int) -> None:
    claims = TYPE.complete(_variants()[index], dt.date(2025, 10, 9))
    ours = TYPE.signer.sign(claims, issuer_key=KEY, kid="did:civic:x#key-1", iss="did:civic:x", vct=TYPE.vct, iat=1_760_000_000,
                            exp=1_790_000_000, holder_jwk=HOLDER, status=STATUS, random=_random("s"))
    theirs = sdjwt.issue(claims, disclosable=_present(claims, TYPE.disclosable), issuer_key=KEY, kid="did:civic:x#key-1",
                         iss="did:civic:x", vct=TYPE.vct, iat=1_760_000_000, exp=1_790_000_000, random=_random("s"),
                         holder_jwk=HOLDER, status=STATUS).serialize()
    assert ours == theirs


def test_signed_credential_verifies_with_every_disclosure() -> None:
    claims = TYPE.complete(_variants()[1], dt.date(2025, 10, 9))
    text = TYPE.signer.sign(claims, issuer_key=KEY, kid="did:civic:x#key-1", iss="did:civic:x", vct=TYPE.vct, iat=1_760_000_000,
                            exp=1_790_000_000, holder_jwk=HOLDER, status=STATUS, random=_random("v"))
    verified = sdjwt.verify(text, issuer_key=lambda iss, kid, iat: KEY.public_key(), algorithms=("EdDSA",), now=1_760_000_100,
                            require_key_binding=False)
    assert verified.claims["address"] == claims["address"]
    assert verified.claims["age_equal_or_over"] == claims["age_equal_or_over"]
    assert ("address", "region") not in set(verified.disclosed)


def test_signer_refuses_reserved_and_registered_claim_names() -> None:
    sign = TYPE.signer.sign
    kwargs: dict[str, Any] = dict(issuer_key=KEY, kid="k", iss="i", vct="v", iat=1, exp=2, holder_jwk=HOLDER, status=STATUS,
                                  random=_random("r"))
    with pytest.raises(sdjwt.IssuanceError, match="reserved"):
        sign({"_sd": ["x"]}, **kwargs)
    with pytest.raises(sdjwt.IssuanceError, match="set by the issuer"):
        sign({"iss": "did:evil"}, **kwargs)
    with pytest.raises(sdjwt.IssuanceError, match="never be selectively disclosable"):
        CredentialSigner([("vct",)])
