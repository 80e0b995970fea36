"""The job ports: a chat request run in the background, its record in the store, and the queue
that hands it to whichever replica has a free worker.

A job's record is the one place its state lives (status, partial text, result). Every change
a worker makes carries the job's `attempt`: a job taken over from a worker that died runs under
a new attempt, and the store refuses the old worker's writes, so a result is stored once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

JobStatus = Literal["queued", "running", "done", "failed", "cancelled"]
JobApi = Literal["ollama", "openai"]
FINISHED: frozenset[str] = frozenset({"done", "failed", "cancelled"})


@dataclass(frozen=True, slots=True)
class Job:
    """One job as stored. `request` is the chat request body as the client sent it (in the
    shape `api` names); `result` the response body in that shape once done; `error`
    `{"message", "status"}` once failed; `callback` how delivering the callback went."""

    id: str
    owner: str  # hub user id
    api: JobApi
    model: str
    request: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    status: JobStatus = "queued"
    text: str = ""
    position: int | None = None  # place in the backends' fair queue while running (None: not)
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    callback_url: str | None = None
    callback: dict[str, Any] | None = None
    attempt: int = 0
    worker: str = ""  # the replica that runs (or ran) it
    expires_at: datetime | None = None  # set once finished: the record is removed then

    @property
    def finished(self) -> bool:
        return self.status in FINISHED


@dataclass(frozen=True, slots=True)
class JobEnd:
    """How a run ended: `status` done, failed or cancelled, with the text and result/error."""

    status: JobStatus
    text: str = ""
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = field(default=None)


class JobStore(Protocol):
    """Job records, kept until `expires_at` (a MongoDB TTL index; a sweep on SQLite)."""

    async def create(self, job: Job) -> None: ...

    async def get(self, job_id: str) -> Job | None:
        """The job, or None when unknown or expired."""
        ...

    async def claim(self, job_id: str, worker: str, now: datetime) -> Job | None:
        """Mark a queued or running job running under a new attempt by `worker`; None when it
        is finished (cancelled meanwhile, or done by another worker) or unknown."""
        ...

    async def progress(
        self, job_id: str, attempt: int, text: str, position: int | None, now: datetime
    ) -> bool:
        """Store the partial text; False when the job is no longer this attempt's to write
        (cancelled, or taken over): the worker then stops."""
        ...

    async def finish(
        self, job_id: str, attempt: int, end: JobEnd, now: datetime, expires_at: datetime
    ) -> bool:
        """Store how the attempt ended, once; False when it is no longer this attempt's."""
        ...

    async def cancel(self, job_id: str, now: datetime, expires_at: datetime) -> Job | None:
        """Cancel a queued or running job; the job as it is now (None: unknown)."""
        ...

    async def set_callback(self, job_id: str, callback: dict[str, Any]) -> None: ...

    async def unfinished(self) -> list[Job]:
        """Jobs queued or running, oldest first (the embedded queue resumes them at start)."""
        ...

    async def sweep(self, now: datetime) -> int:
        """Remove jobs that expired; how many."""
        ...


@dataclass(frozen=True, slots=True)
class Delivery:
    """A job handed to this replica's worker; `claimed` when taken over from another worker."""

    job_id: str
    tag: str = ""  # the queue's own reference (a stream entry id)
    claimed: bool = False


class JobQueue(Protocol):
    """Jobs waiting for a worker, in arrival order, shared by the replicas.

    `durable`: the queue itself outlives the process (Redis); otherwise the job service
    queues again, at start, the jobs the store has as queued or running.
    """

    durable: bool

    async def enqueue(self, job_id: str) -> int:
        """Add a job; its 0-based position among the waiting ones."""
        ...

    async def position(self, job_id: str) -> int | None:
        """Its place while waiting; None once a worker took it (or it left)."""
        ...

    async def waiting(self) -> int: ...

    async def remove(self, job_id: str) -> None:
        """Take a cancelled job out of the line (a worker that gets it anyway skips it)."""
        ...

    async def take(self) -> Delivery | None:
        """The next job for this replica: one whose worker died (silent longer than the
        claim time) or the next waiting one; None after waiting a little for one."""
        ...

    async def renew(self, delivery: Delivery) -> None:
        """Say the job is still being worked on (so nobody takes it over)."""
        ...

    async def done(self, delivery: Delivery) -> None:
        """The job is finished with: it leaves the queue for good."""
        ...

    async def aclose(self) -> None: ...
