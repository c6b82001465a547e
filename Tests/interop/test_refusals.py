"""Refusals that end a connection reach a stock nats-py client as the server's error.

nats-py writes CONNECT and PING as soon as it has read INFO, before it reads again. A
server that closes the socket right after its refusal, with those bytes unread, resets the
connection, and nats-py then reports "Connection lost" from its write instead of the error
waiting in its buffer. nats-server 2.9 closes so, and nats-py's connects to it fail that way
every time here; docketd keeps the refused socket half-open until the client has read why.
"""

from __future__ import annotations

import asyncio
import socket

import nats
import pytest

from conftest import read_info_line, read_line


def _hold(url: str) -> socket.socket:
    """A connection that takes the one place."""
    host, port = url.removeprefix("nats://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=5)
    read_info_line(sock)
    sock.sendall(b'CONNECT {"verbose":false}\r\nPING\r\n')
    _pong(sock)
    return sock


def _pong(sock: socket.socket) -> None:
    """Reads up to the server's PONG (nats-server may send an INFO first)."""
    for _ in range(5):
        if read_line(sock) == b"PONG\r\n":
            return
    raise AssertionError("no PONG")


@pytest.mark.docketd_only("nats-server 2.9 closes under the client's CONNECT: nats-py reads a reset")
def test_nats_py_reads_maximum_connections_exceeded(start_server):
    url = start_server(max_connections=1)
    holder = _hold(url)

    async def attempt():
        try:
            nc = await nats.connect(url, allow_reconnect=False, connect_timeout=3)
        except Exception as error:  # noqa: BLE001 - the error's text is what is checked
            return str(error)
        await nc.close()
        return "connected"

    async def main():
        # Several rounds, a few at once: the reset was a race the client lost every time here.
        results = []
        for _ in range(5):
            results += await asyncio.gather(*[attempt() for _ in range(4)])
        return results

    results = asyncio.run(asyncio.wait_for(main(), 30))
    assert all("maximum connections exceeded" in result for result in results), results
    holder.sendall(b"PING\r\n")
    _pong(holder)
