"""civicid registry."""
