"""Write the seed corpus ``fuzz/corpus/<harness>/`` from real, valid objects (deterministic).

Run from the repository root::

    python fuzz/make_corpus.py            # (re)writes fuzz/corpus/
    python fuzz/make_corpus.py --check    # exits 1 if the committed corpus differs

Every seed is made with the product's own builders from the fixed keys of
``fuzz/world.py``, and every "valid" seed is checked by the harness itself
before it is written (a harness that refuses its own valid seed is a broken
harness, not a fuzzing result).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import sys
import urllib.parse
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fuzz import world as W  # noqa: E402
from fuzz.harnesses import HARNESSES  # noqa: E402

CORPUS = Path(__file__).resolve().parent / "corpus"


def _png(text: str) -> bytes:
    from wallet.qr import make_qr

    image = make_qr(text).make_image(fill_color="black", back_color="white")
    out = io.BytesIO()
    image.save(out)
    return out.getvalue()


def seeds() -> dict[str, dict[str, bytes]]:
    """``{harness: {name: bytes}}``; names say what each seed is. Seeds ending in ``-valid`` must pass."""
    w = W.world()
    full = w.present()
    credential = w.credential
    kb = full[full.rfind("~") + 1:]
    offer_json = json.dumps(w.offer()).encode()
    by_value = "openid-credential-offer://?" + urllib.parse.urlencode({"credential_offer": json.dumps(w.offer())})
    by_ref = "openid-credential-offer://?" + urllib.parse.urlencode(
        {"credential_offer_uri": "https://issuer.example/offers/abc"})
    ledger = w.ledger
    b = w.bundle
    text4 = b["note4"][: b["note4"].index("\n\n") + 1]
    add_checkpoint = ("old 2\n" + "".join(base64.b64encode(h).decode() + "\n" for h in b["proof_2_4"]) + "\n"
                      + b["note4"]).encode()
    cosig_line = w.witness_signer.sign(text4, timestamp=W.T0).to_line().encode()
    from registry.tiles import encode_entry_bundle

    status_obj = json.dumps(w.status_list().encode()).encode()
    answer = json.dumps({"didDocument": {}, "didResolutionMetadata": {"proof": b["json"]}}).encode()
    return {
        "presentation": {"presentation-valid": full.encode(), "credential-valid": credential.encode(),
                         "given-name-only": w.present([("given_name",)]).encode()},
        "verify": {"presentation-valid": full.encode(), "all-claims-valid": w.present(W.DISCLOSABLE).encode()},
        "kb_jwt": {"kb-jwt-valid": kb.encode()},
        "jws": {"issuer-jwt-valid": credential.split("~")[0].encode(), "status-token": w.status_token.encode()},
        "jwk": {"holder-jwk-valid": json.dumps(w.holder_key.public_key().public_jwk()).encode(),
                "p256-jwk-valid": json.dumps(_p256_jwk()).encode()},
        "status_list": {"status-list-valid": status_obj},
        "status_token": {"status-token-valid": w.status_token.encode()},
        "offer": {"offer-object-valid": offer_json, "offer-by-value-valid": by_value.encode(),
                  "offer-by-reference-valid": by_ref.encode(), "offer-bare-url-valid": b"https://issuer.example/offers/abc"},
        "request_object": {"request-object-valid": w.request_object.encode()},
        "vp_response": {"vp-token-valid": w.vp_token().encode()},
        "qr_payload": {"request-link-valid": w.request_link().encode(), "offer-link-valid": by_ref.encode(),
                       "request-by-value-valid": w.request_link_by_value().encode(),
                       "presentation-valid": full.encode(), "vp-token-valid": w.vp_token().encode()},
        "qr_image": {"request-link-valid.png": _png(w.request_link()), "offer-link-valid.png": _png(by_ref)},
        "wallet_file": {"wallet-valid": w.wallet_file()},
        "credential_request": {"credential-request-valid": json.dumps(w.credential_request()).encode()},
        "proof_jwt": {"proof-jwt-valid": w.proof_jwt().encode()},
        "entry": {f"entry-{i}-{e.kind}" + ("-valid" if i == 3 else ""): e.raw
                  for i, e in enumerate(ledger["entries"])},
        "checkpoint": {"checkpoint-4-valid": b["note4"].encode(), "checkpoint-2-valid": b["note2"].encode()},
        "tiles": {"entry-bundle-valid": encode_entry_bundle([e.raw for e in ledger["entries"]]),
                  "tile-path-valid": b"tile/0/x001/234.p/7", "entries-path-valid": b"tile/entries/000"},
        "witness": {"add-checkpoint-valid": add_checkpoint, "cosignature-response-valid": cosig_line},
        "bundle": {"bundle-valid": json.dumps(b["json"]).encode()},
        "registry_answer": {"did-resolution-valid": answer},
    }


def _p256_jwk() -> dict[str, str]:
    import sdjwt

    return sdjwt.P256PrivateKey.from_scalar(0x1234567890ABCDEF).public_key().public_jwk() if hasattr(
        sdjwt.P256PrivateKey, "from_scalar") else {"kty": "EC", "crv": "P-256",
                                                   "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
                                                   "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}


def check(all_seeds: dict[str, dict[str, bytes]]) -> None:
    """Every seed whose name ends in ``-valid`` (or ``-valid.png``) passes its harness without any error."""
    for harness, items in all_seeds.items():
        for name, data in items.items():
            if name.endswith("-valid") or name.endswith("-valid.png"):
                HARNESSES[harness].run(data)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="compare with the committed corpus instead of writing")
    args = parser.parse_args()
    all_seeds = seeds()
    check(all_seeds)
    missing = set(HARNESSES) - set(all_seeds)
    if missing:
        print(f"no seeds for {sorted(missing)}", file=sys.stderr)
        return 1
    differ = []
    for harness, items in sorted(all_seeds.items()):
        folder = CORPUS / harness
        for name, data in sorted(items.items()):
            path = folder / name
            if args.check:
                if not path.exists() or path.read_bytes() != data:
                    differ.append(str(path))
            else:
                folder.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
    if differ:
        print("corpus differs from the generator:\n  " + "\n  ".join(differ), file=sys.stderr)
        return 1
    total = sum(len(v) for v in all_seeds.values())
    digest = hashlib.sha256(b"".join(d for v in sorted(all_seeds.items()) for _, d in sorted(v[1].items()))).hexdigest()
    print(f"{total} seeds for {len(all_seeds)} harnesses, sha256 {digest[:16]}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
