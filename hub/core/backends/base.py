"""What every HTTP model backend shares: one httpx client, the three timeouts, line streaming
and the mapping of transport and HTTP failures to `BackendError`s a user can act on.

httpx rather than the `ollama`/`openai` SDKs: the SDKs have one read timeout, but a model needs
two (a long wait for the first token while it loads, a short one between tokens), and their
errors do not say whether anything was streamed yet, which failover depends on.
"""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import socket
import ssl
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from hub.core.backends.watchdog import ReadTimeout, ReadWatchdog
from hub.core.ports import BackendError

log = logging.getLogger(__name__)

DEFAULT_REQUEST_TIMEOUT = 30.0  # list, show, probe: small JSON answers
_ERROR_TEXT_LIMIT = 300


def seconds(value: float) -> str:
    """`120 s`, `0.5 s`: durations in user-facing messages."""
    return f"{value:g} s"


def redact_url(url: str) -> str:
    """The URL without user:password, for messages and logs."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url.rstrip("/")
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit(parts._replace(netloc=netloc)).rstrip("/")


def connect_failure(exc: BaseException) -> str:
    """Why a connection failed, in words ("connection refused", "unknown host")."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, socket.gaierror):
            return "unknown host"
        if isinstance(seen, OSError) and seen.errno == errno.ECONNREFUSED:
            return "connection refused"
        if isinstance(seen, OSError) and seen.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
            return "host unreachable"
        seen = seen.__cause__ or seen.__context__
    return str(exc) or type(exc).__name__


def error_text(body: bytes) -> str:
    """The message inside an error body: Ollama `{"error": "…"}`, OpenAI `{"error": {"message"}}`,
    FastAPI `{"detail": …}`, or the raw text, shortened."""
    try:
        data: Any = json.loads(body)
    except ValueError:
        data = None
    if isinstance(data, dict):
        for key in ("error", "detail", "message"):
            value = data.get(key)
            if isinstance(value, dict):
                value = value.get("message", value)
            if value:
                text = value if isinstance(value, str) else json.dumps(value)
                return text[:_ERROR_TEXT_LIMIT]
    return body.decode("utf-8", "replace").strip()[:_ERROR_TEXT_LIMIT]


async def split_lines(chunks: AsyncIterator[bytes]) -> AsyncGenerator[bytes, None]:
    """Complete lines (without the newline) from network chunks that may cut lines anywhere.

    Splitting bytes on b"\\n" is safe for UTF-8: that byte never occurs inside a multi-byte
    character, so a character cut between two chunks is rejoined before anyone decodes it.
    """
    pending = b""
    async for chunk in chunks:
        pending += chunk
        if b"\n" not in chunk:
            continue
        *lines, pending = pending.split(b"\n")
        for line in lines:
            yield line.rstrip(b"\r")
    if pending:
        yield pending.rstrip(b"\r")


def _tls_context(url: str) -> ssl.SSLContext | bool:
    """Verify TLS as usual, but skip loading the CA bundle (about 0.2 s of CPU per client)
    for plain-HTTP URLs, the common local Ollama case: that context never sees a handshake,
    and if it ever did, verification would fail closed for lack of CAs."""
    if urlsplit(url).scheme == "http":
        return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    return True


class HttpBackend:
    """Base of the Ollama and OpenAI-compatible backends.

    Timeouts: `connect_timeout` to open the TCP connection; `first_token_timeout` from sending the
    request to the first streamed line (covers model loading); `chunk_timeout` between lines;
    `request_timeout` for the small non-streaming calls. `client` lets a caller bring its own
    httpx client (an in-process transport, say); its `base_url` must already be the server URL.
    """

    kind = "http"
    label = "The model server"  # how messages name the server kind: "Ollama is not reachable…"

    def __init__(
        self,
        name: str,
        url: str,
        *,
        api_key: str | None = None,
        connect_timeout: float = 5.0,
        first_token_timeout: float = 120.0,
        chunk_timeout: float = 60.0,
        request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.name = name
        self.url = redact_url(url)
        self.connect_timeout = connect_timeout
        self.first_token_timeout = first_token_timeout
        self.chunk_timeout = chunk_timeout
        self.request_timeout = request_timeout
        headers = {"User-Agent": "chathub"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self._owns_client = client is None
        self._client = client or httpx.AsyncClient(
            base_url=url,
            headers=headers,
            verify=_tls_context(url),
            # Reads are timed per phase by `stream_lines`; httpx only bounds connect and write.
            timeout=httpx.Timeout(connect=connect_timeout, read=None, write=60.0, pool=None),
            # The router bounds concurrency per backend; the pool must not queue on top of it.
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=64),
        )
        if client is not None:
            client.headers.update(headers)

    def __repr__(self) -> str:  # never shows the api key
        return f"{type(self).__name__}(name={self.name!r}, url={self.url!r})"

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()

    # --- error mapping ---------------------------------------------------------------------------

    def not_found(self, model: str) -> BackendError:
        return BackendError(
            f"Model '{model}' is not available on {self.name}.", kind="not_found", status=404
        )

    def status_error(self, status: int, text: str, model: str | None) -> BackendError:
        """A non-2xx answer received before any streamed byte."""
        detail = f": {text}" if text else ""
        if status == 404 and model is not None:
            return self.not_found(model)
        if status in (401, 403):
            reason = f"{self.name} refused the request (HTTP {status}){detail}. Check its API key."
            return BackendError(reason, kind="http", status=status)
        if status in (429, 503):
            reason = f"{self.name} is busy (HTTP {status}{detail}). Try again in a moment."
            return BackendError(reason, kind="busy", status=status)
        if status < 500:
            reason = f"{self.name} rejected the request (HTTP {status}){detail}."
            return BackendError(reason, kind="http", status=status)
        reason = f"{self.name} failed with HTTP {status}{detail}."
        return BackendError(reason, kind="http", status=status)

    def transport_error(self, exc: httpx.HTTPError, *, started: bool) -> BackendError:
        """A network failure; `started` says whether any line of the reply had arrived."""
        if isinstance(exc, httpx.ConnectTimeout):
            why = f"no answer within {seconds(self.connect_timeout)}"
            return BackendError(
                f"{self.label} is not reachable at {self.url} ({why}).", kind="connect"
            )
        if isinstance(exc, httpx.ConnectError):
            why = connect_failure(exc)
            return BackendError(
                f"{self.label} is not reachable at {self.url} ({why}).", kind="connect"
            )
        if started:
            return BackendError(f"The connection to {self.name} dropped mid-reply.", kind="stream")
        if isinstance(exc, httpx.TransportError):
            reason = f"The connection to {self.name} dropped before it answered."
            return BackendError(reason, kind="connect")
        return BackendError(f"{self.name} sent a malformed answer ({exc}).", kind="protocol")

    def first_token_timeout_error(self) -> BackendError:
        reason = f"The model did not start answering within {seconds(self.first_token_timeout)}."
        return BackendError(reason, kind="timeout")

    def chunk_timeout_error(self) -> BackendError:
        reason = (
            f"The model stopped sending for {seconds(self.chunk_timeout)}; the reply was cut short."
        )
        return BackendError(reason, kind="timeout")

    # --- requests --------------------------------------------------------------------------------

    async def request_json(
        self, method: str, path: str, body: Mapping[str, Any] | None = None
    ) -> tuple[int, Any]:
        """A small JSON call. Returns (status, parsed body); raises for transport and 5xx."""
        try:
            async with asyncio.timeout(self.request_timeout):
                response = await self._client.request(method, path, json=body)
        except TimeoutError:
            reason = f"{self.name} did not answer within {seconds(self.request_timeout)}."
            raise BackendError(reason, kind="timeout") from None
        except httpx.HTTPError as exc:
            raise self.transport_error(exc, started=False) from None
        if response.status_code >= 400:
            if response.status_code == 404:
                return 404, None
            raise self.status_error(response.status_code, error_text(response.content), None)
        try:
            return response.status_code, response.json()
        except ValueError:
            reason = f"{self.name} sent an answer that is not JSON (GET {path})."
            raise BackendError(reason, kind="protocol") from None

    async def _error_body(self, response: httpx.Response) -> str:
        try:
            async with asyncio.timeout(self.request_timeout):
                return error_text(await response.aread())
        except (TimeoutError, httpx.HTTPError):
            return ""

    async def stream_lines(
        self, path: str, body: Mapping[str, Any], model: str, *, keep_blank: bool = False
    ) -> AsyncGenerator[bytes, None]:
        """POST `body` and yield the reply's lines, with the first-token and chunk timeouts.

        Closing this iterator (or cancelling its consumer) closes the HTTP response, so the
        server sees the connection go away and stops generating.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.first_token_timeout
        request = self._client.build_request("POST", path, json=body)
        try:
            async with asyncio.timeout_at(deadline):
                response = await self._client.send(request, stream=True)
        except TimeoutError:
            raise self.first_token_timeout_error() from None
        except httpx.HTTPError as exc:
            raise self.transport_error(exc, started=False) from None
        # aiter_raw skips httpx's decoder layers when there is nothing to decode.
        encoded = response.headers.get("content-encoding", "identity") != "identity"
        lines = split_lines(response.aiter_bytes() if encoded else response.aiter_raw())
        watchdog = ReadWatchdog()
        try:
            if response.status_code >= 400:
                text = await self._error_body(response)
                raise self.status_error(response.status_code, text, model)
            started = False
            while True:
                when = loop.time() + self.chunk_timeout if started else deadline
                try:
                    line = await watchdog.read(anext(lines, None), when)
                except ReadTimeout:
                    error = (
                        self.chunk_timeout_error() if started else self.first_token_timeout_error()
                    )
                    raise error from None
                except httpx.HTTPError as exc:
                    raise self.transport_error(exc, started=started) from None
                if line is None:
                    return
                if line.strip():
                    started = True
                    yield line
                elif keep_blank:  # SSE: a blank line ends an event
                    yield b""
        finally:
            watchdog.close()
            await lines.aclose()
            await response.aclose()
