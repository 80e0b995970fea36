"""`chathub serve --workers N`: N hub processes on one machine, sharing one listening socket.

The supervisor (this module) checks what every worker would check first, so a bad setting,
refused credentials, a port in use or a store that cannot be opened is one line and an exit
code, as with one process; it also opens the store once, so a new SQLite file is created (and
migrated) before the workers race to do it. Then it binds the socket and starts each worker as
`chathub serve` with the socket's descriptor: every worker accepts on it (the kernel hands each
connection to one of them), and each is a whole hub of its own (stores, router, connectors)
that coordinates with the others through Redis, like replicas on several machines.

Why not uvicorn's own `--workers`: it starts the app from an import string inside each worker
and owns start-up, so start-up failures would be uvicorn's log lines and exit 3, not ours, and
the hub's services (opened before uvicorn) would not exist yet. Here each worker runs exactly
the one-process `serve` path.

Signals: SIGTERM or SIGINT to the supervisor stops every worker gracefully (each worker runs
in its own process group, so Ctrl-C reaches it once, through the supervisor). A worker that
dies is started again; one that fails while starting stops the whole hub with its exit code.
Each worker watches a pipe from the supervisor and stops by itself if the supervisor dies.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from hub.connectors.plugin import ConnectorError
from hub.connectors.registry import verify_enabled
from hub.core.ports import StoreError
from hub.listener import StartupError, listening_socket
from hub.settings import SettingsError

if TYPE_CHECKING:
    from hub.settings import HubSettings

log = logging.getLogger(__name__)

BACKLOG = 2048  # as uvicorn's: connections wait here while workers start or restart
START_WINDOW = 20.0  # seconds: a worker exiting within this of its start failed to start
RESTART_PAUSE = 1.0  # seconds before a worker that died is started again
STOP_MARGIN = 15.0  # seconds beyond the shutdown grace before a worker is killed
POLL = 0.2


def check_workers(settings: HubSettings, workers: int) -> None:
    """Refuse what cannot work: several workers without Redis (a SettingsError: exit 2)."""
    if workers < 1:
        raise SettingsError(f"--workers: must be 1 or more (got {workers})")
    if workers > 1 and settings.redis_url is None:
        raise SettingsError(
            f"--workers {workers} needs HUB_REDIS_URL: without Redis each worker would keep its "
            "own backend slots, queue, conversation locks, limits and Telegram poller"
        )


@dataclass
class _Worker:
    number: int
    proc: subprocess.Popen[bytes]
    started: float = field(default_factory=time.monotonic)


class Supervisor:
    """Starts, watches, restarts and stops the worker processes."""

    def __init__(self, settings: HubSettings, workers: int, listen_fd: int) -> None:
        self.settings = settings
        self.count = workers
        self.listen_fd = listen_fd
        self.workers: list[_Worker] = []
        self.stopping = False
        self._alive_read, self._alive_write = os.pipe()  # EOF in a worker: we died

    def _command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "hub.cli",
            "serve",
            "--host",
            self.settings.host,
            "--port",
            str(self.settings.port),
            "--listen-fd",
            str(self.listen_fd),
            "--parent-fd",
            str(self._alive_read),
        ]

    def start(self, number: int) -> _Worker:
        proc = subprocess.Popen(
            self._command(),
            pass_fds=(self.listen_fd, self._alive_read),
            process_group=0,  # Ctrl-C reaches the workers once, through us
        )
        log.info("worker started", extra={"worker": number, "pid": proc.pid})
        return _Worker(number, proc)

    def run(self) -> int:
        """Run until stopped; the exit code of the hub."""
        self.workers = [self.start(n) for n in range(1, self.count + 1)]
        while not self.stopping:
            time.sleep(POLL)
            for i, worker in enumerate(self.workers):
                code = worker.proc.poll()
                if code is None or self.stopping:
                    continue
                if time.monotonic() - worker.started < START_WINDOW and code in (1, 2):
                    log.error(
                        "a worker failed to start; stopping the others",
                        extra={"worker": worker.number, "exit_code": code},
                    )
                    self.stop()
                    return code
                log.warning(
                    "a worker died; starting it again",
                    extra={"worker": worker.number, "pid": worker.proc.pid, "exit_code": code},
                )
                time.sleep(RESTART_PAUSE)
                if not self.stopping:
                    self.workers[i] = self.start(worker.number)
        self.stop()
        return 0

    def request_stop(self, signum: int, frame: object) -> None:
        self.stopping = True

    def stop(self) -> None:
        """SIGTERM every worker, wait for the graceful shutdown, kill what is left."""
        self.stopping = True
        for worker in self.workers:
            if worker.proc.poll() is None:
                worker.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.settings.chat.shutdown_grace + STOP_MARGIN
        for worker in self.workers:
            try:
                worker.proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pid = worker.proc.pid
                log.warning("a worker did not stop in time; killing it", extra={"pid": pid})
                worker.proc.kill()
                worker.proc.wait()
        os.close(self._alive_write)
        os.close(self._alive_read)


async def prepare(settings: HubSettings) -> None:
    """What every worker checks first, once: the connectors' credentials, and the store
    (opened and closed, so a new SQLite file is created and migrated before the workers
    start). Raises what `serve` would."""
    from hub.bootstrap import open_stores

    await verify_enabled(type(settings).plugins, settings)
    try:
        stores = await open_stores(settings)
    except StoreError as exc:
        raise StartupError(str(exc)) from exc
    await stores.aclose()


def serve_workers(settings: HubSettings, workers: int) -> int:
    """`chathub serve --workers N` (N > 1): check, bind, supervise. The exit code."""
    try:
        check_workers(settings, workers)
        asyncio.run(prepare(settings))
        listener = listening_socket(settings.host, settings.port)
    except (StartupError, ConnectorError, SettingsError) as exc:
        print(f"chathub: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, SettingsError) else getattr(exc, "exit_code", 1)
    try:
        listener.listen(BACKLOG)
        return supervise(settings, workers, listener.fileno())
    finally:
        listener.close()


def supervise(settings: HubSettings, workers: int, listen_fd: int) -> int:
    """Run `workers` worker processes on the already bound `listen_fd`; the exit code."""
    supervisor = Supervisor(settings, workers, listen_fd)
    previous = {
        sig: signal.signal(sig, supervisor.request_stop) for sig in (signal.SIGTERM, signal.SIGINT)
    }
    try:
        log.info("starting workers", extra={"workers": workers, "port": settings.port})
        return supervisor.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@dataclass(frozen=True, slots=True)
class WorkerSockets:
    """What a worker got from its supervisor: the listening socket and the pipe that closes
    when the supervisor dies."""

    listen_fd: int
    parent_fd: int | None = None

    def listener(self) -> socket.socket:
        return socket.socket(fileno=self.listen_fd)

    def watch_supervisor(self) -> None:
        """Stop gracefully (SIGTERM to ourselves) when the supervisor dies (call on the loop)."""
        fd = self.parent_fd
        if fd is None:
            return
        loop = asyncio.get_running_loop()

        def supervisor_gone() -> None:
            loop.remove_reader(fd)
            log.warning("the supervisor is gone; stopping this worker")
            os.kill(os.getpid(), signal.SIGTERM)

        loop.add_reader(fd, supervisor_gone)
