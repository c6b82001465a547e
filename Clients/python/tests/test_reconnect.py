"""Reconnecting after the server restarts on the same port and data dir."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

import docketd_client as docket
import docketd_client.aio as aio
from conftest import lmdb_only, wait_until


# After a kill the held job comes back at the restart on the embedded store, at its lease's end
# on PostgreSQL.
@pytest.mark.parametrize("how", ["sigterm", pytest.param("kill", marks=lmdb_only)])
def test_reconnect_after_restart(start_docketd, how):
    first = start_docketd()
    events = []
    client = docket.Client(first.url, request_timeout=5.0,
                           disconnected_callback=lambda: events.append("down"),
                           reconnected_callback=lambda: events.append("up"))
    blocker = docket.Client(first.url, request_timeout=5.0)
    try:
        sub = client.subscribe("news.>")
        client.subscribe("svc.echo", callback=lambda m: m.respond(m.data))
        first_job = client.enqueue("keyed", "before", key="order-1")
        held = client.enqueue("q", "held", backoff="fixed:0s").id
        job = client.reserve("q", timeout=0)
        assert job.id == held
        client.flush()

        # a RESERVE in flight when the server goes away fails, retryably
        outcome = []

        def wait_for_job():
            try:
                outcome.append(blocker.reserve("empty"))
            except Exception as exc:
                outcome.append(exc)

        t = threading.Thread(target=wait_for_job)
        t.start()
        time.sleep(0.2)
        if how == "kill":
            first.kill()
        else:
            first.stop()
        t.join(5)
        assert len(outcome) == 1 and isinstance(outcome[0], docket.ConnectionLost)
        assert wait_until(lambda: not client.is_connected, 5)

        # published while disconnected: buffered, sent after re-subscribing
        client.publish("news.offline", b"queued while down")

        second = start_docketd(port=first.port, data_dir=first.data_dir)
        assert wait_until(lambda: client.is_connected and blocker.is_connected and "up" in events, 10)
        assert events == ["down", "up"] and client.reconnects == 1

        msg = sub.next_msg(timeout=5)
        assert (msg.subject, msg.data) == ("news.offline", b"queued while down")

        # subscriptions are back, seen from a fresh connection
        other = docket.Client(second.url, request_timeout=5.0)
        try:
            other.publish("news.online", b"after")
            assert sub.next_msg(timeout=5).data == b"after"
            assert other.request("svc.echo", b"ping", timeout=5).data == b"ping"
        finally:
            other.close()

        # the jobs are still there; ENQ with a key is safe to retry
        assert client.enqueue("keyed", "before", key="order-1") == docket.EnqueueResult(first_job.id, True)
        # the job held across the restart is no longer ours: it runs again
        with pytest.raises(docket.NotHeld):
            client.ack(held)
        again = blocker.reserve("q", timeout=3)
        assert (again.id, again.attempt) == (held, 2)
        blocker.ack(again)
        assert client.inspect(first_job.id)["state"] == "waiting"
    finally:
        client.close()
        blocker.close()


def test_requests_wait_for_the_reconnect(start_docketd):
    first = start_docketd()
    client = docket.Client(first.url, request_timeout=10.0)
    try:
        first.stop()
        assert wait_until(lambda: not client.is_connected, 5)
        result = []
        t = threading.Thread(target=lambda: result.append(client.enqueue("q", "sent after reconnect")))
        t.start()
        time.sleep(0.3)
        assert not result  # waiting for a connection, nothing sent yet
        start_docketd(port=first.port, data_dir=first.data_dir)
        t.join(10)
        assert result and result[0].id == 1
    finally:
        client.close()


def test_gives_up_after_max_attempts(start_docketd):
    server = start_docketd()
    client = docket.Client(server.url, max_reconnect_attempts=2, reconnect_wait=0.01, reconnect_max_wait=0.05)
    sub = client.subscribe("x")
    server.stop()
    assert wait_until(lambda: client.is_closed, 5)
    with pytest.raises(docket.ConnectionClosed):
        client.enqueue("q", "x")
    with pytest.raises(docket.SubscriptionClosed):
        sub.next_msg(timeout=1)
    client.close()


def test_connect_error():
    with pytest.raises(docket.ConnectError):
        docket.Client("nats://127.0.0.1:1", connect_timeout=1)


def test_worker_survives_a_restart(start_docketd):
    first = start_docketd()
    done = []
    worker = docket.Worker(first.url, "q", lambda ctx: done.append(ctx.text), concurrency=2, reserve_timeout=0.2)
    worker.start()
    try:
        with docket.Client(first.url) as c:
            for i in range(5):
                c.enqueue("q", f"a{i}")
        assert wait_until(lambda: worker.acked == 5, 10)
        first.stop()
        second = start_docketd(port=first.port, data_dir=first.data_dir)
        with docket.Client(second.url) as c:
            for i in range(5):
                c.enqueue("q", f"b{i}")
            assert wait_until(lambda: worker.acked == 10, 10)
            assert all(c.inspect(i)["state"] == "completed" for i in range(1, 11))
    finally:
        assert worker.stop(grace=5)
    assert sorted(done) == sorted([f"a{i}" for i in range(5)] + [f"b{i}" for i in range(5)])


def test_connection_callbacks_may_use_the_client(start_docketd):
    """disconnected_callback and reconnected_callback run on the client's
    callback thread, not the reader: they may wait for the client (here
    with request_timeout=None, where waiting on the reader would wedge it
    for good)."""
    first = start_docketd()
    seen = []
    threads = set()
    client = None

    def on_disconnect():
        threads.add(threading.current_thread().name)
        client.flush()  # waits for the new connection, then for its PONG
        seen.append("down: flushed")

    def on_reconnect():
        threads.add(threading.current_thread().name)
        seen.append(("up: enqueued", client.enqueue("audit", b"reconnected").id))

    client = docket.Client(first.url, request_timeout=None, reconnect_wait=0.01,
                           disconnected_callback=on_disconnect, reconnected_callback=on_reconnect)
    try:
        sub = client.subscribe("news")
        first.stop()
        start_docketd(port=first.port, data_dir=first.data_dir)
        result = []
        probe = threading.Thread(target=lambda: result.append(client.enqueue("q", b"x")), daemon=True)
        probe.start()
        probe.join(5)
        assert result and result[0].id >= 1, "the client is wedged"
        assert wait_until(lambda: len(seen) == 2, 5), seen
        assert seen[0] == "down: flushed" and seen[1][0] == "up: enqueued"
        assert threads == {"docket-callbacks"}
        client.publish("news", b"still subscribed")
        assert sub.next_msg(timeout=3).data == b"still subscribed"
    finally:
        client.close()


def test_error_callback_runs_off_the_reader_and_may_block(url):
    errors = []
    release = threading.Event()

    def on_error(exc):
        errors.append((threading.current_thread().name, exc))
        release.wait(5)  # blocking here must hold up nothing but other callbacks

    with docket.Client(url, request_timeout=5.0, error_callback=on_error) as c:
        c._send(b"SUB foo..bar 99\r\n")  # -ERR 'Invalid Subject', which answers no command
        assert wait_until(lambda: errors, 3)
        assert c.enqueue("q", b"x", timeout=2).id == 1  # the reader is not held up
        release.set()
    assert [(name, e.text) for name, e in errors] == [("docket-callbacks", "Invalid Subject")]


def test_by_default_reconnects_for_as_long_as_it_takes(start_docketd):
    """The three clients agree (Swift's ``reconnectTimeout`` is nil, Node's
    ``maxReconnectAttempts`` Infinity): by default a client outlasts a docketd
    restart or upgrade however long it takes."""
    server = start_docketd()
    client = docket.Client(server.url)
    try:
        assert client.max_reconnect_attempts is None
    finally:
        client.close()


# Each was taken as given: a string reconnect_wait, reconnect_max_wait or max_reconnect_attempts
# closed the client at its first reconnect (a TypeError on the reader thread), a bad timeout
# failed every command (or leaked ValueError/TypeError from the socket), max_buffered_output=0
# made every publish wait request_timeout and time out.
@pytest.mark.parametrize("options", [
    {"request_timeout": -1}, {"request_timeout": "5"}, {"request_timeout": float("nan")},
    {"request_timeout": float("inf")}, {"request_timeout": True},
    {"connect_timeout": 0}, {"connect_timeout": -1}, {"connect_timeout": "2"}, {"connect_timeout": None},
    {"reconnect_wait": -1}, {"reconnect_wait": "0.1"}, {"reconnect_max_wait": "2"},
    {"max_reconnect_attempts": -1}, {"max_reconnect_attempts": "3"}, {"max_reconnect_attempts": 1.5},
    {"reconnect_buffer_size": -1}, {"max_buffered_output": 0}, {"max_control_line": "4096"},
    {"echo": "no"}, {"name": 5},
])
def test_options_are_checked_when_the_client_is_made(url, options):
    with pytest.raises(docket.BadArgument, match=next(iter(options))):
        docket.Client(url, **options)

    async def main():
        with pytest.raises(docket.BadArgument, match=next(iter(options))):
            await aio.connect(url, **options)

    asyncio.run(main())


def test_the_edges_of_the_options_are_taken(url):
    with docket.Client(url, request_timeout=0, max_reconnect_attempts=0, reconnect_wait=0, reconnect_max_wait=0,
                       reconnect_buffer_size=0, connect_timeout=0.5) as client:
        with pytest.raises(docket.Timeout):
            client.stats()  # a request_timeout of 0 does not wait
        client.flush(timeout=5)
