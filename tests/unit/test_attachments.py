"""Images with chat messages: capabilities, limits and what the pipeline does with them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from hub.core.attachments import ImageIntake, vision_of
from hub.core.chat_config import ChatConfig
from hub.core.limits.config import LimitsConfig
from hub.core.limits.gate import PolicyLimitGate
from hub.core.limits.memory import MemoryRateLimiter
from hub.core.models import Attachment, IncomingMessage, PlatformUser, User


@pytest.mark.parametrize(
    ("body", "sees"),
    [
        ({"capabilities": ["completion", "vision"]}, True),
        ({"capabilities": ["completion"]}, False),
        ({"details": {}}, None),
        (None, None),
        # The hub's stand-in for an OpenAI-compatible server: only listed modalities count.
        ({"capabilities": ["completion"], "remote": {"id": "m"}}, None),
        ({"remote": {"architecture": {"input_modalities": ["text", "image"]}}}, True),
        ({"remote": {"architecture": {"input_modalities": ["text"]}}}, False),
    ],
)
def test_vision_from_show_bodies(body: Mapping[str, Any] | None, sees: bool | None) -> None:
    assert vision_of(body) is sees


class Shows:
    def __init__(self, body: Mapping[str, Any] | None) -> None:
        self.body, self.calls = body, 0

    async def show(self, model: str) -> Mapping[str, Any] | None:
        self.calls += 1
        return self.body


def photo_message(count: int, size: int = 100, text: str = "look") -> IncomingMessage:
    images = tuple(Attachment("image", "image/jpeg", size) for _ in range(count))
    who = PlatformUser("telegram", "1", "Ada")
    return IncomingMessage("telegram", "1", who, text, attachments=images)


async def test_only_the_first_images_go_and_capabilities_are_remembered() -> None:
    router = Shows({"capabilities": ["vision"]})
    intake = ImageIntake(ChatConfig(max_images=2), router)
    result = await intake.inspect(photo_message(3), "llava")
    assert len(result.images) == 2
    assert result.notices == ("Only the first 2 of your 3 images were sent.",)
    await intake.inspect(photo_message(1), "llava")
    assert router.calls == 1


async def test_an_unknown_size_is_not_refused_and_a_known_one_is() -> None:
    intake = ImageIntake(ChatConfig(max_image_bytes=2 * 1024 * 1024), Shows(None))
    assert (await intake.inspect(photo_message(1, size=0), "m")).images
    refused = await intake.inspect(photo_message(1, size=5 * 1024 * 1024), "m")
    assert refused.refusal.startswith("That image is 5.0 MB; images up to 2.0 MB")


async def test_a_workspace_limit_is_shared_by_its_chats() -> None:
    config = LimitsConfig.model_validate({"per_workspace": "2/minute"})
    gate = PolicyLimitGate(config, MemoryRateLimiter())
    alice, bob = User(id="a", name="A"), User(id="b", name="B")
    assert (await gate.admit(alice, "slack", "C1", "m", workspace="T1")).allowed
    assert (await gate.admit(bob, "slack", "C2", "m", workspace="T1")).allowed
    third = await gate.admit(alice, "slack", "C3", "m", workspace="T1")
    assert not third.allowed and third.message.startswith("Rate limit reached (2 per minute)")
    assert (await gate.admit(alice, "slack", "C1", "m", workspace="T2")).allowed
    assert (await gate.admit(alice, "telegram", "42", "m")).allowed  # no workspace: no check
