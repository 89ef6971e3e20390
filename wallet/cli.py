"""``civicid wallet ...``: the wallet role's commands."""

from __future__ import annotations

import click


@click.group(name="wallet")
def cli() -> None:
    """The wallet role (its commands arrive with its issue)."""
