"""TLS: ``tls://`` URLs, a CA file, client certificates, the upgrade after
INFO when the server says ``tls_required``, and ``tls_handshake_first``.

Against nats-server with ``--tls`` (the pub/sub half of the protocol; its
INFO asks for TLS exactly as docketd's will), against a small TLS-first fake
server (nats-server 2.9 has no handshake_first), and against docketd when
its ``--help`` lists ``--tls`` (skipped, saying why, until it does). The
certificates come from the openssl command line, made once per session.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import ssl
import subprocess
import threading
from typing import List

import pytest

import docketd_client as docket
import docketd_client.aio as aio
from conftest import Certs


def tls_flags(certs: Certs, verify_clients: bool = False) -> List[str]:
    flags = ["--tls", "--tlscert", certs.server, "--tlskey", certs.server_key]
    if verify_clients:
        flags += ["--tlscacert", certs.ca, "--tlsverify"]
    return flags


def run(coro, timeout: float = 20.0):
    async def bounded():
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(bounded())


# --------------------------------------------------------------------------
# Threaded client against nats-server --tls


def test_tls_url_with_a_ca_file(certs, start_nats_server):
    server = start_nats_server(tls_flags(certs))
    url = f"tls://127.0.0.1:{server.port}"
    with docket.Client(url, tls_ca_file=certs.ca, request_timeout=5) as pub, \
            docket.Client(url, tls_ca_file=certs.ca, request_timeout=5) as sub_client:
        assert pub.is_secure and pub.server_info.get("tls_required") is True
        sub = sub_client.subscribe("load.>")
        sub_client.subscribe("svc.echo", callback=lambda m: m.respond(m.data))
        sub_client.flush()
        # the reader and the writer threads share the TLS connection: many
        # messages both ways at once, large and small
        payloads = [os.urandom(n) for n in (1, 100, 70_000, 5, 300_000)] * 40
        errors: List[BaseException] = []

        def publish() -> None:
            try:
                for i, data in enumerate(payloads):
                    pub.publish(f"load.{i}", data)
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        t = threading.Thread(target=publish)
        t.start()
        for _ in range(20):
            assert pub.request("svc.echo", b"ping", timeout=5).data == b"ping"
        got = [sub.next_msg(10).data for _ in payloads]
        t.join(10)
        assert not errors and got == payloads


def test_a_server_that_requires_tls_gets_it_from_a_nats_url(certs, start_nats_server):
    server = start_nats_server(tls_flags(certs))
    with docket.Client(f"nats://127.0.0.1:{server.port}", tls_ca_file=certs.ca) as c:
        assert c.is_secure
        c.flush()
    # without a CA file the system's CAs are used: our test CA is not one of them
    with pytest.raises(docket.ConnectError) as info:
        docket.Client(f"nats://127.0.0.1:{server.port}", connect_timeout=3)
    assert "certificate verify failed" in str(info.value)
    with pytest.raises(docket.ConnectError) as info:
        docket.Client(f"nats://127.0.0.1:{server.port}", tls=False)
    assert "requires TLS" in str(info.value)
    context = ssl.create_default_context(cafile=certs.ca)
    with docket.Client(f"nats://127.0.0.1:{server.port}", tls=context) as c:
        assert c.is_secure
    with pytest.raises(docket.ConnectError) as info:  # unreadable files: a connect error, not a crash
        docket.Client(f"tls://127.0.0.1:{server.port}", tls_ca_file=str(certs.dir / "missing.pem"))
    assert "cannot load the TLS files" in str(info.value)


def test_client_certificates(certs, start_nats_server):
    server = start_nats_server(tls_flags(certs, verify_clients=True))
    url = f"tls://127.0.0.1:{server.port}"
    with docket.Client(url, tls_ca_file=certs.ca, tls_cert_file=certs.client, tls_key_file=certs.client_key) as c:
        sub = c.subscribe("x")
        c.publish("x", b"over mutual TLS")
        assert sub.next_msg(5).data == b"over mutual TLS"
    with pytest.raises(docket.ConnectError):  # no client certificate
        docket.Client(url, tls_ca_file=certs.ca, connect_timeout=3)
    with pytest.raises(docket.ConnectError) as info:  # a CA that did not sign the server's certificate
        docket.Client(url, tls_ca_file=certs.other_ca, tls_cert_file=certs.client, tls_key_file=certs.client_key)
    assert "certificate verify failed" in str(info.value)
    with pytest.raises(docket.ConnectError) as info:  # a name the certificate does not carry
        docket.Client(url, tls_ca_file=certs.ca, tls_cert_file=certs.client, tls_key_file=certs.client_key,
                      tls_hostname="example.org")
    assert "certificate verify failed" in str(info.value) or "hostname" in str(info.value)


def test_a_client_that_requires_tls_refuses_a_plain_server(start_nats_server, certs):
    server = start_nats_server()
    with pytest.raises(docket.ConnectError) as info:
        docket.Client(f"tls://127.0.0.1:{server.port}")
    assert "does not offer TLS" in str(info.value)
    with pytest.raises(docket.ConnectError):
        docket.Client(f"nats://127.0.0.1:{server.port}", tls_ca_file=certs.ca)
    with docket.Client(f"nats://127.0.0.1:{server.port}") as plain:
        assert not plain.is_secure


def test_tls_argument_checks(certs):
    with pytest.raises(docket.BadArgument):
        docket.Client("tls://127.0.0.1:1", tls=False)
    with pytest.raises(docket.BadArgument):
        docket.Client("nats://127.0.0.1:1", tls_key_file=certs.client_key)
    with pytest.raises(docket.BadArgument):
        docket.Client("nats://127.0.0.1:1", tls=ssl.create_default_context(), tls_ca_file=certs.ca)


# --------------------------------------------------------------------------
# TLS before INFO (handshake_first), against a fake server


class TLSFirstServer:
    """Accepts TLS at once (no plaintext INFO), then speaks enough of the
    protocol for a handshake and a flush; records each CONNECT."""

    def __init__(self, certs: Certs) -> None:
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.load_cert_chain(certs.server, certs.server_key)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.connects: List[dict] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                raw, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(raw,), daemon=True).start()

    def _serve(self, raw: socket.socket) -> None:
        try:
            raw.settimeout(10)
            with self.context.wrap_socket(raw, server_side=True) as conn:
                conn.sendall(b'INFO {"server_id":"TLSFIRST","version":"2.10.0","proto":1,"headers":true,'
                             b'"max_payload":1048576,"tls_required":true}\r\n')
                buf = b""
                while True:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buf += data
                    while b"\r\n" in buf:
                        line, buf = buf.split(b"\r\n", 1)
                        if line.startswith(b"CONNECT "):
                            self.connects.append(json.loads(line[8:]))
                        elif line == b"PING":
                            conn.sendall(b"PONG\r\n")
        except (OSError, ssl.SSLError):
            return

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def tls_first(certs):
    server = TLSFirstServer(certs)
    yield server
    server.close()


def test_handshake_first(tls_first, certs):
    with docket.Client(f"nats://127.0.0.1:{tls_first.port}", tls_ca_file=certs.ca, tls_handshake_first=True) as c:
        assert c.is_secure and c.server_info["server_id"] == "TLSFIRST"
        c.flush()
    assert tls_first.connects[0]["tls_required"] is True

    async def main():
        async with aio.connect(f"tls://127.0.0.1:{tls_first.port}", tls_ca_file=certs.ca,
                               tls_handshake_first=True) as c:
            assert c.is_secure and c.server_info["server_id"] == "TLSFIRST"
            await c.flush()

    run(main())
    assert len(tls_first.connects) == 2


# --------------------------------------------------------------------------
# asyncio client against nats-server --tls


def test_aio_tls(certs, start_nats_server):
    plain = start_nats_server()
    secure = start_nats_server(tls_flags(certs, verify_clients=True))
    url = f"tls://127.0.0.1:{secure.port}"
    options = dict(tls_ca_file=certs.ca, tls_cert_file=certs.client, tls_key_file=certs.client_key)

    async def main():
        async with aio.connect(url, **options) as a, aio.connect(url, **options) as b:
            assert a.is_secure and b.is_secure
            sub = await b.subscribe("tls.>")
            await b.subscribe("svc", callback=lambda m: m.respond(m.data + b"!"))
            await b.flush()
            payloads = [os.urandom(n) for n in (3, 80_000, 1)] * 30
            for i, data in enumerate(payloads):
                await a.publish(f"tls.{i}", data)
            assert [(await sub.next_msg(10)).data for _ in payloads] == payloads
            assert (await a.request("svc", b"hi", timeout=5)).data == b"hi!"
        with pytest.raises(aio.ConnectError):
            await aio.connect(url, tls_ca_file=certs.ca, connect_timeout=3)  # no client certificate
        with pytest.raises(aio.ConnectError) as info:
            await aio.connect(url, tls_ca_file=certs.other_ca, tls_cert_file=certs.client,
                              tls_key_file=certs.client_key)
        assert "certificate verify failed" in str(info.value)
        with pytest.raises(aio.ConnectError) as info:
            await aio.connect(f"tls://127.0.0.1:{plain.port}")
        assert "does not offer TLS" in str(info.value)
        async with aio.connect(f"nats://127.0.0.1:{secure.port}", **options) as c:
            assert c.is_secure  # the server's INFO asked for it

    run(main())


# --------------------------------------------------------------------------
# docketd with TLS (once it has it)

DOCKETD_TLS_FLAGS = ("--tls", "--tlscert", "--tlskey", "--tlscacert", "--tlsverify")


def _docketd_help() -> str:
    binary = os.environ.get("DOCKETD")
    if not binary or not os.access(binary, os.X_OK):
        return ""
    try:
        out = subprocess.run([binary, "--help"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout + out.stderr


@pytest.fixture
def tls_docketd(start_docketd):
    if not os.environ.get("DOCKETD"):
        pytest.skip("set DOCKETD=/path/to/docketd to run the tests that need a server")
    text = _docketd_help()
    missing = [flag for flag in DOCKETD_TLS_FLAGS if flag not in text.split()]
    if "--tls" in missing:
        pytest.skip("this docketd has no TLS yet: its --help does not list --tls")
    if missing:
        pytest.skip(f"this docketd's --help lists --tls but not {', '.join(missing)}")
    return start_docketd


def test_docketd_tls_jobs_and_worker(tls_docketd, certs):
    server = tls_docketd(flags=tls_flags(certs, verify_clients=True))
    url = f"tls://127.0.0.1:{server.port}"
    options = dict(tls_ca_file=certs.ca, tls_cert_file=certs.client, tls_key_file=certs.client_key)
    with docket.Client(url, request_timeout=5, **options) as c:
        assert c.is_secure
        jid = c.enqueue("secure", "payload").id
        worker = docket.Worker(url, "secure", lambda ctx: ctx.text.upper(), reserve_timeout=0.2,
                               client_options=options).start()
        try:
            assert c.wait(jid, timeout=5).result == b"PAYLOAD"
        finally:
            worker.stop(grace=5)
        with pytest.raises(docket.ConnectError):
            docket.Client(url, tls_ca_file=certs.ca, connect_timeout=3)

    async def main():
        async with aio.connect(url, **options) as a:
            jid = (await a.enqueue("secure2", "x")).id

            async def handler(ctx):
                return "done"

            worker = aio.Worker(url, "secure2", handler, reserve_timeout=0.2, client_options=options).start()
            try:
                assert (await a.wait(jid, timeout=5)).result == b"done"
            finally:
                await worker.stop(grace=5)

    run(main())


def test_docketd_tls_handshake_first(tls_docketd, certs):
    if "--tls-handshake-first" not in _docketd_help().split():
        pytest.skip("this docketd's --help does not list --tls-handshake-first")
    server = tls_docketd(flags=tls_flags(certs) + ["--tls-handshake-first"])
    url = f"tls://127.0.0.1:{server.port}"
    with docket.Client(url, tls_ca_file=certs.ca, tls_handshake_first=True, request_timeout=5) as c:
        assert c.is_secure
        jid = c.enqueue("first", "x").id
        assert c.inspect(jid).state == "waiting"
    # a client that waits for a plaintext INFO gets none
    with pytest.raises(docket.ConnectError):
        docket.Client(url, tls_ca_file=certs.ca, connect_timeout=1)

    async def main():
        async with aio.connect(url, tls_ca_file=certs.ca, tls_handshake_first=True) as a:
            assert a.is_secure and (await a.inspect(jid)).state == "waiting"

    run(main())


def test_docketd_tls_reconnect(tls_docketd, certs, tmp_path):
    server = tls_docketd(data_dir=tmp_path / "data", flags=tls_flags(certs))
    url = f"tls://127.0.0.1:{server.port}"
    with docket.Client(url, tls_ca_file=certs.ca, request_timeout=5, reconnect_max_wait=0.2) as c:
        sub = c.subscribe("news")
        jid = c.enqueue("durable", "x").id
        server.stop()
        tls_docketd(port=server.port, data_dir=tmp_path / "data", flags=tls_flags(certs))
        assert c.inspect(jid).state == "waiting"  # waits for the new TLS connection
        assert c.is_secure and c.reconnects == 1
        c.publish("news", b"again")
        assert sub.next_msg(5).data == b"again"
