"""Write the OpenID4VP 1.0 vectors of this folder (deterministic: run it twice, get the same bytes).

    python tests/vectors/oid4vp/generate.py           # rewrite every file
    python tests/vectors/oid4vp/generate.py --check   # exit 1 if a file differs

The valid cases are made by the real verifier (``verifier.create_app`` with a fixed signing key,
clock and random source): the ``openid4vp://`` link from ``POST /api/requests`` and the signed
request object from its ``request_uri``, one per shipped policy. The invalid cases change one
thing in the civicid request object and sign it again with the verifier's key (or another key),
each naming the error the wallet must raise. Both roles run every file:
tests/verifier/test_oid4vp_vectors.py and tests/wallet/test_wallet_oid4vp_vectors.py.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

import sdjwt  # noqa: E402
from sdjwt.encoding import b64url_encode  # noqa: E402
from sdjwt.jws import CompactJWS, sign_compact  # noqa: E402

FOLDER = Path(__file__).resolve().parent
NOW = 1760000000
PUBLIC_URL = "https://verifier.example"
VERIFIER_SEED = bytes(range(0x40, 0x60))
OTHER_SEED = bytes(range(0x60, 0x80))
TOKEN = "vector-counter-token-" + "v" * 32
POLICIES = ("age-over-18", "senior-bus-pass", "resident", "benefit")


class CountingRandom:
    """Random bytes that are not random: a counter, so every run makes the same ids, states and nonces."""

    def __init__(self) -> None:
        self.n = 0

    def __call__(self, size: int) -> bytes:
        self.n += 1
        return bytes((self.n + i) & 0xFF for i in range(size))


def make_verifier(instance: Path) -> Any:
    """The verifier app the vectors come from (the verifier's test rebuilds it the same way)."""
    from registry.trust import StaticTrust
    from verifier import create_app

    return create_app({
        "TESTING": True, "INSTANCE_PATH": str(instance), "DATABASE": str(instance / "verifier.db"),
        "PUBLIC_URL": PUBLIC_URL, "SIGNING_KEY": sdjwt.Ed25519PrivateKey(VERIFIER_SEED), "TRUST": StaticTrust(),
        "STATUS_FETCHER": lambda uri: "", "CLOCK": lambda: NOW, "RANDOM": CountingRandom(), "API_TOKENS": [TOKEN],
    })


def open_request(app: Any, policy: str) -> tuple[str, str]:
    """(openid4vp link, request object) for ``policy``, through the HTTP API."""
    client = app.test_client()
    opened = client.post("/api/requests", json={"policy": policy}, headers={"Authorization": "Bearer " + TOKEN})
    assert opened.status_code == 201, opened.get_data(as_text=True)
    link = opened.get_json()["request_uri"]
    import urllib.parse

    request_uri = urllib.parse.parse_qs(urllib.parse.urlsplit(link).query)["request_uri"][0]
    got = client.get(urllib.parse.urlsplit(request_uri).path)
    assert got.status_code == 200 and got.mimetype == "application/oauth-authz-req+jwt"
    return link, got.get_data(as_text=True)


def _decode(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    jws = CompactJWS.parse(token, "request object")
    return dict(jws.header), dict(jws.payload)


def _mutations(header: dict[str, Any], payload: dict[str, Any]) -> dict[str, tuple[str, Callable[[], str]]]:
    """name -> (wallet error code, the mutated request object)."""
    key = sdjwt.Ed25519PrivateKey(VERIFIER_SEED)
    other = sdjwt.Ed25519PrivateKey(OTHER_SEED)

    def signed(change: dict[str, Any], drop: tuple[str, ...] = (), head: dict[str, Any] | None = None,
               by: sdjwt.Ed25519PrivateKey = key) -> Callable[[], str]:
        claims = {k: v for k, v in {**payload, **change}.items() if k not in drop}
        h = {k: v for k, v in (head or header).items() if k != "alg"}
        return lambda: sign_compact(h, claims, by)

    def unsigned() -> str:
        h = {"alg": "none", "typ": header["typ"], "kid": header["kid"]}
        return f"{b64url_encode(json.dumps(h).encode())}.{b64url_encode(json.dumps(payload).encode())}."

    other_did = sdjwt.did_from_key(other.public_key())
    return {
        "response-mode-fragment": ("invalid_request", signed({"response_mode": "fragment"})),
        "response-type-code": ("invalid_request", signed({"response_type": "code"})),
        "no-nonce": ("invalid_request", signed({}, drop=("nonce",))),
        "empty-nonce": ("invalid_request", signed({"nonce": ""})),
        "expired": ("invalid_request", signed({"exp": NOW - 3600, "iat": NOW - 4000})),
        "dated-in-the-future": ("invalid_request", signed({"iat": NOW + 3600})),
        "response-uri-http": ("invalid_request", signed({"response_uri": "http://verifier.example/oid4vp/response/x"})),
        "no-dc-sd-jwt-format": ("invalid_request", signed({"client_metadata": {"vp_formats_supported": {"jwt_vc_json": {}}}})),
        "dcql-not-an-object": ("invalid_request", signed({"dcql_query": "national_id"})),
        "dcql-no-credentials": ("invalid_request", signed({"dcql_query": {"credentials": []}})),
        "client-id-differs": ("untrusted_verifier", signed({"client_id": "decentralized_identifier:" + other_did})),
        "kid-of-another-did": ("untrusted_verifier", signed({}, head={**header, "kid": other_did + "#key-1"})),
        "signed-by-another-key": ("untrusted_verifier", signed({}, by=other)),
        "typ-jwt": ("invalid_request", signed({}, head={**header, "typ": "JWT"})),
        "alg-none": ("invalid_request", unsigned),
    }


def build() -> dict[str, dict[str, Any]]:
    import tempfile

    cases: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        app = make_verifier(Path(tmp))
        made = {policy: open_request(app, policy) for policy in POLICIES}
    for policy, (link, token) in made.items():
        header, payload = _decode(token)
        cases[f"request-{policy}"] = {
            "kind": "request", "source": "OpenID4VP 1.0 sections 5, 5.8, 6 (DCQL), 8.2 (direct_post); civicid policy " + policy,
            "input": {"policy": policy, "now": NOW, "verifier_jwk": sdjwt.Ed25519PrivateKey(VERIFIER_SEED).public_key().public_jwk()},
            "link": link, "request_object": token,
            "expected": {"header": header, "payload": payload},
        }
    header, payload = _decode(made["senior-bus-pass"][1])
    for name, (code, make) in _mutations(header, payload).items():
        cases[f"request-reject-{name}"] = {
            "kind": "request_reject", "source": "wallet checks of OpenID4VP 1.0 sections 5 and 5.8 (civicid's wallet/presentation.py)",
            "input": {"now": NOW, "verifier_jwk": sdjwt.Ed25519PrivateKey(VERIFIER_SEED).public_key().public_jwk()},
            "link": made["senior-bus-pass"][0], "request_object": make(), "error": code,
        }
    return cases


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    differ = []
    for name, case in build().items():
        text = json.dumps(case, indent=1, ensure_ascii=False, sort_keys=True) + "\n"
        path = FOLDER / f"{name}.json"
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                differ.append(path.name)
        else:
            path.write_text(text, encoding="utf-8")
    if differ:
        print("differs from the generator: " + ", ".join(differ), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
