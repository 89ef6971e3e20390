"""Cosigned time bounds and the strict anchor policy, on a served registry with a witness whose clock we set.

docs/did-method.md section 6: an entry's time is bracketed by its author ``time`` and the witness
cosignature time of the first published checkpoint that covers it. The timeline below is built
so that each entry has its own first checkpoint, cosigned at a time the test chooses.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable

import pytest

from registry.anchor import AnchorProof, anchor_op, batch_root, credential_digest
from registry.app import create_app, create_witness_app
from registry.bundle import Bundle, TrustPolicy, Witnessed
from registry.checkpoint import CosignatureVerifier, Ed25519Signer, NoteSignature, SignedNote, open_checkpoint
from registry.client import RegistryClient
from registry.did import KeySpec, create_op, recover_op, update_op
from registry.entry import Entry
from registry.errors import ConsistencyError, KeyNotValid, MalformedInput, ProofError, SignatureError
from sdjwt import Ed25519PrivateKey

ORIGIN = "registry.time.example/v1"


def _key(n: int) -> Ed25519PrivateKey:
    return Ed25519PrivateKey(bytes([n]) * 32)


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _post(url: str, body: bytes) -> tuple[int, Any]:
    request = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _credential(name: str, iat: int) -> str:
    """A stand-in for an issuer-signed JWT with disclosures: only its digest matters here."""
    header = base64.urlsafe_b64encode(b'{"alg":"EdDSA"}').rstrip(b"=").decode()
    payload = base64.urlsafe_b64encode(json.dumps({"sub": name, "iat": iat}).encode()).rstrip(b"=").decode()
    return f"{header}.{payload}.c2ln~WyJkaXNjbG9zdXJlIl0~"


class TimeWorld:
    """Three issuers on one log; the witness's clock is ours.

    ``office``: an honest anchor (cosigned T-540), then a thief with key-1 logs a back-dated anchor
    (author T-450, cosigned T-200), then the office recovers with compromisedFrom T-300.
    ``rotator``: rotates key-1 -> key-2 with author time T-800, cosigned only at T-600.
    ``victim``: a thief with key-1 rotates it out with a back-dated author time (T-900, cosigned
    T-250); the office recovers with compromisedFrom T-300.
    """

    def __init__(self, tmp_path: Path, live_server: Callable[[Any], Any], db_url: str) -> None:
        T = self.T = int(time.time())
        self.clock = [float(T - 2000)]
        key_file = tmp_path / "log.seed"
        key_file.write_bytes(bytes([43]) * 32)
        self.log_signer = Ed25519Signer(ORIGIN, bytes([43]) * 32)
        witness_app = create_witness_app(
            {
                "TESTING": True,
                "INSTANCE_PATH": str(tmp_path / "witness"),
                "NAME": "witness.time.example",
                "DB": str(tmp_path / "witness.db"),
                "LOGS": f"{ORIGIN} {self.log_signer.verifier.vkey}",
            }
        )
        # The witness cosigns at whatever time we say.
        witness_app.extensions["civicid.witness"].clock = lambda: self.clock[0]
        self.witness = live_server(witness_app)
        witness_vkey = _get(self.witness.url + "/vkey")[1].decode().strip()

        self.key1 = KeySpec("key-1", _key(11))
        self.rec = KeySpec("rec-1", _key(12))
        office_create, self.office = create_op([self.key1], [], [self.rec.private_key.public_key()], T - 1000)
        self.rot1, self.rot2 = KeySpec("key-1", _key(21)), KeySpec("key-2", _key(22))
        rot_create, self.rotator = create_op([self.rot1], [], [_key(23).public_key()], T - 1000)
        self.vic1, self.vic_rec, thief_key = KeySpec("key-1", _key(31)), KeySpec("rec-1", _key(32)), KeySpec("key-x", _key(33))
        vic_create, self.victim = create_op([self.vic1], [], [self.vic_rec.private_key.public_key()], T - 1000)

        self.app = create_app(
            {
                "TESTING": True,
                "INSTANCE_PATH": str(tmp_path / "registry"),
                "ORIGIN": ORIGIN,
                "DB": db_url,
                "LOG_KEY_FILE": str(key_file),
                "ROOTS": self.office,
                "WITNESSES": f"{self.witness.url} {witness_vkey}",
                "CHECKPOINT_INTERVAL": 0.02,
            }
        )
        self.server = live_server(self.app)
        self.policy = TrustPolicy(ORIGIN, self.log_signer.verifier, (CosignatureVerifier.from_vkey(witness_vkey),), 1)

        # Credentials: two honest ones anchored in one batch, and the thief's back-dated one.
        self.good = _credential("good", T - 600)
        self.other = _credential("other", T - 590)
        self.stolen = _credential("stolen", T - 460)
        good_root, good_paths = batch_root([credential_digest(self.good), credential_digest(self.other)])
        stolen_root, stolen_paths = batch_root([credential_digest(self.stolen)])

        self.size = 0
        self.seq: dict[str, int] = {}
        self.submit("office_create", office_create, T - 990)
        self.submit("rot_create", rot_create, T - 989)
        self.submit("vic_create", vic_create, T - 988)
        rotate = update_op(self.rotator, rot_create.hash, self.rot1, [self.rot2], [], T - 800)
        self.submit("rotate", rotate, T - 600)
        self.submit("good_anchor", anchor_op(self.office, self.key1, good_root, T - 550, count=2), T - 540)
        thief_rotation = update_op(self.victim, vic_create.hash, self.vic1, [thief_key], [], T - 900)
        self.submit("thief_rotation", thief_rotation, T - 250)
        self.submit("stolen_anchor", anchor_op(self.office, self.key1, stolen_root, T - 450), T - 200)
        recover = recover_op(self.office, office_create.hash, self.rec, [self.rec], [], [_key(13).public_key()], T - 100, T - 300)
        self.submit("office_recover", recover, T - 90)
        vic_recover = recover_op(
            self.victim, thief_rotation.hash, self.vic_rec, [self.vic_rec], [], [_key(34).public_key()], T - 100, T - 300
        )
        self.submit("vic_recover", vic_recover, T - 80)

        self.good_proof = AnchorProof(credential_digest(self.good), 0, 2, good_paths[0], self.seq["good_anchor"])
        self.stolen_proof = AnchorProof(credential_digest(self.stolen), 0, 1, stolen_paths[0], self.seq["stolen_anchor"])
        self.good_root = good_root

    def submit(self, name: str, entry: Entry, witness_time: int) -> None:
        """Append one entry and wait until a checkpoint covering it is cosigned at ``witness_time``."""
        self.clock[0] = float(witness_time)
        status, body = _post(self.server.url + "/entries", entry.raw)
        assert status == 201, body
        self.seq[name] = body["seq"]
        self.size += 1
        deadline = time.time() + 15
        while time.time() < deadline:
            status, note = _get(self.server.url + "/checkpoint")
            if status == 200 and open_checkpoint(note.decode(), origin=ORIGIN, log=self.log_signer.verifier).checkpoint.size >= self.size:
                return
            time.sleep(0.02)
        raise AssertionError(f"no witnessed checkpoint of size {self.size}")

    def client(self) -> RegistryClient:
        return RegistryClient(self.server.url, self.policy)

    def proof(self, did: str) -> dict[str, Any]:
        status, data = _get(self.server.url + f"/1.0/identifiers/{did}")
        assert status == 200, data
        return json.loads(data)["didResolutionMetadata"]["proof"]  # type: ignore[no-any-return]

    def stop(self) -> None:
        self.app.extensions["civicid.ledger"].stop()


@pytest.fixture
def world(tmp_path: Path, live_server: Callable[[Any], Any], db_url: str) -> Any:
    w = TimeWorld(tmp_path, live_server, db_url)
    yield w
    w.stop()


# Upper bounds ------------------------------------------------------------------------------------


def test_upper_bounds_are_the_witness_times_of_the_first_covering_checkpoint(world: TimeWorld) -> None:
    T = world.T
    _, state = Bundle.from_json(world.proof(world.office)).verify(world.policy, now=T)
    assert dict(state.upper_bounds) == {world.seq["office_create"]: T - 990, world.seq["office_recover"]: T - 90}
    _, state = Bundle.from_json(world.proof(world.rotator)).verify(world.policy, now=T)
    assert state.upper_bounds[world.seq["rotate"]] == T - 600
    # The anchors endpoint proves the anchor entry and its cosigned time.
    status, data = _get(world.server.url + f"/1.0/anchors/{world.good_root.hex()}")
    assert status == 200
    answer = json.loads(data)
    assert answer["anchor"]["did"] == world.office and answer["anchor"]["seq"] == world.seq["good_anchor"]
    _, state = Bundle.from_json(answer["proof"]).verify(world.policy, now=T)
    assert state.upper_bounds[world.seq["good_anchor"]] == T - 540
    assert _get(world.server.url + "/1.0/anchors/" + "0" * 64)[0] == 404
    assert _get(world.server.url + "/1.0/anchors/XYZ")[0] == 400


def test_a_bundle_without_witnessed_blocks_still_verifies_with_author_times_only(world: TimeWorld) -> None:
    proof = world.proof(world.rotator)
    for item in proof["entries"]:
        item.pop("witnessed")
    _, state = Bundle.from_json(proof).verify(world.policy, now=world.T)
    assert dict(state.upper_bounds) == {}
    # Measured by author time, the rotation (T-800) already removed key-1 at T-700.
    with pytest.raises(KeyNotValid) as refused:
        state.key_at(world.rotator, "key-1", world.T - 700)
    assert refused.value.rule == "removed"


def _with_witnessed(proof: dict[str, Any], index: int, **changes: Any) -> Bundle:
    forged = json.loads(json.dumps(proof))
    forged["entries"][index]["witnessed"].update(changes)
    return Bundle.from_json(forged)


def test_a_tampered_witnessed_checkpoint_is_refused(world: TimeWorld) -> None:
    proof = world.proof(world.rotator)
    rotate_index = next(i for i, e in enumerate(proof["entries"]) if e["seq"] == world.seq["rotate"])
    note = SignedNote.from_text(proof["entries"][rotate_index]["witnessed"]["checkpoint"])
    # A cosignature whose timestamp was moved earlier no longer verifies.
    cosig = next(s for s in note.signatures if s.name == "witness.time.example")
    earlier = (world.T - 5000).to_bytes(8, "big") + cosig.signature[8:]
    moved = SignedNote(note.text, tuple(s for s in note.signatures if s is not cosig) + (NoteSignature(cosig.name, cosig.key_id, earlier),))
    with pytest.raises(SignatureError, match="does not verify"):
        _with_witnessed(proof, rotate_index, checkpoint=moved.to_text()).verify(world.policy, now=world.T)
    # Without the witness's cosignature the policy's quorum is not met.
    unwitnessed = SignedNote(note.text, tuple(s for s in note.signatures if s is not cosig))
    with pytest.raises(SignatureError, match="fewer than the 1"):
        _with_witnessed(proof, rotate_index, checkpoint=unwitnessed.to_text()).verify(world.policy, now=world.T)
    # An earlier checkpoint that does not cover the entry (the rotator's create's) cannot stand in.
    create_note = proof["entries"][0]["witnessed"]["checkpoint"]
    with pytest.raises(ConsistencyError, match="does not cover"):
        _with_witnessed(proof, rotate_index, checkpoint=create_note).verify(world.policy, now=world.T)
    # A wrong inclusion or consistency proof against the witnessed checkpoint.
    bad_hash = base64.b64encode(b"\x07" * 32).decode()
    inclusion = proof["entries"][rotate_index]["witnessed"]["inclusion"]
    with pytest.raises(ProofError):
        _with_witnessed(proof, rotate_index, inclusion=[bad_hash] * len(inclusion)).verify(world.policy, now=world.T)
    consistency = proof["entries"][rotate_index]["witnessed"]["consistency"]
    assert consistency, "the bundle's checkpoint is larger than the rotation's first checkpoint"
    with pytest.raises(ProofError):
        _with_witnessed(proof, rotate_index, consistency=[bad_hash] * len(consistency)).verify(world.policy, now=world.T)
    with pytest.raises(MalformedInput):
        _with_witnessed(proof, rotate_index, inclusion="nope")
    assert Witnessed.from_json(proof["entries"][rotate_index]["witnessed"]).to_json() == proof["entries"][rotate_index]["witnessed"]


# Rotation, measured against the cosigned upper bound ---------------------------------------------


def test_rotation_takes_effect_at_the_cosigned_upper_bound(world: TimeWorld) -> None:
    T, client = world.T, world.client()
    key1, key2 = _key(21).public_key(), _key(22).public_key()
    # Removal: author time T-800, cosigned T-600; it takes effect at the later one.
    assert client.key_at(world.rotator, "key-1", T - 700) == key1
    assert client.key_at(world.rotator, "key-1", T - 601) == key1
    with pytest.raises(KeyNotValid, match="removed at") as removed:
        client.key_at(world.rotator, "key-1", T - 600)
    assert removed.value.rule == "removed"
    # Adding: the author time of the adding entry.
    assert client.key_at(world.rotator, "key-2", T - 800) == key2
    with pytest.raises(KeyNotValid) as early:
        client.key_at(world.rotator, "key-2", T - 801)
    assert early.value.rule == "not_yet_added"
    # The ledger's own replay (no bounds) measures by author time.
    state = client.did_state(world.rotator)
    with pytest.raises(KeyNotValid, match="removed at"):
        state.key_at(world.rotator, "key-1", T - 700, upper_bounds={})


def test_a_back_dated_rotation_by_a_thief_does_not_slip_the_key_out_of_the_compromise(world: TimeWorld) -> None:
    T, client = world.T, world.client()
    state = client.did_state(world.victim)
    # By author times, key-1 left at T-900, before compromisedFrom T-300: it would not be compromised.
    assert state.key_at(world.victim, "key-1", T - 950, upper_bounds={}).compromised_from is None
    # The witnesses saw that rotation only at T-250, after compromisedFrom: key-1 is compromised.
    assert state.key_at(world.victim, "key-1", T - 950).compromised_from == T - 300
    assert client.key_at(world.victim, "key-1", T - 950) == _key(31).public_key()  # Normal mode: iat < cut-off.
    with pytest.raises(KeyNotValid, match="issuance anchor") as refused:
        client.key_at(world.victim, "key-1", T - 950, strict=True)
    assert refused.value.rule == "unanchored"


# The strict policy -------------------------------------------------------------------------------


def test_back_dated_iat_before_the_compromise_is_refused_in_strict_mode_without_an_anchor(world: TimeWorld) -> None:
    T, client = world.T, world.client()
    key1 = _key(11).public_key()
    assert client.key_at(world.office, "key-1", T - 460) == key1  # Normal mode takes iat at its word.
    with pytest.raises(KeyNotValid, match="needs an issuance anchor") as refused:
        client.key_at(world.office, "key-1", T - 460, strict=True)
    assert refused.value.rule == "unanchored"
    with pytest.raises(KeyNotValid) as late:
        client.key_at(world.office, "key-1", T - 300, strict=True, anchor=world.good_proof)
    assert late.value.rule == "compromised"
    # A key never marked compromised needs no anchor, even in strict mode.
    assert client.key_at(world.office, "rec-1", T - 50, strict=True) == _key(12).public_key()


def test_a_credential_anchored_before_the_compromise_is_accepted_in_strict_mode(world: TimeWorld) -> None:
    T, client = world.T, world.client()
    assert world.good_proof.digest == credential_digest(world.good + "WyJvdGhlciJd~kb.jwt")  # Presentations share it.
    assert client.key_at(world.office, "key-1", T - 600, strict=True, anchor=world.good_proof) == _key(11).public_key()
    # The wallet carries the proof as JSON.
    carried = AnchorProof.from_json(json.loads(json.dumps(world.good_proof.to_json())))
    assert client.key_at(world.office, f"{world.office}#key-1", T - 600, strict=True, anchor=carried) == _key(11).public_key()
    # The credential must have existed when its anchor was cosigned (T-540).
    with pytest.raises(KeyNotValid, match="after its anchor was cosigned") as refused:
        client.key_at(world.office, "key-1", T - 500, strict=True, anchor=world.good_proof)
    assert refused.value.rule == "unanchored"


def test_an_anchor_cosigned_after_the_compromise_cut_off_is_refused(world: TimeWorld) -> None:
    # The thief's anchor claims author time T-450 but the witnesses saw it at T-200 >= T-300.
    client = world.client()
    with pytest.raises(KeyNotValid, match="cosigned at .* not before the compromise") as refused:
        client.key_at(world.office, "key-1", world.T - 460, strict=True, anchor=world.stolen_proof)
    assert refused.value.rule == "unanchored"


def test_a_forged_anchor_path_is_refused(world: TimeWorld) -> None:
    T, client = world.T, world.client()
    proof = world.good_proof
    forged_path = AnchorProof(proof.digest, proof.index, proof.size, (b"\x09" * 32,), proof.seq)
    other_digest = AnchorProof(credential_digest(world.stolen), proof.index, proof.size, proof.path, proof.seq)
    wrong_seq = AnchorProof(proof.digest, proof.index, proof.size, proof.path, world.seq["stolen_anchor"])
    wrong_size = AnchorProof(proof.digest, proof.index, 3, proof.path, proof.seq)
    for forged in (forged_path, other_digest, wrong_seq, wrong_size):
        with pytest.raises(KeyNotValid, match="anchor proof does not hold") as refused:
            client.key_at(world.office, "key-1", T - 600, strict=True, anchor=forged)
        assert refused.value.rule == "unanchored"
    # AnchorProof.verify checks the digest the verifier computed from the credential itself.
    answer = json.loads(_get(world.server.url + f"/1.0/anchors/{world.good_root.hex()}")[1])
    logged = Bundle.from_json(answer["proof"]).verify(world.policy, now=T)[1].anchor(world.good_root)
    assert logged is not None
    assert proof.verify(logged, did=world.office, digest=credential_digest(world.good)) == logged
    with pytest.raises(ProofError, match="another credential"):
        proof.verify(logged, did=world.office, digest=credential_digest(world.other))
    with pytest.raises(ProofError, match="another DID"):
        proof.verify(logged, did=world.victim)


def test_batch_root_paths_and_anchor_proof_limits() -> None:
    digests = [hashlib.sha256(bytes([i])).digest() for i in range(5)]
    root, paths = batch_root(digests)
    for index, digest in enumerate(digests):
        assert AnchorProof(digest, index, 5, paths[index], 0).root() == root
    assert batch_root(digests[:1]) == (hashlib.sha256(b"\x00" + digests[0]).digest(), [()])
    with pytest.raises(ValueError):
        batch_root([])
    with pytest.raises(ValueError):
        batch_root([b"short"])
    with pytest.raises(MalformedInput):
        AnchorProof(digests[0], 5, 5, paths[0], 0)
    with pytest.raises(MalformedInput):
        AnchorProof.from_json({"digest": "x", "index": 0, "size": 1, "path": [], "seq": 0, "extra": 1})
    with pytest.raises(MalformedInput):
        AnchorProof.from_json({"digest": "!!", "index": 0, "size": 1, "path": [], "seq": 0})


def test_the_upper_bound_is_the_quorum_th_earliest_witness_time() -> None:
    """One witness with an early clock cannot move the bound when the policy needs two."""
    from registry.bundle import upper_bound
    from registry.checkpoint import Checkpoint, CosignatureSigner

    log = Ed25519Signer(ORIGIN, bytes([44]) * 32)
    early, honest = CosignatureSigner("w-early.example", bytes([45]) * 32), CosignatureSigner("w-honest.example", bytes([46]) * 32)
    text = Checkpoint(ORIGIN, 3, b"\x01" * 32).to_text()
    note = SignedNote(text, (log.sign(text), early.sign(text, timestamp=50), honest.sign(text, timestamp=100)))
    witnesses = (early.verifier, honest.verifier)
    opened = open_checkpoint(note.to_text(), origin=ORIGIN, log=log.verifier, cosigners=witnesses)
    assert upper_bound(opened, TrustPolicy(ORIGIN, log.verifier, witnesses, 2)) == 100
    assert upper_bound(opened, TrustPolicy(ORIGIN, log.verifier, witnesses, 1)) == 50
    assert upper_bound(opened, TrustPolicy(ORIGIN, log.verifier, witnesses, 0)) == 50
    assert upper_bound(open_checkpoint(note.to_text(), origin=ORIGIN, log=log.verifier), TrustPolicy(ORIGIN, log.verifier)) is None
