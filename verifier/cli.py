"""``civicid verifier ...``: the verifier role's commands."""

from __future__ import annotations

import click


@click.group(name="verifier")
def cli() -> None:
    """The verifier role (its commands arrive with its issue)."""
