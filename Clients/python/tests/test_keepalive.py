"""Client-side keepalive: PINGs every ``ping_interval``, and a connection
whose PINGs go unanswered (a network partition that swallowed the FIN) is
dropped and made again, on both clients. Through a proxy in the test that
can silently drop everything, both ways."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from typing import List

import pytest

import docketd_client as docket
import docketd_client.aio as aio

from conftest import wait_until


class BlackholeProxy:
    """127.0.0.1:<port> -> the server. ``blackhole()`` drops every byte,
    both ways, and passes no close on (a partition); ``heal()`` forwards
    again. Connections made after the heal work as usual."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.dropping = False
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.url = f"nats://127.0.0.1:{self.port}"
        self._socks: List[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def blackhole(self) -> None:
        self.dropping = True

    def heal(self) -> None:
        self.dropping = False

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                client.close()
                continue
            self._socks += [client, server]
            for src, dst in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        while True:
            try:
                data = src.recv(65536)
            except OSError:
                return
            if self.dropping:
                if not data:
                    return  # the close is lost in the partition too
                continue
            try:
                if not data:
                    dst.shutdown(socket.SHUT_WR)
                    return
                dst.sendall(data)
            except OSError:
                return

    def close(self) -> None:
        self.listener.close()
        for s in self._socks:
            try:
                s.close()
            except OSError:
                pass


@pytest.fixture
def proxy(server):
    p = BlackholeProxy(server.port)
    yield p
    p.close()


FAST = dict(ping_interval=0.2, max_outstanding_pings=2, reconnect_wait=0.05, reconnect_max_wait=0.2,
            connect_timeout=1.0)


def test_a_partitioned_subscriber_notices_and_comes_back(proxy, make_client):
    events = []
    sub_client = docket.Client(proxy.url, disconnected_callback=lambda: events.append("down"),
                               reconnected_callback=lambda: events.append("up"), **FAST)
    try:
        raw = sub_client._sock
        assert raw.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
        sub = sub_client.subscribe("ticks")
        sub_client.flush()
        publisher = make_client()
        publisher.publish("ticks", b"before")
        assert sub.next_msg(timeout=2).data == b"before"
        time.sleep(0.5)  # a healthy connection: PINGs answered, nothing dropped
        assert sub_client.reconnects == 0 and events == []

        proxy.blackhole()
        started = time.monotonic()
        # 3 intervals: two PINGs out and unanswered, the third tick finds it stale
        assert wait_until(lambda: "down" in events, 3), "the dead connection was not noticed"
        assert time.monotonic() - started < 2.0
        proxy.heal()
        assert wait_until(lambda: sub_client.is_connected and "up" in events, 5)
        assert sub_client.reconnects == 1
        sub_client.flush()  # its subscription, sent again, reaches the server first

        publisher.publish("ticks", b"after")
        assert sub.next_msg(timeout=2).data == b"after"
    finally:
        sub_client.close()


def test_a_waiting_reserve_is_not_a_stale_connection(client, make_client):
    """While RESERVE waits, the server reads nothing more from the
    connection, so a PING behind it cannot be answered: that is not
    counted."""
    worker = make_client(ping_interval=0.1, max_outstanding_pings=1)
    started = time.monotonic()
    assert worker.reserve("empty", timeout=1.0) is None
    assert time.monotonic() - started >= 0.9
    assert worker.reconnects == 0 and worker.is_connected
    # and a job that arrives during a long wait is still handed over
    result = []
    t = threading.Thread(target=lambda: result.append(worker.reserve("later", timeout=3.0)))
    t.start()
    time.sleep(0.6)
    job_id = client.enqueue("later", b"x").id
    t.join(5)
    assert result and result[0].id == job_id and worker.reconnects == 0
    worker.ack(result[0])


def test_keepalive_options_are_checked(url):
    for options in ({"ping_interval": 0}, {"ping_interval": -1}, {"ping_interval": "2m"},
                    {"max_outstanding_pings": 0}, {"max_outstanding_pings": 1.5}):
        with pytest.raises(docket.BadArgument):
            docket.Client(url, **options)
    with docket.Client(url, ping_interval=None) as c:  # no keepalive PINGs at all
        assert c._pinger is None
        c.flush()


def test_aio_a_partitioned_subscriber_notices_and_comes_back(proxy, make_client):
    publisher = make_client()

    async def main():
        events = []
        client = await aio.connect(proxy.url, disconnected_callback=lambda: events.append("down"),
                                   reconnected_callback=lambda: events.append("up"), **FAST)
        try:
            sock = client._writer.get_extra_info("socket")
            assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
            sub = await client.subscribe("ticks")
            await client.flush()
            publisher.publish("ticks", b"before")
            assert (await sub.next_msg(timeout=2)).data == b"before"
            await asyncio.sleep(0.5)
            assert client.reconnects == 0 and events == []

            proxy.blackhole()
            started = time.monotonic()
            while "down" not in events:
                assert time.monotonic() - started < 3, "the dead connection was not noticed"
                await asyncio.sleep(0.02)
            proxy.heal()
            while not (client.is_connected and "up" in events):
                assert time.monotonic() - started < 8
                await asyncio.sleep(0.02)
            assert client.reconnects == 1
            # The subscription is sent again as the connection comes back, not waited for:
            # through the proxy it can reach the server after the publisher's message (a
            # loaded CI machine saw it). A round trip puts it there first.
            await client.flush()
            publisher.publish("ticks", b"after")
            assert (await sub.next_msg(timeout=2)).data == b"after"
        finally:
            await client.close()

    asyncio.run(asyncio.wait_for(main(), 20))
