"""Model management and embedding routes of the fake Ollama, as ollama/ollama's server answers
them (`server/routes.go`: PullHandler, PushHandler, CreateHandler, CopyHandler, DeleteHandler,
HeadBlobHandler, CreateBlobHandler, EmbedHandler, EmbeddingsHandler; `openai/openai.go` for
`/v1/embeddings`).

- pull, push and create stream `{"status": …}` lines as NDJSON (omitted `stream` streams),
  with `digest`, `total` and `completed` while bytes move, ending in `{"status":"success"}`;
  with `"stream": false` only the last object (or the error, status 500) is sent. A failure
  after the first line is a last `{"error": …}` line, as `streamResponse` writes it.
- copy and delete answer 200 with an empty body; an unknown model is a 404.
- `/api/embed` normalises vectors (and `dimensions` cuts them, normalised again); the legacy
  `/api/embeddings` does not. A model's vectors are a fixed function of the text.

Pullable models live in `fake.registry` (name -> size in bytes); `fake.pull_delay` paces the
progress lines so a test can hang up mid-pull.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import math
import struct
import time
from typing import TYPE_CHECKING, Any

from aiohttp import web

from tests.fakes.ollama_routes import RECORDED, native_error, reply, v1_error
from tests.fakes.ollama_wire import ModelEntry, ndjson

if TYPE_CHECKING:
    from tests.fakes.ollama import FakeOllama

PROGRESS_STEPS = 4  # progress lines per layer while "downloading"


def vector(text: str, length: int) -> list[float]:
    """A deterministic, not normalised vector for `text` (the same text, the same vector)."""
    out: list[float] = []
    seed = text.encode()
    counter = 0
    while len(out) < length:
        digest = hashlib.sha256(seed + counter.to_bytes(4, "little")).digest()
        out += [(b - 127.5) / 127.5 for b in digest]
        counter += 1
    return out[:length]


def normalise(vec: list[float]) -> list[float]:
    norm = math.sqrt(sum(v * v for v in vec)) or 1e-12
    return [v / norm for v in vec]


def _words(text: str) -> int:
    return max(1, len(text.split()))


class ManageRoutes:
    """aiohttp handlers for the management and embedding routes of one `FakeOllama`."""

    def __init__(self, fake: FakeOllama) -> None:
        self.fake = fake

    def add_to(self, app: web.Application) -> None:
        app.router.add_post("/api/pull", self.pull)
        app.router.add_post("/api/push", self.push)
        app.router.add_post("/api/create", self.create)
        app.router.add_post("/api/copy", self.copy)
        app.router.add_delete("/api/delete", self.delete)
        app.router.add_head("/api/blobs/{digest}", self.head_blob)
        app.router.add_post("/api/blobs/{digest}", self.post_blob)
        app.router.add_post("/api/embed", self.embed)
        app.router.add_post("/api/embeddings", self.embeddings)
        app.router.add_post("/v1/embeddings", self.v1_embeddings)

    # --- streamed changes ---------------------------------------------------------------------

    async def _progress(
        self, request: web.Request, body: dict[str, Any], steps: Any
    ) -> web.StreamResponse:
        """Run `steps` (an async generator of progress dicts; raising ValueError(message) for a
        failure) as Ollama's streamResponse / waitForStream would."""
        rec = request[RECORDED]
        if body.get("stream") is False:
            last: dict[str, Any] = {}
            try:
                async for item in steps:
                    last = item
            except ValueError as exc:
                rec.outcome = "error_line"
                return native_error(500, str(exc))
            rec.outcome = "complete"
            return reply(last)
        resp = web.StreamResponse()
        resp.content_type = "application/x-ndjson"
        await resp.prepare(request)
        try:
            async for item in steps:
                await resp.write(ndjson(item))
                rec.chunks_sent += 1
                self.fake.changed()
            rec.outcome = "complete"
        except ValueError as exc:
            await resp.write(ndjson({"error": str(exc)}))
            rec.outcome = "error_line"
        except (asyncio.CancelledError, ConnectionError):
            rec.outcome = "client_closed"
            self.fake.changed()
            raise
        self.fake.changed()
        return resp

    async def _layer(self, verb: str, name: str, size: int) -> Any:
        digest = "sha256:" + hashlib.sha256(name.encode()).hexdigest()
        for step in range(PROGRESS_STEPS + 1):
            if step and self.fake.pull_delay:
                await asyncio.sleep(self.fake.pull_delay)
            done = size * step // PROGRESS_STEPS
            item: dict[str, Any] = {"status": f"{verb} {digest[7:19]}", "digest": digest}
            item["total"] = size
            if done:
                item["completed"] = done
            yield item

    async def pull(self, request: web.Request) -> web.StreamResponse:
        body = _object(request)
        if isinstance(body, web.Response):
            return body
        name = str(body.get("model") or body.get("name") or "")
        if not name:
            return native_error(400, "invalid model name")
        fake = self.fake

        tagged = name if ":" in name else f"{name}:latest"  # as Ollama reads a bare name

        async def steps() -> Any:
            yield {"status": "pulling manifest"}
            size = fake.registry.get(tagged)
            if size is None and fake.resolve(name) is None:
                raise ValueError("pull model manifest: file does not exist")
            async for item in self._layer("pulling", tagged, size or 1_000_000):
                yield item
            yield {"status": "verifying sha256 digest"}
            yield {"status": "writing manifest"}
            if fake.resolve(name) is None:
                fake.script(tagged)
            yield {"status": "success"}

        return await self._progress(request, body, steps())

    async def push(self, request: web.Request) -> web.StreamResponse:
        body = _object(request)
        if isinstance(body, web.Response):
            return body
        name = str(body.get("model") or body.get("name") or "")
        if not name:
            return native_error(400, "model is required")
        fake = self.fake

        async def steps() -> Any:
            yield {"status": "retrieving manifest"}
            found = fake.resolve(name)
            if found is None:
                raise ValueError(f"open {name}: no such file or directory")
            async for item in self._layer("pushing", found, 1_000_000):
                yield item
            yield {"status": "pushing manifest"}
            fake.pushed.append(found)
            yield {"status": "success"}

        return await self._progress(request, body, steps())

    async def create(self, request: web.Request) -> web.StreamResponse:
        body = _object(request)
        if isinstance(body, web.Response):
            return body
        name = str(body.get("model") or body.get("name") or "")
        if not name or name.startswith(":"):
            return native_error(400, "invalid model name")
        fake = self.fake
        files = body.get("files") or {}
        base = body.get("from")

        async def steps() -> Any:
            if base:
                source = fake.resolve(str(base))
                if source is None:
                    raise ValueError(f"model '{base}' not found")
                yield {"status": "using existing layer sha256:" + "0" * 64}
            for digest in files.values():
                if digest not in fake.blobs:
                    raise ValueError(f"open {digest}: no such file or directory")
                yield {"status": f"using existing layer {digest}"}
            if not base and not files:
                raise ValueError("neither 'from' or 'files' was specified")
            yield {"status": "writing manifest"}
            target = name if ":" in name else f"{name}:latest"
            source_script = fake.scripts.get(fake.resolve(str(base)) or "") if base else None
            fake.models[target] = ModelEntry(target, modified_at=time.time())
            fake.scripts[target] = source_script or fake.scripts.get(target) or _default(fake)
            fake.created.append(dict(body))
            yield {"status": "success"}

        return await self._progress(request, body, steps())

    # --- plain changes ------------------------------------------------------------------------

    async def copy(self, request: web.Request) -> web.Response:
        body = _object(request)
        if isinstance(body, web.Response):
            return body
        source = str(body.get("source") or "")
        destination = str(body.get("destination") or "")
        if not source or not destination:
            return native_error(400, f'source "{source}" is invalid')
        found = self.fake.resolve(source)
        if found is None:
            return native_error(404, f'model "{source}" not found')
        target = destination if ":" in destination else f"{destination}:latest"
        self.fake.models[target] = ModelEntry(target, modified_at=time.time())
        self.fake.scripts[target] = self.fake.scripts[found]
        return web.Response(status=200)

    async def delete(self, request: web.Request) -> web.Response:
        body = _object(request)
        if isinstance(body, web.Response):
            return body
        name = str(body.get("model") or body.get("name") or "")
        found = self.fake.resolve(name)
        if found is None:
            return native_error(404, f"model '{name}' not found")
        self.fake.remove(found)
        return web.Response(status=200)

    async def head_blob(self, request: web.Request) -> web.Response:
        digest = request.match_info["digest"]
        if digest not in self.fake.blobs:
            return native_error(404, f'blob "{digest}" not found')
        return web.Response(status=200)

    async def post_blob(self, request: web.Request) -> web.Response:
        digest = request.match_info["digest"]
        data = await request.read()
        got = "sha256:" + hashlib.sha256(data).hexdigest()
        if got != digest:
            return native_error(400, f'digest mismatch, expected "{digest}", got "{got}"')
        self.fake.blobs[digest] = len(data)
        return web.Response(status=201)

    # --- embeddings ---------------------------------------------------------------------------

    def _embed_inputs(self, body: dict[str, Any]) -> list[str] | str:
        value = body.get("input")
        if value is None or value == "":
            return []
        if isinstance(value, str):
            return [value]
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return value
        return "invalid input type"

    def _vectors(
        self, model: str, inputs: list[str], body: dict[str, Any]
    ) -> list[list[float]] | str:
        script = self.fake.scripts[model]
        out = []
        for text in inputs:
            if body.get("truncate") is False and _words(text) > script.context_length:
                return "the input length exceeds the context length"
            vec = normalise(vector(text, script.embedding_length))
            dims = body.get("dimensions")
            if isinstance(dims, int) and 0 < dims < len(vec):
                vec = normalise(vec[:dims])
            out.append(vec)
        return out

    async def embed(self, request: web.Request) -> web.Response:
        body = _object(request)
        if isinstance(body, web.Response):
            return body
        name = str(body.get("model") or "")
        model = self.fake.resolve(name)
        if model is None:
            return native_error(404, f"model '{name}' not found")
        inputs = self._embed_inputs(body)
        if isinstance(inputs, str):
            return native_error(400, inputs)
        self.fake.mark_loaded(model)
        if not inputs:
            return reply({"model": name, "embeddings": []})
        vectors = self._vectors(model, inputs, body)
        if isinstance(vectors, str):
            return native_error(400, vectors)
        count = sum(_words(t) for t in inputs)
        return reply(
            {
                "model": name,
                "embeddings": vectors,
                "total_duration": 2_000_000,
                "load_duration": 1_000_000,
                "prompt_eval_count": count,
            }
        )

    async def embeddings(self, request: web.Request) -> web.Response:
        body = _object(request)
        if isinstance(body, web.Response):
            return body
        name = str(body.get("model") or "")
        model = self.fake.resolve(name)
        if model is None:
            return native_error(404, f"model '{name}' not found")
        self.fake.mark_loaded(model)
        prompt = body.get("prompt") or ""
        if not prompt:
            return reply({"embedding": []})
        length = self.fake.scripts[model].embedding_length
        return reply({"embedding": vector(str(prompt), length)})

    async def v1_embeddings(self, request: web.Request) -> web.Response:
        body = _object(request, v1=True)
        if isinstance(body, web.Response):
            return body
        name = str(body.get("model") or "")
        model = self.fake.resolve(name)
        if model is None:
            return v1_error(404, f"model '{name}' not found")
        inputs = self._embed_inputs(body)
        if isinstance(inputs, str) or not inputs:
            return v1_error(400, "invalid input")
        vectors = self._vectors(model, inputs, body)
        if isinstance(vectors, str):
            return v1_error(400, vectors)
        base64_wanted = body.get("encoding_format") == "base64"
        data = [
            {
                "object": "embedding",
                "embedding": _b64(v) if base64_wanted else v,
                "index": i,
            }
            for i, v in enumerate(vectors)
        ]
        count = sum(_words(t) for t in inputs)
        usage = {"prompt_tokens": count, "total_tokens": count}
        return reply({"object": "list", "data": data, "model": name, "usage": usage})


def _b64(vec: list[float]) -> str:
    return base64.b64encode(struct.pack(f"<{len(vec)}f", *vec)).decode()


def _default(fake: FakeOllama) -> Any:
    from tests.fakes.ollama_wire import Script

    return Script(**fake.defaults)


def _object(request: web.Request, *, v1: bool = False) -> dict[str, Any] | web.Response:
    body = request[RECORDED].json
    if not isinstance(body, dict):
        return (v1_error if v1 else native_error)(400, "missing request body")
    return body
