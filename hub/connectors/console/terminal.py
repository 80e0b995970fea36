"""Console connector: chat with the hub in a terminal, through the same pipeline as every bot.

`chathub chat` runs it interactively (`/stop` or Ctrl-C stops the reply being written, a second
Ctrl-C exits; `/exit`, `/quit` and Ctrl-D exit too) or once (`--once "question"`: print the
reply, exit 0, or exit 1 with the reason on stderr).
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import os
import signal
import sys
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TextIO

from hub.core.builtins import find
from hub.core.dispatch import ChatDispatch
from hub.core.models import (
    Done,
    Failed,
    IncomingMessage,
    Notice,
    PlatformUser,
    Queued,
    ReplyEvent,
    Text,
)

if TYPE_CHECKING:
    from hub.core.chat import ChatService
    from hub.runtime import Services
    from hub.settings import HubSettings

PLATFORM = "console"
EXIT_HINT = "(Press Ctrl-C again or Ctrl-D to leave.)"
# Failures a missing model server or model explains.
_NO_MODEL = ("unavailable", "not_found", "backend_down")


def no_model_cause(services: Services) -> str | None:
    """Why no model can answer: every model server unreachable, or none has a model yet."""
    status_of = getattr(services.router, "status", None)
    statuses = status_of() if status_of is not None else []
    if not statuses:
        return None
    settings = services.settings
    urls = {b.name: b.url for b in settings.routing.backends} or {"ollama": settings.ollama_url}
    if all(not s.up for s in statuses):
        where = ", ".join(f"{s.name} at {urls.get(s.name, '?')}" for s in statuses)
        return (
            f"No model server answers ({where}). Is it running, at that address? "
            "`chathub check` shows what is wrong."
        )
    empty = [s for s in statuses if s.up and s.models == 0]
    if empty and len(empty) == sum(1 for s in statuses if s.up):
        where = ", ".join(f"{s.name} at {urls.get(s.name, '?')}" for s in empty)
        return (
            f"The model server answers but has no models ({where}). Pull one, e.g. "
            "`ollama pull llama3.2`, then try again."
        )
    return None


def console_user() -> PlatformUser:
    """The person at this terminal, as a platform identity (their OS login name)."""
    try:
        login = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry and no LOGNAME/USER in containers
        login = f"uid{os.getuid()}"
    return PlatformUser(PLATFORM, login, login)


@dataclass
class ConsoleChat:
    """Renders reply events as plain text on a terminal (or any pair of text streams)."""

    chat: ChatService
    user: PlatformUser
    out: TextIO = sys.stdout
    err: TextIO = sys.stderr
    model: str | None = None
    chat_id: str = "console"
    diagnose: Callable[[], str | None] | None = None  # why no model can answer, if it knows
    dispatch: ChatDispatch = field(init=False)

    def __post_init__(self) -> None:
        self.dispatch = ChatDispatch(self.chat)

    def message(self, text: str) -> IncomingMessage:
        return IncomingMessage(PLATFORM, self.chat_id, self.user, text, model=self.model)

    async def say(self, text: str) -> bool:
        """Send `text` and print the reply as it streams; False if the reply failed."""
        ok, ended_line = True, True
        async for event in self.dispatch.reply(self.message(text)):
            ok, ended_line = self._show(event, ok, ended_line)
        if not ended_line:
            self._write(self.out, "\n")
        return ok

    def _show(self, event: ReplyEvent, ok: bool, ended_line: bool) -> tuple[bool, bool]:
        if isinstance(event, Text):
            self._write(self.out, event.delta)
            return ok, event.delta.endswith("\n")
        lead = "" if ended_line else "\n"
        if isinstance(event, Notice):
            self._write(self.out, f"{lead}{event.text}\n")
        elif isinstance(event, Queued):
            ahead = "you are next" if event.position == 0 else f"{event.position} ahead of you"
            self._write(self.out, f"{lead}[queued: {ahead}]\n")
        elif isinstance(event, Done):
            return ok, ended_line
        elif isinstance(event, Failed):
            if event.code == "cancelled":
                self._write(self.out, f"{lead}[stopped]\n")
            else:
                self._write(self.out, lead)
                self._write(self.err, f"chathub: {event.reason}\n")
                cause = self.diagnose() if self.diagnose and event.code in _NO_MODEL else None
                if cause:
                    self._write(self.err, f"chathub: {cause}\n")
            return False, True
        else:
            return ok, ended_line
        return ok, True

    @staticmethod
    def _write(stream: TextIO, text: str) -> None:
        if text:
            stream.write(text)
            stream.flush()

    async def stop(self) -> bool:
        """Stop the reply being written in this console's conversation."""
        return await self.dispatch.stop_conversation(self.message("").key)


def is_exit(line: str) -> bool:
    """`/exit` or `/quit` (the registry's console-only command)."""
    spec = find(line.strip().removeprefix("/"), PLATFORM) if line.strip().startswith("/") else None
    return spec is not None and spec.name == "exit"


class Interactive:
    """The read–reply loop. While a reply streams, lines are still read: `/stop` stops it,
    `/exit` or `/quit` stops it and leaves, anything else waits its turn. Ctrl-C stops the
    reply (or warns at the prompt), a second Ctrl-C leaves, and so does Ctrl-D."""

    def __init__(self, console: ConsoleChat, lines: AsyncIterator[str], *, prompt: str) -> None:
        self._console = console
        self._lines = lines
        self._prompt = prompt
        self._interrupts = 0
        self._replying: asyncio.Task[bool] | None = None
        self._leave = asyncio.Event()
        self._stopping: set[asyncio.Task[bool]] = set()
        self._reading: asyncio.Future[str | None] | None = None
        self._waiting: deque[str] = deque()  # lines typed while a reply streamed
        self._ended = False  # stdin is at its end

    def interrupt(self) -> None:
        """Ctrl-C: the first stops a running reply (or warns at the prompt), the next exits."""
        self._interrupts += 1
        replying = self._replying is not None and not self._replying.done()
        if self._interrupts >= 2:
            self._leave.set()
            if self._replying is not None:
                self._replying.cancel()
        elif replying:
            self._stop()
        else:
            ConsoleChat._write(self._console.out, f"\n{EXIT_HINT}\n{self._prompt}")

    def _stop(self) -> None:
        task = asyncio.get_running_loop().create_task(self._console.stop())
        self._stopping.add(task)
        task.add_done_callback(self._stopping.discard)

    async def run(self) -> int:
        out = self._console.out
        while not self._leave.is_set():
            if not self._waiting:
                ConsoleChat._write(out, self._prompt)
            line = await self._next_line()
            if line is None or is_exit(line):
                break
            self._interrupts = 0
            if not line.strip():
                continue
            self._replying = asyncio.create_task(self._console.say(line.rstrip("\n")))
            await self._follow(self._replying)
        ConsoleChat._write(out, "\n")
        return 0

    def _read(self) -> asyncio.Future[str | None]:
        # One read in flight, kept across replies: cancelling a read would lose the line.
        if self._reading is None:
            self._reading = asyncio.ensure_future(anext(self._lines, None))
        return self._reading

    def _take(self) -> str | None:
        assert self._reading is not None
        line, self._reading = self._reading.result(), None
        if line is None:
            self._ended = True
        return line

    async def _next_line(self) -> str | None:
        if self._waiting:
            return self._waiting.popleft()
        if self._ended:
            return None
        reading = self._read()
        leaving = asyncio.ensure_future(self._leave.wait())
        either: set[asyncio.Future[Any]] = {reading, leaving}
        try:
            await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
        finally:
            leaving.cancel()
        return self._take() if reading.done() else None

    async def _follow(self, replying: asyncio.Task[bool]) -> None:
        """Wait for the reply, acting on lines typed meanwhile."""
        while not replying.done() and not self._ended:
            reading = self._read()
            either: set[asyncio.Future[Any]] = {replying, reading}
            await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
            if not reading.done():
                continue
            line = self._take()
            if line is None:
                break
            # /stop and /exit act at once, unless lines typed before them still wait.
            if line.strip().lower() == "/stop" and not self._waiting:
                self._stop()
            elif is_exit(line) and not self._waiting:
                self._stop()
                self._leave.set()
            else:
                self._waiting.append(line)
        with contextlib.suppress(asyncio.CancelledError):
            await replying


async def stdin_lines() -> AsyncIterator[str]:
    """Lines from stdin without blocking the loop (a pipe or terminal; a file is read directly)."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    fd = sys.stdin.fileno()
    was_blocking = os.get_blocking(fd)
    try:
        transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), sys.stdin
        )
    except ValueError:  # a regular file: reading it never blocks for long
        while line := await asyncio.to_thread(sys.stdin.readline):
            yield line
        return
    try:
        while line_bytes := await reader.readline():
            yield line_bytes.decode("utf-8", errors="replace")
    finally:
        transport.close()
        # The terminal is shared with the shell that started us: give it back as it was.
        os.set_blocking(fd, was_blocking)


@contextlib.contextmanager
def on_sigint(handler: Any) -> Any:
    """Run `handler` on Ctrl-C instead of raising KeyboardInterrupt (restored afterwards)."""
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGINT, handler)
    try:
        yield
    finally:
        loop.remove_signal_handler(signal.SIGINT)


async def run_once(console: ConsoleChat, text: str) -> int:
    """Print one reply; 0 on success, 1 on failure (reason on stderr), 130 if interrupted.

    Ctrl-C stops the reply (it is stored as interrupted); a second one gives up waiting.
    """
    if is_exit(text):
        return 0
    replying = asyncio.ensure_future(console.say(text))
    stopping: list[asyncio.Task[bool]] = []

    def interrupt() -> None:
        if stopping:
            replying.cancel()
        else:
            stopping.append(asyncio.get_running_loop().create_task(console.stop()))

    with on_sigint(interrupt):
        await asyncio.wait({replying})
    if stopping or replying.cancelled():
        return 130
    return 0 if replying.result() else 1


async def run_interactive(console: ConsoleChat, lines: AsyncIterator[str]) -> int:
    """Chat until Ctrl-D or a second Ctrl-C."""
    prompt = "you> " if sys.stdin.isatty() else ""
    session = Interactive(console, lines, prompt=prompt)
    with on_sigint(session.interrupt):
        return await session.run()


async def chat_in_terminal(settings: HubSettings, *, once: str | None, model: str | None) -> int:
    """`chathub chat`: build the hub's services, chat, close them. Returns the exit code."""
    from hub.bootstrap import open_services
    from hub.core.ports import BackendError, StoreError
    from hub.logging_setup import configure_logging

    # The terminal is for the conversation: only warnings and errors go to stderr.
    configure_logging("DEBUG" if settings.log_level.upper() == "DEBUG" else "WARNING")
    try:
        async with open_services(settings) as services:
            console = ConsoleChat(
                services.chat,
                console_user(),
                model=model,
                diagnose=lambda: no_model_cause(services),
            )
            if once is not None:
                return await run_once(console, once)
            return await run_interactive(console, stdin_lines())
    except (StoreError, BackendError) as exc:
        print(f"chathub: {getattr(exc, 'reason', None) or exc}", file=sys.stderr)
        return 1


class ConsoleConnector:
    """A console session as a `Connector` (used when the hub itself runs in a terminal)."""

    name = PLATFORM

    def __init__(self, services: Services) -> None:
        self._console = ConsoleChat(services.chat, console_user())
        self._task: asyncio.Task[int] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(run_interactive(self._console, stdin_lines()))

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


class ConsolePlugin:
    """Entry point of the `chathub.connectors` group for the console.

    Never enabled by `chathub serve` (a server has no terminal to talk to); `chathub chat` runs
    the console directly. It has no settings.
    """

    name = PLATFORM
    settings_model = None

    def enabled(self, settings: None) -> bool:
        return False

    def routes(self, settings: None) -> list[Any]:
        return []

    def create(self, services: Services, settings: None) -> ConsoleConnector:
        return ConsoleConnector(services)


plugin = ConsolePlugin()
