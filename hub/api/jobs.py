"""`/api/v1/jobs`: start a chat request, come back for the result (docs/jobs.md).

For clients that cannot hold a stream open: `POST` answers 202 at once with the job's id and
its place in the queue; `GET /api/v1/jobs/{id}` tells its status, position, the text so far and
then the result; `DELETE` cancels it; a `callback_url` is called (signed) when it finishes.
Limits are charged at submission. Authentication as on `/ollama`: a user token or an API key;
a job is visible to whoever submitted it and to admins. Errors are `{"detail": "…"}`.
"""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import urlsplit

import msgspec
from litestar import Request, Response, Router, delete, get, post
from litestar.di import NamedDependency, Provide
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, JSONBody

from hub.api.auth import ollama_user, services_of
from hub.api.catalog import catalog_of
from hub.api.errors import ApiError, exception_handlers
from hub.api.job_runner import parse_request
from hub.core.jobs.service import JobService, JobsUnavailable, job_view
from hub.core.limits.gate import rate_limit_headers
from hub.core.models import User
from hub.core.ports import Job

RETRY_SECONDS = "5"


class JobSubmission(msgspec.Struct, kw_only=True):
    """A job: `request` is a chat request body in the shape `api` names (`/ollama/api/chat`'s
    for "ollama", `/ollama/v1/chat/completions`' for "openai"); `stream` is ignored."""

    request: dict[str, Any]
    api: Literal["ollama", "openai"] = "ollama"
    callback_url: str | None = None


class JobAccepted(msgspec.Struct, kw_only=True):
    id: str
    status: str
    position: int
    url: str


class JobCallback(msgspec.Struct, kw_only=True):
    url: str
    delivered: bool
    attempts: int = 0
    status: int | None = None
    error: str = ""


class JobView(msgspec.Struct, kw_only=True):
    """A job: `position` while it waits (for a worker, then for a model), `text` as far as
    it got, `result` (the chat response in the job's API shape) once done, `error`
    (`{"message", "status"}`) once failed."""

    id: str
    status: Literal["queued", "running", "done", "failed", "cancelled"]
    position: int | None
    api: str
    model: str
    created_at: str
    updated_at: str
    expires_at: str | None
    text: str
    result: dict[str, Any] | None
    error: dict[str, Any] | None
    callback: JobCallback | None


class ErrorDetail(msgspec.Struct):
    detail: str


def _errors(*statuses: int) -> dict[int, ResponseSpec]:
    said = {
        400: "The job or its request is not valid (the detail says which field).",
        401: "No valid token or API key.",
        403: "The account is pending or disabled.",
        404: "No such job for this caller, or (at submission) no such model.",
        409: "The job has already finished.",
        429: "A limit refused the job (Retry-After, RateLimit-* headers).",
        503: "The queue is full, or the queue or the store is not answering (Retry-After).",
    }
    return {s: ResponseSpec(ErrorDetail, description=said[s]) for s in statuses}


def _jobs(request: Request[Any, Any, Any]) -> JobService:
    jobs = services_of(request).jobs
    if jobs is None:
        raise ApiError(503, "Jobs are not available on this hub.")
    assert isinstance(jobs, JobService)
    return jobs


async def _view(jobs: JobService, job: Job) -> JobView:
    try:
        position = await jobs.position(job)
    except JobsUnavailable:
        position = None
    return msgspec.convert(job_view(job, position), JobView)


def _check_callback(jobs: JobService, url: str) -> None:
    if jobs.config.callback_secret is None:
        raise ApiError(
            400,
            "callback_url needs HUB_JOBS__CALLBACK_SECRET set on the hub: callbacks are signed "
            "with it. Poll GET /api/v1/jobs/{id} instead, or ask the administrator.",
        )
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ApiError(400, "callback_url must be an http:// or https:// URL.")
    allowed = jobs.config.callback_hosts
    if allowed and parts.hostname not in allowed:
        raise ApiError(400, f"callback_url may only call {', '.join(allowed)}.")


@post(
    "/",
    status_code=202,
    responses=_errors(400, 401, 403, 404, 429, 503),
    summary="Start a job",
)
async def submit_job(
    request: Request[Any, Any, Any], data: JSONBody[JobSubmission], caller: NamedDependency[User]
) -> Response[JobAccepted]:
    """Queue a chat request; 202 with its id and queue position (Location: the job's URL)."""
    jobs = _jobs(request)
    try:
        chat = parse_request(data.api, data.request)
    except msgspec.ValidationError as exc:
        raise ApiError(400, f"request: {exc}") from None
    if not chat.messages:
        raise ApiError(400, "request.messages: give at least one message.")
    if data.callback_url is not None:
        _check_callback(jobs, data.callback_url)
    model = await catalog_of(request).resolve(chat.model)
    limits = services_of(request).limits
    admission = await limits.admit(caller, "http", caller.id, model)
    if not admission.allowed:
        status = 503 if admission.code == "limiter_unavailable" else 429
        raise ApiError(status, admission.message, headers=rate_limit_headers(admission))
    await limits.release(caller, admission)  # a job's reply waits in the fair queue instead
    try:
        job, position = await jobs.submit(
            caller.id, data.api, model, data.request, data.callback_url
        )
    except JobsUnavailable as exc:
        raise ApiError(503, str(exc), headers={"Retry-After": RETRY_SECONDS}) from None
    url = f"/api/v1/jobs/{job.id}"
    accepted = JobAccepted(id=job.id, status=job.status, position=position, url=url)
    return Response(accepted, status_code=202, headers={"Location": url})


async def _owned(request: Request[Any, Any, Any], job_id: str, caller: User) -> Job:
    try:
        job = await _jobs(request).find(job_id)
    except JobsUnavailable as exc:
        raise ApiError(503, str(exc), headers={"Retry-After": RETRY_SECONDS}) from None
    if job is None or (job.owner != caller.id and caller.role != "admin"):
        raise ApiError(404, "No such job (it may have expired).")
    return job


@get("/{job_id:str}", responses=_errors(401, 403, 404, 503), summary="A job's status")
async def get_job(
    request: Request[Any, Any, Any], job_id: FromPath[str], caller: NamedDependency[User]
) -> JobView:
    """The job's status, position, text so far, and result or error."""
    job = await _owned(request, job_id, caller)
    return await _view(_jobs(request), job)


@delete(
    "/{job_id:str}", status_code=200, responses=_errors(401, 403, 404, 409, 503), summary="Cancel"
)
async def cancel_job(
    request: Request[Any, Any, Any], job_id: FromPath[str], caller: NamedDependency[User]
) -> JobView:
    """Cancel a queued or running job (a running reply stops where it is, its text kept)."""
    job = await _owned(request, job_id, caller)
    if job.finished:
        raise ApiError(409, f"This job has already finished ({job.status}).")
    jobs = _jobs(request)
    try:
        cancelled = await jobs.cancel(job_id)
    except JobsUnavailable as exc:
        raise ApiError(503, str(exc), headers={"Retry-After": RETRY_SECONDS}) from None
    if cancelled is None:
        raise ApiError(404, "No such job (it may have expired).")
    if cancelled.status != "cancelled":
        raise ApiError(409, f"This job has already finished ({cancelled.status}).")
    return await _view(jobs, cancelled)


def jobs_router() -> Router:
    """`/api/v1/jobs`; a user token or an API key is required."""
    return Router(
        path="/api/v1/jobs",
        route_handlers=[submit_job, get_job, cancel_job],
        dependencies={"caller": Provide(ollama_user)},
        exception_handlers=exception_handlers(),
        tags=["jobs"],
    )
