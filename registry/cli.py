"""``civicid registry ...``: run the registry, a witness, and operate on the ledger.

Keys are 32-byte Ed25519 seed files (``--key``), never command-line values.
Ledger operations are built and signed locally, then submitted over HTTP, so
the same commands work against any registry node.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any, NoReturn

import click

__all__ = ["cli"]


def _fail(message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


def _seed(path: str) -> bytes:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        _fail(f"cannot read the key file {path} ({exc.strerror})")
    if len(data) != 32:
        _fail(f"the key file {path} must hold exactly 32 bytes (an Ed25519 seed)")
    return data


def _keyspec(path: str, kid: str) -> Any:
    from registry.did import KeySpec
    from sdjwt import Ed25519PrivateKey

    return KeySpec(kid, Ed25519PrivateKey(_seed(path)))


def _submit(registry_url: str, entry: Any, as_json: bool) -> None:
    from registry.client import submit_entry
    from registry.errors import RegistryError

    try:
        receipt = submit_entry(registry_url, entry.raw)
    except RegistryError as exc:
        _fail(exc.message)
    if as_json:
        click.echo(json.dumps({**receipt, "entry": entry.hash}))
    else:
        click.echo(f"accepted as entry {receipt['seq']} (hash {receipt['hash']})")


registry_option = click.option(
    "--registry", "registry_url", envvar="CIVICID_REGISTRY_URL", default="http://127.0.0.1:8700",
    show_default=True, help="Base URL of a registry node.",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")


@click.group(name="registry")
def cli() -> None:
    """The DID registry ledger: a witnessed Merkle transparency log of issuers, keys and accreditations."""


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, envvar="CIVICID_REGISTRY_HOST")
@click.option("--port", default=8700, show_default=True, type=click.IntRange(1, 65535), envvar="CIVICID_REGISTRY_PORT")
@click.option("--db", envvar="CIVICID_REGISTRY_DB", help="SQLite path or postgresql:// URL (default: instance/registry/registry.db).")
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64))
@click.option("--read-only", is_flag=True, envvar="CIVICID_REGISTRY_READ_ONLY",
              help="Serve a mirror's database: reads only, no sequencing, no checkpoints of its own.")
@click.option("--policy", "policy_file", envvar="CIVICID_REGISTRY_POLICY_FILE", type=click.Path(exists=True, dir_okay=False),
              help="With --read-only: the primary's pinned trust policy.")
def serve(host: str, port: int, db: str | None, workers: int, read_only: bool, policy_file: str | None) -> None:
    """Serve the registry with gunicorn."""
    from registry.app import create_app
    from registry.serving import run_gunicorn

    if db:
        os.environ["CIVICID_REGISTRY_DB"] = db
    if read_only:
        if not policy_file:
            _fail("--read-only needs --policy, the primary's trust policy file")
        os.environ["CIVICID_REGISTRY_READ_ONLY"] = "true"
        os.environ["CIVICID_REGISTRY_POLICY_FILE"] = policy_file
    run_gunicorn(create_app, host=host, port=port, workers=workers)


@cli.command()
@click.option("--primary", required=True, envvar="CIVICID_MIRROR_PRIMARY", help="Base URL of the primary registry.")
@click.option("--db", required=True, envvar="CIVICID_MIRROR_DB", help="The mirror's own database (SQLite path or URL).")
@click.option("--policy", "policy_file", required=True, type=click.Path(exists=True, dir_okay=False),
              help="The pinned trust policy JSON (origin, log vkey, witnesses, quorum, roots).")
@click.option("--interval", default=5.0, show_default=True, type=click.FloatRange(0.1, 3600))
@click.option("--once", is_flag=True, help="Sync once and exit (for cron and tests).")
@json_option
def mirror(primary: str, db: str, policy_file: str, interval: float, once: bool, as_json: bool) -> None:
    """Follow a primary over C2SP tlog-tiles, re-verifying every entry and the tree (serve it with --read-only)."""
    from registry.bundle import TrustPolicy
    from registry.errors import RegistryError
    from registry.mirror import Mirror, http_fetch
    from registry.storage import Database, LogStore

    try:
        policy = TrustPolicy.from_json(json.loads(Path(policy_file).read_text(encoding="utf-8")))
        follower = Mirror(LogStore(Database(db)), origin=policy.origin, log_verifier=policy.log, cosigners=policy.witnesses,
                          quorum=policy.quorum, roots=policy.roots, fetch=http_fetch(primary))
    except (RegistryError, ValueError) as exc:
        _fail(f"cannot start the mirror: {exc}")
    while True:
        try:
            status = follower.sync()
            line = {"size": status.size, "appended": status.appended}
            click.echo(json.dumps(line) if as_json else f"mirrored {status.size} entries (+{status.appended})")
        except RegistryError as exc:
            # A fork or rollback is evidence: say so loudly, keep what is already verified, keep trying.
            click.echo(f"error: {exc}", err=True)
            if once:
                sys.exit(1)
        if once:
            return
        time.sleep(interval)


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8710, show_default=True, type=click.IntRange(1, 65535))
@click.option("--db", envvar="CIVICID_WITNESS_DB", help="SQLite path or postgresql:// URL.")
@click.option("--name", envvar="CIVICID_WITNESS_NAME", required=True, help="The witness's key name, e.g. witness.finance.gov.example.")
@click.option("--log", "logs", multiple=True, required=True, help="'<origin> <log vkey>' of a log to witness (repeatable).")
def witness(host: str, port: int, db: str | None, name: str, logs: tuple[str, ...]) -> None:
    """Run a C2SP tlog-witness for other departments' logs."""
    from registry.app import create_witness_app
    from registry.serving import run_gunicorn

    os.environ["CIVICID_WITNESS_NAME"] = name
    os.environ["CIVICID_WITNESS_LOGS"] = ";".join(logs)
    if db:
        os.environ["CIVICID_WITNESS_DB"] = db
    # One worker: the witness's state is small and its updates must serialise anyway.
    run_gunicorn(create_witness_app, host=host, port=port, workers=1)


@cli.command()
@click.argument("path")
def keygen(path: str) -> None:
    """Write a new Ed25519 key seed to PATH (mode 0600) and print its public multikey."""
    import nacl.utils

    from sdjwt import Ed25519PrivateKey
    from sdjwt.did_key import multibase_from_key

    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        _fail(f"{path} exists; refusing to overwrite a key")
    except OSError as exc:
        _fail(f"cannot create {path} ({exc.strerror})")
    seed = nacl.utils.random(32)
    with os.fdopen(fd, "wb") as handle:
        handle.write(seed)
    click.echo(multibase_from_key(Ed25519PrivateKey(seed).public_key()))


@cli.group()
def did() -> None:
    """Create, update, recover and deactivate did:civic identifiers."""


@did.command("create")
@click.option("--key", "key_path", required=True, help="Seed file of the first key (kid key-1).")
@click.option("--next-key", "next_keys", multiple=True, required=True, help="Seed file of a pre-rotation recovery key.")
@click.option("--service", "services", multiple=True, help="'<id> <type> <endpoint>' (repeatable).")
@click.option("--out", "out_file", help="Write the signed entry to this file instead of submitting it (offline signing).")
@registry_option
@json_option
def did_create(key_path: str, next_keys: tuple[str, ...], services: tuple[str, ...], out_file: str | None,
               registry_url: str, as_json: bool) -> None:
    """Create a DID with a self-certifying id and a pre-rotation commitment."""
    from registry.did import Service, create_op
    from registry.errors import RegistryError
    from sdjwt import Ed25519PrivateKey

    try:
        parsed = [Service(*s.split(" ", 2)) for s in services]
        entry, new_did = create_op(
            [_keyspec(key_path, "key-1")], parsed, [Ed25519PrivateKey(_seed(n)).public_key() for n in next_keys], int(time.time())
        )
    except (TypeError, ValueError, RegistryError) as exc:
        _fail(f"cannot build the operation: {exc}")
    if out_file:
        Path(out_file).write_bytes(entry.raw)
        click.echo(json.dumps({"did": new_did, "entry": entry.hash}) if as_json else new_did)
        return
    if not as_json:
        click.echo(new_did)
    _submit(registry_url, entry, as_json)


@cli.command()
@click.argument("entry_file", type=click.Path(exists=True, dir_okay=False))
@registry_option
@json_option
def submit(entry_file: str, registry_url: str, as_json: bool) -> None:
    """Submit a signed entry prepared offline (for example by `did create --out`)."""
    from registry.entry import Entry
    from registry.errors import RegistryError

    try:
        entry = Entry.from_bytes(Path(entry_file).read_bytes())
    except RegistryError as exc:
        _fail(f"{entry_file} is not a valid signed entry: {exc}")
    _submit(registry_url, entry, as_json)


def _head(registry_url: str, did_: str, wait: float = 10.0) -> tuple[str, int]:
    """The hash and time of the DID's latest operation, waiting briefly for a fresh one to be witnessed."""
    from registry.state import parse_time

    import urllib.error
    import urllib.request

    deadline = time.time() + wait
    while True:
        try:
            with urllib.request.urlopen(f"{registry_url.rstrip('/')}/1.0/identifiers/{did_}", timeout=10) as response:
                data = json.loads(response.read(4 * 1024 * 1024))
            metadata = data["didDocumentMetadata"]
            return str(metadata["versionId"]).partition("-")[2], parse_time(metadata["versionTime"])
        except urllib.error.HTTPError as exc:
            if exc.code != 404 or time.time() > deadline:
                _fail(f"cannot resolve {did_} to find its latest version (HTTP {exc.code})")
        except (OSError, ValueError, KeyError) as exc:
            _fail(f"cannot resolve {did_} to find its latest version ({type(exc).__name__})")
        time.sleep(0.2)


@did.command("update")
@click.argument("did_")
@click.option("--key", "key_path", required=True, help="Seed file of a current key.")
@click.option("--kid", default="key-1", show_default=True)
@click.option("--new-key", "new_key", required=True, help="Seed file of the key to rotate to.")
@click.option("--new-kid", required=True)
@registry_option
@json_option
def did_update(did_: str, key_path: str, kid: str, new_key: str, new_kid: str, registry_url: str, as_json: bool) -> None:
    """Rotate to a new key (the old one stops being valid from now; older credentials keep verifying)."""
    from registry.did import update_op

    signer = _keyspec(key_path, kid)
    head, head_time = _head(registry_url, did_)
    entry = update_op(did_, head, signer, [_keyspec(new_key, new_kid)], [], max(int(time.time()), head_time + 1))
    _submit(registry_url, entry, as_json)


@did.command("recover")
@click.argument("did_")
@click.option("--recovery-key", required=True, help="Seed file of a committed next key.")
@click.option("--kid", required=True, help="kid the recovery key will have.")
@click.option("--next-key", "next_keys", multiple=True, required=True, help="Seed file of a new recovery key.")
@click.option("--compromised-from", type=int, help="Unix time from which the old keys are compromised.")
@registry_option
@json_option
def did_recover(did_: str, recovery_key: str, kid: str, next_keys: tuple[str, ...], compromised_from: int | None,
                registry_url: str, as_json: bool) -> None:
    """Take back a DID with a pre-committed key, optionally marking old keys compromised."""
    from registry.did import recover_op
    from sdjwt import Ed25519PrivateKey

    spec = _keyspec(recovery_key, kid)
    head, head_time = _head(registry_url, did_)
    entry = recover_op(did_, head, spec, [spec], [], [Ed25519PrivateKey(_seed(n)).public_key() for n in next_keys],
                       max(int(time.time()), head_time + 1), compromised_from)
    _submit(registry_url, entry, as_json)


@did.command("deactivate")
@click.argument("did_")
@click.option("--key", "key_path", required=True)
@click.option("--kid", default="key-1", show_default=True)
@registry_option
@json_option
def did_deactivate(did_: str, key_path: str, kid: str, registry_url: str, as_json: bool) -> None:
    """Deactivate a DID for good."""
    from registry.did import deactivate_op

    head, head_time = _head(registry_url, did_)
    _submit(registry_url, deactivate_op(did_, head, _keyspec(key_path, kid), max(int(time.time()), head_time + 1)), as_json)


@cli.command()
@click.argument("subject")
@click.option("--as", "grantor", required=True, help="The granting DID (a root or an accredited authority).")
@click.option("--key", "key_path", required=True)
@click.option("--kid", default="key-1", show_default=True)
@click.option("--vct", "vcts", multiple=True, help="A credential type (repeatable: one grant each).")
@click.option("--vct-prefix", help="A vct prefix, for broad grants.")
@click.option("--action", "actions", multiple=True, type=click.Choice(["issue", "accredit"]), default=("issue",))
@click.option("--days", default=365, show_default=True, type=click.IntRange(1, 36500))
@click.option("--max-depth", default=0, show_default=True, type=click.IntRange(0, 8))
@registry_option
@json_option
def accredit(subject: str, grantor: str, key_path: str, kid: str, vcts: tuple[str, ...], vct_prefix: str | None,
             actions: tuple[str, ...], days: int, max_depth: int, registry_url: str, as_json: bool) -> None:
    """Grant SUBJECT the right to issue (or accredit) a credential type."""
    from registry.accreditation import grant_op

    now = int(time.time())
    if bool(vcts) == bool(vct_prefix):
        _fail("give --vct (one or more) or --vct-prefix")
    signer = _keyspec(key_path, kid)
    scopes: list[dict[str, str]] = [{"vct": v} for v in vcts] or [{"vct_prefix": str(vct_prefix)}]
    for scope in scopes:
        try:
            entry = grant_op(grantor, signer, subject, **scope, actions=actions, valid_from=now,
                             valid_until=now + days * 86400, max_depth=max_depth, time=now)
        except ValueError as exc:
            _fail(str(exc))
        _submit(registry_url, entry, as_json)


@cli.command()
@click.argument("grant")
@click.option("--as", "author", required=True)
@click.option("--key", "key_path", required=True)
@click.option("--kid", default="key-1", show_default=True)
@registry_option
@json_option
def withdraw(grant: str, author: str, key_path: str, kid: str, registry_url: str, as_json: bool) -> None:
    """Withdraw the grant with entry hash GRANT (effective now)."""
    from registry.accreditation import withdraw_op

    _submit(registry_url, withdraw_op(author, _keyspec(key_path, kid), grant, int(time.time())), as_json)


@cli.command("publish-type")
@click.argument("metadata_file", type=click.Path(exists=True, dir_okay=False))
@click.option("--as", "author", required=True)
@click.option("--key", "key_path", required=True)
@click.option("--kid", default="key-1", show_default=True)
@registry_option
@json_option
def publish_type(metadata_file: str, author: str, key_path: str, kid: str, registry_url: str, as_json: bool) -> None:
    """Publish (a new version of) SD-JWT VC type metadata."""
    from registry.credential_type import publish_op
    from registry.errors import RegistryError

    try:
        metadata = json.loads(Path(metadata_file).read_text(encoding="utf-8"))
        entry = publish_op(author, _keyspec(key_path, kid), metadata, int(time.time()))
    except (ValueError, RegistryError) as exc:
        _fail(f"{metadata_file} is not valid type metadata: {exc}")
    _submit(registry_url, entry, as_json)


@cli.group()
def log() -> None:
    """Read and audit the log."""


@log.command("checkpoint")
@registry_option
def log_checkpoint(registry_url: str) -> None:
    """Print the latest witnessed checkpoint."""
    import urllib.request

    try:
        with urllib.request.urlopen(registry_url.rstrip("/") + "/checkpoint", timeout=10) as response:
            click.echo(response.read(128 * 1024).decode("utf-8"), nl=False)
    except OSError as exc:
        _fail(f"cannot fetch the checkpoint ({type(exc).__name__})")


@log.command("proof")
@click.argument("seq", type=click.IntRange(0))
@click.option("--size", type=click.IntRange(1), required=True)
@click.option("--db", required=True, envvar="CIVICID_REGISTRY_DB", help="The registry's database.")
def log_proof(seq: int, size: int, db: str) -> None:
    """Print the inclusion proof of entry SEQ in the tree of SIZE (base64 hashes, one a line)."""
    import base64

    from registry.errors import RegistryError
    from registry.merkle import inclusion_proof
    from registry.storage import Database, LogStore

    try:
        store = LogStore(Database(db))
        if size > store.size():
            _fail(f"the log has only {store.size()} entries")
        for h in inclusion_proof(seq, size, store):
            click.echo(base64.b64encode(h).decode())
    except (RegistryError, ValueError) as exc:
        _fail(str(exc))


@log.command("audit")
@click.option("--db", required=True, envvar="CIVICID_REGISTRY_DB", help="The registry's database (SQLite path or URL).")
@click.option("--origin", required=True, envvar="CIVICID_REGISTRY_ORIGIN")
@click.option("--log-vkey", required=True, help="The log's verifier key.")
@click.option("--root", "roots", multiple=True, help="Root authority DID (repeatable).")
@click.option("--witness", "witnesses", multiple=True, help="A witness's cosignature vkey (repeatable).")
@click.option("--quorum", default=0, show_default=True, type=click.IntRange(0), help="Cosignatures each checkpoint must carry.")
@json_option
def log_audit(db: str, origin: str, log_vkey: str, roots: tuple[str, ...], witnesses: tuple[str, ...], quorum: int,
              as_json: bool) -> None:
    """Replay the whole log from scratch and report the first bad entry, node or checkpoint."""
    from registry.audit import audit
    from registry.checkpoint import CosignatureVerifier, Ed25519Verifier
    from registry.errors import RegistryError
    from registry.storage import Database, LogStore

    try:
        report = audit(LogStore(Database(db)), origin=origin, log_verifier=Ed25519Verifier.from_vkey(log_vkey), roots=roots,
                       cosigners=[CosignatureVerifier.from_vkey(w) for w in witnesses], quorum=quorum)
    except (RegistryError, ValueError) as exc:
        _fail(str(exc))
    if as_json:
        click.echo(json.dumps({"ok": report.ok, "size": report.size, "first_error": str(report.first_error) if report.first_error else None}))
    elif report.ok:
        click.echo(f"ok: {report.size} entries, every signature, rule and tree hash checks out")
    else:
        click.echo(f"FAILED at {report.first_error}", err=True)
    if not report.ok:
        sys.exit(1)


# `civicid registry audit` is the name the issue uses; it is the same command.
cli.add_command(log_audit, name="audit")
