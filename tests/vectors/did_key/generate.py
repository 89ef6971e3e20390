"""Make the ``reject-*`` did:key cases in this folder that are not copied from the spec.

Each one is the spec's example DID (``did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK``,
did:key method spec section "Create") with one thing changed, plus the error it
must cause. The edits are deterministic:

    python tests/vectors/did_key/generate.py
"""

from __future__ import annotations

import json
from pathlib import Path

import base58

from sdjwt.encoding import b64url_encode

HERE = Path(__file__).parent
EXAMPLE = "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"
MULTIBASE = EXAMPLE[len("did:key:") :]
SOURCE = "tests/vectors/did_key/generate.py, from the did:key spec example " + EXAMPLE


def main() -> None:
    raw = base58.b58decode(MULTIBASE[1:])
    assert raw[:2] == b"\xed\x01" and len(raw) == 34

    def reject(name: str, description: str, did: str, error: str, match: str) -> None:
        out = {"description": description, "source": SOURCE, "did": did, "expected": {"error": error, "match": match}}
        (HERE / f"reject-{name}.json").write_text(json.dumps(out, indent=2) + "\n", "utf-8")

    reject("multibase-base58flickr", "Multibase prefix 'Z' (base58flickr) instead of 'z' (base58btc)",
           "did:key:Z" + MULTIBASE[1:], "MalformedSDJWT", "must be base58btc")
    reject("multibase-base64url", "Multibase prefix 'u' (base64url) with the same key bytes",
           "did:key:u" + b64url_encode(raw), "MalformedSDJWT", "must be base58btc")
    reject("bad-base58", "A '0' (not in the base58btc alphabet) replaces one character",
           "did:key:" + MULTIBASE[:10] + "0" + MULTIBASE[11:], "MalformedSDJWT", "not valid base58btc")
    reject("key-too-short", "The Ed25519 multicodec prefix followed by 31 key bytes",
           "did:key:z" + base58.b58encode(raw[:-1]).decode(), "MalformedSDJWT", "exactly 32 key bytes")
    reject("key-too-long", "The Ed25519 multicodec prefix followed by 33 key bytes",
           "did:key:z" + base58.b58encode(raw + b"\x00").decode(), "MalformedSDJWT", "exactly 32 key bytes")
    reject("fragment-mismatch", "A DID URL whose fragment names another key than the DID's own",
           EXAMPLE + "#z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp", "MalformedSDJWT", "fragment must repeat")
    reject("other-method", "A did:web DID is not a did:key",
           "did:web:issuer.example.org", "MalformedSDJWT", "not a did:key")
    reject("empty-identifier", "did:key: with nothing after it",
           "did:key:", "MalformedSDJWT", "must be base58btc")
    reject("oversized", "A 2000-character base58 string after did:key:z (refused before decoding)",
           "did:key:z" + "1" * 2000, "LimitExceeded", "longer than")


if __name__ == "__main__":
    main()
