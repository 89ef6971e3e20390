"""``civicid verifier ...``: the verifier role's commands (I/O only; the work is in the service modules).

Domain errors print one line on stderr and exit 1; usage errors exit 2; no
traceback unless ``--verbose``. Options read ``CIVICID_VERIFIER_*`` variables.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from .errors import VerifierError

__all__ = ["cli"]


class _Fail(click.ClickException):
    exit_code = 1

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {self.message}", err=True)


def _app(db: str | None, public_url: str | None) -> Any:
    from .app import create_app

    overrides: dict[str, Any] = {}
    if db:
        overrides["DATABASE"] = db
    if public_url:
        overrides["PUBLIC_URL"] = public_url
    return create_app(overrides)


def _run(verbose: bool, fn: Any) -> Any:
    try:
        return fn()
    except VerifierError as exc:
        if verbose:
            raise
        raise _Fail(f"{exc.code}: {exc.message}") from exc


@click.group(name="verifier")
@click.option("--verbose", is_flag=True, envvar="CIVICID_VERIFIER_VERBOSE", help="Show tracebacks.")
@click.pass_context
def cli(ctx: click.Context, verbose: bool) -> None:
    """The service counter's verifier: OpenID4VP requests, eligibility decisions, the counter screen."""
    ctx.ensure_object(dict)
    ctx.obj["verbose"] = verbose


@cli.command()
@click.option("--policy", "policy", required=True, envvar="CIVICID_VERIFIER_POLICY", help="Policy id, e.g. senior-bus-pass.")
@click.option("--json", "as_json", is_flag=True, help="Print {request_uri, result_url} as JSON.")
@click.option("--by-value", is_flag=True,
              help="Put the signed request inside the link (request=...) for offline wallets; "
                   "--json adds it as request_by_value.")
@click.option("--db", envvar="CIVICID_VERIFIER_DATABASE", help="SQLite path or postgresql:// URL (as the service's).")
@click.option("--public-url", envvar="CIVICID_VERIFIER_PUBLIC_URL", help="The verifier's public base URL.")
@click.pass_context
def request(ctx: click.Context, policy: str, as_json: bool, by_value: bool, db: str | None, public_url: str | None) -> None:
    """Open a presentation request and print its openid4vp:// URI (and a QR code on a terminal)."""

    def go() -> dict[str, Any]:
        app = _app(db, public_url)
        with app.app_context():
            opened: dict[str, Any] = app.extensions["civicid_verifier"].open_request(policy, by_value=by_value)
            return opened

    opened = _run(ctx.obj["verbose"], go)
    if as_json:
        answer = {"request_uri": opened["request_uri"], "result_url": opened["result_url"],
                  "expires_at": opened["expires_at"]}
        if by_value:
            answer["request_by_value"] = opened["request_by_value"]
        click.echo(json.dumps(answer))
        return
    link = opened["request_by_value"] if by_value else opened["request_uri"]
    click.echo(link)
    click.echo(f"result: {opened['result_url']}", err=True)
    if sys.stdout.isatty():
        import qrcode

        # A by-value link (~1.9 KB) needs level L to fit; a link by reference keeps qrcode's default, M.
        level = qrcode.constants.ERROR_CORRECT_L if by_value else qrcode.constants.ERROR_CORRECT_M
        qr = qrcode.QRCode(border=1, error_correction=level)
        qr.add_data(link)
        qr.print_ascii(invert=True)


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, envvar="CIVICID_VERIFIER_HOST")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(1, 65535), envvar="CIVICID_VERIFIER_PORT")
@click.option("--db", envvar="CIVICID_VERIFIER_DATABASE", help="SQLite path or postgresql:// URL.")
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64), envvar="CIVICID_VERIFIER_WORKERS")
@click.option("--threads", default=4, show_default=True, type=click.IntRange(1, 256), envvar="CIVICID_VERIFIER_THREADS")
@click.pass_context
def serve(ctx: click.Context, host: str, port: int, db: str | None, workers: int, threads: int) -> None:
    """Serve the verifier with gunicorn (the production WSGI server)."""
    from registry.serving import run_gunicorn

    # Build the app once here so a bad configuration fails fast, with one line, before forking;
    # each worker then builds its own (its own database connections) after the fork.
    run_gunicorn(lambda: _app(db, None), host=host, port=port, workers=workers, threads=threads,
                 redact=("/oid4vp/request/", "/oid4vp/response/", "/api/requests/"),
                 check=lambda: _run(ctx.obj["verbose"], lambda: _app(db, None)) and None)


@cli.command("policies")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def list_policies(ctx: click.Context, as_json: bool) -> None:
    """List the eligibility policies this verifier offers."""
    from .policy import load_policies

    policies = _run(ctx.obj["verbose"], load_policies)
    if as_json:
        click.echo(json.dumps([p.public() for p in policies], ensure_ascii=False))
        return
    for p in policies:
        click.echo(f"{p.id}\t{p.title['en']}\t{p.title['zh-CN']}")
