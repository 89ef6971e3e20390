"""Split view: a registry operator shows two histories to two groups of clients.

Two registry nodes share one log key and origin (the operator's), agree on the
first entries, then diverge: view A logs the office's key rotation (it retired a
stolen key), view B hides it and logs something else in its place, so clients on
B keep trusting the stolen key. The operator routes each client to one view. The
honest witness follows A; B gets its quorum from a second, colluding witness.

Detected by: the honest witness (refuses to cosign B's checkpoint, keeps
evidence, never moves), and any ``registry.client`` that holds a checkpoint of
the other view (``ConsistencyError``, never rolls back or crosses over). A client
whose policy needs both witnesses never accepts view B at all.
"""

from __future__ import annotations

import time
import urllib.parse
from pathlib import Path
from typing import Any, Callable

import pytest

from registry.app import create_app, create_witness_app
from registry.bundle import QuorumNotMet, TrustPolicy
from registry.checkpoint import CosignatureVerifier, Ed25519Signer, open_checkpoint
from registry.client import RegistryClient, http_fetch
from registry.did import KeySpec, create_op, update_op
from registry.errors import ConsistencyError, KeyNotValid
from test_service import ORIGIN, _get, _key, _post

FRONT = "http://registry.operator.example"


class Operator:
    """Two registry nodes under one log key, two witnesses, and a front that routes each client to a view."""

    def __init__(self, tmp_path: Path, live_server: Callable[[Any], Any]) -> None:
        self.now = int(time.time())
        key_file = tmp_path / "log.seed"
        key_file.write_bytes(bytes([42]) * 32)
        self.log = Ed25519Signer(ORIGIN, bytes([42]) * 32)
        self.witness_apps = {}
        vkeys = {}
        for name in ("honest", "colluding"):
            app = create_witness_app({"TESTING": True, "INSTANCE_PATH": str(tmp_path / name), "NAME": f"{name}.witness.example",
                                      "DB": str(tmp_path / f"{name}.db"), "LOGS": f"{ORIGIN} {self.log.verifier.vkey}"})
            server = live_server(app)
            self.witness_apps[name] = (app, server)
            vkeys[name] = _get(server.url + "/vkey")[1].decode().strip()
        self.ministry_spec = KeySpec("key-1", _key(1))
        self.ministry_create, self.ministry = create_op([self.ministry_spec], [], [_key(101).public_key()], self.now - 100)
        self.office_spec = KeySpec("key-1", _key(2))
        self.office_create, self.office = create_op([self.office_spec], [], [_key(102).public_key()], self.now - 90)
        honest = f"{self.witness_apps['honest'][1].url} {vkeys['honest']}"
        colluding = f"{self.witness_apps['colluding'][1].url} {vkeys['colluding']}"
        self.nodes = {}
        for view, witnesses in (("A", honest), ("B", f"{honest};{colluding}")):
            app = create_app({"TESTING": True, "INSTANCE_PATH": str(tmp_path / view), "ORIGIN": ORIGIN, "DB": str(tmp_path / f"{view}.db"),
                              "LOG_KEY_FILE": str(key_file), "ROOTS": self.ministry, "WITNESSES": witnesses, "QUORUM": 1,
                              "CHECKPOINT_INTERVAL": 0.05})
            self.nodes[view] = (app, live_server(app))
        witness_keys = (CosignatureVerifier.from_vkey(vkeys["honest"]), CosignatureVerifier.from_vkey(vkeys["colluding"]))
        # The weak policy a split view needs: any one of the two witnesses.
        self.policy = TrustPolicy(ORIGIN, self.log.verifier, witness_keys, 1, (self.ministry,))
        self.strict = TrustPolicy(ORIGIN, self.log.verifier, witness_keys, 2, (self.ministry,))

    def url(self, view: str) -> str:
        return str(self.nodes[view][1].url)

    def submit(self, view: str, raw: bytes) -> None:
        status, body = _post(self.url(view) + "/entries", raw)
        assert status == 201, body

    def published(self, view: str, size: int) -> tuple[int, bytes]:
        deadline = time.time() + 15
        while time.time() < deadline:
            status, note, _ = _get(self.url(view) + "/checkpoint")
            if status == 200:
                cp = open_checkpoint(note.decode(), origin=ORIGIN, log=self.log.verifier).checkpoint
                if cp.size >= size:
                    return cp.size, cp.root_hash
            time.sleep(0.05)
        raise AssertionError(f"view {view} published no checkpoint of size {size}")

    def client(self, routes: dict[str, str], who: str, policy: TrustPolicy | None = None) -> RegistryClient:
        """A client of the front; the operator decides, per client, which node answers."""

        def fetch(url: str, body: bytes | None) -> tuple[int, bytes]:
            return http_fetch(url.replace(FRONT, self.url(routes[who])), body)

        return RegistryClient(FRONT, policy or self.policy, cache_ttl=0, fetch=fetch)

    def stop(self) -> None:
        for app, _ in self.nodes.values():
            app.extensions["civicid.ledger"].stop()


@pytest.fixture
def operator(tmp_path: Path, live_server: Callable[[Any], Any]) -> Any:
    op = Operator(tmp_path, live_server)
    # The shared past: both views log the same first entries, and both witnesses cosign them.
    for view in ("A", "B"):
        op.submit(view, op.ministry_create.raw)
        op.submit(view, op.office_create.raw)
        op.published(view, 2)
    assert op.published("A", 2) == op.published("B", 2)
    # The fork: A logs the office retiring its stolen key-1; B hides it and logs another DID in its place.
    rotation = update_op(op.office, op.office_create.hash, op.office_spec, [KeySpec("key-2", _key(4))], [], op.now - 50)
    op.submit("A", rotation.raw)
    op.published("A", 3)
    filler, _ = create_op([KeySpec("key-1", _key(7))], [], [_key(107).public_key()], op.now - 40)
    op.submit("B", filler.raw)
    op.published("B", 3)
    yield op
    op.stop()


def after_rotation(operator: Operator) -> int:
    """An iat well after view A's rotation was witnessed: removals take effect at the later of the
    entry's author time and its cosigned time (docs/did-method.md section 6)."""
    return int(operator.now) + 600


def test_each_view_alone_verifies_under_a_one_witness_policy(operator: Operator) -> None:
    """The attack works on clients that never compare: that is what the detectors below are for."""
    routes = {"alice": "A", "bob": "B"}
    alice, bob = operator.client(routes, "alice"), operator.client(routes, "bob")
    stolen = f"{operator.office}#key-1"
    with pytest.raises(KeyNotValid, match="removed"):
        alice.key_at(operator.office, stolen, after_rotation(operator))
    assert bob.key_at(operator.office, stolen, after_rotation(operator)) == _key(2).public_key()


def test_honest_witness_refuses_the_second_history_and_keeps_evidence(operator: Operator) -> None:
    witness = operator.witness_apps["honest"][0].extensions["civicid.witness"]
    size, root = operator.published("A", 3)
    # The honest witness stays on A's tree: it never cosigned B's size-3 root.
    assert witness.latest(ORIGIN) == (size, root)
    assert operator.published("B", 3)[1] != root
    deadline = time.time() + 10
    while not witness.evidence() and time.time() < deadline:
        time.sleep(0.05)
    reasons = [reason for _, _, reason in witness.evidence()]
    assert "same size, different root" in reasons
    # B's published checkpoint carries the colluding witness only.
    note = _get(operator.url("B") + "/checkpoint")[1].decode()
    opened = open_checkpoint(note, origin=ORIGIN, log=operator.log.verifier, cosigners=operator.policy.witnesses)
    assert [c.name for c in opened.cosignatures] == ["colluding.witness.example"]


def test_a_client_holding_the_other_view_detects_the_split_and_never_rolls_back(operator: Operator) -> None:
    routes = {"alice": "A"}
    alice = operator.client(routes, "alice")
    with pytest.raises(KeyNotValid):
        alice.key_at(operator.office, f"{operator.office}#key-1", after_rotation(operator))
    held = alice._known
    assert held == operator.published("A", 3)
    # The operator now serves Alice the other view: same size, another root.
    routes["alice"] = "B"
    with pytest.raises(ConsistencyError, match="split view"):
        alice.key_at(operator.office, f"{operator.office}#key-1", after_rotation(operator))
    assert alice._known == held  # Nothing crossed over.
    # B grows: its consistency proof starts from B's tree, so it cannot extend Alice's.
    grown, _ = create_op([KeySpec("key-1", _key(8))], [], [_key(108).public_key()], operator.now - 30)
    operator.submit("B", grown.raw)
    operator.published("B", 4)
    with pytest.raises(ConsistencyError, match="does not extend the checkpoint this client holds"):
        alice.key_at(operator.office, f"{operator.office}#key-1", after_rotation(operator))
    assert alice._known == held
    # Back on A, Alice is served consistently again.
    routes["alice"] = "A"
    with pytest.raises(KeyNotValid):
        alice.key_at(operator.office, f"{operator.office}#key-1", after_rotation(operator))


def test_a_client_on_the_hidden_view_detects_the_real_one(operator: Operator) -> None:
    routes = {"bob": "B"}
    bob = operator.client(routes, "bob")
    assert bob.key_at(operator.office, f"{operator.office}#key-1", after_rotation(operator)) == _key(2).public_key()
    held = bob._known
    routes["bob"] = "A"
    with pytest.raises(ConsistencyError, match="split view"):
        bob.key_at(operator.office, f"{operator.office}#key-2", after_rotation(operator))
    assert bob._known == held


def test_a_two_witness_policy_never_accepts_the_hidden_view(operator: Operator) -> None:
    carol = operator.client({"carol": "B"}, "carol", operator.strict)
    with pytest.raises(QuorumNotMet):
        carol.key_at(operator.office, f"{operator.office}#key-1", after_rotation(operator))
    assert carol._known is None


def test_the_verifier_reports_the_split_as_registry_unverifiable(operator: Operator, tmp_path: Path) -> None:
    """A counter whose registry client holds view A refuses credentials while it is shown view B."""
    import sdjwt
    from verifier.pipeline import MemoryReplayGuard, Pipeline
    from verifier.policy import load_policies

    routes = {"counter": "A"}
    client = operator.client(routes, "counter")
    client.key_at(operator.office, f"{operator.office}#key-1", operator.now - 60)  # Holds A's checkpoint.
    routes["counter"] = "B"
    holder = sdjwt.Ed25519PrivateKey(b"\x22" * 32)
    credential = sdjwt.issue({"age_equal_or_over": {"18": True}}, disclosable=[("age_equal_or_over", "18")],
                             issuer_key=_key(2), kid=f"{operator.office}#key-1", iss=operator.office,
                             vct="urn:civicid:national_id:1", iat=operator.now - 60, random=lambda n: b"\x02" * n,
                             holder_jwk=holder.public_key().public_jwk()).serialize()
    presentation = sdjwt.create_presentation(credential, [("age_equal_or_over", "18")], holder_key=holder,
                                             aud="decentralized_identifier:did:key:z6MkCounter", nonce="split-view-nonce-0001",
                                             iat=operator.now)
    outcome = Pipeline(client, None, replay=MemoryReplayGuard()).decide(
        {"national_id": [presentation]}, load_policies().get("age-over-18"), nonce="split-view-nonce-0001",
        audience="decentralized_identifier:did:key:z6MkCounter", now=operator.now)
    assert outcome.decision is False and outcome.reasons[0]["code"] == "registry_unverifiable"
