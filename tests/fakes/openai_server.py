"""A fake OpenAI-compatible model server that behaves like a real one (aiohttp, port 0).

    async with FakeOpenAIServer("llama-cpp-python", window=512) as fake:
        client = openai.AsyncOpenAI(base_url=fake.v1_url, api_key="x")
        ...
        fake.chat_requests[-1].json["messages"]          # what the client sent
        await fake.wait_for(lambda: fake.interrupted == 1)

`flavour` picks the server being reproduced: "llama-cpp-python", "llama-server", "vllm" or
"lmstudio"; their quirks are described (with their sources) in openai_flavours.py. Replies are
the numbered tokens `t0 t1 t2…`; the prompt is counted `chars_per_token` characters a token plus
4 a message, so a test knows exactly which prompt overflows `window`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any

from aiohttp import web

from tests.fakes.ollama_routes import RECORDED, parse_json
from tests.fakes.ollama_wire import Recorded, numbered_tokens
from tests.fakes.openai_extras import call_fragments, embeddings_reply, openai_calls
from tests.fakes.openai_flavours import (
    Flavour,
    FlavourName,
    chunk,
    lmstudio_models,
    prompt_tokens,
    props,
)

_ids = itertools.count(1)
GENERATION_PATH = "/v1/chat/completions"


def _sse(obj: Any) -> bytes:
    data = obj if isinstance(obj, str) else json.dumps(obj, separators=(",", ":"))
    return f"data: {data}\n\n".encode()


class FakeOpenAIServer:
    """The fake server; an async context manager, or `start()` / `stop()`.

    `recorded` outcomes of generation requests: complete, empty (the stream ended before any
    event, as llama-cpp-python's on an overflow), interrupted (ended with a bare `[DONE]` because
    another request arrived), rejected (an error status), error_event (LM Studio's SSE error),
    client_closed.
    """

    def __init__(
        self,
        flavour: FlavourName,
        models: Iterable[str] = ("gemma-3-270m",),
        *,
        window: int = 512,
        token_count: int = 5,
        tokens_per_second: float | None = None,
        chars_per_token: float = 4.0,
        interrupt_requests: bool = True,
        max_window: int = 32768,
        host: str = "127.0.0.1",
        port: int = 0,
        tool_calls: list[dict[str, Any]] | None = None,
        reasoning: list[str] | None = None,
        reasoning_field: str = "reasoning_content",
        embedding_length: int = 8,
    ) -> None:
        self.flavour = Flavour(flavour)
        # Calls made (Ollama shape) when the request offers tools; reasoning streamed first.
        self.tool_calls = tool_calls
        self.reasoning = reasoning
        self.reasoning_field = reasoning_field
        self.embedding_length = embedding_length
        self.models = list(models)
        self.window = window
        self.token_count = token_count
        self.tokens_per_second = tokens_per_second
        self.chars_per_token = chars_per_token
        self.interrupt_requests = interrupt_requests
        self.max_window = max_window  # LM Studio: what the model supports, beyond the loaded size
        self.host, self.port = host, port
        self.requests: list[Recorded] = []
        self.active = 0
        self._outer = asyncio.Lock()  # llama-cpp-python's double lock (app.py get_llama_proxy)
        self._inner = asyncio.Lock()
        self._runner: web.AppRunner | None = None
        self._changed = asyncio.Event()
        self._created = int(time.time()) - 3600

    # --- observing -----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def v1_url(self) -> str:
        """The API base as the openai client and the hub's OpenAI backend take it."""
        return f"{self.url}/v1"

    @property
    def chat_requests(self) -> list[Recorded]:
        return [r for r in self.requests if r.path == GENERATION_PATH]

    @property
    def interrupted(self) -> int:
        return sum(1 for r in self.chat_requests if r.outcome == "interrupted")

    def outcomes(self) -> list[str]:
        return [r.outcome for r in self.chat_requests]

    def changed(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_for(self, predicate: Callable[[], bool], within: float = 10.0) -> None:
        async with asyncio.timeout(within):
            while not predicate():
                await self._changed.wait()

    # --- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> FakeOpenAIServer:
        app = web.Application(middlewares=[self._record])
        app.router.add_get("/v1/models", self._models)
        app.router.add_post(GENERATION_PATH, self._chat)
        app.router.add_post("/v1/embeddings", self._embeddings)
        if self.flavour.name == "llama-server":
            app.router.add_get("/props", self._props)
            app.router.add_get("/health", self._health)
        if self.flavour.name == "lmstudio":
            app.router.add_get("/api/v0/models", self._lmstudio_v0)
            app.router.add_get("/api/v1/models", self._lmstudio_v1)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        self._runner = web.AppRunner(
            app, handler_cancellation=True, access_log=None, shutdown_timeout=0.5
        )
        await self._runner.setup()
        await web.SockSite(self._runner, sock).start()
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeOpenAIServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @web.middleware
    async def _record(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        body = parse_json(await request.read()) if request.can_read_body else None
        rec = Recorded(request.method, request.path, body, dict(request.headers))
        self.requests.append(rec)
        request[RECORDED] = rec
        self.changed()
        try:
            return await handler(request)
        finally:
            if rec.outcome == "pending":
                rec.outcome = "answered"
            self.changed()

    # --- llama-cpp-python's one-request-at-a-time lock ------------------------------------------

    @contextlib.asynccontextmanager
    async def _llama(self) -> AsyncIterator[None]:
        """Hold the model: the outer lock is held only while waiting for the inner one, so a
        streaming reply sees `outer.locked()` exactly when someone else waits."""
        if not self.flavour.one_at_a_time:
            yield
            return
        await self._outer.acquire()
        release_outer = True
        try:
            await self._inner.acquire()
            try:
                self._outer.release()
                release_outer = False
                yield
            finally:
                self._inner.release()
        finally:
            if release_outer:
                self._outer.release()

    def _someone_waits(self) -> bool:
        return self.flavour.one_at_a_time and self.interrupt_requests and self._outer.locked()

    # --- info routes ---------------------------------------------------------------------------

    async def _models(self, request: web.Request) -> web.Response:
        async with self._llama():
            data = [self.flavour.model_item(m, self.window, self._created) for m in self.models]
            out: dict[str, Any] = {"object": "list", "data": data}
            if self.flavour.name == "llama-server":
                out["models"] = [{"name": m, "model": m, "type": "model"} for m in self.models]
            return web.json_response(out)

    async def _props(self, request: web.Request) -> web.Response:
        return web.json_response(props(self.window, self.models[0]))

    async def _health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def _lmstudio_v0(self, request: web.Request) -> web.Response:
        return web.json_response(lmstudio_models(self.models, self.window, self.max_window, False))

    async def _lmstudio_v1(self, request: web.Request) -> web.Response:
        return web.json_response(lmstudio_models(self.models, self.window, self.max_window, True))

    # --- chat completions ----------------------------------------------------------------------

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        rec = request[RECORDED]
        body = rec.json
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            rec.outcome = "rejected"
            return self._error(400, "messages is required")
        if body.get("model") not in self.models:
            if self.flavour.one_at_a_time:  # LlamaProxy serves its default model for any name
                body = body | {"model": self.models[0]}
            else:
                rec.outcome = "rejected"
                return self._error(404, f"The model `{body.get('model')}` does not exist")
        prompt = prompt_tokens(body, self.chars_per_token)
        max_tokens = body.get("max_tokens")
        if (refusal := self._refusal(prompt, max_tokens, bool(body.get("stream")))) is not None:
            rec.outcome = "rejected"
            return refusal
        async with self._llama():
            if not body.get("stream"):
                return self._whole(body, prompt, rec)
            return await self._stream(request, body, prompt, rec)

    def _error(self, status: int, message: str) -> web.Response:
        if self.flavour.name == "llama-cpp-python" and status == 404:
            return web.json_response({"detail": message}, status=status)
        error = {"message": message, "type": "invalid_request_error", "param": None, "code": None}
        return web.json_response({"error": error}, status=status)

    def _refusal(self, prompt: int, max_tokens: Any, stream: bool) -> web.Response | None:
        """The 400 a server answers before streaming, for the flavours that do."""
        flavour, window = self.flavour.name, self.window
        if flavour == "vllm" and isinstance(max_tokens, int) and prompt + max_tokens > window:
            message = (
                f"'max_tokens' or 'max_completion_tokens' is too large: {max_tokens}. This "
                f"model's maximum context length is {window} tokens and your request has "
                f"{prompt} input tokens ({max_tokens} > {window} - {prompt})."
            )
            error = {"message": message, "type": "BadRequestError", "param": None, "code": 400}
            return web.json_response({"error": error}, status=400)
        too_long = prompt > window if flavour == "lmstudio" else prompt >= window
        if not too_long:
            return None
        if flavour in ("llama-server", "vllm") or (flavour == "llama-cpp-python" and not stream):
            return web.json_response(self.flavour.overflow_error(prompt, window), status=400)
        return None  # llama-cpp-python streaming and LM Studio answer inside the stream

    def _budget(self, prompt: int, max_tokens: Any) -> tuple[list[str], str]:
        tokens = numbered_tokens(self.token_count)
        room = self.window - prompt
        limit = max_tokens if isinstance(max_tokens, int) and max_tokens > 0 else room
        limit = min(limit, room)
        if len(tokens) > limit:
            return tokens[: max(limit, 0)], "length"
        return tokens, "stop"

    def _calls_for(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        """The scripted tool calls, when the request offers tools to call."""
        return list(self.tool_calls or ()) if body.get("tools") else []

    async def _embeddings(self, request: web.Request) -> web.Response:
        body = request[RECORDED].json
        if not isinstance(body, dict) or not body.get("input"):
            return self._error(400, "input is required")
        if body.get("model") not in self.models:
            return self._error(404, f"The model `{body.get('model')}` does not exist")
        inputs = [body["input"]] if isinstance(body["input"], str) else list(body["input"])
        encoding = body.get("encoding_format")
        reply = embeddings_reply(body["model"], inputs, self.embedding_length, encoding)
        return web.json_response(reply)

    def _whole(self, body: dict[str, Any], prompt: int, rec: Recorded) -> web.Response:
        tokens, finish = self._budget(prompt, body.get("max_tokens"))
        rec.outcome = "complete"
        message: dict[str, Any] = {"role": "assistant", "content": "".join(tokens)}
        if self.reasoning:
            message[self.reasoning_field] = "".join(self.reasoning)
        if calls := self._calls_for(body):
            message["tool_calls"] = openai_calls(calls)
            finish = "tool_calls"
        return web.json_response(
            {
                "id": f"chatcmpl-{next(_ids)}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body["model"],
                "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                "usage": {
                    "prompt_tokens": prompt,
                    "completion_tokens": len(tokens),
                    "total_tokens": prompt + len(tokens),
                },
            }
        )

    async def _stream(
        self, request: web.Request, body: dict[str, Any], prompt: int, rec: Recorded
    ) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)  # SSE servers send their headers before any work
        self.active += 1
        try:
            await self._events(request, resp, body, prompt, rec)
        except (asyncio.CancelledError, ConnectionError):
            if rec.outcome == "pending":
                rec.outcome = "client_closed"
                self.changed()
            raise
        finally:
            self.active -= 1
        return resp

    async def _events(
        self,
        request: web.Request,
        resp: web.StreamResponse,
        body: dict[str, Any],
        prompt: int,
        rec: Recorded,
    ) -> None:
        model, window = body["model"], self.window
        if self.flavour.name == "llama-cpp-python" and prompt >= window:
            # "Requested tokens (N) exceed context window of M" is raised inside the stream:
            # the server logs it and ends the stream without a single event (observed with
            # 0.3.36 and sse-starlette 3.7: the chunked body is terminated properly), then
            # uvicorn closes the keep-alive connection, without having said so in a header.
            rec.outcome = "empty"
            await resp.write_eof()
            if request.transport is not None:
                request.transport.close()
            return
        if self.flavour.name == "lmstudio" and prompt > window:
            await resp.write(_sse({"error": self.flavour.overflow_message(prompt, window)}))
            rec.outcome = "error_event"
            return
        completion_id = f"chatcmpl-{next(_ids)}"
        tokens, finish = self._budget(prompt, body.get("max_tokens"))
        await resp.write(_sse(chunk(completion_id, model, {"role": "assistant"}, None)))
        for piece in self.reasoning or ():
            await resp.write(_sse(chunk(completion_id, model, {self.reasoning_field: piece}, None)))
        loop, start = asyncio.get_running_loop(), asyncio.get_running_loop().time()
        for i, token in enumerate(tokens):
            if self.tokens_per_second:
                delay = start + (i + 1) / self.tokens_per_second - loop.time()
                await asyncio.sleep(max(delay, 0))
            await resp.write(_sse(chunk(completion_id, model, {"content": token}, None)))
            rec.chunks_sent += 1
            self.changed()
            if self._someone_waits():  # llama-cpp-python's interrupt_requests
                await resp.write(_sse("[DONE]"))
                rec.outcome = "interrupted"
                return
        if calls := self._calls_for(body):
            for delta in call_fragments(calls):
                await resp.write(_sse(chunk(completion_id, model, delta, None)))
            finish = "tool_calls"
        await resp.write(_sse(chunk(completion_id, model, {}, finish)))
        options = body.get("stream_options")
        if (
            self.flavour.reports_usage
            and isinstance(options, dict)
            and options.get("include_usage")
        ):
            usage = {
                "prompt_tokens": prompt,
                "completion_tokens": len(tokens),
                "total_tokens": prompt + len(tokens),
            }
            last = chunk(completion_id, model, {}, None) | {"choices": [], "usage": usage}
            await resp.write(_sse(last))
        await resp.write(_sse("[DONE]"))
        rec.outcome = "complete"
