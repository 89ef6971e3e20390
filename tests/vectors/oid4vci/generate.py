"""Writes tests/vectors/oid4vci/*.json (run from the repository root: python tests/vectors/oid4vci/generate.py).

Deterministic: fixed keys (Ed25519 signatures are deterministic; the one ES256
proof is signed once and kept: regenerate it and only that file changes),
fixed times and nonces. Cases marked ``"source": "OpenID4VCI 1.0 ..."`` copy the
specification's example objects; the rest are civicid wire cases and mutations.
"""

from __future__ import annotations

import base64
import json
import os
from typing import Any

import sdjwt
from sdjwt.jws import sign_compact

HERE = os.path.dirname(os.path.abspath(__file__))
ISSUER = "https://office.example"
NOW = 1_760_000_000
NONCE = "wKI4LT17ac15ES9bw8ac4"
PRE_AUTH = "urn:ietf:params:oauth:grant-type:pre-authorized_code"
HOLDER = sdjwt.Ed25519PrivateKey(bytes(range(32)))
OTHER = sdjwt.Ed25519PrivateKey(bytes(range(100, 132)))
PROOF_TYP = "openid4vci-proof+jwt"

cases: dict[str, dict[str, Any]] = {}


def case(name: str, kind: str, source: str, body: dict[str, Any]) -> None:
    cases[name] = {"kind": kind, "source": source, **body}


def b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).rstrip(b"=").decode()


def proof(header: dict[str, Any] | None = None, payload: dict[str, Any] | None = None, key: Any = HOLDER,
          drop_header: tuple[str, ...] = (), drop_payload: tuple[str, ...] = ()) -> str:
    h: dict[str, Any] = {"typ": PROOF_TYP, "jwk": key.public_key().public_jwk(), **(header or {})}
    p: dict[str, Any] = {"aud": ISSUER, "iat": NOW, "nonce": NONCE, **(payload or {})}
    for name in drop_header:
        h.pop(name, None)
    for name in drop_payload:
        p.pop(name, None)
    return sign_compact(h, p, key)


SPEC_OFFER = {
    "credential_issuer": "https://credential-issuer.example.com",
    "credential_configuration_ids": ["UniversityDegreeCredential", "org.iso.18013.5.1.mDL"],
    "grants": {
        "authorization_code": {"issuer_state": "eyJhbGciOiJSU0Et...FYUaBy"},
        PRE_AUTH: {
            "pre-authorized_code": "adhjhdjajkdkhjhdj",
            "tx_code": {"length": 4, "input_mode": "numeric", "description": "Please provide the one-time code that was sent via e-mail"},
        },
    },
}


def offers() -> None:
    case("offer-spec-example", "offer_object", "OpenID4VCI 1.0 section 4.1.1 (Credential Offer example)",
         {"input": SPEC_OFFER, "expected": {"credential_issuer": "https://credential-issuer.example.com",
                                            "credential_configuration_ids": ["UniversityDegreeCredential", "org.iso.18013.5.1.mDL"],
                                            "pre_authorized_code": "adhjhdjajkdkhjhdj",
                                            "tx_code": {"input_mode": "numeric", "length": 4}}})
    civic = {"credential_issuer": ISSUER, "credential_configuration_ids": ["national_id"],
             "grants": {PRE_AUTH: {"pre-authorized_code": "PLACEHOLDER",
                                    "tx_code": {"input_mode": "numeric", "length": 6,
                                                "description": "Enter the PIN from the letter the office gave you"}}}}
    case("offer-civicid-shape", "offer_object", "civicid issuer: issuer.offers.offer_object (docs/issuer.md Flow)",
         {"input": civic, "expected": {"credential_issuer": ISSUER, "credential_configuration_ids": ["national_id"],
                                       "pre_authorized_code": "PLACEHOLDER", "tx_code": {"input_mode": "numeric", "length": 6}}})
    link = "openid-credential-offer://?credential_offer=" + json.dumps(SPEC_OFFER, separators=(",", ":"))
    from urllib.parse import quote
    case("offer-by-value-link", "offer_link", "OpenID4VCI 1.0 section 4.1 (credential_offer, by value)",
         {"input": "openid-credential-offer://?credential_offer=" + quote(json.dumps(SPEC_OFFER, separators=(",", ":")), safe=""),
          "expected": {"credential_issuer": "https://credential-issuer.example.com"}})
    del link
    ref = "GkurKxf5T0Y-mnPFCHqWOMiZi4VS138cQO_V7PZHAdM"
    case("offer-by-reference-link", "offer_link", "OpenID4VCI 1.0 section 4.1.3 (credential_offer_uri example)",
         {"input": "openid-credential-offer://?credential_offer_uri=https%3A%2F%2Fserver%2Eexample%2Ecom%2Fcredential-offer%2F" + ref,
          "expected": {"offer_uri": "https://server.example.com/credential-offer/" + ref}})
    case("offer-by-reference-civicid", "offer_link", "civicid issuer: OfferSettings.offer_link (percent-encoded https URI)",
         {"input": "openid-credential-offer://?credential_offer_uri=https%3A%2F%2Foffice.example%2Fcredential-offer%2F" + ref,
          "ref": ref, "public_url": ISSUER,
          "expected": {"offer_uri": ISSUER + "/credential-offer/" + ref}})
    bad = json.loads(json.dumps(civic))
    bad["grants"] = {"authorization_code": {"issuer_state": "x"}}
    case("offer-reject-no-pre-authorized-grant", "offer_object", "OpenID4VCI 1.0 section 4.1.1; civicid supports the pre-authorized grant only",
         {"input": bad, "error": "invalid_offer"})
    bad = json.loads(json.dumps(civic))
    bad["credential_configuration_ids"] = []
    case("offer-reject-empty-configuration-ids", "offer_object", "OpenID4VCI 1.0 section 4.1.1 (REQUIRED non-empty array)",
         {"input": bad, "error": "invalid_offer"})


def token() -> None:
    case("token-request-spec", "token_request", "OpenID4VCI 1.0 section 6.1 (pre-authorized code Token Request example)",
         {"input": {"grant_type": PRE_AUTH, "pre-authorized_code": "SplxlOBeZQQYbYS6WxSbIA", "tx_code": "493536"},
          "expected_status": 400, "expected": {"error": "invalid_grant"},
          "note": "the code is not one this issuer made: invalid_grant (RFC 6749 section 5.2)"})
    case("token-request-missing-tx-code", "token_request", "OpenID4VCI 1.0 section 6.1 (tx_code REQUIRED when the offer had tx_code)",
         {"input": {"grant_type": PRE_AUTH, "pre-authorized_code": "@offer"}, "expected_status": 400, "expected": {"error": "invalid_request"}})
    case("token-request-wrong-tx-code", "token_request", "OpenID4VCI 1.0 section 6.3 (invalid_grant for a wrong tx_code); civicid_reason",
         {"input": {"grant_type": PRE_AUTH, "pre-authorized_code": "@offer", "tx_code": "@wrong"}, "expected_status": 400,
          "expected": {"error": "invalid_grant", "civicid_reason": "wrong_tx_code", "attempts_remaining": 4}})
    case("token-request-ok", "token_request", "OpenID4VCI 1.0 sections 6.1 and 6.2",
         {"input": {"grant_type": PRE_AUTH, "pre-authorized_code": "@offer", "tx_code": "@pin"}, "expected_status": 200,
          "expected_keys": ["access_token", "expires_in", "token_type"], "expected": {"token_type": "Bearer", "expires_in": 600}})
    case("token-response-spec", "token_response", "OpenID4VCI 1.0 section 6.2 (Token Response example)",
         {"input": {"access_token": "eyJhbGciOiJSUzI1NiIsInR5cCI6Ikp..sHQ", "token_type": "bearer", "expires_in": 86400},
          "expected": {"access_token": "eyJhbGciOiJSUzI1NiIsInR5cCI6Ikp..sHQ"}})
    case("token-response-reject-dpop", "token_response", "RFC 9449 section 5 (token_type DPoP); civicid wallets use Bearer only",
         {"input": {"access_token": "abc", "token_type": "DPoP", "expires_in": 600}, "error": "issuance_failed"})
    case("token-response-reject-no-access-token", "token_response", "RFC 6749 section 5.1 (access_token REQUIRED)",
         {"input": {"token_type": "Bearer"}, "error": "issuance_failed"})
    for reason, code in (("wrong_tx_code", "wrong_pin"), ("offer_locked", "offer_locked"), ("offer_expired", "offer_expired"),
                         ("offer_redeemed", "offer_used"), ("unknown_code", "offer_unknown")):
        body: dict[str, Any] = {"error": "invalid_grant", "error_description": "...", "civicid_reason": reason}
        if reason == "wrong_tx_code":
            body["attempts_remaining"] = 2
        case(f"token-error-{reason.replace('_', '-')}", "token_error", "OpenID4VCI 1.0 section 6.3 / RFC 6749 section 5.2; civicid_reason (docs/protocols.md)",
             {"status": 400, "input": body, "error": code})
    case("token-error-spec-invalid-request", "token_error", "RFC 6749 section 5.2 (Token Error Response)",
         {"status": 400, "input": {"error": "invalid_request"}, "error": "issuance_failed"})


def nonce() -> None:
    case("nonce-response-spec", "nonce_response", "OpenID4VCI 1.0 section 7.2 (Nonce Response example)",
         {"input": {"c_nonce": NONCE}, "expected": {"c_nonce": NONCE}})
    case("nonce-response-reject-missing", "nonce_response", "OpenID4VCI 1.0 section 7.2 (c_nonce REQUIRED)",
         {"input": {"c_nonce_expires_in": 120}, "error": "issuance_failed"})


def credential_requests() -> None:
    def req(name: str, source: str, body: dict[str, Any], error: str | None = None, copies: int | None = None) -> None:
        out: dict[str, Any] = {"audience": ISSUER, "now": NOW, "batch_size": 10, "configuration_id": "national_id", "input": body}
        if error:
            out["error"] = error
        else:
            out["expected"] = {"proofs": copies}
        case(name, "credential_request", source, out)

    def one(p: str) -> dict[str, Any]:
        return {"credential_configuration_id": "national_id", "proofs": {"jwt": [p]}}

    f1 = "OpenID4VCI 1.0 Appendix F.1 (jwt proof type)"
    req("credential-request-valid", "OpenID4VCI 1.0 section 8.2 with " + f1, one(proof()), copies=1)
    req("credential-request-valid-batch", "OpenID4VCI 1.0 section 8.2 (proofs.jwt array, batch issuance)",
        {"credential_configuration_id": "national_id", "proofs": {"jwt": [proof(), proof(key=OTHER)]}}, copies=2)
    req("proof-wrong-typ", f1 + ": typ MUST be openid4vci-proof+jwt", one(proof({"typ": "JWT"})), "invalid_proof")
    req("proof-missing-typ", f1 + ": typ REQUIRED", one(proof(drop_header=("typ",))), "invalid_proof")
    req("proof-wrong-aud", f1 + ": aud MUST be the Credential Issuer Identifier", one(proof(payload={"aud": "https://evil.example"})), "invalid_proof")
    req("proof-missing-nonce", f1 + ": nonce MUST be present when a c_nonce was provided", one(proof(drop_payload=("nonce",))), "invalid_proof")
    req("proof-missing-iat", f1 + ": iat REQUIRED", one(proof(drop_payload=("iat",))), "invalid_proof")
    req("proof-stale-iat", "OpenID4VCI 1.0 section 8.2.2 / 13.x key proof replay: iat window (civicid PROOF_MAX_AGE 300 s)",
        one(proof(payload={"iat": NOW - 3600})), "invalid_proof")
    none_jwt = b64({"typ": PROOF_TYP, "alg": "none", "jwk": HOLDER.public_key().public_jwk()}) + "." + b64({"aud": ISSUER, "iat": NOW, "nonce": NONCE}) + "."
    req("proof-alg-none", f1 + ": alg MUST NOT be none", one(none_jwt), "invalid_proof")
    hs = b64({"typ": PROOF_TYP, "alg": "HS256", "jwk": HOLDER.public_key().public_jwk()}) + "." + b64({"aud": ISSUER, "iat": NOW, "nonce": NONCE}) + ".c2ln"
    req("proof-alg-symmetric", f1 + ": alg MUST NOT be a MAC algorithm", one(hs), "invalid_proof")
    req("proof-kid-and-jwk", f1 + ": kid MUST NOT be present if jwk is present", one(proof({"kid": "did:example:123#key-1"})), "invalid_proof")
    req("proof-x5c", "civicid policy (docs/issuer.md): the holder key is taken from jwk only", one(proof({"x5c": ["MIIB"]})), "invalid_proof")
    private = dict(HOLDER.private_jwk())
    req("proof-private-key-in-jwk", "OpenID4VCI 1.0 section 8.2.2: the header must not contain a private key", one(proof({"jwk": private})), "invalid_proof")
    good = proof()
    head, body, sig = good.split(".")
    flipped = sig[:-2] + ("AA" if sig[-2:] != "AA" else "AQ")
    req("proof-bad-signature", f1 + ": signed by the key in the header", one(f"{head}.{body}.{flipped}"), "invalid_proof")
    req("proof-signed-by-other-key", f1 + ": signed by the key in the header",
        one(proof({"jwk": HOLDER.public_key().public_jwk()}, key=OTHER)), "invalid_proof")
    req("credential-request-same-key-twice", "civicid policy: one holder key per batch copy (docs/issuer.md)",
        {"credential_configuration_id": "national_id", "proofs": {"jwt": [proof(), proof(payload={"iat": NOW - 1})]}}, "invalid_proof")
    req("credential-request-singular-proof", "OpenID4VCI 1.0 section 8.2: proofs (the draft's proof is gone)",
        {"credential_configuration_id": "national_id", "proof": {"proof_type": "jwt", "jwt": good}}, "invalid_credential_request")
    req("credential-request-no-proofs", "OpenID4VCI 1.0 section 8.2 / 8.3.1.2 (invalid_proof when proofs are missing)",
        {"credential_configuration_id": "national_id"}, "invalid_proof")
    req("credential-request-identifier", "OpenID4VCI 1.0 section 8.2: credential_identifier only when the token response listed them",
        {"credential_identifier": "CivilEngineeringDegree-2023", "proofs": {"jwt": [good]}}, "invalid_credential_request")
    req("credential-request-unknown-configuration", "OpenID4VCI 1.0 section 8.3.1.2 (unknown_credential_configuration)",
        {"credential_configuration_id": "UniversityDegreeCredential", "proofs": {"jwt": [good]}}, "unknown_credential_configuration")
    req("credential-request-two-proof-types", "OpenID4VCI 1.0 section 8.2: proofs holds exactly one proof type",
        {"credential_configuration_id": "national_id", "proofs": {"jwt": [good], "ldp_vp": [{}]}}, "invalid_credential_request")
    req("credential-request-too-many-proofs", "OpenID4VCI 1.0 section 12.2.4 batch_size",
        {"credential_configuration_id": "national_id", "proofs": {"jwt": [good] * 11}}, "invalid_credential_request")
    req("credential-request-encryption", "OpenID4VCI 1.0 section 8.3.1.2 (invalid_encryption_parameters; civicid does not encrypt)",
        {"credential_configuration_id": "national_id", "proofs": {"jwt": [good]},
         "credential_response_encryption": {"jwk": {}, "alg": "ECDH-ES", "enc": "A128GCM"}}, "invalid_encryption_parameters")
    # The specification's own decoded example proof (ES256, Appendix F.1): valid shape; its signature is for another key pair.
    spec = ("eyJ0eXAiOiJvcGVuaWQ0dmNpLXByb29mK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6IkVDIiwiY3J2IjoiUC0yNTYiLCJ4Ijoi"
            "blVXQW9BdjNYWml0aDhFN2kxOU9kYXhPTFlGT3dNLVoyRXVNMDJUaXJUNCIsInkiOiJIc2tIVThCalVpMVU5WHFpN1N3bWo4Z3dBS18weGtjRGpF"
            "V183MVNvc0VZIn19.eyJhdWQiOiJodHRwczovL2NyZWRlbnRpYWwtaXNzdWVyLmV4YW1wbGUuY29tIiwiaWF0IjoxNzAxOTYwNDQ0LCJub25jZSI6"
            "IkxhclJHU2JtVVBZdFJZTzZCUTR5bjgifQ.-a3EDsxClUB4O3LeDD5DVGEnNMT01FCQW4P6-2-BNBqc_Zxf0Qw4CWayLEpqkAomlkLb9zioZoipdP-jvh1WlA")
    case("proof-spec-example", "credential_request", "OpenID4VCI 1.0 Appendix F.1 (jwt proof example, ES256)",
         {"audience": "https://credential-issuer.example.com", "now": 1701960444, "batch_size": 10, "configuration_id": "national_id",
          "input": {"credential_configuration_id": "national_id", "proofs": {"jwt": [spec]}},
          "decoded": {"header": {"typ": PROOF_TYP, "alg": "ES256", "jwk": {"kty": "EC", "crv": "P-256",
                                 "x": "nUWAoAv3XZith8E7i19OdaxOLYFOwM-Z2EuM02TirT4", "y": "HskHU8BjUi1U9Xqi7Swmj8gwAK_0xkcDjEW_71SosEY"}},
                      "payload": {"aud": "https://credential-issuer.example.com", "iat": 1701960444, "nonce": "LarRGSbmUPYtRYO6BQ4yn8"}},
          "expected_any": ["ok", "invalid_proof"],
          "note": "decoding must match 'decoded'; the example's signature is only checked if it verifies with the example key"})
    case("wallet-proof-jwt", "wallet_proof", "OpenID4VCI 1.0 Appendix F.1; wallet.keys.proof_jwt must produce exactly the valid proof",
         {"seed": bytes(range(32)).hex(), "audience": ISSUER, "nonce": NONCE, "iat": NOW, "expected": good})


def responses() -> None:
    case("credential-response-spec", "credential_response", "OpenID4VCI 1.0 section 8.3 (immediate Credential Response example)",
         {"input": {"credentials": [{"credential": "LUpixVCWJk0eOt4CXQe1NXK....WZwmhmn9OQp6YxX0a2L"}]}, "expected": {"credentials": 1}})
    case("credential-response-deferred", "credential_response", "OpenID4VCI 1.0 section 8.3 (transaction_id, deferred issuance)",
         {"input": {"transaction_id": "8xLOxBtZp8", "interval": 3600}, "error": "issuance_failed"})
    case("credential-response-reject-not-objects", "credential_response", "OpenID4VCI 1.0 section 8.3 (elements MUST be objects)",
         {"input": {"credentials": ["eyJ..."]}, "error": "issuance_failed"})
    for code in ("invalid_credential_request", "unknown_credential_configuration", "invalid_proof", "invalid_nonce", "invalid_encryption_parameters"):
        case(f"credential-error-{code.replace('_', '-')}", "credential_error", "OpenID4VCI 1.0 section 8.3.1.2 (Credential Error Response)",
             {"status": 400, "input": {"error": code, "error_description": "..."}, "error": code})


def main() -> None:
    offers()
    token()
    nonce()
    credential_requests()
    responses()
    for old in os.listdir(HERE):
        if old.endswith(".json"):
            os.remove(os.path.join(HERE, old))
    for name, body in cases.items():
        with open(os.path.join(HERE, name + ".json"), "w", encoding="utf-8") as handle:
            json.dump(body, handle, indent=2, ensure_ascii=False)
            handle.write("\n")
    print(f"wrote {len(cases)} cases")


if __name__ == "__main__":
    main()
