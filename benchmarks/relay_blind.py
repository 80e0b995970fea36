"""A blind relay for benchmarks/relay.py: the least any Python relay can do, as a floor.

    python benchmarks/relay_blind.py --port 8001 --upstream http://127.0.0.1:11434

uvicorn (uvloop, httptools) and one aiohttp client, as the hub uses them, but nothing else: no
framework, auth, limits, routing, parsing or accounting. A request to `/ollama/<path>` is sent to
`<upstream>/<path>` and the answer's bytes are written back as they arrive. Not for use: it
exists so the benchmark can tell the hub's own cost from the cost of any Python relay.
"""

from __future__ import annotations

import argparse
from typing import Any

import aiohttp
import uvicorn

_session: aiohttp.ClientSession | None = None


def build(upstream: str) -> Any:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        global _session
        if scope["type"] == "lifespan":
            while (await receive())["type"] == "lifespan.startup":
                _session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        assert _session is not None
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        url = upstream + scope["path"].removeprefix("/ollama")
        headers = {"Content-Type": "application/json"}
        async with _session.request(scope["method"], url, data=body, headers=headers) as resp:
            kind = resp.headers.get("Content-Type", "application/json").encode()
            start = {"status": resp.status, "headers": [(b"content-type", kind)]}
            await send({"type": "http.response.start", **start})
            async for chunk in resp.content.iter_any():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True)
    args = parser.parse_args()
    app = build(args.upstream.rstrip("/"))
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
