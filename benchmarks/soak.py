"""Soak: 500 HTTP streams and 50 Telegram chats for 10 minutes while Redis, the MongoDB-wire
server and one model backend are each killed (SIGKILL) and started again. Issue 17, item 9.

Run from the repository root (not part of `make test`):
    .venv/bin/python benchmarks/soak.py [--minutes 10] [--streams 500] [--chats 50]

Processes: `chathub serve` with Redis (per-user limits, fail_open), MongoDB (NX-27017 on a
file, so a restart keeps the data) and two model backends (the fake Ollama, each its own
process on a fixed port, serving the same model, paced); the fake Telegram runs in this
process, as do the clients (aiohttp for HTTP, each stream asking again as soon as its reply
ends). The outages, at fractions of the run: Redis down from 20% to 25%, MongoDB from 40% to
45%, backend "b" from 60% to 65%.

Figures: replies completed per kind; errors, each explained (it happened during an outage and
says so: a stream cut when its backend was killed) or not; Telegram messages answered and the
turns stored for them once MongoDB is back (lost = answered but not stored, in order); the
hub's RSS and open file descriptors, sampled every 5 s: at the end of the warm-up (10%) and
over the last 10%, both under full load. Targets: 0 unexplained errors, 0 lost turns, RSS
growth under 10%, no descriptor growth.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import psutil
from pymongo import MongoClient

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.soak_report import TOKENS, Outage, Tally, report  # noqa: E402
from tests.fakes.ollama_wire import numbered_tokens  # noqa: E402
from tests.fakes.telegram import FakeTelegram  # noqa: E402
from tests.services.mongo_process import MongoProcess  # noqa: E402
from tests.services.redis_server import RedisServer  # noqa: E402
from tests.support.served import free_port, serve_env, write_config  # noqa: E402

MODEL = "soak:latest"
REPLY = "".join(numbered_tokens(TOKENS))
KEY = "sk-soak-0123456789abcdef"
DB = "soak"


class Backend:
    """A fake Ollama process on a fixed port that can be killed and started again."""

    def __init__(self, name: str, rate: float) -> None:
        self.name, self.rate, self.port = name, rate, free_port()
        self.proc: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        args = [sys.executable, "-m", "tests.fakes.ollama", "--port", str(self.port)]
        args += ["--models", MODEL, "--tokens", str(TOKENS), "--tokens-per-second", str(self.rate)]
        self.proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        if not self.proc.stdout.readline().startswith("http"):
            raise RuntimeError(f"backend {self.name} did not start")

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


async def stream_loop(
    session: aiohttp.ClientSession, url: str, tally: Tally, stop: asyncio.Event
) -> None:
    body = {"model": MODEL, "messages": [{"role": "user", "content": "go"}]}
    headers = {"Authorization": f"Bearer {KEY}"}
    while not stop.is_set():
        try:
            async with session.post(f"{url}/ollama/api/chat", json=body, headers=headers) as r:
                if r.status != 200:
                    what = (await r.text())[:200]
                    tally.errors.append((tally.now(), f"http {r.status}", what))
                    await asyncio.sleep(1)
                    continue
                last: dict[str, Any] = {}
                text: list[str] = []
                async for line in r.content:
                    if line.strip():
                        last = json.loads(line)
                        text.append(last.get("message", {}).get("content", ""))
            if last.get("done") and "".join(text) == REPLY:
                tally.completed["http"] += 1
            else:
                tally.errors.append((tally.now(), "stream", str(last.get("error", last))[:200]))
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            what = f"{type(exc).__name__}: {exc}"[:200]
            tally.errors.append((tally.now(), "transport", what))
            await asyncio.sleep(1)


def finished(telegram: FakeTelegram, chat: int) -> list[str]:
    return [m.text for m in telegram.chat_messages(chat) if m.text == REPLY or "⚠" in m.text]


async def chat_loop(telegram: FakeTelegram, chat: int, tally: Tally, stop: asyncio.Event) -> None:
    while not stop.is_set():
        sent = tally.sent.setdefault(chat, [])
        text = f"c{chat}-{len(sent)}"
        done = len(finished(telegram, chat)) + 1
        at = tally.now()
        sent.append(text)
        telegram.push_message(chat, text, user_id=chat)
        for _ in range(1200):  # a minute at most
            if len(finished(telegram, chat)) >= done:
                break
            await asyncio.sleep(0.05)
        answer = finished(telegram, chat)[-1] if len(finished(telegram, chat)) >= done else None
        if answer == REPLY:
            tally.answered.setdefault(chat, []).append(text)
        else:
            tally.told.append((at, chat, answer or "no answer within a minute"))
        await asyncio.sleep(1)


def descriptors(proc: psutil.Process, peers: dict[int, str]) -> Counter[str]:
    """The hub's descriptors by kind: sockets by the peer's port (`peers`), the rest by what
    /proc says they are (pipe, eventfd, epoll, file)."""
    kinds = Counter[str]()
    for conn in proc.net_connections(kind="all"):
        port = conn.raddr.port if conn.raddr else None
        local = conn.laddr.port if conn.laddr else None
        kinds[peers.get(port or -1) or peers.get(local or -1, "socket, other")] += 1
    fd_dir = Path(f"/proc/{proc.pid}/fd")
    for fd in fd_dir.iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if not target.startswith("socket:"):
                kinds[target.split("[")[0].split(":")[0] if ":" in target else "file"] += 1
    return kinds


async def sample(
    pid: int, tally: Tally, stop: asyncio.Event, peers: dict[int, str], warm_at: float
) -> None:
    proc = psutil.Process(pid)
    while not stop.is_set():
        with contextlib.suppress(psutil.Error):
            sockets = len(proc.net_connections(kind="all"))
            tally.samples.append((tally.now(), proc.memory_info().rss, proc.num_fds(), sockets))
            if "warm" not in tally.kinds and tally.now() >= warm_at:
                tally.kinds["warm"] = descriptors(proc, peers)
            tally.kinds["end"] = descriptors(proc, peers)
        await asyncio.sleep(5)


@contextlib.contextmanager
def services(tmp: Path, rate: float) -> Iterator[tuple[RedisServer, MongoProcess, list[Backend]]]:
    (tmp / "redis").mkdir()
    (tmp / "mongo").mkdir()
    redis = RedisServer(
        shutil.which("redis-server") or "/usr/bin/redis-server", free_port(), tmp / "redis"
    )
    mongo = MongoProcess(tmp / "mongo")
    backends = [Backend("a", rate), Backend("b", rate)]
    try:
        redis.start()
        mongo.start()
        for backend in backends:
            backend.start()
        yield redis, mongo, backends
    finally:
        for backend in backends:
            backend.stop()
        mongo.stop()
        redis.stop()


async def outages(
    plan: list[Outage], redis: RedisServer, mongo: MongoProcess, b: Backend, tally: Tally
) -> None:
    actions = {
        "redis": (redis.stop, redis.start),
        "mongodb": (mongo.kill, mongo.start),
        "backend": (b.kill, b.start),
    }
    for outage in plan:
        kill, start = actions[outage.name]
        await asyncio.sleep(max(0.0, outage.start - tally.now()))
        print(f"{tally.now():6.0f} s  kill {outage.name}", flush=True)
        await asyncio.to_thread(kill)
        await asyncio.sleep(max(0.0, outage.end - tally.now()))
        await asyncio.to_thread(start)
        print(f"{tally.now():6.0f} s  {outage.name} back", flush=True)


def stored_turns(url: str, chats: list[int]) -> dict[int, list[tuple[str, str]]]:
    client: MongoClient[dict[str, Any]] = MongoClient(url, serverSelectionTimeoutMS=10_000)
    try:
        db = client[DB]
        found: dict[int, list[tuple[str, str]]] = {}
        for chat in chats:
            conversation = db.conversations.find_one(
                {"platform": "telegram", "chat_id": str(chat), "active": True}
            )
            if conversation is None:
                found[chat] = []
                continue
            turns = db.turns.find({"conversation_id": conversation["_id"]}).sort("seq", 1)
            found[chat] = [(t["role"], t["text"]) for t in turns]
        return found
    finally:
        client.close()


def hub_config(tmp: Path, backends: list[Backend], streams: int) -> str:
    return write_config(
        tmp / "hub.yaml",
        {
            "routing": {
                "backends": [
                    {"name": b.name, "url": b.url, "max_concurrency": streams} for b in backends
                ],
                "probe_interval": 2,
            },
            "limits": {"per_user": "100000/minute", "on_redis_error": "fail_open"},
            "server": {"max_connections": streams * 3},
            "default_model": MODEL,
        },
    )


async def soak(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    seconds = args.minutes * 60
    plan = [
        Outage("redis", 0.20 * seconds, 0.25 * seconds),
        Outage("mongodb", 0.40 * seconds, 0.45 * seconds),
        Outage("backend", 0.60 * seconds, 0.65 * seconds),
    ]
    telegram = FakeTelegram()
    await telegram.start()
    with services(tmp, args.rate) as (redis, mongo, backends):
        port = free_port()
        env = serve_env(
            tmp / "data",
            HUB_PORT=str(port),
            HUB_CONFIG=hub_config(tmp, backends, args.streams),
            HUB_API_KEYS=KEY,
            HUB_REDIS_URL=redis.url,
            HUB_MONGODB_URL=mongo.url,
            HUB_MONGODB_DB=DB,
            HUB_TELEGRAM__TOKEN=telegram.token,
            HUB_TELEGRAM__BASE_URL=telegram.base_url,
            HUB_TELEGRAM__POLL_TIMEOUT="1",
            HUB_LOG_REQUESTS="false",
        )
        log = (tmp / "hub.log").open("w")
        hub = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "hub.cli", "serve", cwd=tmp, env=env, stdout=log, stderr=log
        )
        url = f"http://127.0.0.1:{port}"
        try:
            figures = await drive(args, url, hub.pid, telegram, plan, redis, mongo, backends)
        finally:
            hub.terminate()
            await asyncio.wait_for(hub.wait(), 60)
            log.close()
        figures["hub_exit"] = hub.returncode
        figures["tracebacks"] = (tmp / "hub.log").read_text(errors="replace").count("Traceback")
        figures["stored"] = await asyncio.to_thread(stored_turns, mongo.url, list(figures["chats"]))
    await telegram.stop()
    return figures


async def drive(
    args: argparse.Namespace,
    url: str,
    pid: int,
    telegram: FakeTelegram,
    plan: list[Outage],
    redis: RedisServer,
    mongo: MongoProcess,
    backends: list[Backend],
) -> dict[str, Any]:
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=300)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        for _ in range(600):
            with contextlib.suppress(aiohttp.ClientError):
                async with session.get(f"{url}/ready") as r:
                    if r.status == 200:
                        break
            await asyncio.sleep(0.1)
        tally, stop = Tally(), asyncio.Event()
        chats = list(range(9001, 9001 + args.chats))
        tasks = [
            asyncio.create_task(stream_loop(session, url, tally, stop)) for _ in range(args.streams)
        ]
        tasks += [asyncio.create_task(chat_loop(telegram, c, tally, stop)) for c in chats]
        peers = {int(url.rsplit(":", 1)[1]): "clients (inbound)", redis.port: "redis"}
        peers |= {mongo.port: "mongodb", telegram.port: "telegram"}
        peers |= {b.port: f"backend {b.name}" for b in backends}
        tasks.append(asyncio.create_task(sample(pid, tally, stop, peers, 0.1 * args.minutes * 60)))
        await outages(plan, redis, mongo, backends[1], tally)
        await asyncio.sleep(max(0.0, args.minutes * 60 - tally.now()))
        stop.set()
        print(f"{tally.now():6.0f} s  stopping the clients", flush=True)
        await asyncio.wait(tasks, timeout=120)
        await asyncio.sleep(10)  # the spool's last turns
    return {"tally": tally, "plan": plan, "chats": chats}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--streams", type=int, default=500)
    parser.add_argument("--chats", type=int, default=50)
    parser.add_argument("--rate", type=float, default=2.0, help="tokens per second per reply")
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        figures = asyncio.run(soak(args, Path(tmp)))
    report(figures, args.minutes * 60)
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
