"""Peak resident memory of a process, sampled in a thread while a benchmark runs."""

from __future__ import annotations

import os
import threading

import psutil


def rss_mb(pid: int) -> float:
    """Resident set size of `pid` in MiB, now."""
    return float(psutil.Process(pid).memory_info().rss) / 2**20


class PeakRss:
    """Samples `pid`'s RSS (this process by default) every 20 ms; `peak` is the highest, in MiB."""

    def __init__(self, pid: int | None = None) -> None:
        self.pid = os.getpid() if pid is None else pid
        self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_mb(self.pid))
            self._stop.wait(0.02)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
