"""A whole hub with the Slack connector, against the fake Slack and the fake Ollama.

`create_app` with a `slack:` section, served by uvicorn on port 0: its lifespan opens the
services (SQLite, in-memory limiter, router, ChatService) and starts the Slack plugin as
`chathub serve` does (auth.test, then the bolt app). Socket Mode connects to the fake's
websocket; in HTTP mode the fake posts signed deliveries to the hub's `/webhooks/slack`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn
from litestar import Litestar

from hub.app import create_app
from hub.connectors.plugin import discover_plugins
from hub.connectors.slack.bot import SlackConnector
from hub.core.chat_config import ChatConfig
from hub.core.markup import slack as mrkdwn
from hub.core.markup.split import split_markdown
from hub.core.routing_config import BackendConfig, RoutingConfig
from hub.runtime import Services
from hub.settings import settings_class
from tests.fakes.ollama import FakeOllama
from tests.fakes.slack import GENERAL, FakeSlack
from tests.fakes.slack_state import Message
from tests.support.wait import until

MODEL = "gemma3:270m"


def unneutralized(markdown: str) -> str:
    """A stream's Markdown without the zero-width spaces that defuse mentions."""
    for head in ("<", "@"):
        markdown = markdown.replace(head + mrkdwn.ZWSP, head)
    return markdown


def as_mrkdwn(message: Message) -> str:
    """What a bot message shows, as mrkdwn: a stream's Markdown is converted, so one expected
    text serves streamed and edited messages alike."""
    if message.markdown:
        return mrkdwn.to_mrkdwn(unneutralized(message.content))
    return message.content


def expected(markdown: str) -> list[str]:
    """Each message of a reply of `markdown`, as `as_mrkdwn` shows it."""
    parts = split_markdown(markdown, mrkdwn.MAX_LEN, mrkdwn.measure)
    return [mrkdwn.to_mrkdwn(p.text) for p in parts]


@dataclass
class SlackHub:
    fake: FakeSlack
    ollama: FakeOllama
    app: Litestar
    url: str
    mode: str

    @property
    def services(self) -> Services:
        services: Services = self.app.state.services
        return services

    @property
    def connector(self) -> SlackConnector:
        found = self.services.extras["connectors"]["slack"]
        assert isinstance(found, SlackConnector)
        return found

    def replies(self, channel: str, thread_ts: str) -> list[Message]:
        return self.fake.bot_messages(channel, thread_ts)

    def shown(self, channel: str, thread_ts: str) -> list[str]:
        return [as_mrkdwn(m) for m in self.replies(channel, thread_ts)]

    async def deliver(self, payload: dict[str, Any], kind: str = "events_api", **kw: Any) -> Any:
        delivery = await self.fake.send(kind, payload, **kw)
        return await delivery.wait()

    async def mention(self, text: str, channel: str = GENERAL, **kw: Any) -> str:
        """A person mentions the bot; the ts of their message (the reply's thread)."""
        body = self.fake.app_mention(channel, text, **kw)
        assert (await self.deliver(body)).acked
        return str(body["event"]["ts"])

    async def idle(self, within: float = 60.0) -> None:
        """Until no reply is being written (and every event was looked at)."""
        await asyncio.sleep(0.05)
        await until(lambda: not self.connector.busy, within=within)


@asynccontextmanager
async def slack_hub(
    tmp: Path,
    *,
    mode: str = "socket",
    chat: ChatConfig | None = None,
    concurrency: int = 4,
    **slack: Any,
) -> AsyncIterator[SlackHub]:
    """The fakes and a running hub; `slack` adds settings of the `slack:` section."""
    fake = FakeSlack()
    await fake.start()
    ollama = await FakeOllama(models=[MODEL]).start()
    section: dict[str, Any] = {"bot_token": fake.bot_token, "base_url": fake.api_url}
    if mode == "socket":
        section["app_token"] = fake.app_token
    else:
        section["signing_secret"] = fake.signing_secret
    section.update(slack)
    settings = settings_class(discover_plugins())(
        _env_file=None,
        data_dir=tmp / "data",
        default_model=MODEL,
        log_level="WARNING",
        chat=chat or ChatConfig(),
        routing=RoutingConfig(
            backends=[BackendConfig(name="local", url=ollama.url, max_concurrency=concurrency)]
        ),
        slack=section,
    )
    app = create_app(settings)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    )
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        url = f"http://127.0.0.1:{port}"
        fake.events_url = url + "/webhooks/slack" if mode == "http" else None
        hub = SlackHub(fake, ollama, app, url, mode)
        if mode == "socket":
            await until(lambda: fake.socket.connected, within=10)
        yield hub
    finally:
        server.should_exit = True
        await task
        await ollama.stop()
        await fake.stop()
