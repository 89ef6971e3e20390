"""``python -m wallet``: the same commands as ``civicid wallet``."""

from wallet.cli import cli

cli(prog_name="python -m wallet")
