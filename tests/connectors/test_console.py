"""`chathub chat` as a real subprocess against the fake Ollama (which runs in this test's loop)."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.fakes.ollama import FakeOllama
from tests.fakes.ollama_wire import numbered_tokens

ROOT = Path(__file__).resolve().parents[2]
MODEL = "gemma3:270m"


@pytest.fixture
async def fake() -> AsyncIterator[FakeOllama]:
    async with FakeOllama([MODEL]) as server:
        yield server


def hub_env(fake: FakeOllama, data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env.update(HUB_OLLAMA_URL=fake.url, HUB_DATA_DIR=str(data_dir), PYTHONPATH=str(ROOT))
    env.update(extra)
    return env


async def chathub(
    env: dict[str, str], *args: str, stdin: bytes | None = None
) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hub.cli", *args,
        cwd=ROOT, env=env,
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(stdin), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def stored_turns(data_dir: Path) -> list[tuple[str, str, int]]:
    with sqlite3.connect(data_dir / "chathub.db") as db:
        rows = db.execute("SELECT role, text, interrupted FROM turns ORDER BY rowid").fetchall()
    return [tuple(row) for row in rows]


async def test_once_prints_the_reply(tmp_path: Path, fake: FakeOllama) -> None:
    fake.script(MODEL, token_count=40)
    code, out, err = await chathub(hub_env(fake, tmp_path), "chat", "--once", "count please")
    assert (code, err) == (0, "")
    assert out == "".join(numbered_tokens(40)) + "\n"
    assert fake.chat_requests[-1].json["messages"][-1]["content"] == "count please"
    assert [(r, i) for r, _, i in stored_turns(tmp_path)] == [("user", 0), ("assistant", 0)]


async def test_once_failure_exits_1_with_the_reason(tmp_path: Path, fake: FakeOllama) -> None:
    fake.script(MODEL, status=500)
    code, _, err = await chathub(hub_env(fake, tmp_path), "chat", "--once", "hello")
    assert code == 1
    assert err.startswith("chathub: ") and "llama runner process has terminated" in err
    assert err.count("\n") == 1


async def test_once_runs_commands(tmp_path: Path, fake: FakeOllama) -> None:
    code, out, _ = await chathub(hub_env(fake, tmp_path), "chat", "--once", "/help")
    assert code == 0 and "/new" in out and "/models" in out
    assert fake.chat_requests == []


async def test_bad_setting_exits_2_with_one_line(tmp_path: Path, fake: FakeOllama) -> None:
    env = hub_env(fake, tmp_path, HUB_PORT="eighty")
    code, out, err = await chathub(env, "chat", "--once", "hi")
    assert code == 2 and out == ""
    assert err.startswith("chathub: HUB_PORT") and err.count("\n") == 1


async def test_interactive_through_a_pipe(tmp_path: Path, fake: FakeOllama) -> None:
    fake.script(MODEL, tokens=["Hi", " there"])
    lines = b"hello\n/model\n\nbye\n"
    code, out, err = await chathub(hub_env(fake, tmp_path), "chat", stdin=lines)
    assert code == 0, err
    assert out.splitlines()[:3] == [
        "Hi there",
        f"Model: {MODEL} (the default here; /model NAME chooses your own).",
        "Hi there",
    ]
    sent = fake.chat_requests[-1].json["messages"]
    assert [m["content"] for m in sent] == ["hello", "Hi there", "bye"]


async def test_ctrl_c_stops_the_reply_then_exits(tmp_path: Path, fake: FakeOllama) -> None:
    fake.script(MODEL, token_count=100_000, tokens_per_second=200)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hub.cli", "chat",
        cwd=ROOT, env=hub_env(fake, tmp_path),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdin is not None and proc.stdout is not None
    try:
        proc.stdin.write(b"tell me everything\n")
        await proc.stdin.drain()
        seen = b""
        while b" t5" not in seen:
            seen += await asyncio.wait_for(proc.stdout.read(256), 30)
        proc.send_signal(signal.SIGINT)
        while b"[stopped]" not in seen:
            seen += await asyncio.wait_for(proc.stdout.read(256), 30)
        await fake.wait_for(lambda: fake.connections_closed == 1)
        proc.send_signal(signal.SIGINT)
        code = await asyncio.wait_for(proc.wait(), 30)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert code == 0
    turns = stored_turns(tmp_path)
    assert [(r, i) for r, _, i in turns] == [("user", 0), ("assistant", 1)]
    assert turns[1][1].startswith("t0 t1 t2 t3 t4 t5")


async def test_help_names_exit_and_ctrl_d_and_exit_leaves(tmp_path: Path, fake: FakeOllama) -> None:
    code, out, _ = await chathub(hub_env(fake, tmp_path), "chat", "--once", "/help")
    assert "/exit, /quit – leave (Ctrl-D too; Ctrl-C stops a reply)" in out
    code, out, err = await chathub(
        hub_env(fake, tmp_path), "chat", stdin=b"/help\n/quit\nnever sent\n"
    )
    assert (code, err) == (0, "") and "/usage" in out
    assert fake.chat_requests == []


async def test_stop_typed_while_a_reply_streams(tmp_path: Path, fake: FakeOllama) -> None:
    fake.script(MODEL, token_count=100_000, tokens_per_second=200)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hub.cli", "chat",
        cwd=ROOT, env=hub_env(fake, tmp_path),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdin is not None and proc.stdout is not None
    try:
        proc.stdin.write(b"tell me everything\n")
        await proc.stdin.drain()
        seen = b""
        while b" t5" not in seen:
            seen += await asyncio.wait_for(proc.stdout.read(256), 30)
        proc.stdin.write(b"/stop\n")
        await proc.stdin.drain()
        while b"[stopped]" not in seen:
            seen += await asyncio.wait_for(proc.stdout.read(256), 30)
        await fake.wait_for(lambda: fake.connections_closed == 1)
        proc.stdin.write(b"/exit\n")
        await proc.stdin.drain()
        code = await asyncio.wait_for(proc.wait(), 30)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert code == 0
    assert [(r, i) for r, _, i in stored_turns(tmp_path)] == [("user", 0), ("assistant", 1)]


async def test_no_model_names_the_cause(tmp_path: Path) -> None:
    async with FakeOllama([]) as empty:
        code, _, err = await chathub(hub_env(empty, tmp_path), "chat", "--once", "hi")
    assert code == 1
    assert "has no models" in err and "ollama pull" in err
    closed = FakeOllama([MODEL])
    async with closed:
        env = hub_env(closed, tmp_path)
    code, _, err = await chathub(env, "chat", "--once", "hi")  # the server is gone now
    assert code == 1
    assert "No model server answers (ollama at http://127.0.0.1:" in err
    assert "`chathub check`" in err
