"""Open WebUI meta routes: `/api/config`, `/api/changelog`, `/api/version`, default models.

Shapes are the flat ones the Open WebUI v0.1.120 frontend reads (newer Open WebUI nests its
config under `features` and needs a token for it; that frontend does not).
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, Response, get, post
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import JSONBody

from hub.api.auth import services_of
from hub.core.models import User

WEBUI_VERSION = "0.1.120"  # the frontend version this backend serves
DEFAULT_MODELS_SETTING = "webui.default_models"

_PROMPT_SUGGESTIONS = [
    {
        "title": ["Help me study", "vocabulary for a college entrance exam"],
        "content": "Help me study vocabulary: write a sentence for me to fill in the blank, "
        "and I'll try to pick the correct option.",
    },
    {
        "title": ["Give me ideas", "for what to do with my kids' art"],
        "content": "What are 5 creative things I could do with my kids' art? I don't want to "
        "throw them away, but it's also so much clutter.",
    },
    {
        "title": ["Tell me a fun fact", "about the Roman Empire"],
        "content": "Tell me a random fun fact about the Roman Empire",
    },
    {
        "title": ["Show me a code snippet", "of a website's sticky header"],
        "content": "Show me a code snippet of a website's sticky header in CSS and JavaScript.",
    },
]

_CHANGELOG = {
    WEBUI_VERSION: {
        "date": "2024-04-20",
        "added": [
            {
                "title": "chathub backend",
                "content": "This Open WebUI frontend runs on chathub: your chats and prompt "
                "commands are shared with the hub's Telegram, Slack and Discord bots.",
            },
            {
                "title": "Prompt commands everywhere",
                "content": "Prompts you create here work as /commands in every chat the hub "
                "serves, and over its Ollama- and OpenAI-compatible API.",
            },
        ],
        "fixed": [],
        "changed": [],
        "removed": [],
    }
}


def json_value(value: str | None) -> Response[bytes]:
    """A bare JSON string (or null) body: Litestar sends a returned `str` as plain text, and the
    frontend parses every answer as JSON."""
    return Response(msgspec.json.encode(value), media_type="application/json")


class DefaultModelsBody(msgspec.Struct, kw_only=True):
    """`{"models": "a,b"}`: a comma-separated list of model names."""

    models: str | None = None


@get("/api/config")
async def webui_config(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """Front-end configuration (no sign-in needed)."""
    stores = services_of(request).stores
    default_models = await stores.settings.get(DEFAULT_MODELS_SETTING)
    return {
        "status": True,
        "name": "Open WebUI",
        "version": WEBUI_VERSION,
        "default_locale": "en-US",
        "images": False,
        "default_models": default_models if isinstance(default_models, str) else None,
        "default_prompt_suggestions": _PROMPT_SUGGESTIONS,
        "trusted_header_auth": False,
    }


@get("/api/changelog")
async def webui_changelog() -> dict[str, Any]:
    """What changed, keyed by version (the "What's New" dialog)."""
    return _CHANGELOG


@get("/api/version")
async def webui_version() -> dict[str, str]:
    """The Open WebUI version this backend serves."""
    return {"version": WEBUI_VERSION}


_STORED: Any = str | None  # the stored value as JSON: comma-separated names, or null


@post(
    "/api/v1/configs/default/models",
    status_code=200,
    responses={200: ResponseSpec(_STORED, generate_examples=False, description="The models")},
)
async def set_default_models(
    request: Request[Any, Any, Any], data: JSONBody[DefaultModelsBody], admin: NamedDependency[User]
) -> Response[bytes]:
    """Set the models new chats start with (admins only); returned by `/api/config`."""
    value = ",".join(m.strip() for m in (data.models or "").split(",") if m.strip()) or None
    await services_of(request).stores.settings.put(DEFAULT_MODELS_SETTING, value)
    return json_value(value)
