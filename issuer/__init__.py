"""civicid issuer."""
