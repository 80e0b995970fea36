"""The official `openai` client against the hub's `/ollama/v1` routes."""

from __future__ import annotations

import openai
import pytest

from tests.api.conftest import API_KEY, Hub


def client(hub: Hub, key: str = API_KEY) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=hub.ollama_url + "/v1", api_key=key, max_retries=0)


async def test_not_streaming_when_stream_is_absent(hub: Hub) -> None:
    done = await client(hub).chat.completions.create(
        model="alpha", messages=[{"role": "user", "content": "hello there"}]
    )
    assert done.object == "chat.completion"
    assert done.choices[0].message.role == "assistant"
    assert done.choices[0].message.content == "t0 t1 t2 t3 t4"
    assert done.choices[0].finish_reason == "stop"
    assert done.usage is not None
    assert done.usage.completion_tokens == 5
    assert done.usage.total_tokens == done.usage.prompt_tokens + 5


async def test_streaming_with_usage(hub: Hub) -> None:
    stream = await client(hub).chat.completions.create(
        model="alpha:latest",
        messages=[{"role": "user", "content": "hi"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [c async for c in stream]
    content = [c for c in chunks if c.choices and c.choices[0].delta.content]
    assert "".join(c.choices[0].delta.content or "" for c in content) == "t0 t1 t2 t3 t4"
    assert chunks[0].choices[0].delta.role == "assistant"
    assert all(c.choices[0].delta.role is None for c in chunks[1:] if c.choices)
    assert len({c.id for c in chunks}) == 1 and len({c.created for c in chunks}) == 1
    finish = [c for c in chunks if c.choices and c.choices[0].finish_reason]
    assert [c.choices[0].finish_reason for c in finish] == ["stop"]
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 5


async def test_history_options_and_content_parts_reach_the_backend(hub: Hub) -> None:
    await client(hub).chat.completions.create(
        model="alpha",
        messages=[
            {"role": "system", "content": "Be brief."},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "part one, "},
                    {"type": "text", "text": "two"},
                ],
            },
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": "again"},
        ],
        temperature=0.5,
        max_tokens=12,
        seed=3,
        stop=["END"],
        response_format={"type": "json_object"},
    )
    sent = hub.fake.chat_requests[-1].json
    assert [(m["role"], m["content"]) for m in sent["messages"]] == [
        ("system", "Be brief."),
        ("user", "part one, two"),
        ("assistant", "ok"),
        ("user", "again"),
    ]
    assert sent["options"] == {"temperature": 0.5, "num_predict": 12, "seed": 3, "stop": ["END"]}
    assert sent["format"] == "json"


async def test_tool_calls_and_reasoning(hub: Hub) -> None:
    done = await client(hub).chat.completions.create(
        model="thinker", messages=[{"role": "user", "content": "time?"}]
    )
    message = done.choices[0].message
    assert message.content == "It is noon."
    assert done.choices[0].finish_reason == "tool_calls"
    assert message.tool_calls is not None
    call = message.tool_calls[0]
    assert call.type == "function" and call.function.name == "get_time"
    assert call.function.arguments == '{"tz": "UTC"}'


async def test_models(hub: Hub) -> None:
    models = await client(hub).models.list()
    assert {m.id for m in models.data} == set(hub.fake.models)
    assert all(m.object == "model" and m.created > 0 for m in models.data)


async def test_unknown_model_is_a_not_found_error(hub: Hub) -> None:
    with pytest.raises(openai.NotFoundError) as raised:
        await client(hub).chat.completions.create(
            model="nope", messages=[{"role": "user", "content": "hi"}]
        )
    body = raised.value.body
    assert isinstance(body, dict)
    assert body["message"] == "model 'nope' not found"
    assert body["type"] == "not_found_error"


async def test_bad_key_is_an_authentication_error(hub: Hub) -> None:
    with pytest.raises(openai.AuthenticationError):
        await client(hub, key="sk-wrong").models.list()


async def test_mid_stream_error_raises(hub: Hub) -> None:
    stream = await client(hub).chat.completions.create(
        model="broken", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    text = []
    with pytest.raises(openai.APIError):
        async for chunk in stream:
            if chunk.choices:
                text.append(chunk.choices[0].delta.content or "")
    assert "".join(text) == "t0 t1 t2"
