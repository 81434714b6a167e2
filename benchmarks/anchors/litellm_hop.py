"""One LiteLLM hop: LiteLLM's SDK (`litellm.acompletion`) behind uvicorn (one worker, asyncio loop).

``POST /v1/chat/completions`` is passed to ``litellm.acompletion`` against ``--upstream`` (an
OpenAI-compatible base URL) and answered as JSON, or as SSE chunks for a stream, the way LiteLLM's
proxy server answers. This is the core of that proxy without its auth, database and logging layers,
so the proxy itself costs at least this. Used only when litellm, uvicorn and starlette are installed.

    python benchmarks/anchors/litellm_hop.py --port P --upstream http://127.0.0.1:8000/v1
"""

from __future__ import annotations

import argparse
import contextlib
import os
from collections.abc import AsyncIterator
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no network fetch at import

import litellm
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route


def build_app(upstream: str) -> Starlette:
    litellm.suppress_debug_info = True
    litellm.telemetry = False

    async def chat(request: Request) -> Response:
        body: dict[str, Any] = await request.json()
        model = "openai/" + str(body.pop("model"))
        answer = await litellm.acompletion(model=model, api_base=upstream, api_key="bench", **body)
        if not body.get("stream"):
            return JSONResponse(answer.model_dump())

        async def events() -> AsyncIterator[bytes]:
            async for chunk in answer:
                yield b"data: " + chunk.model_dump_json(exclude_none=True).encode() + b"\n\n"
            yield b"data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        print(f"ready {PORT}", flush=True)  # before uvicorn binds: the caller also waits for the port
        yield

    return Starlette(routes=[Route("/v1/chat/completions", chat, methods=["POST"])], lifespan=lifespan)


PORT = 0


def main() -> None:
    global PORT
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True)
    args = parser.parse_args()
    PORT = args.port
    uvicorn.run(build_app(args.upstream), host="127.0.0.1", port=args.port, workers=1, log_level="warning",
                access_log=False, loop="asyncio")  # fmt: skip


if __name__ == "__main__":
    main()
