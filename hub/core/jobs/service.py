"""JobService: taking jobs in, telling where they stand, cancelling them, and running this
replica's share of them (`serve`, with the workers of `workers.py`).

A job is recorded in the store, then queued. Its position is its place in the queue while it
waits for a worker, then its place in the backends' fair queue while it waits for a model, and
none once a model is answering. Cancelling a running job tells every replica (the change feed):
the one running it stops it; a worker that took over the job stops at its next write.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any, Protocol

from hub.core.coordination.errors import CoordinationUnavailable
from hub.core.coordination.local import LocalFeed
from hub.core.jobs.callbacks import CallbackSender
from hub.core.jobs.config import JobsConfig
from hub.core.ports import ChangeFeed, Job, JobQueue, JobStore, StoreError
from hub.core.ports.jobs import JobApi, JobEnd
from hub.core.stores.common import new_id, now_utc

log = logging.getLogger(__name__)

JOBS_TOPIC = "jobs"  # payload "cancel <job id>"
SWEEP_EVERY = 60.0  # seconds between removals of expired jobs (SQLite; MongoDB's TTL index)


class JobsUnavailable(Exception):
    """The queue or the store cannot take or tell about jobs right now (a sentence)."""


class JobsBusy(JobsUnavailable):
    """The queue is full."""


class Progress:
    """What a running job has produced so far, read by the worker that writes it down."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.position: int | None = None
        self.version = 0  # bumped on every change

    @property
    def text(self) -> str:
        return "".join(self.parts)

    def add(self, delta: str) -> None:
        if delta:
            self.parts.append(delta)
            self.version += 1

    def queued(self, position: int | None) -> None:
        if position != self.position:
            self.position = position
            self.version += 1


class JobRunner(Protocol):
    """Runs one job's chat request (an edge: it knows the request's API shape)."""

    async def run(self, job: Job, progress: Progress) -> JobEnd:
        """Answer `job.request`; report text and queue positions on `progress` as they come.
        Cancelling it stops the reply (and its upstream request)."""
        ...


class JobService:
    """See the module docstring."""

    def __init__(
        self,
        store: JobStore,
        queue: JobQueue,
        config: JobsConfig,
        *,
        replica: str,
        feed: ChangeFeed | None = None,
        clock: Callable[[], datetime] = now_utc,
        sweep_every: float = SWEEP_EVERY,
    ) -> None:
        self.store = store
        self.queue = queue
        self.config = config
        self.replica = replica
        self.feed: ChangeFeed = feed if feed is not None else LocalFeed()
        self.clock = clock
        self.sweep_every = sweep_every
        secret = config.callback_secret.get_secret_value() if config.callback_secret else None
        self.callbacks = CallbackSender(
            secret, attempts=config.callback_attempts, timeout=config.callback_timeout
        )
        self.running: dict[str, asyncio.Task[JobEnd]] = {}  # job id -> its run on this replica
        self.feed.subscribe(JOBS_TOPIC, self._on_change)

    def expiry(self) -> datetime:
        return self.clock() + timedelta(seconds=self.config.result_ttl)

    # --- the API's side -------------------------------------------------------------------------

    async def submit(
        self,
        owner: str,
        api: JobApi,
        model: str,
        request: dict[str, Any],
        callback_url: str | None = None,
    ) -> tuple[Job, int]:
        """Record and queue a job; the job and its position. Raises `JobsUnavailable`."""
        now = self.clock()
        job = Job(new_id(), owner, api, model, request, now, now, callback_url=callback_url)
        async with _unavailable_as_error():
            if await self.queue.waiting() >= self.config.max_queued:
                raise JobsBusy(
                    f"The job queue is full ({self.config.max_queued} jobs waiting). "
                    "Try again later."
                )
            await self.store.create(job)
            position = await self.queue.enqueue(job.id)
        log.info("job queued", extra={"job_id": job.id, "model": model, "position": position})
        return job, position

    async def find(self, job_id: str) -> Job | None:
        async with _unavailable_as_error():
            return await self.store.get(job_id)

    async def position(self, job: Job) -> int | None:
        """Where the job stands: in the job queue, then in the backends' fair queue."""
        if job.status != "queued":
            return job.position if job.status == "running" else None
        async with _unavailable_as_error():
            return await self.queue.position(job.id)

    async def cancel(self, job_id: str) -> Job | None:
        """Cancel a queued or running job (a finished one stays as it is)."""
        async with _unavailable_as_error():
            job = await self.store.cancel(job_id, self.clock(), self.expiry())
            if job is None or job.status != "cancelled":
                return job
            await self.queue.remove(job_id)
        self._stop_here(job_id)
        await self.feed.publish(JOBS_TOPIC, f"cancel {job_id}")
        log.info("job cancelled", extra={"job_id": job_id})
        return job

    def _on_change(self, payload: str) -> None:
        kind, _, job_id = payload.partition(" ")
        if kind == "cancel":
            self._stop_here(job_id)

    def _stop_here(self, job_id: str) -> None:
        task = self.running.get(job_id)
        if task is not None:
            task.cancel()

    # --- running this replica's share -----------------------------------------------------------

    async def requeue_unfinished(self) -> None:
        """The embedded queue starts empty: queue again what the store still has running or
        waiting (this process stopped or died before finishing it)."""
        try:
            jobs = await self.store.unfinished()
        except StoreError as exc:
            log.warning("could not resume unfinished jobs", extra={"error": str(exc)})
            return
        for job in jobs:
            await self.queue.enqueue(job.id)
        if jobs:
            log.info("unfinished jobs queued again", extra={"jobs": len(jobs)})

    async def sweep(self) -> None:
        """Remove expired jobs now and every `sweep_every` seconds (runs until cancelled)."""
        while True:
            try:
                removed = await self.store.sweep(self.clock())
                if removed:
                    log.info("expired jobs removed", extra={"jobs": removed})
            except StoreError as exc:
                log.warning("could not remove expired jobs", extra={"error": str(exc)})
            await asyncio.sleep(self.sweep_every)


def job_view(job: Job, position: int | None) -> dict[str, Any]:
    """A job as clients see it (`GET /api/v1/jobs/{id}`, and the callback's body)."""
    callback = None
    if job.callback_url is not None:
        callback = {"url": job.callback_url, **(job.callback or {"delivered": False})}
    return {
        "id": job.id,
        "status": job.status,
        "position": position,
        "api": job.api,
        "model": job.model,
        "created_at": job.created_at.isoformat(),
        "updated_at": job.updated_at.isoformat(),
        "expires_at": job.expires_at.isoformat() if job.expires_at else None,
        "text": job.text,
        "result": job.result,
        "error": job.error,
        "callback": callback,
    }


@asynccontextmanager
async def _unavailable_as_error() -> AsyncIterator[None]:
    try:
        yield
    except (StoreError, CoordinationUnavailable) as exc:
        log.warning("jobs unavailable", extra={"error": str(exc)})
        raise JobsUnavailable(
            "Jobs cannot be taken or looked up right now (the queue or the store is not "
            "answering). Try again in a moment."
        ) from exc
