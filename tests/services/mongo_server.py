"""Session fixture: a real MongoDB-wire server on an ephemeral port (owned by the stores work).

`mongo_url` starts NX-27017 (an MIT-licensed MongoDB wire-protocol server on SQLite, installed by
the `test` extra) in memory, or yields `CHATHUB_TEST_MONGODB_URL` when set, so the same suite runs
against a real `mongod` wherever one exists. If the server cannot start the run FAILS and says
why: the MongoDB leg must never be skipped by accident.

Known gaps of the emulator to design tests around (shared/reference/test-services.md §3): it
names indexes itself (`idx_users_email`, not `email_1`), so never assert index names; its
`explain()` output is SQLite's plan, not mongod's.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from pymongo import MongoClient
from pymongo.errors import PyMongoError

ENV_URL = "CHATHUB_TEST_MONGODB_URL"
START_TIMEOUT = 20.0


def unique_db_name(prefix: str = "test") -> str:
    """A database name no other test uses, so tests stay independent in any order."""
    return f"{prefix}_{uuid.uuid4().hex[:16]}"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _executable() -> str | None:
    beside_python = Path(sys.executable).with_name("nx-27017")
    if beside_python.exists():
        return str(beside_python)
    return shutil.which("nx-27017")


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _answers(url: str) -> bool:
    client: MongoClient[dict[str, object]] = MongoClient(url, serverSelectionTimeoutMS=250)
    try:
        client.admin.command("ping")
        return True
    except PyMongoError:
        return False
    finally:
        client.close()


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def _start(exe: str, workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    """Start one server; a port taken between choosing and binding gets another try."""
    log = workdir / "nx-27017.log"
    problem = "it did not start"
    for _attempt in range(3):
        port = _free_port()
        url = f"mongodb://127.0.0.1:{port}/?directConnection=true"
        args = [exe, "--db", "memory", "--host", "127.0.0.1", "--port", str(port)]
        args += ["--log-file", str(log), "--pid-file", str(workdir / f"nx-{port}.pid")]
        with (workdir / "nx-27017.out").open("ab") as out:
            proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline and proc.poll() is None:
            if _answers(url):
                return proc, url
            time.sleep(0.05)
        if proc.poll() is None:
            problem = f"it did not answer ping within {START_TIMEOUT:.0f} s"
        else:
            problem = f"it exited with code {proc.returncode}"
        _stop(proc)
    out_tail = _tail(workdir / "nx-27017.out")
    pytest.fail(
        f"The MongoDB-wire test server (nx-27017) could not start: {problem}.\n"
        f"--- log tail ({log}) ---\n{_tail(log)}\n--- output tail ---\n{out_tail}",
        pytrace=False,
    )


@pytest.fixture(scope="session")
def mongo_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A `mongodb://` URL of a running server for this test session."""
    external = os.environ.get(ENV_URL, "").strip()
    if external:
        if not _answers(external):
            pytest.fail(f"{ENV_URL} is set but that server does not answer ping.", pytrace=False)
        yield external
        return
    exe = _executable()
    if exe is None:
        pytest.fail(
            "nx-27017 is not installed, so the MongoDB store cannot be tested: install the test "
            f"extra (pip install -e '.[test]') or set {ENV_URL} to a running mongod.",
            pytrace=False,
        )
    proc, url = _start(exe, tmp_path_factory.mktemp("mongo"))
    try:
        yield url
    finally:
        _stop(proc)
