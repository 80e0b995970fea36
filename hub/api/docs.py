"""API documentation that works offline: the OpenAPI document titled `chathub` with the package
version, and Swagger UI served from the hub's own copy of its assets.

The assets come from the `swagger-ui-py` wheel (Swagger UI 5, which reads the OpenAPI 3.1 that
Litestar writes), served at `/schema/assets/…`; the page references nothing else, no CDN and no
web fonts (Swagger UI's stylesheet names system fonts only), and its validator badge, which
would call swagger.io, is off. `/schema` and `/schema/swagger` show it; `/schema/openapi.json`
and `/schema/openapi.yaml` are the document.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
from functools import cache
from pathlib import Path
from typing import Any

from litestar import Request, get
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin, OpenAPIRenderPlugin, YamlRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from litestar.params import FromPath
from litestar.response import File

from hub.api.errors import ApiError
from hub.api.schema_responses import document_responses

ASSETS_PATH = "/schema/assets"
_ASSETS = {  # the files the page uses, by name: nothing else of the package is served
    "swagger-ui.css": "text/css",
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui-standalone-preset.js": "text/javascript",
    "favicon-32x32.png": "image/png",
    "favicon-16x16.png": "image/png",
}


@cache
def hub_version() -> str:
    """The installed chathub version (`0.0.0` when run from a tree that was never installed)."""
    try:
        return importlib.metadata.version("chathub")
    except importlib.metadata.PackageNotFoundError:
        return "0.0.0"


@cache
def _asset_dir() -> Path:
    # find_spec locates the package without importing it (its __init__ pulls in Jinja).
    spec = importlib.util.find_spec("swagger_ui")
    if spec is None or not spec.submodule_search_locations:
        raise ApiError(404, "Swagger UI is not installed; reinstall chathub.")
    return Path(next(iter(spec.submodule_search_locations))) / "static"


class OfflineSwagger(OpenAPIRenderPlugin):
    """Swagger UI on the hub's own assets, with the document inlined (no further fetch)."""

    def __init__(self) -> None:
        super().__init__(path=["/", "/swagger"])

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        document_responses(openapi_schema, request.app)
        title = f"{openapi_schema['info']['title']} {openapi_schema['info']['version']} API"
        head = (
            f"<!DOCTYPE html><html><head><title>{title}</title><meta charset='utf-8'/>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<link rel='icon' type='image/png' href='{ASSETS_PATH}/favicon-32x32.png'>"
            f"<link rel='stylesheet' href='{ASSETS_PATH}/swagger-ui.css'>"
            "<style>body { margin: 0 }</style></head><body><div id='swagger-ui'></div>"
            f"<script src='{ASSETS_PATH}/swagger-ui-bundle.js'></script>"
            f"<script src='{ASSETS_PATH}/swagger-ui-standalone-preset.js'></script>"
            "<script>window.ui = SwaggerUIBundle({spec: "
        )
        tail = (
            ", dom_id: '#swagger-ui', validatorUrl: null, deepLinking: true, "
            "presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset], "
            "layout: 'BaseLayout'});</script></body></html>"
        )
        # The JSON is safe inside <script>: msgspec escapes no '<', so break any '</'.
        spec = self.render_json(request, openapi_schema).replace(b"</", b"<\\/")
        return head.encode() + spec + tail.encode()


class _Json(JsonRenderPlugin):
    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        return super().render(request, document_responses(openapi_schema, request.app))


class _Yaml(YamlRenderPlugin):
    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        return super().render(request, document_responses(openapi_schema, request.app))


def openapi_config() -> OpenAPIConfig:
    """The OpenAPI document and the pages that show it."""
    bearer = SecurityScheme(
        type="http",
        scheme="bearer",
        description="A sign-in token (POST /api/v1/auths/signin), or on /ollama routes a key "
        "from HUB_API_KEYS.",
    )
    return OpenAPIConfig(
        title="chathub",
        version=hub_version(),
        description="Ollama-, OpenAI- and Open WebUI-compatible routes of a chathub hub.",
        path="/schema",
        render_plugins=[OfflineSwagger(), _Json(), _Yaml()],
        components=Components(security_schemes={"bearer": bearer}),
        security=[{"bearer": []}],
    )


@get(f"{ASSETS_PATH}/{{name:str}}", include_in_schema=False)
async def docs_asset(name: FromPath[str]) -> File:
    """One of Swagger UI's files, from the installed package."""
    media_type = _ASSETS.get(name)
    if media_type is None:
        raise ApiError(404, f"There is no documentation asset {name}.")
    return File(
        _asset_dir() / name,
        media_type=media_type,
        content_disposition_type="inline",
        headers={"Cache-Control": "public, max-age=86400"},
    )
