"""Scale-out benchmark (issue 19, "Targets"): `chathub serve --workers 2` against one worker,
and the Redis coordination's cost in time to first token against the in-process twin.

Run from the repository root:
    .venv/bin/python benchmarks/scale.py [--quick]

Processes: a real redis-server (tests/services/redis_server.py), the fake Ollama (unpaced for
throughput, 5 ms per chunk for latency; tests/fakes/ollama.py), the hub as `chathub serve`
(SQLite; backend max_concurrency 1000 so it relays rather than queues) and the load generator
(benchmarks/relay_load.py), each in its own process. Measured in one run:

1. Throughput, unpaced streams (`--streams` × `--tokens` chunks, `--runs` runs, median): one
   worker with Redis, two workers with Redis (the same coordination, so the ratio is what a
   second process adds) and one worker without Redis, the three hubs up at once and measured
   in turn, run by run. Also the hub's CPU seconds (supervisor and workers, user + system) per
   streamed chunk. On a 2-core machine the load generator and the fake need
   a core between them, so two workers cannot double anything; then the CPU per chunk shows
   whether coordination costs per request only (target: within 10% of one worker's).
2. Time to first token at 50 concurrent streams, p50 and p99, bursts: one worker on Redis
   against one worker without Redis (the in-process twin), interleaved block by block
   (target: Redis adds at most 2 ms p50).

The machine's load average is printed before and after: the numbers are comparable within
one run only.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from relay import KEY, free_port, load, pct  # noqa: E402  (benchmarks/, the script's folder)

from tests.fakes.process import fake_ollama_process  # noqa: E402
from tests.services.redis_server import REDIS_BINARY, RedisServer, _free_port  # noqa: E402

PACED, FAST = "paced:latest", "fast:latest"


@dataclass
class Hub:
    url: str
    proc: subprocess.Popen[bytes]

    def cpu_seconds(self) -> float:
        """User + system CPU of the hub's processes (the supervisor and its workers)."""
        root = psutil.Process(self.proc.pid)
        total = 0.0
        for proc in [root, *root.children(recursive=True)]:
            with contextlib.suppress(psutil.NoSuchProcess):
                times = proc.cpu_times()
                total += times.user + times.system
        return total


@contextlib.contextmanager
def hub(paced: str, fast: str, tmp: Path, *, workers: int, redis_url: str | None) -> Iterator[Hub]:
    data = Path(tempfile.mkdtemp(dir=tmp))
    config = data / "hub.yaml"
    backends = [
        {"name": "paced", "url": paced, "max_concurrency": 1000},
        {"name": "fast", "url": fast, "max_concurrency": 1000},
    ]
    config.write_text(json.dumps({"routing": {"backends": backends}}))  # JSON is YAML
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env |= {
        "HUB_CONFIG": str(config),
        "HUB_DATA_DIR": str(data),
        "HUB_PORT": str(port),
        "HUB_API_KEYS": KEY,
        "HUB_JWT_SECRET": "scale-benchmark-secret-0123456789abcdef",
        "HUB_LOG_LEVEL": "WARNING",
        "HUB_LOG_REQUESTS": "false",
        "PYTHONPATH": str(ROOT),
    }
    if redis_url is not None:
        env["HUB_REDIS_URL"] = redis_url
    cmd = [sys.executable, "-m", "hub.cli", "serve", "--workers", str(workers)]
    proc = subprocess.Popen(cmd, cwd=data, env=env)
    url = f"http://127.0.0.1:{port}/ollama"
    try:
        _wait_listed(url, proc)
        yield Hub(url, proc)
    finally:
        proc.terminate()
        proc.wait(60)


def _wait_listed(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"chathub serve exited with {proc.returncode}")
        with contextlib.suppress(httpx.HTTPError):
            tags = httpx.get(url + "/api/tags", headers={"Authorization": f"Bearer {KEY}"})
            if tags.status_code == 200 and len(tags.json()["models"]) == 2:
                return
        time.sleep(0.05)
    raise RuntimeError("the hub did not list its models")


def throughput(servers: dict[str, Hub], args: argparse.Namespace) -> dict[str, dict[str, float]]:
    """Median chunks/s and hub CPU µs per chunk of each server over `args.runs` runs, the
    servers interleaved run by run (so a change in the machine's load hits them alike)."""
    rates: dict[str, list[float]] = {name: [] for name in servers}
    cpu: dict[str, list[float]] = {name: [] for name in servers}
    for server in servers.values():
        load(server.url, "native", FAST, 20, 1, args.tokens)  # warm-up
    for _ in range(args.runs):
        for name, server in servers.items():
            before = server.cpu_seconds()
            result = load(server.url, "native", FAST, args.streams, 1, args.tokens)
            spent = server.cpu_seconds() - before
            rates[name].append(result["tokens"] / result["wall_s"])
            cpu[name].append(spent / result["tokens"] * 1e6)
    return {
        name: {"rate": statistics.median(rates[name]), "cpu_us": statistics.median(cpu[name])}
        for name in servers
    }


def latency(servers: dict[str, Hub], args: argparse.Namespace) -> dict[str, tuple[float, ...]]:
    """TTFT p50/p99 at `args.latency_streams` concurrent paced streams, interleaved."""
    samples: dict[str, list[float]] = {name: [] for name in servers}
    for server in servers.values():
        load(server.url, "native", PACED, 8, 1, args.lat_tokens)  # warm-up
    for _ in range(args.blocks):
        for name, server in servers.items():
            result = load(server.url, "native", PACED, args.latency_streams, 1, args.lat_tokens)
            samples[name] += result["ttft_ms"]
    return {n: (pct(v, 50), pct(v, 99), len(v)) for n, v in samples.items()}


def busy() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min) on {os.cpu_count()} cores"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer samples (a smoke run)")
    parser.add_argument("--streams", type=int, default=100)
    parser.add_argument("--tokens", type=int, default=1000)
    parser.add_argument("--latency-streams", type=int, default=50)
    parser.add_argument("--lat-tokens", type=int, default=40)
    args = parser.parse_args()
    args.runs, args.blocks = (1, 2) if args.quick else (5, 8)
    os.chdir(ROOT)
    print(f"before: {busy()}", flush=True)
    workdir = Path(tempfile.mkdtemp(prefix="chathub-scale-"))
    redis = RedisServer(REDIS_BINARY, _free_port(), workdir)
    redis.start()
    results: dict[str, Any] = {}
    try:
        with contextlib.ExitStack() as stack:
            paced = stack.enter_context(fake_ollama_process(PACED, args.lat_tokens, 200.0))
            fast = stack.enter_context(fake_ollama_process(FAST, args.tokens, None))
            one = stack.enter_context(hub(paced, fast, workdir, workers=1, redis_url=redis.url))
            two = stack.enter_context(hub(paced, fast, workdir, workers=2, redis_url=redis.url))
            alone = stack.enter_context(hub(paced, fast, workdir, workers=1, redis_url=None))
            servers = {"workers1": one, "workers2": two, "twin": alone}
            results.update(throughput(servers, args))
            results["ttft"] = latency({"redis": one, "twin": alone}, args)
    finally:
        redis.stop()
    print(f"after: {busy()}")
    report(results, args)


def report(r: dict[str, Any], args: argparse.Namespace) -> None:
    one, two, alone = r["workers1"], r["workers2"], r["twin"]
    lines = [
        "| measure | result |",
        "|---|---|",
        f"| throughput, {args.streams} unpaced streams × {args.tokens} chunks | 1 worker "
        f"{one['rate']:,.0f} chunks/s; 2 workers {two['rate']:,.0f} chunks/s "
        f"(**×{two['rate'] / one['rate']:.2f}**) |",
        f"| hub CPU per streamed chunk | 1 worker {one['cpu_us']:.1f} µs; 2 workers "
        f"{two['cpu_us']:.1f} µs (**{(two['cpu_us'] / one['cpu_us'] - 1) * 100:+.1f}%**) |",
        f"| the same, one worker without Redis (the in-process twin) | {alone['rate']:,.0f} "
        f"chunks/s, {alone['cpu_us']:.1f} µs per chunk "
        f"({(one['cpu_us'] / alone['cpu_us'] - 1) * 100:+.1f}% with Redis) |",
    ]
    r50, r99, rn = r["ttft"]["redis"]
    t50, t99, tn = r["ttft"]["twin"]
    lines.append(
        f"| TTFT, {args.latency_streams} streams, p50 / p99 ({tn} / {rn} samples) | in-process "
        f"{t50:.2f} / {t99:.2f} ms; Redis {r50:.2f} / {r99:.2f} ms; "
        f"**{r50 - t50:+.2f} / {r99 - t99:+.2f} ms** |"
    )
    print("\n".join(lines))
    print(json.dumps(r))


if __name__ == "__main__":
    main()
