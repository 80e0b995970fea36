"""Start-up targets: `import hub` < 300 ms and `chathub serve` answering /health < 1.5 s.

Run: .venv/bin/python benchmarks/startup.py [--runs 5]
Each figure is the median of several runs; the interpreter's own start is measured the same way
and reported beside it, so the numbers can be read on a noisy shared machine.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _time_python(code: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
    return time.perf_counter() - start


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve_ready_seconds() -> float:
    port = _free_port()
    with tempfile.TemporaryDirectory() as data:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("HUB_")},
            "HUB_PORT": str(port),
            "HUB_DATA_DIR": data,
            "HUB_JWT_SECRET": "benchmark-secret",
            "HUB_OLLAMA_URL": "http://127.0.0.1:9",  # nothing there: start-up must not wait on it
        }
        start = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "hub.cli", "serve"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            while True:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as r:
                        if r.status == 200:
                            return time.perf_counter() - start
                except OSError:
                    if proc.poll() is not None:
                        raise RuntimeError("chathub serve exited during start-up") from None
                    time.sleep(0.01)
        finally:
            proc.terminate()
            proc.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    bare = statistics.median(_time_python("pass") for _ in range(args.runs))
    pkg = statistics.median(_time_python("import hub") for _ in range(args.runs))
    imp = statistics.median(_time_python("import hub.app") for _ in range(args.runs))
    ready = statistics.median(_serve_ready_seconds() for _ in range(args.runs))
    print(f"python -c pass:            {bare * 1000:7.1f} ms (interpreter alone)")
    print(f"import hub:                {(pkg - bare) * 1000:7.1f} ms beyond the interpreter")
    print(f"import hub.app (all deps): {(imp - bare) * 1000:7.1f} ms beyond the interpreter")
    print(f"chathub serve -> /health:  {ready * 1000:7.1f} ms (target < 1500 ms)")


if __name__ == "__main__":
    main()
