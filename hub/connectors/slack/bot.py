"""SlackConnector: a slack-bolt `AsyncApp` that answers through `ChatDispatch`.

Built on the running loop in `start()`: one aiohttp session and `AsyncWebClient` (pointed at
`HUB_SLACK__BASE_URL`, without client-side 429 retries: the budgets handle those), the bot's
identity from `auth.test`, and the bolt app, fed by Socket Mode (`AsyncSocketModeHandler`) or by
`POST /webhooks/slack` (`webhook.py`). bolt acknowledges every event at once; listeners only
start a task, so Slack always gets its answer within 3 s and a slow reply never holds another.

Who is answered and what each event means: `events.py`; what is remembered between events (each
message answered once, threads the bot answers in): `threads.py`; the reply's sink: `sink.py`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import replace
from typing import Any

import aiohttp
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from hub.connectors.slack.budgets import POST, USERS, lookup_budget, reply_budget
from hub.connectors.slack.calls import SlackCallFailed, call_api
from hub.connectors.slack.events import (
    STOP_ACTION,
    BotIdentity,
    SlackRequest,
    SlashCommands,
    anchor_text,
    from_command,
    from_event,
    message_key,
    stop_click,
    thread_to_check,
)
from hub.connectors.slack.files import attachments
from hub.connectors.slack.settings import SlackSettings
from hub.connectors.slack.sink import SlackSink, StatusSupport, StreamSupport
from hub.connectors.slack.threads import Recent, Taken, Threads
from hub.core.access import Access
from hub.core.budget import BudgetPools, Clock
from hub.core.dispatch import ChatDispatch, ChatLike
from hub.core.models import PlatformUser
from hub.core.ports import PromptStore, SinkError, SinkRateLimited, UserStore
from hub.core.ports.coordination import DeliveryLog, StopRegistry
from hub.settings import SettingsError

log = logging.getLogger(__name__)

PLATFORM = "slack"
CALL_TIMEOUT = 30  # seconds per Web API call
ANCHOR_ATTEMPTS = 4
NOT_A_MEMBER = {"not_in_channel", "channel_not_found"}
_ANY = re.compile(".+")


class SlackConnector:
    """Receives Slack events and commands, answers through `ChatService` and `render()`."""

    name = PLATFORM

    def __init__(
        self,
        chat: ChatLike,
        settings: SlackSettings,
        *,
        users: UserStore | None = None,
        prompts: PromptStore | None = None,
        clock: Clock | None = None,
        grace: float = 10.0,
        stops: StopRegistry | None = None,
        deliveries: DeliveryLog | None = None,
    ) -> None:
        if settings.bot_token is None:
            raise SettingsError("HUB_SLACK__BOT_TOKEN: required to run the Slack connector")
        self.settings = settings
        self.users, self.prompts = users, prompts
        self.pools = BudgetPools(clock)
        self.access = Access(settings, users)
        self.dispatch = ChatDispatch(
            chat, access=self.access, clock=self.pools.clock, grace=grace, stops=stops
        )
        self.taken, self.threads = Taken(shared=deliveries), Threads()
        self.status, self.streams = StatusSupport(), StreamSupport(enabled=settings.streams)
        self.names: Recent[str] = Recent()  # user id → display name ("" when unknown)
        self._asking: dict[str, asyncio.Future[str]] = {}
        self.me: BotIdentity | None = None
        self.session: aiohttp.ClientSession | None = None
        self.client: AsyncWebClient | None = None
        self.app: AsyncApp | None = None
        self.socket: AsyncSocketModeHandler | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def token(self) -> str:
        assert self.settings.bot_token is not None
        return self.settings.bot_token.get_secret_value()

    # --- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Who the bot is (auth.test), the bolt app, and Socket Mode's connection if used."""
        self.session = aiohttp.ClientSession()
        client = AsyncWebClient(
            token=self.token,
            base_url=self.settings.base_url,
            session=self.session,
            timeout=CALL_TIMEOUT,
        )
        auth: Any = await call_api(client.auth_test())
        self.me = BotIdentity(
            user_id=str(auth["user_id"]), bot_id=str(auth.get("bot_id") or ""),
            team_id=str(auth["team_id"]),
        )  # fmt: skip
        self.client, self.app = client, self._build(client)
        if self.settings.mode == "socket":
            assert self.settings.app_token is not None
            app_token = self.settings.app_token.get_secret_value()
            self.socket = AsyncSocketModeHandler(self.app, app_token, web_client=client)
            await self.socket.connect_async()  # type: ignore[no-untyped-call]
        log.info(
            "slack connector started",
            extra={
                "bot": auth.get("user", ""),
                "team": self.me.team_id,
                "mode": self.settings.mode,
            },
        )

    async def stop(self, grace: float | None = None) -> None:
        """Stop receiving, let replies finish (`ChatDispatch.drain`), disconnect."""
        app, self.app = self.app, None  # HTTP deliveries now get 503; Slack sends them again
        socket, self.socket = self.socket, None
        if socket is not None:
            with contextlib.suppress(Exception):
                await socket.close_async()  # type: ignore[no-untyped-call]
        if app is not None:
            await self.dispatch.drain(grace)
            if self._tasks:
                await asyncio.wait(set(self._tasks), timeout=5.0)
            for task in list(self._tasks):
                task.cancel()
        if self.session is not None:
            await self.session.close()
            self.session = None

    @property
    def busy(self) -> bool:
        """Whether a reply is being written (or an event is still being looked at)."""
        return self.dispatch.busy or bool(self._tasks)

    async def handle_http(self, request: AsyncBoltRequest) -> BoltResponse | None:
        """One HTTP delivery (`webhook.py`); None while the connector is not running."""
        app = self.app
        return None if app is None else await app.async_dispatch(request)

    def _build(self, client: AsyncWebClient) -> AsyncApp:
        http = self.settings.mode == "http"
        secret = self.settings.signing_secret
        # bolt gets the bot's identity from `authorize` (found once, at start) instead of asking
        # auth.test itself: its single-workspace check would ask once per event until the
        # first answer, and 20 events at once mean 20 calls. Its client carries no token so
        # that it uses `authorize`; the listeners write with the connector's own client.
        bolt_client = AsyncWebClient(
            base_url=self.settings.base_url, session=client.session, timeout=CALL_TIMEOUT
        )
        app = AsyncApp(
            client=bolt_client,
            authorize=self._authorizer(),
            signing_secret=secret.get_secret_value() if secret is not None and http else "",
            request_verification_enabled=http,
            ssl_check_enabled=http,
            url_verification_enabled=http,
        )
        app.event("app_mention")(self._on_event)
        app.event("message")(self._on_event)
        app.command(self.settings.command)(self._on_command)
        app.action(STOP_ACTION)(self._on_stop)
        app.event(_ANY)(self._ignore)  # other events: acknowledged, nothing to do
        return app

    def _authorizer(self) -> Callable[[], Awaitable[AuthorizeResult]]:
        me, token = self.me, self.token
        assert me is not None
        found = AuthorizeResult(
            enterprise_id=None,
            team_id=me.team_id,
            bot_token=token,
            bot_id=me.bot_id,
            bot_user_id=me.user_id,
        )

        async def authorize() -> AuthorizeResult:  # bolt passes arguments by name: none here
            return found

        return authorize

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- listeners (bolt acknowledges events itself; commands and actions ack here) ------------

    async def _on_event(self, body: dict[str, Any], event: dict[str, Any]) -> None:
        self._spawn(self._guarded(self._handle_event(body, event)))

    async def _on_command(self, ack: Any, command: dict[str, Any]) -> None:
        await ack()
        self._spawn(self._guarded(self._handle_command(command)))

    async def _on_stop(self, ack: Any, body: dict[str, Any]) -> None:
        await ack()
        self._spawn(self._guarded(self._handle_stop(body)))

    async def _ignore(self) -> None:
        return None

    async def _guarded(self, work: Awaitable[None]) -> None:
        try:
            await work
        except Exception:
            log.exception("slack event failed")

    # --- events ---------------------------------------------------------------------------------

    async def _handle_event(self, body: Mapping[str, Any], event: Mapping[str, Any]) -> None:
        me, client = self.me, self.client
        if me is None or client is None or message_key(event) in self.taken:
            return
        answering = False
        check = thread_to_check(event, me)
        if check is not None:
            answering = await self.threads.answers_in(
                *check, client=client, bot=me, budget=lookup_budget(self.pools, me.team_id)
            )
        user = str(event.get("user") or "")
        request = from_event(
            event,
            me,
            answering=lambda channel, thread_ts: answering,
            names=await self._names(user),
            team_id=str(body.get("team_id") or ""),
        )
        if request is not None and await self.taken.first(request.key, request.team_id):
            await self._answer(request)

    async def _handle_command(self, command: Mapping[str, Any]) -> None:
        me = self.me
        if me is None:
            return
        user, channel = str(command.get("user_id", "")), str(command.get("channel_id", ""))
        team = str(command.get("team_id") or "") or me.team_id
        if not self.access.allows(user, channel, team):
            log.info("slash command refused by the allow lists", extra={"user_id": user})
            if self.settings.refusal_in_private:  # an answer only they see
                await self._respond(command, self.settings.refusal)
            return
        commands = SlashCommands().adding(await self._prompt_names(user))
        request = from_command(command, me, commands=commands, names=await self._names(user))
        if await self.taken.first(request.key, request.team_id):
            await self._answer(request, command)

    async def _handle_stop(self, body: Mapping[str, Any]) -> None:
        click = stop_click(body)
        if click is None:
            return
        text = await self.dispatch.stop(click.value, PlatformUser(PLATFORM, click.user_id))
        if text:
            await self._respond(body, text)

    # --- answering ------------------------------------------------------------------------------

    async def _answer(
        self, request: SlackRequest, command: Mapping[str, Any] | None = None
    ) -> None:
        if request.thread_ts is None:  # a slash command: answered in the thread of an anchor
            anchor = await self._post_anchor(request, command or {})
            if anchor is None:
                return
            request = request.in_thread(anchor)
        assert request.thread_ts is not None and self.client is not None
        self.threads.add(request.channel, request.thread_ts)
        msg = request.message
        if request.files and self.session is not None:
            images = attachments(
                request.files, client=self.client, session=self.session, token=self.token
            )
            msg = replace(msg, attachments=images)
        await self.dispatch.answer(msg, lambda token: self._sink(request, token))

    def _sink(self, request: SlackRequest, stop_token: str | None) -> SlackSink:
        assert self.client is not None and request.thread_ts is not None
        asker = request.message.user

        async def stopped_in_slack() -> None:
            if stop_token is not None:
                await self.dispatch.stop(stop_token, asker)

        return SlackSink(
            self.client,
            request.channel,
            request.thread_ts,
            budget=reply_budget(self.pools, request.team_id, request.channel, request.thread_ts),
            stop_value=stop_token,
            status=self.status,
            streams=self.streams,
            team_id=request.team_id,
            recipient=asker.platform_user_id,
            on_stopped=stopped_in_slack,
        )

    async def _post_anchor(self, request: SlackRequest, command: Mapping[str, Any]) -> str | None:
        """Post "@you asked: …" for a slash command; its ts, or None (the person was told why)."""
        assert self.client is not None
        budget = reply_budget(self.pools, request.team_id, request.channel, "")
        for _ in range(ANCHOR_ATTEMPTS):
            await budget.acquire(POST)
            try:
                posted: Any = await call_api(
                    self.client.chat_postMessage(
                        channel=request.channel,
                        text=anchor_text(request),
                        unfurl_links=False,
                        unfurl_media=False,
                    )
                )
                return str(posted["ts"])
            except SinkRateLimited as exc:
                budget.pause(exc.retry_after, exc.scope)
            except SlackCallFailed as exc:
                if exc.error in NOT_A_MEMBER:
                    name = f"<@{self.me.user_id}>" if self.me else "the bot"
                    await self._respond(command, f"Invite me to this channel first: /invite {name}")
                    return None
                log.warning("slash command anchor failed", extra={"error": str(exc)})
                return None
        return None

    async def _respond(self, payload: Mapping[str, Any], text: str) -> None:
        """Tell the person alone (`response_url`: an ephemeral message)."""
        url = str(payload.get("response_url") or "")
        if not url or self.session is None:
            return
        try:
            hook = AsyncWebhookClient(url, session=self.session, timeout=CALL_TIMEOUT)
            await hook.send(text=text, response_type="ephemeral", replace_original=False)
        except Exception as exc:  # the person's answer is a courtesy; never fail the event
            log.info("could not answer on response_url", extra={"error": str(exc)})

    # --- lookups ----------------------------------------------------------------------------------

    async def _names(self, user: str) -> dict[str, str]:
        """{user: display name} for the sender (users.info once per person, shared by the
        events that ask at the same time, when the tier has room; no name otherwise)."""
        if not user or self.client is None or self.me is None:
            return {}
        known = self.names.get(user)
        if known is None:
            asking = self._asking.get(user)
            if asking is None:
                asking = asyncio.ensure_future(self._look_up(self.client, self.me, user))
                self._asking[user] = asking
                asking.add_done_callback(lambda _: self._asking.pop(user, None))
            known = await asyncio.shield(asking)
        return {user: known} if known else {}

    async def _look_up(self, client: AsyncWebClient, me: BotIdentity, user: str) -> str:
        if not lookup_budget(self.pools, me.team_id).take_now(USERS):
            return ""  # not now; asked again for a later message
        try:
            found: Any = await call_api(client.users_info(user=user))
            profile = found["user"].get("profile") or {}
            name = str(
                profile.get("display_name") or profile.get("real_name")
                or found["user"].get("name") or ""
            )  # fmt: skip
        except (SinkError, KeyError, TypeError):
            name = ""
        self.names.put(user, name)
        return name

    async def _prompt_names(self, user: str) -> list[str]:
        """Prompt commands `user` may run: `/ask NAME text` runs them (looked up each time, so
        a prompt added on any surface works at once)."""
        if self.prompts is None:
            return []
        owner = await self.users.find_identity(PLATFORM, user) if self.users else None
        return [p.command for p in await self.prompts.visible(owner.id if owner else "")]
