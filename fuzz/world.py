"""A small, deterministic civicid world the harnesses and the corpus generator share.

Every key comes from a fixed seed and every random source is a counter, so
``make_corpus.py`` writes the same bytes on every run and the mutation engine
can re-sign a mutated object with the very key its verifier trusts (a
mutation then gets past the signature check and reaches the code behind it).

Nothing here is a test double of the parsers: the objects are made with the
product's own builders (``sdjwt.issue``, ``create_presentation``,
``sign_status_list``, ``sign_compact``, ``registry.did.create_op``,
``Ed25519Signer``, ``wallet.store.seal``) and checked by the product's own
verifiers in ``make_corpus.py``.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from typing import Any, Callable

import sdjwt
from sdjwt.jws import sign_compact

T0 = 1_800_000_000
"""The fixed "now" every harness uses."""

NATIONAL_ID = "urn:civicid:national_id:1"
STATUS_URI = "https://issuer.example/status/1"
ISSUER_URL = "https://issuer.example"
ISSUER_DID = "did:civic:QmFuzzIssuer00000000000000000000000000000000000"[:56]
ISSUER_KID = ISSUER_DID + "#key-1"
VERIFIER_DID = "did:civic:QmFuzzVerifier000000000000000000000000000000000"[:56]
VERIFIER_KID = VERIFIER_DID + "#key-1"
CLIENT_ID = "decentralized_identifier:" + VERIFIER_DID
NONCE = "fuzz-nonce-0000000000000000"
STATE = "fuzz-state-0000000000000000"
ORIGIN = "registry.fuzz.example/v1"
WITNESS_NAME = "witness.fuzz.example"
PASSPHRASE = "correct horse battery staple"
# The cheapest Argon2id parameters the wallet accepts: opening a corpus wallet costs
# microseconds, not the 0.13 s of the default parameters.
FUZZ_KDF_OPS = 1
FUZZ_KDF_MEM = 8192

DISCLOSABLE: list[tuple[Any, ...]] = [
    ("given_name",), ("family_name",), ("birthdate",), ("nationalities", None), ("address",),
    ("address", "locality"), ("address", "postal_code"), ("age_equal_or_over",),
    ("age_equal_or_over", "18"), ("age_equal_or_over", "65"),
]
PATHS: list[tuple[Any, ...]] = [("age_equal_or_over", "65"), ("address", "locality")]


def key(n: int) -> sdjwt.Ed25519PrivateKey:
    """The Ed25519 key with seed ``bytes([n]) * 32``."""
    return sdjwt.Ed25519PrivateKey(bytes([n]) * 32)


def counter_random(seed: int = 0) -> Callable[[int], bytes]:
    state = {"n": seed}

    def random(n: int) -> bytes:
        state["n"] += 1
        return (state["n"].to_bytes(8, "big") * ((n // 8) + 1))[:n]

    return random


def claims() -> dict[str, Any]:
    return {
        "given_name": "Mei",
        "family_name": "Li",
        "birthdate": "1950-01-01",
        "nationalities": ["CN", "SG"],
        "address": {"locality": "Shenzhen", "postal_code": "518000", "country": "CN"},
        "age_equal_or_over": {"18": True, "65": True},
    }


@dataclass
class World:
    issuer_key: sdjwt.Ed25519PrivateKey = field(default_factory=lambda: key(0x11))
    holder_key: sdjwt.Ed25519PrivateKey = field(default_factory=lambda: key(0x22))
    verifier_key: sdjwt.Ed25519PrivateKey = field(default_factory=lambda: key(0x33))
    log_seed: bytes = bytes([0x44]) * 32
    witness_seed: bytes = bytes([0x55]) * 32

    # --- credentials -----------------------------------------------------------------------

    @functools.cached_property
    def credential(self) -> str:
        issued = sdjwt.issue(
            claims(), disclosable=DISCLOSABLE, issuer_key=self.issuer_key, kid=ISSUER_KID, iss=ISSUER_DID,
            vct=NATIONAL_ID, iat=T0 - 1000, exp=T0 + 86400, random=counter_random(7),
            holder_jwk=self.holder_key.public_key().public_jwk(), status=sdjwt.StatusReference(3, STATUS_URI), decoys=2,
        )
        return issued.serialize()

    def present(self, paths: list[tuple[Any, ...]] | None = None, *, aud: str = CLIENT_ID, nonce: str = NONCE,
                iat: int = T0 - 10) -> str:
        return sdjwt.create_presentation(self.credential, paths if paths is not None else PATHS,
                                         holder_key=self.holder_key, aud=aud, nonce=nonce, iat=iat)

    @functools.cached_property
    def trust(self) -> Any:
        from registry.trust import StaticTrust

        trust = StaticTrust()
        trust.add_key(ISSUER_DID, ISSUER_KID, self.issuer_key.public_key(), valid_from=T0 - 10**8)
        trust.accredit(ISSUER_DID, NATIONAL_ID, valid_from=T0 - 10**8)
        trust.add_key(VERIFIER_DID, VERIFIER_KID, self.verifier_key.public_key(), valid_from=T0 - 10**8)
        return trust

    def status_list(self) -> sdjwt.StatusList:
        return sdjwt.StatusList.empty(1024, bits=2).with_status({1: 1, 2: 2, 5: 1})

    @functools.cached_property
    def status_token(self) -> str:
        return sdjwt.sign_status_list(self.status_list(), uri=STATUS_URI, key=self.issuer_key, kid=ISSUER_KID,
                                      iat=T0 - 100, ttl=300)

    # --- OpenID4VP --------------------------------------------------------------------------

    def request_claims(self) -> dict[str, Any]:
        from verifier.policy import load_policies

        policy = load_policies().get("senior-bus-pass")
        return {
            "iss": CLIENT_ID,
            "aud": "https://self-issued.me/v2",
            "iat": T0 - 5,
            "exp": T0 + 300,
            "client_id": CLIENT_ID,
            "response_type": "vp_token",
            "response_mode": "direct_post",
            "response_uri": "https://verifier.example/oid4vp/response/r1",
            "nonce": NONCE,
            "state": STATE,
            "dcql_query": policy.dcql_query(),
            "client_metadata": {
                "client_name": "Bus company",
                "vp_formats_supported": {"dc+sd-jwt": {"sd-jwt_alg_values": ["EdDSA"], "kb-jwt_alg_values": ["EdDSA"]}},
            },
            "purpose": dict(policy.purpose),
        }

    @functools.cached_property
    def request_object(self) -> str:
        return sign_compact({"typ": "oauth-authz-req+jwt", "kid": VERIFIER_KID}, self.request_claims(), self.verifier_key)

    def request_link(self) -> str:
        import urllib.parse

        return "openid4vp://?" + urllib.parse.urlencode(
            {"client_id": CLIENT_ID, "request_uri": "https://verifier.example/oid4vp/request/r1"})

    def request_link_by_value(self) -> str:
        """The request object inside the link, as an offline counter's QR code holds it."""
        import urllib.parse

        return "openid4vp://?" + urllib.parse.urlencode({"client_id": CLIENT_ID, "request": self.request_object})

    @functools.cached_property
    def policy(self) -> Any:
        from verifier.policy import load_policies

        return load_policies().get("senior-bus-pass")

    @functools.cached_property
    def pipeline(self) -> Any:
        from verifier.pipeline import Pipeline
        from verifier.status import StatusLists

        token = self.status_token
        status = StatusLists(self.trust.key_at, lambda uri: token)
        # No replay guard state: every input is judged alone, and memory stays flat over a million inputs.
        return Pipeline(self.trust, status, replay=lambda digest, keep_until, now: True)

    def vp_token(self) -> str:
        return json.dumps({self.policy.credentials[0].id: [self.present()]})

    def wallet_record(self) -> dict[str, Any]:
        return {
            "id": "c1", "configuration_id": "national_id", "credential_issuer": ISSUER_URL,
            "issuer_names": {"en": "Civil registry"}, "iss": ISSUER_DID, "vct": NATIONAL_ID, "iat": T0 - 1000,
            "exp": T0 + 86400, "received_at": T0 - 900, "claims": claims(),
            "disclosable": [list(p) for p in DISCLOSABLE], "type_metadata": {"vct": NATIONAL_ID, "name": "National ID"},
            "copies": [{"sd_jwt": self.credential, "holder_key": self.holder_key.private_jwk(), "used_by": []}],
        }

    # --- OpenID4VCI -------------------------------------------------------------------------

    def offer(self) -> dict[str, Any]:
        return {
            "credential_issuer": ISSUER_URL,
            "credential_configuration_ids": ["national_id"],
            "grants": {"urn:ietf:params:oauth:grant-type:pre-authorized_code": {
                "pre-authorized_code": "pre-auth-code-0000",
                "tx_code": {"input_mode": "numeric", "length": 6, "description": "PIN from the counter"},
            }},
        }

    def proof_jwt(self, nonce: str = "c-nonce-1") -> str:
        return sign_compact({"typ": "openid4vci-proof+jwt", "jwk": self.holder_key.public_key().public_jwk()},
                            {"aud": ISSUER_URL, "iat": T0 - 5, "nonce": nonce}, self.holder_key)

    def credential_request(self) -> dict[str, Any]:
        return {"credential_configuration_id": "national_id", "proofs": {"jwt": [self.proof_jwt()]}}

    # --- registry ---------------------------------------------------------------------------

    @functools.cached_property
    def log_signer(self) -> Any:
        from registry.checkpoint import Ed25519Signer

        return Ed25519Signer(ORIGIN, self.log_seed)

    @functools.cached_property
    def witness_signer(self) -> Any:
        from registry.checkpoint import CosignatureSigner

        return CosignatureSigner(WITNESS_NAME, self.witness_seed)

    @functools.cached_property
    def ledger(self) -> dict[str, Any]:
        """Four real entries (two DIDs, a grant, an update) in a real Merkle tree, with two checkpoints."""
        from registry.accreditation import grant_op
        from registry.did import KeySpec, create_op, update_op

        office_key, office_rec = KeySpec("key-1", key(0x61)), key(0x62)
        issuer_key = KeySpec("key-1", key(0x63))
        office_create, office = create_op([office_key], [], [office_rec.public_key()], T0 - 5000)
        issuer_create, issuer = create_op([issuer_key], [], [key(0x64).public_key()], T0 - 4900)
        grant = grant_op(office, office_key, issuer, vct=NATIONAL_ID, valid_from=T0 - 4800, valid_until=T0 + 10**7,
                         time=T0 - 4800)
        update = update_op(issuer, issuer_create.hash, issuer_key, [issuer_key, KeySpec("key-2", key(0x65))], [],
                           T0 - 4700)
        entries = [office_create, issuer_create, grant, update]
        return {"entries": entries, "roots": [office], "dids": [office, issuer],
                "keys": {office + "#key-1": office_key.private_key, issuer + "#key-1": issuer_key.private_key,
                         issuer + "#key-2": key(0x65)}}

    def signed_checkpoint(self, size: int, root: bytes, timestamp: int) -> str:
        from registry.checkpoint import Checkpoint, SignedNote

        text = Checkpoint(ORIGIN, size, root).to_text()
        note = SignedNote(text, (self.log_signer.sign(text), self.witness_signer.sign(text, timestamp=timestamp)))
        return note.to_text()

    def sign_note(self, text: str, timestamp: int = T0 - 100) -> str:
        """``text`` signed by the log and cosigned by the witness (for re-signing mutated notes)."""
        from registry.checkpoint import SignedNote

        return SignedNote(text, (self.log_signer.sign(text), self.witness_signer.sign(text, timestamp=timestamp))).to_text()

    @functools.cached_property
    def trust_policy(self) -> Any:
        from registry.bundle import TrustPolicy

        return TrustPolicy(ORIGIN, self.log_signer.verifier, (self.witness_signer.verifier,), 1,
                           tuple(self.ledger["roots"]))

    @functools.cached_property
    def bundle(self) -> dict[str, Any]:
        """A proof bundle for every entry: checkpoint at 4, each entry witnessed by the checkpoint at 2 or 4."""
        from registry.bundle import Bundle, ProvenEntry, Witnessed
        from registry.merkle import MemoryNodeStore, consistency_proof, inclusion_proof, leaf_hash

        entries = self.ledger["entries"]
        tree = MemoryNodeStore()
        roots = {}
        for e in entries:
            tree.append(leaf_hash(e.raw))
            roots[tree.size] = tree.root()
        note2 = self.signed_checkpoint(2, roots[2], T0 - 4850)
        note4 = self.signed_checkpoint(4, roots[4], T0 - 4600)
        proven = []
        for seq, e in enumerate(entries):
            first = 2 if seq < 2 else 4
            witnessed = Witnessed(note2 if first == 2 else note4, tuple(inclusion_proof(seq, first, tree)),
                                  tuple(consistency_proof(first, 4, tree)) if first < 4 else ())
            proven.append(ProvenEntry(seq, e.raw, tuple(inclusion_proof(seq, 4, tree)), witnessed))
        bundle = Bundle(note4, tuple(proven), 2, tuple(consistency_proof(2, 4, tree)))
        return {"json": bundle.to_json(), "note2": note2, "note4": note4, "root2": roots[2], "root4": roots[4],
                "proof_2_4": tuple(consistency_proof(2, 4, tree))}

    # --- wallet file ------------------------------------------------------------------------

    @functools.cached_property
    def wallet_key(self) -> tuple[bytes, bytes]:
        from wallet.store import KdfParams, _derive

        salt = bytes(range(16))
        return _derive(PASSPHRASE, salt, KdfParams(FUZZ_KDF_OPS, FUZZ_KDF_MEM)), salt

    def wallet_file(self, contents: dict[str, Any] | None = None, fmt: str = "civicid-wallet") -> bytes:
        from wallet.store import FORMAT_VERSION, KdfParams, seal

        k, salt = self.wallet_key
        if contents is None:
            contents = {"version": FORMAT_VERSION, "credentials": [self.wallet_record()],
                        "history": [{"at": T0 - 800, "verifier": CLIENT_ID, "credential": "c1", "claims": ["age"]}]}
        return seal(contents, k, salt, KdfParams(FUZZ_KDF_OPS, FUZZ_KDF_MEM), fmt, counter_random(99))


@functools.lru_cache(maxsize=1)
def world() -> World:
    return World()
