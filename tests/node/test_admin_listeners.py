"""Separate listeners and the admin token: a node listening on every interface for its peers keeps its
stats/admin server on loopback unless ``admin_host`` says otherwise; the token file is made once, mode
0600, and refused when others may read it; a client daemon refuses a public API without keys."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import aiohttp
import pytest

from cocoon.client.access import access_control
from cocoon.client.build import admin_listen_port, build_client
from cocoon.client.keys import add_key
from cocoon.engine.memory import MemoryEngine
from cocoon.errors import ConfigError
from cocoon.node.admin_token import ADMIN_TOKEN_FILE, AdminToken, load_or_create_admin_token
from cocoon.proxy.build import build_proxy
from cocoon.roles import ClientConfig, ProxyConfig, WorkerConfig
from cocoon.worker.build import WorkerDeps, build_worker


def listening(port: int) -> set[str]:
    """The addresses a TCP socket listens on at ``port`` on this (Linux) machine."""
    found = set()
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            address, port_hex = fields[1].split(":")
            if fields[3] == "0A" and int(port_hex, 16) == port and len(address) == width:
                found.add(_address(address))
    return found


def _address(hex_address: str) -> str:
    if len(hex_address) == 8:  # IPv4, little-endian
        return ".".join(str(b) for b in reversed(bytes.fromhex(hex_address)))
    return "::" if int(hex_address, 16) == 0 else hex_address


async def test_a_proxy_on_every_interface_keeps_its_admin_server_on_loopback(tmp_path: Path) -> None:
    config = ProxyConfig(
        host="0.0.0.0", worker_port=0, client_port=0, cocoon_port=-1, http_port=0, data_dir=str(tmp_path)
    )
    async with build_proxy(config) as proxy:
        assert listening(proxy.http_port) == {"127.0.0.1"}
        assert listening(proxy.service.worker_listener.port) == {"0.0.0.0"}  # peers still reach it
        assert listening(proxy.service.client_listener.port) == {"0.0.0.0"}
    token = tmp_path / ADMIN_TOKEN_FILE  # made at first start
    assert stat.S_IMODE(token.stat().st_mode) == 0o600 and len(token.read_text().strip()) >= 40


async def test_admin_host_moves_the_stats_server_alone(tmp_path: Path) -> None:
    config = ProxyConfig(
        worker_port=0,
        client_port=0,
        cocoon_port=-1,
        http_port=0,
        admin_host="0.0.0.0",
        data_dir=str(tmp_path),
    )
    async with build_proxy(config) as proxy:
        assert listening(proxy.http_port) == {"0.0.0.0"}
        assert listening(proxy.service.worker_listener.port) == {"127.0.0.1"}


async def test_a_worker_on_every_interface_keeps_its_stats_server_on_loopback(tmp_path: Path) -> None:
    config = WorkerConfig(host="0.0.0.0", proxies=[], http_port=0, data_dir=str(tmp_path))
    async with build_worker(config, WorkerDeps(engine=MemoryEngine())) as worker:
        assert listening(worker.http_port) == {"127.0.0.1"}
    assert (tmp_path / ADMIN_TOKEN_FILE).exists()


def test_an_empty_admin_host_is_refused() -> None:
    with pytest.raises(ConfigError, match="admin_host is empty"):
        ProxyConfig(admin_host="")


async def test_a_client_refuses_a_public_api_without_keys(tmp_path: Path) -> None:
    public = ClientConfig(api_host="0.0.0.0", data_dir=str(tmp_path))
    with pytest.raises(ConfigError, match=r"API would listen on '0\.0\.0\.0'.*needs API keys"):
        access_control(public)
    with pytest.raises(ConfigError, match="needs API keys"):
        async with build_client(public):
            pass
    # host alone (no api_host) still decides, as before; an api_host on loopback keeps it private
    with pytest.raises(ConfigError, match="needs API keys"):
        access_control(ClientConfig(host="0.0.0.0"))
    assert not access_control(ClientConfig(host="0.0.0.0", api_host="127.0.0.1")).keys_required


async def test_a_client_api_host_is_where_the_api_listens(tmp_path: Path) -> None:
    config = ClientConfig(
        host="0.0.0.0", api_host="127.0.0.1", proxies=[], http_port=0, data_dir=str(tmp_path)
    )
    async with build_client(config) as client:
        assert listening(client.http_port) == {"127.0.0.1"}
    assert (tmp_path / ADMIN_TOKEN_FILE).exists()


def test_the_token_is_made_once_and_kept(tmp_path: Path) -> None:
    first = load_or_create_admin_token(tmp_path / "node")
    again = load_or_create_admin_token(tmp_path / "node")
    assert first is not None and first == again
    assert stat.S_IMODE(first[1].stat().st_mode) == 0o600
    assert load_or_create_admin_token("") is None


def test_a_token_others_may_read_or_an_empty_one_is_refused(tmp_path: Path) -> None:
    made = load_or_create_admin_token(tmp_path)
    assert made is not None
    os.chmod(made[1], 0o644)
    with pytest.raises(ConfigError, match=r"readable by other users.*chmod 600"):
        AdminToken.of_data_dir(tmp_path)
    made[1].write_text("\n")
    os.chmod(made[1], 0o600)
    with pytest.raises(ConfigError, match="is empty"):
        AdminToken.of_data_dir(tmp_path)


def test_refusals_say_where_the_token_is(tmp_path: Path) -> None:
    token = AdminToken.of_data_dir(tmp_path)
    assert token.token is not None
    assert token.refusal([token.token]) is None
    assert token.refusal(["wrong", token.token]) is None  # e.g. an API key beside it
    for presented in ([], ["wrong"], [token.token + "x"], [token.token[:-1]]):
        why = token.refusal(presented)
        assert why is not None and str(tmp_path / ADMIN_TOKEN_FILE) in why
    nobody = AdminToken(None, None)
    assert "without data_dir" in (nobody.refusal([token.token]) or "")


async def test_a_proxy_with_a_token_others_may_read_refuses_to_start(tmp_path: Path) -> None:
    made = load_or_create_admin_token(tmp_path)
    assert made is not None
    os.chmod(made[1], 0o640)
    config = ProxyConfig(worker_port=0, client_port=0, cocoon_port=-1, http_port=0, data_dir=str(tmp_path))
    with pytest.raises(ConfigError, match="readable by other users"):
        async with build_proxy(config):
            pass


async def test_a_public_client_api_keeps_its_admin_server_on_loopback(tmp_path: Path) -> None:
    add_key(tmp_path / "api_keys.json", name="app", daily_limit_nano=None, now=0.0)
    # no admin_port: a public API gets its admin server apart, on loopback, by itself
    config = ClientConfig(api_host="0.0.0.0", proxies=[], http_port=0, data_dir=str(tmp_path))
    assert admin_listen_port(config) == 0 and admin_listen_port(ClientConfig(api_host="0.0.0.0")) == 10001
    assert admin_listen_port(ClientConfig()) == -1  # a loopback API keeps the routes beside it
    async with build_client(config) as client, aiohttp.ClientSession() as http:
        assert client.admin_port is not None
        assert listening(client.http_port) == {"0.0.0.0"} and listening(client.admin_port) == {"127.0.0.1"}
        async with http.get(f"http://127.0.0.1:{client.admin_port}/jsonstats") as resp:
            assert resp.status == 200 and "client" in await resp.json()  # no API key asked on loopback
        async with http.get(f"http://127.0.0.1:{client.http_port}/jsonstats") as resp:
            assert resp.status == 401  # the public listener asks for an API key


def test_a_client_admin_port_out_of_range_is_refused() -> None:
    with pytest.raises(ConfigError, match="admin_port must be a port number"):
        ClientConfig(admin_port=70000)
