"""SQLite job records (`JobStore`): one row per job; JSON columns for the request, result,
error and callback. Expired rows are removed by the job service's periodic sweep."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, cast

from hub.core.ports.jobs import Job, JobApi, JobEnd, JobStatus
from hub.core.stores.common import now_utc
from hub.core.stores.sqlite_db import Row, SqliteDb, dump_time, load_time

_RUNNABLE = "('queued', 'running')"


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value)


def _loaded(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _job(row: Row) -> Job:
    return Job(
        id=row["id"],
        owner=row["owner"],
        api=cast(JobApi, row["api"]),
        model=row["model"],
        request=json.loads(row["request"]),
        created_at=load_time(row["created_at"]),
        updated_at=load_time(row["updated_at"]),
        status=cast(JobStatus, row["status"]),
        text=row["text"],
        position=row["position"],
        result=_loaded(row["result"]),
        error=_loaded(row["error"]),
        callback_url=row["callback_url"],
        callback=_loaded(row["callback"]),
        attempt=row["attempt"],
        worker=row["worker"],
        expires_at=load_time(row["expires_at"]) if row["expires_at"] else None,
    )


class SqliteJobs:
    """`JobStore` on the shared SQLite connection."""

    def __init__(self, db: SqliteDb) -> None:
        self._db = db

    async def create(self, job: Job) -> None:
        await self._db.write(
            "INSERT INTO jobs (id, owner, api, model, request, status, callback_url, "
            "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                job.id,
                job.owner,
                job.api,
                job.model,
                json.dumps(job.request),
                job.status,
                job.callback_url,
                dump_time(job.created_at),
                dump_time(job.updated_at),
            ),
        )

    async def get(self, job_id: str) -> Job | None:
        row = await self._db.fetchone("SELECT * FROM jobs WHERE id = ?", (job_id,))
        if row is None or (row["expires_at"] and load_time(row["expires_at"]) <= now_utc()):
            return None
        return _job(row)

    async def claim(self, job_id: str, worker: str, now: datetime) -> Job | None:
        rows = await self._db.write(
            "UPDATE jobs SET status = 'running', attempt = attempt + 1, worker = ?, text = '', "
            f"position = NULL, updated_at = ? WHERE id = ? AND status IN {_RUNNABLE} RETURNING *",
            (worker, dump_time(now), job_id),
        )
        return _job(rows[0]) if rows else None

    async def progress(
        self, job_id: str, attempt: int, text: str, position: int | None, now: datetime
    ) -> bool:
        changed = await self._db.changes(
            "UPDATE jobs SET text = ?, position = ?, updated_at = ? "
            "WHERE id = ? AND attempt = ? AND status = 'running'",
            (text, position, dump_time(now), job_id, attempt),
        )
        return changed == 1

    async def finish(
        self, job_id: str, attempt: int, end: JobEnd, now: datetime, expires_at: datetime
    ) -> bool:
        changed = await self._db.changes(
            "UPDATE jobs SET status = ?, text = ?, result = ?, error = ?, position = NULL, "
            "updated_at = ?, expires_at = ? WHERE id = ? AND attempt = ? AND status = 'running'",
            (
                end.status,
                end.text,
                _json(end.result),
                _json(end.error),
                dump_time(now),
                dump_time(expires_at),
                job_id,
                attempt,
            ),
        )
        return changed == 1

    async def cancel(self, job_id: str, now: datetime, expires_at: datetime) -> Job | None:
        rows = await self._db.write(
            "UPDATE jobs SET status = 'cancelled', position = NULL, updated_at = ?, "
            f"expires_at = ? WHERE id = ? AND status IN {_RUNNABLE} RETURNING *",
            (dump_time(now), dump_time(expires_at), job_id),
        )
        return _job(rows[0]) if rows else await self.get(job_id)

    async def set_callback(self, job_id: str, callback: dict[str, Any]) -> None:
        await self._db.write(
            "UPDATE jobs SET callback = ? WHERE id = ?", (json.dumps(callback), job_id)
        )

    async def unfinished(self) -> list[Job]:
        rows = await self._db.fetchall(
            f"SELECT * FROM jobs WHERE status IN {_RUNNABLE} ORDER BY created_at, id"
        )
        return [_job(row) for row in rows]

    async def sweep(self, now: datetime) -> int:
        return await self._db.changes(
            "DELETE FROM jobs WHERE expires_at IS NOT NULL AND expires_at <= ?", (dump_time(now),)
        )
