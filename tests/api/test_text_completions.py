"""OpenAI's legacy text completions (`/ollama/v1/completions`, issue 18 item 2) through the
official `openai` client's `completions.create`, answered like Ollama's `/api/generate`."""

from __future__ import annotations

import openai
import pytest

from tests.api.conftest import API_KEY, Hub


def client(hub: Hub) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=hub.ollama_url + "/v1", api_key=API_KEY, max_retries=0)


async def test_completion_whole(hub: Hub) -> None:
    done = await client(hub).completions.create(
        model="alpha", prompt="Once upon a time", max_tokens=40, temperature=0.2, stop=["END"]
    )
    assert done.object == "text_completion" and done.id.startswith("cmpl-")
    assert done.choices[0].text == "t0 t1 t2 t3 t4"
    assert done.choices[0].finish_reason == "stop" and done.choices[0].index == 0
    assert done.usage is not None and done.usage.completion_tokens == 5
    sent = hub.fake.chat_requests[-1]
    assert sent.path == "/api/generate" and sent.json["prompt"] == "Once upon a time"
    assert sent.json["options"] == {"temperature": 0.2, "stop": ["END"], "num_predict": 40}


async def test_completion_streamed_with_usage_and_a_suffix(hub: Hub) -> None:
    stream = await client(hub).completions.create(
        model="gemma3:270m",
        prompt="def add(a, b):\n",
        suffix="\n    return c\n",
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [c async for c in stream]
    assert "".join(c.choices[0].text for c in chunks if c.choices) == "t0 t1 t2 t3 t4"
    assert len({c.id for c in chunks}) == 1
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == "stop" and set(finishes[:-1]) == {None}
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert hub.fake.chat_requests[-1].json["suffix"] == "\n    return c\n"


async def test_completion_errors_are_openai_errors(hub: Hub) -> None:
    with pytest.raises(openai.NotFoundError):
        await client(hub).completions.create(model="nope", prompt="x")
    with pytest.raises(openai.APIError):
        stream = await client(hub).completions.create(model="broken", prompt="x", stream=True)
        async for _ in stream:
            pass
