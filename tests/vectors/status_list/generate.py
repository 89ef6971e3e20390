"""Make the signed Status List Token cases in this folder (the ``token-*.json`` files).

The tokens are signed with a fixed Ed25519 seed (bytes 0..31). Ed25519 is
deterministic (RFC 8032), so every run writes the same bytes:

    python tests/vectors/status_list/generate.py

Each case is a valid token with one thing changed, or a valid token checked
with one verifier expectation changed, and names the error it must cause.
"""

from __future__ import annotations

import json
import zlib
from pathlib import Path
from typing import Any

from sdjwt.encoding import b64url_encode
from sdjwt.jws import sign_compact
from sdjwt.keys import Ed25519PrivateKey
from sdjwt.status_list import MAX_DECOMPRESSED, StatusList, sign_status_list

HERE = Path(__file__).parent
SEED = bytes(range(32))
OTHER_SEED = bytes(range(32, 64))
URI = "https://issuer.example.org/status/1"
IAT = 1700000000
EXP = IAT + 86400
KID = "status-key-1"
SOURCE = "tests/vectors/status_list/generate.py"


def main() -> None:
    key = Ed25519PrivateKey(SEED)
    other = Ed25519PrivateKey(OTHER_SEED)
    statuses = [0, 1, 2, 0, 3, 0, 0, 1]
    status_list = StatusList.empty(len(statuses), bits=2).with_status(dict(enumerate(statuses)))
    valid = sign_status_list(status_list, uri=URI, key=key, kid=KID, iat=IAT, exp=EXP, ttl=3600)
    verifier = {"uri": URI, "now": IAT + 60, "algorithms": ["EdDSA"]}

    def raw(payload: dict[str, Any], header: dict[str, Any] | None = None, signer: Ed25519PrivateKey = key) -> str:
        return sign_compact(header or {"typ": "statuslist+jwt", "kid": KID}, payload, signer)

    def base_payload(**changes: Any) -> dict[str, Any]:
        payload: dict[str, Any] = {"sub": URI, "iat": IAT, "exp": EXP, "ttl": 3600, "status_list": status_list.encode()}
        payload.update(changes)
        return payload

    def case(name: str, description: str, token: str, expected: dict[str, Any], **changes: Any) -> None:
        out = {
            "description": description,
            "source": SOURCE,
            "public_jwk": key.public_key().public_jwk(),
            "token": token,
            "verifier": {**verifier, **changes},
            "expected": expected,
        }
        (HERE / f"{name}.json").write_text(json.dumps(out, indent=2) + "\n", "utf-8")

    def reject(name: str, description: str, token: str, match: str, **changes: Any) -> None:
        case(name, description, token, {"error": "StatusListError", "match": match}, **changes)

    case("token-valid", "A valid 2-bit Status List Token; statuses VALID, INVALID, SUSPENDED, VALID, 0x03, VALID, VALID, INVALID",
         valid, {"iat": IAT, "exp": EXP, "ttl": 3600, "bits": 2, "statuses": statuses})
    reject("token-wrong-typ", "The header typ is JWT instead of statuslist+jwt",
           raw(base_payload(), {"typ": "JWT", "kid": KID}), "typ must be 'statuslist\\+jwt'")
    reject("token-bad-signature", "Signed by another key than the one the verifier trusts",
           raw(base_payload(), signer=other), "signature does not verify")
    reject("token-sub-mismatch", "The token's sub names another status list than the credential's uri",
           raw(base_payload(sub="https://issuer.example.org/status/2")), "'sub' does not match")
    reject("token-expired", "The verifier's clock is past exp plus the leeway",
           valid, "has expired", now=EXP + 3600)
    reject("token-alg-not-allowed", "The verifier allows only ES256, the token is EdDSA",
           valid, "alg is not allowed", algorithms=["ES256"])
    reject("token-no-iat", "The required iat claim is missing",
           raw({k: v for k, v in base_payload().items() if k != "iat"}), "no integer 'iat'")
    reject("token-bits-3", "status_list.bits is 3, which the draft does not allow (1, 2, 4 or 8)",
           raw(base_payload(status_list={"bits": 3, "lst": status_list.encode()["lst"]})), "'bits' must be 1, 2, 4 or 8")
    reject("token-lst-not-zlib", "lst is base64url of bytes that are not ZLIB data",
           raw(base_payload(status_list={"bits": 2, "lst": b64url_encode(b"not zlib data at all")})), "not ZLIB-compressed")
    reject("token-lst-raw-deflate", "lst is DEFLATE without the ZLIB header (RFC 1951 instead of RFC 1950)",
           raw(base_payload(status_list={"bits": 2, "lst": b64url_encode(zlib.compress(status_list.data, 9)[2:-4])})),
           "not ZLIB-compressed")
    reject("token-lst-truncated", "lst is a ZLIB stream cut short",
           raw(base_payload(status_list={"bits": 2, "lst": b64url_encode(zlib.compress(status_list.data, 9)[:-3])})),
           "truncated")
    reject("token-lst-trailing-data", "lst is a complete ZLIB stream followed by extra bytes",
           raw(base_payload(status_list={"bits": 2, "lst": b64url_encode(zlib.compress(status_list.data, 9) + b"extra")})),
           "data after the end")
    reject("token-bits-float", "status_list.bits is the JSON number 1.0, not an integer",
           raw(base_payload(status_list={"bits": 1.0, "lst": status_list.encode()["lst"]})), "'bits' must be 1, 2, 4 or 8")
    reject("token-ttl-zero", "ttl is 0; section 5.1 requires a positive number",
           raw(base_payload(ttl=0)), "'ttl' must be a positive integer")
    bomb = zlib.compress(bytes(MAX_DECOMPRESSED + 1024 * 1024), 9)
    reject("token-zip-bomb", "lst inflates to 17 MiB of zeros from about 17 KiB; it must be refused without inflating it all",
           raw(base_payload(status_list={"bits": 1, "lst": b64url_encode(bomb)})), "larger than 16 MiB")
    case("token-idx-out-of-range", "A valid token; the credential refers to index 8 of an 8-entry list",
         valid, {"idx": 8, "error": "StatusListError", "match": "outside the status list"})


if __name__ == "__main__":
    main()
