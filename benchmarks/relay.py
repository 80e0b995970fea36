"""HTTP relay benchmark: the hub between a streaming client and Ollama, against calling Ollama
directly, and (when installed) LiteLLM's proxy as a peer. Issue 8, "Targets".

Run from the repository root:
    .venv/bin/python benchmarks/relay.py [--litellm /tmp/litellm-venv/bin/litellm] [--quick]

Processes: two fake Ollamas (one paced at 5 ms per chunk, one unpaced; tests/fakes/ollama.py),
the hub (benchmarks/relay_hub.py: uvicorn, one worker, embedded SQLite store, in-memory
limiter, no limits configured), and a load generator per measurement
(benchmarks/relay_load.py, aiohttp). The fake numbers its tokens and the load generator checks
every reply's text, so lost, doubled or looped chunks count as errors.

Measured, hub and direct interleaved in one run:
1. Time to first token at 1 stream and at 50 concurrent streams, paced (40 chunks of 5 ms):
   target +<= 3 ms p50 and +<= 15 ms p99 over direct. 50 streams are measured two ways: a
   burst (50 requests started at the same moment, every sample) and steady (50 workers in a
   loop, starts spread over one reply's length, samples from requests that start while the
   49 others stream).
2. Throughput, 200 concurrent unpaced streams of 200 chunks: target >= 20,000 chunks/s through
   the hub (native NDJSON route; the OpenAI SSE route is reported too).
3. Hub RSS: warm idle, peak during 200 streams (target <= 200 MB), and 3 s after (target within
   20% of warm idle). Start-up: process start to the model list served (target <= 1.5 s).
The router's per-backend concurrency is raised to 1000 so the hub relays, not queues.

Reference relays, latency only, each against direct in the same way: `benchmarks/relay_blind.py`
(uvicorn + aiohttp relaying bytes, nothing else: the floor for a Python relay) and nginx
(`proxy_buffering off`, upstream keep-alive: a relay written in C), when `nginx` is installed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import socket
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from peak_rss import PeakRss, rss_mb  # noqa: E402  (benchmarks/, the script's own folder)

from tests.fakes.process import fake_ollama_process  # noqa: E402

KEY = "sk-relay-bench-0123456789abcdef"
PACED, FAST = "paced:latest", "fast:latest"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    url: str
    pid: int
    startup_s: float


def _wait_until(check: Any, proc: subprocess.Popen[Any], limit: float = 60.0) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        with contextlib.suppress(httpx.HTTPError):
            if check():
                return
        time.sleep(0.01)
    raise RuntimeError("server did not become ready")


@contextlib.contextmanager
def hub_server(
    paced_url: str, fast_url: str, data_dir: Path, root: Path = ROOT
) -> Iterator[Server]:
    config = data_dir / "hub.yaml"
    backends = [
        {"name": "paced", "url": paced_url, "max_concurrency": 1000},
        {"name": "fast", "url": fast_url, "max_concurrency": 1000},
    ]
    config.write_text(json.dumps({"routing": {"backends": backends}}))  # JSON is YAML
    port = free_port()
    env = os.environ | {
        "HUB_CONFIG": str(config),
        "HUB_DATA_DIR": str(data_dir),
        "HUB_API_KEYS": KEY,
        "HUB_JWT_SECRET": "relay-benchmark-secret-0123456789abcdef",
        "HUB_LOG_LEVEL": "WARNING",
    }
    cmd = [sys.executable, "benchmarks/relay_hub.py", "--port", str(port)]
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=root, env=env)
    url = f"http://127.0.0.1:{port}/ollama"

    def listed() -> bool:
        tags = httpx.get(url + "/api/tags", headers={"Authorization": f"Bearer {KEY}"})
        return tags.status_code == 200 and len(tags.json()["models"]) == 2

    try:
        _wait_until(listed, proc)
        yield Server(url, proc.pid, time.perf_counter() - started)
    finally:
        proc.terminate()
        proc.wait(10)


@contextlib.contextmanager
def litellm_server(binary: str, paced_url: str, fast_url: str, tmp: Path) -> Iterator[Server]:
    models = [
        {
            "model_name": name,
            "litellm_params": {"model": f"ollama_chat/{name}", "api_base": base},
        }
        for name, base in ((PACED, paced_url), (FAST, fast_url))
    ]
    config = tmp / "litellm.yaml"
    config.write_text(json.dumps({"model_list": models, "general_settings": {"master_key": KEY}}))
    port = free_port()
    cmd = [binary, "--config", str(config), "--port", str(port), "--num_workers", "1"]
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"

    def alive() -> bool:
        return httpx.get(url + "/health/liveliness").status_code == 200

    try:
        _wait_until(alive, proc, limit=120)
        yield Server(url, proc.pid, time.perf_counter() - started)
    finally:
        proc.terminate()
        proc.wait(20)


@contextlib.contextmanager
def blind_server(paced_url: str) -> Iterator[Server]:
    port = free_port()
    cmd = [sys.executable, "benchmarks/relay_blind.py", "--port", str(port)]
    started = time.perf_counter()
    proc = subprocess.Popen([*cmd, "--upstream", paced_url], cwd=ROOT)
    url = f"http://127.0.0.1:{port}/ollama"
    try:
        _wait_until(lambda: httpx.get(url + "/api/tags").status_code == 200, proc)
        yield Server(url, proc.pid, time.perf_counter() - started)
    finally:
        proc.terminate()
        proc.wait(10)


@contextlib.contextmanager
def nginx_server(binary: str, paced_url: str, tmp: Path) -> Iterator[Server]:
    port, upstream = free_port(), paced_url.split("//", 1)[1].rstrip("/")
    config = tmp / "nginx.conf"
    config.write_text(
        f"worker_processes 1; daemon off; pid {tmp}/nginx.pid; error_log {tmp}/nginx.log;\n"
        "events { worker_connections 4096; }\n"
        f"http {{ access_log off; client_body_temp_path {tmp}; proxy_temp_path {tmp};\n"
        f"  upstream fake {{ server {upstream}; keepalive 200; }}\n"
        f"  server {{ listen 127.0.0.1:{port};\n"
        "    location /ollama/ { proxy_pass http://fake/; proxy_http_version 1.1;\n"
        '      proxy_set_header Connection ""; proxy_buffering off; } } }\n'
    )
    started = time.perf_counter()
    proc = subprocess.Popen([binary, "-c", str(config)])
    url = f"http://127.0.0.1:{port}/ollama"
    try:
        _wait_until(lambda: httpx.get(url + "/api/tags").status_code == 200, proc)
        yield Server(url, proc.pid, time.perf_counter() - started)
    finally:
        proc.terminate()
        proc.wait(10)


def load(
    url: str,
    route: str,
    model: str,
    streams: int,
    rounds: int,
    tokens: int,
    *extra: str,
) -> dict[str, Any]:
    cmd = [
        sys.executable,
        "benchmarks/relay_load.py",
        *("--url", url, "--route", route, "--model", model, "--key", KEY),
        *("--streams", str(streams), "--rounds", str(rounds), "--tokens", str(tokens)),
        *extra,
    ]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=True)
    result: dict[str, Any] = json.loads(done.stdout)
    if result["error_count"] or result["wrong_text"]:
        raise RuntimeError(f"{url} {route}: {result['errors']} wrong={result['wrong_text']}")
    return result


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def latency(
    targets: dict[str, tuple[str, str]],
    streams: int,
    blocks: int,
    rounds: int,
    tokens: int,
    *extra: str,
) -> dict[str, list[float]]:
    """TTFT samples per target, the targets interleaved block by block."""
    samples: dict[str, list[float]] = {name: [] for name in targets}
    for _ in range(blocks):
        for name, (url, route) in targets.items():
            samples[name] += load(url, route, PACED, streams, rounds, tokens, *extra)["ttft_ms"]
    return samples


# (label, streams, extra load arguments); blocks and rounds come from the command line.
LATENCY_CASES = (
    ("1", 1, ()),
    ("50", 50, ()),
    ("50s", 50, ("--steady", "--period-ms", "200")),
)


def latency_table(
    server: Server, paced: str, args: argparse.Namespace, route: str
) -> dict[str, Any]:
    """Time to first token through `server` and direct, for every case in LATENCY_CASES."""
    load(server.url, route, PACED, 4, 1, args.lat_tokens)  # warm-up
    out: dict[str, Any] = {}
    for label, streams, extra in LATENCY_CASES:
        if label == "1":
            blocks, rounds = 4, args.single_rounds
        else:
            blocks, rounds = args.blocks, (args.steady_rounds if extra else 1)
        ttft = latency(
            {"direct": (paced, "native"), "relay": (server.url, route)},
            streams,
            blocks,
            rounds,
            args.lat_tokens,
            *extra,
        )
        for name, values in ttft.items():
            out[f"ttft{label}_{name}"] = (pct(values, 50), pct(values, 99), len(values))
    return out


def throughput(url: str, route: str, tokens: int, streams: int, runs: int) -> float:
    rates = []
    for _ in range(runs):
        result = load(url, route, FAST, streams, 1, tokens)
        rates.append(result["tokens"] / result["wall_s"])
    return statistics.median(rates)


def relay_table(
    server: Server, direct: tuple[str, str], args: argparse.Namespace, route: str
) -> dict[str, Any]:
    """Every measure for one relay (hub or LiteLLM) against direct calls to the fakes."""
    paced, fast = direct
    load(server.url, route, FAST, 20, 1, args.tokens)  # warm-up
    out: dict[str, Any] = {"startup_s": server.startup_s}
    out.update(latency_table(server, paced, args, route))
    time.sleep(1)
    out["rss_idle"] = rss_mb(server.pid)
    out["direct_rate"] = throughput(fast, "native", args.tokens, args.streams, args.runs)
    with PeakRss(server.pid) as peak:
        out["rate"] = throughput(server.url, route, args.tokens, args.streams, args.runs)
        if route == "native":
            out["rate_openai"] = throughput(server.url, "openai", args.tokens, args.streams, 1)
    out["rss_peak"] = peak.peak
    time.sleep(3)
    out["rss_after"] = rss_mb(server.pid)
    return out


_CASE_NAMES = {"1": "1 stream", "50": "50 streams, burst", "50s": "50 streams, steady"}


def report(name: str, r: dict[str, Any]) -> list[str]:
    lines = [f"### {name}", "", "| measure | result |", "|---|---|"]
    for label, _, _ in LATENCY_CASES:
        d50, d99, n = r[f"ttft{label}_direct"]
        h50, h99, m = r[f"ttft{label}_relay"]
        lines.append(
            f"| TTFT, {_CASE_NAMES[label]}, p50 / p99 ({n} / {m} samples) | direct {d50:.2f} / "
            f"{d99:.2f} ms; relay {h50:.2f} / {h99:.2f} ms; **{h50 - d50:+.2f} / "
            f"{h99 - d99:+.2f} ms** |"
        )
    if "rate" not in r:
        return [*lines, ""]
    lines.append(
        f"| throughput, {ARGS.streams} streams × {ARGS.tokens} chunks | direct "
        f"{r['direct_rate']:,.0f} chunks/s; relay **{r['rate']:,.0f} chunks/s** |"
    )
    if "rate_openai" in r:
        lines.append(f"| throughput, OpenAI SSE route | {r['rate_openai']:,.0f} chunks/s |")
    lines.append(
        f"| RSS warm idle / peak at {ARGS.streams} streams / 3 s after | {r['rss_idle']:.0f} / "
        f"**{r['rss_peak']:.0f}** / {r['rss_after']:.0f} MB "
        f"({(r['rss_after'] / r['rss_idle'] - 1) * 100:+.0f}% vs idle) |"
    )
    lines.append(f"| start-up to models listed | **{r['startup_s']:.2f} s** |")
    return [*lines, ""]


ARGS = argparse.Namespace()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--litellm", default="", help="path to LiteLLM's `litellm` CLI")
    parser.add_argument("--quick", action="store_true", help="fewer samples (a smoke run)")
    parser.add_argument("--streams", type=int, default=200)
    parser.add_argument("--tokens", type=int, default=200)
    parser.add_argument("--lat-tokens", type=int, default=40)
    parser.add_argument("--nginx", default=shutil.which("nginx") or "", help="nginx binary")
    parser.add_argument("--no-references", action="store_true", help="skip blind relay, nginx")
    parser.add_argument("--baseline", default="", help="another checkout of the hub to compare")
    args = parser.parse_args(namespace=ARGS)
    args.single_rounds, args.blocks, args.runs = (5, 1, 1) if args.quick else (25, 4, 3)
    args.steady_rounds = 4 if args.quick else 8
    os.chdir(ROOT)
    with (
        tempfile.TemporaryDirectory() as tmp,
        fake_ollama_process(PACED, args.lat_tokens, 200.0) as paced,
        fake_ollama_process(FAST, args.tokens, None) as fast,
    ):
        results = []
        with hub_server(paced, fast, Path(tmp)) as hub:
            results.append(
                (
                    "chathub (native /ollama/api/chat)",
                    relay_table(hub, (paced, fast), args, "native"),
                )
            )
        if args.baseline:
            # Another checkout of the hub (e.g. `git worktree add /tmp/base <commit>`), measured
            # the same way in the same run, for before/after comparisons.
            base_dir = Path(tmp) / "baseline"
            base_dir.mkdir()
            with hub_server(paced, fast, base_dir, Path(args.baseline)) as base:
                results.append(
                    (
                        f"chathub at {args.baseline} (baseline)",
                        relay_table(base, (paced, fast), args, "native"),
                    )
                )
        if not args.no_references:
            with blind_server(paced) as blind:
                results.append(
                    (
                        "Blind Python relay (benchmarks/relay_blind.py), latency only",
                        latency_table(blind, paced, args, "native"),
                    )
                )
            if args.nginx:
                with nginx_server(args.nginx, paced, Path(tmp)) as ngx:
                    results.append(
                        ("nginx (C), latency only", latency_table(ngx, paced, args, "native"))
                    )
        if args.litellm:
            with litellm_server(args.litellm, paced, fast, Path(tmp)) as peer:
                results.append(
                    (
                        "LiteLLM proxy (/v1/chat/completions)",
                        relay_table(peer, (paced, fast), args, "openai"),
                    )
                )
    for name, r in results:
        print("\n".join(report(name, r)))
        print(json.dumps(r))


if __name__ == "__main__":
    main()
