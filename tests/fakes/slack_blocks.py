"""Block Kit and chat-stream chunk validation, as strict as Slack's for what the hub sends.

Limits (docs.slack.dev/reference/block-kit): at most 50 blocks; a section's text 1–3,000
characters; an actions block 1–25 elements; a button's text up to 75, `action_id` 255 and
`value` 2,000; `block_id` up to 255 and unique; markdown blocks 12,000 together. A stream
append's text (`markdown_text` or `markdown_text` chunks) is at most 12,000 characters.
"""

from __future__ import annotations

from typing import Any

from tests.fakes.slack_state import len16

BLOCK_TYPES = {
    "section", "actions", "context", "divider", "header", "markdown", "rich_text", "image",
    "context_actions",
}  # fmt: skip
SECTION_TEXT_LIMIT = 3_000
STREAM_TEXT_LIMIT = 12_000
Problem = tuple[str, str]  # (error, detail for response_metadata)


def _text_object(value: Any, limit: int, where: str) -> str | None:
    if not isinstance(value, dict) or value.get("type") not in ("mrkdwn", "plain_text"):
        return f"{where} must be a text object"
    text = value.get("text")
    if not isinstance(text, str) or not text:
        return f"{where} must have a non-empty text"
    if len16(text) > limit:
        return f"{where} must be less than {limit + 1} characters"
    return None


def _button(element: Any, where: str) -> str | None:
    if not isinstance(element, dict) or element.get("type") != "button":
        return None  # other interactive elements are not checked in detail
    problem = _text_object(element.get("text"), 75, f"{where}.text")
    if problem is None and element["text"].get("type") != "plain_text":
        problem = f"{where}.text must be plain_text"
    if problem is None and len(str(element.get("action_id", ""))) > 255:
        problem = f"{where}.action_id must be less than 256 characters"
    if problem is None and len(str(element.get("value", ""))) > 2000:
        problem = f"{where}.value must be less than 2001 characters"
    if problem is None and element.get("style") not in (None, "primary", "danger"):
        problem = f"{where}.style must be primary or danger"
    return problem


def _block(block: Any, where: str) -> str | None:
    if not isinstance(block, dict) or block.get("type") not in BLOCK_TYPES:
        return f"{where}.type is not a known block type"
    kind = block["type"]
    if kind == "section":
        if "text" not in block and "fields" not in block:
            return f"{where} must have text or fields"
        if "text" in block:
            return _text_object(block["text"], SECTION_TEXT_LIMIT, f"{where}.text")
    if kind == "actions":
        elements = block.get("elements")
        if not isinstance(elements, list) or not 1 <= len(elements) <= 25:
            return f"{where}.elements must hold 1 to 25 elements"
        for k, element in enumerate(elements):
            problem = _button(element, f"{where}.elements[{k}]")
            if problem is not None:
                return problem
    if kind == "markdown" and not isinstance(block.get("text"), str):
        return f"{where}.text must be a string"
    return None


def check_blocks(blocks: Any) -> Problem | None:
    """None when Slack would accept `blocks`, else (error, detail)."""
    if isinstance(blocks, str) or not isinstance(blocks, list):
        return "invalid_blocks_format", "blocks must be a JSON array"
    if len(blocks) > 50:
        return "invalid_blocks", "no more than 50 items allowed [json-pointer:/blocks]"
    ids: set[str] = set()
    markdown = 0
    for i, block in enumerate(blocks):
        problem = _block(block, f"/blocks/{i}")
        if problem is not None:
            return "invalid_blocks", problem
        block_id = block.get("block_id")
        if block_id is not None:
            if len(str(block_id)) > 255 or block_id in ids:
                return "invalid_blocks", f"/blocks/{i}/block_id must be unique and short"
            ids.add(str(block_id))
        if block["type"] == "markdown":
            markdown += len16(block["text"])
    if markdown > STREAM_TEXT_LIMIT:
        return "msg_blocks_too_long", "markdown blocks exceed 12000 characters"
    return None


def stream_text(markdown_text: Any, chunks: Any) -> tuple[str, str | None]:
    """The text a stream call appends: `markdown_text`, then the markdown_text chunks."""
    parts: list[str] = []
    if markdown_text is not None:
        if not isinstance(markdown_text, str):
            return "", "invalid_arguments"
        parts.append(markdown_text)
    if chunks is not None:
        if not isinstance(chunks, list):
            return "", "invalid_chunks"
        for chunk in chunks:
            if not isinstance(chunk, dict) or "type" not in chunk:
                return "", "invalid_chunks"
            if chunk["type"] == "markdown_text":
                if not isinstance(chunk.get("text"), str):
                    return "", "invalid_chunks"
                parts.append(chunk["text"])
            elif chunk["type"] not in ("task_update", "plan_update", "blocks"):
                return "", "invalid_chunks"
    text = "".join(parts)
    if len16(text) > STREAM_TEXT_LIMIT:
        return "", "msg_too_long"
    return text, None
