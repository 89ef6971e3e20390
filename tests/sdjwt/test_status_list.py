"""Token Status List: the draft's examples, bit order, and Status List Token checks.

Cases are in ``tests/vectors/status_list`` (see its README for sources).
"""

from __future__ import annotations

import json
import time
import zlib
from pathlib import Path
from typing import Any

import pytest

import sdjwt
from sdjwt import StatusList, StatusListError, StatusListToken, StatusReference, check_status
from sdjwt.status_list import INVALID, SUSPENDED, VALID

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "status_list"


def _load(name: str) -> dict[str, Any]:
    return json.loads((VECTORS / name).read_text("utf-8"))


def _names(prefix: str) -> list[str]:
    return sorted(p.name for p in VECTORS.glob(f"{prefix}*.json"))


@pytest.mark.parametrize("name", ["draft-1bit-16-entries.json", "draft-2bit-12-entries.json"])
def test_draft_section_4_1_examples_encode_exactly(name: str) -> None:
    case = _load(name)
    bits, statuses, expected = case["bits"], case["statuses"], case["expected"]
    built = StatusList.empty(len(statuses), bits).with_status(dict(enumerate(statuses)))
    # Section 4.1: index 0 sits in the least significant bits of byte 0.
    assert built.data.hex() == expected["byte_array_hex"]
    # The draft's compressed bytes are what zlib level 9 writes; pin it (see README).
    assert zlib.compress(built.data, 9).hex() == expected["compressed_hex"]
    assert built.encode() == {"bits": bits, "lst": expected["lst"]}


@pytest.mark.parametrize("name", ["draft-1bit-16-entries.json", "draft-2bit-12-entries.json"])
def test_draft_section_4_1_lst_decodes_to_the_statuses(name: str) -> None:
    case = _load(name)
    decoded = StatusList.decode({"bits": case["bits"], "lst": case["expected"]["lst"]})
    assert decoded.data.hex() == case["expected"]["byte_array_hex"]
    assert [decoded.get(i) for i in range(len(case["statuses"]))] == case["statuses"]


def test_bit_order_is_least_significant_first() -> None:
    # Section 4.1 figure: status[0]=1, status[3]=1 -> bits 0 and 3 of byte 0 (0b00001001).
    assert StatusList.empty(8, 1).with_status({0: 1, 3: 1}).data == bytes([0b00001001])
    # 2 bits: status[1]=0b10 occupies bits 2-3 -> 0b00001000.
    assert StatusList.empty(4, 2).with_status({1: 0b10}).data == bytes([0b00001000])
    # 4 bits: index 1 is the high nibble.
    assert StatusList.empty(2, 4).with_status({1: 0xA}).data == bytes([0xA0])


@pytest.mark.parametrize("name", _names("draft-test-vector-"))
def test_draft_appendix_test_vectors(name: str) -> None:
    case = _load(name)
    entries = {int(idx): value for idx, value in case["statuses"].items()}
    decoded = StatusList.decode({"bits": case["bits"], "lst": case["expected"]["lst"]})
    assert decoded.size == case["size"]
    for idx, value in entries.items():
        assert decoded.get(idx) == value
    # Everything not listed is VALID.
    nonzero = {i for i in range(decoded.size) if decoded.get(i)} if case["bits"] == 8 else None
    if nonzero is not None:
        assert nonzero == {i for i, v in entries.items() if v}
    built = StatusList.empty(case["size"], case["bits"]).with_status(entries)
    assert built.data == decoded.data
    assert built.encode()["lst"] == case["expected"]["lst"]


@pytest.mark.parametrize("bits", [1, 2, 4, 8])
def test_encode_decode_round_trip(bits: int) -> None:
    size = 1000
    values = {i: (i * 7 + 3) % (1 << bits) for i in range(0, size, 3)}
    original = StatusList.empty(size, bits).with_status(values)
    decoded = StatusList.decode(original.encode())
    assert decoded == original
    assert all(decoded.get(i) == values.get(i, 0) for i in range(size))


def test_draft_status_list_token_verifies_with_the_draft_key() -> None:
    case = _load("draft-status-list-token.json")
    key = sdjwt.public_key_from_jwk(case["public_jwk"])
    v = case["verifier"]
    token = StatusListToken.verify(case["token"], key=key, algorithms=v["algorithms"], uri=v["uri"], now=v["now"])
    expected = case["expected"]
    assert (token.iat, token.exp, token.ttl) == (expected["iat"], expected["exp"], expected["ttl"])
    assert token.status_list.bits == expected["bits"]
    assert [token.status_list.get(i) for i in range(16)] == expected["statuses"]


def _verify(case: dict[str, Any]) -> StatusListToken:
    v = case["verifier"]
    key = sdjwt.public_key_from_jwk(case["public_jwk"])
    return StatusListToken.verify(case["token"], key=key, algorithms=v["algorithms"], uri=v["uri"], now=v["now"])


def test_generated_valid_token_and_check_status() -> None:
    case = _load("token-valid.json")
    token = _verify(case)
    assert (token.iat, token.exp, token.ttl) == (case["expected"]["iat"], case["expected"]["exp"], case["expected"]["ttl"])
    assert [token.status_list.get(i) for i in range(token.status_list.size)] == case["expected"]["statuses"]
    uri = case["verifier"]["uri"]
    check_status(token, StatusReference(0, uri))
    with pytest.raises(sdjwt.StatusRevoked, match="revoked"):
        check_status(token, StatusReference(1, uri))
    with pytest.raises(sdjwt.StatusSuspended, match="suspended"):
        check_status(token, StatusReference(2, uri))
    with pytest.raises(StatusListError, match="not VALID"):
        check_status(token, StatusReference(4, uri))
    with pytest.raises(StatusListError, match="another status list"):
        check_status(token, StatusReference(0, uri + "x"))


def test_sign_then_verify_round_trip() -> None:
    key = sdjwt.Ed25519PrivateKey(bytes(32))
    status_list = StatusList.empty(16, 1).with_status({5: INVALID})
    token = sdjwt.sign_status_list(status_list, uri="https://s.example/1", key=key, kid="k", iat=100, exp=200, ttl=10)
    verified = StatusListToken.verify(token, key=key.public_key(), algorithms=["EdDSA"], uri="https://s.example/1", now=150)
    assert verified.status_list == status_list
    assert verified.status_list.get(5) == INVALID and verified.status_list.get(4) == VALID


@pytest.mark.parametrize("name", [n for n in _names("token-") if n not in ("token-valid.json", "token-idx-out-of-range.json")])
def test_generated_token_rejections(name: str) -> None:
    case = _load(name)
    assert case["expected"]["error"] == "StatusListError"
    with pytest.raises(StatusListError, match=case["expected"]["match"]):
        _verify(case)


def test_zip_bomb_is_refused_quickly() -> None:
    case = _load("token-zip-bomb.json")
    start = time.perf_counter()
    with pytest.raises(StatusListError, match="larger than 16 MiB"):
        _verify(case)
    assert time.perf_counter() - start < 2.0


def test_index_out_of_range_is_refused() -> None:
    case = _load("token-idx-out-of-range.json")
    token = _verify(case)
    with pytest.raises(StatusListError, match=case["expected"]["match"]):
        check_status(token, StatusReference(case["expected"]["idx"], case["verifier"]["uri"]))
    with pytest.raises(StatusListError, match="outside the status list"):
        token.status_list.get(-1)


def test_decode_rejects_malformed_objects() -> None:
    with pytest.raises(StatusListError, match="must be a JSON object"):
        StatusList.decode([1, "x"])
    with pytest.raises(StatusListError, match="'bits' must be 1, 2, 4 or 8"):
        StatusList.decode({"bits": True, "lst": "eNrbuRgAAhcBXQ"})
    with pytest.raises(StatusListError, match="'lst' must be a base64url string"):
        StatusList.decode({"bits": 1})
    with pytest.raises(StatusListError, match="not valid unpadded base64url"):
        StatusList.decode({"bits": 1, "lst": "eNrbuRgAAhcBXQ=="})
    with pytest.raises(StatusListError, match="status list is empty"):
        StatusList.decode({"bits": 1, "lst": sdjwt.encoding.b64url_encode(zlib.compress(b""))})


def test_programmer_misuse_raises_value_error() -> None:
    with pytest.raises(ValueError, match="bits must be 1, 2, 4 or 8"):
        StatusList(3, b"\x00")
    with pytest.raises(ValueError, match="at least one entry"):
        StatusList.empty(0)
    with pytest.raises(ValueError, match="does not fit in 1 bits"):
        StatusList.empty(8, 1).with_status({0: SUSPENDED})
    with pytest.raises(ValueError, match="outside the status list"):
        StatusList.empty(8, 1).with_status({8: 1})
