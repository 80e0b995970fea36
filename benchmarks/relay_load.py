"""Load generator for benchmarks/relay.py, run as its own process.

    python benchmarks/relay_load.py --url http://127.0.0.1:8000/ollama --route native \
        --model alpha:latest --streams 50 --rounds 4 --tokens 40 [--key KEY]

Each round starts `--streams` chat requests at once and waits for all of them (a burst). With
`--steady`, `--streams` workers instead send `--rounds` requests each, back to back, the
workers' starts spread over `--period-ms` (about one reply's length), so requests arrive one
by one while the others stream; only requests that start while all the other workers are
streaming give a time-to-first-token sample. For every
request it records the time to the first content chunk, counts content chunks, and checks the
joined text against the fake's numbered tokens ("t0 t1 t2 …"), so a relay that loses, doubles
or loops chunks is caught. Throughput counts upstream chunks (tokens) of intact replies: a relay
may send several tokens in one line when it is busy, which the line count shows. Prints one
JSON object with the results on stdout.

Routes: `native` = POST {url}/api/chat (NDJSON), `openai` = POST {url}/v1/chat/completions
(SSE, stream=true).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp


@dataclass
class Outcome:
    ttft: list[float] = field(default_factory=list)  # seconds
    active: int = 0  # requests in flight (for --steady)
    steady_only: bool = False
    chunks: int = 0
    errors: list[str] = field(default_factory=list)
    wrong_text: int = 0
    complete: int = 0  # replies whose whole text arrived intact


def expected_text(tokens: int) -> str:
    return "".join(f"t{i}" if i == 0 else f" t{i}" for i in range(tokens))


def _content(route: str, line: bytes) -> str | None:
    """The content of one stream line, "" for a line without content, None at the end."""
    line = line.strip()
    if not line:
        return ""
    if route == "openai":
        if not line.startswith(b"data: "):
            return ""
        if line == b"data: [DONE]":
            return None
        obj = json.loads(line[6:])
        if "error" in obj:
            raise RuntimeError(str(obj["error"]))
        choices = obj.get("choices") or [{}]
        return str((choices[0].get("delta") or {}).get("content") or "")
    obj = json.loads(line)
    if "error" in obj:
        raise RuntimeError(str(obj["error"]))
    if obj.get("done"):
        return None
    return str((obj.get("message") or {}).get("content") or "")


async def one(
    session: aiohttp.ClientSession, args: argparse.Namespace, out: Outcome, want: str
) -> None:
    path = "/api/chat" if args.route == "native" else "/v1/chat/completions"
    body: dict[str, Any] = {
        "model": args.model,
        "messages": [{"role": "user", "content": "count"}],
        "stream": True,
    }
    headers = {"Authorization": f"Bearer {args.key}"} if args.key else {}
    started = time.perf_counter()
    first = True
    sampled = not out.steady_only or out.active >= args.streams - 1
    out.active += 1
    parts: list[str] = []
    try:
        async with session.post(args.url + path, json=body, headers=headers) as resp:
            if resp.status != 200:
                out.errors.append(f"{resp.status}: {(await resp.text())[:200]}")
                return
            async for line in resp.content:
                piece = _content(args.route, line)
                if piece is None:
                    break
                if piece:
                    if first:
                        if sampled:
                            out.ttft.append(time.perf_counter() - started)
                        first = False
                    parts.append(piece)
                    out.chunks += 1
    except Exception as exc:
        out.errors.append(f"{type(exc).__name__}: {exc}"[:200])
        return
    finally:
        out.active -= 1
    if "".join(parts) == want:
        out.complete += 1
    else:
        out.wrong_text += 1


async def run(args: argparse.Namespace) -> dict[str, Any]:
    out = Outcome()
    want = expected_text(args.tokens)
    connector = aiohttp.TCPConnector(limit=0, force_close=False)
    timeout = aiohttp.ClientTimeout(total=300)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        walls = []
        if args.steady:
            out.steady_only = True

            async def worker(index: int) -> None:
                await asyncio.sleep(index * args.period_ms / 1000 / args.streams)
                for _ in range(args.rounds):
                    await one(session, args, out, want)

            started = time.perf_counter()
            await asyncio.gather(*(worker(i) for i in range(args.streams)))
            walls.append(time.perf_counter() - started)
        for _ in range(0 if args.steady else args.rounds):
            started = time.perf_counter()
            await asyncio.gather(*(one(session, args, out, want) for _ in range(args.streams)))
            walls.append(time.perf_counter() - started)
    return {
        "ttft_ms": [t * 1000 for t in out.ttft],
        "lines": out.chunks,  # content lines received (a relay may merge tokens into one)
        "tokens": out.complete * args.tokens,  # upstream chunks relayed, text verified
        "wall_s": sum(walls),
        "errors": out.errors[:5],
        "error_count": len(out.errors),
        "wrong_text": out.wrong_text,
        "requests": args.streams * args.rounds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--route", choices=["native", "openai"], default="native")
    parser.add_argument("--model", required=True)
    parser.add_argument("--streams", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--tokens", type=int, required=True)
    parser.add_argument("--key", default="")
    parser.add_argument("--steady", action="store_true", help="workers in a loop, not bursts")
    parser.add_argument("--period-ms", type=float, default=200.0, help="spread of --steady starts")
    args = parser.parse_args()
    json.dump(asyncio.run(run(args)), sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
