"""Backend streaming benchmark: the hub's Ollama and OpenAI backends against the fake Ollama
running in its own process.

1. Concurrency: N streams of T tokens at R tokens/s at once. Ideal wall time is T/R seconds;
   reports the overshoot, errors, and this process's RSS and CPU time.
2. Throughput: one unpaced stream of many tokens, to show the parsing cost per token.

    python benchmarks/backends.py                      # 100 x 500 tokens at 50/s, both kinds
    python benchmarks/backends.py --streams 20 --kind ollama
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hub.core.backends import OllamaBackend, OpenAIBackend  # noqa: E402
from hub.core.backends.base import HttpBackend  # noqa: E402
from hub.core.models import ChatMessage  # noqa: E402
from hub.core.ports import ChatRequest, Delta, Final  # noqa: E402

MODEL = "bench:1b"


def start_fake(tokens: int, rate: float | None) -> tuple[subprocess.Popen[str], str]:
    """The fake Ollama as its own process (as a real Ollama would be), and its URL."""
    cmd = [sys.executable, "-m", "tests.fakes.ollama", "--models", MODEL, "--tokens", str(tokens)]
    if rate:
        cmd += ["--tokens-per-second", str(rate)]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


def make(kind: str, url: str) -> HttpBackend:
    if kind == "openai":
        return OpenAIBackend("bench", f"{url}/v1", first_token_timeout=60, chunk_timeout=30)
    return OllamaBackend("bench", url, first_token_timeout=60, chunk_timeout=30)


async def one_stream(backend: HttpBackend, expected: int) -> bool:
    request = ChatRequest(MODEL, (ChatMessage("user", "go"),))
    count, final = 0, None
    async for chunk in backend.chat(request):
        if isinstance(chunk, Delta):
            count += 1
        elif isinstance(chunk, Final):
            final = chunk
    return count == expected and final is not None


def cpu_seconds(proc: psutil.Process) -> float:
    times = proc.cpu_times()
    return float(times.user + times.system)


async def concurrency(
    kind: str, url: str, fake: psutil.Process, streams: int, tokens: int, rate: float
) -> str:
    backend, me = make(kind, url), psutil.Process()
    cpu0, fake0, t0 = me.cpu_times(), cpu_seconds(fake), time.perf_counter()
    results = await asyncio.gather(
        *(one_stream(backend, tokens) for _ in range(streams)), return_exceptions=True
    )
    wall = time.perf_counter() - t0
    cpu1, fake_cpu = me.cpu_times(), cpu_seconds(fake) - fake0
    await backend.aclose()
    ok = sum(1 for r in results if r is True)
    ideal = (tokens - 1) / rate  # the first token is immediate, then tokens-1 intervals
    cpu = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)
    rss = me.memory_info().rss / 2**20
    return (
        f"| {kind} | {streams} x {tokens} @ {rate:g}/s | {ok}/{streams} ok | wall {wall:.2f} s "
        f"(ideal {ideal:.2f} s, +{(wall / ideal - 1) * 100:.1f}%) | client CPU {cpu:.2f} s "
        f"({cpu / (streams * tokens) * 1e6:.0f} µs/token) | RSS {rss:.0f} MB "
        f"| fake server CPU {fake_cpu:.2f} s |"
    )


async def throughput(kind: str, url: str, tokens: int) -> str:
    backend, me = make(kind, url), psutil.Process()
    cpu0, t0 = me.cpu_times(), time.perf_counter()
    assert await one_stream(backend, tokens)
    wall = time.perf_counter() - t0
    cpu1 = me.cpu_times()
    await backend.aclose()
    cpu = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)
    return (
        f"| {kind} | 1 x {tokens} unpaced | {tokens / wall:,.0f} tokens/s end to end | "
        f"client CPU {cpu / tokens * 1e6:.0f} µs/token |"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--streams", type=int, default=100)
    parser.add_argument("--tokens", type=int, default=500)
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--kind", choices=["ollama", "openai", "both"], default="both")
    parser.add_argument("--throughput-tokens", type=int, default=20000)
    args = parser.parse_args()
    kinds = ["ollama", "openai"] if args.kind == "both" else [args.kind]
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    paced, paced_url = start_fake(args.tokens, args.rate)
    fast, fast_url = start_fake(args.throughput_tokens, None)
    try:
        for kind in kinds:
            fake = psutil.Process(paced.pid)
            print(await concurrency(kind, paced_url, fake, args.streams, args.tokens, args.rate))
        for kind in kinds:
            print(await throughput(kind, fast_url, args.throughput_tokens))
    finally:
        for proc in (paced, fast):
            proc.terminate()
            proc.wait(10)


if __name__ == "__main__":
    asyncio.run(main())
