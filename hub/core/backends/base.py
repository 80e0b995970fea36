"""What every HTTP model backend shares: one aiohttp session, the three timeouts, line streaming
and the mapping of transport and HTTP failures to `BackendError`s a user can act on.

Plain HTTP rather than the `ollama`/`openai` SDKs: the SDKs have one read timeout, but a model
needs two (a long wait for the first token while it loads, a short one between tokens), and their
errors do not say whether anything was streamed yet, which failover depends on. aiohttp rather
than httpx: its C parser and buffered reads cost a fraction of httpx/h11's per streamed chunk,
and streaming is the hub's hot path (benchmarks/RESULTS.md, "Relay").
"""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import socket
from collections.abc import AsyncGenerator, Mapping
from typing import Any
from urllib.parse import urlsplit
from urllib.request import getproxies, proxy_bypass

import aiohttp
import msgspec
from aiohttp import ClientResponse

from hub.core.backends.overflow import error_object, overflow_in
from hub.core.backends.watchdog import ReadTimeout, ReadWatchdog
from hub.core.ports import BackendError
from hub.core.urls import without_credentials

log = logging.getLogger(__name__)

DEFAULT_REQUEST_TIMEOUT = 30.0  # list, show, probe: small JSON answers
KEEPALIVE_SECONDS = 4.0
_ERROR_TEXT_LIMIT = 300


def seconds(value: float) -> str:
    """`120 s`, `0.5 s`: durations in user-facing messages."""
    return f"{value:g} s"


def decode_object(data: bytes | str, source: str, what: str) -> dict[str, Any]:
    """One streamed JSON object (an NDJSON line, an SSE event), or BackendError(kind=protocol).

    msgspec decodes in about a third of json.loads' time, which matters once per token.
    """
    try:
        chunk = msgspec.json.decode(data)
    except ValueError:  # msgspec.DecodeError is one
        reason = f"{source} sent a {what} that is not JSON: {data[:80]!r}"
        raise BackendError(reason, kind="protocol") from None
    if not isinstance(chunk, dict):
        raise BackendError(f"{source} sent an unexpected {what}: {data[:80]!r}", kind="protocol")
    return chunk


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


def parse_body(body: bytes) -> Any:
    """An error body as JSON, or None when it is not JSON."""
    try:
        return json.loads(body)
    except ValueError:
        return None


def error_text(body: bytes) -> str:
    """The message inside an error body: Ollama `{"error": "…"}`, OpenAI `{"error": {"message"}}`,
    FastAPI `{"detail": …}`, or the raw text, shortened."""
    data = parse_body(body)
    if isinstance(data, dict):
        for key in ("error", "detail", "message"):
            value = data.get(key)
            if isinstance(value, dict):
                value = value.get("message", value)
            if value:
                text = value if isinstance(value, str) else json.dumps(value)
                return text[:_ERROR_TEXT_LIMIT]
    return body.decode("utf-8", "replace").strip()[:_ERROR_TEXT_LIMIT]


def env_proxy(url: str) -> str | None:
    """The proxy HTTP(S)_PROXY / NO_PROXY give for `url`, read once per backend as httpx did.

    Not aiohttp's `trust_env`: that looks the proxy up again on every request, in a thread.
    """
    parts = urlsplit(url)
    if not parts.hostname or proxy_bypass(parts.hostname):
        return None
    return getproxies().get(parts.scheme)


_JSON_BODY = {"Content-Type": "application/json"}


class LineSplitter:
    """Complete lines (without the newline) from network chunks that may cut lines anywhere.

    Splitting bytes on b"\\n" is safe for UTF-8: that byte never occurs inside a multi-byte
    character, so a character cut between two chunks is rejoined before anyone decodes it.
    """

    def __init__(self) -> None:
        self._pending = b""

    def feed(self, chunk: bytes) -> list[bytes]:
        """The lines `chunk` completes; an unfinished last line waits for the next chunk."""
        if b"\n" not in chunk:
            self._pending += chunk
            return []
        *lines, rest = (self._pending + chunk).split(b"\n")
        self._pending = rest
        return [line.rstrip(b"\r") for line in lines]

    def end(self) -> list[bytes]:
        """The last line when the stream ended without a newline."""
        rest, self._pending = self._pending, b""
        return [rest.rstrip(b"\r")] if rest else []


class HttpBackend:
    """Base of the Ollama and OpenAI-compatible backends.

    Timeouts: `connect_timeout` to open the TCP connection; `first_token_timeout` from sending the
    request to the first streamed line (covers model loading); `chunk_timeout` between network
    reads once the reply has started; `request_timeout` for the small non-streaming calls.
    One aiohttp session (a connection pool) per backend, opened on first use on the running loop
    and closed by `aclose()`.
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
    ) -> None:
        self.name = name
        self.url = without_credentials(url)
        self.connect_timeout = connect_timeout
        self.first_token_timeout = first_token_timeout
        self.chunk_timeout = chunk_timeout
        self.request_timeout = request_timeout
        self._base = url.rstrip("/")  # may carry user:password, which aiohttp sends as Basic auth
        self._headers = {"User-Agent": "chathub"}
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"
        self._session: aiohttp.ClientSession | None = None
        self.streaming = 0  # replies being streamed from this server right now

    def __repr__(self) -> str:  # never shows the api key
        return f"{type(self).__name__}(name={self.name!r}, url={self.url!r})"

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                headers=self._headers,
                # Reads are timed per phase by `stream_lines`; aiohttp only bounds the connect.
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=self.connect_timeout),
                # The router bounds concurrency per backend; the pool must not queue on top of it.
                # Idle connections are let go before uvicorn's 5 s keep-alive closes them from
                # the server's side (llama-cpp-python, vLLM), which would race a new request.
                connector=aiohttp.TCPConnector(
                    limit=0, limit_per_host=0, keepalive_timeout=KEEPALIVE_SECONDS
                ),
                proxy=env_proxy(self._base),
            )
        return self._session

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    # --- error mapping ---------------------------------------------------------------------------

    def answer_error(self, status: int, body: bytes, model: str | None) -> BackendError:
        """A non-2xx answer: a context overflow when the server says so, else by status."""
        text = error_text(body)
        overflow = overflow_in(text, error_object(parse_body(body)))
        if overflow is not None:
            return overflow
        return self.status_error(status, text, model)

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

    def transport_error(self, exc: aiohttp.ClientError, *, started: bool) -> BackendError:
        """A network failure; `started` says whether any line of the reply had arrived."""
        if isinstance(exc, aiohttp.ConnectionTimeoutError):
            why = f"no answer within {seconds(self.connect_timeout)}"
            return BackendError(
                f"{self.label} is not reachable at {self.url} ({why}).", kind="connect"
            )
        if isinstance(exc, aiohttp.ClientConnectorError):
            why = connect_failure(exc.os_error)
            return BackendError(
                f"{self.label} is not reachable at {self.url} ({why}).", kind="connect"
            )
        if started:
            return BackendError(f"The connection to {self.name} dropped mid-reply.", kind="stream")
        if isinstance(exc, aiohttp.ClientResponseError):  # not HTTP, or not the promised body
            return BackendError(f"{self.name} sent a malformed answer ({exc}).", kind="protocol")
        # It took the request and broke off before any output: a crash, or a server that drops
        # a prompt too long for its window (llama-cpp-python), which the router tells apart.
        reason = f"The connection to {self.name} dropped before it answered."
        return BackendError(reason, kind="dropped")

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
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None = None,
        *,
        base: str | None = None,
        within: float | None = None,
        model: str | None = None,
    ) -> tuple[int, Any]:
        """A small JSON call to `base` (the backend URL) + `path`, answered `within` seconds
        (default `request_timeout`). Returns (status, parsed body); raises for transport
        failures and error statuses other than 404 (with `model`, a 404 raises as well)."""
        url = (self._base if base is None else base) + path
        limit = self.request_timeout if within is None else within
        try:
            async with asyncio.timeout(limit):
                async with self._client().request(method, url, json=body) as resp:
                    status, content = resp.status, await resp.read()
        except TimeoutError:
            reason = f"{self.name} did not answer within {seconds(limit)}."
            raise BackendError(reason, kind="timeout") from None
        except aiohttp.ClientError as exc:
            raise self.transport_error(exc, started=False) from None
        if status >= 400:
            if status == 404 and model is None:
                return 404, None
            raise self.answer_error(status, content, model)
        if not content.strip():
            return status, None  # Ollama's copy and delete answer 200 with no body
        try:
            return status, json.loads(content)
        except ValueError:
            reason = f"{self.name} sent an answer that is not JSON (GET {path})."
            raise BackendError(reason, kind="protocol") from None

    async def _error_body(self, response: aiohttp.ClientResponse) -> bytes:
        try:
            async with asyncio.timeout(self.request_timeout):
                return await response.read()
        except (TimeoutError, aiohttp.ClientError):
            return b""

    async def _open(self, path: str, body: Mapping[str, Any], deadline: float) -> ClientResponse:
        """Send the POST; the answer's status and headers must come before `deadline`.

        A pooled connection the server closed just before it was reused (uvicorn does after
        llama-cpp-python failed a stream, and at its 5 s keep-alive) fails the write or answers
        nothing at all: the request is sent once more on a new connection, as no server has
        seen it. A connection that cannot be made at all is not retried.
        """
        for attempt in (1, 2):
            try:
                async with asyncio.timeout_at(deadline):
                    # msgspec encodes the body in a few µs; aiohttp's `json=` uses json.
                    return await self._client().post(
                        self._base + path, data=msgspec.json.encode(body), headers=_JSON_BODY
                    )
            except TimeoutError:
                raise self.first_token_timeout_error() from None
            except aiohttp.ClientConnectorError as exc:
                raise self.transport_error(exc, started=False) from None
            except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as exc:
                if attempt == 2:
                    raise self.transport_error(exc, started=False) from None
                log.info(
                    "connection closed by the server before use; sending again",
                    extra={"backend": self.name},
                )
            except aiohttp.ClientError as exc:
                raise self.transport_error(exc, started=False) from None
        raise AssertionError("unreachable")

    async def stream_lines(
        self,
        path: str,
        body: Mapping[str, Any],
        model: str | None,
        *,
        keep_blank: bool = False,
        timeouts: tuple[float, float] | None = None,
    ) -> AsyncGenerator[bytes, None]:
        """POST `body` and yield the reply's lines, with the first-token and chunk timeouts
        (`timeouts` replaces both: seconds to the first line, then between reads).

        One timed read per network chunk, however many lines it holds. Closing this iterator
        (or cancelling its consumer) before the end closes the connection, so the server sees
        it go away and stops generating.
        """
        first_timeout, chunk_timeout = timeouts or (self.first_token_timeout, self.chunk_timeout)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + first_timeout
        self.streaming += 1
        try:
            response = await self._open(path, body, deadline)
        except BaseException:
            self.streaming -= 1
            raise
        watchdog, splitter = ReadWatchdog(), LineSplitter()
        started = False
        try:
            if response.status >= 400:
                raise self.answer_error(response.status, await self._error_body(response), model)
            while True:
                when = loop.time() + chunk_timeout if started else deadline
                try:
                    chunk = await watchdog.read(response.content.readany(), when)
                except ReadTimeout:
                    error = (
                        self.chunk_timeout_error() if started else self.first_token_timeout_error()
                    )
                    raise error from None
                except aiohttp.ClientError as exc:
                    raise self.transport_error(exc, started=started) from None
                for line in splitter.feed(chunk) if chunk else splitter.end():
                    if line.strip():
                        started = True
                        yield line
                    elif keep_blank:  # SSE: a blank line ends an event
                        yield b""
                if not chunk:
                    return
        finally:
            self.streaming -= 1
            watchdog.close()
            if response.content.at_eof():
                response.release()  # back to the pool for the next request
            else:
                response.close()
