"""A minimal PCCS: serves saved DCAP collateral (QuoteCollateralV3 JSON) over Intel's PCCS v4 API.

It answers exactly what a PCCS client such as ``dcap_qvl.get_collateral`` asks (found by logging its
requests): the PCK CRL (DER body, ``SGX-PCK-CRL-Issuer-Chain`` header), the TDX TCB info per FMSPC
(``{"tcbInfo": ..., "signature": ...}`` with ``TCB-Info-Issuer-Chain``), the TDX QE identity
(``{"enclaveIdentity": ..., "signature": ...}`` with ``SGX-Enclave-Identity-Issuer-Chain``) and the
root CA CRL (hex). Issuer chains are URL-encoded PEM, as Intel's service sends them. The TCB info and
QE identity bodies are the saved JSON texts byte for byte, so Intel's signatures over them verify.

It is not a caching proxy of Intel's service: it serves only the files it was given, for tests, for
the ``tdx-vectors`` demo of ``cocoon up`` and for networks without Internet access that distribute
collateral as files. Plain HTTP on a loopback address is what those need (dcap-qvl accepts it).
"""

from __future__ import annotations

import json
import logging
from collections import deque
from typing import Any
from urllib.parse import quote as urlquote

from aiohttp import web

from cocoon.errors import CollateralError

log = logging.getLogger(__name__)

V4_SGX = "/sgx/certification/v4"
V4_TDX = "/tdx/certification/v4"
RECENT = 100


class CollateralPccs:
    """Serves one saved collateral per FMSPC; ``async with`` binds ``host:port`` (0: a free port)."""

    def __init__(self, collateral_texts: list[str], host: str = "127.0.0.1", port: int = 0) -> None:
        self._by_fmspc: dict[str, dict[str, Any]] = {}
        try:
            for text in collateral_texts:
                data = json.loads(text)
                self._by_fmspc[str(json.loads(data["tcb_info"])["fmspc"]).upper()] = data
        except (ValueError, KeyError, TypeError) as exc:
            raise CollateralError(
                f"not a saved collateral JSON ({exc}); save it with `cocoon attest collateral fetch`"
            ) from exc
        if not self._by_fmspc:
            raise CollateralError("a PCCS needs at least one saved collateral file")
        self._any = next(iter(self._by_fmspc.values()))  # CRLs and QE identity are the same for all
        self.host = host
        self.port = port
        self.requests: deque[str] = deque(maxlen=RECENT)
        """The most recent request paths with their queries (for tests and logs)."""
        self._runner: web.AppRunner | None = None

    @property
    def fmspcs(self) -> list[str]:
        """The platforms served."""
        return sorted(self._by_fmspc)

    @property
    def url(self) -> str:
        """The base URL to give a PCCS client (valid after start)."""
        return f"http://{self.host}:{self.port}"

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Answer one v4 API request."""
        self.requests.append(request.path_qs)
        path, data = request.path, self._any
        if path == f"{V4_SGX}/pckcrl":
            headers = {"SGX-PCK-CRL-Issuer-Chain": _chain(data, "pck_crl_issuer_chain")}
            return web.Response(body=bytes.fromhex(data["pck_crl"]), headers=headers)
        if path == f"{V4_TDX}/tcb":
            fmspc = request.query.get("fmspc", "").upper()
            tcb = self._by_fmspc.get(fmspc)
            if tcb is None:
                return web.Response(status=404, text=f"no TCB info for FMSPC {fmspc}")
            chain = _chain(tcb, "tcb_info_issuer_chain")
            body = f'{{"tcbInfo":{tcb["tcb_info"]},"signature":"{tcb["tcb_info_signature"]}"}}'
            headers = {"TCB-Info-Issuer-Chain": chain, "SGX-TCB-Info-Issuer-Chain": chain}
            return web.Response(text=body, content_type="application/json", headers=headers)
        if path == f"{V4_TDX}/qe/identity":
            body = (
                f'{{"enclaveIdentity":{data["qe_identity"]},"signature":"{data["qe_identity_signature"]}"}}'
            )
            headers = {"SGX-Enclave-Identity-Issuer-Chain": _chain(data, "qe_identity_issuer_chain")}
            return web.Response(text=body, content_type="application/json", headers=headers)
        if path == f"{V4_SGX}/rootcacrl":
            return web.Response(text=data["root_ca_crl"])
        return web.Response(status=404, text=f"unknown PCCS v4 path {path}")

    async def start(self) -> None:
        """Bind and serve."""
        app = web.Application()
        app.router.add_route("GET", "/{tail:.*}", self.handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port).start()
        self.port = int(self._runner.addresses[0][1])
        log.info("PCCS serving collateral of FMSPC %s at %s", ", ".join(self.fmspcs), self.url)

    async def aclose(self) -> None:
        """Stop serving."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> CollateralPccs:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def _chain(data: dict[str, Any], key: str) -> str:
    return urlquote(str(data[key]), safe="")
