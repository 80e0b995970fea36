"""The MongoDB-wire fixture must fail loudly (never skip) when its server cannot start."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.services.mongo_server import _answers, _start, unique_db_name


def test_a_server_that_exits_fails_the_run_with_the_reason(tmp_path: Path) -> None:
    false = shutil.which("false")
    assert false is not None
    with pytest.raises(pytest.fail.Exception, match="could not start: it exited with code 1"):
        _start(false, tmp_path)


def test_running_server_answers(mongo_url: str) -> None:
    assert _answers(mongo_url)


def test_database_names_are_unique() -> None:
    assert len({unique_db_name() for _ in range(100)}) == 100
