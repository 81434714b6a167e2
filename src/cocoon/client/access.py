"""Who may use the client daemon: browser origins, API keys and their daily budgets, at the HTTP edge.

One aiohttp middleware (`AccessControl.middleware`, registered first by
`cocoon.client.http_api.make_client_app`) decides, in this order:

1. a request with an ``Origin`` that is not in ``allowed_origins`` is refused with 403, whatever its
   method (`cocoon.client.cors`); an allowed origin's preflight (``OPTIONS`` with
   ``Access-Control-Request-Method``) is answered here, and every answer to it carries
   ``Access-Control-Allow-Origin``;
2. when keys are in force (the key file holds a key, or the daemon listens beyond loopback), every
   path but ``/healthz`` and ``/v1/models`` needs one: ``Authorization: Bearer <secret>`` (what the
   openai SDK sends), or HTTP Basic with the secret as password (so a browser can open the dashboard);
   missing or unknown: 401 ``invalid_api_key``;
3. a ``POST /v1/...`` (what spends TON) with a key over its daily limit: 429 ``insufficient_quota``,
   saying when the limit resets (`cocoon.client.budget`).

The fast lane of the inference endpoints (`cocoon.client.fast_lane`) takes no request with an
``Origin`` and passes the others through the same steps 2 and 3 (`AccessControl.gate`).

``/healthz`` stays open for probes, ``/v1/models`` for ``cocoon up`` and load balancers (it shows the
network's public offer, nothing of this daemon's money). The key of a request is kept in `CALLER`
while it is served, so the spend of its answer (`ClientStats.finished`) is counted on that key.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any

from aiohttp import web

from cocoon.client.budget import SpendLedger, prometheus_lines
from cocoon.client.cors import OriginPolicy
from cocoon.client.keys import ApiKey, KeyFile, KeySet, keys_file_path
from cocoon.client.responses import WholeAnswer
from cocoon.client.stats import ClientStats
from cocoon.clock import SYSTEM_CLOCK, Clock
from cocoon.errors import ConfigError, RequestError
from cocoon.net.address import is_loopback_ip
from cocoon.roles import ClientConfig
from cocoon.wire.messages import AnswerEnd

log = logging.getLogger(__name__)

CALLER: ContextVar[str | None] = ContextVar("cocoon_client_api_key", default=None)
"""The name of the API key whose request is being served (None without keys)."""

OPEN_PATHS = frozenset({"/healthz", "/v1/models"})
BROWSER_PAGES = frozenset({"/", "/stats"})
_NO_RETRY = {"x-should-retry": "false"}  # the openai SDKs would otherwise retry a 401 / 429

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Reject = Callable[[RequestError], WholeAnswer]


def is_loopback(host: str) -> bool:
    """Whether listening on ``host`` keeps the daemon on this machine: a loopback IP literal
    (`is_loopback_ip`: 127.0.0.0/8, ::1, IPv4-mapped ``::ffff:127.x.y.z``), in URL brackets or not, or
    the name ``localhost`` exactly. Any other host name, or "", is not: it may resolve to anything."""
    return host == "localhost" or is_loopback_ip(host.strip("[]")) is True


def presented_secret(authorization: str) -> str | None:
    """The secret in an ``Authorization`` header: Bearer, or Basic with it as password (or user)."""
    scheme, _, value = authorization.strip().partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer":
        return value or None
    if scheme.lower() == "basic":
        try:
            user, _, password = base64.b64decode(value, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return password or user or None
    return None


def _masked(secret: str) -> str:
    return f"{secret[:10]}...{secret[-4:]}" if len(secret) > 20 else "***"


def _unauthorized(secret: str | None, path: str) -> RequestError:
    if secret is None:
        message = (
            "Missing API key: this client daemon requires one. Send it as 'Authorization: Bearer "
            "<key>' (the openai SDK's api_key); make one with `cocoon client keys add`."
        )
    else:
        message = (
            f"Incorrect API key provided: {_masked(secret)}. It is unknown or revoked; "
            "see `cocoon client keys list`."
        )
    headers = dict(_NO_RETRY)
    if path in BROWSER_PAGES:
        headers["WWW-Authenticate"] = 'Basic realm="cocoon client", charset="UTF-8"'
    return RequestError(message, status=401, code="invalid_api_key", headers=headers)


class KeyAccounting:
    """The per-key part of the client's stats: usage and spend of each key (`ClientStats.parts`)."""

    def __init__(self, ledger: SpendLedger, keys: KeyFile, clock: Clock) -> None:
        self.ledger = ledger
        self.keys = keys
        self.clock = clock

    def finished(self, end: AnswerEnd) -> None:
        name = CALLER.get()
        if name is not None:
            self.ledger.finished(name, end, self.clock.time())

    def snapshot(self) -> dict[str, Any]:
        try:
            keys = self.keys.current().keys
        except ConfigError as exc:
            log.error("%s", exc)  # the stats still show the usage; requests are refused meanwhile
            keys = ()
        return self.ledger.snapshot(keys, self.clock.time())

    def prometheus(self) -> list[str]:
        return prometheus_lines(self.snapshot())


class AccessControl:
    """The daemon's access policy: allowed origins, the key file (if any) and whether keys are
    required whatever the file says (listening beyond loopback)."""

    def __init__(
        self,
        origins: OriginPolicy | None = None,
        keys: KeyFile | None = None,
        *,
        keys_required: bool = False,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.origins = origins or OriginPolicy()
        self.keys = keys
        self.keys_required = keys_required
        self.clock = clock
        self.ledger = SpendLedger()

    def keys_in_force(self) -> KeySet | None:
        """The keys requests must present now, or None when the daemon runs without keys."""
        keyset = self.keys.current() if self.keys is not None else KeySet()
        return keyset if self.keys_required or keyset.keys else None

    def attach(self, app: web.Application, stats: ClientStats) -> None:
        """Add the CORS headers to every answer of ``app`` and the per-key counters to ``stats``."""
        app.on_response_prepare.append(self._cors_headers)
        if self.keys is not None:
            stats.parts["keys"] = KeyAccounting(self.ledger, self.keys, self.clock)

    async def _cors_headers(self, request: web.Request, response: web.StreamResponse) -> None:
        origin = request.headers.get("Origin")
        if origin is not None and self.origins.allows(origin):
            response.headers.update(self.origins.response_headers(origin))

    def middleware(self, reject: Reject) -> Any:
        """The aiohttp middleware; ``reject`` turns a refusal into the answer (and counts it)."""

        @web.middleware
        async def access(request: web.Request, handler: Handler) -> web.StreamResponse:
            origin = request.headers.get("Origin")
            if origin is not None and not self.origins.allows(origin):
                error = RequestError(self.origins.refusal(origin), status=403, code="origin_not_allowed")
                return _respond(reject(error))
            if origin is not None and request.method == "OPTIONS":
                requested = request.headers.get("Access-Control-Request-Method")
                if requested is not None:
                    asked = request.headers.get("Access-Control-Request-Headers", "")
                    return web.Response(status=204, headers=self.origins.preflight_headers(origin, asked))
            try:
                key = self.gate(request.method, request.path, request.headers.get("Authorization", ""))
            except RequestError as error:
                return _respond(reject(error))
            if key is None:
                return await handler(request)
            token = CALLER.set(key.name)
            try:
                return await handler(request)
            finally:
                CALLER.reset(token)

        return access

    def gate(self, method: str, path: str, authorization: str) -> ApiKey | None:
        """Steps 2 and 3 (the origin is the caller's to check first): the key of a request with this
        ``Authorization`` header (None when none is needed), admitted against its budget when the
        request spends; a `RequestError` (401, 429, 500) when it is refused. The caller sets `CALLER`."""
        if path in OPEN_PATHS:
            return None
        key = self._authenticate(path, authorization)
        if key is not None and method == "POST" and path.startswith("/v1/"):
            exceeded = self.ledger.quota_exceeded(key, self.clock.time())
            if exceeded is not None:
                raise RequestError(
                    exceeded.message(),
                    status=429,
                    error_type="insufficient_quota",
                    code="insufficient_quota",
                    headers={**_NO_RETRY, "Retry-After": str(exceeded.retry_after_s)},
                )
            self.ledger.admitted(key.name)
        return key

    def _authenticate(self, path: str, authorization: str) -> ApiKey | None:
        """The request's key (None when keys are not in force); a `RequestError` when refused."""
        try:
            keys = self.keys_in_force()
        except ConfigError as exc:
            log.error("%s", exc)
            raise RequestError(
                f"The client daemon cannot read its API keys, so it refuses requests: {exc}",
                status=500,
                error_type="server_error",
                code="api_keys_unreadable",
            ) from exc
        if keys is None:
            return None
        secret = presented_secret(authorization)
        key = keys.find(secret) if secret is not None else None
        if key is None:
            raise _unauthorized(secret, path)
        return key


def _respond(answer: WholeAnswer) -> web.Response:
    return web.Response(body=answer.body, status=answer.status, headers=answer.headers)


def access_control(config: ClientConfig, clock: Clock = SYSTEM_CLOCK) -> AccessControl:
    """The access policy ``config`` asks for; a `ConfigError` when the daemon would listen beyond
    this machine without a key, or the key file or an origin is malformed."""
    origins = OriginPolicy.from_config(config.allowed_origins)
    path = keys_file_path(config.data_dir, config.api_keys_file)
    keys = KeyFile(path, clock) if path is not None else None  # looked at once a second at most
    host = config.api_listen_host
    required = not is_loopback(host)
    active = keys.current().active if keys is not None else ()  # a malformed file fails here, at start
    if required and not active:
        where = f"{path} holds no active key" if path is not None else "no key file is configured"
        raise ConfigError(
            f"the client daemon's API would listen on {host!r}, reachable from other machines, and "
            f"anyone reaching it could spend its TON, so it needs API keys, but {where}. Set data_dir "
            "or api_keys_file and add a key with `cocoon client keys add`, or listen on 127.0.0.1 "
            "(api_host, else host)."
        )
    return AccessControl(origins, keys, keys_required=required, clock=clock)
