"""Every command is bounded in time, also when the server is frozen
(SIGSTOP) or gone (issue #20), and a timed-out ENQ retried with the same
key= is answered ``duplicate`` instead of adding a second job."""

from __future__ import annotations

import asyncio
import os
import signal
import time

import pytest

import docketd_client as docket
import docketd_client.aio as aio
from conftest import STORE, wait_until


def timed(call):
    t0 = time.monotonic()
    try:
        call()
    except docket.Error as exc:
        return exc, time.monotonic() - t0
    return None, time.monotonic() - t0


def test_commands_time_out_while_the_server_is_stopped(server):
    client = docket.Client(server.url, request_timeout=1.0)
    os.kill(server.proc.pid, signal.SIGSTOP)
    try:
        error, took = timed(lambda: client.enqueue("frozen", "x", key="order-1"))
        assert isinstance(error, docket.Timeout) and 0.9 <= took < 3, (error, took)
        error, took = timed(lambda: client.reserve("frozen", timeout=0.5))  # its timeout + request_timeout
        assert isinstance(error, docket.Timeout) and 1.4 <= took < 4, (error, took)
        error, took = timed(lambda: client.flush())
        assert isinstance(error, docket.Timeout) and 0.9 <= took < 3, (error, took)
    finally:
        os.kill(server.proc.pid, signal.SIGCONT)
    try:
        # the timed-out ENQ did happen: retrying with the same key is safe
        again = client.enqueue("frozen", "x", key="order-1")
        assert again.duplicate is True
        doc = client.inspect(again.id)
        # (the frozen RESERVE may have taken it meanwhile: the client hands it back)
        assert doc["key"] == "order-1" and doc["state"] != "completed"
        # and the late replies were matched to their commands, not to later ones
        job = client.reserve("frozen", timeout=0)
        assert job is None or job.id == again.id
        client.flush()
        # exactly one job was added (PostgreSQL's ids come from a sequence a duplicate's try may advance)
        added = client.enqueue("frozen", "y").id
        assert added == again.id + 1 or (STORE == "postgres" and added > again.id)
        assert [j.id for j in client.list_all("frozen")] in ([again.id, added], [added])
    finally:
        client.close()


def test_commands_time_out_while_the_server_is_down(start_docketd):
    first = start_docketd()
    client = docket.Client(first.url, request_timeout=1.0, reconnect_max_wait=0.2)
    try:
        first.stop()
        assert wait_until(lambda: not client.is_connected, 5)
        error, took = timed(lambda: client.enqueue("down", "x", key="order-2"))
        # not connected: nothing was sent, and the caller hears so in time
        assert isinstance(error, docket.ConnectionLost) and 0.9 <= took < 3, (error, took)
        error, took = timed(lambda: client.reserve("down", timeout=0))
        assert isinstance(error, docket.ConnectionLost) and 0.9 <= took < 3, (error, took)
        start_docketd(port=first.port, data_dir=first.data_dir)
        assert wait_until(lambda: client.is_connected, 5)
        result = client.enqueue("down", "x", key="order-2")
        assert result.duplicate is False
        assert client.enqueue("down", "x", key="order-2") == docket.EnqueueResult(result.id, True)
    finally:
        client.close()


def test_connecting_to_a_stopped_server_times_out(server):
    os.kill(server.proc.pid, signal.SIGSTOP)
    try:
        t0 = time.monotonic()
        with pytest.raises(docket.ConnectError):
            docket.Client(server.url, connect_timeout=0.5)
        assert time.monotonic() - t0 < 2
    finally:
        os.kill(server.proc.pid, signal.SIGCONT)


# --------------------------------------------------------------------------
# The asyncio client, against a server that has stopped reading


def run(coro, timeout: float = 30.0):
    async def bounded():
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(bounded())


async def fill_output(client) -> None:
    """Publishes until the output buffer stays full: the publish that finds
    it so raises Timeout within request_timeout (never more than 30 MB)."""
    for _ in range(60):
        await asyncio.wait_for(client.publish("noise", b"z" * 500_000), 5)
    raise AssertionError("the output buffer never filled")


def test_aio_calls_time_out_while_the_server_does_not_read(server):
    async def main():
        client = await aio.connect(server.url, request_timeout=1.0, max_buffered_output=64 * 1024)
        os.kill(server.proc.pid, signal.SIGSTOP)
        try:
            t0 = time.monotonic()
            with pytest.raises(docket.Timeout, match="output buffer stayed full"):
                await fill_output(client)
            # every call is bounded while the buffer stays full: a command by
            # its own timeout, the others by request_timeout
            for call in (lambda: client.enqueue("q", b"x", timeout=1), lambda: client.publish("noise", b"z"),
                         lambda: client.subscribe("s"), lambda: client.flush(timeout=1)):
                t0 = time.monotonic()
                with pytest.raises(docket.Timeout):
                    await asyncio.wait_for(call(), 5)
                assert time.monotonic() - t0 < 2.5
        finally:
            os.kill(server.proc.pid, signal.SIGCONT)
        await client.flush(timeout=10)  # the buffered output went out once the server read again
        assert (await client.enqueue("q", b"y")).id >= 1
        await client.close()

    run(main())


def test_aio_a_reserve_cancelled_while_the_buffer_is_full_hands_its_job_back(server, client):
    job_id = client.enqueue("cr", b"job").id

    async def main():
        c = await aio.connect(server.url, request_timeout=10.0, max_buffered_output=64 * 1024)
        os.kill(server.proc.pid, signal.SIGSTOP)
        try:
            noise = [asyncio.ensure_future(c.publish("noise", b"z" * 500_000)) for _ in range(20)]
            # the RESERVE is written, and its caller gives up while the buffer is full
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(c.reserve("cr", timeout=0), 1)
        finally:
            os.kill(server.proc.pid, signal.SIGCONT)
        await asyncio.gather(*noise)
        await c.flush(timeout=10)  # the JOB came in, behind the publishes
        await c.flush(timeout=10)  # and what the client answered to it was read
        # handed back (FAIL retry=0) at once, not held by a caller that gave up
        doc = client.inspect(job_id)
        assert doc.state == "waiting", doc
        await c.close()

    run(main())


def test_a_reserve_that_timed_out_frees_its_connection_and_uses_no_attempt(client, make_client):
    # The caller's wait ended before the server's: the client sends CANCEL,
    # so the connection answers its next command at once (before CANCEL the
    # server read nothing more until a job came) and the job enqueued next
    # reaches another worker on its first attempt.
    from docketd_client import protocol as P

    slow = make_client(request_timeout=2.0)
    with pytest.raises(docket.Timeout):
        slow._request("reserve", P.encode_reserve("sync-late"), 0.2, holds=True)
    slow.flush()
    job_id = client.enqueue("sync-late", b"x").id
    job = make_client().reserve("sync-late", timeout=3)
    assert job is not None and (job.id, job.attempt) == (job_id, 1)


def test_a_wait_that_timed_out_frees_its_connection(client, make_client):
    # As a RESERVE: the client sends CANCEL behind the WAIT its caller gave
    # up, so the connection answers its next command at once (before, the
    # server read nothing more from it until the job finished).
    from docketd_client import protocol as P

    job_id = client.enqueue("sync-wait", b"x").id
    slow = make_client(request_timeout=2.0)
    with pytest.raises(docket.Timeout):
        slow._request("wait", P.encode_wait(job_id), 0.2, holds=True)
    slow.flush()
    assert slow.inspect(job_id).state == "waiting"


def test_aio_close_is_bounded_by_its_timeout_while_the_server_does_not_read(server):
    async def main():
        client = await aio.connect(server.url, request_timeout=0.5, max_buffered_output=64 * 1024)
        await client.subscribe("s", callback=lambda msg: None)
        os.kill(server.proc.pid, signal.SIGSTOP)
        try:
            with pytest.raises(docket.Timeout):
                await fill_output(client)
            t0 = time.monotonic()
            await client.close(timeout=1.0)
            assert client.is_closed and time.monotonic() - t0 < 1.4
        finally:
            os.kill(server.proc.pid, signal.SIGCONT)

    run(main())


# A timeout the client cannot wait for was taken as given: -1 or NaN timed the call out at
# once (a flush "within nans"), infinity raised OverflowError, a string TypeError (request()
# after publishing its message), a callback that is no function failed on every message.
BAD_TIMEOUTS = [-1, float("nan"), float("inf"), "5", True]


@pytest.mark.parametrize("bad", BAD_TIMEOUTS)
def test_a_timeout_that_is_no_number_of_seconds_is_refused_before_anything_is_sent(client, make_client, bad):
    listener = make_client()
    heard = listener.subscribe("svc.bad")
    listener.flush()
    sub = client.subscribe("news")
    for call in (lambda: client.flush(bad), lambda: client.request("svc.bad", b"x", timeout=bad),
                 lambda: client.enqueue("q", b"x", timeout=bad), lambda: client.subscribe("t", timeout=bad),
                 lambda: client.events("q", timeout=bad), lambda: sub.next_msg(bad), lambda: client.close(bad)):
        with pytest.raises(docket.BadArgument, match="timeout must be"):
            call()
    client.flush()
    with pytest.raises(docket.Timeout):
        heard.next_msg(0.2)  # request() published nothing
    assert client.list("q").jobs == []  # enqueue() sent nothing

    async def main():
        async with aio.connect(client.url) as aclient:
            asub = await aclient.subscribe("news")
            for call in (lambda: aclient.flush(bad), lambda: aclient.request("svc.bad", b"x", timeout=bad),
                         lambda: aclient.subscribe("t", timeout=bad), lambda: asub.next_msg(bad),
                         lambda: aclient.close(bad)):
                with pytest.raises(docket.BadArgument, match="timeout must be"):
                    await call()
            await aclient.flush()

    asyncio.run(main())


def test_a_callback_that_is_no_function_is_refused(client):
    for call in (lambda: client.subscribe("t", callback=5), lambda: client.events("q", callback="print")):
        with pytest.raises(docket.BadArgument, match="callback must be a function"):
            call()
    client.flush()


class _Interrupted(BaseException):
    """What the test's signal handler raises, as SIGINT raises KeyboardInterrupt."""


def test_a_reserve_interrupted_by_a_signal_ends_its_wait_and_keeps_the_connection(client, make_client):
    # A RESERVE without a timeout whose caller is interrupted (Ctrl-C in a shell, a signal
    # handler that raises) is given up as after a timeout: CANCEL ends the server's wait, so the
    # same connection answers its next command at once (before, the server read nothing more
    # from it until a job came, and the job that came was held for nobody).
    slow = make_client(request_timeout=3.0)

    def interrupt(signum, frame):
        raise _Interrupted()

    before = signal.signal(signal.SIGALRM, interrupt)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.3)
        with pytest.raises(_Interrupted):
            slow.reserve("interrupted")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, before)
    job_id = slow.enqueue("interrupted", b"x").id
    job = client.reserve("interrupted", timeout=3)
    assert job is not None and (job.id, job.attempt) == (job_id, 1)


def test_a_command_interrupted_before_its_bytes_are_queued_leaves_replies_in_step(make_client):
    # A signal handler may raise between the command's place in the FIFO and its bytes: the
    # place is taken back, so the next command gets its own reply (before, the ENQ's +OK went
    # to the INSPECT that was never sent, and the connection was dropped as out of step).
    client = make_client()
    write = client._write

    def interrupted(data: bytes) -> None:
        if data.startswith(b"INSPECT "):
            raise _Interrupted()
        write(data)

    client._write = interrupted
    with pytest.raises(_Interrupted):
        client.inspect(1)
    del client._write
    job_id = client.enqueue("in-step", b"x").id
    assert client.inspect(job_id).state == "waiting"
    assert client.stats() is not None
