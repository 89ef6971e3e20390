"""civicid verifier."""
