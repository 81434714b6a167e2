"""Configuration of each role (client, proxy, worker): fields, defaults and their meaning.

Loaded with `cocoon.config.load_config` (TOML < COCOON_* environment < flags); `cocoon init <role>`
writes a commented example. Ports follow DESIGN.md (instance n adds 10*n).
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from cocoon.errors import ConfigError
from cocoon.payments.params import Nano
from cocoon.payments.thresholds import DEFAULT_THRESHOLDS
from cocoon.ton.address import wrong_network
from cocoon.ton.backend import ChainBackend, choose_chain

QuoteProviderName = Literal["fake", "tdx"]
PolicyName = Literal["any", "fake", "tdx"]
E2EMode = Literal["required", "preferred", "off"]
FormBytes = Annotated[int, msgspec.Meta(ge=1024, le=15 * 1024 * 1024)]
"""A transcription form's size limit: a request crosses the network in one 16 MiB frame."""

# An owner address for local runs only (the zero account in basechain); real nodes set their own.
LOCAL_OWNER = "0:" + "0" * 64


class _Config(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    host: str = "127.0.0.1"
    data_dir: str = ""
    quote_provider: QuoteProviderName = "fake"
    log_level: str = "info"
    # TON chain (node wallet, root registry): empty chain_url = no chain (off-chain credit only).
    chain_url: str = ""
    root_address: str = ""
    wallet_key: str = ""
    # Which TON backend (cocoon.ton.backend) and how gently to poll it: public endpoints limit the rate.
    chain: ChainBackend = "auto"
    chain_api_key: str = ""
    chain_rate_per_s: float = 0.0
    ton_config: str = ""
    testnet: bool = False
    root_poll_interval_s: float = 30.0
    wallet_poll_interval_s: float = 2.0
    # DCAP collateral of the 'tdx' peer policy (cocoon.net.collateral): a PCCS and/or saved files.
    pccs_url: str = ""
    collateral_files: list[str] = msgspec.field(default_factory=list)

    def __post_init__(self) -> None:
        _check_chain_settings(self)


class WorkerConfig(_Config, frozen=True, kw_only=True):
    """A GPU owner's worker."""

    proxies: list[str] = msgspec.field(default_factory=lambda: ["127.0.0.1:11001"])
    proxy_policy: PolicyName = "fake"
    owner_address: str = LOCAL_OWNER
    engine_url: str = "http://127.0.0.1:8000"
    # A non-loopback engine_url is refused unless the engine runs inside this same attested VM.
    engine_remote_ok: bool = False
    model: str = ""  # empty: the first model the engine lists
    coefficient: int = 1000
    max_active: int = 8
    http_port: int = 12000
    health_interval_s: float = 5.0
    # A busy engine may answer its health probe slowly: wait long, and count several misses as down.
    health_timeout_s: float = 30.0
    health_failures: int = 3
    max_tokens_limit: int = 32_768
    # When the worker cashes out its signed payouts itself (nanoTON of unclaimed earnings).
    cash_out_threshold_nano: Nano = DEFAULT_THRESHOLDS.worker_payout_nano
    idle_cash_out_threshold_nano: Nano = DEFAULT_THRESHOLDS.worker_idle_payout_nano
    # Hardware for the preflight check (cocoon plan gpu): empty/0 skips it.
    gpu: str = ""
    gpu_count: int = 1
    vram_gb: float = 0.0
    quant: str = ""  # e.g. bf16, fp8, q4; empty: the model's native format
    model_family: str = ""  # catalog name when the served model id is not one (e.g. Qwen3-8B)
    # Attestation (cocoon.worker.attest): GPU evidence signed into the statement; proxies accepted.
    gpu_evidence_file: str = ""
    allowed_proxy_image_hashes: list[str] = msgspec.field(default_factory=list)
    # Seconds between the worker's checks of its payouts on chain (one account read per proxy channel).
    cash_out_interval_s: float = 15.0
    # Leaving a closing proxy (cocoon.worker.payouts): how often its proxy contracts' states are read.
    # A proxy's close takes proxy_delay_before_close (hours on a real network), so 30 s loses nothing.
    proxy_watch_interval_s: float = 30.0
    # The stats/admin HTTP server (http_port): on this machine only unless set (see admin_host's help).
    admin_host: str = "127.0.0.1"

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_admin_host(self.admin_host)
        if not self.health_timeout_s > 0:
            raise ConfigError(f"health_timeout_s must be more than 0 seconds, not {self.health_timeout_s}")
        if self.health_failures < 1:
            raise ConfigError(f"health_failures must be at least 1, not {self.health_failures}")


class ProxyConfig(_Config, frozen=True, kw_only=True):
    """A proxy."""

    worker_port: int = 11001
    client_port: int = 11002
    # COCOON's own client protocol (cocoon.proxy.cocoon_port), for reference clients and SDKs: its port
    # (unset: client_port + 1, i.e. 11003; any free port when client_port is 0; -1: off) and the
    # proof-of-work difficulty its clients solve before TLS (the reference's 20; at most 28).
    cocoon_port: int | None = None
    cocoon_pow_difficulty: int = 20
    # Without a chain, for reference client runners in their test mode (fake TON): the fake root config
    # (JSON) they read and the root address they name; the COCOON port then answers the proxy and client
    # contract addresses they derive from it (else they refuse the proxy).
    cocoon_fake_root: str = ""
    cocoon_fake_root_address: str = ""
    http_port: int = 11000
    worker_policy: PolicyName = "fake"
    client_policy: PolicyName = "any"
    price_per_token: int = 20
    worker_fee_per_token: int = 19
    # Chain-less test networks only: credit (nanoTON) given to a client the first time it connects.
    local_client_credit_nano: Nano = Nano(0)
    max_retries: int = 2
    queue_timeout_s: float = 5.0
    # Settlement on chain (with chain_url): the proxy contract's owner (empty: the node wallet),
    # how often counters are stamped / committed on chain / settled, and when money moves (nanoTON).
    owner_address: str = ""
    flush_interval_s: float = 1.0
    commit_interval_s: float = 45.0
    settle_interval_s: float = 5.0
    charge_threshold_nano: Nano = DEFAULT_THRESHOLDS.charge_nano
    payout_threshold_nano: Nano = DEFAULT_THRESHOLDS.payout_nano
    withdraw_threshold_nano: Nano = DEFAULT_THRESHOLDS.withdraw_nano
    # Allowlists (hex; empty = any). On a chain, empty lists mean: follow the root contract's.
    allowed_worker_image_hashes: list[str] = msgspec.field(default_factory=list)
    allowed_worker_mrtds: list[str] = msgspec.field(default_factory=list)
    allowed_worker_rtmrs: list[str] = msgspec.field(default_factory=list)
    allowed_model_hashes: list[str] = msgspec.field(default_factory=list)
    # Seconds between reads of the proxy contract's transactions (the settlement's chain poll).
    chain_poll_interval_s: float = 5.0
    # The stats/admin HTTP server (http_port) binds here, apart from the RA-TLS ports on `host`.
    admin_host: str = "127.0.0.1"

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_admin_host(self.admin_host)
        if not 0 <= self.cocoon_pow_difficulty <= 28:
            raise ConfigError(
                f"cocoon_pow_difficulty must be within 0..28 (COCOON clients refuse more), not "
                f"{self.cocoon_pow_difficulty}"
            )
        if self.cocoon_port is not None and not -1 <= self.cocoon_port <= 65535:
            raise ConfigError(f"cocoon_port must be a port number, or -1 for off, not {self.cocoon_port}")
        if (self.chain_url or self.ton_config) and self.local_client_credit_nano:
            # Refused rather than ignored: free credit on a chain would let clients spend the
            # proxy's money, and a money setting silently dropped hides a misconfiguration.
            raise ConfigError(
                f"local_client_credit_nano = {self.local_client_credit_nano} with a chain set: on a chain "
                "clients pay through their client contracts, so the proxy gives no off-chain credit; "
                "remove local_client_credit_nano (it is for chain-less test networks only)"
            )


class ClientConfig(_Config, frozen=True, kw_only=True):
    """An app developer's client daemon."""

    proxies: list[str] = msgspec.field(default_factory=lambda: ["127.0.0.1:11002"])
    proxy_policy: PolicyName = "fake"
    owner_address: str = LOCAL_OWNER
    http_port: int = 10000
    max_body_bytes: int = 4 * 1024 * 1024
    max_form_bytes: FormBytes = 15 * 1024 * 1024
    default_max_tokens: int = 1000
    # Attestation (cocoon.client.receipts): statement freshness bound, proxies accepted, receipt files.
    max_statement_age_s: float = 0.0
    # Payment on chain (with chain_url): add one stake (or top_up_nano) whenever paid - used falls
    # below half the stake.
    auto_top_up: bool = True
    top_up_nano: Nano = Nano(0)
    allowed_proxy_image_hashes: list[str] = msgspec.field(default_factory=list)
    receipts_dir: str = ""
    # End-to-end encryption to the worker (cocoon.client.e2e_workers): the mode and what a worker must
    # prove before a request is sealed to its key. On a chain, empty lists mean: follow the root's.
    e2e: E2EMode = "preferred"
    worker_policy: PolicyName = "fake"
    allowed_worker_image_hashes: list[str] = msgspec.field(default_factory=list)
    allowed_model_hashes: list[str] = msgspec.field(default_factory=list)
    # Access (cocoon.client.access): API keys (required beyond loopback) and browser origins.
    api_keys_file: str = ""
    allowed_origins: list[str] = msgspec.field(default_factory=list)
    # Proxies speaking COCOON's own client protocol (cocoon.client.cocoon_proxy), picked beside ours.
    cocoon_proxies: list[str] = msgspec.field(default_factory=list)
    cocoon_proxy_policy: PolicyName = "any"
    cocoon_secret: str = ""
    cocoon_test: bool = False
    # Seconds between the upkeep rounds of the client contracts (one account read per proxy channel).
    payments_interval_s: float = 10.0
    # The OpenAI API listener (http_port); empty: `host`. Beyond loopback it needs API keys.
    api_host: str = ""
    # A separate stats/admin server (-1: off, the routes stay on the API listener).
    admin_host: str = "127.0.0.1"
    admin_port: int = -1

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_admin_host(self.admin_host)
        if not -1 <= self.admin_port <= 65535:
            raise ConfigError(f"admin_port must be a port number, or -1 for off, not {self.admin_port}")

    @property
    def api_listen_host(self) -> str:
        """Where the OpenAI API (and the daemon's other HTTP routes) listen: api_host, else host."""
        return self.api_host or self.host


ROLE_CONFIGS: dict[str, type[_Config]] = {
    "client": ClientConfig,
    "proxy": ProxyConfig,
    "worker": WorkerConfig,
}

_HELP = {
    "host": "Address the node's listeners bind to.",
    "data_dir": "Directory of the node key, database and state (empty: a default or an ephemeral key).",
    "quote_provider": "How this node proves its image: 'fake' (development) or 'tdx' (inside a TDX guest).",
    "log_level": "debug, info, warning or error.",
    "chain_url": "Toncenter-style TON API (`cocoon chain serve` locally); empty runs without a chain.",
    "root_address": "The network's root contract (registry of prices, images, models and proxies).",
    "wallet_key": "Node wallet key file (`cocoon wallet new`); empty: <data_dir>/wallet.key.",
    "proxies": "Proxies to connect to, as host:port.",
    "proxy_policy": "What a proxy must prove: 'tdx' (production), 'fake' (local networks) or 'any'.",
    "owner_address": "TON address that owns this node (earns the worker's fees / pays for the client).",
    "engine_url": "OpenAI-compatible engine this worker fronts (vLLM, SGLang, llama.cpp, Ollama...).",
    "engine_remote_ok": "Allow an engine_url that is not loopback (127.0.0.0/8, ::1, localhost) because "
    "the engine runs inside this same attested VM; else the worker refuses it at start, since decrypted "
    "prompts go to the engine in plain HTTP and would leave the attested VM.",
    "model": "Model id to serve; empty takes the engine's first model.",
    "coefficient": "Price coefficient: 1000 = 1.0x the network price.",
    "max_active": "Requests served at the same time.",
    "http_port": "Port of the node's HTTP endpoints (/healthz, /jsonstats; the client's OpenAI API), on "
    "admin_host (proxy, worker) or api_host (client).",
    "health_interval_s": "Seconds between engine health probes.",
    "health_timeout_s": "Seconds one engine health probe may take before it counts as a failure.",
    "health_failures": "Consecutive failed health probes before the engine is marked down (and the worker "
    "leaves routing).",
    "max_tokens_limit": "Largest max_tokens this node accepts.",
    "cash_out_threshold_nano": "The worker submits its signed payout once unclaimed earnings reach this.",
    "idle_cash_out_threshold_nano": "...or, while it serves nothing, once they reach this smaller amount.",
    "root_poll_interval_s": "Seconds between reads of the root contract (proxy list, allowed images, and a "
    "params_version change, which moves the node to new contracts).",
    "proxy_watch_interval_s": "Seconds between reads of the proxy contracts a worker serves: one that closes "
    "gets the worker's latest signed payout at once and no more requests.",
    "gpu": "GPU model for the preflight check (see `cocoon plan gpus`); empty skips it.",
    "gpu_count": "Number of GPUs the engine uses.",
    "vram_gb": "VRAM per GPU in GB for the preflight check; 0 takes the catalog figure of `gpu`.",
    "quant": "Weights format for the preflight (bf16, fp8, q4...); empty: the model's native format.",
    "model_family": "Catalog name of the served model when its id is not one (e.g. Qwen3-8B).",
    "worker_port": "RA-TLS port for workers.",
    "client_port": "RA-TLS port for clients.",
    "cocoon_port": "Port for clients speaking COCOON's own protocol (reference clients, COCOON SDKs); unset: "
    "client_port + 1 (11003); -1: off.",
    "cocoon_pow_difficulty": "Proof-of-work difficulty (leading zero bits) a COCOON client solves before "
    "TLS; the reference uses 20, clients refuse more than 28.",
    "worker_policy": "What a worker must prove: 'tdx' in production, 'fake' for local networks (the client "
    "checks it before sealing a request to the worker's end-to-end key).",
    "client_policy": "What a client must prove: 'any' (clients are not attested).",
    "price_per_token": "nanoTON a client pays per adjusted token (until read from the root contract).",
    "worker_fee_per_token": "nanoTON a worker earns per adjusted token (until read from the root contract).",
    "local_client_credit_nano": "Off-chain credit (nanoTON) given to a new client, for chain-less test "
    "networks only (default 0); refused together with chain_url, where clients pay from their contracts.",
    "flush_interval_s": "Seconds between stamps of the payment counters in the proxy's database.",
    "commit_interval_s": "Seconds between save-state notes that commit the counters on chain.",
    "settle_interval_s": "Seconds between checks whether a client must be charged or a worker paid.",
    "charge_threshold_nano": "The proxy charges a client on chain once this much usage is committed.",
    "payout_threshold_nano": "The proxy pays a worker (or a worker cashes out) at this many earnings.",
    "withdraw_threshold_nano": "The proxy withdraws its commission once its contract holds this much.",
    "auto_top_up": "Top the client contract up automatically when its balance runs low (chain only).",
    "top_up_nano": "nanoTON added per automatic top-up; 0 adds one stake.",
    "max_retries": "Other workers tried when a worker fails before its first chunk.",
    "queue_timeout_s": "Seconds a request waits for a free worker before 503 no_capacity.",
    "max_body_bytes": "Largest request body accepted (413 above).",
    "max_form_bytes": "Largest audio transcription form, audio included (413 above; 15 MiB at most).",
    "default_max_tokens": "max_tokens injected when a request has none (sizes the reservation).",
    "gpu_evidence_file": "Saved GPU attestation report (JSON) whose digest the worker signs; empty: none.",
    "allowed_proxy_image_hashes": "Proxy image hashes (hex) this node accepts; empty accepts any image.",
    "allowed_worker_image_hashes": "Worker image hashes (hex) the proxy admits / the client encrypts to; "
    "empty admits any image (on a chain: the root's list).",
    "allowed_worker_mrtds": "Worker MRTDs (hex, 48 bytes) the proxy admits; empty admits any.",
    "allowed_worker_rtmrs": "Worker RTMR sets the proxy admits ('rtmr0:rtmr1:rtmr2:rtmr3', hex); empty: any.",
    "allowed_model_hashes": "Model hashes (hex) a worker may attest; empty admits any model (on a chain: the "
    "root's list).",
    "e2e": "End-to-end encryption to the worker, the proxy blind: 'required' (fail closed when no verified "
    "worker has a key), 'preferred' (plaintext then, counted and logged) or 'off'.",
    "max_statement_age_s": "Refuse a proxy/worker whose signed statement is older (seconds); 0: no bound.",
    "receipts_dir": "Write each verified receipt with its request/response bytes here; empty: memory only.",
    "api_keys_file": "API key file (`cocoon client keys add`); empty: <data_dir>/api_keys.json. Keys are "
    "required once it holds one, and always when the API (api_host, else host) is not loopback.",
    "cocoon_proxies": "Proxies speaking COCOON's own client protocol (the reference's or ours), as host:port "
    "of their client port; requests go to them or to `proxies` by load. Use proxies = [] for these alone.",
    "cocoon_proxy_policy": "What a COCOON-protocol proxy must prove: 'any' (nothing, as the published COCOON "
    "SDKs; the reference's test mode presents a plain certificate), 'fake' or 'tdx'.",
    "cocoon_secret": "Short-auth secret for COCOON-protocol proxies (its SHA-256 is in the client contract; "
    "the reference's test mode holds the empty one's). Else long auth: an on-chain registration (chain_url).",
    "cocoon_fake_root": "Without a chain: the reference runners' fake-TON root config (JSON) whose codes and "
    "params the COCOON port derives the contract addresses it announces from, so that reference client "
    "runners in their test mode accept this proxy (needs cocoon_fake_root_address).",
    "cocoon_fake_root_address": "The root contract address the reference runners' configs name "
    "(root_contract_address), for cocoon_fake_root.",
    "cocoon_test": "Speak to a COCOON test network (the reference's fake-TON test mode); must match the "
    "proxy's.",
    "pccs_url": "PCCS (Intel's PCCS v4 API, e.g. https://pccs.example.com:8081) the 'tdx' policy fetches "
    "DCAP collateral from for a peer's platform (FMSPC) before the handshake needs it, and again before "
    "its nextUpdate; empty: only collateral_files.",
    "collateral_files": "Saved DCAP collateral (QuoteCollateralV3 JSON, `cocoon attest collateral fetch`) "
    "the 'tdx' policy loads at start, one file per platform (FMSPC); used until its nextUpdate.",
    "allowed_origins": "Web origins (e.g. 'https://app.example.com') whose pages may call the API; a "
    "request with any other Origin header is refused (403).",
    "chain": "TON backend: 'local' (`cocoon chain serve` at chain_url, no rate limit), 'toncenter' (a "
    "toncenter v2 endpoint at chain_url, rate-limited), 'lite' (liteservers of ton_config) or 'auto' "
    "(lite with ton_config, local for a loopback chain_url, else toncenter).",
    "chain_api_key": "Toncenter API key (X-API-Key); raises the public limit from ~1 to ~10 requests/s.",
    "chain_rate_per_s": "Chain requests per second this node keeps to (one bucket for all its calls); 0: "
    "toncenter's public limit (1/s, 10/s with chain_api_key), unlimited on the local chain.",
    "ton_config": "TON global config file (JSON with 'liteservers') for chain = 'lite'.",
    "testnet": "The chain is a TON testnet: addresses print with the testnet flag and mainnet-flagged "
    "addresses are refused (and the other way round without it).",
    "wallet_poll_interval_s": "Seconds between seqno reads while the node wallet waits for its message "
    "to land (TON makes a block every ~5 s; the local chain includes at once).",
    "cash_out_interval_s": "Seconds between the worker's payout checks (one chain read per proxy).",
    "chain_poll_interval_s": "Seconds between the proxy's reads of its contract's transactions (commit "
    "notes, client registrations); the idle chain load is about 60/this + 60/settle_interval_s per minute.",
    "payments_interval_s": "Seconds between the client's upkeep rounds (one chain read per proxy).",
    "admin_host": "Address the stats/admin HTTP server (/healthz, /jsonstats, /metrics and the admin POSTs; "
    "the proxy's and worker's http_port, the client's admin_port) binds to, apart from `host`; 127.0.0.1 by "
    "default, so a node listening on 0.0.0.0 for its peers keeps it on this machine. Admin POSTs (charge, "
    "payout, close, payments) need the bearer token in <data_dir>/admin.token wherever they listen.",
    "admin_port": "Client: port of a separate stats/admin server on admin_host (/healthz, /jsonstats, "
    "/metrics, /payments); the API listener then serves no /payments. -1 (default): off while the API is "
    "on loopback (/payments beside it, its POSTs behind the admin token), http_port + 1 when it is not.",
    "api_host": "Address the client's OpenAI API (http_port) binds to; empty: `host`. Beyond loopback "
    "the daemon refuses to start without API keys (`cocoon client keys add`). Its POST /payments/... "
    "need the admin token in <data_dir>/admin.token.",
}

_INTERVALS = (
    "root_poll_interval_s",
    "wallet_poll_interval_s",
    "cash_out_interval_s",
    "chain_poll_interval_s",
    "payments_interval_s",
    "proxy_watch_interval_s",
)


def _check_chain_settings(config: _Config) -> None:
    """Chain backend and polling settings that cannot work (a chosen backend is checked in full here;
    ``auto`` is resolved when the node opens its chain, :func:`cocoon.node.chain.open_chain`)."""
    for name in _INTERVALS:
        value = getattr(config, name, 1.0)
        if not value > 0:
            raise ConfigError(f"{name} must be more than 0 seconds, not {value}")
    if config.chain != "auto" or config.chain_rate_per_s < 0:
        choose_chain(
            config.chain, config.chain_url, config.chain_api_key, config.chain_rate_per_s, config.ton_config
        )
    for name in ("root_address", "owner_address"):
        why = wrong_network(getattr(config, name, ""), testnet=config.testnet, what=name)
        if why is not None:
            raise ConfigError(why)


def _check_admin_host(host: str) -> None:
    if not host.strip():
        raise ConfigError(
            "admin_host is empty, which would listen on every interface: set an address, e.g. 127.0.0.1 "
            "(this machine only) or 0.0.0.0 (every interface, admin POSTs still need the admin token)"
        )


def field_help(name: str) -> str:
    """One line saying what a configuration key means (empty if undocumented)."""
    return _HELP.get(name, "")
