"""Pub/sub and request/reply against a real docketd."""

from __future__ import annotations

import asyncio
import threading

import pytest

import docketd_client as docket
import docketd_client.aio as aio
from docketd_client import protocol as P

from conftest import wait_until


def test_publish_subscribe_iterator(client, make_client):
    sub = client.subscribe("orders.*", timeout=2.0)
    client.flush()
    other = make_client()
    for i in range(3):
        other.publish(f"orders.n{i}", f"order {i}")
    other.flush()
    got = []
    for msg in sub:
        got.append((msg.subject, msg.data))
        if len(got) == 3:
            break
    assert got == [("orders.n0", b"order 0"), ("orders.n1", b"order 1"), ("orders.n2", b"order 2")]


def test_iterator_timeout_ends_iteration(client):
    sub = client.subscribe("quiet", timeout=0.2)
    assert list(sub) == []
    with pytest.raises(docket.Timeout):
        sub.next_msg(timeout=0.05)


def test_binary_payload_and_headers(client):
    sub = client.subscribe("bin.>")
    client.flush()
    payload = bytes(range(256)) + b"\r\nMSG x 1 2\r\n"
    client.publish("bin.a.b", payload, headers={"X-Id": "42", "Multi": ["a", "b"]})
    client.publish("bin.c", b"")
    msg = sub.next_msg(timeout=2)
    assert msg.data == payload
    assert msg.headers == {"X-Id": "42", "Multi": "a, b"}
    assert msg.header_items == [("X-Id", "42"), ("Multi", "a"), ("Multi", "b")]
    empty = sub.next_msg(timeout=2)
    assert (empty.subject, empty.data, empty.headers) == ("bin.c", b"", None)


def test_callback_and_queue_group(client, make_client):
    got = []
    lock = threading.Lock()
    done = threading.Event()

    def on_msg(msg):
        with lock:
            got.append(msg.data)
            if len(got) == 20:
                done.set()

    a = make_client()
    b = make_client()
    a.subscribe("jobs.work", queue="workers", callback=on_msg)
    b.subscribe("jobs.work", queue="workers", callback=on_msg)
    a.flush()
    b.flush()
    for i in range(20):
        client.publish("jobs.work", str(i))
    assert done.wait(5)
    client.flush()
    assert sorted(int(x) for x in got) == list(range(20))  # each exactly once


def test_unsubscribe_and_max_msgs(client):
    sub = client.subscribe("m", timeout=1.0)
    sub.unsubscribe(max_msgs=2)
    for i in range(5):
        client.publish("m", str(i))
    client.flush()
    assert [m.data for m in sub] == [b"0", b"1"]
    assert sub.closed
    with pytest.raises(docket.SubscriptionClosed):
        sub.next_msg(timeout=0.1)

    sub2 = client.subscribe("n", timeout=0.3)
    client.publish("n", "x")
    client.flush()
    sub2.unsubscribe()
    client.publish("n", "y")
    client.flush()
    assert [m.data for m in sub2] == [b"x"]


def test_a_callback_that_unsubscribes_is_not_called_again(client, url):
    # It was called for every message already queued behind the first (here all five),
    # unlike the Node client and NATS clients; an iterator still yields what was queued.
    got = []
    all_queued = threading.Event()

    def first_only(msg):
        got.append(msg.data)
        all_queued.wait(5)
        sub.unsubscribe()

    sub = client.subscribe("once", callback=first_only)
    for i in range(5):
        client.publish("once", str(i))
    client.flush()  # every MSG is queued before the PONG is read
    all_queued.set()
    assert wait_until(lambda: sub.pending == 0 and sub.closed)
    client.flush()
    assert got == [b"0"]


def test_an_aio_callback_that_unsubscribes_is_not_called_again(url):
    async def main():
        async with aio.connect(url) as aclient:
            seen = []
            all_queued = asyncio.Event()

            async def first(msg):
                seen.append(msg.data)
                await all_queued.wait()
                await asub.unsubscribe()

            asub = await aclient.subscribe("once", callback=first)
            for i in range(5):
                await aclient.publish("once", str(i))
            await aclient.flush()
            all_queued.set()
            await asyncio.wait_for(asub._task, 5)  # it ends at the end mark unsubscribe queued
            assert seen == [b"0"]

    asyncio.run(main())


def test_request_reply(client, make_client):
    responder = make_client()

    def answer(msg):
        msg.respond(b"echo:" + msg.data)

    responder.subscribe("svc.echo", callback=answer)
    responder.flush()
    assert client.request("svc.echo", b"hi", timeout=2).data == b"echo:hi"
    # many at once, from several threads, each gets its own answer
    results = {}

    def ask(i):
        results[i] = client.request("svc.echo", str(i), timeout=5).data

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert results == {i: f"echo:{i}".encode() for i in range(20)}


def test_request_in_own_callback(client):
    # a callback may make requests: callbacks do not run on the reader thread
    client.subscribe("svc.inner", callback=lambda m: m.respond(b"inner"))
    client.subscribe("svc.outer", callback=lambda m: m.respond(client.request("svc.inner", b"", timeout=2).data + b"+outer"))
    client.flush()
    assert client.request("svc.outer", b"", timeout=3).data == b"inner+outer"


def test_no_responders(client):
    with pytest.raises(docket.NoResponders):
        client.request("nobody.home", b"?", timeout=2)


def test_request_timeout(client, make_client):
    silent = make_client()
    silent.subscribe("svc.silent")
    silent.flush()
    with pytest.raises(docket.Timeout):
        client.request("svc.silent", b"?", timeout=0.2)


def test_client_side_validation(client):
    with pytest.raises(docket.BadArgument):
        client.publish("a..b", b"x")
    with pytest.raises(docket.BadArgument):
        client.publish("a.*", b"x")
    with pytest.raises(docket.BadArgument):
        client.subscribe("a.>.b")
    with pytest.raises(docket.BadArgument):
        client.publish("big", b"x" * (client.max_payload + 1))
    client.flush()  # the connection is still fine


def test_async_server_error_reaches_callback(url):
    errors = []
    with docket.Client(url, error_callback=errors.append) as c:
        # bypass validation to get a real -ERR 'Invalid Subject' (non-fatal)
        c._send(b"SUB foo..bar 99\r\n")
        c.flush()
        assert c.enqueue("q", b"still in step").id == 1  # FIFO matching unaffected
    assert [e.text for e in errors if isinstance(e, docket.ServerError)] == ["Invalid Subject"]


def test_close_fails_waiters(url):
    c = docket.Client(url)
    sub = c.subscribe("x")
    c.close()
    with pytest.raises(docket.SubscriptionClosed):
        sub.next_msg(timeout=1)
    with pytest.raises(docket.ConnectionClosed):
        c.publish("x", b"")
    with pytest.raises(docket.ConnectionClosed):
        c.enqueue("q", b"")
    c.close()  # idempotent


def test_answers_server_pings(start_docketd):
    # --ping-interval 100ms with 2 pings out: a client that did not answer
    # would be cut off as stale within about 0.3 s
    server = start_docketd(flags=["--ping-interval", "100ms", "--max-pings-out", "2"])
    errors = []
    with docket.Client(server.url, error_callback=errors.append) as c:
        sub = c.subscribe("tick")
        import time

        time.sleep(1.0)
        assert c.is_connected and c.reconnects == 0 and not errors
        c.publish("tick", b"still here")
        assert sub.next_msg(timeout=2).data == b"still here"


def test_arguments_utf8_cannot_carry_are_bad_arguments(client):
    """A lone surrogate (in a subject, key, str payload or header) or a
    header value that is not a str is refused with BadArgument before
    anything is sent; the connection stays fine."""
    bad_calls = [
        lambda: client.publish("a\ud800", b"x"),
        lambda: client.publish("a", "\ud800"),
        lambda: client.publish("a", b"x", reply="r\udfff"),
        lambda: client.publish("a", b"x", headers={"X": "v\ud800"}),
        lambda: client.publish("a", b"x", headers={"X": 5}),
        lambda: client.publish("a", b"x", headers={"X": ["ok", 5]}),
        lambda: client.publish("a", b"x", headers={"X": None}),
        lambda: client.publish("a", b"x", headers=[("X", "v", "extra")]),
        lambda: client.publish("a", b"x", headers=[("X", 1.5)]),
        lambda: client.publish("a", b"x", headers=7),
        lambda: client.subscribe("a.\ud800"),
        lambda: client.enqueue("q", b"x", key="k\ud800"),
        lambda: client.enqueue("q", "\udc80"),
        lambda: client.enqueue("q", b"x", group="g\ud800"),
    ]
    for call in bad_calls:
        with pytest.raises(docket.BadArgument):
            call()
    # a subject the parser decoded with surrogateescape (not UTF-8 on the wire) still goes back as it came
    assert P.encode_publish("a\udc80b", b"") == b"PUB a\x80b 0\r\n\r\n"
    client.flush(timeout=2)
    assert client.reconnects == 0 and client.enqueue("q", b"x", key="k\u00e9").id == 1


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "10"])
def test_max_pending_must_be_a_positive_int(client, url, bad):
    with pytest.raises(docket.BadArgument):
        client.subscribe("a", max_pending=bad)
    with pytest.raises(docket.BadArgument):
        client.events("q", max_pending=bad)
    with pytest.raises(docket.BadArgument):
        docket.Client(url, max_pending_msgs=bad)
    assert client._subs == {}  # nothing was subscribed

    async def main():
        async with aio.connect(url) as c:
            with pytest.raises(aio.BadArgument):
                await c.subscribe("a", max_pending=bad)

    asyncio.run(main())


def test_max_pending_one_keeps_one_message(client):
    sub = client.subscribe("one", max_pending=1)
    client.publish("one", b"1")
    client.publish("one", b"2")
    client.flush()
    assert (sub.pending, sub.dropped) == (1, 1)
    assert sub.next_msg(timeout=1).data == b"1"


def test_a_callback_raising_system_exit_does_not_end_delivery(url):
    errors = []
    got = []

    def callback(msg):
        got.append(msg.data)
        if msg.data == b"exit":
            raise SystemExit(3)

    with docket.Client(url, error_callback=errors.append) as c:
        c.subscribe("cb", callback=callback)
        c.publish("cb", b"exit")
        c.publish("cb", b"after")
        assert wait_until(lambda: got == [b"exit", b"after"], 3), got
        assert wait_until(lambda: errors, 3)
        assert isinstance(errors[0], SystemExit) and errors[0].code == 3
