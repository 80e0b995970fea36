"""Images shared with a Slack message, as the hub's attachments (downloaded only if a model will
see them).

Slack serves a file's `url_private_download` only with the bot token (`Authorization: Bearer`,
scope `files:read`); without it Slack answers with its sign-in page, which is why the answer's
type is checked. A file shared from another workspace (Slack Connect) comes without URLs
(`file_access: check_file_info`): `files.info` gives them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from slack_sdk.web.async_client import AsyncWebClient

from hub.connectors.slack.calls import call_api
from hub.connectors.slack.events import SlackFile
from hub.core.models import Attachment

DOWNLOAD_TIMEOUT = aiohttp.ClientTimeout(total=60)


class DownloadFailed(Exception):
    """A file could not be downloaded (the message is log-safe: no token, no URL query)."""


def attachments(
    files: tuple[SlackFile, ...],
    *,
    client: AsyncWebClient,
    session: aiohttp.ClientSession,
    token: str,
) -> tuple[Attachment, ...]:
    """The images among `files`, each fetched on demand."""
    return tuple(
        Attachment("image", f.mimetype, f.size, f.name, _fetcher(f, client, session, token))
        for f in files
        if f.is_image
    )


def _fetcher(
    file: SlackFile, client: AsyncWebClient, session: aiohttp.ClientSession, token: str
) -> Callable[[], Awaitable[bytes]]:
    async def fetch() -> bytes:
        url = file.url or await _url_of(client, file.id)
        headers = {"Authorization": f"Bearer {token}"}
        async with session.get(url, headers=headers, timeout=DOWNLOAD_TIMEOUT) as response:
            kind = response.headers.get("Content-Type", "")
            if response.status != 200:
                raise DownloadFailed(f"slack file {file.id}: HTTP {response.status}")
            if not kind.startswith("image/"):
                raise DownloadFailed(f"slack file {file.id}: got {kind or 'no type'}, not an image")
            return await response.read()

    return fetch


async def _url_of(client: AsyncWebClient, file_id: str) -> str:
    info: Any = await call_api(client.files_info(file=file_id))
    found = info.get("file") or {}
    url = found.get("url_private_download") or found.get("url_private") or ""
    if not url:
        raise DownloadFailed(f"slack file {file_id}: files.info gave no download URL")
    return str(url)
