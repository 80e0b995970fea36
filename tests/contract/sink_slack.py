"""The Slack sink against the fake Slack, through the real slack_sdk `AsyncWebClient`.

Two variants, each reply in a thread of its own as the connector answers: native chat streams
(`chat.startStream` / `appendStream` / `stopStream`, Markdown Slack renders itself), and the
edit path (`chat.postMessage` / `chat.update`, mrkdwn sections with a Stop button). A streamed
message is compared as the mrkdwn its Markdown converts to, so one `expected` serves both.
"""

from __future__ import annotations

import aiohttp
from slack_sdk.web.async_client import AsyncWebClient

from hub.connectors.slack.budgets import reply_budget
from hub.connectors.slack.sink import SlackSink, StatusSupport, StreamSupport
from hub.core.budget import BudgetPools
from hub.core.markup import slack as mrkdwn
from hub.core.markup.split import split_markdown
from hub.core.ports import MessageSink, Scope, WriteKind
from tests.contract.sink_harness import Failure, Shown, Write
from tests.fakes.slack import FakeSlack
from tests.fakes.slack_state import Message

_KINDS: dict[str, WriteKind] = {
    "chat.postMessage": "send",
    "chat.update": "edit",
    "chat.startStream": "stream",
    "chat.appendStream": "stream",
    "chat.stopStream": "stream",
}
_METHOD: dict[WriteKind, str] = {
    "send": "chat.postMessage",
    "edit": "chat.update",
    "stream": "chat.appendStream",
}


def _unneutralized(markdown: str) -> str:
    """A stream's Markdown without the zero-width spaces that defuse mentions."""
    for head in ("<", "@"):
        markdown = markdown.replace(head + mrkdwn.ZWSP, head)
    return markdown


class SlackHarness:
    max_len = mrkdwn.MAX_LEN
    # Slack's 429 does not say which limit was hit: the sink pauses the whole workspace.
    scopes: tuple[Scope, ...] = ("workspace",)
    failures: frozenset[Failure] = frozenset({"rate_limited", "markup"})

    def __init__(self, *, streams: bool) -> None:
        self.streams = streams
        self.name = "slack-thread-streams" if streams else "slack-thread-edits"
        self.stop_control = not streams  # a stream carries Slack's own stop, not our button
        self.fake = FakeSlack()
        self.pools = BudgetPools()
        self.status = StatusSupport()
        self.support = StreamSupport(enabled=streams)
        self.session: aiohttp.ClientSession | None = None
        self.client: AsyncWebClient | None = None

    async def start(self) -> None:
        await self.fake.start()
        self.session = aiohttp.ClientSession()
        self.client = AsyncWebClient(
            token=self.fake.bot_token, base_url=self.fake.api_url, session=self.session
        )

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()
        await self.fake.stop()

    def chat(self, n: int) -> str:
        channel = f"C0CONTRACT{n}"
        if channel not in self.fake.channels:
            self.fake.add_channel(channel, f"contract-{n}")
        return channel

    def sink(self, chat: str, *, thread: str = "", stop_token: str | None = None) -> MessageSink:
        assert self.client is not None
        root = thread or self.fake.says(chat, "a question").ts
        return SlackSink(
            self.client,
            chat,
            root,
            budget=reply_budget(self.pools, self.fake.team_id, chat, root),
            stop_value=stop_token,
            status=self.status,
            streams=self.support,
            team_id=self.fake.team_id,
            recipient=self.fake.default_user,
        )

    def sibling(self, chat: str, scope: Scope) -> tuple[str, str]:
        return self.chat(900), ""  # another channel of the same workspace

    def fail_next(
        self, kind: WriteKind, failure: Failure, *, retry_after: float = 0.0, scope: Scope = "chat"
    ) -> None:
        if failure == "rate_limited":
            self.fake.fail_next(_METHOD[kind], retry_after=retry_after)
        elif failure == "markup":
            self.fake.fail_next(_METHOD[kind], "invalid_blocks")
        else:
            raise ValueError(f"Slack has no {failure!r} answer")

    def expected(self, markdown: str) -> list[str]:
        parts = split_markdown(markdown, mrkdwn.MAX_LEN, mrkdwn.measure)
        return [mrkdwn.to_mrkdwn(p.text) for p in parts]

    def plain(self, markdown: str) -> str:
        return mrkdwn.to_plain(markdown)

    def _shown(self, message: Message) -> Shown:
        stop = bool(message.buttons)
        if message.markdown:  # streamed (and not replaced by chat.update): Markdown
            return Shown(mrkdwn.to_mrkdwn(_unneutralized(message.content)), True, stop)
        sections = [b for b in message.blocks or [] if b.get("type") == "section"]
        markup = bool(sections) and sections[0]["text"]["type"] == "mrkdwn"
        return Shown(message.content, markup, stop)

    def shown(self, chat: str) -> list[Shown]:
        return [self._shown(m) for m in self.fake.bot_messages(chat)]

    def writes(self, chat: str) -> list[Write]:
        return [
            Write(c.t, _KINDS[c.method], c.status)
            for c in self.fake.calls
            if c.method in _KINDS and c.params.get("channel") == chat
        ]

    def length(self, text: str) -> int:
        return mrkdwn.len16(text)

    def flood_violations(self) -> int:
        return self.fake.enforced_429
