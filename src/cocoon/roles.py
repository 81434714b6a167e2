"""Configuration of each role (client, proxy, worker): fields, defaults and their meaning.

Loaded with `cocoon.config.load_config` (TOML < COCOON_* environment < flags); `cocoon init <role>`
writes a commented example. Ports follow DESIGN.md (instance n adds 10*n).
"""

from __future__ import annotations

from typing import Literal

import msgspec

QuoteProviderName = Literal["fake", "tdx"]
PolicyName = Literal["any", "fake", "tdx"]

# An owner address for local runs only (the zero account in basechain); real nodes set their own.
LOCAL_OWNER = "0:" + "0" * 64


class _Config(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    host: str = "127.0.0.1"
    data_dir: str = ""
    quote_provider: QuoteProviderName = "fake"
    log_level: str = "info"


class WorkerConfig(_Config, frozen=True, kw_only=True):
    """A GPU owner's worker."""

    proxies: list[str] = msgspec.field(default_factory=lambda: ["127.0.0.1:11001"])
    proxy_policy: PolicyName = "fake"
    owner_address: str = LOCAL_OWNER
    engine_url: str = "http://127.0.0.1:8000"
    model: str = ""  # empty: the first model the engine lists
    coefficient: int = 1000
    max_active: int = 8
    http_port: int = 12000
    health_interval_s: float = 5.0
    max_tokens_limit: int = 32_768
    # Hardware for the preflight check (cocoon plan gpu): empty/0 skips it.
    gpu: str = ""
    gpu_count: int = 1
    vram_gb: float = 0.0
    quant: str = ""  # e.g. bf16, fp8, q4; empty: the model's native format
    model_family: str = ""  # catalog name when the served model id is not one (e.g. Qwen3-8B)


class ProxyConfig(_Config, frozen=True, kw_only=True):
    """A proxy."""

    worker_port: int = 11001
    client_port: int = 11002
    http_port: int = 11000
    worker_policy: PolicyName = "fake"
    client_policy: PolicyName = "any"
    price_per_token: int = 20
    worker_fee_per_token: int = 19
    # Until settlement on chain: credit (nanoTON) given to a client the first time it connects.
    local_client_credit_nano: int = 0
    max_retries: int = 2
    queue_timeout_s: float = 5.0


class ClientConfig(_Config, frozen=True, kw_only=True):
    """An app developer's client daemon."""

    proxies: list[str] = msgspec.field(default_factory=lambda: ["127.0.0.1:11002"])
    proxy_policy: PolicyName = "fake"
    owner_address: str = LOCAL_OWNER
    http_port: int = 10000
    max_body_bytes: int = 4 * 1024 * 1024
    default_max_tokens: int = 1000
