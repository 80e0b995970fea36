"""Session fixture: a real redis-server on an ephemeral port (owned by the limits work)."""
