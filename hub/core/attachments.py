"""Images sent with a chat message: size limits, whether the model can see them, downloading.

Before a message is admitted, `ImageIntake.inspect` decides which images go to the model:
- an image over `chat.max_image_bytes` refuses the message with a sentence saying the limit (a
  reply about the text alone would look like an answer about the picture);
- more than `chat.max_images`: the first ones go, with a notice;
- a model whose `/api/show` lists `capabilities` without `vision` gets the text only, with a
  notice naming the model and how to choose another; an image without any text is refused
  the same way. A backend that does not report capabilities (OpenAI-compatible servers) gets
  the images and decides itself.
Downloads happen only for the images that will be sent (`load`), as base64 for the backends
(Ollama `images`, OpenAI `image_url` parts).
"""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from hub.core.chat_config import ChatConfig
from hub.core.models import Attachment, IncomingMessage
from hub.core.wording import CHOOSE_VISION

log = logging.getLogger(__name__)

CAPABILITY_TTL = 300.0  # seconds a model's reported capabilities are trusted


class ShowsModels(Protocol):
    async def show(self, model: str) -> Mapping[str, Any] | None: ...


class AttachmentError(Exception):
    """An attachment could not be used; `reason` is a sentence for the user."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Intake:
    """What to do with a message's images: refuse it, tell the user something, send these."""

    refusal: str = ""
    notices: tuple[str, ...] = ()
    images: tuple[Attachment, ...] = ()


def _size(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.1f} MB"
    return f"{max(1, round(size / 1024))} KB"


@dataclass
class ImageIntake:
    """Applies the image rules above for one hub; remembers what each model can do."""

    config: ChatConfig
    router: ShowsModels
    clock: Callable[[], float] = time.monotonic
    _vision: dict[str, tuple[bool | None, float]] = field(default_factory=dict)

    async def inspect(self, msg: IncomingMessage, model: str) -> Intake:
        images = tuple(a for a in msg.attachments if a.kind == "image")
        if not images:
            return Intake()
        limit = self.config.max_image_bytes
        too_big = next((a for a in images if a.size > limit), None)
        if too_big is not None:
            return Intake(
                refusal=f"That image is {_size(too_big.size)}; images up to "
                f"{_size(limit)} can be sent to a model. Send a smaller one."
            )
        if await self.sees_images(model) is False:
            choose = CHOOSE_VISION.chat
            if not msg.text.strip():
                return Intake(refusal=f"{model} cannot see images. {choose}.")
            return Intake(
                notices=(f"{model} cannot see images, so it only got your text. {choose}.",)
            )
        notices: tuple[str, ...] = ()
        if len(images) > self.config.max_images:
            kept = self.config.max_images
            notices = (f"Only the first {kept} of your {len(images)} images were sent.",)
            images = images[:kept]
        return Intake(notices=notices, images=images)

    async def sees_images(self, model: str) -> bool | None:
        """True/False when the backend says (`capabilities`), None when it does not."""
        cached = self._vision.get(model)
        if cached is not None and cached[1] > self.clock():
            return cached[0]
        sees = vision_of(await self.router.show(model))
        self._vision[model] = (sees, self.clock() + CAPABILITY_TTL)
        return sees


def vision_of(body: Mapping[str, Any] | None) -> bool | None:
    """Whether an `/api/show` body says the model sees images (None: it does not say).

    Ollama lists `capabilities`. For an OpenAI-compatible server the hub's body is a stand-in
    around the server's own model item (`remote`), whose capabilities are not reported; only
    servers that list input modalities (OpenRouter's `architecture.input_modalities`) tell.
    """
    if not body:
        return None
    remote = body.get("remote")
    if isinstance(remote, Mapping):
        architecture = remote.get("architecture")
        modalities = (
            architecture.get("input_modalities") if isinstance(architecture, Mapping) else None
        )
        return "image" in modalities if isinstance(modalities, list) else None
    capabilities = body.get("capabilities")
    return "vision" in capabilities if isinstance(capabilities, list) else None


async def load_images(attachments: tuple[Attachment, ...]) -> tuple[str, ...]:
    """Download `attachments` as base64 strings; raises AttachmentError saying what failed."""
    out = []
    for attachment in attachments:
        if attachment.fetch is None:
            continue
        try:
            data = await attachment.fetch()
        except Exception as exc:
            log.warning("image download failed", extra={"error": str(exc)})
            raise AttachmentError(
                "I could not download your image from the chat platform. Try sending it again."
            ) from exc
        out.append(base64.b64encode(data).decode("ascii"))
    return tuple(out)
