"""A fake PCCS (test double): serves one saved QuoteCollateralV3 JSON in Intel's PCCS v4 API shape.

It answers the requests ``dcap_qvl.get_collateral(url, quote)`` makes (found by logging them against
this server): the PCK CRL (DER body, ``SGX-PCK-CRL-Issuer-Chain`` header), the TDX TCB info of one FMSPC
(``{"tcbInfo": ..., "signature": ...}``, ``TCB-Info-Issuer-Chain``), the TDX QE identity
(``{"enclaveIdentity": ..., "signature": ...}``, ``SGX-Enclave-Identity-Issuer-Chain``) and the root
CA CRL. Issuer chains are URL-encoded PEM, as Intel's service sends them. Plain HTTP on 127.0.0.1:
dcap-qvl accepts ``http://`` URLs. Every request is recorded in ``requests`` (path and query).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote as urlquote

from aiohttp import web

V4_SGX = "/sgx/certification/v4"
V4_TDX = "/tdx/certification/v4"


class FakePccs:
    """``async with FakePccs(collateral_json) as pccs``: ``pccs.url`` is its base URL."""

    def __init__(self, collateral_json: str) -> None:
        self.data: dict[str, Any] = json.loads(collateral_json)
        self.fmspc = str(json.loads(self.data["tcb_info"])["fmspc"]).upper()
        self.requests: list[str] = []
        self.available = True
        """False makes every request fail with 503 (a PCCS that is down)."""
        self._runner: web.AppRunner | None = None
        self.url = ""

    def _chain(self, key: str) -> str:
        return urlquote(str(self.data[key]), safe="")

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(request.path_qs)
        if not self.available:
            return web.Response(status=503, text="PCCS unavailable")
        path = request.path
        if path == f"{V4_SGX}/pckcrl":
            return web.Response(
                body=bytes.fromhex(self.data["pck_crl"]),
                headers={"SGX-PCK-CRL-Issuer-Chain": self._chain("pck_crl_issuer_chain")},
            )
        if path == f"{V4_TDX}/tcb":
            if request.query.get("fmspc", "").upper() != self.fmspc:
                return web.Response(status=404, text="no TCB info for this FMSPC")
            body = f'{{"tcbInfo":{self.data["tcb_info"]},"signature":"{self.data["tcb_info_signature"]}"}}'
            chain = self._chain("tcb_info_issuer_chain")
            return web.Response(
                text=body,
                content_type="application/json",
                headers={"TCB-Info-Issuer-Chain": chain, "SGX-TCB-Info-Issuer-Chain": chain},
            )
        if path == f"{V4_TDX}/qe/identity":
            body = (
                f'{{"enclaveIdentity":{self.data["qe_identity"]},'
                f'"signature":"{self.data["qe_identity_signature"]}"}}'
            )
            return web.Response(
                text=body,
                content_type="application/json",
                headers={"SGX-Enclave-Identity-Issuer-Chain": self._chain("qe_identity_issuer_chain")},
            )
        if path == f"{V4_SGX}/rootcacrl":
            return web.Response(text=self.data["root_ca_crl"])
        return web.Response(status=404, text=f"unknown PCCS path {path}")

    async def __aenter__(self) -> FakePccs:
        app = web.Application()
        app.router.add_route("GET", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
