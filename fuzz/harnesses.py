"""One harness per parser of outside input.

A harness is a function taking ``bytes``. It feeds them to the parser the way
the product does (the same decoding, the same arguments) and lets only the
package's typed error root escape: :class:`sdjwt.SDJWTError`,
:class:`registry.errors.RegistryError`, :class:`issuer.errors.IssuerError`,
:class:`verifier.errors.VerifierError`, :class:`wallet.errors.WalletError`.
The runner counts anything else (``TypeError``, ``KeyError``, a ``ValueError``
outside the tree, ``RecursionError``, ``UnicodeError``, ``MemoryError``, a
per-input timeout) as a finding.

Text parsers receive ``data.decode("utf-8", "surrogateescape")``: invalid
bytes become lone surrogates, which is what a JSON ``"\\udc80"`` escape gives
a parser in production too.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from typing import Any, Callable

import sdjwt
from issuer.errors import IssuerError
from registry.errors import RegistryError
from verifier.errors import VerifierError
from wallet.errors import WalletError

from . import world as W

__all__ = ["Harness", "HARNESSES", "text"]


def text(data: bytes) -> str:
    return data.decode("utf-8", "surrogateescape")


@dataclass(frozen=True)
class Harness:
    name: str
    run: Callable[[bytes], Any]
    allowed: tuple[type[BaseException], ...]
    parser: str
    """What is fed, in the product's words (module.function)."""
    codec: str
    """Which structure-aware mutations fit (see ``mutate.py``)."""
    slow: bool = False
    notes: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def _w() -> W.World:
    return W.world()


# --- sdjwt ------------------------------------------------------------------------------------


def presentation(data: bytes) -> None:
    from sdjwt.presentation import SDJWT

    parsed = SDJWT.parse(text(data))
    parsed.select(W.PATHS)


def _issuer_key(iss: str, kid: str | None, iat: int | None) -> sdjwt.PublicKey:
    return _w().trust.issuer_key_lookup()(iss, kid, iat)


def _status(reference: Any) -> None:
    sdjwt.check_status(_status_token(), reference)


_STATUS_TOKEN: list[Any] = []


def _status_token() -> Any:
    if not _STATUS_TOKEN:
        _STATUS_TOKEN.append(sdjwt.StatusListToken.verify(_w().status_token, key=_w().issuer_key.public_key(),
                                                          algorithms=("EdDSA",), uri=W.STATUS_URI, now=W.T0))
    return _STATUS_TOKEN[0]


def verify(data: bytes) -> None:
    sdjwt.verify(text(data), issuer_key=_issuer_key, algorithms=("EdDSA", "ES256"), now=W.T0, audience=W.CLIENT_ID,
                 nonce=W.NONCE, status=_status)


_BODY: list[str] = []


def kb_jwt(data: bytes) -> None:
    """The KB-JWT alone is fuzzed: a valid presentation body + the input, through ``sdjwt.verify``."""
    if not _BODY:
        full = _w().present()
        _BODY.append(full[: full.rfind("~") + 1])
    sdjwt.verify(_BODY[0] + text(data), issuer_key=_issuer_key, algorithms=("EdDSA",), now=W.T0,
                 audience=W.CLIENT_ID, nonce=W.NONCE, require_key_binding=True)


def jws(data: bytes) -> None:
    from sdjwt.jws import CompactJWS

    parsed = CompactJWS.parse(text(data), "JWT")
    parsed.check_header(("EdDSA", "ES256"), None)
    parsed.verify_signature(_w().issuer_key.public_key())


def jwk(data: bytes) -> None:
    from sdjwt.encoding import json_loads

    value = json_loads(data, "JWK")
    key = sdjwt.public_key_from_jwk(value)
    sdjwt.thumbprint(key.public_jwk())


def status_list(data: bytes) -> None:
    from sdjwt.encoding import json_loads

    lst = sdjwt.StatusList.decode(json_loads(data, "status_list"))
    for idx in (0, 3, lst.size - 1):
        lst.get(idx)


def status_token(data: bytes) -> None:
    token = sdjwt.StatusListToken.verify(text(data), key=_w().issuer_key.public_key(), algorithms=("EdDSA", "ES256"),
                                         uri=W.STATUS_URI, now=W.T0)
    sdjwt.check_status(token, sdjwt.StatusReference(3, W.STATUS_URI))


# --- wallet -----------------------------------------------------------------------------------


def offer(data: bytes) -> None:
    """An offer link (pasted or from a QR code), or an offer object as the issuer serves it by reference."""
    from wallet.offer import CredentialOffer, parse_offer_link
    from wallet.transport import strict_json

    if data[:1] == b"{":
        value = strict_json(data, "credential offer")
    else:
        link = parse_offer_link(text(data), allow_loopback_http=False)
        if link.offer is None:
            return
        value = link.offer
    parsed = CredentialOffer.from_json(value, allow_loopback_http=False)
    if parsed.tx_code is not None:
        parsed.tx_code.check("123456")


class _Response:
    def __init__(self, body: bytes) -> None:
        self.status = 200
        self.content_type = "application/oauth-authz-req+jwt"
        self.body = body


class _Http:
    """The wallet's Http, answering every GET with the fuzzed bytes (no network)."""

    allow_loopback_http = False

    def __init__(self, body: bytes) -> None:
        self.body = body

    def get(self, url: str, what: str, accept: str = "application/json") -> _Response:
        return _Response(self.body)

    def check(self, url: Any, what: str) -> str:
        from wallet.transport import check_url

        return check_url(url, what, allow_loopback_http=False)


def request_object(data: bytes) -> None:
    """OpenID4VP: the signed request object the wallet fetched, then the consent plan over a real wallet record."""
    from wallet.presentation import RequestLink, fetch_request, plan

    link = RequestLink(W.CLIENT_ID, "https://verifier.example/oid4vp/request/r1")
    request = fetch_request(link, http=_Http(data), trust=_w().trust, now=W.T0)
    plan(request, [_w().wallet_record()], "en")


def vp_response(data: bytes) -> None:
    """OpenID4VP: the ``vp_token`` form field posted to the response URI, through the verifier's pipeline."""
    w = _w()
    return _outcome(w.pipeline.decide(text(data), w.policy, nonce=W.NONCE, audience=W.CLIENT_ID, now=W.T0))


def _outcome(outcome: Any) -> str:
    """The decision's first reason code: the runner's feedback signal (``decide`` never raises for a refusal)."""
    return "decision:" + (str(outcome.reasons[0].get("code")) + str(outcome.reasons[0].get("message"))[:40]
                          if outcome.reasons else str(outcome.decision))


def qr_payload(data: bytes) -> None:
    """What a decoded QR code holds, handled as the wallet CLI (offer, request link) and the counter (scan) do."""
    from wallet.offer import parse_offer_link
    from wallet.presentation import fetch_request, parse_request_link, plan

    payload = text(data)
    try:
        parse_offer_link(payload, allow_loopback_http=False)
    except WalletError:
        pass
    try:
        link = parse_request_link(payload, allow_loopback_http=False)
        if link.request is not None:  # By value (an offline counter's QR code): verified with no fetch.
            plan(fetch_request(link, http=_Http(b""), trust=_w().trust, now=W.T0), [_w().wallet_record()], "en")
    except WalletError:
        pass
    # verifier/api.py scan(): a vp_token object, or one presentation for a one-credential policy.
    w = _w()
    vp_token = payload if payload.lstrip().startswith("{") else json.dumps({w.policy.credentials[0].id: [payload]})
    return _outcome(w.pipeline.decide(vp_token, w.policy, nonce=W.NONCE, audience=W.CLIENT_ID, now=W.T0))


_SHM = "/dev/shm" if os.path.isdir("/dev/shm") else None


def qr_image(data: bytes) -> None:
    """A photo of a QR code: the wallet's ``decode_image`` (file) and the counter's ``decode_qr`` (upload)."""
    from verifier.api import decode_qr
    from wallet.qr import decode_image

    with tempfile.NamedTemporaryFile(suffix=".png", dir=_SHM) as handle:
        handle.write(data)
        handle.flush()
        try:
            decode_image(handle.name)
        except WalletError:
            pass
    decode_qr(data)


def wallet_file(data: bytes) -> None:
    """A wallet file: the envelope, then (when its KDF cost is the corpus's cheap one) unsealing and listing."""
    from wallet.credentials import claim_rows, summary, unused_copies
    from wallet.store import WALLET_FORMAT, _Sealed, unseal

    sealed = _Sealed.parse(data, WALLET_FORMAT)
    # Argon2id at the file's own parameters is the cost the product accepts by design (bounded by
    # KdfParams); only the cheapest parameters are opened, so a million inputs stay affordable.
    if (sealed.params.opslimit, sealed.params.memlimit) != (W.FUZZ_KDF_OPS, W.FUZZ_KDF_MEM):
        return
    contents = unseal(data, W.PASSPHRASE, WALLET_FORMAT)[0]
    for record in contents["credentials"]:
        summary(record, "en", "valid")
        claim_rows(record, "en")
        unused_copies(record)


# --- issuer -----------------------------------------------------------------------------------


_TYPES: list[Any] = []


def credential_request(data: bytes) -> None:
    """OpenID4VCI: the JSON body of ``POST /credential`` (parse_request) and its proof JWTs (check_proofs)."""
    from issuer import issuance
    from issuer.credential_types import load_types

    if not _TYPES:
        _TYPES.append(load_types())
    try:
        body = json.loads(data)  # Flask's request.get_json(silent=True): None when it is not JSON.
    except (ValueError, RecursionError):
        body = None
    grant = issuance.TokenGrant("offer-1", "national_id")
    jwts = issuance.parse_request(body, grant, _TYPES[0], 4)
    issuance.check_proofs(jwts, audience=W.ISSUER_URL, now=W.T0, max_age=300)


def proof_jwt(data: bytes) -> None:
    from issuer import issuance

    issuance.check_proof(text(data), audience=W.ISSUER_URL, now=W.T0, max_age=300)


# --- registry ---------------------------------------------------------------------------------


_STATE: list[Any] = []


def entry(data: bytes) -> None:
    """A ledger entry (registry operation): the envelope, then the ledger's rules against a real state."""
    from registry.entry import Entry
    from registry.state import LedgerState, validate

    if not _STATE:
        state = LedgerState(_w().ledger["roots"])
        for e in _w().ledger["entries"][:3]:
            state.apply(e, now=W.T0)
        _STATE.append(state)
    parsed = Entry.from_bytes(data)
    validate(parsed, _STATE[0], W.T0)


def checkpoint(data: bytes) -> None:
    from registry.checkpoint import Checkpoint, SignedNote, open_checkpoint

    w = _w()
    note = SignedNote.from_text(data)
    Checkpoint.from_text(note.text)
    open_checkpoint(data, origin=W.ORIGIN, log=w.log_signer.verifier, cosigners=(w.witness_signer.verifier,))


def tiles(data: bytes) -> None:
    from registry.tiles import TileID, decode_entry_bundle

    if data[:5] == b"tile/":
        TileID.from_path(text(data))
    else:
        decode_entry_bundle(data)


def witness(data: bytes) -> None:
    from registry.witness import cosignatures_from_response, parse_add_checkpoint

    if data[:4] == b"old ":
        request = parse_add_checkpoint(data)
        request.note.verify([_w().log_signer.verifier])
    else:
        cosignatures_from_response(data)


def bundle(data: bytes) -> None:
    from registry.bundle import Bundle

    try:
        obj = json.loads(data)
    except (ValueError, RecursionError):
        return  # JSON itself is the client's to parse: see registry_answer.
    w = _w()
    Bundle.from_json(obj).verify(w.trust_policy, known=(2, w.bundle["root2"]), now=W.T0)


def registry_answer(data: bytes) -> None:
    """The registry's whole HTTP answer to a DID resolution, through ``RegistryClient.key_at``."""
    from registry.client import RegistryClient

    w = _w()
    client = RegistryClient("https://registry.example", w.trust_policy, clock=lambda: float(W.T0),
                            fetch=lambda url, body: (200, data))
    issuer = w.ledger["dids"][1]
    client.key_at(issuer, issuer + "#key-2", W.T0 - 100)


_SD = (sdjwt.SDJWTError,)
_REG = (RegistryError,)
_WAL = (WalletError,)

HARNESSES: dict[str, Harness] = {
    h.name: h
    for h in [
        Harness("presentation", presentation, _SD, "sdjwt.presentation.SDJWT.parse + select", "sdjwt"),
        Harness("verify", verify, _SD, "sdjwt.verification.verify (issuer signature, disclosures, KB-JWT, status)",
                "sdjwt", slow=True),
        Harness("kb_jwt", kb_jwt, _SD, "sdjwt.verify of a valid body + the fuzzed KB-JWT", "kbjwt", slow=True),
        Harness("jws", jws, _SD, "sdjwt.jws.CompactJWS.parse + check_header + verify_signature", "jws"),
        Harness("jwk", jwk, _SD, "sdjwt.jwk.public_key_from_jwk + thumbprint", "json"),
        Harness("status_list", status_list, _SD, "sdjwt.status_list.StatusList.decode + get", "json"),
        Harness("status_token", status_token, _SD, "sdjwt.status_list.StatusListToken.verify + check_status", "jws",
                slow=True),
        Harness("offer", offer, _WAL, "wallet.offer.parse_offer_link / CredentialOffer.from_json", "link"),
        Harness("request_object", request_object, _WAL, "wallet.presentation.fetch_request + plan", "jws", slow=True),
        Harness("vp_response", vp_response, (VerifierError,), "verifier.pipeline.Pipeline.decide(vp_token)", "vptoken",
                slow=True),
        Harness("qr_payload", qr_payload, (VerifierError,),
                "wallet parse_offer_link/parse_request_link + verifier scan decide", "link", slow=True),
        Harness("qr_image", qr_image, (VerifierError, WalletError), "wallet.qr.decode_image + verifier.api.decode_qr",
                "bytes", slow=True),
        Harness("wallet_file", wallet_file, _WAL, "wallet.store unseal + credentials listing", "wallet"),
        Harness("credential_request", credential_request, (IssuerError,),
                "issuer.issuance.parse_request + check_proofs", "json", slow=True),
        Harness("proof_jwt", proof_jwt, (IssuerError,), "issuer.issuance.check_proof", "jws", slow=True),
        Harness("entry", entry, _REG, "registry.entry.Entry.from_bytes + registry.state.validate", "entry", slow=True),
        Harness("checkpoint", checkpoint, _REG, "registry.checkpoint SignedNote/Checkpoint.from_text + open_checkpoint",
                "note", slow=True),
        Harness("tiles", tiles, _REG, "registry.tiles.TileID.from_path / decode_entry_bundle", "bytes"),
        Harness("witness", witness, _REG, "registry.witness.parse_add_checkpoint + verify / cosignatures_from_response",
                "note", slow=True),
        Harness("bundle", bundle, _REG, "registry.bundle.Bundle.from_json + verify (replay)", "json", slow=True),
        Harness("registry_answer", registry_answer, _REG, "registry.client.RegistryClient.key_at over a fuzzed answer",
                "json", slow=True),
    ]
}
