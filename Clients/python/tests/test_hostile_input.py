"""Input the client cannot use never takes it down: JSON nested too deeply
to decode (from a peer, a server reply, INFO or an event), frames larger
than the server's own ``max_payload``, and anything unexpected in the
reader. Each is malformed input: refused where it is read, with the
connection dropped and made again when it came from the server, and the
client usable afterwards."""

from __future__ import annotations

import asyncio
import itertools
import logging
import socket
import threading
import time
from typing import Callable, List, Optional

import pytest

import docketd_client as docket
import docketd_client.aio as aio
from docketd_client import protocol as P

from conftest import wait_until

#: About 18 KB of {"a":{"a":...}}: far below max_payload, far above what json.loads can recurse into.
DEEP_OBJECT = b'{"a":' * 3000 + b"1" + b"}" * 3000
DEEP_ARRAY = b"[" * 20000 + b"]" * 20000

INFO = b'INFO {"server_id":"FAKE","version":"2.9.0","proto":1,"headers":true,"max_payload":%d}\r\n'


def run(coro, timeout: float = 20.0):
    async def bounded():
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(bounded())


class ScriptedServer:
    """A fake server on 127.0.0.1: sends ``info`` to each connection,
    answers PING with PONG and passes every other command line to
    ``on_line(conn, line)`` (the tests send it no payloads). With
    ``drop_after_handshake`` it closes each connection after its first PONG;
    ``pong_delay`` seconds pass before each PONG; ``with_pong`` is sent in
    the same write as each PONG; ``after_handshake(conn)``, when given,
    takes each connection over after its first PONG."""

    def __init__(self, info: bytes = INFO % 1048576,
                 on_line: Optional[Callable[[socket.socket, bytes], None]] = None,
                 drop_after_handshake: bool = False, pong_delay: float = 0.0,
                 after_handshake: Optional[Callable[[socket.socket], None]] = None,
                 with_pong: bytes = b"") -> None:
        self.info = info
        self.with_pong = with_pong
        self.drop_after_handshake = drop_after_handshake
        self.pong_delay = pong_delay
        self.after_handshake = after_handshake
        self.on_line = on_line or (lambda conn, line: None)
        self.connections = 0
        self._conns: List[socket.socket] = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"nats://127.0.0.1:{self.listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            self._conns.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        buf = b""
        try:
            conn.sendall(self.info)
            while True:
                data = conn.recv(65536)
                if not data:
                    return
                buf += data
                while b"\r\n" in buf:
                    line, buf = buf.split(b"\r\n", 1)
                    if line == b"PING":
                        time.sleep(self.pong_delay)
                        conn.sendall(b"PONG\r\n" + self.with_pong)
                        if self.drop_after_handshake:
                            conn.close()
                            return
                        if self.after_handshake is not None:
                            self.after_handshake(conn)
                            return
                    elif not line.startswith(b"CONNECT "):
                        self.on_line(conn, line)
        except OSError:
            return

    def close(self) -> None:
        self.listener.close()
        for conn in self._conns:
            try:
                conn.close()
            except OSError:
                pass


@pytest.fixture
def scripted():
    made: List[ScriptedServer] = []

    def make(**kwargs) -> ScriptedServer:
        srv = ScriptedServer(**kwargs)
        made.append(srv)
        return srv

    yield make
    for srv in made:
        srv.close()


# --------------------------------------------------------------------------
# JSON nested too deeply


def test_decoding_deep_json_is_a_value_error():
    for body in (DEEP_OBJECT, DEEP_ARRAY):
        with pytest.raises(ValueError):
            docket.Msg("s", "1", None, body).json()
        assert not P.is_routed_reply(body)
        with pytest.raises(docket.ProtocolError):
            P.parse_routed_reply(body)
        with pytest.raises(docket.ProtocolError):
            P.Parser().parse(b"JSON %d\r\n%s\r\n" % (len(body), body))
        with pytest.raises(docket.ProtocolError):
            P.Parser().parse(b"INFO " + body + b"\r\n")
    # JobEvent.from_msg keeps its promise: a body it cannot read gives an event with only the subject
    event = docket.JobEvent.from_msg(docket.Msg("$JOB.q.started", "1", None, DEEP_OBJECT))
    assert (event.subject, event.event, event.id, event.raw) == ("$JOB.q.started", "started", None, {})


def test_a_peers_deep_json_answer_leaves_the_client_working(make_client):
    peer = make_client()
    peer.subscribe("orders.new", callback=lambda m: m.respond(DEEP_OBJECT))
    peer.flush()
    victim = make_client(request_timeout=3.0)
    # the peer's answer is not the route's {"jobs":[...]}: skipped, and no route answers
    with pytest.raises(docket.Timeout):
        victim.publish_routed("orders.new", b"{}", timeout=0.5)
    assert victim._reader.is_alive() and victim.is_connected
    victim.flush(timeout=2)
    assert victim.enqueue("q", b"x", timeout=2).id == 1
    assert victim.reconnects == 0


def test_a_peers_deep_json_answer_leaves_the_aio_client_working(make_client, url):
    peer = make_client()
    peer.subscribe("orders.new", callback=lambda m: m.respond(DEEP_OBJECT))
    peer.flush()

    async def main():
        async with aio.connect(url, request_timeout=3.0) as victim:
            with pytest.raises(aio.Timeout):
                await victim.publish_routed("orders.new", b"{}", timeout=0.5)
            await victim.flush(timeout=2)
            assert (await victim.enqueue("q", b"x", timeout=2)).id == 1
            assert victim.reconnects == 0

    run(main())


def test_deep_json_events_read_as_empty_events(make_client, url):
    client = make_client()
    publisher = make_client()
    stream = client.events("q", timeout=2)
    publisher.publish("$JOB.q.started", DEEP_OBJECT)
    publisher.publish("$JOB.q.started", b'{"seq":2,"event":"started","id":7}')
    first = next(stream)
    assert (first.subject, first.event, first.id, first.raw) == ("$JOB.q.started", "started", None, {})
    assert next(stream).seq == 2

    async def main():
        async with aio.connect(url) as c:
            events = await c.events("q", timeout=2)
            await c.publish("$JOB.q.failed", DEEP_ARRAY)
            event = await events.__anext__()
            assert (event.event, event.raw) == ("failed", {})

    run(main())


def test_a_deep_json_reply_drops_the_connection_only(scripted):
    def on_line(conn, line):
        if line == b"INSPECT 1":
            conn.sendall(b"JSON %d\r\n%s\r\n" % (len(DEEP_ARRAY), DEEP_ARRAY))
        elif line == b"INSPECT 2":
            conn.sendall(b'JSON 8\r\n{"id":2}\r\n')

    srv = scripted(on_line=on_line)
    with docket.Client(srv.url, request_timeout=3.0, reconnect_wait=0.01) as c:
        with pytest.raises((docket.ConnectionLost, docket.ProtocolError)) as info:
            c.inspect(1)
        assert "nested too deeply" in str(info.value)
        assert wait_until(lambda: c.is_connected and c.reconnects == 1, 3)
        assert c._reader.is_alive()
        assert c.inspect(2).id == 2

    async def main():
        async with aio.connect(srv.url, request_timeout=3.0, reconnect_wait=0.01) as c:
            with pytest.raises((aio.ConnectionLost, aio.ProtocolError)):
                await c.inspect(1)
            assert (await c.inspect(2)).id == 2 and c.reconnects == 1

    run(main())


def test_a_deep_json_info_is_a_connect_error(scripted):
    srv = scripted(info=b"INFO " + DEEP_OBJECT + b"\r\n")
    with pytest.raises(docket.ConnectError) as info:
        docket.Client(srv.url, connect_timeout=3)
    assert "INFO is not JSON" in str(info.value)
    with pytest.raises(aio.ConnectError):
        run(aio.connect(srv.url, connect_timeout=3))


# --------------------------------------------------------------------------
# The reader thread never dies silently


def test_an_unexpected_error_in_the_reader_drops_and_reconnects(make_client, monkeypatch):
    errors: List[BaseException] = []
    c = make_client(error_callback=errors.append, reconnect_wait=0.01)
    sub = c.subscribe("boom")
    c.flush()
    original = docket.Client._on_msg
    calls = []

    def on_msg(self, op):
        calls.append(op)
        if len(calls) == 1:
            raise RuntimeError("a bug in message delivery")
        return original(self, op)

    monkeypatch.setattr(docket.Client, "_on_msg", on_msg)
    c.publish("boom", b"first")
    assert wait_until(lambda: c.reconnects == 1 and c.is_connected, 3)
    assert wait_until(lambda: any(isinstance(e, RuntimeError) for e in errors), 3)
    c.publish("boom", b"second")  # the subscription came back with the connection
    assert sub.next_msg(timeout=3).data == b"second"
    assert c.enqueue("q", b"x").id == 1


def test_a_failure_outside_reading_closes_the_client_and_says_why(start_docketd):
    server = start_docketd()
    errors: List[BaseException] = []
    c = docket.Client(server.url, request_timeout=5.0, error_callback=errors.append)
    try:
        def broken_reconnect():
            raise RuntimeError("a bug in reconnecting")

        c._reconnect = broken_reconnect  # type: ignore[method-assign]
        sub = c.subscribe("x")
        server.stop()
        # without the guard the reader would be dead: no reconnect, nor a close, ever (waited
        # for first: a command sent before the reader reads the end would see the connection
        # lost instead)
        assert wait_until(lambda: c.is_closed, 3)
        with pytest.raises(docket.ConnectionClosed) as info:
            c.enqueue("q", b"x")
        assert "reader thread failed" in str(info.value)
        with pytest.raises(docket.SubscriptionClosed):
            sub.next_msg(timeout=1)
        assert wait_until(lambda: any(isinstance(e, RuntimeError) for e in errors), 3)
    finally:
        c.close()


# --------------------------------------------------------------------------
# Frames larger than max_payload


def test_parser_bounds_messages_by_max_payload():
    parser = P.Parser()
    parser.parse(INFO % 1000)
    limit = 1000 + P.FRAME_HEADROOM
    assert parser.parse(b"MSG a 1 3\r\nabc\r\n")[0].payload == b"abc"
    for line in (b"MSG a 1 %d\r\n", b"HMSG a 1 12 %d\r\n", b"JOB 1 q 1 %d\r\n", b"OUTCOME 1 completed %d\r\n"):
        with pytest.raises(docket.ProtocolError) as info:
            P.Parser().parse(INFO % 1000 + line % (limit + 1))
        assert "max_payload" in str(info.value)
        assert P.Parser().parse(INFO % 1000 + line % limit) == [P.Info({
            "server_id": "FAKE", "version": "2.9.0", "proto": 1, "headers": True, "max_payload": 1000})]
    # documents are not bounded by max_payload (a LIST page holds many jobs), only by the hard limit
    assert P.Parser().parse(INFO % 1000 + b"JSON %d\r\n" % (limit + 1))[1:] == []
    # an INFO without a usable max_payload leaves the hard limit alone
    assert P.Parser().parse(b'INFO {"max_payload":true}\r\nMSG a 1 100000\r\n')[1:] == []


def test_a_message_above_max_payload_drops_the_connection(scripted):
    def on_line(conn, line):
        if line == b"SUB big 1":
            conn.sendall(b"MSG big 1 1024\r\n" + b"a" * 1024 + b"\r\n")
            # announces far more than the server's own max_payload; its bytes never come
            conn.sendall(b"MSG big 1 %d\r\n" % (200 << 20))

    srv = scripted(info=INFO % 1024, on_line=on_line)
    lost = []
    with docket.Client(srv.url, max_reconnect_attempts=0, disconnected_callback=lambda: lost.append(1)) as c:
        sub = c.subscribe("big")
        assert sub.next_msg(timeout=3).data == b"a" * 1024
        assert wait_until(lambda: c.is_closed and lost, 3)  # not waiting for 200 MB
        with pytest.raises(docket.SubscriptionClosed):
            sub.next_msg(timeout=1)

    async def main():
        c = await aio.connect(srv.url, max_reconnect_attempts=0)
        sub = await c.subscribe("big")
        assert (await sub.next_msg(timeout=3)).data == b"a" * 1024
        with pytest.raises(aio.SubscriptionClosed):
            await sub.next_msg(timeout=3)
        assert c.is_closed

    run(main())


# --------------------------------------------------------------------------
# A server that lets clients in and drops them at once


def test_connections_dropped_after_the_handshake_keep_the_backoff(scripted):
    """Each reconnect completes its handshake, so a backoff that started
    over after every handshake would reconnect every reconnect_wait (about
    thirty times in 1.6 s here); carried on, the waits double: 0.05, 0.1,
    0.2, 0.4, 0.8 s, at most six connections in all."""
    srv = scripted(drop_after_handshake=True)
    with docket.Client(srv.url, reconnect_wait=0.05, reconnect_max_wait=1.0):
        time.sleep(1.6)
    assert 3 <= srv.connections <= 7, srv.connections

    srv = scripted(drop_after_handshake=True)

    async def main():
        async with aio.connect(srv.url, reconnect_wait=0.05, reconnect_max_wait=1.0):
            await asyncio.sleep(1.6)

    run(main())
    assert 3 <= srv.connections <= 7, srv.connections


# --------------------------------------------------------------------------
# Closing while connecting


def test_reconnect_waits_get_jitter(scripted):
    # Without it, every client a restarted server lost retries at the same instants.
    srv = scripted()
    same = dict(reconnect_wait=0.05, reconnect_max_wait=0.05)
    client = docket.Client(srv.url, reconnect_jitter=0.1, **same)
    steady = docket.Client(srv.url, reconnect_jitter=0, **same)
    try:
        waits = list(itertools.islice(client._reconnect_delays(), 40))
        assert all(0.05 <= w <= 0.15 for w in waits), waits
        assert len(set(waits)) > 30, waits
        assert set(itertools.islice(steady._reconnect_delays(), 10)) == {0.05}
    finally:
        client.close(timeout=0.5)
        steady.close(timeout=0.5)
    for bad in (-1, "0.1", True, float("nan")):
        with pytest.raises(docket.BadArgument, match="reconnect_jitter"):
            docket.Client(srv.url, reconnect_jitter=bad)


def test_aio_close_during_connect_wins(scripted):
    srv = scripted(pong_delay=1.0)  # the handshake's PONG comes a second late

    async def main():
        client = aio.Client(srv.url)
        connecting = asyncio.ensure_future(client.connect())
        await asyncio.sleep(0.3)
        await client.close()
        with pytest.raises(aio.ConnectionClosed):
            await connecting
        assert client.is_closed and not client.is_connected
        assert client._read_task is None and client._ping_task is None
        with pytest.raises(aio.ConnectionClosed):
            await client.enqueue("q", b"x", timeout=1)

    run(main())


# --------------------------------------------------------------------------
# A server that sends PINGs and does not read the PONGs


class PingFlood:
    """Takes a connection over after the handshake: PINGs, as fast as the
    client takes them, and never a byte read; counts the connections the
    client closed."""

    def __init__(self) -> None:
        self.closed = 0

    def __call__(self, conn: socket.socket) -> None:
        try:
            while True:
                conn.sendall(b"PING\r\n" * 100_000)
        except OSError:
            self.closed += 1


def test_pongs_a_server_does_not_read_are_bounded(scripted):
    flood = PingFlood()
    srv = scripted(after_handshake=flood)
    client = docket.Client(srv.url, reconnect_max_wait=0.5)
    try:
        most = 0

        def dropped() -> bool:
            nonlocal most
            most = max(most, len(client._out))
            return srv.connections >= 2
        # the connection is dropped as a protocol failure, and made again (once the kernel's
        # buffers on both sides are full of PONGs, several MB: a bound for a busy machine)
        assert wait_until(dropped, 60), f"still one connection; {len(client._out)} bytes unwritten"
        assert most <= 1 << 20
        assert wait_until(lambda: flood.closed >= 1, 5)  # the dropped connection is closed, not left writing
    finally:
        client.close(timeout=0.5)


def test_aio_pongs_a_server_does_not_read_are_bounded(scripted):
    flood = PingFlood()
    srv = scripted(after_handshake=flood)

    async def main():
        client = await aio.connect(srv.url, reconnect_max_wait=0.5)
        try:
            most = 0
            for _ in range(3000):  # 60 s: see the blocking client's test above
                if srv.connections >= 2:
                    break
                if client._writer is not None:
                    most = max(most, client._writer.transport.get_write_buffer_size())
                await asyncio.sleep(0.02)
            assert srv.connections >= 2, f"still one connection; {most} bytes unwritten"
            assert most <= 1 << 20
            for _ in range(250):  # the dropped connection is closed, not left writing
                if flood.closed >= 1:
                    break
                await asyncio.sleep(0.02)
            assert flood.closed >= 1
        finally:
            await client.close(timeout=0.5)

    run(main(), timeout=90)


# --------------------------------------------------------------------------
# Requests in flight when the connection drops


def close_at_first_publish(conn: socket.socket, line: bytes) -> None:
    if line.startswith(b"PUB "):
        conn.close()


def test_requests_in_flight_at_a_drop_raise_connection_lost(scripted):
    srv = scripted(on_line=close_at_first_publish)
    client = docket.Client(srv.url, reconnect_max_wait=0.2)
    try:
        for call in (lambda: client.request("svc", b"?", timeout=6),
                     lambda: client.publish_routed("orders.new", b"{}", timeout=6)):
            t0 = time.monotonic()
            with pytest.raises(docket.ConnectionLost):
                call()
            assert time.monotonic() - t0 < 2
            assert wait_until(lambda: client.is_connected, 5)
    finally:
        client.close(timeout=0.5)


def test_aio_requests_in_flight_at_a_drop_raise_connection_lost(scripted):
    srv = scripted(on_line=close_at_first_publish)

    async def main():
        client = await aio.connect(srv.url, reconnect_max_wait=0.2)
        try:
            for call in (lambda: client.request("svc", b"?", timeout=6),
                         lambda: client.publish_routed("orders.new", b"{}", timeout=6)):
                t0 = time.monotonic()
                with pytest.raises(aio.ConnectionLost):
                    await call()
                assert time.monotonic() - t0 < 2
                for _ in range(250):
                    if client.is_connected:
                        break
                    await asyncio.sleep(0.02)
        finally:
            await client.close(timeout=0.5)

    run(main())


@pytest.mark.parametrize("value", [b"-1", b"0", b"true"])
def test_an_info_max_payload_that_is_no_positive_integer_counts_as_none(scripted, value):
    # Taken as it was, it refused every payload ("above the server's max_payload of -1").
    srv = scripted(info=b'INFO {"server_id":"FAKE","max_payload":%s}\r\n' % value)
    client = docket.Client(srv.url)
    try:
        assert client.max_payload is None
        client.publish("orders.new", b"hello")
        client.flush(5)
    finally:
        client.close(timeout=0.5)


@pytest.mark.parametrize("value", [b'"false"', b"1", b'"yes"'])
def test_only_json_true_in_info_asks_for_tls(scripted, value):
    # Read as truthy, tls_required "false" made the client start a TLS handshake the
    # server was not waiting for, and fail with a timeout (the Node and Swift clients
    # take only JSON true).
    srv = scripted(info=b'INFO {"server_id":"FAKE","tls_required":%s}\r\n' % value)
    client = docket.Client(srv.url, connect_timeout=2)
    try:
        assert not client.is_secure
        client.flush(5)
    finally:
        client.close(timeout=0.5)

    async def main():
        aclient = await aio.connect(srv.url, connect_timeout=2)
        try:
            assert not aclient.is_secure
            await aclient.flush(5)
        finally:
            await aclient.close(timeout=0.5)

    run(main())


# --------------------------------------------------------------------------
# Replies to commands never sent


@pytest.mark.parametrize("reply", [b"+OK 77\r\n", b"JOB 5 q 1 1\r\nx\r\n"])
def test_a_reply_that_comes_with_the_pong_fails_the_connect(scripted, reply):
    # Read after connect() returned, it would pass for the reply to the first command.
    srv = scripted(with_pong=reply)
    with pytest.raises(docket.ConnectError, match="no command awaits"):
        docket.Client(srv.url, connect_timeout=2)

    async def main():
        with pytest.raises(aio.ConnectError, match="no command awaits"):
            await aio.connect(srv.url, connect_timeout=2)

    run(main())


def test_what_else_comes_with_the_pong_is_handled(scripted):
    srv = scripted(with_pong=b'PING\r\nINFO {"server_id":"FAKE","max_payload":2048}\r\n')
    client = docket.Client(srv.url)
    try:
        assert wait_until(lambda: client.max_payload == 2048, 5)
    finally:
        client.close(timeout=0.5)


# --------------------------------------------------------------------------
# Replies that come after close()


def test_replies_read_after_close_are_dropped_quietly(scripted, monkeypatch, caplog):
    answered = []

    def answer_both_acks_at_once(conn: socket.socket, line: bytes) -> None:
        answered.append(line)
        if len(answered) == 2:
            conn.sendall(b"+OK\r\n+OK\r\n")  # one read for the client

    srv = scripted(on_line=answer_both_acks_at_once)
    client = docket.Client(srv.url)
    on_reply = client._on_reply

    def close_after_the_first_reply(head, op):
        # close() runs (on another thread) while the reader still holds the
        # second reply of the same read: a reply to a command close() failed
        on_reply(head, op)
        if not client.is_closed:
            threading.Thread(target=client.close, daemon=True).start()
            assert wait_until(lambda: client.is_closed, 5)

    monkeypatch.setattr(client, "_on_reply", close_after_the_first_reply)
    outcomes: List[object] = []

    def ack() -> None:
        try:
            outcomes.append(client.ack(1))
        except docket.Error as exc:
            outcomes.append(exc)

    with caplog.at_level(logging.INFO, logger="docketd_client"):
        threads = [threading.Thread(target=ack) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        assert wait_until(lambda: not client._reader.is_alive(), 5)
    assert sorted(map(repr, outcomes)) == sorted([repr(None), repr(docket.ConnectionClosed("client closed"))])
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.records


# --------------------------------------------------------------------------
# An -ERR without a job error code answers the job command waiting for it


def answer_touches(conn: socket.socket, line: bytes) -> None:
    """TOUCH 1 gets an -ERR with no code, TOUCH 2 a job error, TOUCH 3 +OK."""
    replies = {b"TOUCH 1": b"-ERR 'something went wrong'\r\n", b"TOUCH 2": b"-ERR 'NOT_FOUND job 2 does not exist'\r\n",
               b"TOUCH 3": b"+OK\r\n"}
    if line in replies:
        conn.sendall(replies[line])


def test_an_error_without_a_code_fails_the_waiting_command_with_its_text(scripted):
    srv = scripted(on_line=answer_touches)
    # Before the fix the first call waited out its timeout and raised Timeout.
    client = docket.Client(srv.url, request_timeout=10)
    try:
        with pytest.raises(docket.ServerError) as caught:
            client.touch(1)
        assert caught.value.text == "something went wrong"
        # Replies still line up with their commands after it.
        with pytest.raises(docket.NotFound):
            client.touch(2)
        client.touch(3)
        assert client.is_connected and srv.connections == 1
    finally:
        client.close(timeout=0.5)


def test_aio_an_error_without_a_code_fails_the_waiting_command_with_its_text(scripted):
    srv = scripted(on_line=answer_touches)

    async def main():
        client = await aio.connect(srv.url, request_timeout=10)
        try:
            with pytest.raises(aio.ServerError) as caught:
                await client.touch(1)
            assert caught.value.text == "something went wrong"
            with pytest.raises(aio.NotFound):
                await client.touch(2)
            await client.touch(3)
            assert client.is_connected and srv.connections == 1
        finally:
            await client.close(timeout=0.5)

    run(main())


# --------------------------------------------------------------------------
# Keepalive: only replies show that the server answers this connection


def stream_but_never_pong(conn: socket.socket) -> None:
    """After the handshake: messages (for the first sids) and PINGs of the
    server's own every 20 ms, and never a PONG for the client's PINGs, as
    from a server whose handling of this connection is stuck."""
    conn.settimeout(0.02)
    while True:
        try:
            conn.sendall(b"".join(b"MSG feed %d 1\r\nx\r\n" % sid for sid in (1, 2, 3)) + b"PING\r\n")
            conn.recv(65536)  # read and ignore: SUB, PONGs, our PINGs
        except socket.timeout:
            continue
        except OSError:
            return


def test_messages_and_server_pings_do_not_keep_a_stale_connection_alive(scripted):
    srv = scripted(after_handshake=stream_but_never_pong)
    client = docket.Client(srv.url, ping_interval=0.1, max_outstanding_pings=2, reconnect_max_wait=0.1)
    try:
        sub = client.subscribe("feed")
        sub.next_msg(timeout=5)
        # As nats.py: messages and the server's PINGs flow, yet the client's PINGs go unanswered.
        assert wait_until(lambda: srv.connections >= 2, 10), "the connection was never found stale"
    finally:
        client.close(timeout=0.5)


def answer_slowly(conn: socket.socket, line: bytes) -> None:
    """Every command takes 0.12 s, as on a server working through a backlog."""
    time.sleep(0.12)
    conn.sendall(b"+OK\r\n")


def test_replies_behind_which_the_pong_waits_keep_the_connection_alive(scripted):
    # The client's PINGs queue behind a backlog of commands, so their PONGs
    # come late, but a reply arrives more often than every ping interval:
    # the server is answering this connection, which is not stale. (When only
    # PONGs counted, it was dropped and the commands failed with ConnectionLost.)
    # Twelve commands take 1.44 s, so the PONGs behind them are later than two ping intervals
    # (0.6-0.9 s); the intervals leave a busy machine's scheduling its hiccups.
    srv = scripted(on_line=answer_slowly, pong_delay=0.12)  # in order, one at a time
    client = docket.Client(srv.url, ping_interval=0.3, max_outstanding_pings=2, request_timeout=20)
    try:
        errors: List[BaseException] = []

        def touch(i: int) -> None:
            try:
                client.touch(i + 1)
            except docket.Error as exc:
                errors.append(exc)

        threads = [threading.Thread(target=touch, args=(i,)) for i in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert errors == [] and srv.connections == 1
    finally:
        client.close(timeout=0.5)


def wrong_reply_then_a_fitting_one(conn: socket.socket, line: bytes) -> None:
    if line == b"TOUCH 2":  # both TOUCHes are on the wire: NOJOB cannot answer the first
        conn.sendall(b"NOJOB\r\n+OK\r\n")


def test_a_reply_of_the_wrong_kind_fails_its_command_and_the_fitting_one_after_it_answers_nothing(scripted):
    # The +OK behind the NOJOB fits the second TOUCH, but replies no longer line up with
    # commands: it must not be handed to it.
    srv = scripted(on_line=wrong_reply_then_a_fitting_one)
    client = docket.Client(srv.url, request_timeout=5, max_reconnect_attempts=0)
    try:
        outcome: List[BaseException] = []

        def first() -> None:
            try:
                client.touch(1)
            except docket.Error as exc:
                outcome.append(exc)

        thread = threading.Thread(target=first)
        thread.start()
        time.sleep(0.1)  # TOUCH 1 goes first
        with pytest.raises(docket.ConnectionLost):
            client.touch(2)
        thread.join(5)
        assert len(outcome) == 1 and isinstance(outcome[0], docket.ProtocolError), outcome
    finally:
        client.close(timeout=0.5)


def test_aio_messages_and_server_pings_do_not_keep_a_stale_connection_alive(scripted):
    srv = scripted(after_handshake=stream_but_never_pong)

    async def main():
        client = await aio.connect(srv.url, ping_interval=0.1, max_outstanding_pings=2, reconnect_max_wait=0.1)
        try:
            sub = await client.subscribe("feed")
            await sub.next_msg(timeout=5)
            for _ in range(500):
                if srv.connections >= 2:
                    break
                await asyncio.sleep(0.02)
            assert srv.connections >= 2, "the connection was never found stale"
        finally:
            await client.close(timeout=0.5)

    run(main())


def garbage_after_ok(conn: socket.socket, line: bytes) -> None:
    if line.startswith(b"ACK "):
        conn.sendall(b"+OK garbage\r\n")
    elif line.startswith(b"RESERVE "):
        conn.sendall(b"NOJOB\r\n")


def test_a_command_sent_as_a_reply_breaks_the_connection_waits_for_the_reconnect(scripted, monkeypatch):
    # The ACK's caller hears ProtocolError as soon as the reply is read; the connection was
    # marked lost only after that, so a command it sent at once went out on the connection
    # being dropped and failed ConnectionLost (one run in three). Held up between the two
    # here, every time.
    srv = scripted(on_line=garbage_after_ok)
    client = docket.Client(srv.url, request_timeout=5, reconnect_max_wait=0.05)
    dropping = client._dropping

    def slowly(error):
        time.sleep(0.3)
        return dropping(error)

    monkeypatch.setattr(client, "_dropping", slowly)
    try:
        with pytest.raises(docket.ProtocolError, match="garbage"):
            client.ack(1)
        assert client.reserve("q", timeout=0) is None
        assert srv.connections == 2
    finally:
        client.close(timeout=0.5)


def hostile_answer(kind: str) -> Callable[[socket.socket, bytes], None]:
    """Answers the first RESERVE of the first connection as ``kind`` says,
    every other RESERVE with NOJOB, and CANCEL with +OK."""
    first = [True]

    def on_line(conn: socket.socket, line: bytes) -> None:
        if line == b"CANCEL":  # behind the RESERVE whose caller gave up
            conn.sendall(b"+OK\r\n")
        if not line.startswith(b"RESERVE "):
            return
        if not first[0]:
            conn.sendall(b"NOJOB\r\n")
            return
        first[0] = False
        chunk = b"x" * 65536
        if kind in ("endless line", "huge line"):
            conn.sendall(b"+OK ")
            for _ in range(4096):  # 256 MiB at most: the client gives up long before
                conn.sendall(chunk)
            if kind == "huge line":
                conn.sendall(b"\r\n")
        elif kind == "slow":
            time.sleep(1.5)
            conn.sendall(b"NOJOB\r\n")
        elif kind == "closed mid-payload":
            conn.sendall(b"JOB 1 q 1 100\r\nabc")
            conn.shutdown(socket.SHUT_RDWR)
        else:
            conn.sendall(kind.encode())

    return on_line


@pytest.mark.parametrize("kind", [
    "endless line", "huge line", "JOB 1 q 1 9223372036854775808\r\n", "JOB 1 q 1 -5\r\nabc\r\n",
    "closed mid-payload", "NOJOB garbage\r\n", "+OK\r\nNOJOB\r\n", "slow",
])
@pytest.mark.parametrize("flavour", ["threaded", "aio"])
def test_a_hostile_answer_fails_the_call_and_the_next_is_answered(scripted, kind, flavour):
    # The call fails with an error within its timeout (never a hang, nor a value read from the
    # bytes), what the client buffered of it stays bounded, and the next call is answered (on
    # a new connection when the first had to be dropped).
    srv = scripted(on_line=hostile_answer(kind))
    started = time.monotonic()
    if flavour == "threaded":
        client = docket.Client(srv.url, request_timeout=1.0, reconnect_max_wait=0.05)
        try:
            with pytest.raises(docket.Error):
                client.reserve("q", timeout=0)
            assert time.monotonic() - started < 3
            assert client.reserve("q", timeout=0) is None
        finally:
            client.close(timeout=0.5)
        return

    async def main():
        client = await aio.connect(srv.url, request_timeout=1.0, reconnect_max_wait=0.05)
        try:
            with pytest.raises(docket.Error):
                await client.reserve("q", timeout=0)
            assert time.monotonic() - started < 3
            assert await client.reserve("q", timeout=0) is None
        finally:
            await client.close(timeout=0.5)

    run(main())


@pytest.mark.parametrize("flavour", ["threaded", "aio"])
def test_a_timed_out_reserve_without_wait_sends_no_cancel(scripted, flavour):
    # The server answers a timeout=0 RESERVE at once and never holds the connection for it, so
    # a caller that gave up on it (its answer came late) has no wait to end: a CANCEL behind it
    # would only put an extra +OK on the wire.
    lines: List[bytes] = []

    def on_line(conn: socket.socket, line: bytes) -> None:
        lines.append(line)
        if line.startswith(b"RESERVE "):
            time.sleep(0.6)  # past the client's request timeout
            conn.sendall(b"NOJOB\r\n")
        elif line == b"CANCEL":
            conn.sendall(b"+OK\r\n")

    srv = scripted(on_line=on_line)
    if flavour == "threaded":
        client = docket.Client(srv.url, request_timeout=0.2)
        try:
            with pytest.raises(docket.Timeout):
                client.reserve("q", timeout=0)
            time.sleep(0.3)  # room for a CANCEL, which went out at once when one was sent
            # Its PING goes behind whatever was sent, so the server has read it; the server
            # answers it only after its late NOJOB, past the request timeout: a timeout of its own.
            client.flush(timeout=10)
        finally:
            client.close(timeout=0.5)
    else:
        async def main():
            client = await aio.connect(srv.url, request_timeout=0.2)
            try:
                with pytest.raises(docket.Timeout):
                    await client.reserve("q", timeout=0)
                await asyncio.sleep(0.3)
                await client.flush(timeout=10)
            finally:
                await client.close(timeout=0.5)

        run(main())
    assert lines[0].startswith(b"RESERVE ")
    assert b"CANCEL" not in lines
