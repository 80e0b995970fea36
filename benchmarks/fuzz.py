"""Fuzzing: a long schemathesis run against a real `chathub serve`, from its own /schema. Issue 17.

Run from the repository root:
    .venv/bin/python benchmarks/fuzz.py [--examples 500] [--seed 1] [--workers 2]

The hub runs on embedded defaults in front of the fake Ollama (both their own processes), with
Telegram in webhook mode against the fake Telegram (in this process); the
first account is signed up (so the run has an admin token) and `st run` fuzzes every documented
route with the checks the suite uses (tests/security/test_schemathesis.py, which runs the same
command with a fixed seed and 40 examples): no server error, and every status, media type and
body as documented. Prints schemathesis's summary, the hub's tracebacks (there should be none)
and the load average before and after.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fakes.process import fake_process  # noqa: E402
from tests.fakes.telegram import FakeTelegram  # noqa: E402
from tests.security.test_schemathesis import admin_token, hub_env, st_command  # noqa: E402
from tests.support.served import served_hub  # noqa: E402


async def run(args: argparse.Namespace, tmp: Path) -> int:
    telegram = FakeTelegram()
    await telegram.start()
    with fake_process("tests.fakes.ollama", "--models", "alpha:latest,beta:1b") as ollama_url:
        env = hub_env(tmp / "data", ollama_url, telegram)
        async with served_hub(env, tmp) as hub:
            token = await admin_token(hub.url)
            command = st_command(hub.url, token, examples=args.examples, seed=args.seed)
            command[command.index("--workers") + 1] = str(args.workers)
            started = time.monotonic()
            done = await asyncio.to_thread(
                subprocess.run, command, cwd=tmp, capture_output=True, text=True
            )
            elapsed = time.monotonic() - started
            hub.signal()
            await hub.wait()
    await telegram.stop()
    failures, _, summary = done.stdout.partition("SUMMARY")
    if "FAILURES" in failures:  # what failed, how to reproduce it
        print(failures[failures.index("FAILURES") :].split("WARNINGS")[0].strip())
    print(summary.strip())
    print(f"st exit code {done.returncode}, {elapsed:.0f} s")
    print(f"hub tracebacks: {hub.log.count('Traceback')}")
    return done.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--examples", type=int, default=500, help="test cases per operation")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as tmp:
        code = asyncio.run(run(args, Path(tmp)))
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    sys.exit(code)


if __name__ == "__main__":
    main()
