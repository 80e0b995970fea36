"""MongoDB job records (`JobStore`): one document per job in `jobs`, removed by MongoDB itself
when `expires_at` passes (a TTL index). The request, result, error and callback are kept as JSON
text: client requests may hold keys MongoDB will not store as field names (`$ref` in a tool's
JSON schema)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, cast

from pymongo import ReturnDocument

from hub.core.ports.jobs import Job, JobApi, JobEnd, JobStatus
from hub.core.stores.common import now_utc, to_utc
from hub.core.stores.mongo_db import Doc, MongoDb

_RUNNABLE = {"$in": ["queued", "running"]}


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value)


def _loaded(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _time(value: datetime | str) -> datetime:
    # NX-27017 answers find_one_and_update with the datetimes it just set as text.
    return to_utc(datetime.fromisoformat(value) if isinstance(value, str) else value)


def _job(doc: Doc) -> Job:
    expires = doc.get("expires_at")
    return Job(
        id=doc["_id"],
        owner=doc["owner"],
        api=cast(JobApi, doc["api"]),
        model=doc["model"],
        request=json.loads(doc["request"]),
        created_at=_time(doc["created_at"]),
        updated_at=_time(doc["updated_at"]),
        status=cast(JobStatus, doc["status"]),
        text=doc.get("text", ""),
        position=doc.get("position"),
        result=_loaded(doc.get("result")),
        error=_loaded(doc.get("error")),
        callback_url=doc.get("callback_url"),
        callback=_loaded(doc.get("callback")),
        attempt=doc.get("attempt", 0),
        worker=doc.get("worker", ""),
        expires_at=_time(expires) if expires is not None else None,
    )


class MongoJobs:
    """`JobStore` on the `jobs` collection."""

    def __init__(self, db: MongoDb) -> None:
        self._db = db
        self._jobs = db.collection("jobs")

    async def create(self, job: Job) -> None:
        doc = {
            "_id": job.id,
            "owner": job.owner,
            "api": job.api,
            "model": job.model,
            "request": json.dumps(job.request),
            "status": job.status,
            "text": "",
            "callback_url": job.callback_url,
            "attempt": 0,
            "worker": "",
            "created_at": to_utc(job.created_at),
            "updated_at": to_utc(job.updated_at),
        }
        with self._db.errors():
            await self._jobs.insert_one(doc)

    async def get(self, job_id: str) -> Job | None:
        with self._db.errors():
            doc = await self._jobs.find_one({"_id": job_id})
        if doc is None:
            return None
        expires = doc.get("expires_at")
        if expires is not None and _time(expires) <= now_utc():  # before the TTL monitor ran
            return None
        return _job(doc)

    async def claim(self, job_id: str, worker: str, now: datetime) -> Job | None:
        change = {
            "$set": {
                "status": "running",
                "worker": worker,
                "text": "",
                "position": None,
                "updated_at": to_utc(now),
            },
            "$inc": {"attempt": 1},
        }
        with self._db.errors():
            doc = await self._jobs.find_one_and_update(
                {"_id": job_id, "status": _RUNNABLE}, change, return_document=ReturnDocument.AFTER
            )
        return None if doc is None else _job(doc)

    async def progress(
        self, job_id: str, attempt: int, text: str, position: int | None, now: datetime
    ) -> bool:
        with self._db.errors():
            done = await self._jobs.update_one(
                {"_id": job_id, "attempt": attempt, "status": "running"},
                {"$set": {"text": text, "position": position, "updated_at": to_utc(now)}},
            )
        return done.matched_count == 1

    async def finish(
        self, job_id: str, attempt: int, end: JobEnd, now: datetime, expires_at: datetime
    ) -> bool:
        change = {
            "status": end.status,
            "text": end.text,
            "result": _json(end.result),
            "error": _json(end.error),
            "position": None,
            "updated_at": to_utc(now),
            "expires_at": to_utc(expires_at),
        }
        with self._db.errors():
            done = await self._jobs.update_one(
                {"_id": job_id, "attempt": attempt, "status": "running"}, {"$set": change}
            )
        return done.matched_count == 1

    async def cancel(self, job_id: str, now: datetime, expires_at: datetime) -> Job | None:
        change = {
            "$set": {
                "status": "cancelled",
                "position": None,
                "updated_at": to_utc(now),
                "expires_at": to_utc(expires_at),
            }
        }
        with self._db.errors():
            doc = await self._jobs.find_one_and_update(
                {"_id": job_id, "status": _RUNNABLE}, change, return_document=ReturnDocument.AFTER
            )
        return _job(doc) if doc is not None else await self.get(job_id)

    async def set_callback(self, job_id: str, callback: dict[str, Any]) -> None:
        with self._db.errors():
            await self._jobs.update_one(
                {"_id": job_id}, {"$set": {"callback": json.dumps(callback)}}
            )

    async def unfinished(self) -> list[Job]:
        with self._db.errors():
            docs = await self._jobs.find({"status": _RUNNABLE}).sort("created_at", 1).to_list(None)
        return [_job(doc) for doc in docs]

    async def sweep(self, now: datetime) -> int:
        """MongoDB's TTL monitor removes expired jobs (about once a minute); this removes those
        it has not reached yet."""
        with self._db.errors():
            done = await self._jobs.delete_many({"expires_at": {"$lte": to_utc(now)}})
        return done.deleted_count
