"""Calling a job's callback URL when it finishes: a signed POST, retried a bounded number of
times.

The body is the job as `GET /api/v1/jobs/{id}` shows it. Headers: `X-Chathub-Job` (the id),
`X-Chathub-Timestamp` (Unix seconds) and `X-Chathub-Signature: sha256=<hex>`, the HMAC-SHA256
of `<timestamp>.<body>` under `jobs.callback_secret`: the receiver recomputes it over the raw
body (and may refuse old timestamps, against replays). A network error, a timeout, 408, 429 or
a 5xx answer is tried again after 1, 2, 4… seconds (a `Retry-After` is honoured, up to a
minute), at most `jobs.callback_attempts` times in all; any other answer ends it. Delivery is
at least once: a replica that dies after the receiver answered but before noting it sends the
callback again, so receivers should treat the job id as idempotent.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
from typing import Any

import aiohttp

log = logging.getLogger(__name__)

JOB_HEADER = "X-Chathub-Job"
TIMESTAMP_HEADER = "X-Chathub-Timestamp"
SIGNATURE_HEADER = "X-Chathub-Signature"
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
MAX_PAUSE = 60.0


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """`sha256=<hex>` of `<timestamp>.<body>` under `secret`."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


class CallbackSender:
    """Delivers callbacks over one HTTP session (`start()` on the loop, `aclose()` at the end)."""

    def __init__(
        self, secret: str | None, *, attempts: int, timeout: float, pause: float = 1.0
    ) -> None:
        self._secret = secret
        self._attempts = attempts
        self._timeout = timeout
        self._pause = pause
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self._timeout)
            )

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def deliver(self, url: str, job_id: str, view: dict[str, Any]) -> dict[str, Any]:
        """POST `view` to `url` until it is taken or the attempts run out; what happened."""
        assert self._secret is not None, "callbacks are refused at submission without a secret"
        await self.start()
        body = json.dumps(view).encode()
        record: dict[str, Any] = {"url": url, "delivered": False, "attempts": 0}
        for attempt in range(1, self._attempts + 1):
            record["attempts"] = attempt
            status, error, wait = await self._post(url, job_id, body)
            record["status"], record["error"] = status, error
            if status is not None and 200 <= status < 300:
                record["delivered"] = True
                return record
            if status is not None and status not in RETRY_STATUSES:
                break  # the receiver refuses it: trying again would not help
            if attempt < self._attempts:
                await asyncio.sleep(min(MAX_PAUSE, wait or self._pause * 2 ** (attempt - 1)))
        log.warning(
            "job callback not delivered",
            extra={"job_id": job_id, "attempts": record["attempts"], "error": record["error"]},
        )
        return record

    async def _post(self, url: str, job_id: str, body: bytes) -> tuple[int | None, str, float]:
        """One try: (status or None, what went wrong, Retry-After seconds or 0)."""
        assert self._session is not None and self._secret is not None
        stamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            JOB_HEADER: job_id,
            TIMESTAMP_HEADER: stamp,
            SIGNATURE_HEADER: signature(self._secret, stamp, body),
        }
        try:
            async with self._session.post(url, data=body, headers=headers) as answer:
                await answer.read()
                wait = _retry_after(answer.headers.get("Retry-After"))
                error = "" if answer.status < 400 else f"HTTP {answer.status}"
                return answer.status, error, wait
        except (aiohttp.ClientError, TimeoutError) as exc:
            return None, str(exc) or type(exc).__name__, 0.0


def _retry_after(value: str | None) -> float:
    try:
        return max(0.0, float(value)) if value else 0.0
    except ValueError:
        return 0.0
