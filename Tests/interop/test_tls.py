"""TLS as nats-server does it, driven by a real NATS client (nats-py).

The same flags (--tls, --tlscert, --tlskey, --tlscacert, --tlsverify) and the same
configuration block (tls { ... handshake_first }) on both servers: run this module with
NATS_SERVER=1 to check the tests themselves against nats-server. Certificates are made here
with the openssl command line: a throwaway CA, a server certificate for 127.0.0.1 and
localhost, and a client certificate.
"""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
import subprocess
from pathlib import Path
from urllib.parse import urlparse

import nats
import pytest

from conftest import read_info_line, server_mode


def run(coro):
    return asyncio.run(coro)



def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def certs(tmp_path_factory) -> dict:
    d = tmp_path_factory.mktemp("certs")
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
             "-days", "2", "-subj", "/CN=Docket Test CA", cwd=d)
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "other-ca.key", "-out", "other-ca.pem",
             "-days", "2", "-subj", "/CN=Some Other CA", cwd=d)
    (d / "server.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    (d / "mapped.ext").write_text("subjectAltName=email:ops@example.com\n")
    for name, ext, subject in (("server", ["-extfile", "server.ext"], "/CN=server"), ("client", [], "/CN=client"),
                               ("mapped", ["-extfile", "mapped.ext"], "/CN=worker-7/O=Docket"),
                               ("by-subject", [], "/CN=worker-8/O=Docket")):
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr",
                 "-subj", subject, cwd=d)
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                 "-out", f"{name}.pem", "-days", "2", *ext, cwd=d)
    # Alternative names that hold a line end or a NUL: the CA signed one name, not two, and not
    # the part before the NUL (written as DER, which the openssl command line cannot type).
    for name, value in (("forged-nl", b"evil@example.org\nops@example.com"), ("forged-nul", b"ops@example.com\x00.evil.org")):
        alt_names = bytes([0x30, len(value) + 2, 0x81, len(value)]) + value
        (d / f"{name}.ext").write_text(f"subjectAltName=DER:{alt_names.hex()}\n")
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr",
                 "-subj", f"/CN={name}", cwd=d)
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                 "-out", f"{name}.pem", "-days", "2", "-extfile", f"{name}.ext", cwd=d)
    return {name: str(d / name) for name in
            ("ca.pem", "other-ca.pem", "server.pem", "server.key", "client.pem", "client.key", "mapped.pem",
             "mapped.key", "by-subject.pem", "by-subject.key", "forged-nl.pem", "forged-nl.key", "forged-nul.pem",
             "forged-nul.key")}


def _context(certs, ca="ca.pem", client=False, cert="client") -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=certs[ca])
    if client:
        ctx.load_cert_chain(certs[f"{cert}.pem"], certs[f"{cert}.key"])
    return ctx


def _tls_url(url: str) -> str:
    return "tls://" + urlparse(url).netloc


async def _round_trip(nc, subject="tls.check", payload=b"x" * 70000) -> bytes:
    sub = await nc.subscribe(subject)
    await nc.publish(subject, payload)
    msg = await sub.next_msg(timeout=3)
    return msg.data


def test_publish_and_subscribe_over_tls(start_server, certs):
    url = start_server(tls=True, tlscert=certs["server.pem"], tlskey=certs["server.key"])
    sock = socket.create_connection((urlparse(url).hostname, urlparse(url).port), timeout=5)
    info = json.loads(read_info_line(sock)[5:])
    sock.close()
    assert info["tls_required"] is True

    async def main():
        nc = await nats.connect(_tls_url(url), tls=_context(certs), allow_reconnect=False)
        # A payload larger than one TLS record, and many small ones in a burst.
        assert await _round_trip(nc) == b"x" * 70000
        sub = await nc.subscribe("burst")
        for i in range(500):
            await nc.publish("burst", str(i).encode())
        got = [int((await sub.next_msg(timeout=3)).data) for _ in range(500)]
        assert got == list(range(500))
        await nc.close()

    run(main())


@pytest.mark.docketd_only("job API")
def test_jobs_over_tls(start_server, certs):
    url = start_server(tls=True, tlscert=certs["server.pem"], tlskey=certs["server.key"])

    async def main():
        nc = await nats.connect(_tls_url(url), tls=_context(certs), allow_reconnect=False)
        reply = await nc.request("$DOCKET.API.ENQ.emails", b"hello", timeout=3)
        assert json.loads(reply.data)["id"] == 1
        job = await nc.request("$DOCKET.API.RESERVE.emails", b"", timeout=3)
        assert job.data == b"hello" and job.headers["Docket-Job-Id"] == "1"
        done = await nc.request("$DOCKET.API.ACK.1", b"", timeout=3)
        assert json.loads(done.data) == {"ok": True}
        await nc.close()

    run(main())


def test_a_server_certificate_from_another_ca_is_refused(start_server, certs):
    url = start_server(tls=True, tlscert=certs["server.pem"], tlskey=certs["server.key"])

    async def main():
        with pytest.raises(Exception):
            await nats.connect(_tls_url(url), tls=_context(certs, ca="other-ca.pem"),
                               allow_reconnect=False, connect_timeout=2, max_reconnect_attempts=0)

    run(main())


@pytest.mark.docketd_only("nats-server's answer to plain text differs")
def test_a_plain_client_is_told_tls_is_required(start_server, certs):
    url = start_server(tls=True, tlscert=certs["server.pem"], tlskey=certs["server.key"])
    sock = socket.create_connection((urlparse(url).hostname, urlparse(url).port), timeout=5)
    read_info_line(sock)
    sock.sendall(b"CONNECT {}\r\nPING\r\n")
    data = b""
    while True:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    assert data == b"-ERR 'Secure Connection - TLS Required'\r\n"


def test_allow_non_tls_serves_both_kinds_of_client(start_server, certs):
    """nats-server's allow_non_tls: INFO offers TLS instead of requiring it, a client that starts
    the handshake gets TLS, and one that answers in plain text is served in plain text."""
    config = (
        "tls {\n"
        f'  cert_file: "{certs["server.pem"]}"\n'
        f'  key_file: "{certs["server.key"]}"\n'
        "}\n"
        "allow_non_tls: true\n"
    )
    url = start_server(config=config)
    host, port = urlparse(url).hostname, urlparse(url).port
    with socket.create_connection((host, port), timeout=5) as sock:
        info = json.loads(read_info_line(sock)[5:])
        assert info.get("tls_available") is True and not info.get("tls_required")
        sock.sendall(b"CONNECT {}\r\nSUB plain 1\r\nPUB plain 2\r\nhi\r\nPING\r\n")
        data = b""
        while not data.endswith(b"PONG\r\n"):
            chunk = sock.recv(4096)
            assert chunk, data
            data += chunk
        assert b"MSG plain 1 2\r\nhi\r\n" in data

    async def main():
        nc = await nats.connect(_tls_url(url), tls=_context(certs), allow_reconnect=False)
        assert await _round_trip(nc, payload=b"secure") == b"secure"
        await nc.close()

    run(main())


def test_mutual_tls_needs_a_client_certificate(start_server, certs):
    url = start_server(tls=True, tlscert=certs["server.pem"], tlskey=certs["server.key"],
                       tlscacert=certs["ca.pem"], tlsverify=True)

    async def main():
        nc = await nats.connect(_tls_url(url), tls=_context(certs, client=True), allow_reconnect=False)
        assert await _round_trip(nc, payload=b"mutual") == b"mutual"
        await nc.close()
        with pytest.raises(Exception):
            nc = await nats.connect(_tls_url(url), tls=_context(certs), allow_reconnect=False,
                                    connect_timeout=2, max_reconnect_attempts=0)
            # TLS 1.3 reports a refused client certificate after the handshake, on first use.
            await _round_trip(nc, payload=b"nope")

    run(main())


@pytest.mark.docketd_only("handshake_first came with nats-server 2.10; Debian's is 2.9")
def test_handshake_first_from_the_configuration_file(start_server, certs):
    config = (
        "tls {\n"
        f'  cert_file: "{certs["server.pem"]}"\n'
        f'  key_file: "{certs["server.key"]}"\n'
        "  handshake_first: true\n"
        "}\n"
    )
    url = start_server(config=config)

    async def main():
        nc = await nats.connect(_tls_url(url), tls=_context(certs), tls_handshake_first=True, allow_reconnect=False)
        assert await _round_trip(nc, payload=b"first") == b"first"
        await nc.close()

    run(main())


def test_tls_with_a_user_and_password(start_server, certs):
    url = start_server(tls=True, tlscert=certs["server.pem"], tlskey=certs["server.key"], user="alice", **{"pass": "wonder"})

    async def main():
        nc = await nats.connect(_tls_url(url), tls=_context(certs), user="alice", password="wonder", allow_reconnect=False)
        assert await _round_trip(nc, payload=b"both") == b"both"
        await nc.close()
        with pytest.raises(Exception):
            await nats.connect(_tls_url(url), tls=_context(certs), user="alice", password="wrong",
                               allow_reconnect=False, max_reconnect_attempts=0, connect_timeout=2)

    run(main())


def test_verify_and_map_names_the_user_by_its_certificate(start_server, certs):
    """tls { verify_and_map }: the client is the user its certificate names, by its email
    alternative name or by its subject (RFC 2253); a certificate naming nobody is refused."""
    config = (
        "tls {\n"
        f'  cert_file: "{certs["server.pem"]}"\n'
        f'  key_file: "{certs["server.key"]}"\n'
        f'  ca_file: "{certs["ca.pem"]}"\n'
        "  verify_and_map: true\n"
        "}\n"
        "authorization { users = [\n"
        '  { user: "ops@example.com", permissions: { publish: "ops.>", subscribe: "ops.>" } }\n'
        '  { user: "O=Docket,CN=worker-8" }\n'
        "] }\n"
    )
    url = start_server(config=config)

    async def main():
        errors = []

        async def on_error(error):
            errors.append(str(error))

        ops = await nats.connect(_tls_url(url), tls=_context(certs, client=True, cert="mapped"), error_cb=on_error,
                                 allow_reconnect=False)
        assert await _round_trip(ops, subject="ops.check", payload=b"mapped") == b"mapped"
        await ops.publish("elsewhere", b"no")
        await ops.flush()
        await asyncio.sleep(0.2)
        assert any("permissions violation" in e.lower() for e in errors), errors
        await ops.close()
        worker = await nats.connect(_tls_url(url), tls=_context(certs, client=True, cert="by-subject"), allow_reconnect=False)
        assert await _round_trip(worker, payload=b"subject") == b"subject"
        await worker.close()
        with pytest.raises(Exception):
            await nats.connect(_tls_url(url), tls=_context(certs, client=True), allow_reconnect=False,
                               max_reconnect_attempts=0, connect_timeout=2)
        # A name with a line end or a NUL in it names nobody: not the part after the line end,
        # nor the part before the NUL.
        for forged in ("forged-nl", "forged-nul"):
            with pytest.raises(Exception):
                await nats.connect(_tls_url(url), tls=_context(certs, client=True, cert=forged), allow_reconnect=False,
                                   max_reconnect_attempts=0, connect_timeout=2)

    run(main())


@pytest.mark.docketd_only("--tls-timeout is docketd's flag")
def test_a_client_that_never_starts_its_handshake_is_closed(certs, tmp_path):
    """--tls-timeout: after INFO, a client that sends nothing is closed when the time is up,
    instead of holding a connection (and its descriptor) for ever."""
    import os
    import time

    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKET_")}
    proc = subprocess.Popen([os.environ["DOCKETD"], "--port", "0", "--data-dir", str(tmp_path / "data"),
                             "--tls", "--tlscert", certs["server.pem"], "--tlskey", certs["server.key"],
                             "--tls-timeout", "300ms"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    try:
        port = None
        for line in proc.stderr:
            if "Listening for client connections on" in line:
                port = int(line.rsplit(":", 1)[1])
            if "Server is ready" in line:
                break
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        assert read_info_line(sock).startswith(b"INFO ")
        started = time.monotonic()
        assert sock.recv(4096) == b""  # closed, nothing more said
        assert 0.2 < time.monotonic() - started < 3
    finally:
        proc.terminate()
        proc.wait(10)
