"""The registry's HTTP API: submission, the C2SP tlog-tiles read API, resolution and TRQP.

Blueprints are named for their protocol:

- ``tlog``: ``GET /checkpoint``, ``GET /tile/<L>/<N>[.p/<W>]``, ``GET /tile/entries/<N>[.p/<W>]``
  (c2sp.org/tlog-tiles), plus ``POST /entries`` to submit a signed entry.
- ``resolver``: ``GET /1.0/identifiers/<did>`` in the DIF Universal Resolver shape, with the
  proof bundle in ``didResolutionMetadata.proof``; ``GET /1.0/types/<vct>``;
  ``GET /1.0/anchors/<root hex>`` (an ``anchor.issuance`` entry and its cosigned time).
- ``trqp``: ``POST /authorization`` (ToIP Trust Registry Query Protocol v2) with ``ext.proofs``.

Every answer that states a fact about the ledger carries a :class:`registry.bundle.Bundle`,
built from the latest published (witnessed) checkpoint, so clients check it offline. Each
proven entry also carries its first covering published checkpoint (``witnessed``), whose
cosignature timestamps bound the entry's time from above (docs/did-method.md section 6).
"""

from __future__ import annotations

import re
import time
from typing import Any, Iterable

from flask import Blueprint, Response, current_app, jsonify, request

from sdjwt.did_key import resolve as resolve_did_key

from .bundle import Bundle, ProvenEntry, Witnessed, seqs_for
from .checkpoint import Checkpoint, SignedNote
from .errors import MalformedInput, NotAuthorized, NotFound, RegistryError
from .ledger import Ledger
from .merkle import consistency_proof, inclusion_proof
from .state import parse_time
from .storage import StorageError
from .tiles import ENTRIES_LEVEL, TILE_WIDTH, TileID, encode_entry_bundle

__all__ = ["tlog", "resolver", "trqp", "ledger"]

tlog = Blueprint("tlog", __name__)
resolver = Blueprint("resolver", __name__)
trqp = Blueprint("trqp", __name__)

_MAX_DID = 256
_ROOT_HEX = re.compile(r"[0-9a-f]{64}")


class ReadOnlyNode(RegistryError):
    """A mirror does not sequence entries."""

    code = "read_only_mirror"
    status = 405


def ledger() -> Ledger:
    return current_app.extensions["civicid.ledger"]  # type: ignore[no-any-return]


def _published() -> tuple[int, str, Checkpoint]:
    published = ledger().published()
    if published is None:
        raise NotFound("the log has no published checkpoint yet; try again in a few seconds")
    size, note = published
    return size, note, Checkpoint.from_text(SignedNote.from_text(note).text)


def _known_size() -> int | None:
    raw = request.args.get("known_size")
    if raw is None:
        return None
    if not raw.isdigit() or len(raw) > 19:
        raise MalformedInput("known_size must be a decimal tree size")
    return int(raw)


def build_bundle(seqs: Iterable[int]) -> Bundle:
    """Prove ``seqs`` against the latest published checkpoint (entries beyond it are left out).

    Each entry also gets ``witnessed``: the first stored (published) checkpoint whose size
    exceeds its seq, its inclusion proof there, and a consistency proof from there to the
    bundle's checkpoint. Entries sharing a first checkpoint share its note and consistency proof.
    """
    size, note, _ = _published()
    store = ledger().store
    proven = []
    first: tuple[int, str, tuple[bytes, ...]] | None = None
    for seq in sorted(set(seqs)):
        if seq >= size:
            continue
        raw = store.entries(seq, seq + 1)[0]
        witnessed = None
        # Seqs ascend, so the first checkpoint found for an earlier seq is also the first one for
        # this seq while it still covers it: no stored size can lie between them.
        if first is None or seq >= first[0]:
            found = store.first_checkpoint_after(seq)
            first = None
            if found is not None and found[0] <= size:
                first_size, first_note = found
                consistency = tuple(consistency_proof(first_size, size, store)) if first_size < size else ()
                first = (first_size, first_note, consistency)
        if first is not None:
            first_size, first_note, consistency = first
            witnessed = Witnessed(first_note, tuple(inclusion_proof(seq, first_size, store)), consistency)
        proven.append(ProvenEntry(seq, raw, tuple(inclusion_proof(seq, size, store)), witnessed))
    known = _known_size()
    if known is not None and 0 < known < size:
        return Bundle(note, tuple(proven), known, tuple(ledger().consistency(known, size)))
    return Bundle(note, tuple(proven))


def _replayed(bundle: Bundle) -> Any:
    """The server answers from the same replay a client performs, so they cannot disagree."""
    from .bundle import TrustPolicy

    policy: TrustPolicy = current_app.extensions["civicid.policy"]
    return bundle.verify(policy, now=int(time.time()))[1]


# tlog: submission and the tiles read API ------------------------------------------------------


@tlog.post("/entries")
def submit_entry() -> Any:
    """Submit one signed entry (its exact JCS bytes); answers 201 with its sequence number."""
    if current_app.extensions.get("civicid.read_only"):
        raise ReadOnlyNode("this node is a read-only mirror; submit entries to the primary registry")
    body = request.get_data(cache=False)
    if not body:
        raise MalformedInput("POST the entry's canonical JSON bytes as the request body")
    receipt = ledger().submit_one(body)
    return jsonify({"seq": receipt.seq, "hash": receipt.hash}), 201


@tlog.get("/checkpoint")
def checkpoint() -> Response:
    _, note, _ = _published()
    return Response(note, mimetype="text/plain", headers={"Cache-Control": "no-cache"})


@tlog.get("/tile/<path:rest>")
def tile(rest: str) -> Response:
    try:
        tile_id = TileID.from_path("tile/" + rest)
    except (ValueError, RegistryError) as exc:
        raise NotFound("no such tile path (see c2sp.org/tlog-tiles)") from exc
    size, _, _ = _published()
    store = ledger().store
    nodes = tile_id.nodes
    if nodes[-1].end > size:
        raise NotFound("that tile is beyond the published checkpoint")
    if tile_id.level == ENTRIES_LEVEL:
        data = encode_entry_bundle(store.entries(nodes[0].begin, nodes[-1].end))
    else:
        # The tile's hashes are one run of stored nodes at its Merkle level: one query, not one per hash.
        # Byte for byte what tiles.tile_contents reads node by node (tests/registry/test_tiles_api.py).
        first = tile_id.index * TILE_WIDTH
        hashes = store.node_range(tile_id.merkle_level, first, first + tile_id.width)
        if len(hashes) != tile_id.width:
            raise StorageError(f"the stored tree lacks nodes of tile {tile_id.path}; run `civicid registry audit`")
        data = b"".join(hashes)
    # Full tiles never change; partial ones are replaced by wider ones as the log grows.
    cache = "public, max-age=31536000, immutable" if not tile_id.is_partial else "public, max-age=60"
    return Response(data, mimetype="application/octet-stream", headers={"Cache-Control": cache})


# resolver: DID resolution and type metadata ---------------------------------------------------


@resolver.get("/1.0/identifiers/<path:did>")
def resolve(did: str) -> Any:
    if len(did) > _MAX_DID:
        raise MalformedInput("the DID is too long")
    if did.startswith("did:key:"):
        try:
            document = resolve_did_key(did)
        except Exception as exc:  # sdjwt errors: a malformed did:key.
            raise MalformedInput("not a valid Ed25519 did:key") from exc
        return jsonify(
            {
                "@context": "https://w3id.org/did-resolution/v1",
                "didDocument": document,
                "didDocumentMetadata": {},
                "didResolutionMetadata": {"contentType": "application/did+ld+json", "note": "did:key resolves locally"},
            }
        )
    if not did.startswith("did:civic:"):
        raise NotFound("this registry resolves did:civic (and did:key locally) only")
    version_id = request.args.get("versionId")
    version_time_raw = request.args.get("versionTime")
    version_time = parse_time(version_time_raw) if version_time_raw is not None else None
    current = ledger()
    current.refresh()
    bundle = build_bundle(seqs_for(current.state, dids=[did]))
    state = _replayed(bundle)
    resolution = state.resolve(did, version_id=version_id, version_time=version_time).to_json()
    resolution["didResolutionMetadata"]["proof"] = bundle.to_json()
    return jsonify(resolution)


@resolver.get("/1.0/types/<path:vct>")
def credential_type(vct: str) -> Any:
    current = ledger()
    current.refresh()
    versions = current.state.types.versions(vct)
    bundle = build_bundle(seqs_for(current.state, types=versions))
    version = _replayed(bundle).credential_type(vct)
    return jsonify({"vct": vct, "version": version.version, "metadata": version.metadata, "proof": bundle.to_json()})


@resolver.get("/1.0/anchors/<root>")
def anchor(root: str) -> Any:
    """An ``anchor.issuance`` entry by its batch root, with a bundle proving it and its cosigned time.

    The bundle holds the anchoring DID's chain (the replay needs the signing key) and the
    anchor entry, each with ``witnessed``; the client reads the anchor's cosigned upper
    bound from it (docs/did-method.md section 6, the strict policy).
    """
    if not _ROOT_HEX.fullmatch(root):
        raise MalformedInput("the anchor root is 64 lowercase hex digits")
    current = ledger()
    current.refresh()
    found = current.state.anchor(bytes.fromhex(root))
    if found is None:
        raise NotFound("no anchor.issuance entry holds that root")
    size, _, _ = _published()
    if found.seq >= size:
        raise NotFound("that anchor is not in a published checkpoint yet; try again in a few seconds")
    bundle = build_bundle(seqs_for(current.state, dids=[found.did]) | {found.seq})
    replayed = _replayed(bundle).anchor(found.root)
    return jsonify(
        {
            "anchor": {
                "root": root,
                "did": replayed.did,
                "count": replayed.count,
                "time": replayed.time,
                "seq": replayed.seq,
                "hash": replayed.hash,
            },
            "proof": bundle.to_json(),
        }
    )


# trqp: ToIP Trust Registry Query Protocol v2 --------------------------------------------------


@trqp.post("/authorization")
def authorization() -> Any:
    query = request.get_json(silent=True)
    if not isinstance(query, dict):
        raise MalformedInput("POST a JSON authorization query (entity_id, authority_id, action, resource)")
    entity, action, resource = query.get("entity_id"), query.get("action", "issue"), query.get("resource")
    authority = query.get("authority_id")
    if not all(isinstance(v, str) and v for v in (entity, action, resource)):
        raise MalformedInput("entity_id, action and resource must be non-empty strings")
    if action not in ("issue", "accredit"):
        raise MalformedInput("action must be 'issue' or 'accredit'")
    context = query.get("context") if isinstance(query.get("context"), dict) else {}
    requested = context.get("time")
    at = parse_time(requested) if requested is not None else int(time.time())
    current = ledger()
    current.refresh()
    grants: tuple[Any, ...] = ()
    try:
        grants = current.state.authorization(entity, resource, at, action)
        authorized = True
        message = "authorized"
    except (NotAuthorized, NotFound) as exc:
        authorized, message = False, exc.message
    if authorized and authority is not None and grants and grants[0].grantor != authority:
        authorized, message = False, "the chain does not start at the named authority"
    bundle = build_bundle(seqs_for(current.state, dids=[entity], grants=grants))
    evaluated = int(time.time())
    return jsonify(
        {
            "entity_id": entity,
            "authority_id": authority if authority is not None else (grants[0].grantor if grants else None),
            "action": action,
            "resource": resource,
            "authorized": authorized,
            "time_requested": requested,
            "time_evaluated": evaluated,
            "message": message,
            "ext": {"proofs": bundle.to_json(), "chain": [g.to_json() for g in grants]},
        }
    )
