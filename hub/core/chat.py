"""ChatService: the one pipeline that turns an incoming message into reply events.

Every edge (bots, console, HTTP) calls `reply(msg)` and renders what it yields. The work runs in
a task of its own so `stop()` can cancel it while the edge keeps reading: the stream then ends
with `Failed(code="cancelled")` and the partial reply is stored, flagged interrupted.

Messages that carry their own `history` (HTTP clients) skip stored conversations, commands,
trimming and per-conversation serialisation; identity, limits, routing, prompt-command expansion
of the last user message and usage accounting still apply. Messages that continue a branch
(`chain`, a Discord reply chain) send that branch as history instead of the stored turns, and
otherwise go through everything, their turns stored in the conversation as usual.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import datetime

from hub.core.attachments import AttachmentError, ImageIntake, load_images
from hub.core.cancel_safe import run_to_completion
from hub.core.chat_config import ChatConfig
from hub.core.commands import (
    Answer,
    CommandHandler,
    Ignored,
    PromptCommands,
    parse_command,
)
from hub.core.context import TokenEstimator
from hub.core.conversation_log import ConversationLog, Session, history_to_send
from hub.core.fitting import ContextFitter, Fitting
from hub.core.generation import Generator, Run, backend_failed, overflow_failed, refused
from hub.core.models import (
    ChatMessage,
    ConversationKey,
    Failed,
    IncomingMessage,
    Notice,
    Queued,
    ReplyEvent,
    Turn,
    User,
    utcnow,
)
from hub.core.ports import (
    Admission,
    BackendError,
    Completion,
    ContextOverflow,
    LimitGate,
    ModelRouter,
    RouteContext,
    StoreError,
    Stores,
)
from hub.core.ports.coordination import ConversationLocks
from hub.core.reply_channel import Emit, ReplyChannel
from hub.core.reply_tasks import ReplyTasks
from hub.core.serial import ConversationSlots
from hub.core.stores.outage import StoreOutage, store_failed
from hub.core.wording import HttpWorded

log = logging.getLogger(__name__)

EMPTY = "There is nothing to answer yet: send me some text."
DISABLED = "Your account on this hub is disabled; ask its administrator to enable it."
INTERNAL = "Something went wrong on the hub while answering. Try again in a moment."


class ChatService:
    """The chat pipeline: identity, commands, limits, context, routing, streaming, persistence."""

    def __init__(
        self,
        stores: Stores,
        router: ModelRouter,
        limits: LimitGate,
        prompts: PromptCommands | None,
        config: ChatConfig,
        *,
        clock: Callable[[], datetime] = utcnow,
        expand_history_commands: bool = True,
        turns: ConversationLocks | None = None,
        conversations: ConversationLog | None = None,
    ) -> None:
        self._stores = stores
        self._router = router
        self._limits = limits
        self._prompts = prompts
        self._config = config
        self._clock = clock
        self._expand_history = expand_history_commands
        # One reply at a time per conversation: in this process, or (Redis) across replicas.
        self._turns: ConversationLocks = turns if turns is not None else ConversationSlots()
        # Without a log that spools, a message during a store outage is told to try again.
        self._log = conversations or ConversationLog(
            stores.conversations, stores.ping, StoreOutage()
        )
        self._estimator = TokenEstimator(config.chars_per_token)
        self._commands = CommandHandler(
            stores, router, prompts, self.stop, limits=limits, clock=clock
        )
        self._generator = Generator(stores, router, limits, config, self._estimator, clock)
        self._fitter = ContextFitter(router, config, self._estimator, self._generator)
        self._replies = ReplyTasks()
        self._images = ImageIntake(config, router)

    @property
    def estimator(self) -> TokenEstimator:
        """Per-model token estimates (calibrated from the backends' reports)."""
        return self._estimator

    async def reply(self, msg: IncomingMessage) -> AsyncIterator[ReplyEvent]:
        """Answer `msg`: yields Queued/Started/Text/Extra/Notice, then Done or Failed.

        A command answered by the hub yields only `Notice`s; a command meant for another bot
        yields nothing. Closing the iterator early cancels the reply (and stores it interrupted).
        """
        channel = self.start(msg)
        try:
            while (event := await channel.get()) is not None:
                yield event
        finally:
            await channel.aclose()

    def start(self, msg: IncomingMessage) -> ReplyChannel:
        """Start answering `msg`; the same events as `reply`, read from a channel.

        For edges that write in batches (`ReplyChannel.take_ready`). The caller must
        `aclose()` the channel, which cancels the reply if it is still running.
        """
        channel = ReplyChannel()
        if self._replies.closing:  # shutting down: nothing new starts
            channel.put(self._replies.refusal(msg.model))
            channel.put(None)
            return channel
        task = asyncio.create_task(self._produce(msg, channel))
        channel.attach(task)
        self._replies.add(task)
        return channel

    async def stop(self, key: ConversationKey) -> bool:
        """Cancel the reply streaming in `key` (on whichever replica it runs); True if there was
        one. Returns once it is stored."""
        return await self._turns.stop(key.as_str())

    @property
    def turns_waiting(self) -> int:
        """Turns spooled while the store was down, not yet written back."""
        return self._log.waiting()

    @property
    def in_progress(self) -> int:
        """Replies being produced right now (for /metrics)."""
        return len(self._replies)

    def close_intake(self) -> None:
        """Shutdown begins: refuse new messages and every reply not yet streaming; replies
        that are streaming go on until `drain`'s grace period ends."""
        self._replies.close_intake()

    async def drain(self, grace: float) -> None:
        """`close_intake`, let streaming replies finish for up to `grace` seconds, then cut the
        rest (each is stored as interrupted, its last event saying the hub is restarting)."""
        await self._replies.drain(grace)

    async def aclose(self) -> None:
        """Stop every reply in progress (each is stored as interrupted) and wait for them."""
        await self._replies.aclose()

    # --- the pipeline -------------------------------------------------------------------------

    async def _produce(self, msg: IncomingMessage, emit: Emit) -> None:
        if msg.history is not None:  # an HTTP client: it cannot send /stop or /models
            emit = HttpWorded(emit)
        try:
            await self._pipeline(msg, emit)
        except asyncio.CancelledError:
            emit(self._replies.cancelled())
        except BackendError as exc:
            emit(backend_failed(exc))
        except StoreError as exc:  # its text names the database: for the log, not for people
            log.warning("store failed during a reply", extra={"error": str(exc)})
            emit(store_failed(exc))
        except Exception:
            log.exception("reply failed", extra={"platform": msg.platform, "chat": msg.chat_id})
            emit(Failed(INTERNAL))
        finally:
            emit(None)

    async def _pipeline(self, msg: IncomingMessage, emit: Emit) -> None:
        user = await self._identify(msg)
        if user is None:
            emit(Failed("Your account no longer exists. Sign in again.", code="forbidden"))
            return
        if user.disabled:
            emit(Failed(DISABLED, code="forbidden"))
            return
        if msg.history is not None:
            await self._answer_history(user, msg, emit)
            return
        if not msg.text.strip() and not msg.attachments:
            emit(Notice(EMPTY))
            return
        text, typed = msg.text, None
        command = parse_command(msg.text, self._config.bot_name)
        if command is not None:
            outcome = await self._commands.run(user, msg, command)
            if isinstance(outcome, Ignored):
                return
            if isinstance(outcome, Answer):
                emit(Notice(outcome.text))
                return
            text, typed = outcome.text, outcome.typed
            msg = replace(msg, typed_command=command.name)  # routing rules may match it
        await self._in_turn(user, msg, text, typed, emit)

    async def _identify(self, msg: IncomingMessage) -> User | None:
        if msg.hub_user_id is not None:
            return await self._stores.users.get(msg.hub_user_id)
        return await self._stores.users.for_identity(msg.user)

    async def _in_turn(
        self, user: User, msg: IncomingMessage, text: str, typed: str | None, emit: Emit
    ) -> None:
        """Wait for this conversation's previous reply (or cancel it), then answer."""
        key = msg.key
        if self._config.busy_policy == "cancel":
            await self.stop(key)
        task = asyncio.current_task()
        assert task is not None

        def waiting(ahead: int) -> None:
            emit(Queued(ahead))

        async with self._turns.hold(key.as_str(), on_stop=task.cancel, on_wait=waiting) as turn:
            if turn.waited >= 0:  # the user may have changed /model while waiting
                user = await self._stores.users.get(user.id) or user
            # A shared lease's fence goes with the turns (0: one process, nothing to fence).
            fence = turn.fence or None
            await self._admitted(user, msg, self._route(user, msg), emit, text, typed, fence)

    def _route(self, user: User, msg: IncomingMessage) -> RouteContext:
        return RouteContext(
            user, msg.platform, msg.chat_id, msg.model, msg.command, msg.typed_command
        )

    async def _admitted(
        self,
        user: User,
        msg: IncomingMessage,
        ctx: RouteContext,
        emit: Emit,
        text: str,
        typed: str | None,
        fence: int | None = None,
    ) -> None:
        """Charge the limits, answer, and always give the concurrency lease back."""
        try:
            model = self._router.resolve(ctx)
        except BackendError as exc:
            emit(backend_failed(exc))
            return
        if msg.attachments:
            intake = await self._images.inspect(msg, model)
            if intake.refusal:
                emit(Failed(intake.refusal, code="bad_request", model=model))
                return
            for notice in intake.notices:
                emit(Notice(notice))
            msg = replace(msg, attachments=intake.images)
        if msg.admitted:  # charged when it was accepted (a job)
            admission = Admission(allowed=True)
        else:
            admission = await self._limits.admit(
                user,
                msg.platform,
                msg.chat_id,
                model,
                workspace=msg.workspace_id,
                wait=msg.may_wait,
            )
        if not admission.allowed:
            emit(refused(admission, model))
            return
        try:
            run = Run(model=model)
            self._replies.note_run(run)
            if msg.history is None:
                await self._converse(user, msg, ctx, run, emit, text, typed, fence)
            else:
                await self._forward(user, msg, ctx, run, emit)
        finally:
            if admission.lease_id:  # most policies hold no lease: no task to start for nothing
                await run_to_completion(self._limits.release(user, admission))

    # --- stored conversations -----------------------------------------------------------------

    async def _converse(
        self,
        user: User,
        msg: IncomingMessage,
        ctx: RouteContext,
        run: Run,
        emit: Emit,
        text: str,
        typed: str | None,
        fence: int | None = None,
    ) -> None:
        try:
            images = await load_images(msg.attachments)
        except AttachmentError as exc:
            emit(Failed(exc.reason, code="bad_request", model=run.model))
            return
        session = await self._log.begin(msg.key, user.id, self._config.history_limit)
        past = history_to_send(session, msg.chain, self._config.history_limit)
        turn = Turn("user", text, created_at=self._clock(), typed_text=typed)

        async def store_user_turn() -> None:
            run.user_turn = await self._log.append(session, turn, fence=fence)

        terminal: ReplyEvent | None = None
        new = ChatMessage("user", text, images=images)
        fitting = Fitting(session.conversation_id or msg.key.as_str(), past, new, msg, emit)
        try:
            await run_to_completion(store_user_turn())
            run.sent = await self._fitter.messages(fitting, run.model)
            terminal = await self._fitter.generate(ctx, run, fitting)
        except asyncio.CancelledError:
            terminal = self._replies.cancelled(run.text, run.model)
        finally:
            if run.user_turn is not None:
                await run_to_completion(self._store_reply(session, user, run, fence))
            if terminal is not None:
                emit(terminal)

    async def _store_reply(
        self, session: Session, user: User, run: Run, fence: int | None = None
    ) -> None:
        """Store the assistant turn (interrupted unless the backend finished) and count usage."""
        metrics = run.metrics
        prompt_tokens = metrics.prompt_tokens if metrics else 0
        completion_tokens = metrics.completion_tokens if metrics else 0
        turn = Turn(
            "assistant",
            run.text,
            created_at=self._clock(),
            model=run.model,
            backend=run.backend,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            interrupted=metrics is None,
        )
        try:
            await self._log.append(session, turn, fence=fence)
        except StoreError as exc:  # neither the store nor the spool took it (or a newer reply
            # took the conversation: StaleWrite)
            log.error(
                "could not store a reply",
                extra={"conversation": session.conversation_id, "error": str(exc)},
            )
        await self._generator.count_usage(user, run)

    # --- clients that send their own history (HTTP) -------------------------------------------

    async def _answer_history(self, user: User, msg: IncomingMessage, emit: Emit) -> None:
        assert msg.history is not None
        messages = list(msg.history)
        completion = msg.passthrough.get("completion")
        # A raw prompt or a fill-in-the-middle request is code or text to continue, sent as is:
        # a line starting with "/" in it is not a prompt command.
        verbatim = isinstance(completion, Completion) and (
            completion.raw or completion.suffix is not None
        )
        if self._expand_history and self._prompts is not None and messages and not verbatim:
            last = messages[-1]
            command = parse_command(last.content) if last.role == "user" else None
            if command is not None:
                expansion = await self._prompts.expand(user, msg, "/" + command.name, command.args)
                if expansion is not None and expansion.text is None:
                    # A client request that cannot be sent as asked: an error it can show
                    # (400 on HTTP), not a reply that looks like the model's answer.
                    reason = expansion.error_message or f"/{command.name} needs more input."
                    emit(Failed(reason, code="bad_request"))
                    return
                if expansion is not None and expansion.text is not None:
                    messages[-1] = replace(last, content=expansion.text)
                    msg = replace(msg, typed_command=command.name)
        if (
            self._config.system_prompt
            and not verbatim
            and not any(m.role == "system" for m in messages)
        ):
            messages.insert(0, ChatMessage("system", self._config.system_prompt))
        history = msg.history
        assert history is not None
        changed = len(messages) != len(history) or (
            bool(messages) and messages[-1] is not history[-1]
        )
        forwarded = replace(msg, history=tuple(messages)) if changed else msg
        await self._admitted(user, forwarded, self._route(user, msg), emit, "", None)

    async def _forward(
        self, user: User, msg: IncomingMessage, ctx: RouteContext, run: Run, emit: Emit
    ) -> None:
        assert msg.history is not None
        run.sent = msg.history
        try:
            emit(await self._generator.generate(ctx, run, msg, emit))
        except ContextOverflow as exc:
            window = await self._router.context_window(run.model)
            emit(overflow_failed(exc, run.model, window, chat=False))
        except asyncio.CancelledError:
            emit(self._replies.cancelled(run.text, run.model))
        finally:
            await run_to_completion(self._generator.count_usage(user, run))
