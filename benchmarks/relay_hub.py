"""Runs the hub's HTTP app in this process for benchmarks/relay.py (settings from HUB_* env).

    python benchmarks/relay_hub.py --port 8000

The app is `hub.app.create_app(settings)`, run by uvicorn with one worker, as `chathub serve`
runs it; `--http`/`--loop` pick uvicorn's implementations (default: auto).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def build_app() -> object:
    from hub.app import create_app, settle_gc
    from hub.logging_setup import configure_logging
    from hub.settings import load_settings

    settings = load_settings()
    configure_logging(settings.log_level)  # as `chathub serve` does
    app = create_app(settings)
    settle_gc()  # as `chathub serve` does (after its services are open; here they open later)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--http", default="auto", help="uvicorn HTTP implementation")
    parser.add_argument("--loop", default="auto", help="uvicorn event loop")
    args = parser.parse_args()
    import uvicorn

    app = build_app()
    try:  # the server configuration `chathub serve` uses, where this checkout has one
        from hub.http_server import uvicorn_config
        from hub.settings import load_settings
    except ImportError:
        uvicorn.run(
            app,  # type: ignore[arg-type]
            host="127.0.0.1",
            port=args.port,
            log_level="warning",
            access_log=False,
            http=args.http,
            loop=args.loop,
        )
        return
    config = uvicorn_config(app, "127.0.0.1", args.port, load_settings().server)
    config.access_log, config.loop = False, args.loop
    if args.http != "auto":
        config.http = args.http
    uvicorn.Server(config).run()


if __name__ == "__main__":
    main()
