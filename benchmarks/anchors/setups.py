"""Starting each setup as separate processes, and naming the processes that make up its chain.

A `Setup` is where the load generator connects and which processes' CPU is the setup's cost
(``chain``), plus processes measured but not on the request path (``side``: the local chain and the
supervisor of our network). Every process is started here and stopped by `stop`.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from procstat import children

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
READY_S = 120.0
LOOPBACK = ipaddress.ip_address("127.0.0.1")


@dataclass
class Setup:
    name: str
    port: int
    path: str
    model: str
    chain: dict[str, int] = field(default_factory=dict)
    side: dict[str, int] = field(default_factory=dict)
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    graceful: bool = False
    """Stop with SIGINT and wait (our network), not by killing."""
    host: str = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def spawn(
    argv: list[str], log: Path, env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[bytes], int]:
    """Start ``argv``; wait for its ``ready <port>`` line on stdout; stderr goes to ``log``."""
    with log.open("wb") as err:
        proc = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=err,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {})},
        )
    assert proc.stdout is not None
    line = proc.stdout.readline().decode()
    if not line.startswith("ready "):
        proc.kill()
        raise RuntimeError(f"{argv[1:3]} did not start: {line!r}\n{log.read_text(errors='replace')[-2000:]}")
    return proc, int(line.split()[1])


def stop(processes: list[subprocess.Popen[bytes]], *, graceful: bool = False) -> None:
    """Stop the stateless helpers with SIGTERM (nginx's master then stops its worker: a killed master
    leaves it running); ``graceful``: SIGINT first (our network's supervisor then stops its nodes
    cleanly). Whatever lingers after 30 s is killed."""
    for proc in processes:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT if graceful else signal.SIGTERM)
    for proc in processes:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def start_backend(tmp: Path) -> tuple[subprocess.Popen[bytes], int]:
    return spawn([sys.executable, str(HERE / "backend.py"), "--port", "0"], tmp / "backend.log")


CA_USAGE = x509.KeyUsage(
    digital_signature=False, content_commitment=False, key_encipherment=False, data_encipherment=False,
    key_agreement=False, key_cert_sign=True, crl_sign=True, encipher_only=False, decipher_only=False,
)  # fmt: skip


def tls_files(tmp: Path) -> tuple[Path, Path, Path]:
    """A throw-away CA and a certificate for 127.0.0.1 it signed: (ca, cert, key) PEM files."""
    now = datetime.datetime.now(datetime.UTC)
    day = datetime.timedelta(days=1)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bench CA")])
    ca = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
        .public_key(ca_key.public_key()).serial_number(1)
        .not_valid_before(now - day).not_valid_after(now + 2 * day)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(CA_USAGE, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name).public_key(key.public_key()).serial_number(2)
        .not_valid_before(now - day).not_valid_after(now + 2 * day)
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(LOOPBACK)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    paths = tmp / "ca.pem", tmp / "cert.pem", tmp / "key.pem"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return paths


def _hop(
    tmp: Path, name: str, upstream: str, tls_in: bool, ca: Path | None
) -> tuple[subprocess.Popen[bytes], int]:
    argv = [sys.executable, str(HERE / "hop.py"), "--port", "0", "--upstream", upstream]
    if tls_in:
        argv += ["--cert", str(tmp / "cert.pem"), "--key", str(tmp / "key.pem")]
    if ca is not None:
        argv += ["--ca", str(ca)]
    return spawn(argv, tmp / f"{name}.log")


def direct(backend_port: int, model: str) -> Setup:
    return Setup("direct", backend_port, "/v1/chat/completions", model)


def one_hop(tmp: Path, backend_port: int, model: str) -> Setup:
    proc, port = _hop(tmp, "hop", f"http://127.0.0.1:{backend_port}", False, None)
    return Setup("minimal aiohttp, 1 hop", port, "/v1/chat/completions", model, {"hop": proc.pid}, {}, [proc])


def three_hops(tmp: Path, backend_port: int, model: str) -> Setup:
    """hop1 (plain HTTP in) -TLS-> hop2 -TLS-> hop3 -> backend: TLS on the two inner legs."""
    ca, _, _ = tls_files(tmp)
    inner, inner_port = _hop(tmp, "hop3", f"http://127.0.0.1:{backend_port}", True, None)
    middle, middle_port = _hop(tmp, "hop2", f"https://127.0.0.1:{inner_port}", True, ca)
    outer, outer_port = _hop(tmp, "hop1", f"https://127.0.0.1:{middle_port}", False, ca)
    pids = {"hop1": outer.pid, "hop2": middle.pid, "hop3": inner.pid}
    name = "minimal aiohttp, 3 hops, TLS on 2 (the floor)"
    return Setup(name, outer_port, "/v1/chat/completions", model, pids, {}, [outer, middle, inner])


def nginx(tmp: Path, backend_port: int, model: str) -> Setup:
    """nginx as one reverse-proxy hop (one worker process, upstream keep-alive, no buffering)."""
    port = free_port()
    conf = tmp / "nginx.conf"
    temps = " ".join(  # every temp path under tmp: the compiled-in ones need root
        f"{kind}_temp_path {tmp}/nginx-{kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    conf.write_text(
        f"worker_processes 1; daemon off; pid {tmp}/nginx.pid; error_log {tmp}/nginx-error.log;\n"
        "events { worker_connections 4096; }\n"
        # Keep-alive without a request limit on both sides, as the other setups (nginx closes a
        # connection after 1,000 requests by default, which the load generator counts as an error).
        f"http {{ access_log off; keepalive_requests 100000000; keepalive_timeout 600s; {temps}\n"
        f"  upstream backend {{ server 127.0.0.1:{backend_port}; keepalive 256;"
        " keepalive_requests 100000000; }\n"
        f"  server {{ listen 127.0.0.1:{port}; location / {{ proxy_pass http://backend;\n"
        '    proxy_http_version 1.1; proxy_set_header Connection ""; proxy_buffering off; } } }\n'
    )
    which = shutil.which("nginx")
    assert which is not None
    argv = [which, "-c", str(conf), "-p", str(tmp), "-e", str(tmp / "nginx-error.log")]
    with (tmp / "nginx.log").open("wb") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=log)
    _wait_port(port, proc)
    deadline = time.monotonic() + 10
    while not children(proc.pid) and time.monotonic() < deadline:  # the master forks its worker
        time.sleep(0.05)
    pids = {"nginx master": proc.pid} | {f"nginx worker {i}": p for i, p in enumerate(children(proc.pid))}
    return Setup("nginx, 1 hop", port, "/v1/chat/completions", model, pids, {}, [proc])


def litellm(tmp: Path, backend_port: int, model: str) -> Setup:
    """LiteLLM's SDK (`litellm.acompletion`) behind uvicorn, one worker (see `litellm_hop`)."""
    port = free_port()
    argv = [sys.executable, str(HERE / "litellm_hop.py"), "--port", str(port)]
    argv += ["--upstream", f"http://127.0.0.1:{backend_port}/v1"]
    proc, _ = spawn(argv, tmp / "litellm.log")
    _wait_port(port, proc)
    name = "LiteLLM SDK 1 hop (uvicorn, 1 worker)"
    return Setup(name, port, "/v1/chat/completions", model, {"litellm": proc.pid}, {}, [proc])


def _wait_port(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + READY_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening on {port}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listened on {port} within {READY_S} s")
