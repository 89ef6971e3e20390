"""``civicid``: one console script, a subcommand group per role.

Groups are imported lazily, on first use, so ``civicid wallet --help`` does not
pay for importing Flask or the issuer. Each role contributes its own group in
``<role>/cli.py``.
"""

from __future__ import annotations

import importlib
from typing import Any

import click

# name -> (module, attribute, one-line help shown by `civicid --help`)
_GROUPS: dict[str, tuple[str, str, str]] = {
    "registry": ("registry.cli", "cli", "Run and use the DID registry ledger."),
    "issuer": ("issuer.cli", "cli", "Run a government office's issuer service."),
    "verifier": ("verifier.cli", "cli", "Run a service counter's verifier."),
    "wallet": ("wallet.cli", "cli", "The citizen's wallet."),
    "up": ("civicid.up", "up", "Run a registry, an issuer and a verifier on this machine."),
    "demo": ("civicid.demo", "demo", "Watch the whole story: issue, receive, present, revoke."),
}


class LazyGroup(click.Group):
    """A click group whose subcommands are imported only when invoked."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_GROUPS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in _GROUPS:
            return None
        module, attribute, _ = _GROUPS[cmd_name]
        command: click.Command = getattr(importlib.import_module(module), attribute)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # List the groups from the table, without importing any of them.
        with formatter.section("Commands"):
            formatter.write_dl([(name, help_) for name, (_, _, help_) in sorted(_GROUPS.items())])


@click.group(cls=LazyGroup)
@click.version_option(package_name="civicid")
def cli() -> None:
    """civicid: self-sovereign digital identity for government offices, citizens and service counters."""


def main(argv: list[str] | None = None) -> Any:
    return cli.main(args=argv, prog_name="civicid")
