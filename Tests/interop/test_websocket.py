"""NATS over WebSocket (nats-server's ``websocket { }`` block), driven by real clients: nats-py
with ``ws://`` and ``wss://`` URLs (through aiohttp), and the ``websockets`` package for the
framing itself (text frames, fragmented messages, the compression offer every browser makes).

The WebSocket framing cannot be written as a conformance transcript (those are protocol lines
over TCP), so it is covered here and in Tests/DocketServerTests/WebSocketTests.swift. Run with
NATS_SERVER=1 to check these tests against nats-server itself.
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import ssl
import struct
import subprocess
from pathlib import Path

import nats
import pytest
from websockets.sync.client import connect as ws_connect

import conftest

WS_LISTEN_RE = re.compile(r"Listening for websocket clients on (wss?)://[^:\s]+:(\d+)")


def run(coro):
    return asyncio.run(coro)


@pytest.fixture
def ws_server(tmp_path_factory):
    """Factory: ``ws_server(block)`` starts a server whose configuration holds ``block``, and
    returns ``(nats_url, ws_url)``; the WebSocket port is read from the server's log."""
    started = []

    def start(block: str = "no_tls: true", extra: str = ""):
        server = conftest._start(tmp_path_factory.mktemp("ws"), {"config": f"websocket {{ port: -1\n{block} }}\n{extra}"})
        started.append(server)
        for _ in range(100):
            match = WS_LISTEN_RE.search(server.log.text())
            if match:
                return server.url, f"{match.group(1)}://127.0.0.1:{match.group(2)}"
            asyncio.run(asyncio.sleep(0.05))
        pytest.fail("no websocket listen line in the log:\n" + server.describe(), pytrace=False)

    yield start
    for server in started:
        server.stop()


def test_nats_py_over_ws_publishes_subscribes_and_requests(ws_server):
    nats_url, ws_url = ws_server()

    async def main():
        ws = await nats.connect(ws_url)
        tcp = await nats.connect(nats_url)
        sub = await ws.subscribe("ws.big")
        await ws.flush()
        payload = bytes(range(256)) * 400  # 100 KiB: more than one server frame
        await tcp.publish("ws.big", payload)
        msg = await sub.next_msg(timeout=3)
        assert msg.data == payload

        async def answer(msg):
            await msg.respond(msg.data.upper())

        await tcp.subscribe("ws.service", cb=answer)
        await tcp.flush()
        reply = await ws.request("ws.service", b"hello", timeout=3)
        assert reply.data == b"HELLO"
        await ws.close()
        await tcp.close()

    run(main())


def test_nats_py_over_wss(ws_server, tmp_path):
    for args in (
        ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=ws CA"],
        ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=server"],
    ):
        subprocess.run(["openssl", *args], cwd=tmp_path, check=True, capture_output=True)
    (tmp_path / "server.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    subprocess.run(["openssl", "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                    "-out", "server.pem", "-days", "2", "-extfile", "server.ext"], cwd=tmp_path, check=True, capture_output=True)
    os.chmod(tmp_path / "server.key", 0o600)
    _, ws_url = ws_server(f'tls {{ cert_file: "{tmp_path}/server.pem", key_file: "{tmp_path}/server.key" }}')
    assert ws_url.startswith("wss://")

    async def main():
        context = ssl.create_default_context(cafile=str(tmp_path / "ca.pem"))
        nc = await nats.connect(ws_url, tls=context)
        sub = await nc.subscribe("wss.check")
        await nc.publish("wss.check", b"x" * 70000)
        assert (await sub.next_msg(timeout=3)).data == b"x" * 70000
        await nc.close()

    run(main())


def test_text_frames_fragments_and_the_declined_compression_offer(ws_server):
    _, ws_url = ws_server("no_tls: true\ncompression: true" if conftest.server_mode() == "docketd" else "no_tls: true")
    # websockets offers permessage-deflate by default, as browsers do.
    with ws_connect(ws_url, open_timeout=5) as ws:
        if conftest.server_mode() == "docketd":
            assert ws.response.headers.get("Sec-WebSocket-Extensions") is None
        assert ws.recv(timeout=5).startswith(b"INFO ")
        ws.send('CONNECT {"verbose":false}\r\nSUB t 1\r\n')  # a text frame
        ws.send([b"PUB t 3\r\n", b"a", b"bc\r\nPI", b"NG\r\n"])  # one message in four frames
        received = b""
        while b"PONG\r\n" not in received:
            received += ws.recv(timeout=5)
        assert received == b"MSG t 1 3\r\nabc\r\nPONG\r\n"


def _raw_upgrade(ws_url: str) -> socket.socket:
    host, port = ws_url.split("//")[1].split(":")
    sock = socket.create_connection((host, int(port)), timeout=5)
    sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        head += sock.recv(1)
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


def _read_frame(sock: socket.socket):
    def exactly(n):
        data = b""
        while len(data) < n:
            chunk = sock.recv(n - len(data))
            if not chunk:
                raise EOFError(data)
            data += chunk
        return data

    first, second = exactly(2)
    length = second & 0x7F
    if length == 126:
        length = struct.unpack(">H", exactly(2))[0]
    elif length == 127:
        length = struct.unpack(">Q", exactly(8))[0]
    return first & 0x0F, exactly(length)


@pytest.mark.docketd_only(reason="nats-server 2.9 drops the connection without a close frame")
def test_an_unmasked_client_frame_is_closed_with_1002(ws_server):
    _, ws_url = ws_server()
    sock = _raw_upgrade(ws_url)
    opcode, info = _read_frame(sock)
    assert opcode == 0x2 and info.startswith(b"INFO ")
    sock.sendall(bytes([0x82, 6]) + b"PING\r\n")
    while True:
        opcode, payload = _read_frame(sock)
        if opcode == 0x8:
            break
    assert struct.unpack(">H", payload[:2])[0] == 1002
    sock.close()


@pytest.mark.docketd_only(reason="the frame bound is max_payload plus the control line")
def test_a_frame_past_max_payload_is_closed_with_1009(ws_server):
    _, ws_url = ws_server(extra="max_payload: 1024\n")
    sock = _raw_upgrade(ws_url)
    _read_frame(sock)
    payload = b"x" * 8192
    sock.sendall(bytes([0x82, 0x80 | 126]) + struct.pack(">H", len(payload)) + b"\0\0\0\0" + payload)
    opcode, status = _read_frame(sock)
    assert opcode == 0x8 and struct.unpack(">H", status[:2])[0] == 1009
    sock.close()
