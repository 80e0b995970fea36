"""Shared fixtures. Real services (Redis, a MongoDB-wire server) live in tests/services/."""

pytest_plugins = [
    "tests.services.redis_server",
    "tests.services.mongo_server",
]
