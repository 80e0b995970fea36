"""The workers that run this replica's share of the jobs.

A free worker takes the next job from the queue (or one whose worker went silent), claims it in
the store under a new attempt, and runs it. Beside the run, a keeper writes the partial text
down every `progress_every` seconds and tells the queue the job is alive every third of
`claim_after`. The store refuses the writes of an attempt that is no longer current (the job
was cancelled, or taken over while this replica could not be heard): the run then stops. A
result is stored once, the callback (if any) is called, and only then does the job leave the
queue, so a replica that dies at any point leaves the job to be taken over.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from hub.core.coordination.errors import CoordinationUnavailable
from hub.core.jobs.service import JobRunner, JobService, Progress, job_view
from hub.core.ports import Delivery, Job, JobEnd, StoreError

log = logging.getLogger(__name__)

IDLE_PAUSE = 1.0  # seconds a worker waits after the queue or store failed


class JobWorkers:
    """`run(n)` is one worker's loop; several share this object."""

    def __init__(self, service: JobService, runner: JobRunner) -> None:
        self.service = service
        self.runner = runner
        self.stopping = False  # set at shutdown: finish the job in hand, take no other

    async def run(self, number: int) -> None:
        while not self.stopping:
            try:
                delivery = await self.service.queue.take()
                if delivery is not None:
                    await self._serve(delivery)
            except (CoordinationUnavailable, StoreError) as exc:
                log.warning("job worker waiting for the queue or store", extra={"error": str(exc)})
                await asyncio.sleep(IDLE_PAUSE)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("job worker failed; going on", extra={"worker": number})
                await asyncio.sleep(IDLE_PAUSE)

    async def _serve(self, delivery: Delivery) -> None:
        service = self.service
        job = await service.store.claim(delivery.job_id, service.replica, service.clock())
        if job is None:  # cancelled, expired, or finished by the worker we took over from
            await self._settle_finished(delivery)
            return
        log.info(
            "job running",
            extra={"job_id": job.id, "attempt": job.attempt, "taken_over": delivery.claimed},
        )
        end = await self._run(job, delivery)
        if end is None:
            await self._settle_unfinished(job, delivery)
            return
        stored = await service.store.finish(
            job.id, job.attempt, end, service.clock(), service.expiry()
        )
        if stored:
            log.info("job finished", extra={"job_id": job.id, "status": end.status})
            await self._call_back(job.id)
            await service.queue.done(delivery)
        else:
            await self._settle_unfinished(job, delivery)

    async def _run(self, job: Job, delivery: Delivery) -> JobEnd | None:
        """Run the job with its keeper beside it; None when it was stopped (cancelled, taken
        over). A shutdown of this replica cancels it and leaves it for takeover."""
        progress = Progress()
        run = asyncio.ensure_future(self.runner.run(job, progress))
        self.service.running[job.id] = run
        keeper = asyncio.ensure_future(self._keep(job, delivery, progress, run))
        try:
            return await run
        except asyncio.CancelledError:
            me = asyncio.current_task()
            if me is not None and me.cancelling():
                raise  # this worker is being stopped (the replica shuts down): leave the job
            return None  # the run was stopped: cancelled, or taken over
        finally:
            self.service.running.pop(job.id, None)
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await keeper

    async def _keep(
        self, job: Job, delivery: Delivery, progress: Progress, run: asyncio.Future[JobEnd]
    ) -> None:
        """Write progress down and keep the delivery alive; stop `run` when the store says
        the job is no longer this attempt's."""
        config = self.service.config
        beat = min(config.progress_every, config.claim_after / 3)
        loop = asyncio.get_running_loop()
        next_renew = loop.time() + config.claim_after / 3
        written = 0
        while not run.done():
            await asyncio.sleep(beat)
            try:
                if loop.time() >= next_renew:
                    await self.service.queue.renew(delivery)
                    next_renew = loop.time() + config.claim_after / 3
                if progress.version != written:
                    written = progress.version
                    ours = await self.service.store.progress(
                        job.id, job.attempt, progress.text, progress.position, self.service.clock()
                    )
                    if not ours:
                        log.info("job stopped: cancelled or taken over", extra={"job_id": job.id})
                        run.cancel()
                        return
            except (CoordinationUnavailable, StoreError) as exc:
                log.warning("could not note a job's progress", extra={"error": str(exc)})

    async def _settle_unfinished(self, job: Job, delivery: Delivery) -> None:
        """The run stopped without storing an end: finish with the queue if the job was
        cancelled; if another replica took it over, the delivery is theirs now."""
        current = await self.service.store.get(job.id)
        if current is None or current.status == "cancelled" or current.attempt == job.attempt:
            if current is not None and current.status == "running":
                # Our attempt, stopped without an end (a cancel message raced the store):
                # record it as cancelled so it does not wait forever.
                end = JobEnd("cancelled", current.text)
                await self.service.store.finish(
                    job.id, job.attempt, end, self.service.clock(), self.service.expiry()
                )
            await self._call_back(job.id)
            await self.service.queue.done(delivery)

    async def _settle_finished(self, delivery: Delivery) -> None:
        """A job we were handed that needs no run: deliver a callback still owed, then let it go."""
        await self._call_back(delivery.job_id)
        await self.service.queue.done(delivery)

    async def _call_back(self, job_id: str) -> None:
        job = await self.service.store.get(job_id)
        if job is None or job.callback_url is None or not job.finished:
            return
        if job.callback is not None and job.callback.get("delivered"):
            return
        record = await self.service.callbacks.deliver(job.callback_url, job.id, job_view(job, None))
        await self.service.store.set_callback(job.id, record)


@asynccontextmanager
async def serve_jobs(
    service: JobService, runner: JobRunner, grace: float = 10.0
) -> AsyncIterator[None]:
    """Run `config.workers` workers (and the sweep of expired jobs) until the block ends;
    then jobs running get `grace` seconds to finish, and the rest are left for another replica
    (or the next start) to take over."""
    workers = JobWorkers(service, runner)
    await service.callbacks.start()
    if not service.queue.durable:
        await service.requeue_unfinished()
    tasks = [
        asyncio.create_task(workers.run(n), name=f"job-worker-{n}")
        for n in range(service.config.workers)
    ]
    sweeper = asyncio.create_task(service.sweep(), name="job-sweeper")
    try:
        yield
    finally:
        workers.stopping = True
        if tasks and grace > 0:
            await asyncio.wait(tasks, timeout=grace)
        for task in [*tasks, sweeper]:
            task.cancel()
        for task in [*tasks, sweeper]:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await service.queue.aclose()
        await service.callbacks.aclose()
