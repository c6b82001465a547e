"""Interoperability tests: the stock nats-py client against the server under test.

Each test gets a fresh server (see conftest.py). Tests are plain functions that
run one coroutine with ``asyncio.run`` under an overall time limit, so no
pytest asyncio plugin is needed. All waits are bounded and everything talks to
127.0.0.1 only.

Barriers: ``sync(nc)`` returns once the server has processed everything
``nc`` sent (see its docstring for why one nats-py flush() is not enough).
``settle()`` syncs the publishing connection (every PUB processed) and then
each subscribing connection (the server writes a PONG after the messages it
already queued for that connection), then waits a little more in case the
server routes asynchronously. Counting ``nc.stats["in_msgs"]`` after that shows
what the server actually sent, which matters because nats-py silently drops
messages for subscriptions it already considers finished.
"""

from __future__ import annotations

import asyncio
import functools
import json
import socket
import time
from contextlib import AsyncExitStack
from typing import List, Optional
from urllib.parse import urlparse

import nats
import nats.errors
import pytest
from nats.aio.client import Client
from nats.aio.msg import Msg

TEST_TIMEOUT = 30.0  # overall limit for one test's coroutine
WAIT = 5.0  # limit for any single expected event


# --------------------------------------------------------------------------
# helpers


def async_test(fn):
    """Run an ``async def`` test body with asyncio.run and a hard time limit."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        async def bounded():
            return await asyncio.wait_for(fn(*args, **kwargs), TEST_TIMEOUT)

        return asyncio.run(bounded())

    return wrapper


class Clients:
    """Opens nats-py connections for one test and closes them all at the end.

    Reconnects are disabled so that a server dropping a connection surfaces as
    a failure instead of being papered over. Asynchronous errors reported by
    nats-py are collected per connection in ``errors[nc]``.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.errors: dict = {}
        self._stack = AsyncExitStack()

    async def __aenter__(self) -> "Clients":
        return self

    async def __aexit__(self, *exc) -> None:
        await self._stack.aclose()

    async def connect(self, url: Optional[str] = None, **options) -> Client:
        errors: List[Exception] = []

        async def on_error(err: Exception) -> None:
            errors.append(err)

        options.setdefault("allow_reconnect", False)
        options.setdefault("connect_timeout", 3)
        options.setdefault("error_cb", on_error)
        nc = await asyncio.wait_for(nats.connect(url or self.url, **options), WAIT)
        self.errors[nc] = errors
        self._stack.push_async_callback(_close_quietly, nc)
        return nc


async def _close_quietly(nc: Client) -> None:
    if not nc.is_closed:
        try:
            await asyncio.wait_for(nc.close(), WAIT)
        except Exception:
            pass


class Collector:
    """Subscription callback that records messages and lets a test wait for N."""

    def __init__(self) -> None:
        self.msgs: List[Msg] = []
        self._changed = asyncio.Event()

    # nats-py requires a coroutine *function* as callback, so pass this bound
    # method rather than the instance.
    async def handler(self, msg: Msg) -> None:
        self.msgs.append(msg)
        self._changed.set()

    @property
    def data(self) -> List[bytes]:
        return [m.data for m in self.msgs]

    async def wait_for(self, count: int, timeout: float = WAIT) -> List[Msg]:
        async def reached() -> None:
            while len(self.msgs) < count:
                self._changed.clear()
                await self._changed.wait()

        try:
            await asyncio.wait_for(reached(), timeout)
        except asyncio.TimeoutError:
            raise AssertionError(
                f"received {len(self.msgs)} of {count} messages within {timeout}s"
            ) from None
        return self.msgs


async def sync(nc: Client) -> None:
    """Return once the server has processed everything `nc` sent before.

    nats-py 2.16's flush() writes its PING straight to the socket while
    earlier SUB/PUB/UNSUB commands may still wait in the client's pending
    buffer, so the PING can overtake them and its PONG proves nothing. The
    buffer is written as soon as flush() yields, so by the time the first
    PONG is back it is on the wire, and a second PING queues behind it.
    """
    await nc.flush(timeout=WAIT)
    await nc.flush(timeout=WAIT)


async def settle(publisher: Client, *subscribers: Client) -> None:
    """Make sure everything `publisher` sent has reached `subscribers`."""
    await sync(publisher)
    for nc in subscribers:
        await sync(nc)
    await asyncio.sleep(0.1)


def raw_connect(url: str, rcvbuf: Optional[int] = None):
    """Plain TCP connection to the server; returns (socket, parsed INFO)."""
    parsed = urlparse(url)
    assert parsed.hostname == "127.0.0.1"
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf is not None:
        # Must be set before connect() to limit the advertised TCP window.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.settimeout(WAIT)
    sock.connect((parsed.hostname, parsed.port))
    line = read_until(sock, b"\r\n")
    assert line.startswith(b"INFO "), line[:200]
    return sock, json.loads(line[5:].strip())


def read_until(sock: socket.socket, marker: bytes, limit: int = 1 << 20) -> bytes:
    """Blocking read until `marker` appears (socket timeout applies)."""
    buf = b""
    while marker not in buf:
        chunk = sock.recv(4096)
        if not chunk:
            raise AssertionError(f"connection closed while waiting for {marker!r}; got {buf[:500]!r}")
        buf += chunk
        assert len(buf) < limit, f"no {marker!r} in the first {limit} bytes"
    return buf


def read_to_eof(sock: socket.socket, timeout: float) -> bytes:
    """Read until the peer closes; AssertionError if it stays open past `timeout`."""
    deadline = time.monotonic() + timeout
    buf = b""
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(
                f"server kept the connection open for {timeout}s ({len(buf)} bytes read)"
            )
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(1 << 16)
        except socket.timeout:
            continue
        except ConnectionResetError:
            return buf
        if not chunk:
            return buf
        buf += chunk


RAW_CONNECT = (
    b'CONNECT {"verbose":false,"pedantic":false,"tls_required":false,'
    b'"name":"raw","lang":"python-raw","version":"0","protocol":1}\r\n'
)


# --------------------------------------------------------------------------
# 1. connect and server INFO


@async_test
async def test_connect_and_server_info(nats_url):
    """The client connects and sees the server's INFO: same max_payload as the
    server advertises, a 2.x version, and header support."""
    sock, info = raw_connect(nats_url)
    sock.close()
    async with Clients(nats_url) as clients:
        nc = await clients.connect(name="interop")
        assert nc.is_connected
        assert nc.max_payload == info["max_payload"]
        assert nc.max_payload > 0
        assert nc.connected_server_version.major == 2, info.get("version")
        # nats-py exposes no public accessor for the INFO "headers" flag; it
        # decides from this private dict whether to send headers/no_responders.
        assert nc._server_info.get("headers") is True
        assert info.get("headers") is True
        assert info.get("proto", 0) >= 1


@async_test
async def test_verbose_mode(nats_url):
    """With verbose=True the server acknowledges every command with +OK, and
    nats-py still works (it must consume the +OKs)."""
    async with Clients(nats_url) as clients:
        nc = await clients.connect(verbose=True)
        got = Collector()
        await nc.subscribe("verbose.subj", cb=got.handler)
        for i in range(5):
            await nc.publish("verbose.subj", str(i).encode())
        await sync(nc)
        await got.wait_for(5)
        assert got.data == [str(i).encode() for i in range(5)]
        assert clients.errors[nc] == []


# --------------------------------------------------------------------------
# 2. payloads


@async_test
async def test_payload_sizes_round_trip(nats_url):
    """Payloads of 0, 1, 16 bytes, 64 KiB and exactly max_payload arrive intact,
    with subject and reply subject preserved."""
    async with Clients(nats_url) as clients:
        sub_nc = await clients.connect()
        pub_nc = await clients.connect()
        got = Collector()
        await sub_nc.subscribe("sizes", cb=got.handler)
        await sync(sub_nc)

        sizes = [0, 1, 16, 64 * 1024, pub_nc.max_payload]
        payloads = [bytes((i * 7 + n) % 256 for i in range(n)) for n in sizes]
        for p in payloads:
            await pub_nc.publish("sizes", p, reply="sizes.reply")
        await sync(pub_nc)

        msgs = await got.wait_for(len(payloads))
        assert [len(m.data) for m in msgs] == sizes
        assert [m.data for m in msgs] == payloads
        assert all(m.subject == "sizes" and m.reply == "sizes.reply" for m in msgs)


@async_test
async def test_binary_payloads_unchanged(nats_url):
    """Payloads containing CRLF, NUL and protocol look-alikes are opaque bytes."""
    payloads = [
        b"\r\n",
        b"\x00",
        b"\x00\r\n\x00",
        b"MSG fake 1 5\r\nhello\r\n",
        b"PING\r\n",
        b"\r\n\r\n" * 100,
        bytes(range(256)) * 64,
    ]
    async with Clients(nats_url) as clients:
        sub_nc = await clients.connect()
        pub_nc = await clients.connect()
        got = Collector()
        await sub_nc.subscribe("binary", cb=got.handler)
        await sync(sub_nc)
        for p in payloads:
            await pub_nc.publish("binary", p)
        await sync(pub_nc)
        await got.wait_for(len(payloads))
        assert got.data == payloads
        assert clients.errors[sub_nc] == []


# --------------------------------------------------------------------------
# 3. wildcards


@async_test
async def test_wildcards(nats_url):
    """`*` matches exactly one token, `>` one or more trailing tokens, and
    `w.>` does not match `w`."""
    async with Clients(nats_url) as clients:
        sub_nc = await clients.connect()
        pub_nc = await clients.connect()
        patterns = ["w", "w.*", "w.>", "w.*.c", "*.a", ">"]
        got = {p: Collector() for p in patterns}
        for p in patterns:
            await sub_nc.subscribe(p, cb=got[p].handler)
        await sync(sub_nc)

        subjects = ["w", "w.a", "w.a.b", "w.a.c", "w.b.c.d", "x.a", "other"]
        for s in subjects:
            await pub_nc.publish(s, s.encode())
        await settle(pub_nc, sub_nc)

        def seen(p):
            return sorted(m.subject for m in got[p].msgs)

        assert seen("w") == ["w"]
        assert seen("w.*") == ["w.a"]
        assert seen("w.>") == ["w.a", "w.a.b", "w.a.c", "w.b.c.d"]
        assert seen("w.*.c") == ["w.a.c"]
        assert seen("*.a") == ["w.a", "x.a"]
        assert seen(">") == sorted(subjects)
        for p in patterns:
            assert all(m.data == m.subject.encode() for m in got[p].msgs)
        # One MSG per matching subscription, nothing more.
        assert sub_nc.stats["in_msgs"] == sum(len(c.msgs) for c in got.values())


@async_test
async def test_overlapping_subscriptions_each_get_a_copy(nats_url):
    """A connection with several subscriptions matching one subject receives
    exactly one message per subscription."""
    async with Clients(nats_url) as clients:
        sub_nc = await clients.connect()
        pub_nc = await clients.connect()
        subs = {name: Collector() for name in ("exact1", "exact2", "star", "gt")}
        await sub_nc.subscribe("ov.x", cb=subs["exact1"].handler)
        await sub_nc.subscribe("ov.x", cb=subs["exact2"].handler)
        await sub_nc.subscribe("ov.*", cb=subs["star"].handler)
        await sub_nc.subscribe("ov.>", cb=subs["gt"].handler)
        await sync(sub_nc)

        await pub_nc.publish("ov.x", b"once")
        await settle(pub_nc, sub_nc)

        for name, c in subs.items():
            assert c.data == [b"once"], name
        assert sub_nc.stats["in_msgs"] == 4


# --------------------------------------------------------------------------
# 4. queue groups


@async_test
async def test_queue_groups(nats_url):
    """Plain subscribers get every message; a queue group of three members on
    three connections shares the messages with no loss and no duplicates."""
    n = 300
    async with Clients(nats_url) as clients:
        plain_ncs = [await clients.connect() for _ in range(2)]
        member_ncs = [await clients.connect() for _ in range(3)]
        pub_nc = await clients.connect()

        plain = [Collector() for _ in plain_ncs]
        members = [Collector() for _ in member_ncs]
        for nc, c in zip(plain_ncs, plain):
            await nc.subscribe("work", cb=c.handler)
        for nc, c in zip(member_ncs, members):
            await nc.subscribe("work", queue="workers", cb=c.handler)
        for nc in plain_ncs + member_ncs:
            await sync(nc)

        for i in range(n):
            await pub_nc.publish("work", str(i).encode())
        await sync(pub_nc)

        expected = [str(i).encode() for i in range(n)]
        for c in plain:
            await c.wait_for(n)
        deadline = time.monotonic() + WAIT
        while sum(len(c.msgs) for c in members) < n and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        await settle(pub_nc, *plain_ncs, *member_ncs)

        for c in plain:
            assert c.data == expected
        shared = [d for c in members for d in c.data]
        assert len(shared) == n, [len(c.msgs) for c in members]
        assert sorted(shared) == sorted(expected)  # all delivered, none twice
        # Loose fairness check: the group does not funnel everything to one member.
        assert sum(1 for c in members if c.msgs) > 1, [len(c.msgs) for c in members]


# --------------------------------------------------------------------------
# 5. headers


@async_test
async def test_headers_round_trip(nats_url):
    """Headers published with HPUB reach the subscriber unchanged, next to the
    payload; a message without headers has none."""
    headers = {"X-Trace": "abc-123", "Content-Type": "application/json", "X-Empty-Body": "yes"}
    async with Clients(nats_url) as clients:
        sub_nc = await clients.connect()
        pub_nc = await clients.connect()
        got = Collector()
        await sub_nc.subscribe("hdr", cb=got.handler)
        await sync(sub_nc)

        await pub_nc.publish("hdr", b'{"k": 1}', headers=headers)
        await pub_nc.publish("hdr", b"", headers={"X-Only": "headers"})
        await pub_nc.publish("hdr", b"plain")
        await sync(pub_nc)

        first, second, third = await got.wait_for(3)
        assert first.headers == headers
        assert first.data == b'{"k": 1}'
        assert second.headers == {"X-Only": "headers"}
        assert second.data == b""
        assert not third.headers
        assert third.data == b"plain"


@async_test
async def test_headers_on_request_and_reply(nats_url):
    """Headers travel in both directions of a request/reply exchange."""
    async with Clients(nats_url) as clients:
        svc_nc = await clients.connect()
        cli_nc = await clients.connect()

        async def responder(msg: Msg) -> None:
            await svc_nc.publish(
                msg.reply, msg.data.upper(), headers={"X-Seen": msg.headers.get("X-Req", "")}
            )

        await svc_nc.subscribe("hdr.svc", cb=responder)
        await sync(svc_nc)
        reply = await cli_nc.request("hdr.svc", b"ping", timeout=WAIT, headers={"X-Req": "r1"})
        assert reply.data == b"PING"
        assert reply.headers == {"X-Seen": "r1"}


@pytest.mark.skip(
    reason="nats-py always negotiates headers when the server offers them, so a "
    "header-less subscriber cannot be made with it"
)
def test_headers_to_subscriber_without_header_support():
    """(Not covered) A subscriber that did not negotiate headers receives MSG
    without the header block."""


# --------------------------------------------------------------------------
# 6. request / reply


@async_test
async def test_request_reply(nats_url):
    """A responder subscription answers and nc.request returns its answer."""
    async with Clients(nats_url) as clients:
        svc_nc = await clients.connect()
        cli_nc = await clients.connect()

        async def responder(msg: Msg) -> None:
            await msg.respond(b"echo:" + msg.data)

        await svc_nc.subscribe("svc.echo", cb=responder)
        await sync(svc_nc)
        reply = await cli_nc.request("svc.echo", b"hello", timeout=WAIT)
        assert reply.data == b"echo:hello"


@async_test
async def test_concurrent_requests(nats_url):
    """50 requests in flight at once are each answered with their own reply."""
    async with Clients(nats_url) as clients:
        svc_nc = await clients.connect()
        cli_nc = await clients.connect()

        async def responder(msg: Msg) -> None:
            await msg.respond(b"re:" + msg.data)

        # Two responders in a queue group, to mix routing into the picture.
        await svc_nc.subscribe("svc.many", queue="svc", cb=responder)
        await svc_nc.subscribe("svc.many", queue="svc", cb=responder)
        await sync(svc_nc)

        payloads = [f"req-{i}".encode() for i in range(50)]
        replies = await asyncio.gather(
            *(cli_nc.request("svc.many", p, timeout=WAIT) for p in payloads)
        )
        assert [r.data for r in replies] == [b"re:" + p for p in payloads]


# --------------------------------------------------------------------------
# 7. no responders


@async_test
async def test_no_responders(nats_url):
    """A request nobody listens to fails fast with NoRespondersError (a 503
    status message from the server) rather than waiting for the timeout."""
    async with Clients(nats_url) as clients:
        nc = await clients.connect()
        start = time.monotonic()
        with pytest.raises(nats.errors.NoRespondersError):
            await nc.request("nobody.home", b"anyone?", timeout=4)
        assert time.monotonic() - start < 1.0


# --------------------------------------------------------------------------
# 8. auto-unsubscribe


@async_test
async def test_auto_unsubscribe_server_side(nats_url):
    """UNSUB with a limit (sub.unsubscribe(limit=3)): the server itself stops
    after 3 messages out of 10; nats-py also filters client-side, so the
    connection's in_msgs count is what proves the server honoured it."""
    async with Clients(nats_url) as clients:
        sub_nc = await clients.connect()
        pub_nc = await clients.connect()
        got = Collector()
        sub = await sub_nc.subscribe("auto", cb=got.handler)
        await sub.unsubscribe(limit=3)
        await sync(sub_nc)

        for i in range(10):
            await pub_nc.publish("auto", str(i).encode())
        await settle(pub_nc, sub_nc)

        assert got.data == [b"0", b"1", b"2"]
        assert sub_nc.stats["in_msgs"] == 3


@async_test
async def test_subscribe_max_msgs(nats_url):
    """subscribe(max_msgs=3) delivers exactly 3 of 10 messages to the
    subscription (nats-py enforces this one on the client side)."""
    async with Clients(nats_url) as clients:
        sub_nc = await clients.connect()
        pub_nc = await clients.connect()
        got = Collector()
        await sub_nc.subscribe("auto.max", cb=got.handler, max_msgs=3)
        await sync(sub_nc)

        for i in range(10):
            await pub_nc.publish("auto.max", str(i).encode())
        await settle(pub_nc, sub_nc)

        assert got.data == [b"0", b"1", b"2"]


# --------------------------------------------------------------------------
# 9. unsubscribe and drain


@async_test
async def test_unsubscribe_stops_delivery(nats_url):
    """After UNSUB the server sends nothing more for that subscription, while
    another subscription on the same connection keeps receiving."""
    async with Clients(nats_url) as clients:
        sub_nc = await clients.connect()
        pub_nc = await clients.connect()
        gone, stays = Collector(), Collector()
        sub = await sub_nc.subscribe("unsub", cb=gone.handler)
        await sub_nc.subscribe("unsub", cb=stays.handler)
        await sync(sub_nc)

        for i in range(5):
            await pub_nc.publish("unsub", b"before")
        await gone.wait_for(5)
        await stays.wait_for(5)

        await sub.unsubscribe()
        await sync(sub_nc)
        for i in range(5):
            await pub_nc.publish("unsub", b"after")
        await settle(pub_nc, sub_nc)

        assert gone.data == [b"before"] * 5
        assert stays.data == [b"before"] * 5 + [b"after"] * 5
        assert sub_nc.stats["in_msgs"] == 15


@async_test
async def test_subscription_drain(nats_url):
    """sub.drain() processes the messages already sent, then delivery stops."""
    async with Clients(nats_url) as clients:
        sub_nc = await clients.connect()
        pub_nc = await clients.connect()
        got = []

        async def slow_handler(msg: Msg) -> None:
            await asyncio.sleep(0.002)  # keep messages queued while draining
            got.append(msg.data)

        sub = await sub_nc.subscribe("drain.sub", cb=slow_handler)
        await sync(sub_nc)
        for i in range(50):
            await pub_nc.publish("drain.sub", str(i).encode())
        await sync(pub_nc)

        await asyncio.wait_for(sub.drain(), WAIT)
        assert got == [str(i).encode() for i in range(50)]

        for i in range(5):
            await pub_nc.publish("drain.sub", b"late")
        await settle(pub_nc, sub_nc)
        assert len(got) == 50
        assert sub_nc.stats["in_msgs"] == 50
        assert sub_nc.is_connected


@async_test
async def test_connection_drain(nats_url):
    """nc.drain() delivers everything pending to every subscription, then
    closes the connection (closed_cb fires)."""
    async with Clients(nats_url) as clients:
        closed = asyncio.Event()

        async def on_closed() -> None:
            closed.set()

        sub_nc = await clients.connect(closed_cb=on_closed)
        pub_nc = await clients.connect()
        got_a, got_b = [], []

        async def handler_a(msg: Msg) -> None:
            await asyncio.sleep(0.001)
            got_a.append(msg.data)

        async def handler_b(msg: Msg) -> None:
            got_b.append(msg.data)

        await sub_nc.subscribe("drain.a", cb=handler_a)
        await sub_nc.subscribe("drain.b", cb=handler_b)
        await sync(sub_nc)
        for i in range(40):
            await pub_nc.publish("drain.a" if i % 2 else "drain.b", str(i).encode())
        await sync(pub_nc)

        await asyncio.wait_for(sub_nc.drain(), WAIT)
        await asyncio.wait_for(closed.wait(), WAIT)
        assert sub_nc.is_closed
        assert got_a == [str(i).encode() for i in range(1, 40, 2)]
        assert got_b == [str(i).encode() for i in range(0, 40, 2)]
        # The server is still fine for everybody else.
        await sync(pub_nc)
        assert pub_nc.is_connected


# --------------------------------------------------------------------------
# 10. no_echo


@async_test
async def test_no_echo(nats_url):
    """With no_echo=True a connection does not receive its own publishes but
    still receives other connections' messages; others receive its publishes."""
    async with Clients(nats_url) as clients:
        quiet_nc = await clients.connect(no_echo=True)
        other_nc = await clients.connect()
        quiet, other = Collector(), Collector()
        await quiet_nc.subscribe("echo", cb=quiet.handler)
        await other_nc.subscribe("echo", cb=other.handler)
        await sync(quiet_nc)
        await sync(other_nc)

        for i in range(3):
            await quiet_nc.publish("echo", b"from-quiet")
        await settle(quiet_nc, other_nc, quiet_nc)
        assert other.data == [b"from-quiet"] * 3
        assert quiet.data == []
        assert quiet_nc.stats["in_msgs"] == 0

        await other_nc.publish("echo", b"from-other")
        await settle(other_nc, quiet_nc)
        await quiet.wait_for(1)
        assert quiet.data == [b"from-other"]
        # The default (echo on) connection does see its own message.
        await other.wait_for(4)
        assert other.data == [b"from-quiet"] * 3 + [b"from-other"]


# --------------------------------------------------------------------------
# 11. flush, ping, bursts


@async_test
async def test_flush_and_ping(nats_url):
    """Repeated PING/PONG round trips (flush and rtt) complete promptly."""
    async with Clients(nats_url) as clients:
        nc = await clients.connect()
        for _ in range(10):
            await nc.flush(timeout=2)
        for _ in range(5):
            rtt = await nc.rtt(timeout=2)
            assert 0 <= rtt < 2
        # Interleaved with publishes, too.
        for i in range(10):
            await nc.publish("flush.test", str(i).encode())
            await nc.flush(timeout=2)
        assert nc.is_connected and clients.errors[nc] == []


@async_test
async def test_burst_in_order(nats_url):
    """20 000 small messages published in a burst all arrive, in order."""
    n = 20_000
    async with Clients(nats_url) as clients:
        sub_nc = await clients.connect()
        pub_nc = await clients.connect()
        got = Collector()
        await sub_nc.subscribe("burst", cb=got.handler)
        await sync(sub_nc)

        for i in range(n):
            await pub_nc.publish("burst", b"%d" % i)
        await sync(pub_nc)
        await got.wait_for(n, timeout=15)
        assert got.data == [b"%d" % i for i in range(n)]
        assert clients.errors[sub_nc] == []


# --------------------------------------------------------------------------
# 12. max payload


@async_test
async def test_client_max_payload_enforced(start_server):
    """With a server configured for max_payload 1024, nats-py learns that
    limit from INFO, refuses a 1025-byte publish with MaxPayloadError, and a
    1024-byte message still round-trips."""
    url = start_server(max_payload=1024)
    async with Clients(url) as clients:
        nc = await clients.connect()
        assert nc.max_payload == 1024
        got = Collector()
        await nc.subscribe("limit", cb=got.handler)
        with pytest.raises(nats.errors.MaxPayloadError):
            await nc.publish("limit", b"x" * 1025)
        await nc.publish("limit", b"y" * 1024)
        await sync(nc)
        await got.wait_for(1)
        assert got.data == [b"y" * 1024]
        assert nc.is_connected


def test_server_rejects_oversized_payload(start_server):
    """A client that ignores max_payload (raw socket) gets -ERR 'Maximum
    Payload Violation' and is disconnected; nats-py never lets this happen,
    which is why this one is raw."""
    url = start_server(max_payload=1024)
    sock, info = raw_connect(url)
    try:
        assert info["max_payload"] == 1024
        sock.sendall(RAW_CONNECT + b"PING\r\n")
        read_until(sock, b"PONG\r\n")
        sock.sendall(b"PUB big 1025\r\n" + b"z" * 1025 + b"\r\n")
        rest = read_to_eof(sock, WAIT)
        assert b"-ERR" in rest and b"maximum payload" in rest.lower(), rest[:300]
    finally:
        sock.close()


# --------------------------------------------------------------------------
# 13. slow consumer


@pytest.mark.docketd_only(reason="uses docketd's --max-pending flag")
@async_test
async def test_slow_consumer_is_cut_off_alone(start_server):
    """A subscriber that never reads is disconnected once its pending output
    passes --max-pending, while the publisher and a healthy subscriber on the
    same subject carry on unaffected."""
    # max_payload is lowered too: nats-server refuses max_payload > max_pending
    # and docketd may reasonably do the same; 8 KiB messages are used anyway.
    url = start_server(max_pending=65536, max_payload=65536)
    # Tiny receive window so the kernel cannot soak up much of the backlog.
    sock, _ = raw_connect(url, rcvbuf=4096)
    try:
        sock.sendall(RAW_CONNECT + b"SUB slow 1\r\nPING\r\n")
        read_until(sock, b"PONG\r\n")
        # From here on the raw socket is not read until the end.

        async with Clients(url) as clients:
            sub_nc = await clients.connect()
            pub_nc = await clients.connect()
            healthy = Collector()
            await sub_nc.subscribe("slow", cb=healthy.handler)
            await sync(sub_nc)

            # 16 MiB in all: well beyond max-pending plus any socket buffering.
            # Sent in 32 KiB batches, each received by the healthy subscriber
            # before the next, so that its own backlog at the server stays
            # under the 64 KiB limit however the server schedules writes.
            count, chunk, batch = 2048, 8 * 1024, 4
            for i in range(count):
                await pub_nc.publish("slow", i.to_bytes(4, "big") + b"s" * (chunk - 4))
                if (i + 1) % batch == 0:
                    await sync(pub_nc)
                    await healthy.wait_for(i + 1)
            await sync(pub_nc)
            await healthy.wait_for(count)
            assert [int.from_bytes(d[:4], "big") for d in healthy.data] == list(range(count))

            # The server must have closed the stalled connection by now; what
            # it managed to send before that is read and discarded.
            await asyncio.to_thread(read_to_eof, sock, WAIT)

            # Both nats-py connections still work end to end.
            await pub_nc.publish("slow", b"after")
            await sync(pub_nc)
            await healthy.wait_for(count + 1)
            assert healthy.data[-1] == b"after"
            assert pub_nc.is_connected and sub_nc.is_connected
            assert clients.errors[pub_nc] == [] and clients.errors[sub_nc] == []
    finally:
        sock.close()
