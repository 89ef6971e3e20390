"""The registry and a witness as real servers on loopback, checked through the verifying client."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable

import pytest

from registry.accreditation import grant_op, withdraw_op
from registry.app import create_app, create_witness_app
from registry.bundle import Bundle, TrustPolicy
from registry.checkpoint import CosignatureVerifier, Ed25519Signer, SignedNote, open_checkpoint
from registry.client import RegistryClient
from registry.credential_type import publish_op
from registry.did import KeySpec, create_op, update_op
from registry.errors import ConsistencyError, KeyNotValid, MalformedInput, ProofError
from registry.merkle import root_hash
from registry.tiles import TileHashReader, TileID, decode_entry_bundle
from registry.trust import NotTrusted
from sdjwt import Ed25519PrivateKey

ORIGIN = "registry.test.example/v1"
VCT = "urn:civicid:national_id:1"


def _key(n: int) -> Ed25519PrivateKey:
    return Ed25519PrivateKey(bytes([n]) * 32)


def _get(url: str) -> tuple[int, bytes, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read(), response.headers.get("Content-Type", "")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), exc.headers.get("Content-Type", "")


def _post(url: str, body: bytes, content_type: str = "application/json") -> tuple[int, Any]:
    request = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        assert exc.headers.get("Content-Type") == "application/problem+json"
        return exc.code, json.loads(exc.read())


def _metadata() -> dict[str, Any]:
    return {
        "vct": VCT,
        "name": "National identity card",
        "display": [{"locale": "en", "name": "National ID"}, {"locale": "zh-CN", "name": "居民身份证"}],
        "claims": [
            {
                "path": ["given_name"],
                "display": [{"locale": "en", "label": "Given name"}, {"locale": "zh-CN", "label": "名"}],
                "sd": "allowed",
            }
        ],
    }


class World:
    """A ministry (root), an accredited office and an unaccredited one, on a served registry + witness."""

    def __init__(self, tmp_path: Path, live_server: Callable[[Any], Any], db_url: str) -> None:
        self.now = int(time.time())
        key_file = tmp_path / "log.seed"
        key_file.write_bytes(bytes([42]) * 32)
        self.log_signer = Ed25519Signer(ORIGIN, bytes([42]) * 32)
        witness_app = create_witness_app(
            {
                "TESTING": True,
                "INSTANCE_PATH": str(tmp_path / "witness"),
                "NAME": "witness.dept.example",
                "DB": str(tmp_path / "witness.db"),
                "LOGS": f"{ORIGIN} {self.log_signer.verifier.vkey}",
            }
        )
        self.witness = live_server(witness_app)
        witness_vkey = _get(self.witness.url + "/vkey")[1].decode().strip()

        self.ministry_spec = KeySpec("key-1", _key(1))
        self.ministry_create, self.ministry = create_op([self.ministry_spec], [], [_key(101).public_key()], self.now - 100)
        self.office_spec = KeySpec("key-1", _key(2))
        self.office_create, self.office = create_op([self.office_spec], [], [_key(102).public_key()], self.now - 90)
        self.rogue_spec = KeySpec("key-1", _key(3))
        self.rogue_create, self.rogue = create_op([self.rogue_spec], [], [_key(103).public_key()], self.now - 80)

        self.app = create_app(
            {
                "TESTING": True,
                "INSTANCE_PATH": str(tmp_path / "registry"),
                "ORIGIN": ORIGIN,
                "DB": db_url,
                "LOG_KEY_FILE": str(key_file),
                "ROOTS": self.ministry,
                "WITNESSES": f"{self.witness.url} {witness_vkey}",
                "CHECKPOINT_INTERVAL": 0.05,
            }
        )
        self.server = live_server(self.app)
        self.policy = TrustPolicy(
            origin=ORIGIN,
            log=self.log_signer.verifier,
            witnesses=(CosignatureVerifier.from_vkey(witness_vkey),),
            quorum=1,
            roots=(self.ministry,),
        )
        self.grant = grant_op(
            self.ministry, self.ministry_spec, self.office, vct=VCT,
            valid_from=self.now - 60, valid_until=self.now + 86400, time=self.now - 60,
        )
        for entry in (self.ministry_create, self.office_create, self.rogue_create, self.grant):
            status, body = _post(self.server.url + "/entries", entry.raw)
            assert status == 201, body
        status, body = _post(self.server.url + "/entries", publish_op(self.office, self.office_spec, _metadata(), self.now - 50).raw)
        assert status == 201, body
        self.wait_for(5)

    def wait_for(self, size: int) -> str:
        deadline = time.time() + 15
        while time.time() < deadline:
            status, note, _ = _get(self.server.url + "/checkpoint")
            if status == 200 and open_checkpoint(note.decode(), origin=ORIGIN, log=self.log_signer.verifier).checkpoint.size >= size:
                return note.decode()
            time.sleep(0.05)
        raise AssertionError(f"no witnessed checkpoint of size {size}")

    def stop(self) -> None:
        self.app.extensions["civicid.ledger"].stop()


@pytest.fixture
def world(tmp_path: Path, live_server: Callable[[Any], Any], db_url: str) -> Any:
    w = World(tmp_path, live_server, db_url)
    yield w
    w.stop()


def test_checkpoint_is_published_only_with_the_witness_cosignature(world: World) -> None:
    note = world.wait_for(5)
    opened = open_checkpoint(note, origin=ORIGIN, log=world.log_signer.verifier, cosigners=world.policy.witnesses)
    assert len(opened.cosignatures) == 1
    assert opened.checkpoint.size == 5


def test_client_resolves_keys_accreditation_and_types_with_proofs(world: World) -> None:
    client = RegistryClient(world.server.url, world.policy)
    key = client.key_at(world.office, f"{world.office}#key-1", world.now)
    assert key == _key(2).public_key()
    client.check_accredited(world.office, VCT, world.now)
    assert client.credential_type(VCT)["name"] == "National identity card"
    with pytest.raises(NotTrusted, match="not accredited"):
        client.check_accredited(world.rogue, VCT, world.now)
    with pytest.raises(KeyNotValid, match="never had a key"):
        client.key_at(world.office, f"{world.office}#key-9", world.now)
    with pytest.raises(NotTrusted, match="another DID"):
        client.key_at(world.office, f"{world.rogue}#key-1", world.now)


def test_rotation_keeps_old_credentials_verifying_and_new_ones_need_the_new_key(world: World) -> None:
    rotated = update_op(world.office, world.office_create.hash, world.office_spec, [KeySpec("key-2", _key(4))], [], world.now + 10)
    assert _post(world.server.url + "/entries", rotated.raw)[0] == 201
    world.wait_for(6)
    client = RegistryClient(world.server.url, world.policy)
    assert client.key_at(world.office, f"{world.office}#key-1", world.now) == _key(2).public_key()
    with pytest.raises(KeyNotValid, match="removed") as removed:
        client.key_at(world.office, f"{world.office}#key-1", world.now + 20)
    assert removed.value.rule == "removed"
    assert client.key_at(world.office, f"{world.office}#key-2", world.now + 20) == _key(4).public_key()


def test_withdrawal_is_in_the_proof(world: World) -> None:
    withdraw = withdraw_op(world.ministry, world.ministry_spec, world.grant.hash, world.now + 5)
    assert _post(world.server.url + "/entries", withdraw.raw)[0] == 201
    world.wait_for(6)
    client = RegistryClient(world.server.url, world.policy)
    client.check_accredited(world.office, VCT, world.now)  # Before the withdrawal: still accredited.
    with pytest.raises(NotTrusted, match="withdrawn"):
        client.check_accredited(world.office, VCT, world.now + 10)


def test_trqp_answer_shape(world: World) -> None:
    status, answer = _post(
        world.server.url + "/authorization",
        json.dumps({"entity_id": world.office, "authority_id": world.ministry, "action": "issue", "resource": VCT,
                    "context": {"time": world.now}}).encode(),
    )
    assert status == 200
    assert answer["authorized"] is True and answer["authority_id"] == world.ministry
    # The proof stands on its own: verify and replay it offline.
    _, state = Bundle.from_json(answer["ext"]["proofs"]).verify(world.policy, now=world.now)
    assert state.is_accredited(world.office, VCT, world.now)


def test_bad_submissions_are_problems_and_leave_the_log_alone(world: World) -> None:
    status, problem = _post(world.server.url + "/entries", b"{garbage")
    assert status == 400 and problem["type"].endswith("/invalid_entry") and "strict JSON" in problem["detail"]
    status, problem = _post(world.server.url + "/entries", world.office_create.raw)
    assert status == 409 and problem["type"].endswith("/entry_replayed")
    first = update_op(world.office, world.office_create.hash, world.office_spec, [world.office_spec, KeySpec("key-2", _key(5))], [], world.now + 1)
    second = update_op(world.office, world.office_create.hash, world.office_spec, [world.office_spec, KeySpec("key-3", _key(6))], [], world.now + 2)
    assert _post(world.server.url + "/entries", first.raw)[0] == 201
    status, problem = _post(world.server.url + "/entries", second.raw)
    assert status == 409 and problem["type"].endswith("/prev_conflict")
    status, problem = _post(world.server.url + "/entries", b"x" * 70_000)
    assert status == 413
    assert world.app.extensions["civicid.ledger"].store.size() == 6
    status, body, content_type = _get(world.server.url + "/1.0/identifiers/did:civic:" + "1" * 46)
    assert status == 404 and content_type == "application/problem+json"


def test_tiles_let_any_client_recompute_the_checkpoint(world: World) -> None:
    note = world.wait_for(5)
    checkpoint = open_checkpoint(note, origin=ORIGIN, log=world.log_signer.verifier).checkpoint
    status, bundle, _ = _get(world.server.url + "/tile/entries/000.p/5")
    assert status == 200
    entries = decode_entry_bundle(bundle)
    assert entries[0] == world.ministry_create.raw

    def fetch(tile: TileID) -> bytes:
        code, data, _ = _get(world.server.url + "/" + tile.path)
        assert code == 200, tile.path
        return data

    assert root_hash(checkpoint.size, TileHashReader(checkpoint.size, fetch)) == checkpoint.root_hash
    assert _get(world.server.url + "/tile/0/000.p/9")[0] == 404  # Beyond the checkpoint.
    assert _get(world.server.url + "/tile/0/x99")[0] == 404


def test_tampered_bundles_and_rollbacks_are_refused(world: World) -> None:
    client = RegistryClient(world.server.url, world.policy)
    client.key_at(world.office, f"{world.office}#key-1", world.now)
    status, data, _ = _get(world.server.url + f"/1.0/identifiers/{world.office}")
    proof = json.loads(data)["didResolutionMetadata"]["proof"]
    forged = dict(proof)
    forged["entries"] = [dict(proof["entries"][0], seq=proof["entries"][0]["seq"] + 1)]
    with pytest.raises(ProofError):
        Bundle.from_json(forged).verify(world.policy, now=world.now)
    # A client that has seen a larger tree refuses a smaller one.
    bundle = Bundle.from_json(proof)
    size = open_checkpoint(proof["checkpoint"], origin=ORIGIN, log=world.log_signer.verifier).checkpoint.size
    with pytest.raises(ConsistencyError, match="rollback"):
        bundle.verify(world.policy, known=(size + 3, b"\x00" * 32), now=world.now)
    with pytest.raises(ConsistencyError, match="split view"):
        bundle.verify(world.policy, known=(size, b"\x01" * 32), now=world.now)
    # A policy that wants two witnesses refuses a checkpoint with one.
    strict = TrustPolicy(ORIGIN, world.log_signer.verifier, world.policy.witnesses + (CosignatureVerifier("other.example", bytes(32)),), 2)
    with pytest.raises(Exception, match="fewer than the 2"):
        bundle.verify(strict, now=world.now)
    with pytest.raises(MalformedInput):
        Bundle.from_json({"checkpoint": proof["checkpoint"], "entries": [{"seq": "1"}]})


def test_from_url_pins_a_policy_file_or_fetches_it_once(world: World, tmp_path: Path) -> None:
    from registry.client import from_url

    path = tmp_path / "policy.json"
    path.write_text(json.dumps(world.policy.to_json()))
    pinned = from_url(world.server.url, str(path))
    assert pinned.policy == world.policy
    assert from_url(world.server.url).policy.to_json() == world.policy.to_json()
    path.write_text("nope")
    with pytest.raises(MalformedInput, match="cannot be read"):
        from_url(world.server.url, str(path))


def test_offline_snapshot_answers_without_a_network(world: World, tmp_path: Path) -> None:
    client = RegistryClient(world.server.url, world.policy)
    path = str(tmp_path / "snapshot.json")
    client.save_snapshot(path, dids=[world.office], accreditations=[(world.office, VCT)], vcts=[VCT])
    offline = RegistryClient.from_snapshot(path, world.policy)
    assert offline.key_at(world.office, f"{world.office}#key-1", world.now) == _key(2).public_key()
    offline.check_accredited(world.office, VCT, world.now)
    assert offline.snapshot_age is not None and offline.snapshot_age < 60
    with pytest.raises(Exception, match="offline snapshot"):
        offline.key_at(world.rogue, f"{world.rogue}#key-1", world.now)
    Path(path).write_text("{not json")
    with pytest.raises(MalformedInput, match="cannot be read"):
        RegistryClient.from_snapshot(path, world.policy)
