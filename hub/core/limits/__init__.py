"""Rate limits: the GCRA limiter (Redis and in-memory) and the policies applied per message."""
