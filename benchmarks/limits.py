"""Limiter throughput: decisions per second from one process, Redis over one connection.

Targets (issue 5): Redis >= 5,000 decisions/s, in-memory >= 200,000 decisions/s.

    python benchmarks/limits.py                 # starts its own redis-server on a free port
    python benchmarks/limits.py --redis-url redis://127.0.0.1:6379/0 --decisions 10000

Decisions are awaited one after another (no pipelining), so the Redis figure is the latency
of one EVALSHA round trip plus the client's overhead. Each decision charges distinct subjects
so nothing is refused early: refusals cost the same script time anyway.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import redis
import redis.asyncio as aioredis

from hub.core.limits.base import Limiter
from hub.core.limits.memory import MemoryRateLimiter
from hub.core.limits.redis import RedisRateLimiter
from hub.core.ports import LimitCheck, Rate

RATE = Rate(limit=1_000_000, period=60.0, burst=999_999, text="1000000/minute")


@contextmanager
def redis_server() -> Iterator[str]:
    """A throwaway redis-server on a free port (never `--port 0`: that disables TCP)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    workdir = tempfile.mkdtemp(prefix="chathub-bench-redis-")
    proc = subprocess.Popen(
        ["/usr/bin/redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", workdir],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        for _ in range(500):
            try:
                if redis.Redis(port=port).ping():
                    break
            except redis.ConnectionError:
                time.sleep(0.02)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


def plans(scopes: int) -> list[list[LimitCheck]]:
    """Per-message check lists like the gate builds: user, chat, platform, global."""
    names = ["user:{}", "chat:t:{}", "platform:t", "global"][:scopes]
    return [[LimitCheck(n.format(i % 1000), RATE) for n in names] for i in range(1000)]


class Round:
    """One round's wall time and the CPU time spent by this process and by redis-server."""

    def __init__(self, decisions: int, wall: float, client_cpu: float, server_cpu: float):
        self.rate = decisions / wall
        # What one core each could do if this machine were not shared: the sequential loop
        # costs client CPU + server CPU per decision (loopback latency not included).
        self.cpu_rate = decisions / (client_cpu + server_cpu)


def server_cpu(client: redis.Redis | None) -> float:
    if client is None:
        return 0.0
    info = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


async def measure(
    limiter: Limiter, decisions: int, scopes: int, rounds: int, server: redis.Redis | None
) -> str:
    """Best and median over `rounds` rounds. The machine may be shared: the best round is the
    least disturbed, the median shows the spread, and the CPU-time figure is what the code
    costs regardless of other processes."""
    batches = plans(scopes)
    for checks in batches[:200]:  # warm-up: script loaded, connection open
        await limiter.acquire(checks)
    results = []
    for _ in range(rounds):
        cpu0, srv0, start = time.process_time(), server_cpu(server), time.perf_counter()
        for i in range(decisions):
            await limiter.acquire(batches[i % 1000])
        wall = time.perf_counter() - start
        results.append(
            Round(decisions, wall, time.process_time() - cpu0, server_cpu(server) - srv0)
        )
    rates = [r.rate for r in results]
    cpu_rates = [r.cpu_rate for r in results]
    return (
        f"wall: best {max(rates):9,.0f}/s median {statistics.median(rates):9,.0f}/s"
        f" | by CPU time: median {statistics.median(cpu_rates):9,.0f}/s"
    )


async def ping_rate(url: str, count: int, rounds: int) -> str:
    """The ceiling for any redis-py client on this machine now: bare PINGs, one connection."""
    client = aioredis.Redis.from_url(url, single_connection_client=True, socket_timeout=None)
    try:
        await client.ping()
        rates = []
        for _ in range(rounds):
            start = time.perf_counter()
            for _ in range(count):
                await client.ping()
            rates.append(count / (time.perf_counter() - start))
    finally:
        await client.aclose()
    return f"wall: best {max(rates):9,.0f}/s median {statistics.median(rates):9,.0f}/s"


async def main(url: str | None, decisions: int, rounds: int) -> None:
    print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    memory = MemoryRateLimiter()
    for scopes in (1, 4):
        rate = await measure(memory, decisions * 10, scopes, rounds, None)
        print(f"memory  {scopes} scope(s): {rate}")
    with redis_server() if url is None else _given(url) as server_url:
        server = redis.Redis.from_url(server_url)
        limiter = await RedisRateLimiter.connect(server_url, namespace=uuid.uuid4().hex)
        try:
            for scopes in (1, 4):
                rate = await measure(limiter, decisions, scopes, rounds, server)
                print(f"redis   {scopes} scope(s): {rate}")
            clients = server.info("clients")["connected_clients"]
            print(f"reference: redis-py PING   {await ping_rate(server_url, decisions, rounds)}")
        finally:
            await limiter.aclose()
        version = server.info("server")["redis_version"]
        print(f"redis-server {version}, limiter connections used: {clients - 1}")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


@contextmanager
def _given(url: str) -> Iterator[str]:
    yield url


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis-url", help="use this Redis instead of starting one")
    parser.add_argument("--decisions", type=int, default=4_000, help="per Redis round")
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    asyncio.run(main(args.redis_url, args.decisions, args.rounds))
