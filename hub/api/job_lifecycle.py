"""Running this replica's job workers for as long as the app runs (its lifespan)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from hub.api.job_runner import HttpJobRunner
from hub.core.jobs.service import JobService
from hub.core.jobs.workers import serve_jobs
from hub.runtime import Services


@asynccontextmanager
async def run_jobs(services: Services) -> AsyncIterator[None]:
    """Serve jobs with `jobs.workers` workers; at shutdown running ones get the chat's
    shutdown grace to finish, the rest are taken over by another replica (or the next start)."""
    jobs = services.jobs
    if not isinstance(jobs, JobService) or jobs.config.workers == 0:
        yield
        return
    grace = services.settings.chat.shutdown_grace
    async with serve_jobs(jobs, HttpJobRunner(services), grace):
        yield
