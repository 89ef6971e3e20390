"""Regenerate the deterministic ledger-entry vectors in this folder.

Run ``python tests/vectors/registry_entries/generate.py``; the files it writes
are byte-for-byte reproducible (fixed seeds, fixed times). The did:webvh cases
(``didwebvh-*.json``) are copied from published data, not generated here; see
README.md.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from registry.did import KeySpec, Service, create_op, update_op
from registry.entry import canonical
from sdjwt.keys import Ed25519PrivateKey

HERE = Path(__file__).parent
TIME = 1_750_000_000


def key(seed: int, kid: str) -> KeySpec:
    return KeySpec(kid, Ed25519PrivateKey(bytes([seed]) * 32))


def write(name: str, case: dict[str, Any]) -> None:
    (HERE / name).write_text(json.dumps(case, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def main() -> None:
    signer, recovery = key(1, "key-1"), key(2, "rec-1")
    services = [Service("registry", "LinkedDomains", "https://registry.gov.example")]
    create, did = create_op([signer], services, [recovery.private_key.public_key()], TIME)
    leaf = create.raw.decode("utf-8")
    write(
        "did-create-valid.json",
        {
            "description": "A did.create built by registry.did.create_op with seed 0x01 (key-1) and seed 0x02 (rec-1).",
            "entry": leaf,
            "expected": {"did": did, "hash": create.hash, "scid": did.split(":")[2]},
        },
    )
    update = update_op(did, create.hash, signer, [signer.public(), key(3, "key-2").public()], services, TIME + 60)
    write(
        "did-update-valid.json",
        {
            "description": "A did.update on did-create-valid adding key-2 (seed 0x03), signed by key-1.",
            "entry": update.raw.decode("utf-8"),
            "expected": {"did": did, "hash": update.hash, "prev": create.hash},
        },
    )
    value = json.loads(leaf)
    mutations: dict[str, tuple[str, str]] = {
        "entry-pretty-printed.json": (json.dumps(value, indent=1), "canonical"),
        "entry-members-reordered.json": (
            "{" + ",".join(f"{json.dumps(k)}:{canonical(v).decode()}" for k, v in reversed(list(value.items()))) + "}",
            "canonical",
        ),
        "entry-extra-member.json": (canonical({**value, "x": 1}).decode(), "unexpected"),
        "entry-version-2.json": (canonical({**value, "v": 2}).decode(), "'v' must be 1"),
        "entry-unknown-kind.json": (canonical({**value, "kind": "did.delete"}).decode(), "'kind' must be one of"),
        "entry-time-float.json": (leaf.replace(f'"time":{TIME}', f'"time":{TIME}.5'), "'time' must be"),
        "entry-duplicate-member.json": (leaf[:-1] + ',"v":1}', "duplicate"),
        "entry-sig-padded.json": (canonical({**value, "sig": value["sig"] + "=="}).decode(), "base64url"),
        "entry-prev-uppercase.json": (canonical({**value, "prev": "A" * 64}).decode(), "'prev' must be null"),
    }
    for name, (text, match) in mutations.items():
        write(name, {"description": f"did-create-valid mutated: {name[6:-5]}", "entry": text, "expected": {"error": "InvalidEntry", "match": match}})
    tampered = dict(value)
    tampered["time"] = TIME + 1
    write(
        "entry-time-changed-after-signing.json",
        {
            "description": "did-create-valid with time changed after signing: the SCID no longer matches.",
            "entry": canonical(tampered).decode(),
            "expected": {"error": "InvalidEntry", "match": "SCID does not match"},
        },
    )


if __name__ == "__main__":
    main()
