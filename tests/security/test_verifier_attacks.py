"""The attack suite: crafted and tampered presentations against the verifier's real HTTP API.

Each case is a vector file in ``tests/vectors/attacks/`` (made by the committed,
deterministic ``generate.py``), named for the attack, holding the request(s) and
the expected answer. Cases go to ``POST /api/verify`` (bearer token) or to the
OpenID4VP ``direct_post`` response URI (``oid4vp-*``) of a verifier served on
loopback; every answer must carry the expected reason code, and none may be a
5xx. A second part runs the issuer-side attacks (unaccredited, rotated,
compromised, unknown key, impersonated registry) against a real registry and
witness through ``registry.client``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path
from typing import Any, Callable

import pytest

import sdjwt
from sdjwt.encoding import b64url_decode
from verifier import create_app
from verifier.errors import ERROR_CODES, VerificationFailed
from verifier_helpers import LedgerTrust, http_json

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "attacks"
WORLD = json.loads((VECTORS / "world.json").read_text())
CASES = sorted(p for p in VECTORS.glob("*.json") if p.name != "world.json")
TOKEN = "attack-suite-token-" + "z" * 32
NOW = int(WORLD["now"])

# Codes a crafted presentation cannot cause against an in-memory trust source: the registry part below covers them.
REGISTRY_ONLY = {"registry_unverifiable"}
ABSTRACT = {"verification_failed"}  # The base class; every failure raises a subclass.


def _load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def world_trust(world: dict[str, Any]) -> LedgerTrust:
    """The vectors' registry as the ledger would answer it (typed refusals: unknown DID, key windows, compromise)."""
    trust = LedgerTrust()
    for issuer in world["issuers"]:
        for key in issuer["keys"]:
            trust.add_key(issuer["did"], key["kid"], sdjwt.public_key_from_jwk(key["jwk"]),
                          valid_from=key["valid_from"], valid_until=key["valid_until"])
            if key["compromised_since"] is not None:
                trust.compromise(issuer["did"], key["kid"], key["compromised_since"])
        for grant in issuer["accreditations"]:
            trust.accredit(issuer["did"], grant["vct"], valid_from=grant["valid_from"], valid_until=grant["valid_until"])
    return trust


def verifier_app(tmp: Path, **overrides: Any) -> Any:
    lists = WORLD["status_lists"]

    def fetch(uri: str) -> str:
        return str(lists[uri])  # KeyError: an unreachable list.

    config = {
        "TESTING": True,
        "INSTANCE_PATH": str(tmp / "instance"),
        "DATABASE": str(tmp / "verifier.db"),
        "TRUST": world_trust(WORLD),
        "STATUS_FETCHER": fetch,
        "CLOCK": lambda: NOW,
        "SIGNING_KEY": sdjwt.Ed25519PrivateKey(b64url_decode(WORLD["verifier_seed"])),
        "API_TOKENS": [TOKEN],
    }
    config.update(overrides)
    return create_app(config)


@pytest.fixture(scope="module")
def api_server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """One verifier for every /api/verify case (each case has its own nonce, so none collide)."""
    from werkzeug.serving import make_server
    import threading

    app = verifier_app(tmp_path_factory.mktemp("attacks"))
    assert app.extensions["civicid_verifier"].client_id == WORLD["client_id"]
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)


def _post_raw(url: str, body: bytes, content_type: str, token: str | None = None) -> tuple[int, Any, dict[str, str]]:
    import urllib.error
    import urllib.request

    headers = {"Content-Type": content_type, "Accept": "application/json"}
    if token:
        headers["Authorization"] = "Bearer " + token
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null"), dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null"), dict(exc.headers)


def _check_api(base: str, case: dict[str, Any], step: dict[str, Any]) -> None:
    expect = step["expect"]
    if "raw_body" in step:
        status, body, headers = _post_raw(base + "/api/verify", step["raw_body"].encode("utf-8"), "application/json", TOKEN)
    else:
        request: dict[str, Any] = {"policy": case["policy"], "nonce": case["nonce"]}
        if "presentation" in step:
            request["presentation"] = step["presentation"]
        else:
            request["vp_token"] = step["vp_token"]
        status, body, headers = http_json("POST", base + "/api/verify", request, token=TOKEN)
    assert status < 500, (case["name"], status, body)
    assert status == expect["status"], (case["name"], status, body)
    if "problem" in expect:
        assert headers["Content-Type"] == "application/problem+json"
        assert body["code"] == expect["problem"], (case["name"], body)
        return
    assert body["decision"] is expect["decision"], (case["name"], body)
    if expect["decision"]:
        assert body["reasons"] == []
    else:
        assert [r["code"] for r in body["reasons"]] == [expect["code"]], (case["name"], body)
        if expect["code"] != "policy_not_satisfied":
            assert body["claims"] == {}, "a refused presentation must not yield claims"
    assert case["nonce"] not in json.dumps(body), "answers never echo the nonce"


@pytest.mark.parametrize("path", [p for p in CASES if not p.name.startswith("oid4vp-")], ids=lambda p: p.stem)
def test_attack_on_plain_json_api(api_server: str, path: Path) -> None:
    case = _load(path)
    assert case["name"] == path.stem
    for step in case["steps"]:
        _check_api(api_server, case, step)


@pytest.mark.parametrize("path", [p for p in CASES if p.name.startswith("oid4vp-")], ids=lambda p: p.stem)
def test_attack_on_openid4vp_response_uri(tmp_path: Path, live_server: Callable[[Any], Any], path: Path) -> None:
    case = _load(path)
    # Randomness from a constant source: the request's nonce is the one the vectors were bound to.
    constant = b64url_decode(WORLD["oid4vp_random"])
    server = live_server(verifier_app(tmp_path, RANDOM=lambda n: constant[:n]))
    status, opened, _ = http_json("POST", server.url + "/api/requests", {"policy": case["policy"]}, token=TOKEN)
    assert status == 201, opened
    rid = opened["id"]
    (step,) = case["steps"]
    form = {"vp_token": step.get("vp_token") or json.dumps({"national_id": [step["presentation"]]}), "state": WORLD["oid4vp_nonce"]}
    status, body, _ = _post_raw(f"{server.url}/oid4vp/response/{rid}", urllib.parse.urlencode(form).encode(),
                                "application/x-www-form-urlencoded")
    expect = step["expect"]
    assert status < 500, (case["name"], status, body)
    assert status == expect["status"], (case["name"], status, body)
    if status == 400:
        assert body["error"] == "invalid_request" and body["error_description"].startswith(expect["code"] + ":"), body
    status, result, _ = http_json("GET", opened["result_url"], token=TOKEN)
    assert status == 200 and result["state"] == "done", result
    assert result["decision"] is expect["decision"], result
    if not expect["decision"]:
        assert [r["code"] for r in result["reasons"]] == [expect["code"]], result


def test_suite_is_large_and_covers_every_rejection_code() -> None:
    cases = [_load(p) for p in CASES]
    attacks = [c for c in cases if c["category"] != "control"]
    assert len(attacks) >= 60
    codes = {s["expect"].get("code") or s["expect"].get("problem") for c in attacks for s in c["steps"]}
    rejection_codes = {code for code, cls in ERROR_CODES.items() if issubclass(cls, VerificationFailed)}
    assert rejection_codes - codes - REGISTRY_ONLY - ABSTRACT == set()
    # Every OpenID4VP case also exists against the plain API, under the same attack name.
    names = {c["name"] for c in cases}
    assert all(n.removeprefix("oid4vp-") in names for n in names)


def test_vectors_are_what_the_committed_generator_makes(tmp_path: Path) -> None:
    subprocess.run([sys.executable, str(VECTORS / "generate.py"), str(tmp_path)], check=True, capture_output=True)
    made = {p.name: p.read_bytes() for p in tmp_path.glob("*.json")}
    committed = {p.name: p.read_bytes() for p in VECTORS.glob("*.json")}
    assert made.keys() == committed.keys()
    assert [n for n in made if made[n] != committed[n]] == []


# Against a real registry and witness, through registry.client -----------------------------------


def test_issuer_attacks_against_a_real_registry(tmp_path: Path, live_server: Callable[[Any], Any]) -> None:
    """Unaccredited, unknown, unknown key, rotated-out key, compromised key, impersonated registry: each its code."""
    from registry.bundle import TrustPolicy
    from registry.checkpoint import Ed25519Signer
    from registry.client import RegistryClient
    from registry.did import KeySpec, recover_op, update_op
    from test_service import VCT, World, _key, _post

    world = World(tmp_path, live_server, str(tmp_path / "registry.db"))
    try:
        holder = sdjwt.Ed25519PrivateKey(b"\x22" * 32)
        status_uri = "https://office.registry.example/status/1"
        list_token = sdjwt.sign_status_list(sdjwt.StatusList.empty(1024, bits=2), uri=status_uri, key=_key(2),
                                            kid=f"{world.office}#key-1", iat=world.now - 1, ttl=3600)
        client = RegistryClient(world.server.url, world.policy, cache_ttl=0)
        app = create_app({
            "TESTING": True, "INSTANCE_PATH": str(tmp_path / "v"), "DATABASE": str(tmp_path / "v.db"), "TRUST": client,
            "STATUS_FETCHER": lambda uri: list_token, "SIGNING_KEY": sdjwt.Ed25519PrivateKey(b"\x45" * 32),
            "API_TOKENS": [TOKEN],
        })
        server = live_server(app)
        client_id = app.extensions["civicid_verifier"].client_id

        def verify(did: str, key: sdjwt.PrivateKey, kid: str, iat: int, trust: Any = None) -> dict[str, Any]:
            claims = {"age_equal_or_over": {"18": True}}
            credential = sdjwt.issue(claims, disclosable=[("age_equal_or_over", "18")], issuer_key=key, kid=f"{did}#{kid}",
                                     iss=did, vct=VCT, iat=iat, exp=iat + 86400, random=lambda n: b"\x01" * n,
                                     holder_jwk=holder.public_key().public_jwk(), status=sdjwt.StatusReference(3, status_uri)).serialize()
            nonce = f"registry-attack-nonce-{kid}-{iat}"
            presentation = sdjwt.create_presentation(credential, [("age_equal_or_over", "18")], holder_key=holder,
                                                     aud=client_id, nonce=nonce, iat=int(time.time()))
            status, body, _ = http_json("POST", server.url + "/api/verify",
                                        {"policy": "age-over-18", "nonce": nonce, "presentation": presentation}, token=TOKEN)
            assert status == 200, body
            return body

        def code(body: dict[str, Any]) -> str:
            assert body["decision"] is False and body["claims"] == {}, body
            return str(body["reasons"][0]["code"])

        # Control: the accredited office, its current key.
        assert verify(world.office, _key(2), "key-1", world.now)["decision"] is True
        # Registered but never accredited by the ministry.
        assert code(verify(world.rogue, _key(3), "key-1", world.now)) == "issuer_not_accredited"
        # A DID the log never held, and a key the office never registered.
        nobody = "did:civic:" + "1" * 46
        assert code(verify(nobody, _key(9), "key-1", world.now)) == "issuer_unknown"
        assert code(verify(world.office, _key(9), "key-9", world.now)) == "issuer_key_unknown"
        # An impersonated registry: answers signed by another log key than the pinned one.
        impostor = TrustPolicy(world.policy.origin, Ed25519Signer(world.policy.origin, bytes([43]) * 32).verifier,
                               world.policy.witnesses, world.policy.quorum, world.policy.roots)
        app.extensions["civicid_verifier"].pipeline.trust = RegistryClient(world.server.url, impostor, cache_ttl=0)
        assert code(verify(world.office, _key(2), "key-1", world.now)) == "registry_unverifiable"
        app.extensions["civicid_verifier"].pipeline.trust = client

        # The office rotates key-1 out; a credential signed with key-1 afterwards (a stolen retired key) is refused.
        rotated_at = int(time.time())
        rotated = update_op(world.office, world.office_create.hash, world.office_spec, [KeySpec("key-2", _key(4))], [],
                            rotated_at)
        assert _post(world.server.url + "/entries", rotated.raw)[0] == 201
        world.wait_for(6)
        after = int(time.time()) + 2  # Past the rotation's cosigned time.
        assert code(verify(world.office, _key(2), "key-1", after)) == "key_not_valid_at_issuance"
        assert verify(world.office, _key(4), "key-2", after)["decision"] is True
        # Credentials key-1 signed before the rotation still verify.
        assert verify(world.office, _key(2), "key-1", world.now - 10)["decision"] is True

        # The office recovers with its pre-rotated key, reporting key-2 compromised from `since`.
        since = rotated_at + 1
        recovery = KeySpec("key-1r", _key(102))
        recover = recover_op(world.office, rotated.hash, recovery, [recovery], [], [_key(105).public_key()],
                             max(int(time.time()), rotated_at + 2), compromised_from=since)
        status, problem = _post(world.server.url + "/entries", recover.raw)
        assert status == 201, problem
        world.wait_for(7)
        assert code(verify(world.office, _key(4), "key-2", since + 1)) == "key_compromised"
    finally:
        world.stop()
