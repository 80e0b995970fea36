"""Running a job's chat request through `ChatService`, in the API shape it was sent in.

The request is read exactly as `/ollama/api/chat` or `/ollama/v1/chat/completions` reads it
(the same message conversion, options and passthrough fields), and the result is the body
those routes answer with `stream: false`. The limits were charged at submission, so the reply
is marked admitted: it waits in the backends' fair queue rather than being refused, and its
token usage still counts.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from typing import Any

import msgspec

from hub.api.errors import FAILED_STATUS
from hub.api.incoming import http_message
from hub.api.ollama import _to_chat_message as ollama_message
from hub.api.ollama_shapes import ChunkEncoder, OllamaChatRequest, merge_extra
from hub.api.openai_shapes import OpenAIChatRequest, SseEncoder, to_chat_message, to_format
from hub.api.openai_shapes import to_options as openai_options
from hub.core.jobs.service import Progress
from hub.core.models import (
    Done,
    Extra,
    Failed,
    IncomingMessage,
    Notice,
    Queued,
    Started,
    Text,
    User,
)
from hub.core.ports import Job
from hub.core.ports.jobs import JobApi, JobEnd
from hub.runtime import Services

log = logging.getLogger(__name__)

JobRequest = OllamaChatRequest | OpenAIChatRequest


def parse_request(api: JobApi, body: Mapping[str, Any]) -> JobRequest:
    """The chat request in its API's shape; raises `msgspec.ValidationError` saying what is
    wrong."""
    shape: type[JobRequest] = OllamaChatRequest if api == "ollama" else OpenAIChatRequest
    return msgspec.convert(dict(body), shape)


def to_message(user: User, model: str, request: JobRequest) -> IncomingMessage:
    """The request as the pipeline takes it (as its route would build it), admitted."""
    if isinstance(request, OllamaChatRequest):
        msg = http_message(
            user,
            model,
            [ollama_message(m) for m in request.messages],
            options=request.options,
            passthrough={
                "format": request.format,
                "keep_alive": request.keep_alive,
                "think": request.think,
                "tools": request.tools,
            },
        )
    else:
        think: Any = request.reasoning_effort
        msg = http_message(
            user,
            model,
            [to_chat_message(m) for m in request.messages],
            options=openai_options(request),
            passthrough={
                "format": to_format(request.response_format),
                "tools": request.tools,
                "think": think,
            },
        )
    return dataclasses.replace(msg, admitted=True)


class Outcome:
    """The events of one reply, gathered."""

    def __init__(self) -> None:
        self.extras: list[Mapping[str, Any]] = []
        self.notices: list[str] = []
        self.done: Done | None = None
        self.failed: Failed | None = None
        self.started = False


class HttpJobRunner:
    """`JobRunner` over the running hub's `ChatService`."""

    def __init__(self, services: Services) -> None:
        self._services = services

    async def run(self, job: Job, progress: Progress) -> JobEnd:
        user = await self._services.stores.users.get(job.owner)
        if user is None or user.disabled:
            return _failed("The account that submitted this job is gone or disabled.", 403)
        try:
            request = parse_request(job.api, job.request)
        except msgspec.ValidationError as exc:  # checked at submission; a newer hub's shape?
            return _failed(f"The job's request is not valid: {exc}", 400)
        channel = self._services.chat.start(to_message(user, job.model, request))
        outcome = Outcome()
        try:
            while (event := await channel.get()) is not None:
                _take(event, outcome, progress)
        finally:
            await channel.aclose()
        return _end(request, outcome, progress)


def _take(event: Any, outcome: Outcome, progress: Progress) -> None:
    if isinstance(event, Queued):
        progress.queued(event.position)
    elif isinstance(event, Started):
        outcome.started = True
        progress.queued(None)
    elif isinstance(event, Text):
        progress.add(event.delta)
    elif isinstance(event, Extra):
        outcome.extras.append(event.data)
    elif isinstance(event, Notice):
        if not outcome.started:  # a command's own answer, as the routes return it
            outcome.notices.append(event.text)
        else:
            log.info("notice not shown to a job", extra={"notice": event.text})
    elif isinstance(event, Done):
        outcome.done = event
    elif isinstance(event, Failed):
        outcome.failed = event


def _end(request: JobRequest, outcome: Outcome, progress: Progress) -> JobEnd:
    text = progress.text
    if outcome.failed is not None or outcome.done is None:
        failed = outcome.failed or Failed("The reply ended before it was complete.")
        return _failed(failed.reason, FAILED_STATUS.get(failed.code or "", 502), text)
    done = outcome.done
    text = text or done.text or "".join(outcome.notices)
    if isinstance(request, OllamaChatRequest):
        extra: dict[str, Any] = {}
        for data in outcome.extras:
            merge_extra(extra, data)
        result = ChunkEncoder(request.model, "chat").final(done, text, extra)
    else:
        result = SseEncoder(request.model).completion(text, outcome.extras, done.metrics)
    return JobEnd("done", text, dict(result))


def _failed(message: str, status: int, text: str = "") -> JobEnd:
    return JobEnd("failed", text, error={"message": message, "status": status})
