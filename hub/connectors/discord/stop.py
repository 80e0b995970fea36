"""The Stop button under a streaming Discord reply: a `discord.ui.View` with one button.

The button's `custom_id` is the stop token the connector encodes (which reply, who asked), so
the hub can authorise a press itself. A press calls `on_press` with the interaction and, if
that did not answer it, acknowledges it silently (deferred update), so Discord never shows
"This interaction failed". The view has no timeout: a reply may stream for minutes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import discord

OnPress = Callable[[discord.Interaction], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class StopControl:
    """What a sink needs to put a Stop button under its messages."""

    custom_id: str  # at most 100 characters (Discord's limit)
    on_press: OnPress

    def view(self) -> StopView:
        return StopView(self.custom_id, self.on_press)


class StopView(discord.ui.View):
    """One "⏹ Stop" button calling `on_press`."""

    def __init__(self, custom_id: str, on_press: OnPress) -> None:
        super().__init__(timeout=None)
        if not 1 <= len(custom_id) <= 100:
            raise ValueError("a Discord custom_id has 1 to 100 characters")
        self.on_press = on_press
        button: discord.ui.Button[StopView] = discord.ui.Button(
            label="Stop", emoji="⏹", style=discord.ButtonStyle.secondary, custom_id=custom_id
        )
        button.callback = self._pressed  # type: ignore[method-assign]
        self.add_item(button)

    async def _pressed(self, interaction: discord.Interaction) -> None:
        await self.on_press(interaction)
        if not interaction.response.is_done():
            await interaction.response.defer()
