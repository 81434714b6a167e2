"""A minimal aiohttp forwarding hop (one process): the floor a Python HTTP relay costs.

It forwards every request's method, path, body and content type to ``--upstream`` over one pooled
`aiohttp.ClientSession`, and relays the answer: a streamed one (``text/event-stream``) chunk by chunk
as it arrives, any other whole. With ``--cert``/``--key`` it listens over TLS; with ``--ca`` it checks
the upstream's certificate against that CA (stdlib ``ssl`` both ways). Nothing else: no parsing, no
logging, no metering.

    python benchmarks/anchors/hop.py --port 0 --upstream http://127.0.0.1:8000 [--cert C --key K] [--ca CA]
"""

from __future__ import annotations

import argparse
import asyncio
import ssl
import sys

import aiohttp
from aiohttp import web

SESSION = web.AppKey("session", aiohttp.ClientSession)


def build_app(upstream: str, ca: str | None) -> web.Application:
    app = web.Application()
    base = upstream.rstrip("/")

    async def open_session(app: web.Application) -> None:
        context = ssl.create_default_context(cafile=ca) if ca else None
        connector = aiohttp.TCPConnector(limit=0, ssl=context if context is not None else True)
        app[SESSION] = aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=None))

    async def close_session(app: web.Application) -> None:
        await app[SESSION].close()

    async def forward(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        headers = {"Content-Type": request.headers.get("Content-Type", "application/json")}
        async with app[SESSION].request(
            request.method, base + request.path_qs, data=body, headers=headers
        ) as upstream_resp:
            ctype = upstream_resp.headers.get("Content-Type", "application/json")
            if not ctype.startswith("text/event-stream"):
                payload = await upstream_resp.read()
                return web.Response(status=upstream_resp.status, body=payload, content_type=None,
                                    headers={"Content-Type": ctype})  # fmt: skip
            resp = web.StreamResponse(status=upstream_resp.status, headers={"Content-Type": ctype})
            await resp.prepare(request)
            async for data in upstream_resp.content.iter_any():
                await resp.write(data)
            await resp.write_eof()
            return resp

    app.on_startup.append(open_session)
    app.on_cleanup.append(close_session)
    app.router.add_route("*", "/{tail:.*}", forward)
    return app


async def serve(port: int, upstream: str, cert: str | None, key: str | None, ca: str | None) -> None:
    server_ssl = None
    if cert and key:
        server_ssl = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        server_ssl.load_cert_chain(cert, key)
    runner = web.AppRunner(build_app(upstream, ca), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port, ssl_context=server_ssl, backlog=1024)
    await site.start()
    assert site._server is not None  # started just above
    sockets = getattr(site._server, "sockets", None) or []
    print(f"ready {sockets[0].getsockname()[1]}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--ca")
    args = parser.parse_args()
    try:
        asyncio.run(serve(args.port, args.upstream, args.cert, args.key, args.ca))
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
