"""Credential offers (OpenID4VCI 1.0 section 4.1): parsing links and offer objects.

An offer reaches the wallet as

* ``openid-credential-offer://?credential_offer_uri=<https URL>`` (by reference,
  what civicid issuers send), or ``...?credential_offer=<JSON>`` (by value);
* an ``https://`` link carrying the same query parameters (a universal link);
* a bare ``https://`` URL, which is taken to be the ``credential_offer_uri`` itself;
* any of these inside a QR code (:mod:`wallet.qr` decodes the image first).

The offer object is validated here (section 4.1.1) so that nothing later has
to trust its shape. Only the pre-authorized code grant is supported: it is the
flow civicid issuers use at the counter.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass
from typing import Any

from .errors import InvalidOffer, NetworkError
from .transport import Http, check_url, strict_json

__all__ = ["OFFER_SCHEME", "PRE_AUTH_GRANT", "TxCode", "CredentialOffer", "OfferLink", "parse_offer_link", "resolve_offer"]

OFFER_SCHEME = "openid-credential-offer"
PRE_AUTH_GRANT = "urn:ietf:params:oauth:grant-type:pre-authorized_code"
MAX_LINK = 8192


@dataclass(frozen=True)
class TxCode:
    """Section 4.1.1 ``tx_code``: how the PIN the office gave the citizen looks."""

    input_mode: str
    length: int | None
    description: str | None

    @classmethod
    def from_json(cls, value: Any) -> "TxCode":
        if not isinstance(value, dict):
            raise InvalidOffer("the offer's tx_code is not an object")
        mode = value.get("input_mode", "numeric")
        if mode not in ("numeric", "text"):
            raise InvalidOffer("the offer's tx_code input_mode must be 'numeric' or 'text'")
        length = value.get("length")
        if length is not None and (isinstance(length, bool) or not isinstance(length, int) or not 1 <= length <= 64):
            raise InvalidOffer("the offer's tx_code length is not a small positive integer")
        description = value.get("description")
        if description is not None and (not isinstance(description, str) or len(description) > 300):
            raise InvalidOffer("the offer's tx_code description must be text of at most 300 characters")
        return cls(mode, length, description)

    def check(self, pin: str) -> None:
        """Refuse a PIN that cannot be right before sending it (and spending an attempt)."""
        if self.input_mode == "numeric" and not pin.isdigit():
            raise InvalidOffer("the PIN must be digits only")
        if self.length is not None and len(pin) != self.length:
            raise InvalidOffer(f"the PIN must be {self.length} characters long")


@dataclass(frozen=True)
class CredentialOffer:
    """A validated credential offer with a pre-authorized code."""

    credential_issuer: str
    credential_configuration_ids: tuple[str, ...]
    pre_authorized_code: str
    tx_code: TxCode | None
    authorization_server: str | None

    @classmethod
    def from_json(cls, value: Any, *, allow_loopback_http: bool) -> "CredentialOffer":
        if not isinstance(value, dict):
            raise InvalidOffer("the credential offer is not a JSON object")
        try:
            issuer = check_url(value.get("credential_issuer"), "credential issuer", allow_loopback_http=allow_loopback_http)
        except NetworkError as exc:
            raise InvalidOffer(f"the offer's credential_issuer is not acceptable: {exc.message}") from exc
        if urllib.parse.urlsplit(issuer).query or urllib.parse.urlsplit(issuer).fragment:
            raise InvalidOffer("the offer's credential_issuer must not have a query or fragment")
        ids = value.get("credential_configuration_ids")
        if (
            not isinstance(ids, list)
            or not ids
            or len(ids) > 32
            or not all(isinstance(i, str) and 0 < len(i) <= 256 for i in ids)
            or len(set(ids)) != len(ids)
        ):
            raise InvalidOffer("the offer's credential_configuration_ids must be a non-empty list of unique strings")
        grants = value.get("grants")
        if not isinstance(grants, dict) or PRE_AUTH_GRANT not in grants:
            raise InvalidOffer("the offer has no pre-authorized code grant, the only flow this wallet supports")
        grant = grants[PRE_AUTH_GRANT]
        if not isinstance(grant, dict):
            raise InvalidOffer("the offer's pre-authorized code grant is not an object")
        code = grant.get("pre-authorized_code")
        if not isinstance(code, str) or not code or len(code) > 4096:
            raise InvalidOffer("the offer has no pre-authorized_code")
        tx_code = TxCode.from_json(grant["tx_code"]) if "tx_code" in grant else None
        auth_server = grant.get("authorization_server")
        if auth_server is not None:
            try:
                auth_server = check_url(auth_server, "authorization server", allow_loopback_http=allow_loopback_http)
            except NetworkError as exc:
                raise InvalidOffer(f"the offer's authorization_server is not acceptable: {exc.message}") from exc
        return cls(issuer, tuple(ids), code, tx_code, auth_server)

    def __repr__(self) -> str:
        # The pre-authorized code is a bearer secret: keep it out of reprs and logs.
        return f"CredentialOffer(credential_issuer={self.credential_issuer!r}, ids={self.credential_configuration_ids!r})"


@dataclass(frozen=True)
class OfferLink:
    """A parsed offer link: the offer by value or the URI to fetch it from."""

    offer: Any = None
    offer_uri: str | None = None


def parse_offer_link(text: Any, *, allow_loopback_http: bool) -> OfferLink:
    """Parse what the user pasted or the QR code held."""
    if not isinstance(text, str):
        raise InvalidOffer("the offer must be text")
    text = text.strip()
    if not text or len(text) > MAX_LINK or not text.isprintable():
        raise InvalidOffer("the offer is empty, too long or has control characters")
    try:
        parts = urllib.parse.urlsplit(text)
    except ValueError as exc:
        raise InvalidOffer("the offer is not a link") from exc
    if parts.scheme not in (OFFER_SCHEME, "https", "http"):
        raise InvalidOffer("the offer must be an openid-credential-offer:// or https:// link")
    try:
        query = urllib.parse.parse_qs(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query),
                                      max_num_fields=16)
    except ValueError as exc:
        raise InvalidOffer("the offer link's query is malformed") from exc
    by_value = query.get("credential_offer")
    by_reference = query.get("credential_offer_uri")
    if by_value and by_reference:
        raise InvalidOffer("the offer link has both credential_offer and credential_offer_uri")
    if (by_value and len(by_value) > 1) or (by_reference and len(by_reference) > 1):
        raise InvalidOffer("the offer link repeats a parameter")
    if by_value:
        try:
            return OfferLink(offer=strict_json(by_value[0], "credential offer"))
        except NetworkError as exc:
            raise InvalidOffer("the offer link's credential_offer is not valid JSON") from exc
    if by_reference:
        uri = by_reference[0]
    elif parts.scheme in ("https", "http"):
        uri = text  # A bare URL: the credential_offer_uri itself.
    else:
        raise InvalidOffer("the offer link has neither credential_offer nor credential_offer_uri")
    try:
        return OfferLink(offer_uri=check_url(uri, "credential offer URI", allow_loopback_http=allow_loopback_http))
    except NetworkError as exc:
        raise InvalidOffer(f"the offer URI is not acceptable: {exc.message}") from exc


def resolve_offer(link: OfferLink, http: Http) -> CredentialOffer:
    """Section 4.1.3: fetch an offer by reference (``GET``, JSON) and validate it."""
    value = link.offer
    if link.offer_uri is not None:
        response = http.get(link.offer_uri, "credential offer URI")
        if response.status == 404 or response.status == 410:
            raise InvalidOffer("the issuer no longer has this offer (it may have expired or been used)")
        if response.status != 200:
            raise InvalidOffer(f"the issuer answered HTTP {response.status} for the offer")
        value = response.json("credential offer")
    return CredentialOffer.from_json(value, allow_loopback_http=http.allow_loopback_http)
