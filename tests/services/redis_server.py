"""Session fixture: a real redis-server on an ephemeral port (owned by the limits work).

`redis_server` starts `/usr/bin/redis-server` once per test session and can be stopped and
started again on the same port mid-test, so a test can simulate an outage and the recovery.
`redis_url` hands each test an empty database (FLUSHALL) on a running server.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

REDIS_BINARY = "/usr/bin/redis-server"
START_TIMEOUT = 10.0


def _free_port() -> int:
    # Port 0 means "no TCP listener" to redis-server, so pick one from the kernel here.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class RedisServer:
    """One redis-server child process on a fixed port; `stop()`/`start()` keep the port."""

    def __init__(
        self, binary: str, port: int, workdir: Path, extra_args: tuple[str, ...] = ()
    ) -> None:
        self.binary = binary
        self.port = port
        self.workdir = workdir
        self.extra_args = extra_args
        self.url = f"redis://127.0.0.1:{port}/0"
        self._proc: subprocess.Popen[bytes] | None = None
        self._log = workdir / "redis.log"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        """Start the server (on the same port as before) and wait until it answers PING."""
        if self.running:
            return
        args = [
            self.binary,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--dir", str(self.workdir),
            "--daemonize", "no",
            "--logfile", str(self._log),
            *self.extra_args,
        ]  # fmt: skip
        self._proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self._wait_ready()

    def _wait_ready(self) -> None:
        assert self._proc is not None
        deadline = time.monotonic() + START_TIMEOUT
        last_error = "no answer"
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                stderr = (
                    self._proc.stderr.read().decode(errors="replace") if self._proc.stderr else ""
                )
                self._proc = None
                raise RuntimeError(f"redis-server exited at start: {stderr.strip()}{self._tail()}")
            try:
                with redis.Redis(port=self.port, socket_timeout=1.0) as client:
                    if client.ping():
                        return
            except redis.RedisError as exc:
                last_error = str(exc)
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"redis-server did not answer PING on port {self.port}: {last_error}")

    def _tail(self) -> str:
        try:
            lines = self._log.read_text(errors="replace").splitlines()[-5:]
        except OSError:
            return ""
        return " | log: " + " / ".join(lines) if lines else ""

    def pause(self) -> None:
        """Freeze the server (SIGSTOP): connections open, nothing answers, like a hung Redis."""
        assert self._proc is not None
        self._proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self._proc is not None
        self._proc.send_signal(signal.SIGCONT)

    def kill(self) -> None:
        """Kill the server outright (SIGKILL, as a crash or the OOM killer would)."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.kill()
        proc.wait(timeout=10)
        if proc.stderr is not None:
            proc.stderr.close()

    def stop(self) -> None:
        """Terminate the server (no save) and wait until its port is closed."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGCONT)  # a paused server cannot act on SIGTERM
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        if proc.stderr is not None:
            proc.stderr.close()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A real redis-server for the whole session; fails (never skips) if it cannot start."""
    binary = _binary()
    workdir = Path(tempfile.mkdtemp(prefix="chathub-redis-"))
    server = RedisServer(binary, _free_port(), workdir)
    try:
        server.start()
    except (RuntimeError, OSError) as exc:
        shutil.rmtree(workdir, ignore_errors=True)
        pytest.fail(f"cannot start redis-server: {exc}")
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def _binary() -> str:
    binary = shutil.which("redis-server") or REDIS_BINARY
    if not Path(binary).exists():
        pytest.fail(
            f"redis-server not found at {REDIS_BINARY}: install it with "
            "`apt-get install redis-server` (or run `make services`)"
        )
    return binary


def _serve_every_slot(server: RedisServer) -> None:
    """Make a cluster-enabled server a one-node cluster that owns all 16384 slots."""
    with redis.Redis(port=server.port, socket_timeout=2.0) as client:
        client.execute_command("CLUSTER", "ADDSLOTSRANGE", "0", "16383")
        deadline = time.monotonic() + START_TIMEOUT
        while b"cluster_state:ok" not in client.execute_command("CLUSTER", "INFO"):
            if time.monotonic() > deadline:
                raise RuntimeError("the one-node cluster never reported cluster_state:ok")
            time.sleep(0.05)


@pytest.fixture(scope="session")
def redis_cluster_server() -> Iterator[RedisServer]:
    """A cluster-enabled redis-server owning every slot: commands whose keys span two hash
    slots fail with CROSSSLOT there, as on a real Redis Cluster, so a suite run against it
    proves its key layout (hash tags) is Cluster-ready."""
    workdir = Path(tempfile.mkdtemp(prefix="chathub-redis-cluster-"))
    args = ("--cluster-enabled", "yes", "--cluster-config-file", str(workdir / "nodes.conf"))
    # The cluster bus port, named: by default it is the port + 10000, which fails above 55535.
    args += ("--cluster-port", str(_free_port()))
    server = RedisServer(_binary(), _free_port(), workdir, args)
    try:
        server.start()
        _serve_every_slot(server)
    except (RuntimeError, OSError, redis.RedisError) as exc:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
        pytest.fail(f"cannot start a cluster-enabled redis-server: {exc}")
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The URL of a running redis-server whose database is empty at the start of the test."""
    if not redis_server.running:  # a previous test stopped it and failed before restarting
        redis_server.start()
    redis_server.resume()  # ... or paused it (harmless on a running server)
    with redis.Redis.from_url(redis_server.url) as client:
        client.flushall()
        client.script_flush()
    return redis_server.url
