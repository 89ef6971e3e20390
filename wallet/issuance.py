"""The OpenID4VCI 1.0 client: pre-authorized code flow with transaction code, nonce and batch proofs.

Steps (sections of OpenID4VCI 1.0):

1. Resolve the offer (4.1) - :mod:`wallet.offer`.
2. Fetch the Credential Issuer Metadata (12.2.2: ``/.well-known/openid-credential-issuer``
   inserted before the issuer's path) and check its ``credential_issuer`` is the offer's.
3. Fetch the Authorization Server Metadata (RFC 8414 section 3) for the ``token_endpoint``.
4. Ask the user for the Transaction Code when the offer has ``tx_code`` (4.1.1).
5. Token Request (6.1) with the pre-authorized code and ``tx_code``.
6. Nonce Request (7.1) for a fresh ``c_nonce``.
7. Credential Request (8.2) with one proof JWT (appendix F.1) per copy, each for a
   fresh holder key (batch issuance, ``batch_credential_issuance.batch_size``);
   on ``invalid_nonce`` (8.3.1.2) fetch a new nonce and retry once.
8. Verify every credential before anything is stored: issuer signature with the
   issuer's key at ``iat`` from the registry, accreditation of the issuer for the
   ``vct`` at ``iat``, the published type metadata, ``cnf`` = one of our keys.
"""

from __future__ import annotations

import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from .errors import (
    CredentialRejected,
    IssuanceFailed,
    NetworkError,
    OfferAlreadyUsed,
    OfferExpired,
    OfferLocked,
    UnknownOffer,
    WrongPin,
)
from .offer import PRE_AUTH_GRANT, CredentialOffer, TxCode
from .transport import Http

__all__ = [
    "ISSUER_ALGORITHMS",
    "REGISTERED_CLAIMS",
    "IssuerMetadata",
    "ReceivedCredential",
    "well_known_url",
    "fetch_issuer_metadata",
    "receive",
    "verify_credential",
]

ISSUER_ALGORITHMS = ("EdDSA",)
"""docs/protocols.md: issuers sign SD-JWT VCs with EdDSA."""

PROOF_ALGORITHMS = ("EdDSA", "ES256")
REGISTERED_CLAIMS = frozenset({"iss", "iat", "exp", "nbf", "vct", "cnf", "status", "sub", "vct#integrity"})
MAX_COPIES = 20

PinPrompt = Callable[[TxCode, "int | None"], str]
"""Ask the user for the transaction code; the second argument is the attempts left after a wrong one."""


def well_known_url(identifier: str, suffix: str) -> str:
    """Insert ``/.well-known/<suffix>`` between host and path (OpenID4VCI 12.2.2, RFC 8414 section 3.1)."""
    parts = urllib.parse.urlsplit(identifier)
    path = parts.path.rstrip("/")
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, f"/.well-known/{suffix}{path}", "", ""))


@dataclass(frozen=True)
class IssuerMetadata:
    """The parts of Credential Issuer Metadata (section 12.2.4) the wallet uses, validated."""

    credential_issuer: str
    credential_endpoint: str
    nonce_endpoint: str | None
    authorization_servers: tuple[str, ...]
    batch_size: int
    display: tuple[Mapping[str, Any], ...]
    configurations: Mapping[str, Mapping[str, Any]]

    @classmethod
    def from_json(cls, value: Mapping[str, Any], expected_issuer: str, http: Http) -> "IssuerMetadata":
        if value.get("credential_issuer") != expected_issuer:
            # Section 12.2.3: the metadata's identifier MUST be identical to the one it was fetched for.
            raise IssuanceFailed("the issuer's metadata names a different credential issuer; refusing the offer")
        endpoint = http.check(value.get("credential_endpoint"), "credential endpoint")
        nonce = value.get("nonce_endpoint")
        nonce = http.check(nonce, "nonce endpoint") if nonce is not None else None
        servers = value.get("authorization_servers", [expected_issuer])
        if not isinstance(servers, list) or not servers:
            raise IssuanceFailed("the issuer's metadata has an invalid authorization_servers list")
        servers = [http.check(s, "authorization server") for s in servers]
        batch = value.get("batch_credential_issuance")
        batch_size = 1
        if batch is not None:
            size = batch.get("batch_size") if isinstance(batch, dict) else None
            if isinstance(size, bool) or not isinstance(size, int) or size < 2:
                raise IssuanceFailed("the issuer's metadata has an invalid batch_size (must be 2 or more)")
            batch_size = size
        configurations = value.get("credential_configurations_supported")
        if not isinstance(configurations, dict) or not all(isinstance(c, dict) for c in configurations.values()):
            raise IssuanceFailed("the issuer's metadata has no credential_configurations_supported")
        display = value.get("display", [])
        if not isinstance(display, list):
            display = []
        return cls(expected_issuer, endpoint, nonce, tuple(servers), batch_size,
                   tuple(d for d in display if isinstance(d, dict)), configurations)

    def issuer_name(self) -> dict[str, str]:
        """``{locale: name}`` from the issuer's ``display`` (section 12.2.4)."""
        names: dict[str, str] = {}
        for item in self.display:
            name, locale = item.get("name"), item.get("locale", "en")
            if isinstance(name, str) and isinstance(locale, str) and len(name) <= 200:
                names.setdefault(locale, name)
        return names


def fetch_issuer_metadata(http: Http, credential_issuer: str) -> IssuerMetadata:
    response = http.get(well_known_url(credential_issuer, "openid-credential-issuer"), "issuer metadata")
    if response.status != 200:
        raise IssuanceFailed(f"the issuer's metadata could not be fetched (HTTP {response.status})")
    return IssuerMetadata.from_json(response.json_object("issuer metadata"), credential_issuer, http)


def _token_endpoint(http: Http, authorization_server: str) -> str:
    response = http.get(well_known_url(authorization_server, "oauth-authorization-server"), "authorization server metadata")
    if response.status != 200:
        raise IssuanceFailed(f"the authorization server metadata could not be fetched (HTTP {response.status})")
    metadata = response.json_object("authorization server metadata")
    if metadata.get("issuer") not in (None, authorization_server):
        raise IssuanceFailed("the authorization server metadata names a different issuer")
    return http.check(metadata.get("token_endpoint"), "token endpoint")


def _oauth_error(response: Any, what: str) -> tuple[str, dict[str, Any]]:
    try:
        body = response.json_object(what)
    except NetworkError:
        body = {}
    error = body.get("error")
    return (error if isinstance(error, str) else "", body)


def _token_error(response: Any) -> IssuanceFailed:
    """Map a Token Error Response (RFC 6749 5.2; civicid's ``civicid_reason``) to a typed error."""
    error, body = _oauth_error(response, "token error")
    reason = body.get("civicid_reason")
    if error == "invalid_grant":
        if reason == "wrong_tx_code":
            remaining = body.get("attempts_remaining")
            if isinstance(remaining, bool) or not isinstance(remaining, int) or remaining < 0:
                remaining = None
            left = "" if remaining is None else f" ({remaining} attempt{'s' if remaining != 1 else ''} left)"
            return WrongPin(f"the PIN was wrong{left}", remaining)
        if reason == "offer_expired":
            return OfferExpired("the offer has expired")
        if reason == "offer_redeemed":
            return OfferAlreadyUsed("the offer was already used")
        if reason == "offer_locked":
            return OfferLocked("the offer is locked after too many wrong PINs")
        if reason == "unknown_code":
            return UnknownOffer("the issuer does not recognise this offer")
        return IssuanceFailed("the issuer refused the offer (invalid_grant): it may be expired, used, or the PIN wrong")
    if error:
        return IssuanceFailed(f"the issuer's token endpoint refused the request ({error[:60]})")
    return IssuanceFailed(f"the issuer's token endpoint answered HTTP {response.status}")


def _redeem(http: Http, token_endpoint: str, offer: CredentialOffer, pin: str | None) -> str:
    form = {"grant_type": PRE_AUTH_GRANT, "pre-authorized_code": offer.pre_authorized_code}
    if pin is not None:
        form["tx_code"] = pin
    response = http.post_form(token_endpoint, "token endpoint", form)
    if response.status != 200:
        raise _token_error(response)
    body = response.json_object("token response")
    token, token_type = body.get("access_token"), body.get("token_type")
    if not isinstance(token, str) or not token or not token.isascii() or not token.isprintable():
        raise IssuanceFailed("the issuer's token response has no access_token")
    if not isinstance(token_type, str) or token_type.lower() != "bearer":
        raise IssuanceFailed("the issuer's token response is not a Bearer token (DPoP is not supported)")
    return token


def _nonce(http: Http, metadata: IssuerMetadata) -> str:
    if metadata.nonce_endpoint is None:
        raise IssuanceFailed("the issuer has no nonce endpoint, which proofs of possession need")
    response = http.request("POST", metadata.nonce_endpoint, "nonce endpoint")
    if response.status != 200:
        raise IssuanceFailed(f"the issuer's nonce endpoint answered HTTP {response.status}")
    nonce = response.json_object("nonce response").get("c_nonce")
    if not isinstance(nonce, str) or not nonce or len(nonce) > 1024:
        raise IssuanceFailed("the issuer's nonce response has no c_nonce")
    return nonce


def _proof_alg(configuration: Mapping[str, Any]) -> str:
    proof_types = configuration.get("proof_types_supported")
    if proof_types is None:
        return "EdDSA"
    jwt_type = proof_types.get("jwt") if isinstance(proof_types, dict) else None
    algs = jwt_type.get("proof_signing_alg_values_supported") if isinstance(jwt_type, dict) else None
    if not isinstance(algs, list):
        raise IssuanceFailed("the issuer does not accept jwt proofs, the only proof type this wallet makes")
    for alg in PROOF_ALGORITHMS:
        if alg in algs:
            return alg
    raise IssuanceFailed("the issuer accepts no proof algorithm this wallet supports (EdDSA, ES256)")


def _holder_key(alg: str, random: Callable[[int], bytes] | None) -> Any:
    from sdjwt import P256PrivateKey

    from .keys import new_holder_key

    return new_holder_key(random) if alg == "EdDSA" else P256PrivateKey.generate()


@dataclass
class ReceivedCredential:
    """Verified copies of one credential, ready to be stored."""

    configuration_id: str
    credential_issuer: str
    issuer_names: dict[str, str]
    iss: str
    vct: str
    iat: int
    exp: int | None
    claims: dict[str, Any]
    disclosable: list[list[Any]]
    type_metadata: Mapping[str, Any]
    copies: list[dict[str, Any]] = field(default_factory=list)

    def to_record(self, credential_id: str, received_at: int) -> dict[str, Any]:
        return {
            "id": credential_id,
            "configuration_id": self.configuration_id,
            "credential_issuer": self.credential_issuer,
            "issuer_names": self.issuer_names,
            "iss": self.iss,
            "vct": self.vct,
            "iat": self.iat,
            "exp": self.exp,
            "received_at": received_at,
            "claims": self.claims,
            "disclosable": self.disclosable,
            "type_metadata": dict(self.type_metadata),
            "copies": self.copies,
        }


def _metadata_paths_match(meta_path: list[Any], path: tuple[Any, ...]) -> bool:
    if len(meta_path) != len(path):
        return False
    return all(m == p or (m is None and isinstance(p, int)) for m, p in zip(meta_path, path))


def verify_credential(text: str, *, trust: Any, now: int, vct: str | None) -> tuple[Any, Mapping[str, Any]]:
    """Step 8: verify one issued credential (no key binding yet); return (VerifiedSDJWT, type metadata)."""
    import sdjwt
    from registry.credential_type import parse_type_metadata
    from registry.errors import RegistryError

    def issuer_key(iss: str, kid: str | None, iat: int | None) -> Any:
        try:
            return trust.key_at(iss, kid, iat)
        except RegistryError as exc:
            raise sdjwt.UnknownIssuerKey(f"the registry does not vouch for the issuer's key: {exc.message}") from exc

    try:
        verified = sdjwt.verify(text, issuer_key=issuer_key, algorithms=ISSUER_ALGORITHMS, now=now,
                                require_key_binding=False)
    except sdjwt.SDJWTError as exc:
        raise CredentialRejected(f"a received credential failed verification: {exc.message}") from exc
    if vct is not None and verified.vct != vct:
        raise CredentialRejected("a received credential has a different type (vct) than the issuer announced")
    if verified.iat is None:
        raise CredentialRejected("a received credential has no 'iat'")
    holder = verified.claims.get("cnf", {}).get("jwk") if isinstance(verified.claims.get("cnf"), dict) else None
    if not isinstance(holder, dict):
        raise CredentialRejected("a received credential is not bound to a holder key (cnf.jwk)")
    try:
        trust.check_accredited(verified.iss, verified.vct, verified.iat)
        metadata = trust.credential_type(verified.vct)
    except RegistryError as exc:
        raise CredentialRejected(f"the registry does not vouch for this credential: {exc.message}") from exc
    try:
        if parse_type_metadata(metadata) != verified.vct:
            raise CredentialRejected("the published type metadata is for another vct")
    except RegistryError as exc:
        raise CredentialRejected(f"the published type metadata is invalid: {exc.message}") from exc
    # SD-JWT VC type metadata `sd`: "always" claims must be selectively disclosable, "never" ones must not.
    from sdjwt.jws import CompactJWS
    from sdjwt.presentation import disclosure_paths

    parsed = sdjwt.SDJWT.parse(text)
    payload = CompactJWS.parse(parsed.jwt).payload
    present = [path for path, _ in disclosure_paths(payload, parsed.disclosures)]
    selective = set(verified.disclosed)
    for claim in metadata.get("claims", []):
        for path in present:
            if _metadata_paths_match(claim["path"], path):
                if claim["sd"] == "always" and path not in selective:
                    raise CredentialRejected("a claim the type requires to be selectively disclosable is always visible")
                if claim["sd"] == "never" and path in selective:
                    raise CredentialRejected("a claim the type forbids to be selectively disclosable is disclosable")
    return verified, metadata


def receive(
    offer: CredentialOffer,
    *,
    http: Http,
    trust: Any,
    ask_pin: PinPrompt,
    copies: int = 5,
    max_pin_tries: int = 1,
    now: Callable[[], int] = lambda: int(time.time()),
    random: Callable[[int], bytes] | None = None,
) -> list[ReceivedCredential]:
    """Run the pre-authorized code flow for every configuration in ``offer``; return verified credentials."""
    from sdjwt import SDJWTError, thumbprint

    from .keys import proof_jwt

    if not 1 <= copies <= MAX_COPIES:
        raise ValueError(f"copies must be between 1 and {MAX_COPIES}")
    # Step 2.
    metadata = fetch_issuer_metadata(http, offer.credential_issuer)
    for config_id in offer.credential_configuration_ids:
        config = metadata.configurations.get(config_id)
        if config is None:
            raise IssuanceFailed("the offer names a credential the issuer's metadata does not describe")
        if config.get("format") != "dc+sd-jwt":
            raise IssuanceFailed("the offered credential is not in the dc+sd-jwt format this wallet keeps")
    # Step 3.
    auth_server = offer.authorization_server or metadata.authorization_servers[0]
    if auth_server not in metadata.authorization_servers:
        raise IssuanceFailed("the offer names an authorization server the issuer does not list")
    token_endpoint = _token_endpoint(http, auth_server)
    # Steps 4 and 5: a wrong PIN may be retried while the issuer allows attempts.
    remaining: int | None = None
    tries = 0
    while True:
        pin = None
        if offer.tx_code is not None:
            pin = ask_pin(offer.tx_code, remaining)
            offer.tx_code.check(pin)
        tries += 1
        try:
            access_token = _redeem(http, token_endpoint, offer, pin)
            break
        except WrongPin as exc:
            if tries >= max_pin_tries or exc.attempts_remaining == 0:
                raise
            remaining = exc.attempts_remaining
    bearer = {"Authorization": f"Bearer {access_token}"}
    count = min(copies, metadata.batch_size)
    results = []
    for config_id in offer.credential_configuration_ids:
        config = metadata.configurations[config_id]
        alg = _proof_alg(config)
        expected_vct = config.get("vct") if isinstance(config.get("vct"), str) else None
        keys = [_holder_key(alg, random) for _ in range(count)]
        # Steps 6 and 7.
        response = None
        for attempt in range(2):
            nonce = _nonce(http, metadata)
            proofs = [proof_jwt(k, audience=metadata.credential_issuer, nonce=nonce, iat=now()) for k in keys]
            body = {"credential_configuration_id": config_id, "proofs": {"jwt": proofs}}
            response = http.post_json(metadata.credential_endpoint, "credential endpoint", body, bearer)
            if response.status == 200:
                break
            error, _ = _oauth_error(response, "credential error")
            if error == "invalid_nonce" and attempt == 0:
                continue
            raise IssuanceFailed(
                f"the issuer refused the credential request ({error[:60] or f'HTTP {response.status}'})"
            )
        assert response is not None
        answer = response.json_object("credential response")
        if "transaction_id" in answer and "credentials" not in answer:
            raise IssuanceFailed("the issuer deferred issuance, which this wallet does not support yet")
        issued = answer.get("credentials")
        if not isinstance(issued, list) or not 1 <= len(issued) <= count:
            raise IssuanceFailed("the issuer's credential response has no valid credentials list")
        # Step 8.
        by_thumbprint = {thumbprint(k.public_key().public_jwk()): k for k in keys}
        received: ReceivedCredential | None = None
        for item in issued:
            text = item.get("credential") if isinstance(item, dict) else None
            if not isinstance(text, str):
                raise CredentialRejected("the issuer's credential response holds something that is not a credential")
            verified, type_metadata = verify_credential(text, trust=trust, now=now(), vct=expected_vct)
            try:
                key = by_thumbprint.pop(thumbprint(verified.claims["cnf"]["jwk"]))
            except (KeyError, SDJWTError) as exc:
                raise CredentialRejected("a received credential is bound to a key this wallet did not send") from exc
            user_claims = {k: v for k, v in verified.claims.items() if k not in REGISTERED_CLAIMS}
            status = verified.claims.get("status")
            copy = {"sd_jwt": text, "holder_key": key.private_jwk(), "status": status, "used_by": []}
            if received is None:
                received = ReceivedCredential(
                    configuration_id=config_id,
                    credential_issuer=metadata.credential_issuer,
                    issuer_names=metadata.issuer_name(),
                    iss=verified.iss,
                    vct=verified.vct,
                    iat=int(verified.iat or 0),
                    exp=verified.claims.get("exp") if isinstance(verified.claims.get("exp"), int) else None,
                    claims=user_claims,
                    disclosable=[list(p) for p in verified.disclosed],
                    type_metadata=type_metadata,
                )
            elif (verified.iss, verified.vct, user_claims) != (received.iss, received.vct, received.claims):
                raise CredentialRejected("the copies the issuer sent do not hold the same credential")
            received.copies.append(copy)
        assert received is not None
        results.append(received)
    return results
