"""Make the ``reject-*`` JWK cases in this folder.

Each is a public JWK from an RFC (RFC 9901 appendix A.5 for P-256, RFC 8037
appendix A.2 for Ed25519, RFC 7638 section 3.1 for RSA) with one thing changed,
plus the error :func:`sdjwt.public_key_from_jwk` must raise. Deterministic:

    python tests/vectors/jwk/generate.py
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sdjwt.encoding import b64url_decode, b64url_encode

HERE = Path(__file__).parent
P256 = {"kty": "EC", "crv": "P-256", "x": "b28d4MwZMjw8-00CG4xfnn9SLMVMM19SlqZpVb_uNtQ", "y": "Xv5zWwuoaTgdS6hV43yI6gBwTnjukmFQQnJ_kCxzqk8"}
ED25519 = {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}
ED25519_D = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"
SOURCE = "tests/vectors/jwk/generate.py"


def _drop_last_byte(value: str) -> str:
    return b64url_encode(b64url_decode(value)[:-1])


def main() -> None:
    rsa = json.loads((HERE / "rfc7638-3.1-rsa-thumbprint.json").read_text("utf-8"))["jwk"]

    def reject(name: str, description: str, jwk: Any, error: str, match: str) -> None:
        out = {"description": description, "source": SOURCE, "jwk": jwk, "expected": {"error": error, "match": match}}
        (HERE / f"reject-{name}.json").write_text(json.dumps(out, indent=2) + "\n", "utf-8")

    # Incrementing y by one moves the point off the curve (a curve has at most two y per x).
    y = int.from_bytes(b64url_decode(P256["y"]), "big") + 1
    off_curve_y = b64url_encode(y.to_bytes(32, "big"))
    reject("p256-point-not-on-curve", "RFC 9901 A.5 key with y + 1, so (x, y) is not on P-256 (invalid-curve attack)",
           {**P256, "y": off_curve_y}, "MalformedSDJWT", "not a valid P-256 public key")
    reject("p256-private-d-present", "RFC 9901 A.5 key with a 'd' member where a public key is expected",
           {**P256, "d": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}, "MalformedSDJWT", "private key material")
    reject("ed25519-private-d-present", "RFC 8037 A.1 private key given where a public key is expected",
           {**ED25519, "d": ED25519_D}, "MalformedSDJWT", "private key material")
    reject("rsa-kty-unsupported", "RFC 7638 RSA key: civicid accepts only OKP/Ed25519 and EC/P-256",
           rsa, "UnsupportedAlgorithm", "use OKP/Ed25519 or EC/P-256")
    reject("ec-crv-p384", "kty EC with crv P-384", {**P256, "crv": "P-384"}, "UnsupportedAlgorithm", "use OKP/Ed25519 or EC/P-256")
    reject("okp-crv-ed448", "kty OKP with crv Ed448", {**ED25519, "crv": "Ed448"}, "UnsupportedAlgorithm", "use OKP/Ed25519 or EC/P-256")
    reject("okp-crv-x25519", "kty OKP with crv X25519 (a key-agreement key)", {**ED25519, "crv": "X25519"},
           "UnsupportedAlgorithm", "use OKP/Ed25519 or EC/P-256")
    reject("kty-missing", "No kty member", {k: v for k, v in P256.items() if k != "kty"},
           "UnsupportedAlgorithm", "use OKP/Ed25519 or EC/P-256")
    reject("p256-x-missing", "RFC 9901 A.5 key without x", {k: v for k, v in P256.items() if k != "x"},
           "MalformedSDJWT", "member 'x' is missing")
    reject("p256-y-missing", "RFC 9901 A.5 key without y", {k: v for k, v in P256.items() if k != "y"},
           "MalformedSDJWT", "member 'y' is missing")
    reject("ed25519-x-missing", "RFC 8037 A.2 key without x", {k: v for k, v in ED25519.items() if k != "x"},
           "MalformedSDJWT", "member 'x' is missing")
    reject("ed25519-x-number", "x is a JSON number, not a string", {**ED25519, "x": 12345}, "MalformedSDJWT", "member 'x' is missing or not a string")
    reject("ed25519-x-padded", "RFC 8037 A.2 x with '=' padding appended", {**ED25519, "x": ED25519["x"] + "="},
           "MalformedSDJWT", "not valid unpadded base64url")
    reject("ed25519-x-31-bytes", "x decodes to 31 bytes instead of 32", {**ED25519, "x": _drop_last_byte(ED25519["x"])},
           "MalformedSDJWT", "not a valid Ed25519 public key")
    reject("p256-x-31-bytes", "x decodes to 31 bytes instead of 32", {**P256, "x": _drop_last_byte(P256["x"])},
           "MalformedSDJWT", "not a valid P-256 public key")
    reject("not-an-object", "A JSON array instead of an object", [P256], "MalformedSDJWT", "must be a JSON object")


if __name__ == "__main__":
    main()
