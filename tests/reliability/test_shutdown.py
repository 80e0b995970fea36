"""SIGTERM to a real `chathub serve` in the middle of 50 HTTP streams and two Telegram replies.

The backend takes 20 requests at a time, so 20 replies stream and 30 wait in the hub's queue
when the signal comes. What must happen (issue 17, item 1):

- at once: no new connections; `/ready` answers 503 on a connection that was already open;
- every waiting request gets a clean refusal in its dialect (503, `Retry-After`, the route
  family's error body), and no generation starts after the signal;
- streams that can finish within `chat.shutdown_grace` finish; the others end with a
  well-formed last line saying the hub is restarting (Ollama: an error line; OpenAI: an error
  event, then `[DONE]`); a non-streamed request cut short gets a 503;
- the Telegram replies end with the same notice and are stored, flagged interrupted;
- the process exits by itself (code 0) without uvicorn having to cancel anything.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.conftest import API_KEY
from tests.fakes.ollama import FakeOllama
from tests.fakes.telegram import FakeTelegram
from tests.support.served import serve_env, served_hub, write_config
from tests.support.wait import until

QUICK = "quick:latest"  # still streaming at the signal; finishes within the grace period
LONG = "long:latest"  # would stream for minutes
GRACE = 8.0
SLOTS = 20
CHATS = (7001, 7002)


@dataclass
class Outcome:
    """How one HTTP request ended."""

    kind: str  # "ollama-stream", "openai-stream", "ollama-json"
    model: str
    status: int = 0
    retry_after: str | None = None
    lines: list[str] = field(default_factory=list)  # NDJSON lines or SSE data payloads
    body: Any = None
    error: str = ""  # a transport error (the stream broke off without a last line)


async def _ollama_stream(client: httpx.AsyncClient, model: str, out: Outcome) -> None:
    body = {"model": model, "messages": [{"role": "user", "content": "go"}]}
    async with client.stream("POST", "/ollama/api/chat", json=body) as response:
        out.status = response.status_code
        out.retry_after = response.headers.get("retry-after")
        if response.status_code != 200:
            out.body = _parsed(await response.aread())
            return
        async for line in response.aiter_lines():
            if line.strip():
                out.lines.append(line)


async def _openai_stream(client: httpx.AsyncClient, model: str, out: Outcome) -> None:
    body = {"model": model, "stream": True, "messages": [{"role": "user", "content": "go"}]}
    async with client.stream("POST", "/ollama/v1/chat/completions", json=body) as response:
        out.status = response.status_code
        out.retry_after = response.headers.get("retry-after")
        if response.status_code != 200:
            out.body = _parsed(await response.aread())
            return
        async for line in response.aiter_lines():
            if line.startswith("data: "):
                out.lines.append(line.removeprefix("data: "))


async def _ollama_json(client: httpx.AsyncClient, model: str, out: Outcome) -> None:
    body = {"model": model, "stream": False, "messages": [{"role": "user", "content": "go"}]}
    response = await client.post("/ollama/api/chat", json=body)
    out.status = response.status_code
    out.retry_after = response.headers.get("retry-after")
    out.body = _parsed(response.content)


def _parsed(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return body.decode(errors="replace")  # not JSON: the assertions show what it was


_RUN = {
    "ollama-stream": _ollama_stream,
    "openai-stream": _openai_stream,
    "ollama-json": _ollama_json,
}


async def _request(client: httpx.AsyncClient, out: Outcome) -> None:
    try:
        await _RUN[out.kind](client, out.model, out)
    except httpx.HTTPError as exc:
        out.error = f"{type(exc).__name__}: {exc}"


@pytest.fixture
async def fakes() -> AsyncIterator[tuple[FakeOllama, FakeTelegram]]:
    telegram = FakeTelegram()
    await telegram.start()
    async with FakeOllama([QUICK, LONG]) as ollama:
        ollama.script(QUICK, token_count=120, tokens_per_second=20)  # about 6 s
        ollama.script(LONG, token_count=100_000, tokens_per_second=20)
        yield ollama, telegram
    await telegram.stop()


def _config(tmp_path: Path, ollama: FakeOllama) -> str:
    return write_config(
        tmp_path / "hub.yaml",
        {
            "routing": {
                "backends": [{"name": "local", "url": ollama.url, "max_concurrency": SLOTS}]
            },
            "chat": {"shutdown_grace": GRACE},
            "default_model": LONG,
        },
    )


def _planned() -> tuple[list[Outcome], list[Outcome]]:
    """18 HTTP requests that will stream (plus the 2 Telegram replies: 20 slots), and 30 that
    will wait for a slot."""
    streaming = [Outcome("ollama-stream", QUICK) for _ in range(8)]
    streaming += [Outcome("ollama-stream", LONG) for _ in range(5)]
    streaming += [Outcome("openai-stream", LONG) for _ in range(4)]
    streaming += [Outcome("ollama-json", LONG)]
    queued = [Outcome("ollama-stream", LONG) for _ in range(10)]
    queued += [Outcome("openai-stream", LONG) for _ in range(10)]
    queued += [Outcome("ollama-json", LONG) for _ in range(10)]
    return streaming, queued


async def _metric(client: httpx.AsyncClient, name: str) -> float:
    text = (await client.get("/metrics")).text
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not in /metrics")


async def _until_stopping(client: httpx.AsyncClient) -> httpx.Response:
    """/ready on a connection opened before the signal, once the hub has taken the signal."""
    for _ in range(200):
        response = await client.get("/ready")
        if response.status_code != 200:
            return response
        await asyncio.sleep(0.01)
    raise AssertionError("/ready still says ready")


async def _until_metric(client: httpx.AsyncClient, name: str, value: float) -> None:
    for _ in range(600):
        if await _metric(client, name) >= value:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{name} did not reach {value}")


def _stored_turns(data_dir: Path) -> list[tuple[str, str, int]]:
    """(role, text, interrupted) of every stored turn, oldest first."""
    with sqlite3.connect(data_dir / "chathub.db") as db:
        rows = db.execute("SELECT role, text, interrupted FROM turns ORDER BY id").fetchall()
    return [(str(r), str(t), int(i)) for r, t, i in rows]


async def test_sigterm_during_50_streams_refuses_cleanly_and_exits_on_its_own(
    tmp_path: Path, fakes: tuple[FakeOllama, FakeTelegram]
) -> None:
    ollama, telegram = fakes
    data = tmp_path / "data"
    env = serve_env(
        data,
        HUB_CONFIG=_config(tmp_path, ollama),
        HUB_API_KEYS=API_KEY,
        HUB_TELEGRAM__TOKEN=telegram.token,
        HUB_TELEGRAM__BASE_URL=telegram.base_url,
        HUB_TELEGRAM__POLL_TIMEOUT="1",
    )
    streaming, queued = _planned()
    headers = {"Authorization": f"Bearer {API_KEY}"}
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
    async with served_hub(env, tmp_path) as hub:
        clients = httpx.AsyncClient(base_url=hub.url, headers=headers, timeout=60, limits=limits)
        # One connection opened before the signal, for /ready afterwards.
        kept = httpx.AsyncClient(base_url=hub.url, limits=httpx.Limits(max_connections=1))
        async with clients, kept:
            assert (await kept.get("/health")).status_code == 200
            await until(lambda: bool(telegram.calls_of("getUpdates")), within=30)
            for chat in CHATS:
                telegram.push_message(chat, "tell me everything", user_id=chat)
            tasks = [asyncio.create_task(_request(clients, o)) for o in streaming]
            await until(lambda: ollama.active == SLOTS, within=30)
            tasks += [asyncio.create_task(_request(clients, o)) for o in queued]
            await _until_metric(kept, "chathub_queue_waiting", len(queued))
            started = len(ollama.chat_requests)

            hub.signal()
            ready = await _until_stopping(kept)
            cut_before_ready = sum(1 for t in tasks[: len(streaming)] if t.done())
            with pytest.raises(httpx.ConnectError):
                async with httpx.AsyncClient(base_url=hub.url) as fresh:
                    await fresh.get("/health")
            # A new request on a connection opened before the signal: the JSON routes' refusal.
            webui = await kept.get("/api/v1/chats/", headers=headers)
            await asyncio.gather(*tasks)
        code = await hub.wait(within=GRACE + 60)
    log = hub.log

    assert code == 0, log
    assert "Traceback" not in log, log
    assert "timeout graceful shutdown exceeded" not in log, log  # uvicorn cancelled nothing
    assert ready.status_code == 503, ready.text
    assert ready.json()["status"] == "stopping"
    assert (webui.status_code, webui.headers.get("connection")) == (503, "close")
    assert int(webui.headers["retry-after"]) >= 1 and _restarting(webui.json()["detail"])
    assert cut_before_ready == 0  # out of rotation long before the grace period ended
    assert len(ollama.chat_requests) == started == SLOTS  # no generation began after the signal

    _check_queued(queued)
    _check_streaming(streaming)
    await _check_telegram(telegram, data)


def _restarting(message: str) -> bool:
    return "restarting" in message


def _check_queued(queued: list[Outcome]) -> None:
    assert [o.error for o in queued if o.error] == []
    assert Counter(o.status for o in queued) == {503: len(queued)}
    for out in queued:
        assert out.retry_after is not None and int(out.retry_after) >= 1
        if out.kind == "openai-stream":
            assert set(out.body) == {"error"} and _restarting(out.body["error"]["message"])
        else:
            assert set(out.body) == {"error"} and _restarting(out.body["error"])


def _check_streaming(streaming: list[Outcome]) -> None:
    assert [o.error for o in streaming if o.error] == []  # every stream ended well-formed
    for out in streaming:
        if out.kind == "ollama-json":
            assert out.status == 503 and out.retry_after is not None
            assert _restarting(out.body["error"])
            continue
        assert out.status == 200
        if out.model == QUICK:  # finished within the grace period
            assert json.loads(out.lines[-1])["done"] is True
        elif out.kind == "ollama-stream":
            last = json.loads(out.lines[-1])
            assert set(last) == {"error"} and _restarting(last["error"]), out.lines[-3:]
            assert len(out.lines) > 2  # it had been streaming
        else:
            assert out.lines[-1] == "[DONE]", out.lines[-3:]
            error = json.loads(out.lines[-2])["error"]
            assert _restarting(error["message"]), out.lines[-3:]


async def _check_telegram(telegram: FakeTelegram, data: Path) -> None:
    for chat in CHATS:
        texts = [m.text for m in telegram.chat_messages(chat)]
        assert texts and _restarting(texts[-1]), texts
    turns = await asyncio.to_thread(_stored_turns, data)
    assert Counter(role for role, _, _ in turns) == {"user": 2, "assistant": 2}
    assert [i for role, _, i in turns if role == "assistant"] == [1, 1]
    assert all(text for role, text, _ in turns if role == "assistant")  # partial text kept


async def test_a_second_signal_cuts_the_grace_period_short(
    tmp_path: Path, fakes: tuple[FakeOllama, FakeTelegram]
) -> None:
    ollama, _ = fakes
    config = write_config(
        tmp_path / "hub.yaml",
        {"chat": {"shutdown_grace": 3600}, "default_model": LONG},  # an hour: never waited out
    )
    env = serve_env(
        tmp_path / "data", HUB_CONFIG=config, HUB_API_KEYS=API_KEY, HUB_OLLAMA_URL=ollama.url
    )
    out = Outcome("ollama-stream", LONG)
    async with served_hub(env, tmp_path) as hub:
        headers = {"Authorization": f"Bearer {API_KEY}"}
        async with (
            httpx.AsyncClient(base_url=hub.url, headers=headers, timeout=60) as client,
            httpx.AsyncClient(base_url=hub.url) as kept,
        ):
            assert (await kept.get("/health")).status_code == 200
            stream = asyncio.create_task(_request(client, out))
            await until(lambda: ollama.active == 1, within=30)
            hub.signal()
            await _until_stopping(kept)
            await until(lambda: len(out.lines) > 5, within=30)  # still streaming in the grace
            hub.signal()
            await stream
        code = await hub.wait(within=60)
    assert code == 0, hub.log
    assert out.error == "" and out.status == 200
    assert _restarting(json.loads(out.lines[-1])["error"])
