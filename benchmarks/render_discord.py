"""Render benchmark, Discord leg: many channels streaming long replies through the fake Discord.

Run from the repository root (render.py starts the fake Ollama and hands over):

    .venv/bin/python benchmarks/render.py --platform discord --chats 20 [--tokens 1500 --rate 40]

The fake Discord (`tests/fakes/discord.py`) runs as its own process and enforces Discord's
limits (5 message writes per 5 s per channel and route, 50 requests a second per bot),
answering 429 when they are broken; the fake Ollama streams each reply. One user per channel
mentions the bot at once. Two policies answer, one after the other, each on a fresh fake:

- chathub: the whole hub on embedded defaults (`open_services`) behind the Discord connector
  (the real discord.py, `render()`, the channel budgets, the rate-limit trace, splitting);
- llmcord: llmcord's streaming loop (a discord.py bot; an edit when the last one is done and
  at least `EDIT_DELAY_SECONDS = 1` has passed, the " ⚪" streaming indicator, a new message
  that replies to the previous one when the text outgrows a message, discord.py's own 429
  handling). llmcord streams into embeds of up to 4,096 characters; here it writes message
  content (2,000), so both policies are measured on the same fields of the same fake.

Targets (issue 16): zero 429s, first visible text <= 1.5 s after the first token, final text
exact in 100% of channels; edits per reply recorded beside llmcord's.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import discord

from hub.bootstrap import open_services
from hub.connectors.discord.bot import DiscordConnector
from hub.connectors.discord.settings import DiscordSettings
from hub.core.backends.ollama import OllamaBackend
from hub.core.markup import discord as markup
from hub.core.models import ChatMessage, ConversationKey, Done, IncomingMessage, ReplyEvent, Text
from hub.core.ports import ChatRequest, Delta
from hub.core.routing_config import BackendConfig, RoutingConfig
from hub.settings import HubSettings
from tests.fakes.discord import pointed_at
from tests.fakes.discord_control import RemoteFake
from tests.fakes.process import fake_process
from tests.support.discord_client import make_client, running

MODEL = "bench:1b"
EDIT_DELAY_SECONDS = 1.0  # llmcord's
STREAMING_INDICATOR = " ⚪"  # llmcord's
WRITES = ("messages.create", "messages.edit")


@dataclass
class Run:
    policy: str
    first_token: dict[str, float] = field(default_factory=dict)  # channel id → loop time
    texts: dict[str, str] = field(default_factory=dict)
    finished: int = 0
    seconds: float = 0.0
    cpu: float = 0.0


class Recorder:
    """Wraps the real ChatService: notes each channel's first text and final reply."""

    def __init__(self, chat: Any, run: Run) -> None:
        self.chat, self.run = chat, run

    def reply(self, msg: IncomingMessage) -> AsyncIterator[ReplyEvent]:
        return self._reply(msg)

    async def _reply(self, msg: IncomingMessage) -> AsyncIterator[ReplyEvent]:
        try:
            async for event in self.chat.reply(msg):
                if isinstance(event, Text) and event.delta:
                    self.run.first_token.setdefault(msg.chat_id, time.monotonic())
                if isinstance(event, Done):
                    self.run.texts[msg.chat_id] = event.text
                yield event
        finally:
            self.run.finished += 1

    async def stop(self, key: ConversationKey) -> bool:
        return bool(await self.chat.stop(key))


async def ask_everywhere(fake: RemoteFake, session: aiohttp.ClientSession) -> list[str]:
    """One user per channel mentions the bot; the channel ids."""
    state = await fake.state(session)
    guild = state["guilds"][0]
    people = [u for u in guild["members"] if u != state["bot"]["id"]]
    channels = list(guild["channels"])
    await asyncio.gather(
        *(fake.post(session, c, people[i % len(people)], "Tell me everything")
          for i, c in enumerate(channels))
    )  # fmt: skip
    return channels


async def wait_for(run: Run, count: int, busy: Any = lambda: False) -> None:
    while run.finished < count or busy():  # noqa: ASYNC110 - polling
        await asyncio.sleep(0.05)


async def run_chathub(fake: RemoteFake, url: str, count: int, data_dir: Path) -> Run:
    run = Run("chathub")
    settings = HubSettings(
        data_dir=data_dir,
        default_model=MODEL,
        routing=RoutingConfig(
            backends=[BackendConfig(name="bench", url=url, max_concurrency=count)]
        ),
    )
    async with aiohttp.ClientSession() as session, open_services(settings) as services:
        token = (await fake.state(session))["bot"]["token"]
        section = DiscordSettings(token=token, api_base=fake.api_base, gateway_url=fake.gateway_url)
        connector = DiscordConnector(Recorder(services.chat, run), section)
        await connector.start()
        try:
            await ask_everywhere(fake, session)
            await wait_for(run, count, lambda: connector.busy)
        finally:
            await connector.stop()
    return run


class Llmcord:
    """llmcord's streaming loop (llmcord.py `on_message`) for one reply, writing content."""

    def __init__(self, message: discord.Message) -> None:
        self.message = message
        self.contents: list[str] = []
        self.sent: list[discord.Message] = []
        self.edit_task: asyncio.Task[Any] | None = None
        self.last_task_time = 0.0
        self.max_len = markup.MAX_LEN - len(STREAMING_INDICATOR)

    async def step(self, new: str, curr: str, finished: bool) -> None:
        if not self.contents and not new:
            return
        start_next_msg = False
        if not self.contents or len(self.contents[-1] + new) > self.max_len:
            self.contents.append("")
            start_next_msg = True
        self.contents[-1] += new
        now = time.monotonic()
        ready = (self.edit_task is None or self.edit_task.done()) and (
            now - self.last_task_time >= EDIT_DELAY_SECONDS
        )
        split_incoming = not finished and len(self.contents[-1] + curr) > self.max_len
        final_edit = finished or split_incoming
        if not (start_next_msg or ready or final_edit):
            return
        if self.edit_task is not None:
            await self.edit_task
        text = self.contents[-1] if final_edit else self.contents[-1] + STREAMING_INDICATOR
        if start_next_msg:
            target = self.message if not self.sent else self.sent[-1]
            self.sent.append(await target.reply(text, silent=True))
        else:
            self.edit_task = asyncio.create_task(self.sent[-1].edit(content=text))
        self.last_task_time = time.monotonic()

    async def finish(self) -> None:
        if self.edit_task is not None:
            with contextlib.suppress(discord.HTTPException):
                await self.edit_task


async def llmcord_reply(message: discord.Message, backend: OllamaBackend, run: Run) -> None:
    channel = str(message.channel.id)
    loop = Llmcord(message)
    request = ChatRequest(MODEL, (ChatMessage("user", message.content),))
    previous = current = ""
    text = ""
    try:
        async for chunk in backend.chat(request):
            if not isinstance(chunk, Delta) or not chunk.text:
                continue
            run.first_token.setdefault(channel, time.monotonic())
            text += chunk.text
            previous, current = current, chunk.text
            await loop.step(previous, current, finished=False)
        await loop.step(current, "", finished=True)  # the stream ended with this chunk
        await loop.finish()
    except discord.HTTPException as exc:  # llmcord logs and gives up on the reply
        print(f"llmcord: {channel}: {exc}", file=sys.stderr)
    run.texts[channel] = text
    run.finished += 1


async def run_llmcord(fake: RemoteFake, url: str, count: int) -> Run:
    run = Run("llmcord (1 s cadence)")
    backend = OllamaBackend("bench", url)
    async with aiohttp.ClientSession() as session:
        token = (await fake.state(session))["bot"]["token"]
        client = make_client(allowed_mentions=discord.AllowedMentions.none())
        tasks: set[asyncio.Task[None]] = set()

        async def on_message(message: discord.Message) -> None:
            if client.user is not None and client.user in message.mentions:
                task = asyncio.create_task(llmcord_reply(message, backend, run))
                tasks.add(task)
                task.add_done_callback(tasks.discard)

        client.event(on_message)
        try:
            with pointed_at(fake):
                async with running(client, token):
                    await ask_everywhere(fake, session)
                    await wait_for(run, count)
        finally:
            await backend.aclose()
    return run


def max_in_window(times: list[float], window: float) -> int:
    best, start = 0, 0
    for end in range(len(times)):
        while times[end] - times[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


def exact(run: Run, channel: str, shown: list[str]) -> bool:
    full = run.texts.get(channel, "")
    if run.policy == "chathub":
        return shown == markup.split(full)
    return "".join(shown) == full


def measure(run: Run, state: dict[str, Any]) -> dict[str, Any]:
    channels = state["guilds"][0]["channels"]
    writes: dict[str, list[float]] = {c: [] for c in channels}
    edits = dict.fromkeys(channels, 0)
    first_visible: dict[str, float] = {}
    for call in state["calls"]:
        where = call["major"]
        if call["kind"] not in WRITES or where not in writes or call["status"] != 200:
            continue
        writes[where].append(call["t"])
        edits[where] += call["kind"] == "messages.edit"
        if call["text"].replace(STREAMING_INDICATOR, "").strip(" …▌"):
            first_visible.setdefault(where, call["t"])
    shown: dict[str, list[str]] = {c: [] for c in channels}
    bot = state["bot"]["id"]
    for message in sorted(state["messages"], key=lambda m: int(m["id"])):
        if message["channel_id"] in shown and message["reference"] and message["id"] != bot:
            shown[message["channel_id"]].append(message["content"])
    latency = sorted(first_visible[c] - run.first_token[c] for c in channels if c in first_visible)
    p50, p95 = statistics.median(latency), latency[int(0.95 * (len(latency) - 1))]
    gaps = [b - a for c in channels for a, b in itertools.pairwise(writes[c])]
    per_reply = list(edits.values())
    return {
        "429s": state["enforced_429"],
        "first visible p50 / p95 / max (s)": f"{p50:.2f} / {p95:.2f} / {latency[-1]:.2f}",
        "channels with first text <= 1.5 s": f"{sum(t <= 1.5 for t in latency)}/{len(channels)}",
        "edits per reply (mean, max)": f"{statistics.mean(per_reply):.1f}, {max(per_reply)}",
        "messages per reply (mean)": f"{statistics.mean(len(v) for v in shown.values()):.1f}",
        "shortest gap between writes in one channel (s)": f"{min(gaps):.3f}",
        "max writes in any 5 s, one channel": max(max_in_window(writes[c], 5.0) for c in channels),
        "final text exact": f"{sum(exact(run, c, shown[c]) for c in channels)}/{len(channels)}",
        "wall / CPU (s)": f"{run.seconds:.1f} / {run.cpu:.1f}",
    }


async def one_policy(policy: str, fake: RemoteFake, url: str, count: int) -> dict[str, Any]:
    wall, cpu = time.perf_counter(), time.process_time()
    if policy == "chathub":
        with tempfile.TemporaryDirectory() as data_dir:
            run = await run_chathub(fake, url, count, Path(data_dir))
    else:
        run = await run_llmcord(fake, url, count)
    run.seconds, run.cpu = time.perf_counter() - wall, time.process_time() - cpu
    async with aiohttp.ClientSession() as session:
        return measure(run, await fake.state(session))


def run_discord(args: argparse.Namespace, url: str) -> dict[str, dict[str, Any]]:
    """The Discord leg, against the fake Ollama at `url` (render.py started it); each policy
    on a fresh fake Discord process."""
    results: dict[str, dict[str, Any]] = {}
    for policy, name in (("chathub", "chathub"), ("llmcord", "llmcord (1 s cadence)")):
        size = ("--channels", str(args.chats), "--users", str(args.chats))
        with fake_process("tests.fakes.discord", *size) as root:
            results[name] = asyncio.run(one_policy(policy, RemoteFake(root), url, args.chats))
        print(f"{name}: {results[name]}", flush=True)
    return results
