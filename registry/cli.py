"""``civicid registry ...``: the registry role's commands."""

from __future__ import annotations

import click


@click.group(name="registry")
def cli() -> None:
    """The registry role (its commands arrive with its issue)."""
