"""A client is used only where it lives: the threaded client in the
process that made it (not in a child forked from it), the asyncio client in
the event loop it connected in. Elsewhere its calls fail at once with
ConnectionClosed, saying why, instead of waiting for a reply that only the
client's own threads or tasks could read (for ever with
``request_timeout=None``); and a forked child's ``close()`` leaves the
parent's connection alone."""

from __future__ import annotations

import asyncio
import os
import signal

import pytest

import docketd_client as docket
import docketd_client.aio as aio

#: A child that has not reported within this many seconds hung (the watchdog ends it).
CHILD_LIMIT = 5


def _in_child(work) -> str:
    """Runs ``work()`` in a forked child, which reports what it returned,
    or what it raised, through a pipe; a child that hangs is killed after
    CHILD_LIMIT seconds and reports nothing."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        status = 0
        try:
            os.close(read_end)
            signal.alarm(CHILD_LIMIT)
            try:
                report = f"returned {work()!r}"
            except BaseException as exc:  # noqa: B902 - reported to the parent
                report = f"{type(exc).__name__}: {exc}"
            os.write(write_end, report.encode("utf-8", "replace"))
        except BaseException:  # noqa: B902
            status = 1
        finally:
            os._exit(status)
    os.close(write_end)
    chunks = []
    while True:
        chunk = os.read(read_end, 65536)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(read_end)
    os.waitpid(pid, 0)
    return b"".join(chunks).decode()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_a_forked_child_gets_connection_closed_at_once(make_client):
    client = make_client(request_timeout=None)
    client.enqueue("forked", b"parent")

    # A child that waited (it did, for ever) is killed after CHILD_LIMIT and reports nothing.
    report = _in_child(lambda: client.enqueue("forked", b"child"))
    assert report.startswith("ConnectionClosed: this client was made in process"), report
    assert "make a new Client in the child" in report
    sub = client.subscribe("news")
    for publish in (lambda: client.publish("x", b"y"), lambda: client.subscribe("x"), lambda: client.flush(),
                    lambda: sub.next_msg(), lambda: sub.unsubscribe()):
        assert _in_child(publish).startswith("ConnectionClosed: this client was made in process")
    # Nothing the child tried reached the server.
    assert [job.id for job in client.list("forked").jobs] == [1]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_a_forked_childs_close_leaves_the_parents_connection(make_client):
    lost = []
    client = make_client(disconnected_callback=lambda: lost.append(1))
    assert _in_child(client.close) == "returned None"
    # The parent's connection was not shut down under it.
    assert client.enqueue("forked", b"after").id == 1
    assert client.reconnects == 0 and lost == []


def test_an_asyncio_client_used_from_another_loop_fails_at_once(url):
    async def connect():
        made = await aio.connect(url, request_timeout=None)
        return made, await made.subscribe("news")

    client, sub = asyncio.run(connect())

    async def use(call):
        # (Had it waited, wait_for would raise TimeoutError instead.)
        with pytest.raises(docket.ConnectionClosed, match="works only in the event loop it connected in, and that loop is closed"):
            await asyncio.wait_for(call(), 5)

    for call in (lambda: client.stats(), lambda: client.publish("x", b"y"), lambda: client.subscribe("x"),
                 lambda: client.request("x", b"y", timeout=1), lambda: sub.next_msg()):
        asyncio.run(use(call))
    # Its own loop is gone: close() from here marks it closed.
    asyncio.run(client.close())
    assert client.is_closed


def test_an_asyncio_client_refuses_a_loop_running_beside_its_own(url):
    async def main():
        client = await aio.connect(url, request_timeout=None)
        try:
            other = await asyncio.to_thread(asyncio.run, _outcome(client.enqueue("q", b"x")))
            assert other.startswith("ConnectionClosed: an asyncio client works only in the event loop it connected in, "
                                    "and that loop is another one"), other
            other = await asyncio.to_thread(asyncio.run, _outcome(client.close()))
            assert other.startswith("ConnectionClosed: "), other
            assert (await client.enqueue("q", b"x")).id == 1  # still fine where it lives
        finally:
            await client.close()

    asyncio.run(main())


async def _outcome(coro) -> str:
    try:
        return f"returned {await asyncio.wait_for(coro, 5)!r}"
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
