"""A pooled connection the server closed just as it was reused (uvicorn's keep-alive, or
llama-cpp-python after an overflow) must not lose the request: it is sent once more."""

from __future__ import annotations

import asyncio
import json

from hub.core.backends import OpenAIBackend
from hub.core.models import ChatMessage
from hub.core.ports import ChatRequest, Final

SSE = (
    b'data: {"choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":null}]}\n\n'
    b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n'
    b"data: [DONE]\n\n"
)


class ClosingServer:
    """Answers the first request on each connection (keep-alive) and closes the connection,
    without a word, when a second request arrives on it."""

    def __init__(self) -> None:
        self.answered = 0
        self.closed_unanswered = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        served = 0
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(
                int(line.split(b":")[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length")
            )
            json.loads(await reader.readexactly(length))
            if served:
                self.closed_unanswered += 1
                writer.close()
                return
            served += 1
            self.answered += 1
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                b"Content-Length: %d\r\n\r\n%s" % (len(SSE), SSE)
            )
            await writer.drain()


async def test_a_request_on_a_connection_the_server_closed_is_sent_again() -> None:
    fake = ClosingServer()
    server = await asyncio.start_server(fake.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    backend = OpenAIBackend("srv", f"http://127.0.0.1:{port}/v1")
    request = ChatRequest("m", (ChatMessage("user", "hello"),))
    try:
        for _ in range(3):
            chunks = [c async for c in backend.chat(request)]
            assert isinstance(chunks[-1], Final)
        assert fake.answered == 3
        assert fake.closed_unanswered == 2  # each reuse was refused, and sent again
    finally:
        await backend.aclose()
        server.close()
        await server.wait_closed()
