"""Credential offers (OpenID4VCI 1.0 section 4.1) with the pre-authorized code grant, and their redemption.

An offer is created by an officer, a script (``civicid issuer offer``), the
admin API or a bulk run. The citizen gets two things by separate channels: the
offer link ``openid-credential-offer://?credential_offer_uri=...`` (QR code)
and the transaction code (PIN).

Stored: ``ref_hash`` (SHA-256 of the secret in the offer URI), ``code_hash``
(SHA-256 of the pre-authorized code, which is HMAC(secret, ref) so the offer
object can be served again without storing the code), ``tx_hash`` (HMAC of the
PIN under the service secret). civicid's rules beyond the specification: an
offer expires (``OFFER_TTL``); each wrong PIN is counted and the offer locks
after ``MAX_TX_CODE_ATTEMPTS``; the code is redeemed at most once.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping
from urllib.parse import quote

from sdjwt.encoding import b64url_encode

from . import audit
from .credential_types import CredentialType
from .errors import InvalidClaims, OAuthError
from .storage import IssuerStore, sha256_hex

__all__ = [
    "PRE_AUTHORIZED_GRANT",
    "OFFER_SCHEME",
    "Offer",
    "OfferSettings",
    "create_offers",
    "offer_object",
    "redeem",
    "Redemption",
]

PRE_AUTHORIZED_GRANT = "urn:ietf:params:oauth:grant-type:pre-authorized_code"
OFFER_SCHEME = "openid-credential-offer://"

PENDING, REDEEMED, ISSUED, LOCKED = "pending", "redeemed", "issued", "locked"


@dataclass(frozen=True)
class OfferSettings:
    """What offer creation and redemption need from the configuration."""

    public_url: str
    secret: bytes
    offer_ttl: int
    tx_code_length: int
    max_attempts: int
    token_ttl: int

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "OfferSettings":
        secret = config["SECRET_KEY"]
        return cls(
            str(config.get("PUBLIC_URL") or ""),
            secret.encode("utf-8") if isinstance(secret, str) else bytes(secret),
            int(config["OFFER_TTL"]),
            int(config["TX_CODE_LENGTH"]),
            int(config["MAX_TX_CODE_ATTEMPTS"]),
            int(config["TOKEN_TTL"]),
        )

    def offer_uri(self, ref: str) -> str:
        return f"{self.public_url}/credential-offer/{ref}"

    def offer_link(self, ref: str) -> str:
        return OFFER_SCHEME + "?credential_offer_uri=" + quote(self.offer_uri(ref), safe="")

    def code_for(self, ref: str) -> str:
        return b64url_encode(hmac.new(self.secret, b"pre-authorized_code\x00" + ref.encode(), hashlib.sha256).digest())

    def tx_hash(self, offer_id: str, tx_code: str) -> str:
        message = b"tx_code\x00" + offer_id.encode() + b"\x00" + tx_code.encode("utf-8", "surrogatepass")
        return hmac.new(self.secret, message, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Offer:
    """A created offer. ``tx_code`` is shown once and never stored in the clear."""

    id: str
    configuration_id: str
    credential_offer: str
    credential_offer_uri: str
    tx_code: str
    expires_at: int
    external_ref: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "offer_id": self.id,
            "credential_offer": self.credential_offer,
            "credential_offer_uri": self.credential_offer_uri,
            "tx_code": self.tx_code,
            "expires_at": self.expires_at,
        }


def _pin(random: Callable[[int], bytes], length: int) -> str:
    # Uniform digits by rejection sampling (bytes >= 250 would bias towards 0-5).
    digits: list[str] = []
    while len(digits) < length:
        for b in random(length * 2):
            if b < 250 and len(digits) < length:
                digits.append(str(b % 10))
    return "".join(digits)


def prepare(
    settings: OfferSettings,
    ctype: CredentialType,
    claims: Any,
    *,
    now: int,
    random: Callable[[int], bytes],
    external_ref: str | None = None,
) -> tuple[Offer, tuple[Any, ...]]:
    """Validate claims and build an offer and its row, without touching the database."""
    ctype.validate_input(claims)
    today = _dt.datetime.fromtimestamp(now, _dt.timezone.utc).date()
    birthdate = claims.get("birthdate")
    if isinstance(birthdate, str) and _dt.date.fromisoformat(birthdate) > today:
        raise InvalidClaims("birthdate is in the future", "birthdate")
    ref = b64url_encode(random(32))
    offer_id = random(16).hex()
    tx_code = _pin(random, settings.tx_code_length)
    code = settings.code_for(ref)
    expires_at = now + settings.offer_ttl
    row = (
        offer_id,
        sha256_hex(ref),
        sha256_hex(code),
        settings.tx_hash(offer_id, tx_code),
        ctype.configuration_id,
        json.dumps(claims, ensure_ascii=False, separators=(",", ":")),
        ctype.subject(claims),
        now,
        expires_at,
        0,
        PENDING,
        None,
        None,
        "",
        external_ref,
    )
    offer = Offer(offer_id, ctype.configuration_id, settings.offer_link(ref), settings.offer_uri(ref), tx_code, expires_at, external_ref)
    return offer, row


_INSERT = (
    "INSERT INTO offers (id, ref_hash, code_hash, tx_hash, configuration_id, claims, subject, created_at, expires_at, "
    "attempts, state, token_hash, token_expires_at, created_by, external_ref) VALUES "
    "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def insert_offers(store: IssuerStore, prepared: Iterable[tuple[Offer, tuple[Any, ...]]], *, actor: str, now: int) -> list[Offer]:
    """Store prepared offers and one audit record each, in one transaction."""
    batch = list(prepared)
    offers = [o for o, _ in batch]
    rows = [row[:13] + (actor,) + row[14:] for _, row in batch]
    entries: list[tuple[str, str, Mapping[str, Any]]] = []
    for offer in offers:
        details: dict[str, Any] = {"configuration_id": offer.configuration_id, "expires_at": offer.expires_at}
        if offer.external_ref is not None:
            details["external_ref"] = offer.external_ref
        entries.append(("offer.create", f"offer:{offer.id}", details))
    if not entries:
        return offers
    with store.transaction() as cur:
        cur.executemany(_INSERT, rows)
        # One audit record per offer, chained in order, written with the offers.
        audit.append_many(cur, store, entries, time=now, actor=actor)
    return offers


def create_offers(
    store: IssuerStore,
    settings: OfferSettings,
    ctype: CredentialType,
    claims: Any,
    *,
    actor: str,
    now: int,
    random: Callable[[int], bytes],
) -> Offer:
    """Create one offer (validated, stored and audited)."""
    prepared = prepare(settings, ctype, claims, now=now, random=random)
    return insert_offers(store, [prepared], actor=actor, now=now)[0]


def offer_object(store: IssuerStore, settings: OfferSettings, ref: str, now: int, tx_description: str | None = None) -> dict[str, Any]:
    """The Credential Offer object behind ``credential_offer_uri`` (section 4.1.1), while the offer is pending."""
    if not isinstance(ref, str) or not 20 <= len(ref) <= 64:
        raise OAuthError("invalid_request", "unknown credential offer", 404)
    row = store.read().execute(
        "SELECT configuration_id, expires_at, state FROM offers WHERE ref_hash = ?", (sha256_hex(ref),)
    ).fetchone()
    if row is None:
        raise OAuthError("invalid_request", "unknown credential offer", 404)
    configuration_id, expires_at, state = row
    if state != PENDING or now >= int(expires_at):
        raise OAuthError("invalid_request", "this credential offer is no longer valid; ask the office for a new one", 404)
    tx_code: dict[str, Any] = {"input_mode": "numeric", "length": settings.tx_code_length}
    if tx_description:
        tx_code["description"] = tx_description[:300]
    return {
        "credential_issuer": settings.public_url,
        "credential_configuration_ids": [configuration_id],
        "grants": {PRE_AUTHORIZED_GRANT: {"pre-authorized_code": settings.code_for(ref), "tx_code": tx_code}},
    }


@dataclass(frozen=True)
class Redemption:
    access_token: str
    expires_in: int
    configuration_id: str


def redeem(
    store: IssuerStore,
    settings: OfferSettings,
    code: str,
    tx_code: str | None,
    *,
    now: int,
    random: Callable[[int], bytes],
) -> Redemption:
    """Token endpoint, pre-authorized code grant (section 6.1): exchange code + PIN for an access token.

    The attempt counter is committed before a wrong-PIN error is raised, so a
    crash or an error never gives an attacker a free guess.
    """
    failure: OAuthError | None = None
    token = b64url_encode(random(32))
    with store.transaction() as cur:
        row = cur.execute(
            "SELECT id, tx_hash, configuration_id, expires_at, attempts, state FROM offers WHERE code_hash = ?"
            + store.for_update,
            (sha256_hex(code),),
        ).fetchone()
        if row is None:
            raise OAuthError("invalid_grant", "the pre-authorized code is not known", civicid_reason="unknown_code")
        offer_id, tx_hash, configuration_id, expires_at, attempts, state = row
        if state in (REDEEMED, ISSUED):
            raise OAuthError("invalid_grant", "this offer has already been redeemed", civicid_reason="offer_redeemed")
        if state == LOCKED:
            raise OAuthError(
                "invalid_grant", "too many wrong transaction codes; ask the office for a new offer", civicid_reason="offer_locked"
            )
        if now >= int(expires_at):
            raise OAuthError("invalid_grant", "this offer has expired; ask the office for a new one", civicid_reason="offer_expired")
        if tx_code is None:
            # Section 6.3: a tx_code was announced in the offer but not sent.
            raise OAuthError("invalid_request", "this offer needs the transaction code (tx_code) the office gave you")
        if not hmac.compare_digest(settings.tx_hash(offer_id, tx_code), tx_hash):
            attempts = int(attempts) + 1
            remaining = max(settings.max_attempts - attempts, 0)
            new_state = LOCKED if remaining == 0 else PENDING
            cur.execute("UPDATE offers SET attempts = ?, state = ? WHERE id = ?", (attempts, new_state, offer_id))
            audit.append(
                cur, store, time=now, actor="wallet", action="offer.wrong_tx_code", target=f"offer:{offer_id}",
                details={"attempts": attempts, "locked": remaining == 0},
            )
            failure = OAuthError(
                "invalid_grant",
                "the transaction code is wrong" + ("; the offer is now locked" if remaining == 0 else ""),
                civicid_reason="wrong_tx_code",
                attempts_remaining=remaining,
            )
        else:
            cur.execute(
                "UPDATE offers SET state = ?, token_hash = ?, token_expires_at = ? WHERE id = ?",
                (REDEEMED, sha256_hex(token), now + settings.token_ttl, offer_id),
            )
            audit.append(cur, store, time=now, actor="wallet", action="offer.redeem", target=f"offer:{offer_id}")
    if failure is not None:
        raise failure
    return Redemption(token, settings.token_ttl, configuration_id)
