"""``civicid wallet ...`` (also ``python -m wallet``): the citizen's wallet.

This module does terminal I/O only: it reads options, prompts and prints, and
calls the domain modules (:mod:`wallet.store`, :mod:`wallet.issuance`,
:mod:`wallet.presentation`, :mod:`wallet.qr`, ...). Those are imported inside
the commands, so ``civicid wallet --help`` imports nothing but click.

Data goes to stdout (``--json`` for scripts), messages to stderr. A
:class:`wallet.errors.WalletError` becomes one line ``error: <code>: <message>``
and exit status 1; usage errors exit 2; ``--verbose`` adds the traceback.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, Callable, NoReturn

import click

PASSPHRASE_ENV = "CIVICID_WALLET_PASSPHRASE"
NEW_PASSPHRASE_ENV = "CIVICID_WALLET_NEW_PASSPHRASE"
BACKUP_PASSPHRASE_ENV = "CIVICID_WALLET_BACKUP_PASSPHRASE"
DEFAULT_QR_AUDIENCE = "urn:civicid:offline-counter"
"""The KB-JWT ``aud`` of ``show-qr`` presentations when ``--audience`` is not given."""


class _Settings:
    def __init__(self, home: Path, verbose: bool, insecure_loopback: bool, registry: str | None, trust: str | None) -> None:
        self.home = home
        self.verbose = verbose
        self.insecure_loopback = insecure_loopback
        self.registry = registry
        self.trust_file = trust

    def http(self) -> Any:
        from .transport import Http

        return Http(allow_loopback_http=self.insecure_loopback)

    def trust(self) -> Any:
        from .trust import load_trust

        return load_trust(self.registry, self.trust_file)

    def trust_configured(self) -> bool:
        return bool(self.registry or self.trust_file)


def _fail(message: str) -> NoReturn:
    click.echo(message, err=True)
    sys.exit(1)


class _WalletGroup(click.Group):
    """Turns every domain error into one line on stderr and exit status 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort, SystemExit):
            raise
        except KeyboardInterrupt:
            click.echo("interrupted; nothing more was done", err=True)
            sys.exit(130)
        except Exception as exc:  # Hostile input must never end in a traceback.
            settings = ctx.obj if isinstance(ctx.obj, _Settings) else None
            verbose = settings.verbose if settings else bool(ctx.params.get("verbose"))
            if verbose:
                import traceback

                traceback.print_exc()
            code = getattr(exc, "code", None)
            if isinstance(code, str) and hasattr(exc, "message"):
                _fail(f"error: {code}: {exc}")
            _fail(f"error: internal_error: {type(exc).__name__} (run with --verbose for details)")


def _default_home() -> str:
    from .store import default_home

    return str(default_home())


@click.group(name="wallet", cls=_WalletGroup)
@click.option("--home", type=click.Path(file_okay=False, path_type=Path), envvar="CIVICID_WALLET_HOME",
              default=None, help="Wallet directory [env CIVICID_WALLET_HOME; default: the user's application directory].")
@click.option("--registry", envvar="CIVICID_WALLET_REGISTRY", default=None, metavar="URL",
              help="DID registry to check issuers and verifiers against [env CIVICID_WALLET_REGISTRY].")
@click.option("--trust", "trust_file", envvar="CIVICID_WALLET_TRUST", default=None, metavar="FILE",
              help="Offline trust snapshot (JSON) instead of a registry [env CIVICID_WALLET_TRUST].")
@click.option("--insecure-loopback", is_flag=True, envvar="CIVICID_WALLET_INSECURE_LOOPBACK",
              help="Allow plain http to 127.0.0.1/localhost (tests and demos only).")
@click.option("--verbose", "-v", is_flag=True, help="Show tracebacks for errors.")
@click.pass_context
def cli(ctx: click.Context, home: Path | None, registry: str | None, trust_file: str | None,
        insecure_loopback: bool, verbose: bool) -> None:
    """The citizen's wallet: receive, keep and present credentials, by QR code or link.

    The passphrase is prompted without echo, or read from CIVICID_WALLET_PASSPHRASE.
    """
    ctx.obj = _Settings(Path(home) if home else Path(_default_home()), verbose, insecure_loopback, registry, trust_file)


def _settings(ctx: click.Context) -> _Settings:
    obj = ctx.find_object(_Settings)
    assert obj is not None
    return obj


def _passphrase(env: str = PASSPHRASE_ENV, prompt: str = "Wallet passphrase", confirm: bool = False) -> str:
    value = os.environ.get(env)
    if value:
        return value
    value = click.prompt(prompt, hide_input=True, confirmation_prompt=confirm, err=True)
    if not value:
        raise click.UsageError("the passphrase must not be empty")
    return str(value)


def _open(ctx: click.Context) -> Any:
    from .store import Store

    return Store.open(_settings(ctx).home, _passphrase())


def _lang(lang: str | None) -> str:
    if lang:
        return lang
    env = os.environ.get("LC_ALL") or os.environ.get("LANG") or ""
    return "zh-CN" if env.lower().startswith("zh") else "en"


_lang_option = click.option("--lang", type=click.Choice(["en", "zh-CN"]), envvar="CIVICID_WALLET_LANG", default=None,
                            help="Language of labels [env CIVICID_WALLET_LANG; default from LANG].")
_json_option = click.option("--json", "as_json", is_flag=True, help="Machine-readable JSON on stdout.")


def _print_json(value: Any) -> None:
    click.echo(json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True))


def _fmt_time(value: Any) -> str:
    import datetime

    if not isinstance(value, int) or isinstance(value, bool):
        return "-"
    return datetime.datetime.fromtimestamp(value, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


# -- store -------------------------------------------------------------------


@cli.command()
@click.pass_context
def init(ctx: click.Context) -> None:
    """Create a new, empty wallet protected by a passphrase."""
    from .store import Store

    home = _settings(ctx).home
    from .errors import WalletExists
    from .store import WALLET_FILE

    if (home / WALLET_FILE).exists():
        raise WalletExists(f"a wallet already exists at {home}")
    with Store.create(home, _passphrase(confirm=True, prompt="New wallet passphrase")):
        pass
    click.echo(f"created a wallet at {home}", err=True)


@cli.command(name="change-passphrase")
@click.pass_context
def change_passphrase(ctx: click.Context) -> None:
    """Re-encrypt the wallet under a new passphrase."""
    with _open(ctx) as store:
        store.change_passphrase(_passphrase(NEW_PASSPHRASE_ENV, "New wallet passphrase", confirm=True))
    click.echo("passphrase changed", err=True)


@cli.command()
@click.argument("destination", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
@click.pass_context
def backup(ctx: click.Context, destination: Path, force: bool) -> None:
    """Write an encrypted backup that restores on another machine.

    It is protected by a backup passphrase (prompted, or CIVICID_WALLET_BACKUP_PASSPHRASE).
    """
    if destination.exists() and not force:
        raise click.UsageError(f"{destination} exists; pass --force to overwrite it")
    with _open(ctx) as store:
        store.export_backup(destination, _passphrase(BACKUP_PASSPHRASE_ENV, "Backup passphrase", confirm=True))
    click.echo(f"backup written to {destination}", err=True)


@cli.command()
@click.argument("source", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace an existing wallet in --home.")
@click.pass_context
def restore(ctx: click.Context, source: Path, force: bool) -> None:
    """Restore a wallet from a backup file (asks for the backup passphrase, then the wallet's)."""
    from .errors import WalletExists
    from .store import WALLET_FILE, Store

    home = _settings(ctx).home
    if (home / WALLET_FILE).exists() and not force:
        raise WalletExists(f"a wallet already exists at {home}")
    contents = Store.read_backup(source, _passphrase(BACKUP_PASSPHRASE_ENV, "Backup passphrase"))
    with Store.create(home, _passphrase(confirm=True, prompt="New wallet passphrase"), contents=contents, replace=force):
        pass
    click.echo(f"restored {len(contents['credentials'])} credential(s) to {home}", err=True)


# -- looking -----------------------------------------------------------------


def _status_fn(ctx: click.Context, offline: bool) -> Callable[[dict[str, Any]], str]:
    from .credentials import live_status

    settings = _settings(ctx)
    if offline or not settings.trust_configured():
        return lambda record: live_status(record, http=None, trust=None)
    http, trust = settings.http(), settings.trust()
    return lambda record: live_status(record, http=http, trust=trust)


@cli.command(name="list")
@_lang_option
@_json_option
@click.option("--offline", is_flag=True, help="Do not fetch live status.")
@click.pass_context
def list_(ctx: click.Context, lang: str | None, as_json: bool, offline: bool) -> None:
    """List credentials: type, issuer, validity and live status."""
    from .credentials import summary

    lang = _lang(lang)
    with _open(ctx) as store:
        records = list(store.credentials)
    status = _status_fn(ctx, offline)
    rows = [summary(r, lang, status(r)) for r in records]
    if as_json:
        _print_json(rows)
        return
    if not rows:
        click.echo("no credentials yet; receive one with `civicid wallet receive`", err=True)
        return
    for row in rows:
        click.echo(f"{row['id']}  {row['type']}  {row['issuer']}  {row['status']}  "
                   f"until {_fmt_time(row['expires_at'])}  copies {row['unused_copies']}/{row['copies']} unused")


@cli.command()
@click.argument("credential_id")
@_lang_option
@_json_option
@click.option("--offline", is_flag=True, help="Do not fetch live status.")
@click.pass_context
def show(ctx: click.Context, credential_id: str, lang: str | None, as_json: bool, offline: bool) -> None:
    """Show one credential's claims with their labels."""
    from .credentials import claim_rows, find, path_text, summary

    lang = _lang(lang)
    with _open(ctx) as store:
        record = find(store.credentials, credential_id)
    info = summary(record, lang, _status_fn(ctx, offline)(record))
    rows = claim_rows(record, lang)
    if as_json:
        info["claims"] = [{"path": list(r.path), "label": r.label, "value": r.value,
                           "selectively_disclosable": r.selectively_disclosable} for r in rows]
        _print_json(info)
        return
    click.echo(f"{info['type']}  ({info['id']})")
    click.echo(f"  issuer:  {info['issuer']}  [{info['issuer_did']}]")
    click.echo(f"  valid:   {_fmt_time(info['issued_at'])} to {_fmt_time(info['expires_at'])}")
    click.echo(f"  status:  {info['status']}")
    click.echo(f"  copies:  {info['unused_copies']} unused of {info['copies']}")
    for row in rows:
        value = row.value if isinstance(row.value, str) else json.dumps(row.value, ensure_ascii=False)
        mark = "" if row.selectively_disclosable else "  (always shown)"
        click.echo(f"  {row.label}: {value}{mark}   [{path_text(row.path)}]")


@cli.command()
@_json_option
@click.pass_context
def history(ctx: click.Context, as_json: bool) -> None:
    """What was disclosed to whom and when (kept only in this wallet)."""
    with _open(ctx) as store:
        entries = list(store.history)
    if as_json:
        _print_json(entries)
        return
    if not entries:
        click.echo("nothing has been disclosed yet", err=True)
    for entry in entries:
        claims = ", ".join(entry.get("disclosed", [])) or "-"
        click.echo(f"{_fmt_time(entry.get('at'))}  {entry.get('outcome')}  to {entry.get('verifier_name')} "
                   f"[{entry.get('verifier')}]  {entry.get('credential_type')}: {claims}  ({entry.get('channel')})")


# -- receiving -------------------------------------------------------------


@cli.command()
@click.argument("offer", required=False)
@click.option("--qr", "qr_image", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A photo or screenshot of the offer's QR code.")
@click.option("--pin", envvar="CIVICID_WALLET_PIN", default=None,
              help="The transaction code (PIN) from the office [env CIVICID_WALLET_PIN]; prompted when needed.")
@click.option("--copies", type=click.IntRange(1, 20), default=5, show_default=True,
              help="How many single-use copies to ask for (each with its own key).")
@_lang_option
@_json_option
@click.pass_context
def receive(ctx: click.Context, offer: str | None, qr_image: Path | None, pin: str | None, copies: int,
            lang: str | None, as_json: bool) -> None:
    """Receive a credential from an openid-credential-offer:// or https:// OFFER link, or --qr IMAGE."""
    import secrets
    import time

    from .credentials import summary, type_name
    from .issuance import receive as run_receive
    from .offer import TxCode, parse_offer_link, resolve_offer

    if (offer is None) == (qr_image is None):
        raise click.UsageError("give either an OFFER link or --qr IMAGE")
    if qr_image is not None:
        from .qr import decode_image

        offer = decode_image(qr_image)
    settings = _settings(ctx)
    lang = _lang(lang)
    http = settings.http()
    trust = settings.trust()
    # Open (and lock) the wallet first: a wrong passphrase must not spend the one-time offer.
    with _open(ctx) as store:
        parsed = resolve_offer(parse_offer_link(offer, allow_loopback_http=settings.insecure_loopback), http)

        def ask_pin(tx_code: TxCode, remaining: int | None) -> str:
            if pin is not None and remaining is None:
                return pin
            if remaining is not None:
                click.echo(f"The PIN was wrong; {remaining} attempt(s) left.", err=True)
            hint = f" ({tx_code.description})" if tx_code.description else ""
            size = f"{tx_code.length}-{'digit' if tx_code.input_mode == 'numeric' else 'character'} " if tx_code.length else ""
            return str(click.prompt(f"Enter the {size}PIN the office gave you{hint}", hide_input=True, err=True))

        interactive = pin is None and sys.stdin.isatty()
        received = run_receive(parsed, http=http, trust=trust, ask_pin=ask_pin, copies=copies,
                               max_pin_tries=3 if interactive else 1)
        now = int(time.time())
        records = []
        for item in received:
            existing = {r["id"] for r in store.credentials}
            credential_id = secrets.token_hex(4)
            while credential_id in existing:
                credential_id = secrets.token_hex(4)
            record = item.to_record(credential_id, now)
            store.credentials.append(record)
            records.append(record)
        store.save()
    for record in records:
        click.echo(f"received {type_name(record, lang)} ({len(record['copies'])} copies), id {record['id']}", err=True)
    if as_json:
        _print_json([summary(r, lang, "valid") for r in records])
    else:
        for record in records:
            click.echo(record["id"])


# -- presenting --------------------------------------------------------------


def _history_entry(*, verifier: str, client_id: str, name: str | None, purpose: str, record: dict[str, Any],
                   disclosed: list[str], channel: str, outcome: str, lang: str) -> dict[str, Any]:
    import time

    from .credentials import type_name

    return {"at": int(time.time()), "verifier": verifier, "client_id": client_id, "verifier_name": name or "-",
            "purpose": purpose, "credential_id": record.get("id"), "credential_type": type_name(record, lang),
            "disclosed": disclosed, "channel": channel, "outcome": outcome}


@cli.command()
@click.argument("request", required=False)
@click.option("--qr", "qr_image", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A photo or screenshot of the verifier's QR code.")
@click.option("--yes", is_flag=True, help="Consent without asking (for scripts).")
@click.option("--allow-reuse", is_flag=True, help="Reuse a copy already shown elsewhere when none is unused (linkable).")
@click.option("--show-qr", is_flag=True,
              help="Offline counter: show the answer as a QR code for the counter to scan instead of sending it.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="With --show-qr: also write the QR code to this .png or .svg file.")
@_lang_option
@_json_option
@click.pass_context
def present(ctx: click.Context, request: str | None, qr_image: Path | None, yes: bool, allow_reuse: bool,
            show_qr: bool, out: Path | None, lang: str | None, as_json: bool) -> None:
    """Answer an openid4vp:// REQUEST link (or --qr IMAGE) after showing what is asked and asking consent.

    The request may come by reference (request_uri, fetched) or by value (request=, as an offline
    counter's QR code holds it). With --show-qr nothing is sent: the answer is shown as a QR code.
    """
    import time

    from .credentials import issuer_name, type_name
    from .errors import ConsentDeclined, NoMatchingCredential, WalletError
    from .presentation import (
        build_vp_token,
        choose_copy,
        consent_text,
        fetch_request,
        parse_request_link,
        plan,
        send_decline,
        send_response,
    )

    if (request is None) == (qr_image is None):
        raise click.UsageError("give either a REQUEST link or --qr IMAGE")
    if out is not None and not show_qr:
        raise click.UsageError("--out goes with --show-qr")
    if show_qr and as_json and out is None:
        raise click.UsageError("--show-qr --json needs --out FILE: the QR code cannot be shown inside JSON")
    if out is not None and out.suffix.lower() not in (".png", ".svg"):
        raise click.UsageError("--out must end in .png or .svg")
    if qr_image is not None:
        from .qr import decode_image

        request = decode_image(qr_image)
    settings = _settings(ctx)
    lang = _lang(lang)
    http, trust = settings.http(), settings.trust()
    link = parse_request_link(request, allow_loopback_http=settings.insecure_loopback)
    with _open(ctx) as store:
        auth = fetch_request(link, http=http, trust=trust)
        items = plan(auth, store.credentials, lang)
        if not items:
            raise NoMatchingCredential("no credential in the wallet answers the verifier's request")
        # Pick the copies first: if none may be used, say so before asking for consent.
        chosen = [(item.match, choose_copy(item.match.record, auth.client_id, allow_reuse=allow_reuse)) for item in items]
        click.echo(consent_text(auth, items, lang, type_name, issuer_name), err=True)
        purpose = auth.purpose_text(lang)

        def log(outcome: str) -> dict[str, Any]:
            entry: dict[str, Any] = {}
            for item in items:
                entry = _history_entry(verifier=auth.verifier_did, client_id=auth.client_id, name=auth.client_name,
                                       purpose=purpose, record=dict(item.match.record),
                                       disclosed=item.disclosed if outcome != "declined" else [],
                                       channel="qr" if show_qr else "online", outcome=outcome, lang=lang)
                store.history.append(entry)
            return entry

        if not yes and not click.confirm("Disclose these claims to this verifier?", default=False, err=True):
            if not show_qr:  # Offline: there is nobody to tell.
                send_decline(auth, http)
            log("declined")
            store.save()
            raise ConsentDeclined("you declined the request")
        if show_qr:
            _present_as_qr(store, auth, chosen, log, out, as_json)
            return
        # Mark the copies used and log the disclosure *before* sending, so that a crash or
        # a lost answer never leaves a copy that reached a verifier looking unused.
        for _, copy in chosen:
            if auth.client_id not in copy["used_by"]:
                copy["used_by"].append(auth.client_id)
        log("sent")
        store.save()
        vp_token = build_vp_token(auth, chosen, int(time.time()))
        try:
            answer = send_response(auth, vp_token, http)
        except WalletError as exc:
            for entry in store.history[-len(items):]:
                entry["outcome"] = f"failed: {exc.code}"
            store.save()
            raise
        for entry in store.history[-len(items):]:
            entry["outcome"] = "accepted"
        store.save()
    click.echo("the verifier accepted the presentation", err=True)
    result = {"accepted": True, "verifier": auth.verifier_did, "redirect_uri": answer.redirect_uri,
              "answer": dict(answer.details)}
    if as_json:
        _print_json(result)
    else:
        for key, value in answer.details.items():
            click.echo(f"{key}: {value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)}")
        if answer.redirect_uri:
            click.echo(f"continue at: {answer.redirect_uri}")


def _present_as_qr(store: Any, auth: Any, chosen: list[Any], log: Callable[[str], dict[str, Any]], out: Path | None,
                   as_json: bool) -> None:
    """``present --show-qr``: the vp_token as a QR code for an offline counter; nothing goes over the network."""
    import time

    from .errors import QRTooLarge
    from .presentation import build_vp_token, vp_token_text
    from .qr import make_qr, save_qr, terminal_text

    text = vp_token_text(build_vp_token(auth, chosen, int(time.time())))
    try:
        code = make_qr(text)  # Raises QRTooLarge before any copy is marked or anything logged.
    except QRTooLarge as exc:
        exc.hint = "the verifier asks for more than a QR code holds; present online (without --show-qr) instead"
        raise
    if out is not None:
        save_qr(code, out)  # Written (or OutputError) before any copy is marked used.
    for _, copy in chosen:
        if auth.client_id not in copy["used_by"]:
            copy["used_by"].append(auth.client_id)
    entry = log("shown")
    store.save()
    if out is not None:
        click.echo(f"QR code written to {out}", err=True)
    if as_json:
        _print_json({"shown": True, "verifier": auth.verifier_did, "bytes": len(text.encode()), "qr_version": code.version,
                     "out": str(out) if out is not None else None, "disclosed": entry.get("disclosed", [])})
        return
    click.echo(terminal_text(code), nl=False)
    click.echo(f"Show this code to the counter. {len(text.encode())} bytes, QR version {code.version}", err=True)


@cli.command(name="show-qr")
@click.argument("credential_id")
@click.option("--claims", "claim_specs", multiple=True, required=True,
              help="Claims to disclose: dotted paths, comma-separated (address.locality,nationalities.*) "
                   "or a JSON array path; repeatable.")
@click.option("--nonce", required=True, help="The nonce the counter shows.")
@click.option("--audience", default=DEFAULT_QR_AUDIENCE, show_default=True,
              help="The KB-JWT aud (the counter's identifier).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the QR code to this .png or .svg file.")
@click.option("--allow-reuse", is_flag=True, help="Reuse a copy already shown elsewhere when none is unused (linkable).")
@_lang_option
@click.pass_context
def show_qr(ctx: click.Context, credential_id: str, claim_specs: tuple[str, ...], nonce: str, audience: str,
            out: Path | None, allow_reuse: bool, lang: str | None) -> None:
    """Show a presentation as a QR code for an offline counter (terminal, and --out PNG/SVG)."""
    import time

    from .credentials import claim_rows, find
    from .presentation import choose_copy, make_presentation, parse_claim_paths
    from .qr import make_qr, save_qr, terminal_text

    if out is not None and out.suffix.lower() not in (".png", ".svg"):
        raise click.UsageError("--out must end in .png or .svg")
    if not nonce.strip() or len(nonce) > 512:
        raise click.UsageError("--nonce must be the non-empty nonce the counter shows")
    lang = _lang(lang)
    with _open(ctx) as store:
        record = find(store.credentials, credential_id)
        paths = parse_claim_paths(list(claim_specs), record.get("claims", {}))
        channel_id = f"qr:{audience}"
        copy = choose_copy(record, channel_id, allow_reuse=allow_reuse)
        text = make_presentation(copy, tuple(paths), audience=audience, nonce=nonce, now=int(time.time()))
        code = make_qr(text)  # Raises QRTooLarge before anything is marked or logged.
        if out is not None:
            save_qr(code, out)  # Written (or OutputError) before the copy is marked used.
        labels = [r.label for r in claim_rows(record, lang)
                  if r.selectively_disclosable and any(
                      len(p) <= len(r.path) and all(s is None and isinstance(x, int) or s == x for s, x in zip(p, r.path))
                      for p in paths)]
        if channel_id not in copy["used_by"]:
            copy["used_by"].append(channel_id)
        store.history.append(_history_entry(verifier=audience, client_id=audience, name="offline counter",
                                            purpose="-", record=record, disclosed=labels, channel="qr",
                                            outcome="shown", lang=lang))
        store.save()
    if out is not None:
        click.echo(f"QR code written to {out}", err=True)
    click.echo(terminal_text(code), nl=False)
    click.echo(f"{len(text.encode())} bytes, QR version {code.version}; disclosed: {', '.join(labels) or '-'}", err=True)
