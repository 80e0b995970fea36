"""Runs the hub's HTTP app in this process for benchmarks/relay.py (settings from HUB_* env).

    python benchmarks/relay_hub.py --port 8000

Uses `hub.app.create_app` when it exists, otherwise the API routers on a Litestar app whose
lifespan opens the real services (the same fallback as tests/api/conftest.py).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def build_app() -> object:
    from hub.settings import load_settings

    settings = load_settings()
    try:
        from hub.app import create_app
    except ImportError:
        pass
    else:
        return create_app(settings)

    from litestar import Litestar

    from hub.api import api_routers, exception_handlers
    from hub.bootstrap import open_services
    from hub.logging_setup import configure_logging

    @asynccontextmanager
    async def services(app: Litestar) -> AsyncIterator[None]:
        async with open_services(settings) as opened:
            app.state.services = opened
            yield

    configure_logging(settings.log_level)
    return Litestar(
        route_handlers=api_routers(settings),
        exception_handlers=exception_handlers(),
        lifespan=[services],
        logging_config=None,  # hub.logging_setup owns logging, as in `chathub serve`
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--http", default="auto", help="uvicorn HTTP implementation")
    parser.add_argument("--loop", default="auto", help="uvicorn event loop")
    args = parser.parse_args()
    import uvicorn

    uvicorn.run(
        build_app(),  # type: ignore[arg-type]
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
        access_log=False,
        http=args.http,
        loop=args.loop,
    )


if __name__ == "__main__":
    main()
