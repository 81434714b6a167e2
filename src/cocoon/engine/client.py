"""`EngineClient`: HTTP client for any OpenAI-compatible engine (vLLM, SGLang, llama.cpp, Ollama, fake).

The worker uses it to forward a request and relay the answer as it arrives:

    async with client.stream("/v1/chat/completions", body) as answer:   # raises before the 1st byte
        async for data in answer:        # bytes as received, cut only at SSE event boundaries
            relay(data)
    meter(answer.usage)                  # parsed incrementally from the usage chunk

Closing the stream early (``aclose``, leaving the ``async with``, or cancelling the task) aborts the
HTTP request, so the engine stops generating. Every failure becomes an `EngineError`: unreachable or
broken streams as `EngineError`, deadlines as `EngineTimeoutError`, HTTP errors as `EngineStatusError`
carrying the engine's status and OpenAI error object (a 4xx is passed on to the caller as is).

Streamed and whole answers to a JSON body on a plain ``http://`` engine (the worker's hot path) go
through the lean keep-alive HTTP/1.1 transport of `cocoon.engine.http1`; forms, GETs and ``https://``
engines through aiohttp. Both behave the same to the caller: same timeouts, errors and messages.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

import aiohttp
import msgspec

from cocoon.api.capabilities import PROVEN_BY_USE
from cocoon.api.multipart import FormBody
from cocoon.engine.http1 import Http1Pool, Http1Response
from cocoon.engine.stream import EngineStream, error_from_body
from cocoon.engine.usage import usage_from_openai
from cocoon.errors import EngineError, EngineStatusError, EngineTimeoutError
from cocoon.usage import Usage

if TYPE_CHECKING:
    from cocoon.engine.protocol import Engine

_json = msgspec.json.Encoder()
_SSE_HEADERS: Mapping[str, str] = MappingProxyType({"Accept": "text/event-stream"})
_JSON_HEADERS: Mapping[bool, Mapping[str, str]] = {
    False: MappingProxyType({"Content-Type": "application/json"}),
    True: MappingProxyType({"Content-Type": "application/json", **_SSE_HEADERS}),
}
"""A JSON call's headers, without and with ``Accept: text/event-stream`` (shared: never mutated)."""
_TIMEOUT_CACHE_SIZE = 64
_ROUTE_CACHE_SIZE = 64
log = logging.getLogger(__name__)


class EngineResponse(msgspec.Struct, frozen=True):
    """A non-streamed answer: the body as received, its JSON, and the usage it reports (a struct: one
    is built per request, cheaper than a dataclass)."""

    status: int
    body: bytes
    data: dict[str, Any]
    usage: Usage | None


class EngineClient:
    """Talks to one engine at ``base_url`` (the OpenAI base URL, e.g. ``http://127.0.0.1:8000/v1``).

    ``connect_timeout`` bounds connecting; ``idle_timeout`` bounds the wait for each next piece of a
    response (a hung engine is detected even without a timeout); per-call ``timeout_s`` bounds the
    whole call, in seconds. Use ``async with EngineClient(...)`` or call `close`.
    """

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        connect_timeout: float = 5.0,
        idle_timeout: float | None = 120.0,
        max_connections: int = 1000,
    ) -> None:
        base = base_url.rstrip("/")
        self.base_url = base
        self._root = base.removesuffix("/v1")
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._connect_timeout = connect_timeout
        self._idle_timeout = idle_timeout
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None
        self._timeouts: dict[float | None, aiohttp.ClientTimeout] = {}
        self._lean = self._lean_pool(base)
        self._routes: dict[str, tuple[str, str]] = {}  # path -> (URL, request target) for the lean pool

    def _lean_pool(self, base: str) -> Http1Pool | None:
        """The lean transport's pool for a plain ``http://host[:port]`` engine; None for any other URL
        (``https://``, credentials in the URL, a bad port): aiohttp handles those."""
        parts = urlsplit(base)
        try:
            port = parts.port or 80
        except ValueError:
            return None
        if parts.scheme != "http" or not parts.hostname or "@" in parts.netloc or parts.query:
            return None
        return Http1Pool(
            parts.hostname,
            port,
            host_header=parts.netloc,
            headers=self._headers,
            connect_timeout=self._connect_timeout,
            idle_timeout=self._idle_timeout,
            max_connections=self._max_connections,
        )

    async def __aenter__(self) -> EngineClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the connection pools (streams still open are aborted)."""
        if self._lean is not None:
            await self._lean.close()
        if self._session is not None:
            await self._session.close()
            self._session = None

    def url(self, path: str) -> str:
        """The full URL of ``path`` (``/v1/chat/completions`` or ``chat/completions``)."""
        if path.startswith("/v1/"):
            return self._root + path
        return self._root + "/v1/" + path.lstrip("/")

    def _timeout(self, timeout_s: float | None) -> aiohttp.ClientTimeout:
        """The timeouts of one call; built once per distinct ``timeout_s`` (requests of one network
        mostly share a few), `ClientTimeout` being immutable."""
        timeout = self._timeouts.get(timeout_s)
        if timeout is None:
            if len(self._timeouts) >= _TIMEOUT_CACHE_SIZE:
                self._timeouts.clear()
            timeout = aiohttp.ClientTimeout(
                total=timeout_s, connect=self._connect_timeout, sock_read=self._idle_timeout
            )
            self._timeouts[timeout_s] = timeout
        return timeout

    def _pool(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self._max_connections)
            self._session = aiohttp.ClientSession(connector=connector, headers=self._headers)
        return self._session

    async def _request(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | FormBody | None,
        timeout_s: float | None,
        *,
        sse: bool = False,
        url: str | None = None,
    ) -> aiohttp.ClientResponse:
        """Send one request and return the response once its head arrived and its status is OK.

        ``url`` replaces the OpenAI URL of ``path`` (for a route outside ``/v1``, e.g. ``/health``).
        """
        url = url or self.url(path)
        headers: Mapping[str, str]
        data: bytes | None = None
        if isinstance(body, FormBody):
            headers, data = {"Content-Type": body.content_type}, body.data
        elif body is not None:
            headers, data = _JSON_HEADERS[sse], _json.encode(body)
        else:
            headers = _SSE_HEADERS if sse else {}
        try:
            resp = await self._pool().request(
                method, url, data=data, headers=headers, timeout=self._timeout(timeout_s)
            )
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise _no_answer(url) from exc
        except aiohttp.ClientError as exc:
            raise _unreachable(url, exc) from exc
        if resp.status >= 400:
            try:
                raw = await resp.read()
            except (aiohttp.ClientError, TimeoutError):
                raw = b""
            finally:
                resp.release()
            raise error_from_body(resp.status, raw, url)
        return resp

    def _route(self, path: str) -> tuple[str, str]:
        """The URL of ``path`` and its request target for the lean pool (cached: a few paths recur)."""
        route = self._routes.get(path)
        if route is None:
            if len(self._routes) >= _ROUTE_CACHE_SIZE:
                self._routes.clear()
            url = self.url(path)
            route = self._routes[path] = (url, quote(urlsplit(url).path or "/", safe="/%:@!$&'()*+,;=~"))
        return route

    async def _post(
        self, pool: Http1Pool, path: str, body: dict[str, Any], timeout_s: float | None, *, sse: bool
    ) -> tuple[Http1Response, str]:
        """`_request` on the lean pool: a JSON POST, returned at its head if its status is OK."""
        url, target = self._route(path)
        try:
            resp = await pool.post(target, _json.encode(body), sse=sse, url=url, timeout_s=timeout_s)
        except TimeoutError as exc:
            raise _no_answer(url) from exc
        except OSError as exc:
            raise _unreachable(url, exc) from exc
        if resp.status >= 400:
            try:
                raw = await resp.read_all()
            except (OSError, TimeoutError, EngineError):
                raw = b""
            finally:
                resp.release()
            raise error_from_body(resp.status, raw, url)
        return resp, url

    async def stream(
        self, path: str, body: dict[str, Any], *, timeout_s: float | None = None
    ) -> EngineStream:
        """Start a streamed call; raises before the first byte if the engine refuses or is unreachable.

        The returned `EngineStream` is an async iterator of received bytes (whole SSE events only)
        and an async context manager that aborts the request on exit if it has not ended.
        """
        if self._lean is not None:
            resp, url = await self._post(self._lean, path, body, timeout_s, sse=True)
            return EngineStream(resp, url)
        aio = await self._request("POST", path, body, timeout_s, sse=True)
        return EngineStream(_AiohttpBody(aio), self.url(path))

    async def complete(
        self, path: str, body: dict[str, Any] | FormBody, *, timeout_s: float | None = None
    ) -> EngineResponse:
        """A non-streamed call (a JSON body, or a form): the whole answer, parsed, with its usage (if
        the engine reported it)."""
        if self._lean is not None and not isinstance(body, FormBody):
            lean, url = await self._post(self._lean, path, body, timeout_s, sse=False)
            try:
                raw = await lean.read_all()
            except TimeoutError as exc:
                raise _body_timeout(url) from exc
            except OSError as exc:
                raise _body_broken(url, exc) from exc
            finally:
                lean.release()  # closes the connection instead if the body did not end
            return _whole_answer(lean.status, raw, url)
        resp = await self._request("POST", path, body, timeout_s)
        url = self.url(path)
        try:
            raw = await resp.read()
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise _body_timeout(url) from exc
        except aiohttp.ClientError as exc:
            raise _body_broken(url, exc) from exc
        finally:
            resp.release()
        return _whole_answer(resp.status, raw, url)

    async def models(self, *, timeout_s: float | None = 5.0) -> list[str]:
        """The model ids the engine serves (``GET /v1/models``)."""
        entries = await self.model_entries(within=timeout_s)
        try:
            return [str(m["id"]) for m in entries]
        except (KeyError, TypeError) as exc:
            raise EngineError(f"{self.url('/v1/models')} did not return an OpenAI model list") from exc

    async def model_entries(self, *, within: float | None = 5.0) -> list[dict[str, Any]]:
        """The entries of ``GET /v1/models`` as the engine lists them."""
        resp = await self._request("GET", "/v1/models", None, within)
        try:
            data = msgspec.json.decode(await resp.read())
            entries = data["data"]
            if not isinstance(entries, list) or not all(isinstance(m, dict) for m in entries):
                raise TypeError("data is not a list of objects")
            return entries
        except (msgspec.DecodeError, KeyError, TypeError) as exc:
            raise EngineError(f"{self.url('/v1/models')} did not return an OpenAI model list") from exc
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise EngineError(f"engine at {self.base_url} broke the connection listing models") from exc
        finally:
            resp.release()

    async def serves(self, path: str, *, within: float = 2.0) -> bool:
        """Whether the engine has a route for ``path``, asked without generating anything.

        First ``GET path``: an HTTP framework answers 405 for a route that exists only for POST (vLLM,
        llama-cpp-python and our fake engine all do) and 404 for none. Any other answer is ambiguous,
        so then an empty ``POST path``: a 400/422 means the route parsed and rejected the body. An
        endpoint a route does not prove (`PROVEN_BY_USE`: embeddings) must answer its smallest request
        for the engine's first listed model.
        """
        try:
            (await self._request("GET", path, None, within)).release()
        except EngineStatusError as exc:
            if exc.status in _NO_ROUTE:
                return False
            if exc.status == 405:
                return await self._answers(path, within) if path in PROVEN_BY_USE else True
        if path in PROVEN_BY_USE:
            return await self._answers(path, within)
        try:
            await self.complete(path, {}, timeout_s=within)
        except EngineStatusError as exc:
            return exc.status in _ROUTE_REJECTED_BODY
        return True  # it answered an empty request: whatever it does there, it serves the path

    async def _answers(self, path: str, within: float) -> bool:
        """Whether ``path`` answers its `PROVEN_BY_USE` request for the first model with a 2xx."""
        models = await self.models(timeout_s=within)
        if not models:
            return False
        try:
            answer = await self.complete(path, {**PROVEN_BY_USE[path], "model": models[0]}, timeout_s=within)
        except EngineStatusError as exc:
            log.info("the engine has a route for %s but does not serve it: %s", path, exc)
            return False
        return 200 <= answer.status < 300

    async def health(self, *, within: float = 2.0) -> list[str]:
        """Probe the engine: its model ids if it answers ``GET /v1/models`` in time, else `EngineError`."""
        try:
            return await asyncio.wait_for(self.models(timeout_s=within), within)
        except TimeoutError as exc:
            raise EngineTimeoutError(
                f"engine at {self.base_url} did not answer a health probe within {within} s"
            ) from exc

    async def alive(self, *, within: float) -> None:
        """Whether the engine is up to take requests; returns if so, raises `EngineError` if not.

        Asks the engine's own health route, ``GET /health`` (outside ``/v1``): llama.cpp's server answers
        200 even while it generates (its model list may wait behind a generation on a single slot) and
        503 while it loads, vLLM and SGLang 200. An engine without that route (404/405/501: Ollama, an
        older server) is asked for its model list instead. ``within`` bounds the whole probe, fallback
        included; a 5xx (503: still loading) or no answer in time is an `EngineError`.
        """
        try:
            await asyncio.wait_for(self._alive(within), within)
        except TimeoutError as exc:
            raise EngineTimeoutError(
                f"engine at {self.base_url} did not answer a health probe within {within} s"
            ) from exc

    async def _alive(self, within: float) -> None:
        url = self._root + "/health"
        try:
            (await self._request("GET", "/health", None, within, url=url)).release()
        except EngineStatusError as exc:
            if exc.status not in _NO_HEALTH_ROUTE:
                raise
            await self.models(timeout_s=within)  # the outer deadline still bounds both calls


# The errors of a call, one text each whichever transport carried it (aiohttp or `cocoon.engine.http1`).


def _no_answer(url: str) -> EngineTimeoutError:
    return EngineTimeoutError(
        f"engine at {url} did not answer in time; check that it is up and not overloaded"
    )


def _unreachable(url: str, exc: BaseException) -> EngineError:
    return EngineError(f"cannot reach the engine at {url} ({exc}); is it running at that address?")


def _body_timeout(url: str) -> EngineTimeoutError:
    return EngineTimeoutError(f"engine at {url} stopped answering before the body ended")


def _body_broken(url: str, exc: BaseException) -> EngineError:
    return EngineError(f"engine at {url} broke the connection mid-answer ({exc})")


def _whole_answer(status: int, raw: bytes, url: str) -> EngineResponse:
    """A whole answer's body, checked to be a JSON object, with its usage."""
    try:
        data = msgspec.json.decode(raw)
    except msgspec.DecodeError as exc:
        raise EngineError(f"engine at {url} answered with a body that is not JSON") from exc
    if not isinstance(data, dict):
        raise EngineError(f"engine at {url} answered with JSON that is not an object")
    usage = usage_from_openai(data["usage"]) if data.get("usage") is not None else None
    return EngineResponse(status=status, body=raw, data=data, usage=usage)


class _AiohttpBody:
    """An aiohttp response as a stream's `ResponseBody` (``https://`` engines): aiohttp's errors become
    the `TimeoutError` and `OSError` the stream expects."""

    __slots__ = ("_readany", "_resp", "status")

    def __init__(self, resp: aiohttp.ClientResponse) -> None:
        self._resp = resp
        self._readany = resp.content.readany
        self.status = resp.status

    async def read(self) -> bytes:
        try:
            return await self._readany()
        except TimeoutError:
            raise  # aiohttp's ServerTimeoutError is one
        except aiohttp.ClientError as exc:
            raise ConnectionError(str(exc)) from exc

    def release(self) -> None:
        self._resp.release()

    def abort(self) -> None:
        self._resp.close()


_NO_ROUTE = frozenset({404, 501})
"""Statuses that say an engine has no such endpoint."""
_NO_HEALTH_ROUTE = _NO_ROUTE | {405}
"""Statuses to ``GET /health`` that say the engine has no health route (405: only another method)."""
_ROUTE_REJECTED_BODY = frozenset({400, 422})
"""Statuses that say the endpoint exists and refused an empty request (OpenAI/vLLM 400, FastAPI 422)."""


if TYPE_CHECKING:  # mypy proves that EngineClient implements the Engine protocol

    def _is_an_engine(client: EngineClient) -> Engine:
        return client
