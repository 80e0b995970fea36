"""Serving a built single-page frontend (`HUB_WEBUI_DIR`) at `/`, with SPA fallback.

Any path that is not a file in the directory gets `index.html`, so the app's own routes
(`/auth`, `/c/{id}`, …) survive a reload. `/api/*` and `/ollama/*` never fall back: an unknown
API path stays a JSON 404.
"""

from __future__ import annotations

from pathlib import Path

import anyio
from litestar import Router, get
from litestar.params import FromPath
from litestar.response import File

from hub.api.errors import ApiError, exception_handlers

_NO_FALLBACK = ("api", "ollama", "schema", "webhooks")
_MEDIA_TYPES = {
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".css": "text/css",
    ".html": "text/html; charset=utf-8",
    ".json": "application/json",
    ".webmanifest": "application/manifest+json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".woff2": "font/woff2",
    ".woff": "font/woff",
    ".ttf": "font/ttf",
    ".map": "application/json",
    ".txt": "text/plain; charset=utf-8",
}
_IMMUTABLE = "public, max-age=31536000, immutable"


def _media_type(path: Path) -> str:
    return _MEDIA_TYPES.get(path.suffix.lower(), "application/octet-stream")


async def _existing_file(root: Path, relative: str) -> Path | None:
    if not relative or "\x00" in relative:
        return None
    candidate = await anyio.Path(root / relative).resolve()
    if not candidate.is_relative_to(root) or not await candidate.is_file():
        return None
    return Path(candidate)


def spa_router(directory: Path) -> Router:
    """Routes serving `directory` at `/` (resolved once, here, at app construction)."""
    root = directory.resolve()
    index = root / "index.html"
    if not index.is_file():
        raise ValueError(f"HUB_WEBUI_DIR: {directory} has no index.html")

    async def serve(relative: str) -> File:
        if relative.split("/", 1)[0] in _NO_FALLBACK:
            raise ApiError(404, "Not found.")
        found = await _existing_file(root, relative)
        if found is None:
            return File(
                index,
                media_type=_MEDIA_TYPES[".html"],
                content_disposition_type="inline",
                headers={"Cache-Control": "no-cache"},
            )
        headers = {"Cache-Control": _IMMUTABLE} if relative.startswith("_app/immutable/") else {}
        return File(
            found,
            media_type=_media_type(found),
            content_disposition_type="inline",
            headers=headers,
        )

    @get("/", include_in_schema=False)
    async def spa_index() -> File:
        return await serve("")

    @get("/{path:path}", include_in_schema=False)
    async def spa_file(path: FromPath[str]) -> File:
        return await serve(path.lstrip("/"))

    return Router(
        path="/", route_handlers=[spa_index, spa_file], exception_handlers=exception_handlers()
    )
