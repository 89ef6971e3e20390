"""``civicid issuer ...``: the issuer role's commands.

I/O only: each command parses options, calls a domain module and prints. Data
goes to stdout (``--json`` for machines), messages to stderr. Domain errors
are one line on stderr and exit 1; usage errors exit 2; no traceback unless
``--verbose``.
"""

from __future__ import annotations

import functools
import getpass
import json
import os
import sys
from typing import Any, Callable, TypeVar

import click

from .errors import IssuerError

F = TypeVar("F", bound=Callable[..., Any])


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    raise SystemExit(1)


def domain_errors(fn: F) -> F:
    """Turn domain errors into one line on stderr and exit status 1."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        verbose = click.get_current_context().find_root().params.get("verbose") or os.environ.get("CIVICID_VERBOSE")
        try:
            return fn(*args, **kwargs)
        except IssuerError as exc:
            if verbose:
                raise
            _fail(f"{exc.message} [{exc.code}]")
        except OSError as exc:
            if verbose:
                raise
            _fail(f"{exc.strerror or type(exc).__name__}: {exc.filename or ''}".rstrip(": "))

    return wrapper  # type: ignore[return-value]


db_option = click.option(
    "--db", envvar="CIVICID_ISSUER_DATABASE", default=None, help="SQLite path or postgresql:// URL [env CIVICID_ISSUER_DATABASE]"
)


def _app(db: str | None, signing: bool = False, **extra: Any) -> Any:
    from .app import create_app

    overrides: dict[str, Any] = {"SIGNING_REQUIRED": signing, **extra}
    if db:
        overrides["DATABASE"] = db
    return create_app(overrides)


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (OSError, KeyError):
        return "cli:unknown"


@click.group(name="issuer")
@click.option("--verbose", is_flag=True, envvar="CIVICID_VERBOSE", help="Show tracebacks for errors.")
def cli(verbose: bool) -> None:
    """Run a government office's credential issuer (OpenID4VCI 1.0, SD-JWT VC)."""


@cli.command()
@click.option("--type", "configuration_id", required=True, envvar="CIVICID_ISSUER_OFFER_TYPE", help="Credential configuration id, e.g. national_id.")
@click.option("--claims", "claims_file", required=True, type=click.File("r", encoding="utf-8"), help="JSON file of the claims ('-' for stdin).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@db_option
@domain_errors
def offer(configuration_id: str, claims_file: Any, as_json: bool, db: str | None) -> None:
    """Create one credential offer; print the offer link and the PIN (tx_code)."""
    from .config import clock, random_source
    from .credential_types import lookup
    from .errors import BadRequest
    from .offers import OfferSettings, create_offers
    from .storage import get_store

    try:
        claims = json.load(claims_file)
    except ValueError as exc:
        raise BadRequest("the claims file is not valid JSON") from exc
    app = _app(db)
    with app.app_context():
        if not app.config.get("PUBLIC_URL"):
            raise BadRequest("set CIVICID_ISSUER_PUBLIC_URL to the office's https URL")
        ctype = lookup(app.extensions["civicid_issuer_types"], configuration_id)
        created = create_offers(
            get_store(), OfferSettings.from_config(app.config), ctype, claims,
            actor=_actor(), now=clock(app.config), random=random_source(app.config),
        )
    if as_json:
        click.echo(json.dumps({"credential_offer": created.credential_offer, "tx_code": created.tx_code, "offer_id": created.id, "expires_at": created.expires_at}))
    else:
        click.echo(created.credential_offer)
        click.echo(f"PIN (tx_code): {created.tx_code}")
        click.echo("Give the PIN to the citizen separately from the offer link.", err=True)


@cli.command("audit-verify")
@click.option("--expect-head", default=None, help="The head hash recorded earlier; fail if the log was rewritten since.")
@db_option
@domain_errors
def audit_verify(expect_head: str | None, db: str | None) -> None:
    """Verify the audit log's hash chain from the first record to the head."""
    from .audit import verify_chain
    from .storage import get_store

    app = _app(db)
    with app.app_context():
        summary = verify_chain(get_store(), expect_head)
    click.echo(f"audit log intact: {summary.count} records, head {summary.head_hash}")


@cli.group()
def officer() -> None:
    """Manage officer accounts."""


@officer.command("add")
@click.option("--username", required=True)
@click.option("--role", required=True, type=click.Choice(["officer", "supervisor", "auditor"]))
@click.option("--password", envvar="CIVICID_ISSUER_OFFICER_PASSWORD", prompt=True, hide_input=True, confirmation_prompt=True,
              help="[env CIVICID_ISSUER_OFFICER_PASSWORD]")
@db_option
@domain_errors
def officer_add(username: str, role: str, password: str, db: str | None) -> None:
    """Create an officer account (the first supervisor is created this way)."""
    from .config import clock
    from .officers import add_officer
    from .storage import get_store

    app = _app(db)
    with app.app_context():
        add_officer(get_store(), username, password, role, actor=_actor(), now=clock(app.config))
    click.echo(f"officer {username} added with role {role}", err=True)


@cli.group()
def token() -> None:
    """Manage API tokens for other systems."""


@token.command("create")
@click.option("--name", required=True)
@click.option("--role", required=True, type=click.Choice(["officer", "supervisor", "auditor"]))
@click.option("--days", default=90, show_default=True, type=click.IntRange(1, 366),
              help="Days until the token stops working.")
@db_option
@domain_errors
def token_create(name: str, role: str, days: int, db: str | None) -> None:
    """Create an API token; it is printed once and stored only as a hash."""
    from datetime import datetime, timezone

    from .config import clock, random_source
    from .officers import create_token
    from .storage import get_store

    app = _app(db)
    with app.app_context():
        now = clock(app.config)
        value = create_token(get_store(), name, role, actor=_actor(), now=now, random=random_source(app.config),
                             lifetime=days * 86400)
    click.echo(value)
    expires = datetime.fromtimestamp(now + days * 86400, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    click.echo(f"token {name} ({role}) expires {expires}", err=True)


@cli.command("credential")
@click.argument("action", type=click.Choice(["revoke", "suspend", "reinstate"]))
@click.argument("credential_id")
@click.option("--reason", default=None)
@db_option
@domain_errors
def credential_status(action: str, credential_id: str, reason: str | None, db: str | None) -> None:
    """Revoke, suspend or reinstate an issued credential."""
    from .config import clock
    from .status import STATUS_NAMES, change_status
    from .storage import get_store

    app = _app(db)
    with app.app_context():
        new = change_status(get_store(), credential_id, action, actor=_actor(), now=clock(app.config), reason=reason)
    click.echo(f"{credential_id} {STATUS_NAMES[new]}")


@cli.command()
@click.option("--host", default="127.0.0.1", envvar="CIVICID_ISSUER_HOST", show_default=True)
@click.option("--port", default=8080, type=click.IntRange(1, 65535), envvar="CIVICID_ISSUER_PORT", show_default=True)
@click.option("--workers", default=2, type=click.IntRange(1, 64), envvar="CIVICID_ISSUER_WORKERS", show_default=True)
@click.option("--threads", default=1, type=click.IntRange(1, 256), envvar="CIVICID_ISSUER_THREADS", show_default=True,
              help="Threads per worker (gthread above 1), so an idle browser connection holds a thread, not a worker.")
@db_option
@domain_errors
def serve(host: str, port: int, workers: int, threads: int, db: str | None) -> None:
    """Serve the issuer with gunicorn (configuration from CIVICID_ISSUER_* variables)."""
    from registry.serving import run_gunicorn

    overrides: dict[str, Any] = {"SIGNING_REQUIRED": True}
    if db:
        overrides["DATABASE"] = db
    from .app import create_app

    def check() -> None:
        # Fail fast, before any worker starts; then close the connection so that no
        # PostgreSQL session is shared across the fork (each worker opens its own).
        create_app(overrides).extensions["civicid_issuer_store"].close()

    check()
    click.echo(f"serving the issuer on http://{host}:{port}", err=True)
    # Offer references in paths are bearer secrets: the access log shows only their prefix.
    run_gunicorn(lambda: create_app(overrides), host=host, port=port, workers=workers, threads=threads,
                 redact=("/credential-offer/",))


@cli.command()
@click.argument("records", type=click.File("r", encoding="utf-8-sig"))
@click.option("--type", "configuration_id", default="national_id", show_default=True, help="Credential configuration id.")
@click.option("--out", "out_dir", default="letters", show_default=True, type=click.Path(file_okay=False), help="Folder for the letters.")
@click.option("--workers", default=2, type=click.IntRange(1, 32), show_default=True, help="Processes drawing QR codes.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as one JSON object.")
@db_option
@domain_errors
def bulk(records: Any, configuration_id: str, out_dir: str, workers: int, as_json: bool, db: str | None) -> None:
    """Create an offer and a printable letter (QR + PIN, HTML) for every row of a register export."""
    from .bulk import run_bulk
    from .config import clock, random_source
    from .credential_types import lookup
    from .errors import BadRequest
    from .offers import OfferSettings
    from .storage import get_store

    app = _app(db)
    with app.app_context():
        if not app.config.get("PUBLIC_URL"):
            raise BadRequest("set CIVICID_ISSUER_PUBLIC_URL to the office's https URL")
        ctype = lookup(app.extensions["civicid_issuer_types"], configuration_id)
        with click.progressbar(length=0, label="offers", file=sys.stderr) as bar:
            report = run_bulk(
                get_store(), OfferSettings.from_config(app.config), ctype, records, out_dir,
                actor=_actor(), now=clock(app.config), random=random_source(app.config), workers=workers,
                progress=lambda n: bar.update(n),
            )
    if as_json:
        click.echo(json.dumps(report.to_json()))
    else:
        for bad in report.invalid:
            click.echo(f"row {bad['row']}: {bad['field']}: {bad['reason']}", err=True)
        click.echo(f"created {report.created} offers, skipped {report.skipped_existing} already offered, {len(report.invalid)} invalid rows")


keystore_option = click.option("--keystore", envvar="CIVICID_ISSUER_KEYSTORE", required=True, type=click.Path(dir_okay=False),
                               help="Encrypted keystore file [env CIVICID_ISSUER_KEYSTORE]")
passphrase_option = click.option("--passphrase", envvar="CIVICID_ISSUER_KEYSTORE_PASSPHRASE", prompt=True, hide_input=True,
                                 help="Keystore passphrase [env CIVICID_ISSUER_KEYSTORE_PASSPHRASE]")
registry_option = click.option("--registry-url", envvar="CIVICID_ISSUER_REGISTRY_URL", required=True,
                               help="The DID registry's URL (memory:<name> for an in-process one) [env CIVICID_ISSUER_REGISTRY_URL]")


def _now() -> int:
    import time

    return int(time.time())


def _load_authority_key(path: str | None) -> Any:
    if path is None:
        return None
    from sdjwt.encoding import b64url_decode
    from sdjwt.keys import Ed25519PrivateKey

    from .errors import KeystoreError

    try:
        with open(path, "rb") as handle:
            raw = handle.read(64 * 1024)
        if len(raw) == 32:  # A seed file, as `civicid registry keygen` writes.
            return Ed25519PrivateKey(raw)
        jwk = json.loads(raw)
        return Ed25519PrivateKey(b64url_decode(jwk["d"]))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise KeystoreError("the authority key file must be an Ed25519 seed (32 bytes) or private JWK") from exc


@cli.command()
@keystore_option
@passphrase_option
@registry_option
@click.option("--type", "types_", multiple=True, help="Configuration ids to be accredited for (default: all).")
@click.option("--authority-key", type=click.Path(dir_okay=False, exists=True), default=None,
              help="The accrediting authority's private JWK; without it, print the command the authority must run.")
@domain_errors
def init(keystore: str, passphrase: str, registry_url: str, types_: tuple[str, ...], authority_key: str | None) -> None:
    """Create the office's keys and DID, and get (or request) accreditation for its credential types."""
    from .credential_types import load_types, lookup
    from .keys import Keystore, next_key_commitment
    from .registration import AccreditationRequest, registrar_for

    all_types = load_types()
    chosen = [lookup(all_types, t) for t in types_] if types_ else list(all_types.values())
    registrar = registrar_for(registry_url)
    now = _now()
    store = Keystore.create(keystore, passphrase, now=now)
    key = store.signing_key("key-1")
    did = registrar.create_did(key, "key-1", store.recovery_key.public_key(), next_key_commitment(store.next_key), now=now)
    store.did = did
    store.save()
    request = AccreditationRequest(did, tuple(t.vct for t in chosen), now, now + 5 * 365 * 24 * 3600)
    accredited = registrar.accredit(request, _load_authority_key(authority_key))
    if accredited:
        for ctype in chosen:
            registrar.publish_type(did, key, f"{did}#key-1", ctype.metadata, now=now)
    click.echo(json.dumps({"did": did, "kid": f"{did}#key-1", "keystore": keystore, "accredited": accredited}))
    if not accredited:
        click.echo("The accrediting authority must now run:", err=True)
        click.echo("  " + request.command(registry_url), err=True)
    click.echo(f"Set CIVICID_ISSUER_DID={did} and CIVICID_ISSUER_KID={did}#key-1", err=True)


@cli.command("rotate-key")
@keystore_option
@passphrase_option
@registry_option
@domain_errors
def rotate_key(keystore: str, passphrase: str, registry_url: str) -> None:
    """Normal rotation to the pre-committed next key; credentials signed before keep verifying."""
    from .errors import KeystoreError
    from .keys import Keystore, next_key_commitment
    from .registration import registrar_for

    store = Keystore.open(keystore, passphrase)
    if not store.did:
        raise KeystoreError("the keystore has no DID; run `civicid issuer init` first")
    registrar = registrar_for(registry_url)
    old = store.active_fragment
    old_key = store.signing_key(old)
    new_key = store.next_key
    now = _now()
    _, new = store.rotate(now=now)
    # Registry first: if it refuses, the keystore on disk is unchanged.
    registrar.rotate(store.did, old_key, old, new_key, new, next_key_commitment(store.next_key), now=now)
    store.save()
    click.echo(json.dumps({"did": store.did, "kid": f"{store.did}#{new}", "retired": f"{store.did}#{old}"}))
    click.echo(f"Set CIVICID_ISSUER_KID={store.did}#{new} and restart the service", err=True)


@cli.command()
@keystore_option
@passphrase_option
@registry_option
@click.option("--compromised-since", type=int, required=True, help="Unix time from which the active key is considered stolen.")
@domain_errors
def recover(keystore: str, passphrase: str, registry_url: str, compromised_since: int) -> None:
    """Recovery after compromise: replace every key through the recovery key."""
    from .errors import KeystoreError
    from .keys import Keystore, next_key_commitment
    from .registration import registrar_for

    store = Keystore.open(keystore, passphrase)
    if not store.did:
        raise KeystoreError("the keystore has no DID; run `civicid issuer init` first")
    registrar = registrar_for(registry_url)
    recovery_key = store.recovery_key
    now = _now()
    compromised, new = store.recover(now=now)
    registrar.recover(store.did, recovery_key, compromised, compromised_since, store.signing_key(new), new,
                      store.recovery_key.public_key(), next_key_commitment(store.next_key), now=now)
    store.save()
    click.echo(json.dumps({"did": store.did, "kid": f"{store.did}#{new}", "compromised": [f"{store.did}#{k}" for k in compromised]}))


def main() -> None:  # pragma: no cover - `python -m issuer.cli`
    cli(prog_name="civicid issuer")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
