"""The person behind a trusted key: Open WebUI's forwarded user headers, or `X-Hub-User`.

A stock Open WebUI reaches the hub with one key for all its users; with
`ENABLE_FORWARD_USER_INFO_HEADERS=true` it names the user on every call
(`open_webui/utils/headers.py`, `include_user_info_headers`):

    X-OpenWebUI-User-Id: 8f0c…   X-OpenWebUI-User-Name: Ann%20Lee (URL-quoted)
    X-OpenWebUI-User-Email: ann@…   X-OpenWebUI-User-Role: user   X-OpenWebUI-Chat-Id: 41d2…

Any other service can send `X-Hub-User: <its own id for the person>` instead. For a key listed
in `HUB_TRUSTED_API_KEYS` the hub finds or creates a hub user per person, as a platform
identity `forwarded:<key fingerprint>:<person id>` (so two services' ids never collide), and
limits, budgets, usage and the fair queue count that person. The e-mail is not stored: nothing
verified it, and hub accounts are found by e-mail at sign-in.

Roles: a person starts as a plain user (an administrator can change that with
`chathub users role`). When the trusted key's own hub user is an admin, the key speaks for its
service's administrators too: the forwarded role (admin, user, pending) becomes the person's.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import unquote

from hub.api.errors import ApiError
from hub.core.models import PlatformUser, User, UserRole

if TYPE_CHECKING:
    from litestar import Request

    from hub.core.ports import UserStore

log = logging.getLogger(__name__)

FORWARDED_PLATFORM = "forwarded"
USER_ID = "x-openwebui-user-id"
USER_NAME = "x-openwebui-user-name"
USER_ROLE = "x-openwebui-user-role"
CHAT_ID = "x-openwebui-chat-id"
HUB_USER = "x-hub-user"
_ROLES: frozenset[str] = frozenset({"admin", "user", "pending"})
_MAX_LEN = 200


@dataclass(frozen=True, slots=True)
class Person:
    """Who a trusted service says sent a request."""

    id: str
    name: str = ""
    role: str | None = None
    chat_id: str | None = None


def _header(request: Request[Any, Any, Any], name: str) -> str | None:
    value = request.headers.get(name)
    if value is None or not value.strip():
        return None
    value = value.strip()
    if len(value) > _MAX_LEN or not value.isprintable():
        raise ApiError(400, f"The {name} header is too long or holds control characters.")
    return value


def forwarded_person(request: Request[Any, Any, Any]) -> Person | None:
    """The person a trusted request names, or None when it names nobody."""
    person_id = _header(request, USER_ID) or _header(request, HUB_USER)
    if person_id is None:
        return None
    name = unquote(_header(request, USER_NAME) or "")  # Open WebUI quotes it (safe=" ")
    role = (_header(request, USER_ROLE) or "").lower() or None
    return Person(person_id, name, role, _header(request, CHAT_ID))


async def person_user(users: UserStore, key_user: User, key_id: str, person: Person) -> User:
    """The hub user for `person`, created on first sight; with an admin key, given the role
    the service forwards."""
    ident = PlatformUser(
        FORWARDED_PLATFORM, f"{key_id}:{person.id}", person.name or f"Person {person.id}"
    )
    user = await users.for_identity(ident)
    if key_user.role != "admin" or person.role not in _ROLES or person.role == user.role:
        return user
    role = cast(UserRole, person.role)
    await users.set_role(user.id, role)
    log.info(
        "forwarded role applied",
        extra={"user_id": user.id, "role": role, "previous_role": user.role},
    )
    return replace(user, role=role)
