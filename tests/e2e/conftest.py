"""Fixtures of the end-to-end tests: model servers as processes of their own."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def fake_ollama_url() -> Iterator[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.ollama", "--models", "alpha:latest,beta:1b"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    assert url.startswith("http://"), f"fake Ollama did not start: {url!r}"
    yield url
    proc.terminate()
    proc.wait(timeout=10)
