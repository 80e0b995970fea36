"""Route handlers of the fake Ollama. State (models, scripts, recorded requests) lives on
`FakeOllama`; this module only speaks HTTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from tests.fakes.ollama_formats import Format, NativeChat, NativeGenerate, OpenAIChat, prompt_words
from tests.fakes.ollama_wire import (
    BUSY_MESSAGE,
    Clock,
    Piece,
    Recorded,
    Script,
    openai_error,
    rfc3339,
)

if TYPE_CHECKING:
    from tests.fakes.ollama import FakeOllama

RECORDED: web.RequestKey[Recorded] = web.RequestKey("recorded", Recorded)
SPLIT_PAUSE = 0.005  # between the two halves of a split line, so they leave as two TCP segments


def compact(obj: Any) -> str:
    """Go's encoding/json output: no spaces, non-ASCII kept."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def reply(obj: Any, status: int = 200) -> web.Response:
    return web.json_response(obj, status=status, dumps=compact)


def native_error(status: int, message: str) -> web.Response:
    return reply({"error": message}, status)


def v1_error(status: int, message: str) -> web.Response:
    return reply(openai_error(status, message), status)


class Routes:
    """aiohttp handlers bound to one `FakeOllama`."""

    def __init__(self, fake: FakeOllama) -> None:
        self.fake = fake

    def add_to(self, app: web.Application) -> None:
        app.router.add_get("/", self.root)  # add_get answers HEAD too, as Ollama does
        app.router.add_get("/api/version", self.version)
        app.router.add_get("/api/tags", self.tags)
        app.router.add_get("/api/ps", self.ps)
        app.router.add_post("/api/show", self.show)
        app.router.add_post("/api/chat", self.chat)
        app.router.add_post("/api/generate", self.generate)
        app.router.add_post("/v1/chat/completions", self.v1_chat)
        app.router.add_get("/v1/models", self.v1_models)
        app.router.add_get("/v1/models/{model:.+}", self.v1_model)
        app.router.add_get("/_fake/stats", self.stats)  # for tests running it as a process

    async def stats(self, request: web.Request) -> web.Response:
        """What a test needs from a fake in another process: replies streaming now, the
        most at once, and each generation request's last message, in arrival order."""
        asked = []
        for rec in self.fake.chat_requests:
            messages = (rec.json or {}).get("messages") or [{}]
            asked.append({"content": messages[-1].get("content"), "outcome": rec.outcome})
        body = {"active": self.fake.active, "peak": self.fake.peak, "requests": asked}
        return reply(body)

    # --- info routes ---------------------------------------------------------------------------

    async def root(self, request: web.Request) -> web.Response:
        return web.Response(text="Ollama is running")

    async def version(self, request: web.Request) -> web.Response:
        return reply({"version": self.fake.version})

    async def tags(self, request: web.Request) -> web.Response:
        fake = self.fake
        models = [entry.tag(fake.scripts[name]) for name, entry in fake.models.items()]
        return reply({"models": models})

    async def ps(self, request: web.Request) -> web.Response:
        fake, now, out = self.fake, time.time(), []
        for name, expires in list(fake.loaded.items()):
            if expires < now or name not in fake.models:
                continue
            script = fake.scripts[name]
            item = fake.models[name].tag(script)
            del item["modified_at"]
            size = item["size"]
            item |= {"expires_at": rfc3339(expires), "size_vram": size}
            item["context_length"] = script.context_length
            out.append(item)
        return reply({"models": out})

    async def show(self, request: web.Request) -> web.Response:
        body = _body(request)
        if not isinstance(body, dict):
            return native_error(400, "missing request body")
        name = body.get("model") or body.get("name")
        if not name:
            return native_error(400, "model is required")
        model = self.fake.resolve(str(name))
        if model is None:
            return native_error(404, f"model '{name}' not found")
        return reply(self.fake.models[model].show(self.fake.scripts[model]))

    async def v1_models(self, request: web.Request) -> web.Response:
        fake = self.fake
        data = [
            _v1_model(e.name, e.modified_at) | fake.scripts[e.name].extra_v1_model
            for e in fake.models.values()
        ]
        return reply({"object": "list", "data": data})

    async def v1_model(self, request: web.Request) -> web.Response:
        name = request.match_info["model"]
        model = self.fake.resolve(name)
        if model is None:
            return v1_error(404, f"model '{name}' not found")
        entry, script = self.fake.models[model], self.fake.scripts[model]
        return reply(_v1_model(model, entry.modified_at) | script.extra_v1_model)

    # --- generation routes ---------------------------------------------------------------------

    async def chat(self, request: web.Request) -> web.StreamResponse:
        return await self._generate(request, NativeChat, openai=False)

    async def generate(self, request: web.Request) -> web.StreamResponse:
        return await self._generate(request, NativeGenerate, openai=False)

    async def v1_chat(self, request: web.Request) -> web.StreamResponse:
        return await self._generate(request, OpenAIChat, openai=True)

    async def _generate(
        self, request: web.Request, fmt_cls: type[Format], *, openai: bool
    ) -> web.StreamResponse:
        error = v1_error if openai else native_error
        body = _body(request)
        if not isinstance(body, dict):
            return error(400, "missing request body")
        name = body.get("model")
        if not name:
            return error(400, "model is required")
        model = self.fake.resolve(str(name))
        if model is None:
            return error(404, f"model '{name}' not found")
        script = self.fake.scripts[model]
        if not openai and body.get("think") not in (None, False) and script.thinking is None:
            return error(400, f'"{model}" does not support thinking')
        if script.status is not None:
            msg = BUSY_MESSAGE if script.status == 503 else script.status_message
            return error(script.status, msg)
        if not openai and _is_load_request(body):
            return reply(self._load_reply(model, body))
        self.fake.mark_loaded(model)
        fmt = fmt_cls(model, script, body)
        if body.get("stream", not openai):  # native streams unless told not to; /v1 the reverse
            return await self._stream(request, fmt)
        return await self._whole(request, fmt, error)

    def _load_reply(self, model: str, body: dict[str, Any]) -> dict[str, Any]:
        unload = body.get("keep_alive") in (0, "0", "0s")
        if unload:
            self.fake.loaded.pop(model, None)
        else:
            self.fake.mark_loaded(model)
        out: dict[str, Any] = {"model": model, "created_at": rfc3339()}
        out["message" if "messages" in body else "response"] = (
            {"role": "assistant", "content": ""} if "messages" in body else ""
        )
        return out | {"done": True, "done_reason": "unload" if unload else "load"}

    async def _whole(
        self, request: web.Request, fmt: Format, error: Callable[[int, str], web.Response]
    ) -> web.StreamResponse:
        rec, script, clock = _rec(request), fmt.script, Clock()
        pieces = script.pieces()
        stop = min(x for x in (script.error_after, script.drop_after, len(pieces)) if x is not None)
        await asyncio.sleep(script.first_token_delay)
        clock.mark_first()
        if script.tokens_per_second and stop:
            await asyncio.sleep(stop / script.tokens_per_second)
        if stop == script.drop_after:
            return self._drop(request, rec)
        if stop == script.error_after:
            rec.outcome = "error_line"
            return error(500, script.error_message)
        rec.outcome = "complete"
        metrics = clock.metrics(_prompt_count(script, fmt.body), _eval_count(pieces))
        return reply(fmt.whole(pieces, metrics))

    async def _stream(self, request: web.Request, fmt: Format) -> web.StreamResponse:
        rec, script = _rec(request), fmt.script
        resp, clock = web.StreamResponse(), Clock()
        resp.content_type = fmt.content_type
        self.fake.active += 1
        self.fake.peak = max(self.fake.peak, self.fake.active)
        try:
            # Ollama sends its headers with the first chunk, after the model loaded.
            await asyncio.sleep(script.first_token_delay)
            await resp.prepare(request)
            await self._pieces(request, resp, fmt, clock)
        except asyncio.CancelledError:  # aiohttp cancels the handler when the client hangs up
            self._closed(rec)
            raise
        except ConnectionError:  # or a write to the closing socket fails first
            self._closed(rec)
        finally:
            self.fake.active -= 1
        return resp

    async def _pieces(
        self, request: web.Request, resp: web.StreamResponse, fmt: Format, clock: Clock
    ) -> None:
        rec, script = _rec(request), fmt.script
        pieces = script.pieces()
        loop = asyncio.get_running_loop()
        start = loop.time()
        for i in range(len(pieces) + 1):
            if i == script.drop_after:
                self._drop(request, rec)
                return
            if i == script.error_after:
                await _write(resp, fmt.error(script.error_message), script.split_lines)
                rec.outcome = "error_line"
                self.fake.changed()
                return
            if i == script.end_after:
                rec.outcome = "ended"
                self.fake.changed()
                return
            if i == len(pieces):
                break
            if script.tokens_per_second:
                delay = start + i / script.tokens_per_second - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
            if data := fmt.chunk(pieces[i]):
                clock.mark_first()
                await _write(resp, data, script.split_lines)
                rec.chunks_sent += 1
        metrics = clock.metrics(_prompt_count(script, fmt.body), _eval_count(pieces))
        await _write(resp, fmt.final(metrics), script.split_lines)
        rec.outcome = "complete"
        self.fake.changed()

    def _closed(self, rec: Recorded) -> None:
        if rec.outcome == "pending":
            rec.outcome = "server_stopped" if self.fake.stopping else "client_closed"
            self.fake.changed()

    def _drop(self, request: web.Request, rec: Recorded) -> web.StreamResponse:
        rec.outcome = "dropped"
        self.fake.changed()
        if request.transport is not None:
            request.transport.abort()  # no terminating chunk: the client sees a cut stream
        # Never delivered: aiohttp's write_eof on the aborted transport fails quietly.
        return web.Response(status=500)


async def _write(resp: web.StreamResponse, data: bytes, split: bool) -> None:
    if not split or len(data) < 2:
        await resp.write(data)
        return
    # Cut mid-line (and possibly mid-UTF-8 character) to exercise incremental parsers.
    cut = len(data) // 2
    await resp.write(data[:cut])
    await asyncio.sleep(SPLIT_PAUSE)
    await resp.write(data[cut:])


def _rec(request: web.Request) -> Recorded:
    return request[RECORDED]


def _body(request: web.Request) -> Any:
    return _rec(request).json


def _is_load_request(body: dict[str, Any]) -> bool:
    if "messages" in body:
        return not body.get("messages")
    return not body.get("prompt") and "suffix" not in body and not body.get("images")


def _prompt_count(script: Script, body: dict[str, Any]) -> int:
    return script.prompt_eval_count if script.prompt_eval_count is not None else prompt_words(body)


def _eval_count(pieces: list[Piece]) -> int:
    return sum(1 for p in pieces if p.kind != "tool_calls") or 1


def _v1_model(name: str, modified_at: float) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": int(modified_at), "owned_by": "library"}


def parse_json(raw: bytes) -> Any:
    """The request body as JSON; None when empty, the error text when malformed."""
    if not raw.strip():
        return None
    with contextlib.suppress(ValueError):
        return json.loads(raw)
    return ValueError("invalid character in request body")
