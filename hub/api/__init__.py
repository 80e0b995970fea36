"""HTTP edges: Ollama- and OpenAI-compatible routes, the Open WebUI backend, an optional SPA.

`create_app` mounts `api_routers(settings)` and sets `exception_handlers()` on the app too, so
paths no route matches still answer in their family's error shape. Handlers find the running
hub's services on `app.state.services` (`hub.runtime.Services`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hub.api.auth import load_jwt_secret
from hub.api.errors import exception_handlers

if TYPE_CHECKING:
    from litestar import Router

    from hub.settings import HubSettings

__all__ = ["api_routers", "exception_handlers", "load_jwt_secret"]


def api_routers(settings: HubSettings) -> list[Router]:
    """Every API router, the docs' assets and `/` (the home page, or with `HUB_WEBUI_DIR` the
    frontend, whose catch-all comes last), under one parent that checks credentials."""
    from litestar import Router

    from hub.api.auth import reject_bad_credentials
    from hub.api.docs import docs_asset
    from hub.api.jobs import jobs_router
    from hub.api.ollama import ollama_router
    from hub.api.openai import openai_router
    from hub.api.openwebui import openwebui_routers

    routers = [ollama_router(), openai_router(), jobs_router(), *openwebui_routers()]
    pages: list[Any] = [docs_asset]
    if settings.webui_dir is None:
        from hub.api.home import home

        pages.append(home)  # what runs here and how to connect, in place of a frontend
    routers.append(Router(path="/", route_handlers=pages, exception_handlers=exception_handlers()))
    if settings.webui_dir is not None:
        from hub.api.spa import spa_router

        routers.append(spa_router(settings.webui_dir))
    # One parent, so every API route refuses an Authorization header the hub does not accept
    # (connector webhooks and /health, /ready, /metrics stay outside: they ignore it).
    return [Router(path="/", route_handlers=routers, before_request=reject_bad_credentials)]
