"""The admin token at the HTTP edge: state-changing admin routes answer 401 without it.

:func:`admin_only` wraps one aiohttp handler; read-only routes (``/healthz``, ``/jsonstats``,
``/metrics``) are left unwrapped. The token comes from ``Authorization: Bearer <token>`` or the
``X-Cocoon-Admin-Token`` header (for the client daemon, whose ``Authorization`` carries an API key).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import hdrs, web

from cocoon.node.admin_token import ADMIN_TOKEN_HEADER, AdminToken

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def presented_tokens(request: web.Request) -> list[str]:
    """The secrets a request offers as the admin token (none when it offers none)."""
    found = []
    scheme, _, value = request.headers.get(hdrs.AUTHORIZATION, "").strip().partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        found.append(value.strip())
    if header := request.headers.get(ADMIN_TOKEN_HEADER, "").strip():
        found.append(header)
    return found


def admin_only(token: AdminToken, handler: Handler) -> Handler:
    """``handler``, run only for a request presenting ``token``; any other gets 401 and nothing runs."""

    async def guarded(request: web.Request) -> web.StreamResponse:
        why = token.refusal(presented_tokens(request))
        if why is not None:
            log.warning("refused %s %s from %s: %s", request.method, request.path, request.remote, why)
            return web.json_response(
                {"error": why}, status=401, headers={hdrs.WWW_AUTHENTICATE: 'Bearer realm="cocoon-admin"'}
            )
        return await handler(request)

    return guarded
