"""The `jobs:` section (env `HUB_JOBS__*`)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr


class JobsConfig(BaseModel):
    """How this hub runs jobs (`POST /api/v1/jobs`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Jobs one replica runs at once (each then waits in the backends' fair queue like any
    # request); 0: this replica accepts jobs but leaves running them to the others.
    workers: int = Field(default=4, ge=0, le=256)
    # Seconds a finished job (its result, or why it failed) is kept.
    result_ttl: float = Field(default=24 * 3600, gt=0)
    # Seconds a job's worker may be silent before another replica takes the job over (the
    # worker says it is alive every third of this).
    claim_after: float = Field(default=30.0, ge=1.0, le=3600.0)
    # Jobs waiting for a worker at most; more are refused (503) until some are done.
    max_queued: int = Field(default=10_000, ge=1)
    # Seconds between writes of a running job's partial text.
    progress_every: float = Field(default=1.0, gt=0)
    # Callbacks are signed with this (X-Chathub-Signature); a job with a callback_url is
    # refused while it is unset.
    callback_secret: SecretStr | None = None
    callback_attempts: int = Field(default=5, ge=1, le=20)
    callback_timeout: float = Field(default=10.0, gt=0)
    # Hosts callbacks may go to (exact names); empty: any.
    callback_hosts: list[str] = Field(default_factory=list)
