"""Render benchmark: many private chats streaming long replies through the fake Telegram.

Run from the repository root:

    .venv/bin/python benchmarks/render.py [--chats 50 --tokens 1500 --rate 40]
        [--baseline DIR]   # also run the chathub leg of another checkout (e.g. main), same run
        [--platform telegram|slack|discord]   # another platform's leg: render_<platform>.py

`--baseline DIR` runs `DIR/benchmarks/render.py --policies chathub` (that tree's own hub, its own
fake processes) just before this tree's chathub leg, so both see the same machine load; make DIR
with `mkdir DIR && git archive main | tar -x -C DIR`.

Each chat's reply comes from the fake Ollama (`tests/fakes/ollama.py`, its own process) through
the real Ollama backend; the fake Telegram (`tests/fakes/telegram.py`, its own process too)
enforces Telegram's flood limits and answers 429 when they are broken. CPU is this process's
(the hub side: backend streaming, rendering, python-telegram-bot).

Three policies stream the same replies:

- chathub: the whole hub on embedded defaults (`open_services`: SQLite store, in-memory limiter,
  router, Ollama backend, `ChatService`) behind the Telegram connector (python-telegram-bot,
  `render()`, budgets, drafts, splitting); a thin recorder notes when each reply's first text
  leaves `ChatService`;
- fixed-0.6s: edit every 0.6 s (AstrBot in groups), ignoring retry-after, cut at 4,000 chars;
- every-8-chunks: edit every 8 chunks (LangBot), ignoring retry-after, cut at 4,000 chars.

Targets (issue 7): zero 429s, first visible text <= 1.2 s after the first token, writes per chat
within the budget, final text exact in 100% of chats.
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import contextlib
import importlib
import itertools
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
from telegram import Bot
from telegram.error import TelegramError
from telegram.request import HTTPXRequest

from hub.bootstrap import open_services
from hub.connectors.telegram.bot import TelegramConnector
from hub.connectors.telegram.settings import TelegramSettings
from hub.core.backends.ollama import OllamaBackend
from hub.core.chat import ChatService
from hub.core.markup import telegram as tg
from hub.core.markup.split import split_markdown
from hub.core.models import (
    ChatMessage,
    ConversationKey,
    Done,
    IncomingMessage,
    ReplyEvent,
    Text,
)
from hub.core.ports import ChatRequest, Delta
from hub.core.routing_config import BackendConfig, RoutingConfig
from hub.settings import HubSettings
from tests.fakes.telegram import WRITE_METHODS

MODEL = "bench:1b"
FIRST_CHAT = 10_000
TOKEN = "123456:TEST"  # the fake Telegram's token


class Telegram:
    """The fake Telegram running as its own process, so its work does not slow the hub's loop."""

    def __init__(self, root: str) -> None:
        self.root = root
        # One client: building one costs ~60 ms of CPU (TLS defaults) on the hub's loop.
        self.client = httpx.AsyncClient(timeout=60)

    @property
    def base_url(self) -> str:
        return self.root + "/bot"

    async def push(self, chat_id: int) -> None:
        body = {"chat_id": chat_id, "text": "Tell me everything", "user_id": chat_id}
        (await self.client.post(self.root + "/_fake/message", json=body)).raise_for_status()

    async def state(self) -> dict[str, Any]:
        response = await self.client.get(self.root + "/_fake/state")
        response.raise_for_status()
        data: dict[str, Any] = response.json()
        return data


@dataclass
class Run:
    policy: str
    first_token: dict[int, float] = field(default_factory=dict)
    texts: dict[int, str] = field(default_factory=dict)
    seconds: float = 0.0
    cpu: float = 0.0


def request(text: str) -> ChatRequest:
    return ChatRequest(MODEL, (ChatMessage("user", text),))


class Recorder:
    """Wraps the real ChatService: notes each chat's first text and final reply, changes nothing."""

    def __init__(self, chat: ChatService, run: Run) -> None:
        self.chat, self.run, self.finished = chat, run, 0

    def reply(self, msg: IncomingMessage) -> AsyncIterator[ReplyEvent]:
        return self._reply(msg)

    async def _reply(self, msg: IncomingMessage) -> AsyncIterator[ReplyEvent]:
        chat_id = int(msg.chat_id)
        try:
            async for event in self.chat.reply(msg):
                if isinstance(event, Text) and event.delta:
                    self.run.first_token.setdefault(chat_id, asyncio.get_running_loop().time())
                if isinstance(event, Done):
                    self.run.texts[chat_id] = event.text
                yield event
        finally:
            self.finished += 1

    async def stop(self, key: ConversationKey) -> bool:
        return await self.chat.stop(key)


async def run_chathub(fake: Telegram, url: str, chats: list[int], data_dir: Path) -> Run:
    run = Run("chathub")
    settings = HubSettings(
        data_dir=data_dir,
        default_model=MODEL,
        # One backend with room for every chat: queueing is the router's job, not measured here.
        routing=RoutingConfig(
            backends=[BackendConfig(name="bench", url=url, max_concurrency=len(chats))]
        ),
    )
    telegram = TelegramSettings(token=TOKEN, base_url=fake.base_url, poll_timeout=1)
    async with open_services(settings) as services:
        chat = Recorder(services.chat, run)
        connector = TelegramConnector(chat, telegram)
        await connector.start()
        try:
            for chat_id in chats:
                await fake.push(chat_id)
            while chat.finished < len(chats) or connector.busy:  # noqa: ASYNC110 - polling
                await asyncio.sleep(0.05)
        finally:
            await connector.stop()
    return run


def truncated(text: str) -> str:
    return text if len(text) <= 4000 else text[:4000] + "… (truncated)"


async def anchor_reply(
    bot: Bot, backend: OllamaBackend, chat_id: int, policy: str, run: Run
) -> None:
    """An anchor bot's loop: placeholder on the first chunk, then edits on its own cadence."""
    loop = asyncio.get_running_loop()
    text, message_id, last_edit, chunks = "", None, 0.0, 0
    async for chunk in backend.chat(request("Tell me everything")):
        if not isinstance(chunk, Delta) or not chunk.text:
            continue
        run.first_token.setdefault(chat_id, loop.time())
        text, chunks = text + chunk.text, chunks + 1
        due = loop.time() - last_edit >= 0.6 if policy == "fixed-0.6s" else chunks % 8 == 0
        try:
            if message_id is None:
                message_id = (await bot.send_message(chat_id, truncated(text))).message_id
                last_edit = loop.time()
            elif due:
                last_edit = loop.time()
                await bot.edit_message_text(truncated(text), chat_id=chat_id, message_id=message_id)
        except TelegramError:
            pass  # the anchors log the flood error and carry on
    run.texts[chat_id] = text
    if message_id is not None:
        with contextlib.suppress(TelegramError):
            await bot.edit_message_text(truncated(text), chat_id=chat_id, message_id=message_id)


async def run_anchor(fake: Telegram, backend: OllamaBackend, chats: list[int], policy: str) -> Run:
    run = Run(policy)
    bot = Bot(TOKEN, base_url=fake.base_url, request=HTTPXRequest(connection_pool_size=256))
    async with bot:
        await asyncio.gather(*(anchor_reply(bot, backend, c, policy, run) for c in chats))
    return run


def max_in_window(times: list[float], window: float) -> int:
    best, start = 0, 0
    for end in range(len(times)):
        while times[end] - times[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


def measure(run: Run, state: dict[str, Any], chats: list[int]) -> dict[str, Any]:
    writes: dict[int, list[float]] = {c: [] for c in chats}
    attempts: dict[int, int] = dict.fromkeys(chats, 0)
    first_visible: dict[int, float] = {}
    for call in state["calls"]:
        chat = int(call["params"].get("chat_id", 0))
        if call["method"] not in WRITE_METHODS or chat not in writes:
            continue
        attempts[chat] += 1
        if call["status"] == 200:
            writes[chat].append(call["t"])
            if str(call["params"].get("text", "")).strip():
                first_visible.setdefault(chat, call["t"])
    messages: dict[int, list[str]] = {c: [] for c in chats}
    for message in sorted(state["messages"], key=lambda m: m["message_id"]):
        messages.setdefault(message["chat_id"], []).append(message["text"])
    latency = sorted(first_visible[c] - run.first_token[c] for c in chats if c in first_visible)
    exact = 0
    for chat in chats:
        full = run.texts.get(chat, "")
        shown = messages[chat]
        if run.policy == "chathub":
            wanted = [
                tg.visible(tg.to_html(p.text)) for p in split_markdown(full, 4096, tg.measure)
            ]
            exact += shown == wanted
        else:
            exact += " ".join(shown).split() == full.split()
    per_chat = [len(writes[c]) for c in chats]
    p50, p95 = statistics.median(latency), latency[int(0.95 * (len(latency) - 1))]
    gaps = [b - a for c in chats for a, b in itertools.pairwise(writes[c])]
    return {
        "429s": state["enforced_429"],
        "first visible p50 / p95 / max (s)": f"{p50:.2f} / {p95:.2f} / {latency[-1]:.2f}",
        "chats with first text <= 1.2 s": f"{sum(t <= 1.2 for t in latency)}/{len(chats)}",
        "writes per chat (mean, max)": f"{statistics.mean(per_chat):.1f}, {max(per_chat)}",
        "write attempts per chat (mean)": f"{statistics.mean(attempts.values()):.1f}",
        "shortest gap between writes in one chat (s)": f"{min(gaps):.3f}",
        "max writes in any 60 s, one chat": max(max_in_window(writes[c], 60.0) for c in chats),
        "final text exact": f"{exact}/{len(chats)}",
        "wall / CPU (s)": f"{run.seconds:.1f} / {run.cpu:.1f}",
    }


def start_process(*args: str) -> tuple[subprocess.Popen[str], str]:
    """Run `python -m <args>` and read the URL it prints once it listens."""
    proc = subprocess.Popen([sys.executable, "-m", *args], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


def stop_process(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    proc.wait(timeout=10)


def baseline(args: argparse.Namespace) -> dict[str, Any]:
    """The chathub leg of the checkout in `args.baseline`, run as its own process."""
    script = Path(args.baseline) / "benchmarks" / "render.py"
    command = [sys.executable, str(script), "--policies", "chathub", "--chats", str(args.chats)]
    command += ["--tokens", str(args.tokens), "--rate", str(args.rate)]
    done = subprocess.run(
        command, cwd=args.baseline, capture_output=True, text=True, check=True, timeout=1800
    )
    line = next(x for x in done.stdout.splitlines() if x.startswith("chathub: {"))
    result: dict[str, Any] = ast.literal_eval(line.removeprefix("chathub: "))
    print(f"chathub (baseline): {result}", flush=True)
    return result


async def bench(args: argparse.Namespace, url: str) -> dict[str, dict[str, Any]]:
    chats = list(range(FIRST_CHAT, FIRST_CHAT + args.chats))
    backend = OllamaBackend("bench", url)
    results: dict[str, dict[str, Any]] = {}
    try:
        for policy in args.policies:
            if policy == "chathub" and args.baseline:
                results["chathub (baseline)"] = await asyncio.to_thread(baseline, args)
            proc, root = start_process("tests.fakes.telegram")
            fake = Telegram(root)
            try:
                wall, cpu = time.perf_counter(), time.process_time()
                if policy == "chathub":
                    with tempfile.TemporaryDirectory() as data_dir:
                        run = await run_chathub(fake, url, chats, Path(data_dir))
                else:
                    run = await run_anchor(fake, backend, chats, policy)
                run.seconds, run.cpu = time.perf_counter() - wall, time.process_time() - cpu
                results[policy] = measure(run, await fake.state(), chats)
            finally:
                await fake.client.aclose()
                stop_process(proc)
            print(f"{policy}: {results[policy]}", flush=True)
    finally:
        await backend.aclose()
    return results


def table(results: dict[str, dict[str, Any]]) -> str:
    policies = list(results)
    rows = ["| measure | " + " | ".join(policies) + " |", "|---" * (len(policies) + 1) + "|"]
    for key in next(iter(results.values())):
        rows.append(f"| {key} | " + " | ".join(str(results[p][key]) for p in policies) + " |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--platform", choices=("telegram", "slack", "discord"), default="telegram")
    parser.add_argument("--chats", type=int, help="chats or threads (default: the leg's own)")
    parser.add_argument("--tokens", type=int, default=1500)
    parser.add_argument("--rate", type=float, default=40.0, help="tokens per second per reply")
    parser.add_argument("--policies", nargs="+", help="default: every policy of the leg")
    parser.add_argument("--baseline", help="a checkout whose chathub leg runs too (e.g. main)")
    args, rest = parser.parse_known_args()
    if args.platform == "slack":  # the Slack leg runs its own fakes: benchmarks/render_slack.py
        sys.exit(importlib.import_module("render_slack").main(args, rest))
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    args.chats = args.chats or 50
    args.policies = args.policies or ["chathub", "fixed-0.6s", "every-8-chunks"]
    print(f"load average before: {os.getloadavg()[0]:.2f} (cores: {os.cpu_count()})", flush=True)
    proc, url = start_process(
        "tests.fakes.ollama", "--models", MODEL, "--tokens", str(args.tokens),
        "--tokens-per-second", str(args.rate),
    )  # fmt: skip
    try:
        if args.platform == "discord":
            from benchmarks.render_discord import run_discord

            results = run_discord(args, url)
        else:
            results = asyncio.run(bench(args, url))
    finally:
        stop_process(proc)
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    print()
    print(table(results))


if __name__ == "__main__":
    main()
