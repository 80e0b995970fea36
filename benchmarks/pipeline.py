"""Chat pipeline: overhead before the backend sees a request, and 100 concurrent streams.

Run from the repository root:
    .venv/bin/python benchmarks/pipeline.py [--messages 1000] [--streams 100] [--tokens 500]
                                            [--rate 50]

Both parts use the embedded defaults (SQLite store in a temporary directory, in-memory limiter,
the real router and Ollama backend, prompt commands on) and the fake Ollama in its own process.

1. Overhead: messages sent one after another over 50 conversations (so history grows); for each,
   the time from `ChatService.reply()` to the Ollama backend's `chat()` being called (identity,
   command parsing, limits, conversation load, user-turn write, trimming, routing).
   Target p50 < 3 ms, p99 < 10 ms.
2. Throughput: `--streams` conversations at once, each streaming `--tokens` tokens at `--rate`
   tokens/s. Target: no errors, wall time within 10% of the ideal tokens/rate, peak RSS of this
   (the hub's) process < 200 MB. The backend's max_concurrency is raised to the stream count: the
   fake serves them all in parallel, and the point is the hub's own cost, not queueing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from peak_rss import PeakRss  # noqa: E402  (benchmarks/, the script's own folder)

from hub.bootstrap import build_limit_gate  # noqa: E402
from hub.core.backends import build_backend  # noqa: E402
from hub.core.chat import ChatService  # noqa: E402
from hub.core.models import Done, Failed, IncomingMessage, PlatformUser, Turn  # noqa: E402
from hub.core.ports import (  # noqa: E402
    BackendChunk,
    ChatBackend,
    ChatRequest,
    ModelInfo,
    Stores,
)
from hub.core.prompts import PromptService  # noqa: E402
from hub.core.router import Router  # noqa: E402
from hub.core.routing_config import BackendConfig  # noqa: E402
from hub.core.stores.sqlite import open_sqlite  # noqa: E402
from hub.settings import load_settings  # noqa: E402
from tests.fakes.process import fake_ollama_process  # noqa: E402

MODEL = "bench:latest"


class Timed:
    """Wraps the real backend and notes when each request reaches it."""

    def __init__(self, inner: ChatBackend) -> None:
        self.inner = inner
        self.name = inner.name
        self.reached: list[float] = []

    async def chat(self, request: ChatRequest) -> AsyncIterator[BackendChunk]:
        self.reached.append(time.perf_counter())
        stream = self.inner.chat(request)
        try:
            async for chunk in stream:
                yield chunk
        finally:
            await stream.aclose()  # type: ignore[attr-defined]

    async def list_models(self) -> list[ModelInfo]:
        return await self.inner.list_models()

    async def show(self, model: str) -> Mapping[str, Any] | None:
        return await self.inner.show(model)

    async def probe(self) -> None:
        await self.inner.probe()

    async def aclose(self) -> None:
        await self.inner.aclose()


@asynccontextmanager
async def hub(
    url: str, data_dir: Path, concurrency: int
) -> AsyncIterator[tuple[ChatService, Timed, Stores]]:
    settings = load_settings(ollama_url=url, data_dir=data_dir, default_model=MODEL)
    async with AsyncExitStack() as stack:
        stores = await open_sqlite(data_dir)
        stack.push_async_callback(stores.aclose)
        cfg = BackendConfig(name="ollama", url=url, max_concurrency=concurrency)
        backend = Timed(build_backend(cfg, settings.chat))
        routing = settings.routing.model_copy(update={"backends": [cfg]})
        router = Router(routing, [backend], default_model=MODEL)
        stack.push_async_callback(router.aclose)
        await router.start()
        gate, limiter = await build_limit_gate(settings)
        stack.push_async_callback(limiter.aclose)
        chat = ChatService(stores, router, gate, PromptService(stores.prompts), settings.chat)
        stack.push_async_callback(chat.aclose)
        yield chat, backend, stores


def message(conversation: int, text: str) -> IncomingMessage:
    who = PlatformUser("bench", f"user{conversation}", f"User {conversation}")
    return IncomingMessage("bench", f"chat{conversation}", who, text)


async def overhead(url: str, messages: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        async with hub(url, Path(tmp), 4) as (chat, backend, _):
            samples: list[float] = []
            cpu_started = time.process_time()
            for i in range(messages):
                started = time.perf_counter()
                async for event in chat.reply(message(i % 50, f"question {i} " + "word " * 20)):
                    if isinstance(event, Failed):
                        raise SystemExit(f"reply failed: {event.reason}")
                samples.append((backend.reached[-1] - started) * 1000)
            cpu = (time.process_time() - cpu_started) * 1000 / messages
    samples = samples[50:]  # the first message of each conversation creates its user
    cuts = statistics.quantiles(samples, n=100)
    return {"p50": cuts[49], "p99": cuts[98], "mean": statistics.fmean(samples), "cpu": cpu}


async def existing_conversations(stores: Stores, streams: int) -> None:
    """Users and conversations as they are after one earlier exchange (the steady state)."""
    for i in range(streams):
        msg = message(i, "")
        user = await stores.users.for_identity(msg.user)
        conversation = await stores.conversations.active(msg.key, user.id)
        await stores.conversations.append(conversation.id, Turn("user", "hello"))
        await stores.conversations.append(
            conversation.id, Turn("assistant", "Hello! How can I help?")
        )


async def throughput(url: str, streams: int, tokens: int, *, warm: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        async with hub(url, Path(tmp), streams) as (chat, _, stores):
            if warm:
                await existing_conversations(stores, streams)
            firsts: list[float] = []
            failures: list[str] = []

            async def one(i: int) -> bool:
                end = None
                async for event in chat.reply(message(i, "tell me a long story")):
                    if end is None:
                        firsts.append(time.perf_counter() - started)
                    end = event
                if isinstance(end, Failed):
                    failures.append(end.reason)
                return isinstance(end, Done) and end.metrics.completion_tokens == tokens

            with PeakRss() as rss:
                started, cpu_started = time.perf_counter(), time.process_time()
                results = await asyncio.gather(*(one(i) for i in range(streams)))
                wall = time.perf_counter() - started
                cpu = time.process_time() - cpu_started
    return {
        "wall": wall,
        "errors": results.count(False),
        "failures": failures[:3],
        "rss_mb": rss.peak,
        "cpu": cpu,
        "first_p50": statistics.median(firsts),
        "first_max": max(firsts),
    }


def report(label: str, run: dict[str, Any], streams: int, tokens: int, rate: float) -> None:
    ideal = tokens / rate
    per_token = run["cpu"] * 1e6 / (streams * tokens)
    print(
        f"{label}: {streams} streams x {tokens} tokens at {rate:g}/s: wall {run['wall']:.2f} s "
        f"(ideal {ideal:g} s, +{(run['wall'] / ideal - 1) * 100:.1f}%), errors "
        f"{run['errors']}, peak RSS {run['rss_mb']:.0f} MB, first token p50 "
        f"{run['first_p50']:.2f} s / max {run['first_max']:.2f} s, hub CPU {run['cpu']:.1f} s "
        f"({per_token:.0f} µs per token)"
    )
    for reason in run["failures"]:
        print(f"  failed: {reason}")


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--streams", type=int, default=100)
    parser.add_argument("--tokens", type=int, default=500)
    parser.add_argument("--rate", type=float, default=50.0)
    args = parser.parse_args()

    with fake_ollama_process(MODEL, tokens=3) as url:
        over = await overhead(url, args.messages)
    print(
        f"overhead before the backend: p50 {over['p50']:.2f} ms, p99 {over['p99']:.2f} ms, "
        f"mean {over['mean']:.2f} ms over {args.messages - 50} messages; "
        f"{over['cpu']:.2f} ms CPU per whole reply"
    )
    ideal = args.tokens / args.rate
    with fake_ollama_process(MODEL, tokens=args.tokens, rate=args.rate) as url:
        run = await throughput(url, args.streams, args.tokens, warm=True)
        report("existing conversations", run, args.streams, args.tokens, args.rate)
        cold = await throughput(url, args.streams, args.tokens, warm=False)
        report(f"{args.streams} new users at once", cold, args.streams, args.tokens, args.rate)
    print(f"load average after the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    ok = (
        over["p50"] < 3
        and over["p99"] < 10
        and run["errors"] == 0
        and run["wall"] <= ideal * 1.1
        and run["rss_mb"] < 200
    )
    print("targets met" if ok else "TARGETS MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
