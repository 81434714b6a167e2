"""The third-party COCOON TypeScript SDK as a test peer: installed once, driven by our script.

`installed_sdk` copies the SDK from ``../shared/peers/cocoon-ts-sdk`` (next to the repository) into a
temporary directory, runs ``npm ci`` and its own build (tsup, to ``dist/``), and keeps the result in the
user's cache (``$XDG_CACHE_HOME/cocoon/ts-sdk-<hash>``; the hash covers the SDK's sources and lockfile
and the Node major version), so only the first run pays for the install. `run_driver` feeds a JSON
config to ``ts_sdk/driver.mjs`` and returns the JSON lines it printed (see that script for the config
and the lines). `client_certificate` writes the self-signed Ed25519 certificate the SDK presents as
its TLS client certificate (COCOON's proxies ask every client for one).

Skips only when node or npm is not installed; a failing install or driver run is a test failure.
`fake_engine_thread` serves our fake engine to peers that are processes (the reference's, run by
`reference_runner`), `our_network` is our proxy's COCOON port settling on a local chain.
"""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cocoon_client import CocoonNet, chain_cocoon_net
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.x509.oid import NameOID
from test_onchain import PRICE, World

from cocoon.engine.fake import start_fake_engine
from cocoon.engine.fake_answer import FakeEngineConfig
from cocoon.proxy.settlement import ProxySettlement
from cocoon.ton import data
from cocoon.ton import messages as m
from cocoon.ton.address import Address
from cocoon.ton.data import ClientData
from cocoon.ton.ops import TON

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
SDK_SOURCE = REPO.parent / "shared" / "peers" / "cocoon-ts-sdk"
DRIVER = HERE / "ts_sdk" / "driver.mjs"
INSTALL_TIMEOUT_S = 600.0
# Only what the build reads: its sources, manifests and build configs (not tests, docs or examples).
_BUILD_INPUTS = ("package.json", "package-lock.json", "tsconfig.json", "tsup.config.ts", "src")


@dataclass(frozen=True)
class InstalledSdk:
    """A built copy of the SDK: ``path`` holds ``dist/`` and ``node_modules/``."""

    path: Path
    node: str
    cold_install_s: float | None  # seconds this call spent installing; None when the cache was used


class DriverError(AssertionError):
    """The driver script failed: its error line (step, name, message) and stderr are in the message."""


def node_tools() -> tuple[str, str]:
    """Paths of node and npm; skips the calling test when either is missing."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("node and npm are not installed: the TypeScript SDK interop test needs Node.js >= 18")
    return node, npm


def _cache_root() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "cocoon"


def _source_hash(source: Path, node: str) -> str:
    digest = hashlib.sha256()
    version = subprocess.run([node, "--version"], capture_output=True, text=True, check=True).stdout
    digest.update(version.split(".")[0].encode())  # a new Node major may need a rebuild
    for name in _BUILD_INPUTS:
        root = source / name
        files = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]
        for path in files:
            digest.update(str(path.relative_to(source)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def _run(argv: list[str], cwd: Path, what: str) -> None:
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S)
    if done.returncode != 0:
        raise AssertionError(
            f"{what} failed in {cwd} (exit {done.returncode}); check network access to the npm registry "
            f"and the Node version.\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
        )


def installed_sdk(source: Path = SDK_SOURCE) -> InstalledSdk:
    """The SDK installed and built, from the cache when a copy of these sources is there."""
    node, npm = node_tools()
    if not (source / "package-lock.json").is_file():
        raise AssertionError(
            f"the TypeScript SDK is not at {source} (expected ../shared/peers/cocoon-ts-sdk)"
        )
    cache = _cache_root()
    target = cache / f"ts-sdk-{_source_hash(source, node)}"
    if (target / "dist" / "index.js").is_file() and (target / "node_modules" / "@ton" / "ton").is_dir():
        return InstalledSdk(target, node, None)
    cache.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="ts-sdk-", dir=cache))  # same filesystem: the rename is atomic
    try:
        copy = work / "sdk"
        shutil.copytree(source, copy, ignore=shutil.ignore_patterns("node_modules", "dist", ".git"))
        for path in [copy, *copy.rglob("*")]:  # the shared copy is read-only; npm writes beside it
            path.chmod(path.stat().st_mode | 0o200)
        _run([npm, "ci", "--no-audit", "--no-fund"], copy, "npm ci of the TypeScript SDK")
        _run([npm, "run", "build"], copy, "building the TypeScript SDK (npm run build)")
        try:
            copy.rename(target)
        except OSError:
            # Another run finished first; its copy is as good as ours.
            if not (target / "dist" / "index.js").is_file():
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return InstalledSdk(target, node, time.monotonic() - started)


def run_driver(sdk: InstalledSdk, config: dict[str, Any], *, timeout_s: float = 90.0) -> list[dict[str, Any]]:
    """Run the driver with ``config`` (``sdk_dir`` filled in); its JSON lines, or `DriverError`."""
    payload = json.dumps({"sdk_dir": str(sdk.path), **config})
    done = subprocess.run(
        [sdk.node, str(DRIVER), "-"], input=payload, capture_output=True, text=True, timeout=timeout_s
    )
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0:
        errors = [line for line in lines if line.get("event") == "error"]
        raise DriverError(
            f"the SDK driver failed (exit {done.returncode}): {errors[-1] if errors else 'no error line'}\n"
            f"stdout: {done.stdout[-3000:]}\nstderr: {done.stderr[-3000:]}"
        )
    return lines


def event(lines: list[dict[str, Any]], name: str) -> dict[str, Any]:
    """The one line of event ``name``; fails when there is none or more than one."""
    found = [line for line in lines if line.get("event") == name]
    assert len(found) == 1, f"expected one {name!r} line from the SDK driver, got {len(found)}: {lines}"
    return found[0]


@dataclass(frozen=True)
class ClientCert:
    """The SDK's TLS client certificate and key (PEM files); ``public_key`` (hex) names the client's
    account on our proxy."""

    cert: Path
    key: Path
    public_key: str


def client_certificate(directory: Path) -> ClientCert:
    """A self-signed Ed25519 certificate and key for the SDK's TLS client side."""
    key = Ed25519PrivateKey.generate()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cocoon-ts-sdk-test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, None)
    )
    cert_path, key_path = directory / "sdk-client-cert.pem", directory / "sdk-client-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return ClientCert(cert_path, key_path, raw.hex())


@contextmanager
def fake_engine_thread(config: FakeEngineConfig) -> Iterator[str]:
    """Our fake engine served from a thread of its own (its own event loop), for module-scoped fixtures
    whose peers are processes; yields its URL (``http://host:port``)."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="fake-engine", daemon=True)
    thread.start()
    try:
        engine = asyncio.run_coroutine_threadsafe(start_fake_engine(config), loop).result(10)
        try:
            yield engine.url
        finally:
            asyncio.run_coroutine_threadsafe(engine.close(), loop).result(10)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


# --- our proxy's COCOON port on an in-process local chain ---


@dataclass
class OurNetwork:
    """Our proxy (COCOON port, settlement on a local chain) with one worker on the fake engine."""

    world: World  # the chain, the root's params, the proxy's key
    settlement: ProxySettlement
    net: CocoonNet
    price: int

    @property
    def port(self) -> int:
        return self.net.port

    def open_client(self, owner: Address, *, top_up: int, secret: str | None) -> Address:
        """Deploy ``owner``'s client contract with this proxy, top it up from ``owner`` and, with a
        secret, set the contract's secret hash (SHA-256 of the secret), as the SDK's setup does."""
        local = self.world.local
        init = data.client_state_init(owner, self.settlement.contract, self.world.key, self.world.params)
        contract: Address = local.deploy(*init, 8 * TON // 10)
        top = m.ExtClientTopUp(query_id=1, amount=top_up, excess_to=owner).to_cell()
        local.send_internal(owner, contract, top_up + TON // 2, top)
        if secret is not None:
            digest = int.from_bytes(hashlib.sha256(secret.encode()).digest(), "big")
            change = m.OwnerClientChangeSecretHash(query_id=2, secret_hash=digest, excess_to=owner).to_cell()
            local.send_internal(owner, contract, TON // 2, change)
        return contract

    def client_contract(self, address: Address) -> ClientData:
        state = self.world.local.account(address)
        assert state.data is not None, f"no client contract at {address.raw}"
        return ClientData.from_cell(state.data)


@asynccontextmanager
async def our_network(tmp_path: Path, *, pow_difficulty: int = 20) -> AsyncIterator[OurNetwork]:
    """Our proxy with its COCOON port (proof of work at the reference's difficulty, 20, by default),
    settling on an in-process local chain (root with price 20, fee 19), one worker on the fake engine."""
    async with chain_cocoon_net(tmp_path, cocoon_pow_difficulty=pow_difficulty) as (world, net):
        assert net.proxy.chain is not None
        yield OurNetwork(world, net.proxy.chain, net, PRICE)
