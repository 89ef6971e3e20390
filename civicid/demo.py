"""``civicid demo``: the credential format's round trip, scripted and told in plain words.

Issue -> present -> verify, then a revocation through a Token Status List,
all in process on did:key identities. (When the services land, the demo grows
into the full story against running servers.)
"""

from __future__ import annotations

import json
import time

import click
import nacl.utils

import sdjwt
from sdjwt.status_list import INVALID, StatusList, StatusListToken, check_status, sign_status_list

_CLAIMS = {
    "given_name": "Mei",
    "family_name": "Zhang",
    "birthdate": "1955-03-14",
    "nationalities": ["CN"],
    "address": {"locality": "Shenzhen", "region": "Guangdong", "country": "CN"},
    "age_equal_or_over": {"18": True, "65": True},
}
_DISCLOSABLE: list[sdjwt.ClaimPath] = [
    ("given_name",),
    ("family_name",),
    ("birthdate",),
    ("nationalities", None),
    ("address", "locality"),
    ("address", "region"),
    ("address", "country"),
    ("age_equal_or_over", "18"),
    ("age_equal_or_over", "65"),
]


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON summary instead of the story.")
def demo(as_json: bool) -> None:
    """Issue a national ID, present only 'over 65' and the city, verify it, then revoke it."""
    say = (lambda *_: None) if as_json else click.echo
    now = int(time.time())
    office_key = sdjwt.Ed25519PrivateKey.generate()
    office = sdjwt.did_from_key(office_key.public_key())
    kid = f"{office}#{office.removeprefix('did:key:')}"
    holder_key = sdjwt.Ed25519PrivateKey.generate()
    status_uri = "https://issuer.example/status/1"
    statuses = StatusList.empty(1024, bits=2)

    say(f"1. The office {office[:32]}... issues a national ID card to the citizen.")
    credential = sdjwt.issue(
        _CLAIMS,
        disclosable=_DISCLOSABLE,
        issuer_key=office_key,
        kid=kid,
        iss=office,
        vct="urn:civicid:national_id",
        iat=now,
        exp=now + 365 * 86400,
        holder_jwk=holder_key.public_key().public_jwk(),
        status=sdjwt.StatusReference(idx=417, uri=status_uri),
        random=nacl.utils.random,
        decoys=2,
    )
    say(f"   {len(credential.disclosures)} selectively disclosable claims (and decoys hide how many); the credential is "
        f"{len(credential.serialize())} characters.")

    say("2. At the bus-pass counter the wallet discloses only 'age 65 or over' and the city.")
    presentation = sdjwt.create_presentation(
        credential.serialize(),
        [("age_equal_or_over", "65"), ("address", "locality")],
        holder_key=holder_key,
        aud="https://counter.example",
        nonce="n-0S6_WzA2Mj",
        iat=now,
    )

    def lookup(iss: str, kid_: str | None, iat: int | None) -> sdjwt.PublicKey:
        return sdjwt.key_from_did(iss)

    def status_check(reference: sdjwt.StatusReference) -> None:
        token = sign_status_list(statuses, uri=status_uri, key=office_key, kid=kid, iat=now, ttl=300)
        check_status(
            StatusListToken.verify(token, key=office_key.public_key(), algorithms=["EdDSA"], uri=status_uri, now=now),
            reference,
        )

    def check() -> sdjwt.VerifiedSDJWT:
        return sdjwt.verify(
            presentation,
            issuer_key=lookup,
            algorithms=["EdDSA"],
            now=now,
            audience="https://counter.example",
            nonce="n-0S6_WzA2Mj",
            status=status_check,
        )

    verified = check()
    disclosed = {"/".join(map(str, path)): True for path in verified.disclosed}
    say(f"3. The counter verifies it and sees only: {', '.join(disclosed)}.")
    say(f"   Eligible for the senior bus pass: {verified.claims['age_equal_or_over']['65'] is True}.")

    say("4. The office revokes the card; the counter checks again.")
    statuses = statuses.with_status({417: INVALID})
    try:
        check()
        outcome = "accepted (this is a bug)"
    except sdjwt.StatusRevoked as exc:
        outcome = f"refused: {exc.code}"
    say(f"   {outcome}.")
    if as_json:
        click.echo(json.dumps({"disclosed": sorted(disclosed), "after_revocation": outcome}))
