"""Open WebUI prompt routes, backed by the same `PromptService` as the bots' `/commands`.

The list is a bare array (`[]` when empty). `{command}` in paths comes without the leading `/`.
A user sees their own and the global prompts and changes only their own (admins also global).
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from hub.api.auth import services_of
from hub.api.errors import ApiError
from hub.core.models import User
from hub.core.prompt_rules import PromptError
from hub.core.prompts import PromptService, to_openwebui

_ERROR_STATUS = {"invalid": 400, "duplicate": 400, "forbidden": 403, "not_found": 404}


class PromptBody(msgspec.Struct, kw_only=True):
    command: FromPath[str]
    title: str = ""
    content: str = ""


def _service(request: Request[Any, Any, Any]) -> PromptService:
    prompts: PromptService = services_of(request).prompts
    return prompts


def _refused(exc: PromptError) -> ApiError:
    return ApiError(_ERROR_STATUS.get(exc.kind, 400), exc.message)


def _missing(command: FromPath[str]) -> ApiError:
    return ApiError(404, f"There is no prompt /{command.removeprefix('/')}.")


@get("/")
async def list_prompts(
    request: Request[Any, Any, Any], user: NamedDependency[User]
) -> list[dict[str, Any]]:
    """The user's own and the global prompts."""
    return [to_openwebui(p) for p in await _service(request).list_for(user)]


@post("/create", status_code=200)
async def create_prompt(
    request: Request[Any, Any, Any], data: JSONBody[PromptBody], user: NamedDependency[User]
) -> dict[str, Any]:
    """Create a personal prompt; 400 if the command is taken or invalid."""
    try:
        prompt = await _service(request).create(user, data.command, data.title, data.content)
    except PromptError as exc:
        raise _refused(exc) from None
    return to_openwebui(prompt)


@get("/command/{command:str}")
async def get_prompt(
    request: Request[Any, Any, Any], command: FromPath[str], user: NamedDependency[User]
) -> dict[str, Any]:
    """The prompt the user sees under `/command`."""
    prompt = await _service(request).get(user, command)
    if prompt is None:
        raise _missing(command)
    return to_openwebui(prompt)


@post("/command/{command:str}/update", status_code=200)
async def update_prompt(
    request: Request[Any, Any, Any],
    command: FromPath[str],
    data: JSONBody[PromptBody],
    user: NamedDependency[User],
) -> dict[str, Any]:
    """Change title and content (the command in the path names the prompt)."""
    try:
        prompt = await _service(request).update(user, command, data.title, data.content)
    except PromptError as exc:
        raise _refused(exc) from None
    if prompt is None:
        raise _missing(command)
    return to_openwebui(prompt)


@delete("/command/{command:str}/delete", status_code=200)
async def delete_prompt(
    request: Request[Any, Any, Any], command: FromPath[str], user: NamedDependency[User]
) -> bool:
    """Delete the prompt; `true` when it existed."""
    try:
        removed = await _service(request).delete(user, command)
    except PromptError as exc:
        raise _refused(exc) from None
    if not removed:
        raise _missing(command)
    return True
