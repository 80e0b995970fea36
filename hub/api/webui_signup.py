"""Who may sign up, and as what: the runtime policy Open WebUI's admin settings change.

`GET /api/v1/auths/signup/enabled`, `GET …/signup/enabled/toggle` and `GET|POST
…/signup/user/role` (admins only), plus the permissions users get
(`GET|POST /api/v1/users/permissions/user`). The values live in the settings store, so they
survive a restart and every replica on one store shares them; until an admin changes the
default role, `webui.default_role` from the configuration applies.
"""

from __future__ import annotations

from typing import Any, cast

import msgspec
from litestar import Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody

from hub.api.auth import services_of
from hub.api.errors import ApiError
from hub.api.webui_meta import json_value
from hub.core.models import User, UserRole
from hub.core.ports import SettingStore

SIGNUP_ENABLED_SETTING = "webui.signup_enabled"
DEFAULT_ROLE_SETTING = "webui.default_role"
PERMISSIONS_SETTING = "webui.user_permissions"
DEFAULT_PERMISSIONS: dict[str, Any] = {"chat": {"deletion": True}}  # Open WebUI's default
_NEW_ACCOUNT_ROLES = ("pending", "user")


class RoleBody(msgspec.Struct, kw_only=True):
    role: str


async def signup_enabled(store: SettingStore) -> bool:
    return await store.get(SIGNUP_ENABLED_SETTING) is not False


async def default_role(request: Request[Any, Any, Any]) -> UserRole:
    """The role new accounts get: the admin's choice, else `webui.default_role`."""
    services = services_of(request)
    chosen = await services.stores.settings.get(DEFAULT_ROLE_SETTING)
    if chosen in _NEW_ACCOUNT_ROLES:
        return cast(UserRole, chosen)
    return services.settings.webui.default_role


async def user_permissions(store: SettingStore) -> dict[str, Any]:
    stored = await store.get(PERMISSIONS_SETTING)
    return stored if isinstance(stored, dict) else DEFAULT_PERMISSIONS


async def may_delete_chats(store: SettingStore, user: User) -> bool:
    """Whether `user` may delete their chats (admins always may)."""
    if user.role == "admin":
        return True
    chat = (await user_permissions(store)).get("chat")
    return not isinstance(chat, dict) or chat.get("deletion") is not False


@get("/signup/enabled")
async def get_signup_enabled(request: Request[Any, Any, Any], admin: NamedDependency[User]) -> bool:
    """Whether new accounts can sign up."""
    return await signup_enabled(services_of(request).stores.settings)


@get("/signup/enabled/toggle")
async def toggle_signup(request: Request[Any, Any, Any], admin: NamedDependency[User]) -> bool:
    """Turn sign-ups on or off; answers the new state."""
    store = services_of(request).stores.settings
    enabled = not await signup_enabled(store)
    await store.put(SIGNUP_ENABLED_SETTING, enabled)
    return enabled


@get("/signup/user/role")
async def get_default_role(
    request: Request[Any, Any, Any], admin: NamedDependency[User]
) -> Response[bytes]:
    """The role new accounts get."""
    return json_value(await default_role(request))


@post("/signup/user/role", status_code=200)
async def set_default_role(
    request: Request[Any, Any, Any], data: JSONBody[RoleBody], admin: NamedDependency[User]
) -> Response[bytes]:
    """Choose the role new accounts get: `pending` (an admin approves them) or `user`."""
    if data.role not in _NEW_ACCOUNT_ROLES:
        raise ApiError(
            400,
            "New accounts can start as 'pending' or 'user'; make administrators one by one "
            "in the user list.",
        )
    await services_of(request).stores.settings.put(DEFAULT_ROLE_SETTING, data.role)
    return json_value(data.role)


@get("/permissions/user")
async def get_permissions(
    request: Request[Any, Any, Any], admin: NamedDependency[User]
) -> dict[str, Any]:
    """What users (not admins) may do: `{"chat": {"deletion": true}}`."""
    return await user_permissions(services_of(request).stores.settings)


@post("/permissions/user", status_code=200)
async def set_permissions(
    request: Request[Any, Any, Any],
    data: JSONBody[dict[str, Any]],
    admin: NamedDependency[User],
) -> dict[str, Any]:
    """Replace the user permissions (the object Open WebUI's admin settings send)."""
    chat = data.get("chat", {})
    if not isinstance(chat, dict) or not isinstance(chat.get("deletion", True), bool):
        raise ApiError(400, 'Send permissions like {"chat": {"deletion": true}}.')
    await services_of(request).stores.settings.put(PERMISSIONS_SETTING, data)
    return data
