"""Every command is bounded in time, also when the server is frozen
(SIGSTOP) or gone (issue #20), and a timed-out ENQ retried with the same
key= is answered ``duplicate`` instead of adding a second job."""

from __future__ import annotations

import os
import signal
import time

import pytest

import docketd_client as docket
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
