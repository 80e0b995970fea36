"""Batching of streamed events (pure functions, no server)."""

from __future__ import annotations

from hub.api.replies import ContentEvent
from hub.api.streaming import merge_text
from hub.core.models import Done, Extra, Failed, Text


def test_merge_text_joins_runs_and_keeps_order() -> None:
    events: list[ContentEvent] = [
        Text("a"),
        Text("b"),
        Extra({"thinking": "x"}),
        Text("c"),
        Text(""),
        Text("d"),
        Done("abcd"),
    ]
    assert merge_text(events) == [
        Text("ab"),
        Extra({"thinking": "x"}),
        Text("cd"),
        Done("abcd"),
    ]


def test_merge_text_single_events_untouched() -> None:
    failed = Failed("broken")
    assert merge_text([Text("only")]) == [Text("only")]
    assert merge_text([failed]) == [failed]
    assert merge_text([]) == []
