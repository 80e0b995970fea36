"""Tool calls and thinking in both dialects, streamed and not (issue 18, item 6): an Ollama
backend and an OpenAI-compatible one (vLLM's fragmented tool-call stream and
`reasoning_content`), each read through the official `ollama` and `openai` clients."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import ollama
import openai
import pytest

from hub.core.routing_config import BackendConfig, RoutingConfig
from tests.api.conftest import API_KEY, Hub, hub_settings, running_hub
from tests.fakes.ollama import FakeOllama
from tests.fakes.openai_server import FakeOpenAIServer

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "The weather in a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
]
CALLS = [
    {"function": {"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}}},
    {"function": {"name": "get_weather", "arguments": {"city": "Lyon"}}},
]
ASK = [{"role": "user", "content": "Weather in Paris and Lyon?"}]


def oai(hub: Hub) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=hub.ollama_url + "/v1", api_key=API_KEY, max_retries=0)


def native(hub: Hub) -> ollama.AsyncClient:
    return ollama.AsyncClient(host=hub.ollama_url, headers={"Authorization": f"Bearer {API_KEY}"})


@pytest.fixture
async def vllm_hub(tmp_path: Path) -> AsyncIterator[tuple[Hub, FakeOpenAIServer]]:
    """A hub whose only model is served by an OpenAI-compatible (vLLM) server that thinks and
    calls tools."""
    async with (
        FakeOllama(models=[]) as unused,
        FakeOpenAIServer(
            "vllm", models=["qwen3-8b"], window=8192, tool_calls=CALLS, reasoning=["Hm, ", "two."]
        ) as vllm,
    ):
        routing = RoutingConfig(
            backends=[BackendConfig(name="vllm", kind="openai", url=vllm.v1_url)]
        )
        async with running_hub(hub_settings(tmp_path, unused, routing=routing), unused) as hub:
            yield hub, vllm


async def test_openai_stream_from_an_ollama_backend(hub: Hub) -> None:
    stream = await oai(hub).chat.completions.create(
        model="thinker", messages=[{"role": "user", "content": "time?"}], stream=True, tools=TOOLS
    )
    chunks = [c async for c in stream]
    deltas = [c.choices[0].delta for c in chunks if c.choices]
    reasoning = "".join(getattr(d, "reasoning_content", None) or "" for d in deltas)
    assert reasoning == "Let me think."
    assert "".join(getattr(d, "reasoning", None) or "" for d in deltas) == "Let me think."
    calls = [t for d in deltas for t in (d.tool_calls or [])]
    assert [(t.index, t.type, t.function.name) for t in calls] == [(0, "function", "get_time")]
    assert calls[0].id and json.loads(calls[0].function.arguments or "") == {"tz": "UTC"}
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "tool_calls"
    assert hub.fake.chat_requests[-1].json["tools"] == TOOLS


async def test_openai_whole_reply_from_an_ollama_backend_has_reasoning_content(hub: Hub) -> None:
    done = await oai(hub).chat.completions.create(
        model="thinker", messages=[{"role": "user", "content": "time?"}]
    )
    extra = done.choices[0].message.model_extra or {}
    assert extra["reasoning_content"] == extra["reasoning"] == "Let me think."


async def test_ollama_client_reads_an_openai_backends_tool_calls_and_thinking(
    vllm_hub: tuple[Hub, FakeOpenAIServer],
) -> None:
    hub, vllm = vllm_hub
    parts = [
        p
        async for p in await native(hub).chat(
            "qwen3-8b", messages=ASK, tools=TOOLS, think="high", stream=True
        )
    ]
    assert "".join(p.message.thinking or "" for p in parts) == "Hm, two."
    calls = [c for p in parts for c in (p.message.tool_calls or [])]
    assert [(c.function.name, dict(c.function.arguments)) for c in calls] == [
        ("get_weather", {"city": "Paris", "unit": "celsius"}),
        ("get_weather", {"city": "Lyon"}),
    ]
    sent = vllm.chat_requests[-1].json
    assert sent["tools"] == TOOLS and sent["reasoning_effort"] == "high"

    whole = await native(hub).chat("qwen3-8b", messages=ASK, tools=TOOLS, stream=False)
    assert whole.message.thinking == "Hm, two."
    assert [c.function.name for c in whole.message.tool_calls or []] == ["get_weather"] * 2


async def test_openai_client_reads_an_openai_backends_tool_calls_streamed_and_not(
    vllm_hub: tuple[Hub, FakeOpenAIServer],
) -> None:
    hub, _ = vllm_hub
    stream = await oai(hub).chat.completions.create(
        model="qwen3-8b",
        messages=ASK,
        tools=TOOLS,
        stream=True,  # type: ignore[arg-type]
    )
    chunks = [c async for c in stream]
    deltas = [c.choices[0].delta for c in chunks if c.choices]
    assert "".join(getattr(d, "reasoning_content", None) or "" for d in deltas) == "Hm, two."
    calls = [t for d in deltas for t in (d.tool_calls or [])]
    assert [t.index for t in calls] == [0, 1]
    assert [json.loads(t.function.arguments or "") for t in calls] == [
        {"city": "Paris", "unit": "celsius"},
        {"city": "Lyon"},
    ]
    assert calls[0].id == "chatcmpl-tool-0000"  # the server's ids are kept
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "tool_calls"

    done = await oai(hub).chat.completions.create(model="qwen3-8b", messages=ASK, tools=TOOLS)  # type: ignore[arg-type]
    message = done.choices[0].message
    assert done.choices[0].finish_reason == "tool_calls"
    assert [c.function.name for c in message.tool_calls or []] == ["get_weather"] * 2
    assert (message.model_extra or {})["reasoning_content"] == "Hm, two."


async def test_tool_results_go_back_in_each_backends_shape(
    vllm_hub: tuple[Hub, FakeOpenAIServer],
) -> None:
    """The second turn of a tool call: the assistant's call and the tool's answer."""
    hub, vllm = vllm_hub
    history: list[Any] = [
        *ASK,
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "18 °C, sunny"},
    ]
    await oai(hub).chat.completions.create(model="qwen3-8b", messages=history)
    sent = vllm.chat_requests[-1].json["messages"]
    assert sent[1]["tool_calls"][0]["function"] == {
        "name": "get_weather",
        "arguments": '{"city": "Paris"}',
    }
    assert sent[1]["tool_calls"][0]["id"] == "call_1"
    assert sent[2] == {"role": "tool", "content": "18 °C, sunny", "tool_call_id": "call_1"}


async def test_reasoning_effort_becomes_ollama_think(hub: Hub) -> None:
    await oai(hub).chat.completions.create(
        model="thinker", messages=[{"role": "user", "content": "hm"}], reasoning_effort="minimal"
    )
    assert hub.fake.chat_requests[-1].json["think"] == "low"
    await oai(hub).chat.completions.create(
        model="thinker",
        messages=[{"role": "user", "content": "hm"}],
        extra_body={"reasoning": {"effort": "none"}},
    )
    assert hub.fake.chat_requests[-1].json["think"] is False
    with pytest.raises(openai.BadRequestError) as refused:
        await oai(hub).chat.completions.create(
            model="thinker",
            messages=[{"role": "user", "content": "hm"}],
            reasoning_effort="enormous",  # type: ignore[arg-type]
        )
    assert "reasoning effort" in str(refused.value)
