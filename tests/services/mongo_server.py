"""Session fixture: a real MongoDB-wire server on an ephemeral port (owned by the stores work)."""
