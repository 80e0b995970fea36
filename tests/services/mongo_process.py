"""A MongoDB-wire server (NX-27017) a test can kill and start again, keeping its data.

The session fixture in `mongo_server.py` serves the whole suite from memory; outage tests need
their own server, on a file, so what was stored before the kill is there after the restart, on
the same port, as a restarted `mongod` would be.
"""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

from tests.services.mongo_server import _answers, _executable, _free_port, _tail

START_WITHIN = 20.0


class MongoProcess:
    """One NX-27017 process on a fixed port over `workdir/mongo.db`."""

    def __init__(self, workdir: Path) -> None:
        exe = _executable()
        if exe is None:
            raise RuntimeError("nx-27017 is not installed (pip install -e '.[test]')")
        self.exe = exe
        self.workdir = workdir
        self.port = _free_port()
        self.url = f"mongodb://127.0.0.1:{self.port}/?directConnection=true"
        self._proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.kills = 0

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        """Start the server and wait until it answers ping (blocking: call it in a thread)."""
        if self.running:
            return
        args = [self.exe, "--db", str(self.workdir / "mongo.db"), "--host", "127.0.0.1"]
        args += ["--port", str(self.port), "--log-file", str(self.workdir / "nx.log")]
        args += ["--pid-file", str(self.workdir / "nx.pid")]
        with (self.workdir / "nx.out").open("ab") as out:
            self._proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_WITHIN
        while time.monotonic() < deadline and self._proc.poll() is None:
            if _answers(self.url):
                self.starts += 1
                return
            time.sleep(0.05)
        raise RuntimeError(
            f"nx-27017 did not come up on port {self.port}: {_tail(self.workdir / 'nx.out')}"
        )

    def kill(self) -> None:
        """Kill the server outright (SIGKILL), as a crash or an OOM kill would."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        self.kills += 1

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
