"""`chathub serve` and `chathub check` as an admin runs them: real processes, real sockets."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def hub_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env.update(
        HUB_DATA_DIR=str(tmp_path / "data"),
        HUB_JWT_SECRET="test-secret",
        NO_PROXY="127.0.0.1,localhost",
    )
    env.update(extra)
    return env


def run_cli(
    *args: str, env: dict[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hub.cli", *args],
        cwd=tmp_cwd(env),
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def python_path(env: dict[str, str]) -> str:
    """The repository first (the tests' fakes), then any PYTHONPATH the test gave (plugins)."""
    return os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)


def tmp_cwd(env: dict[str, str]) -> str:
    # Run from the data dir's parent so no stray ./.env of the developer is read.
    path = Path(env["HUB_DATA_DIR"]).parent
    path.mkdir(parents=True, exist_ok=True)
    return str(path)


class Served:
    def __init__(self, proc: subprocess.Popen[str], base: str) -> None:
        self.proc = proc
        self.base = base


def start_serve(env: dict[str, str]) -> Served:
    port = free_port()
    env = {**env, "HUB_PORT": str(port)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "hub.cli", "serve"],
        cwd=tmp_cwd(env),
        env={**env, "PYTHONPATH": python_path(env)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            out = proc.stdout.read() if proc.stdout else ""
            pytest.fail(f"chathub serve exited early ({proc.returncode}):\n{out}")
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                return Served(proc, base)
        except httpx.HTTPError:
            time.sleep(0.05)
    proc.kill()
    pytest.fail("chathub serve did not answer /health within 30 s")


def stop(served: Served, sig: int = signal.SIGTERM) -> tuple[int, str]:
    served.proc.send_signal(sig)
    out, _ = served.proc.communicate(timeout=30)
    return served.proc.returncode, out


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_serve_on_embedded_defaults_is_ready_and_stops_cleanly(
    tmp_path: Path, fake_ollama_url: str, sig: int
) -> None:
    served = start_serve(hub_env(tmp_path, HUB_OLLAMA_URL=fake_ollama_url))
    try:
        ready = httpx.get(f"{served.base}/ready", timeout=5)
        assert ready.status_code == 200, ready.text
        checks = ready.json()["checks"]
        assert checks["store"]["detail"].startswith("SQLite at ")
        assert checks["limiter"]["detail"] == "in-memory limiter"
        assert checks["backend ollama"]["ok"] is True
        metrics = httpx.get(f"{served.base}/metrics", timeout=5)
        assert metrics.headers["content-type"].startswith("text/plain; version=0.0.4")
        assert 'chathub_backend_up{backend="ollama"} 1' in metrics.text
        assert "chathub_replies_in_progress 0" in metrics.text
    finally:
        code, out = stop(served, sig)
    assert code == 0, out
    assert "Traceback" not in out
    for dependency in ("store ready", "limiter ready", "backend ready"):
        assert dependency in out
    assert (tmp_path / "data" / "chathub.db").exists()


def test_ready_names_what_is_down(tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    served = start_serve(hub_env(tmp_path, HUB_OLLAMA_URL=dead))
    try:
        ready = httpx.get(f"{served.base}/ready", timeout=5)
        assert ready.status_code == 503
        detail = ready.json()["checks"]["backend ollama"]["detail"]
        assert f"Ollama is not reachable at {dead}" in detail
        assert "ollama serve" in detail and "HUB_OLLAMA_URL" in detail
        assert httpx.get(f"{served.base}/health", timeout=5).status_code == 200
    finally:
        stop(served)


def test_check_reports_each_dependency(tmp_path: Path, fake_ollama_url: str) -> None:
    good = run_cli("check", env=hub_env(tmp_path, HUB_OLLAMA_URL=fake_ollama_url))
    assert good.returncode == 0, good.stdout + good.stderr
    assert "ok    store: SQLite at" in good.stdout
    assert "ok    backend ollama" in good.stdout

    dead = f"http://127.0.0.1:{free_port()}"
    bad = run_cli("check", env=hub_env(tmp_path, HUB_OLLAMA_URL=dead))
    assert bad.returncode == 1
    assert (
        f"FAIL  backend ollama: Ollama is not reachable at {dead} (connection refused): "
        "start it with `ollama serve` or set HUB_OLLAMA_URL." in bad.stdout
    )


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({"HUB_PORT": "not-a-port"}, "chathub: HUB_PORT: "),
        ({"HUB_TELEGRAM__MODE": "fax"}, "chathub: HUB_TELEGRAM__MODE: "),
        ({"HUB_LIMITS__PER_USER": "20/fortnight"}, "chathub: "),
        (
            {"HUB_TELEGRAM__TOKEN": "1:x", "HUB_TELEGRAM__MODE": "webhook"},
            "chathub: HUB_TELEGRAM__WEBHOOK_SECRET: required",
        ),
    ],
)
def test_bad_setting_exits_2_with_one_line(
    tmp_path: Path, extra: dict[str, str], expected: str
) -> None:
    result = run_cli("serve", env=hub_env(tmp_path, **extra))
    assert result.returncode == 2
    assert result.stderr.startswith(expected)
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr


def test_unknown_yaml_key_is_named(tmp_path: Path) -> None:
    config = tmp_path / "hub.yaml"
    config.write_text("routing:\n  backends: []\n  colour: blue\n", encoding="utf-8")
    result = run_cli("serve", env=hub_env(tmp_path, HUB_CONFIG=str(config)))
    assert result.returncode == 2
    assert "routing.colour (in HUB_CONFIG): unknown setting" in result.stderr


def test_corrupt_data_dir_stops_start_up_with_a_clear_line(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "chathub.db").write_bytes(b"this is not a database" * 100)
    result = run_cli("serve", env=hub_env(tmp_path, HUB_PORT=str(free_port())))
    assert result.returncode == 1
    assert result.stderr.startswith("chathub: ")
    assert "chathub.db" in result.stderr
    assert "Traceback" not in result.stderr


def test_unreachable_mongodb_stops_start_up_without_leaking_credentials(tmp_path: Path) -> None:
    url = f"mongodb://admin:hunter2@127.0.0.1:{free_port()}/?serverSelectionTimeoutMS=500"
    result = run_cli("serve", env=hub_env(tmp_path, HUB_MONGODB_URL=url, HUB_PORT="0"))
    assert result.returncode == 1
    assert "MongoDB is not reachable" in result.stderr
    assert "hunter2" not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr
