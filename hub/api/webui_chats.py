"""Open WebUI chat routes: the browser's saved chats, always scoped to their owner.

The `chat` object is stored verbatim and returned as an object. An update is a shallow merge
into the stored object that bumps `updated_at`; the title comes from the merged object. Another
user's chat id answers 404 exactly like a missing one, so ids reveal nothing.
"""

from __future__ import annotations

import time
import uuid
from typing import Annotated, Any

import msgspec
from litestar import Request, delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter

from hub.api.auth import services_of
from hub.api.errors import ApiError
from hub.api.webui_signup import may_delete_chats
from hub.core.models import User, WebChat

DEFAULT_TITLE = "New Chat"
MAX_PAGE = 1000
MAX_SKIP = 2**63 - 1  # both stores count rows in signed 64 bits; more would overflow them


class ChatBody(msgspec.Struct, kw_only=True):
    """`{"chat": {...}}`: the frontend's chat object (kept as sent)."""

    chat: dict[str, Any] = msgspec.field(default_factory=dict)


def chat_body(chat: WebChat) -> dict[str, Any]:
    """Open WebUI's `ChatResponse`."""
    return {
        "id": chat.id,
        "user_id": chat.user_id,
        "title": chat.title,
        "chat": dict(chat.chat),
        "updated_at": chat.updated_at,
        "created_at": chat.created_at,
        "share_id": chat.share_id,
        "archived": chat.archived,
    }


def _title(chat: dict[str, Any]) -> str:
    title = chat.get("title")
    return title if isinstance(title, str) and title else DEFAULT_TITLE


def _not_found() -> ApiError:
    return ApiError(404, "There is no chat with this id in your account.")


@get("/")
async def list_chats(
    request: Request[Any, Any, Any],
    user: NamedDependency[User],
    skip: Annotated[int, QueryParameter(ge=0, le=MAX_SKIP)] = 0,
    limit: Annotated[int, QueryParameter(ge=1, le=MAX_PAGE)] = 50,
) -> list[dict[str, Any]]:
    """The user's chats, newest first (`id`, `title`, `updated_at`, `created_at`)."""
    chats = await services_of(request).stores.chats.list(user.id, skip=skip, limit=limit)
    return [
        {"id": c.id, "title": c.title, "updated_at": c.updated_at, "created_at": c.created_at}
        for c in chats
    ]


@post("/new", status_code=200)
async def new_chat(
    request: Request[Any, Any, Any], data: JSONBody[ChatBody], user: NamedDependency[User]
) -> dict[str, Any]:
    """Save a new chat under a fresh id."""
    now = int(time.time())
    chat = WebChat(
        id=str(uuid.uuid4()),
        user_id=user.id,
        title=_title(data.chat),
        chat=data.chat,
        created_at=now,
        updated_at=now,
    )
    return chat_body(await services_of(request).stores.chats.create(chat))


@get("/{chat_id:str}")
async def get_chat(
    request: Request[Any, Any, Any], chat_id: FromPath[str], user: NamedDependency[User]
) -> dict[str, Any]:
    """One chat of the user, by the id in the path."""
    chat = await services_of(request).stores.chats.get(chat_id, user.id)
    if chat is None:
        raise _not_found()
    return chat_body(chat)


@post("/{chat_id:str}", status_code=200)
async def update_chat(
    request: Request[Any, Any, Any],
    chat_id: FromPath[str],
    data: JSONBody[ChatBody],
    user: NamedDependency[User],
) -> dict[str, Any]:
    """Shallow-merge `chat` into the stored chat and bump `updated_at`."""
    store = services_of(request).stores.chats
    current = await store.get(chat_id, user.id)
    if current is None:
        raise _not_found()
    merged = {**current.chat, **data.chat}
    updated = await store.update(
        chat_id, user.id, merged, title=_title(merged), updated_at=int(time.time())
    )
    if updated is None:  # deleted meanwhile
        raise _not_found()
    return chat_body(updated)


@delete("/{chat_id:str}", status_code=200)
async def delete_chat(
    request: Request[Any, Any, Any], chat_id: FromPath[str], user: NamedDependency[User]
) -> bool:
    """Delete one chat of the user (unless an admin turned chat deletion off for users)."""
    stores = services_of(request).stores
    if not await may_delete_chats(stores.settings, user):
        raise ApiError(403, "An administrator has turned off deleting chats on this hub.")
    if not await stores.chats.delete(chat_id, user.id):
        raise _not_found()
    return True


@get("/{chat_id:str}/tags")
async def chat_tags(
    request: Request[Any, Any, Any], chat_id: FromPath[str], user: NamedDependency[User]
) -> list[str]:
    """Tags of a chat; the hub keeps none, so the list is empty for the user's own chats."""
    if await services_of(request).stores.chats.get(chat_id, user.id) is None:
        raise _not_found()
    return []
