"""The built-in engine's front: an OpenAI server in front of llama.cpp's ``llama-server``.

It runs in the ``cocoon engine serve`` process and is what the worker talks to. Almost everything
passes through as llama-server answers it, byte for byte and streamed as it comes: ``GET /health``,
``GET /v1/models``, ``POST /v1/embeddings``, every other route, and chat or completion requests that
need nothing changed. Two kinds of request are rewritten (the pure parts: `cocoon.engine.llama_rewrite`):

* a chat request whose ``tool_choice`` forces a call (``"required"`` or a named function) is asked as
  a grammar-constrained JSON answer and answered as OpenAI's ``tool_calls`` (streamed when asked:
  the call is generated whole, then sent as chunks);
* a request for ``n`` > 1 choices is asked as ``n`` requests of one choice, at the same time, and
  their answers or streams are merged, so that its usage counts every choice.

``POST /v1/responses`` and ``POST /v1/audio/transcriptions`` are 404 (``unknown_url``): the worker
translates the Responses API onto chat completions itself. llama-server's own errors pass through
with their status and body; an upstream that cannot be reached, or breaks before answering, is a 502
with an OpenAI error body; one that breaks in the middle of a stream cuts the stream (no ``[DONE]``),
as the engine itself would have.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import aiohttp
import msgspec
from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

from cocoon.engine.llama_rewrite import (
    CHAT_PATH,
    COMPLETION_PATH,
    StreamMerger,
    constrained_request,
    forced_tools,
    merge_answers,
    split_n,
    tool_call_answer,
    tool_call_events,
)
from cocoon.errors import ConfigError, DecodeError, RequestError

log = logging.getLogger(__name__)

UPSTREAM = web.AppKey("llama_front_upstream", str)
"""The base URL of the llama-server behind the front (no trailing slash)."""
SESSION = web.AppKey("llama_front_session", aiohttp.ClientSession)
"""The front's one HTTP client session to llama-server (open while the app runs)."""
NOT_SERVED = ("/v1/responses", "/v1/audio/transcriptions")
"""Routes the front answers 404 (``unknown_url``) instead of llama-server."""
MAX_BODY_BYTES = 64 * 1024 * 1024
"""The largest request body the front reads (the worker's own limit is far smaller)."""

# Headers that describe one connection, not the message (RFC 9110 7.6.1), and those the relay sets
# itself: none of them is copied from one side to the other.
_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)
_JSON = "application/json"
_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode


class _Answered(Exception):
    """An upstream answer that ends the request as it is (an error status, or a 502 of ours)."""

    def __init__(self, response: web.Response) -> None:
        super().__init__(response.status)
        self.response = response


def _error(status: int, message: str, *, error_type: str, code: str | None = None) -> web.Response:
    body = {"error": {"message": message, "type": error_type, "param": None, "code": code}}
    return web.Response(status=status, body=_encode(body), content_type=_JSON)


def _refused(error: RequestError) -> web.Response:
    return web.Response(status=error.status, body=_encode(error.to_body()), content_type=_JSON)


def engine_failed(reason: object) -> web.Response:
    """The 502 answered when llama-server cannot be reached or breaks before it answers."""
    return _error(502, f"the engine failed: {reason or 'connection lost'}", error_type="engine_error")


def _request_headers(headers: Mapping[str, str]) -> CIMultiDict[str]:
    """The client's headers for llama-server, without connection-level ones nor a Content-Encoding
    (the server side has already decompressed the body). The accepted encoding is the client's or
    none: the front does not decompress answers, so llama-server must not compress uninvited."""
    out = CIMultiDict(
        (k, v) for k, v in headers.items() if k.lower() not in _HOP and k.lower() != "content-encoding"
    )
    out.setdefault("Accept-Encoding", "identity")
    return out


def _json_headers(headers: Mapping[str, str]) -> CIMultiDict[str]:
    """`_request_headers` for a JSON body of the front's own making."""
    out = _request_headers(headers)
    out["Content-Type"] = _JSON
    return out


def _response_headers(headers: CIMultiDictProxy[str]) -> CIMultiDict[str]:
    return CIMultiDict((k, v) for k, v in headers.items() if k.lower() not in _HOP)


def _cut(request: web.Request) -> None:
    """End a stream already begun as a broken engine does: the connection drops, no ``[DONE]``, so
    the caller sees a cut stream, never a complete-looking one."""
    if request.transport is not None:
        request.transport.abort()


async def _pass(request: web.Request) -> web.StreamResponse:
    """Any route the front does not change: relayed as it is."""
    return await _relay(request, await request.read())


async def _relay(request: web.Request, body: bytes) -> web.StreamResponse:
    """Send ``body`` to the same route of llama-server and relay its answer: status, headers and
    bytes as they arrive (no parsing: this is on the path of every token)."""
    session = request.app[SESSION]
    url = request.app[UPSTREAM] + request.raw_path
    try:
        upstream = await session.request(
            request.method, url, data=body or None, headers=_request_headers(request.headers)
        )
    except (aiohttp.ClientError, OSError) as exc:
        return engine_failed(exc)
    try:
        resp = web.StreamResponse(
            status=upstream.status, reason=upstream.reason, headers=_response_headers(upstream.headers)
        )
        if upstream.content_length is not None:
            resp.content_length = upstream.content_length
        await resp.prepare(request)
        try:
            async for data in upstream.content.iter_any():
                await resp.write(data)
        except (aiohttp.ClientError, OSError) as exc:
            log.warning("engine stream broke on %s: %s", request.path, exc or type(exc).__name__)
            _cut(request)
            return resp
        await resp.write_eof()
        return resp
    finally:
        upstream.close()  # after a whole answer a no-op; otherwise llama-server sees the caller leave


async def _not_served(request: web.Request) -> web.Response:
    return _refused(
        RequestError(
            f"Unknown endpoint {request.path}: this engine serves chat completions "
            "(the Responses API is translated onto them before it gets here).",
            status=404,
            code="unknown_url",
        )
    )


def _include_usage(body: Mapping[str, Any]) -> bool:
    options = body.get("stream_options")
    return bool(isinstance(options, dict) and options.get("include_usage"))


async def _generate(request: web.Request) -> web.StreamResponse:
    """``POST /v1/chat/completions`` and ``/v1/completions``: relayed, unless the request forces a
    tool call or asks for several choices."""
    raw = await request.read()
    try:
        body = _decode(raw)
    except msgspec.DecodeError:
        body = None
    if not isinstance(body, dict):
        return await _relay(request, raw)  # llama-server refuses it in its own words
    try:
        tools = forced_tools(body) if request.path == CHAT_PATH else None
    except RequestError as exc:
        return _refused(exc)
    parts = split_n(body)
    if tools is None and parts is None:
        return await _relay(request, raw)
    requests = parts or [body]
    stream = bool(body.get("stream"))
    try:
        if tools is not None:
            answer = tool_call_answer(
                await _ask_all(request, [constrained_request(r, tools) for r in requests]), tools
            )
            if stream:
                events = b"".join(tool_call_events(answer, _include_usage(body)))
                return web.Response(
                    body=events, headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
                )
            return web.Response(body=_encode(answer), content_type=_JSON)
        if stream:
            return await _merge_streams(request, requests, include_usage=_include_usage(body))
        return web.Response(body=_encode(await _ask_all(request, requests)), content_type=_JSON)
    except _Answered as answered:
        return answered.response


async def _ask(request: web.Request, body: dict[str, Any]) -> dict[str, Any]:
    """llama-server's whole answer to ``body`` (`_Answered` with its error, or our 502)."""
    session = request.app[SESSION]
    try:
        async with session.post(
            request.app[UPSTREAM] + request.path,
            data=_encode(body),
            headers=_json_headers(request.headers),
        ) as upstream:
            data = await upstream.read()
            if upstream.status != 200:
                raise _Answered(
                    web.Response(
                        status=upstream.status, body=data, headers=_response_headers(upstream.headers)
                    )
                )
    except (aiohttp.ClientError, OSError) as exc:
        raise _Answered(engine_failed(exc)) from exc
    try:
        answer = _decode(data)
    except msgspec.DecodeError:
        answer = None
    if not isinstance(answer, dict):
        raise _Answered(engine_failed("its answer is not a JSON object"))
    return answer


async def _ask_all(request: web.Request, bodies: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The merged whole answers to ``bodies``, asked at the same time; the first failure ends them all
    (`_Answered`)."""
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(_ask(request, body)) for body in bodies]
    except ExceptionGroup as failed:
        raise _first_answered(failed) from None
    return merge_answers([task.result() for task in tasks])


def _first_answered(failed: BaseExceptionGroup[BaseException]) -> BaseException:
    """The `_Answered` among a task group's failures (the first), else the group itself."""
    answered = failed.subgroup(_Answered)
    return answered.exceptions[0] if answered is not None else failed


async def _open_stream(
    request: web.Request, body: dict[str, Any], index: int, opened: list[aiohttp.ClientResponse | None]
) -> None:
    """Start the stream of ``body`` as ``opened[index]`` (`_Answered` if llama-server refuses it)."""
    session = request.app[SESSION]
    try:
        upstream = await session.post(
            request.app[UPSTREAM] + request.path,
            data=_encode(body),
            headers=_json_headers(request.headers),
        )
    except (aiohttp.ClientError, OSError) as exc:
        raise _Answered(engine_failed(exc)) from exc
    opened[index] = upstream
    if upstream.status != 200:
        try:
            data = await upstream.read()
        except (aiohttp.ClientError, OSError) as exc:
            raise _Answered(engine_failed(exc)) from exc
        raise _Answered(
            web.Response(status=upstream.status, body=data, headers=_response_headers(upstream.headers))
        )


async def _merge_streams(
    request: web.Request, bodies: Sequence[dict[str, Any]], *, include_usage: bool
) -> web.StreamResponse:
    """The streams of ``bodies`` (one choice each) merged into one (`StreamMerger`), each chunk sent
    as soon as it arrives. All are opened before the answer starts, so that an error is still a status."""
    opened: list[aiohttp.ClientResponse | None] = [None] * len(bodies)
    try:
        try:
            async with asyncio.TaskGroup() as group:
                for index, body in enumerate(bodies):
                    group.create_task(_open_stream(request, body, index, opened))
        except ExceptionGroup as failed:
            raise _first_answered(failed) from None
        upstreams = [upstream for upstream in opened if upstream is not None]
        return await _relay_merged(request, upstreams, StreamMerger(len(bodies), include_usage=include_usage))
    finally:
        for upstream in opened:
            if upstream is not None:
                upstream.close()  # a stream cut short: llama-server sees the caller leave and stops


async def _relay_merged(
    request: web.Request, upstreams: Sequence[aiohttp.ClientResponse], merger: StreamMerger
) -> web.StreamResponse:
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    await resp.prepare(request)
    writing = asyncio.Lock()  # one writer at a time; waiting on it is what slows a fast upstream down

    async def pump(index: int, upstream: aiohttp.ClientResponse) -> None:
        async for data in upstream.content.iter_any():
            out = merger.feed(index, data)
            if out:
                async with writing:
                    await resp.write(out)

    try:
        async with asyncio.TaskGroup() as group:
            for index, upstream in enumerate(upstreams):
                group.create_task(pump(index, upstream))
    except ExceptionGroup as failed:
        broken = failed.subgroup((aiohttp.ClientError, OSError, DecodeError))
        if broken is None or broken.exceptions != failed.exceptions:
            raise
        log.warning("engine stream broke on %s: %s", request.path, broken.exceptions[0])
        _cut(request)
        return resp
    if not merger.complete:
        log.warning("engine stream on %s ended without [DONE]", request.path)
        _cut(request)
        return resp
    await resp.write(merger.finish())
    await resp.write_eof()
    return resp


async def _session(app: web.Application) -> AsyncIterator[None]:
    """The client session to llama-server, for as long as the app runs.

    No timeout: a generation may take as long as the request allows, and the worker, which knows the
    request's deadline, is the one to give up (then the front drops the upstream request too). No
    connection limit: llama-server queues what its slots cannot take yet. No decompression: bytes
    pass through as they are.
    """
    timeout = aiohttp.ClientTimeout(total=None, connect=None, sock_connect=None, sock_read=None)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout, auto_decompress=False) as session:
        app[SESSION] = session
        yield


def make_front_app(upstream_url: str) -> web.Application:
    """The front as an aiohttp application relaying to the llama-server at ``upstream_url``
    (``http://host:port``). Run it with ``handler_cancellation=True`` (as `start_front` does), so that
    a caller who leaves cancels its upstream requests at once and frees llama-server's slots."""
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app[UPSTREAM] = upstream_url.rstrip("/")
    app.cleanup_ctx.append(_session)
    for path in NOT_SERVED:
        app.router.add_route("*", path, _not_served)
    app.router.add_route("*", "/v1/responses/{rest:.*}", _not_served)
    for path in (CHAT_PATH, COMPLETION_PATH):
        app.router.add_post(path, _generate)
    for path in POST_ONLY:
        app.router.add_get(path, _post_only, allow_head=False)
    app.router.add_route("*", "/{tail:.*}", _pass)
    return app


POST_ONLY = (CHAT_PATH, COMPLETION_PATH, "/v1/embeddings")
"""Routes that take only POST. llama-server answers a GET there with 404, as for a route it lacks;
the front answers 405, as vLLM and most HTTP frameworks do, so that a worker probing which endpoints
exist (`cocoon.engine.client.EngineClient.serves`) can tell the two apart without generating."""


async def _post_only(request: web.Request) -> web.Response:
    raise web.HTTPMethodNotAllowed(request.method, ["POST"])


async def start_front(upstream_url: str, host: str = "127.0.0.1", port: int = 0) -> tuple[web.AppRunner, int]:
    """Serve the front for the llama-server at ``upstream_url`` on ``host:port`` in this event loop
    (port 0: any free port). Returns the runner (``await runner.cleanup()`` stops it) and the port
    bound; a port that cannot be listened on is a `ConfigError`."""
    runner = web.AppRunner(
        make_front_app(upstream_url), handler_cancellation=True, shutdown_timeout=1.0, access_log=None
    )
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError as exc:
        await runner.cleanup()
        raise ConfigError(f"cannot listen on {host}:{port} ({exc.strerror}); choose another --port") from exc
    return runner, int(runner.addresses[0][1])
