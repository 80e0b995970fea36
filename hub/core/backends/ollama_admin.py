"""What an Ollama server does besides answering: model management, load and unload, its version.

Model changes are relayed in Ollama's own shapes: the hub always asks for a stream of progress
objects (`{"status": …}`) and hands them on as they come, so a client that asked for one object
gets the last of them from the edge. A pull of several gigabytes can be silent for minutes
while the server verifies what it downloaded, so these streams wait far longer than replies.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from typing import Any

import aiohttp

from hub.core.backends.base import HttpBackend, decode_object, seconds
from hub.core.ports import BackendError, ModelChange

# Seconds to the first progress line and between reads of a model change. A pull or a create
# can work for a long while without a word (verifying a digest, quantizing); the client's own
# connection, which it may close at any time, is what bounds it.
CHANGE_TIMEOUTS = (600.0, 1800.0)
_PATHS = {"pull": "/api/pull", "push": "/api/push", "create": "/api/create"}
_UNLOAD = (0, "0", "0s", "0m", 0.0)


def unloads(keep_alive: str | int | float | None) -> bool:
    """Whether a `keep_alive` asks Ollama to unload the model (`0`, `"0"`, `"0s"`…)."""
    return keep_alive in _UNLOAD


class OllamaAdmin(HttpBackend):
    """The management side of an Ollama backend (`ManagesModels`, `LoadsModels`,
    `ReportsVersion`); `OllamaBackend` adds chat and embeddings."""

    async def change_models(self, change: ModelChange) -> AsyncIterator[Mapping[str, Any]]:
        """Pull, push or create (progress objects), or copy and delete (none)."""
        body = dict(change.body)
        model = _model_of(change)
        if change.operation in ("copy", "delete"):
            await self._plain_change(change.operation, body, model)
            return
        body["stream"] = True
        lines = self.stream_lines(_PATHS[change.operation], body, model, timeouts=CHANGE_TIMEOUTS)
        try:
            async for line in lines:
                progress = decode_object(line, self.name, "progress line")
                if error := progress.get("error"):
                    raise BackendError(f"{self.name}: {error}", kind="stream")
                yield progress
        finally:
            await lines.aclose()

    async def _plain_change(self, operation: str, body: dict[str, Any], model: str) -> None:
        method, path = ("DELETE", "/api/delete") if operation == "delete" else ("POST", "/api/copy")
        await self.request_json(method, path, body, within=CHANGE_TIMEOUTS[0], model=model)

    async def has_blob(self, digest: str) -> bool:
        """`HEAD /api/blobs/<digest>`: 200 when the server has it, 404 when not."""
        try:
            async with asyncio.timeout(self.request_timeout):
                async with self._client().head(self._base + f"/api/blobs/{digest}") as resp:
                    status, content = resp.status, await resp.read()
        except TimeoutError:
            reason = f"{self.name} did not answer within {seconds(self.request_timeout)}."
            raise BackendError(reason, kind="timeout") from None
        except aiohttp.ClientError as exc:
            raise self.transport_error(exc, started=False) from None
        if status == 404:
            return False
        if status >= 400:
            raise self.answer_error(status, content, None)
        return True

    async def push_blob(self, digest: str, data: AsyncIterator[bytes]) -> None:
        """`POST /api/blobs/<digest>` with the file streamed through, never held in memory."""
        url = self._base + f"/api/blobs/{digest}"
        try:
            async with self._client().post(url, data=data) as resp:
                status, content = resp.status, await resp.read()
        except aiohttp.ClientError as exc:
            raise self.transport_error(exc, started=False) from None
        if status >= 400:
            raise self.answer_error(status, content, None)

    async def load(self, model: str, keep_alive: str | int | float | None) -> str:
        """An empty `/api/generate`: Ollama loads the model (or, with keep_alive 0, unloads
        it) and answers one object whose `done_reason` says which."""
        body: dict[str, Any] = {"model": model, "prompt": "", "stream": False}
        if keep_alive is not None:
            body["keep_alive"] = keep_alive
        _, answer = await self.request_json(
            "POST", "/api/generate", body, within=self.first_token_timeout, model=model
        )
        reason = answer.get("done_reason") if isinstance(answer, dict) else None
        return str(reason or ("unload" if unloads(keep_alive) else "load"))

    async def version(self) -> str | None:
        """`/api/version`, or None when the server does not say."""
        status, body = await self.request_json("GET", "/api/version")
        if status == 404 or not isinstance(body, dict):
            return None
        version = body.get("version")
        return version if isinstance(version, str) and version else None


def _model_of(change: ModelChange) -> str:
    body = change.body
    name = body.get("source") if change.operation == "copy" else body.get("model")
    return str(name or body.get("name") or "")
