"""Helpers for tests that need an API key's hub user (to make it an admin) or a closed port."""

from __future__ import annotations

import hashlib
import socket

from hub.api.auth import API_KEY_PLATFORM
from hub.core.models import PlatformUser, User
from tests.api.conftest import Hub


def key_id(key: str) -> str:
    """How the hub knows a key (its identity's platform user id)."""
    return hashlib.sha256(key.encode()).hexdigest()[:16]


async def key_user(hub: Hub, key: str) -> User:
    users = hub.app.state.services.stores.users
    user: User = await users.for_identity(PlatformUser(API_KEY_PLATFORM, key_id(key)))
    return user


async def make_admin(hub: Hub, key: str) -> User:
    """Make `key`'s hub user an administrator (as `chathub users role … admin` would)."""
    user = await key_user(hub, key)
    await hub.app.state.services.stores.users.set_role(user.id, "admin")
    return user


def closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port
