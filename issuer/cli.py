"""``civicid issuer ...``: the issuer role's commands."""

from __future__ import annotations

import click


@click.group(name="issuer")
def cli() -> None:
    """The issuer role (its commands arrive with its issue)."""
