"""A client that stops reading but stays connected (issue 17, part 2, item 6).

Before: its reply waited for it for as long as it stayed connected, holding the backend's only
slot, so everyone else queued behind it. Now, once the hub's writes to it have waited
`server.write_timeout` seconds, the connection is closed and the reply cancelled, which closes
the upstream request and frees the slot. A client that keeps reading is never cut off.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.api.conftest import API_KEY
from tests.fakes.ollama import FakeOllama
from tests.support.served import serve_env, served_hub, write_config

LONG = "long:latest"
SHORT = "short:latest"
WRITE_TIMEOUT = 3.0


@pytest.fixture
async def ollama() -> AsyncIterator[FakeOllama]:
    async with FakeOllama([LONG, SHORT]) as fake:
        fake.script(LONG, token_count=5_000_000)  # unpaced: as fast as the hub takes it
        fake.script(SHORT, token_count=20_000)
        yield fake


def _stalled_client(url: str) -> socket.socket:
    """Ask for the long reply, then never read (a tiny receive buffer fills at once)."""
    host, port = url.removeprefix("http://").split(":")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((host, int(port)))
    body = json.dumps({"model": LONG, "messages": [{"role": "user", "content": "go"}]}).encode()
    head = (
        f"POST /ollama/api/chat HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {API_KEY}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    sock.sendall(head.encode() + body)
    return sock


def _closed_by_peer(sock: socket.socket) -> bool:
    """Whether the hub has closed the connection (reading what is left until EOF or reset)."""
    sock.settimeout(30)
    try:
        while sock.recv(1 << 20):
            pass
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False
    return True


async def test_a_client_that_stops_reading_is_cut_off_and_frees_the_slot(
    tmp_path: Path, ollama: FakeOllama
) -> None:
    config = {
        "routing": {"backends": [{"name": "local", "url": ollama.url, "max_concurrency": 1}]},
        "server": {"write_timeout": WRITE_TIMEOUT, "send_buffer": 4096},
    }
    env = serve_env(
        tmp_path / "data",
        HUB_CONFIG=write_config(tmp_path / "hub.yaml", config),
        HUB_API_KEYS=API_KEY,
    )
    async with served_hub(env, tmp_path) as hub:
        stalled = await asyncio.to_thread(_stalled_client, hub.url)
        try:
            await ollama.wait_for(lambda: ollama.active == 1, within=30)
            # Meanwhile someone who reads: waits for the only slot, then gets the whole reply.
            headers = {"Authorization": f"Bearer {API_KEY}"}
            async with httpx.AsyncClient(base_url=hub.url, headers=headers, timeout=120) as c:
                body = {"model": SHORT, "messages": [{"role": "user", "content": "hi"}]}
                lines = []
                async with c.stream("POST", "/ollama/api/chat", json=body) as response:
                    async for line in response.aiter_lines():
                        lines.append(line)
            assert json.loads(lines[-1])["done"] is True
            assert await asyncio.to_thread(_closed_by_peer, stalled)
        finally:
            stalled.close()
        hub.signal()
        assert await hub.wait() == 0, hub.log

    long_requests = [r for r in ollama.chat_requests if r.model == LONG]
    assert [r.outcome for r in long_requests] == ["client_closed"]  # the upstream request closed
    assert [r.outcome for r in ollama.chat_requests if r.model == SHORT] == ["complete"]
    assert hub.log.count("client stopped reading") == 1, hub.log
