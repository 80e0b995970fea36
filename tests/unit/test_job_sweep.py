"""Finished jobs leave the embedded store when their results expire: the job service sweeps
SQLite periodically (MongoDB removes them itself, by the TTL index on `expires_at`)."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from pathlib import Path

from hub.core.jobs.config import JobsConfig
from hub.core.jobs.local_queue import LocalJobQueue
from hub.core.jobs.service import JobService
from hub.core.ports import JobEnd
from hub.core.stores.common import now_utc
from hub.core.stores.sqlite import open_sqlite
from tests.contract.test_stores_jobs import a_job


async def test_expired_jobs_are_swept_from_sqlite_again_and_again(tmp_path: Path) -> None:
    stores = await open_sqlite(tmp_path / "data")
    base = now_utc()
    moment = [base]
    service = JobService(
        stores.jobs,
        LocalJobQueue(),
        JobsConfig(),
        replica="r1",
        clock=lambda: moment[0],
        sweep_every=0.01,
    )

    async def stored() -> set[str]:
        rows = await stores.db.fetchall("SELECT id FROM jobs")
        return {row["id"] for row in rows}

    async def finished(job_id: str, expires_in: float) -> None:
        await stores.jobs.create(a_job(job_id))
        await stores.jobs.claim(job_id, "r1", base)
        expiry = base + timedelta(seconds=expires_in)
        await stores.jobs.finish(job_id, 1, JobEnd("done", "x"), base, expiry)

    async def until_stored(expected: set[str]) -> set[str]:
        for _ in range(2000):  # bounds a hung test only
            found = await stored()
            if found == expected:
                break
            await asyncio.sleep(0.01)
        return found

    sweeping = asyncio.create_task(service.sweep())
    try:
        await finished("soon", 10)
        await finished("later", 100)
        await asyncio.sleep(0.05)  # several sweeps at `base`: nothing has expired
        assert await stored() == {"soon", "later"}
        moment[0] = base + timedelta(seconds=20)
        assert await until_stored({"later"}) == {"later"}
        moment[0] = base + timedelta(seconds=200)
        assert await until_stored(set()) == set()
    finally:
        sweeping.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sweeping
        await stores.aclose()
