"""The Open WebUI backend routes, as the v0.1.120 frontend calls them.

Each group is its own router so it can pick its guard: the meta routes need no sign-in, the
account routes accept pending users, chats and prompts need an active (`user`/`admin`) account,
and default models, sign-up policy and the user list need an admin. Paths answer with and
without a trailing slash.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from litestar import Router
from litestar.di import Provide

from hub.api import (
    webui_auths,
    webui_chats,
    webui_meta,
    webui_prompts,
    webui_signup,
    webui_users,
)
from hub.api.auth import webui_active_user, webui_admin, webui_user
from hub.api.errors import exception_handlers


def openwebui_routers() -> list[Router]:
    """`/api/{config,changelog,version}` and `/api/v1/{auths,users,chats,prompts,configs}`."""
    handlers = exception_handlers()

    def group(
        path: str, routes: Sequence[Any], guard: tuple[str, Callable[..., Any]] | None = None
    ) -> Router:
        dependencies = {guard[0]: Provide(guard[1])} if guard else None
        return Router(
            path=path,
            route_handlers=list(routes),
            dependencies=dependencies,
            exception_handlers=handlers,
            tags=["open-webui"],
        )

    return [
        group("/", [webui_meta.webui_config, webui_meta.webui_changelog, webui_meta.webui_version]),
        group("/", [webui_meta.set_default_models], ("admin", webui_admin)),
        group(
            "/api/v1/auths",
            [
                webui_auths.signup,
                webui_auths.signin,
                webui_auths.current_user,
                webui_auths.update_profile,
                webui_auths.update_password,
            ],
            ("user", webui_user),
        ),
        group(
            "/api/v1/auths",
            [
                webui_signup.get_signup_enabled,
                webui_signup.toggle_signup,
                webui_signup.get_default_role,
                webui_signup.set_default_role,
            ],
            ("admin", webui_admin),
        ),
        group(
            "/api/v1/users",
            [
                webui_users.list_users,
                webui_users.update_role,
                webui_users.update_user,
                webui_users.delete_user,
                webui_signup.get_permissions,
                webui_signup.set_permissions,
            ],
            ("admin", webui_admin),
        ),
        group(
            "/api/v1/chats",
            [
                webui_chats.list_chats,
                webui_chats.new_chat,
                webui_chats.get_chat,
                webui_chats.update_chat,
                webui_chats.delete_chat,
                webui_chats.chat_tags,
            ],
            ("user", webui_active_user),
        ),
        group(
            "/api/v1/prompts",
            [
                webui_prompts.list_prompts,
                webui_prompts.create_prompt,
                webui_prompts.get_prompt,
                webui_prompts.update_prompt,
                webui_prompts.delete_prompt,
            ],
            ("user", webui_active_user),
        ),
    ]
