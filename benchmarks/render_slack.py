"""Render benchmark, Slack leg: many threads of one workspace streaming long replies at once.

Run from the repository root:

    .venv/bin/python benchmarks/render.py --platform slack [--chats 20 --tokens 1500 --rate 40]
        [--channels 1] [--policies chathub every-20-chunks]

Each thread's reply comes from the fake Ollama (`tests/fakes/ollama.py`, its own process) through
the real Ollama backend; the fake Slack (`tests/fakes/slack.py`, its own process too) enforces
Slack's published limits (each method's tier per workspace over any 60 s, chat.postMessage and
chat.update about once a second per channel) and answers 429 when they are broken. CPU is this
process's (the hub side).

Two policies answer the same mentions:

- chathub: the whole hub on embedded defaults (`open_services`: SQLite, in-memory limiter,
  router, Ollama backend, `ChatService`) behind the Slack connector (slack-bolt in Socket Mode,
  `ChatDispatch`, `render()`, native chat streams, the pooled budgets); a thin recorder notes
  when each reply's first text leaves `ChatService`;
- every-20-chunks: ChatGPT-in-Slack's loop (app/openai_ops.py): a placeholder message, then a
  `chat.update` of the whole reply so far every 20 chunks (each in its own task, as its
  threads), a last update at the end; its client retries a 429 twice after `Retry-After`
  (`RateLimitErrorRetryHandler(max_retry_count=2)`, as its main.py), then drops the call.

Targets (issue 15): 0 × 429, first visible text <= 1.5 s after the first token, 100% exact
finals; API calls per reply recorded for both.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp
import httpx
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from hub.bootstrap import open_services
from hub.connectors.slack.bot import SlackConnector
from hub.connectors.slack.settings import SlackSettings
from hub.core.backends.ollama import OllamaBackend
from hub.core.chat import ChatService
from hub.core.markup import slack as mrkdwn
from hub.core.markup.split import split_markdown
from hub.core.models import ChatMessage, ConversationKey, Done, IncomingMessage, ReplyEvent, Text
from hub.core.ports import ChatRequest, Delta
from hub.core.routing_config import BackendConfig, RoutingConfig
from hub.settings import HubSettings
from tests.fakes.process import fake_process
from tests.fakes.slack import APP_TOKEN, BOT_TOKEN, GENERAL

MODEL = "bench:1b"
POLICIES = ("chathub", "every-20-chunks")
WRITES = {
    "chat.postMessage", "chat.update", "chat.startStream", "chat.appendStream", "chat.stopStream",
}  # fmt: skip
LOADING = " ... :writing_hand:"  # ChatGPT-in-Slack's in-progress suffix


class Slack:
    """The fake Slack running as its own process, driven through its control routes."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.client = httpx.AsyncClient(timeout=60)

    @property
    def api_url(self) -> str:
        return self.root + "/api/"

    async def configure(self, **values: Any) -> None:
        (await self.client.post(self.root + "/_fake/configure", json=values)).raise_for_status()

    async def say(self, channel: str, text: str, *, mention: bool) -> str:
        """A person's message (a mention of the bot, delivered; or not); its ts."""
        body = {"kind": "mention", "channel": channel, "text": text, "deliver": mention}
        response = await self.client.post(self.root + "/_fake/event", json=body)
        response.raise_for_status()
        return str(response.json()["ts"])

    async def state(self) -> dict[str, Any]:
        response = await self.client.get(self.root + "/_fake/state")
        response.raise_for_status()
        data: dict[str, Any] = response.json()
        return data


@dataclass
class Run:
    policy: str
    threads: list[tuple[str, str]] = field(default_factory=list)  # (channel, thread ts)
    first_token: dict[str, float] = field(default_factory=dict)  # by thread ts
    last_token: dict[str, float] = field(default_factory=dict)
    texts: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    cpu: float = 0.0


class Recorder:
    """Wraps the real ChatService: notes each thread's first text and final reply."""

    def __init__(self, chat: ChatService, run: Run) -> None:
        self.chat, self.run, self.finished = chat, run, 0

    def reply(self, msg: IncomingMessage) -> AsyncIterator[ReplyEvent]:
        return self._reply(msg)

    async def _reply(self, msg: IncomingMessage) -> AsyncIterator[ReplyEvent]:
        try:
            async for event in self.chat.reply(msg):
                if isinstance(event, Text) and event.delta:
                    now = asyncio.get_running_loop().time()
                    self.run.first_token.setdefault(msg.thread_id, now)
                    self.run.last_token[msg.thread_id] = now
                if isinstance(event, Done):
                    self.run.texts[msg.thread_id] = event.text
                yield event
        finally:
            self.finished += 1

    async def stop(self, key: ConversationKey) -> bool:
        return await self.chat.stop(key)


def channels_of(args: argparse.Namespace) -> list[str]:
    return [GENERAL, *(f"C0BENCH{i}" for i in range(1, args.channels))]


async def run_chathub(slack: Slack, url: str, args: argparse.Namespace, data: Path) -> Run:
    run = Run("chathub")
    settings = HubSettings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=data,
        default_model=MODEL,
        log_level="WARNING",
        routing=RoutingConfig(
            backends=[BackendConfig(name="bench", url=url, max_concurrency=args.chats)]
        ),
    )
    section = SlackSettings(bot_token=BOT_TOKEN, app_token=APP_TOKEN, base_url=slack.api_url)
    async with open_services(settings) as services:
        chat = Recorder(services.chat, run)
        connector = SlackConnector(chat, section, users=services.stores.users)
        await connector.start()
        try:
            while not (await slack.state())["socket_connected"]:  # noqa: ASYNC110 - polling
                await asyncio.sleep(0.05)
            channels = channels_of(args)
            for i in range(args.chats):
                channel = channels[i % len(channels)]
                ts = await slack.say(channel, f"Tell me everything ({i})", mention=True)
                run.threads.append((channel, ts))
            while chat.finished < args.chats or connector.busy:  # noqa: ASYNC110 - polling
                await asyncio.sleep(0.05)
        finally:
            await connector.stop()
    return run


def request(text: str) -> ChatRequest:
    return ChatRequest(MODEL, (ChatMessage("user", text),))


async def anchor_reply(
    client: AsyncWebClient, backend: OllamaBackend, channel: str, thread: str, run: Run
) -> None:
    """ChatGPT-in-Slack's loop for one thread (see the module docstring)."""
    loop = asyncio.get_running_loop()
    tasks: list[asyncio.Task[Any]] = []

    async def call(method: Any, **kwargs: Any) -> Any:
        try:
            return await method(**kwargs)
        except SlackApiError:
            return None  # logged and dropped by the anchor

    wip = await call(client.chat_postMessage, channel=channel, thread_ts=thread, text="Typing…")
    text, chunks = "", 0
    async for chunk in backend.chat(request("Tell me everything")):
        if not isinstance(chunk, Delta) or not chunk.text:
            continue
        run.first_token.setdefault(thread, loop.time())
        run.last_token[thread] = loop.time()
        text, chunks = text + chunk.text, chunks + 1
        if wip is not None and chunks % 20 == 0:
            update = call(client.chat_update, channel=channel, ts=wip["ts"], text=text + LOADING)
            tasks.append(asyncio.create_task(update))
    await asyncio.gather(*tasks)
    run.texts[thread] = text
    if wip is not None:
        await call(client.chat_update, channel=channel, ts=wip["ts"], text=text)


async def run_anchor(slack: Slack, url: str, args: argparse.Namespace) -> Run:
    run = Run("every-20-chunks")
    channels = channels_of(args)
    for i in range(args.chats):
        channel = channels[i % len(channels)]
        run.threads.append((channel, await slack.say(channel, f"Tell me ({i})", mention=False)))
    backend = OllamaBackend("bench", url)
    async with aiohttp.ClientSession() as session:
        client = AsyncWebClient(token=BOT_TOKEN, base_url=slack.api_url, session=session)
        client.retry_handlers.append(AsyncRateLimitErrorRetryHandler(max_retry_count=2))
        try:
            await asyncio.gather(
                *(anchor_reply(client, backend, c, t, run) for c, t in run.threads)
            )
        finally:
            await backend.aclose()
    return run


def as_mrkdwn(message: dict[str, Any]) -> str:
    """What a bot message shows, as mrkdwn (a stream's Markdown converted)."""
    if message["markdown"]:
        markdown = (
            message["content"].replace("<" + mrkdwn.ZWSP, "<").replace("@" + mrkdwn.ZWSP, "@")
        )
        return mrkdwn.to_mrkdwn(markdown)
    return str(message["content"])


def measure(run: Run, state: dict[str, Any]) -> dict[str, Any]:
    threads = {ts for _, ts in run.threads}
    thread_of = {m["ts"]: m["thread_ts"] for m in state["messages"] if m["thread_ts"]}
    writes: Counter[str] = Counter()
    calls: Counter[str] = Counter()
    methods: Counter[str] = Counter()
    first_visible: dict[str, float] = {}
    shown_at: dict[str, list[float]] = {t: [] for t in threads}
    for call in state["calls"]:
        params = call["params"]
        thread = params.get("thread_ts") or thread_of.get(params.get("ts", ""), "")
        if thread not in threads:
            continue
        calls[thread] += 1
        if call["method"] not in WRITES:
            continue
        writes[thread] += 1
        methods[call["method"].removeprefix("chat.")] += 1
        shown = params.get("markdown_text") or params.get("text") or ""
        if call["status"] == 200 and shown.strip() and not shown.startswith("Typing"):
            first_visible.setdefault(thread, call["t"])
            shown_at[thread].append(call["t"])
    bot: dict[str, list[dict[str, Any]]] = {t: [] for t in threads}
    for message in sorted(state["messages"], key=lambda m: float(m["ts"])):
        if message["bot_id"] and message["thread_ts"] in bot:
            bot[message["thread_ts"]].append(message)
    exact = 0
    for thread in threads:
        full = run.texts.get(thread, "")
        if run.policy == "chathub":
            wanted = [mrkdwn.to_mrkdwn(p.text) for p in split_markdown(full, 3000, mrkdwn.measure)]
            exact += [as_mrkdwn(m) for m in bot[thread]] == wanted
        else:
            exact += [m["content"] for m in bot[thread]] == [full]
    latency = sorted(first_visible[t] - run.first_token[t] for t in threads if t in first_visible)
    p50, p95 = statistics.median(latency), latency[int(0.95 * (len(latency) - 1))]
    per_reply = [writes[t] for t in threads]
    gaps = sorted(max(_gaps(shown_at[t]), default=0.0) for t in threads)
    tails = sorted(shown_at[t][-1] - run.last_token[t] for t in threads if shown_at[t])
    return {
        "429s": state["enforced_429"],
        "first visible p50 / p95 / max (s)": f"{p50:.2f} / {p95:.2f} / {latency[-1]:.2f}",
        "threads with first text <= 1.5 s": f"{sum(t <= 1.5 for t in latency)}/{len(threads)}",
        "write calls per reply (mean, max)": f"{statistics.mean(per_reply):.1f}, {max(per_reply)}",
        "all API calls per reply (mean)": f"{statistics.mean(calls[t] for t in threads):.1f}",
        "writes by method (all replies)": ", ".join(f"{m} {n}" for m, n in methods.most_common()),
        "messages per reply (mean)": f"{statistics.mean(len(bot[t]) for t in threads):.1f}",
        "longest wait between visible writes, median / max thread (s)": (
            f"{statistics.median(gaps):.1f} / {gaps[-1]:.1f}"
        ),
        "last write after the last token p50 / max (s)": (
            f"{statistics.median(tails):.1f} / {tails[-1]:.1f}" if tails else "-"
        ),
        "final text exact": f"{exact}/{len(threads)}",
        "wall / CPU (s)": f"{run.seconds:.1f} / {run.cpu:.1f}",
    }


def _gaps(times: list[float]) -> list[float]:
    return [b - a for a, b in itertools.pairwise(times)]


async def bench(args: argparse.Namespace, url: str, policies: list[str]) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for policy in policies:
        with fake_process("tests.fakes.slack") as root:
            slack = Slack(root)
            try:
                await slack.configure(channels=channels_of(args)[1:])
                wall, cpu = time.perf_counter(), time.process_time()
                if policy == "chathub":
                    with tempfile.TemporaryDirectory() as data:
                        run = await run_chathub(slack, url, args, Path(data))
                else:
                    run = await run_anchor(slack, url, args)
                run.seconds, run.cpu = time.perf_counter() - wall, time.process_time() - cpu
                results[policy] = measure(run, await slack.state())
            finally:
                await slack.client.aclose()
        print(f"{policy}: {results[policy]}", flush=True)
    return results


def main(args: argparse.Namespace, rest: list[str]) -> int:
    """The Slack leg, with render.py's arguments (`--chats` = threads, default 20) and its own
    (`--channels N`: the threads spread over N channels of the workspace, default 1)."""
    own = argparse.ArgumentParser(prog="render.py --platform slack")
    own.add_argument("--channels", type=int, default=1)
    args.channels = max(1, own.parse_args(rest).channels)
    args.chats = args.chats or 20
    policies = args.policies or list(POLICIES)
    if unknown := set(policies) - set(POLICIES):
        own.error(f"unknown policies {sorted(unknown)}; the Slack leg has {list(POLICIES)}")
    print(f"load average before: {os.getloadavg()[0]:.2f} (cores: {os.cpu_count()})", flush=True)
    ollama = ["--models", MODEL, "--tokens", str(args.tokens)]
    with fake_process("tests.fakes.ollama", *ollama, "--tokens-per-second", str(args.rate)) as url:
        results = asyncio.run(bench(args, url, policies))
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    print()
    rows = ["| measure | " + " | ".join(results) + " |", "|---" * (len(results) + 1) + "|"]
    for key in next(iter(results.values())):
        rows.append(f"| {key} | " + " | ".join(str(r[key]) for r in results.values()) + " |")
    print("\n".join(rows))
    return 0
