"""civicid wallet."""
