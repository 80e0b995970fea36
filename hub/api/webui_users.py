"""Open WebUI's admin user routes (`/api/v1/users/…`, admins only), as v0.1.120 calls them.

The admin panel lists every hub user (web accounts, bot users and API-key principals alike),
changes roles (approving a pending account is a change to `user`), edits and deletes users.
An admin can never change their own role or delete themselves, and the first account's role
is kept, as in Open WebUI; `chathub users` on the server can do both when it must.
"""

from __future__ import annotations

from typing import Annotated, Any, cast, get_args

import msgspec
from litestar import Request, delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter

from hub.api.auth import authenticator, services_of
from hub.api.errors import ApiError
from hub.api.webui_auths import (
    DEFAULT_AVATAR,
    FIRST_ACCOUNT_SETTING,
    checked_email,
    checked_password,
)
from hub.core.models import Identity, User, UserRole
from hub.core.ports import DuplicateError
from hub.runtime import Services

_ROLES: tuple[str, ...] = get_args(UserRole)


class RoleUpdateBody(msgspec.Struct, kw_only=True):
    id: str
    role: str


class UserUpdateBody(msgspec.Struct, kw_only=True):
    name: str
    email: str = ""
    profile_image_url: str = ""
    password: str | None = None


def user_item(user: User, identities: list[Identity] | None = None) -> dict[str, Any]:
    """Open WebUI's `UserModel`, plus the hub's `disabled` and linked `identities`."""
    return {
        "id": user.id,
        "name": user.name,
        "email": user.email or "",
        "role": user.role,
        "profile_image_url": user.profile_image_url or DEFAULT_AVATAR,
        "timestamp": int(user.created_at.timestamp()),
        "api_key": None,
        "disabled": user.disabled,
        "identities": [str(i) for i in identities or []],
    }


async def _existing(services: Services, user_id: str) -> User:
    user = await services.stores.users.get(user_id)
    if user is None:
        raise ApiError(404, f"There is no user {user_id}.")
    return user


@get("/")
async def list_users(
    request: Request[Any, Any, Any],
    admin: NamedDependency[User],
    skip: Annotated[int, QueryParameter(ge=0)] = 0,
    limit: Annotated[int | None, QueryParameter(ge=0)] = None,
) -> list[dict[str, Any]]:
    """Every user, oldest first (`skip`/`limit` page through them)."""
    users = services_of(request).stores.users
    everyone = await users.all()
    page = everyone[skip:] if limit is None else everyone[skip : skip + limit]
    linked: dict[str, list[Identity]] = {}
    for identity in await users.identities():
        linked.setdefault(identity.user_id, []).append(identity)
    return [user_item(user, linked.get(user.id)) for user in page]


@post("/update/role", status_code=200)
async def update_role(
    request: Request[Any, Any, Any], data: JSONBody[RoleUpdateBody], admin: NamedDependency[User]
) -> dict[str, Any]:
    """Change another user's role (`pending` → `user` approves an account)."""
    if data.role not in _ROLES:
        raise ApiError(400, f"A role is one of {', '.join(_ROLES)}, not {data.role!r}.")
    if data.id == admin.id:
        raise ApiError(403, "You cannot change your own role; another administrator can.")
    services = services_of(request)
    if await services.stores.settings.get(FIRST_ACCOUNT_SETTING) == data.id:
        raise ApiError(
            403,
            "The first administrator's role is kept here; change it on the server with "
            "`chathub users role`.",
        )
    await _existing(services, data.id)
    await services.stores.users.set_role(data.id, cast(UserRole, data.role))
    return user_item(await _existing(services, data.id))


@post("/{user_id:str}/update", status_code=200)
async def update_user(
    request: Request[Any, Any, Any],
    user_id: FromPath[str],
    data: JSONBody[UserUpdateBody],
    admin: NamedDependency[User],
) -> dict[str, Any]:
    """Change a user's name, e-mail, picture and (when given) password."""
    services = services_of(request)
    users = services.stores.users
    await _existing(services, user_id)
    name = data.name.strip()
    if not name:
        raise ApiError(400, "Enter a name for the account.")
    email = checked_email(data.email) if data.email.strip() else None
    if data.password:
        passwords = (await authenticator(request)).passwords
        password_hash = await passwords.hash(checked_password(data.password))
        await users.set_password(user_id, password_hash)
    try:
        updated = await users.update_profile(
            user_id, name=name, email=email, profile_image_url=data.profile_image_url or None
        )
    except DuplicateError:
        raise ApiError(400, "This e-mail address already belongs to another account.") from None
    if updated is None:
        raise ApiError(404, f"There is no user {user_id}.")
    return user_item(updated)


@delete("/{user_id:str}", status_code=200)
async def delete_user(
    request: Request[Any, Any, Any], user_id: FromPath[str], admin: NamedDependency[User]
) -> bool:
    """Delete a user with their conversations, chats and personal prompts."""
    if user_id == admin.id:
        raise ApiError(403, "You cannot delete your own account; another administrator can.")
    if not await services_of(request).stores.users.delete(user_id):
        raise ApiError(404, f"There is no user {user_id}.")
    return True
