"""Embedding routes: Ollama's `/api/embed` and legacy `/api/embeddings`, OpenAI's
`/v1/embeddings` (floats, or base64 as the `openai` client asks by default).

Every one goes through `EmbeddingService` (hub/core/embedding.py): the caller's token budget
and the model's rate, the router's fair queue and failover, usage counting. Open WebUI indexes
documents with `POST /api/embed {"input": [...], "model": …, "truncate": true}`
(`retrieval/utils.py`, `agenerate_ollama_batch_embeddings`) and reads `embeddings`.
"""

from __future__ import annotations

import array
import base64
import sys
from dataclasses import replace
from typing import Any

import msgspec
from litestar import Request, post
from litestar.di import NamedDependency
from litestar.params import JSONBody

from hub.api.auth import Caller, services_of
from hub.api.catalog import catalog_of
from hub.api.doc_shapes import EMBED_ERRORS, OPENAI_ERRORS
from hub.api.errors import ApiError, error_from_failed
from hub.api.incoming import HTTP_PLATFORM
from hub.api.request_log import note_model
from hub.core.embedding import EmbeddingService
from hub.core.models import Failed
from hub.core.ports import Embeddings, EmbedRequest
from hub.core.wording import for_http

_STATE_KEY = "hub_embeddings"


class OllamaEmbedRequest(msgspec.Struct, kw_only=True):
    """`POST /api/embed`: one text or a list; no input loads the model."""

    model: str
    input: str | list[str] = ""
    truncate: bool | None = None
    dimensions: int | None = None
    options: dict[str, Any] | None = None
    keep_alive: str | int | float | None = None


class OllamaEmbedResponse(msgspec.Struct, omit_defaults=True):
    model: str
    embeddings: list[list[float]]
    total_duration: int = 0
    load_duration: int = 0
    prompt_eval_count: int = 0


class OllamaEmbeddingsRequest(msgspec.Struct, kw_only=True):
    """`POST /api/embeddings` (superseded by `/api/embed`): one `prompt`."""

    model: str
    prompt: str = ""
    options: dict[str, Any] | None = None
    keep_alive: str | int | float | None = None


class OllamaEmbeddingsResponse(msgspec.Struct):
    embedding: list[float]


class OpenAIEmbedRequest(msgspec.Struct, kw_only=True):
    """`POST /v1/embeddings`. Token arrays as input are not accepted (nor by Ollama)."""

    model: str
    input: str | list[str]
    dimensions: int | None = None
    encoding_format: str = "float"
    user: str | None = None


class OpenAIEmbedding(msgspec.Struct):
    object: str
    embedding: list[float] | str
    index: int


class OpenAIEmbedUsage(msgspec.Struct):
    prompt_tokens: int
    total_tokens: int


class OpenAIEmbedResponse(msgspec.Struct):
    object: str
    data: list[OpenAIEmbedding]
    model: str
    usage: OpenAIEmbedUsage


def embedding_service_of(request: Request[Any, Any, Any]) -> EmbeddingService:
    """The app's EmbeddingService over the running router, limits and usage store."""
    state = request.app.state
    service: EmbeddingService | None = state.get(_STATE_KEY)
    if service is None:
        services = services_of(request)
        service = EmbeddingService(
            services.router,
            services.limits,
            services.stores.usage,
            chars_per_token=services.settings.chat.chars_per_token,
        )
        state[_STATE_KEY] = service
    return service


async def _embed(
    request: Request[Any, Any, Any], caller: Caller, embed: EmbedRequest
) -> Embeddings:
    """Resolve the model (`x` and `x:latest` alike), run the request, or raise its error."""
    model = await catalog_of(request).resolve(embed.model)
    note_model(model)
    embed = replace(embed, model=model)
    user = caller.user
    outcome = await embedding_service_of(request).embed(
        user, embed, platform=HTTP_PLATFORM, chat_id=caller.chat_id or user.id
    )
    if isinstance(outcome, Failed):
        worded = for_http(outcome)
        assert isinstance(worded, Failed)
        raise error_from_failed(worded)
    return outcome


@post("/api/embed", status_code=200, responses=EMBED_ERRORS)
async def ollama_embed(
    request: Request[Any, Any, Any],
    data: JSONBody[OllamaEmbedRequest],
    caller: NamedDependency[Caller],
) -> OllamaEmbedResponse:
    """Vectors for each input, normalised, as Ollama computes them."""
    if isinstance(data.input, str):  # as Ollama: an empty string is no input at all
        inputs: tuple[str, ...] = (data.input,) if data.input else ()
    else:
        inputs = tuple(data.input)
    embed = EmbedRequest(
        model=data.model,
        inputs=inputs,
        truncate=data.truncate,
        dimensions=data.dimensions,
        options=data.options or {},
        keep_alive=data.keep_alive,
    )
    result = await _embed(request, caller, embed)
    return OllamaEmbedResponse(
        model=data.model,
        embeddings=result.vectors,
        total_duration=result.total_duration,
        load_duration=result.load_duration,
        prompt_eval_count=result.prompt_tokens,
    )


@post("/api/embeddings", status_code=200, responses=EMBED_ERRORS)
async def ollama_embeddings(
    request: Request[Any, Any, Any],
    data: JSONBody[OllamaEmbeddingsRequest],
    caller: NamedDependency[Caller],
) -> OllamaEmbeddingsResponse:
    """The older single-prompt route: one vector (an empty prompt loads the model)."""
    embed = EmbedRequest(
        model=data.model,
        inputs=(data.prompt,),
        options=data.options or {},
        keep_alive=data.keep_alive,
        legacy=True,
    )
    result = await _embed(request, caller, embed)
    return OllamaEmbeddingsResponse(embedding=result.vectors[0] if result.vectors else [])


def float32_base64(vector: list[float]) -> str:
    """The vector as little-endian float32 bytes in base64, as OpenAI sends `base64`."""
    packed = array.array("f", vector)
    if sys.byteorder != "little":
        packed.byteswap()
    return base64.b64encode(packed.tobytes()).decode("ascii")


@post("/embeddings", status_code=200, responses=OPENAI_ERRORS)
async def openai_embeddings(
    request: Request[Any, Any, Any],
    data: JSONBody[OpenAIEmbedRequest],
    caller: NamedDependency[Caller],
) -> OpenAIEmbedResponse:
    """OpenAI's embeddings, `encoding_format` float or base64."""
    if data.encoding_format not in ("float", "base64"):
        raise ApiError(400, "encoding_format must be 'float' or 'base64'")
    inputs = (data.input,) if isinstance(data.input, str) else tuple(data.input)
    if not inputs or not all(inputs):
        raise ApiError(400, "input must be a non-empty string or a list of non-empty strings")
    embed = EmbedRequest(model=data.model, inputs=inputs, dimensions=data.dimensions)
    result = await _embed(request, caller, embed)
    encode = float32_base64 if data.encoding_format == "base64" else None
    items = [
        OpenAIEmbedding("embedding", encode(v) if encode else v, i)
        for i, v in enumerate(result.vectors)
    ]
    tokens = result.prompt_tokens
    return OpenAIEmbedResponse("list", items, data.model, OpenAIEmbedUsage(tokens, tokens))
