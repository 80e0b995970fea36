"""Run a fake server (`python -m tests.fakes.<name>`) as its own process, for benchmarks and
tests that must not share the hub's event loop with it. Each fake prints its URL when ready."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def fake_process(module: str, *args: str) -> Iterator[str]:
    """Start `python -m <module> <args>`; yield the URL it prints; stop it on exit."""
    proc = subprocess.Popen(
        [sys.executable, "-m", module, *args], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        if not url.startswith("http"):
            raise RuntimeError(f"{module} did not start (exit code {proc.poll()})")
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


@contextmanager
def fake_ollama_process(model: str, tokens: int, rate: float | None = None) -> Iterator[str]:
    """The fake Ollama serving `model` with `tokens`-token replies at `rate` tokens/s."""
    args = ["--models", model, "--tokens", str(tokens)]
    if rate:
        args += ["--tokens-per-second", str(rate)]
    with fake_process("tests.fakes.ollama", *args) as url:
        yield url
