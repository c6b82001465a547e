"""docket.Worker against a real docketd."""

from __future__ import annotations

import collections
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

import docketd_client as docket
from conftest import wait_until


def test_concurrency_each_job_once(client, url):
    ids = [client.enqueue("tasks", str(i)).id for i in range(40)]
    calls = collections.Counter()
    lock = threading.Lock()
    active = [0, 0]  # now, max

    def handler(ctx):
        with lock:
            calls[ctx.id] += 1
            active[0] += 1
            active[1] = max(active[1], active[0])
        time.sleep(0.03)
        with lock:
            active[0] -= 1
        return f"done {ctx.text}"

    worker = docket.Worker(url, "tasks", handler, concurrency=4, reserve_timeout=0.2).start()
    try:
        assert wait_until(lambda: worker.acked == 40)
    finally:
        assert worker.stop(grace=5)
    assert sorted(calls) == sorted(ids) and set(calls.values()) == {1}
    assert active[1] > 1  # really concurrent
    for jid in ids:
        doc = client.inspect(jid)
        assert doc["state"] == "completed" and doc["attempts"] == 1
    assert client.inspect(ids[7])["result"] == "done 7"


def test_heartbeat_keeps_a_long_job(client, url):
    jid = client.enqueue("slow", "x", lease="500ms").id
    calls = []

    def handler(ctx):
        calls.append(ctx.attempt)
        time.sleep(1.5)  # three leases long
        return b"ok"

    worker = docket.Worker(url, "slow", handler, concurrency=2, heartbeat=0.15, reserve_timeout=0.2).start()
    try:
        assert wait_until(lambda: worker.acked == 1, timeout=5)
        time.sleep(0.3)  # the idle second thread would take a re-delivery now
    finally:
        worker.stop(grace=5)
    assert calls == [1]
    doc = client.inspect(jid)
    assert (doc["state"], doc["attempts"], doc["result"]) == ("completed", 1, "ok")


def test_without_heartbeat_the_lease_runs_out(client, url):
    # the control for the test above: the same job is re-delivered
    jid = client.enqueue("slow2", "x", lease="500ms", backoff="fixed:0s").id
    calls = []

    def handler(ctx):
        calls.append(ctx.attempt)
        time.sleep(1.2 if ctx.attempt == 1 else 0)

    worker = docket.Worker(url, "slow2", handler, concurrency=2, heartbeat=None, reserve_timeout=0.2).start()
    try:
        assert wait_until(lambda: len(calls) >= 2 and worker.acked >= 1, timeout=5)
        time.sleep(1.0)  # let the first handler finish: its ACK is refused
    finally:
        worker.stop(grace=5)
    assert calls == [1, 2]
    assert client.inspect(jid)["attempts"] == 2


def test_failures_map_to_fail(client, url):
    plain = client.enqueue("f", "plain", attempts=2, backoff="fixed:100ms").id
    fatal = client.enqueue("f", "fatal", attempts=5).id
    later = client.enqueue("f", "later", attempts=2, backoff="fixed:1h").id
    seen = collections.Counter()

    def handler(ctx):
        seen[ctx.text] += 1
        ctx.progress(10, "starting")
        if ctx.text == "plain":
            raise ValueError("bad value")
        if ctx.text == "fatal":
            raise docket.NonRetryable("cannot ever work")
        if ctx.attempt == 1:
            raise docket.RetryAfter(0.1)
        return {"attempt": ctx.attempt}

    worker = docket.Worker(url, "f", handler, concurrency=2, reserve_timeout=0.2).start()
    try:
        assert wait_until(lambda: client.inspect(later)["state"] == "completed")
        assert wait_until(lambda: client.inspect(plain)["state"] == "dead")
    finally:
        worker.stop(grace=5)
    assert seen == {"plain": 2, "fatal": 1, "later": 2}
    assert client.inspect(plain)["last_error"] == "ValueError: bad value"
    doc = client.inspect(fatal)
    assert (doc["state"], doc["attempts"], doc["last_error"]) == ("dead", 1, "cannot ever work")
    doc = client.inspect(later)
    assert doc["result"] == '{"attempt": 2}' and doc["progress_note"] == "starting"


def test_graceful_stop_finishes_running_jobs(client, url):
    ids = [client.enqueue("g", str(i)).id for i in range(10)]
    started = threading.Event()
    count = [0]
    lock = threading.Lock()

    def handler(ctx):
        with lock:
            count[0] += 1
            if count[0] == 2:
                started.set()
        time.sleep(0.5)

    worker = docket.Worker(url, "g", handler, concurrency=2, reserve_timeout=0.2).start()
    assert started.wait(5)
    t0 = time.monotonic()
    assert worker.stop(grace=5).clean is True  # both handlers finished in time
    assert time.monotonic() - t0 < 3
    states = collections.Counter(client.inspect(i)["state"] for i in ids)
    assert states["completed"] == worker.acked == count[0] >= 2
    assert states["waiting"] == 10 - count[0]  # nothing else was taken
    assert states["active"] == 0


def test_grace_period_expiry_hands_jobs_back(client, url, make_client):
    jid = client.enqueue("stuck", "x", attempts=3).id
    running = threading.Event()
    release = threading.Event()

    def handler(ctx):
        running.set()
        release.wait(10)  # ignores the stop
        return "too late"

    worker = docket.Worker(url, "stuck", handler, concurrency=1, reserve_timeout=0.2).start()
    try:
        assert running.wait(5)
        t0 = time.monotonic()
        assert worker.stop(grace=0.3).clean is False
        assert time.monotonic() - t0 < 3
        assert worker.abandoned == 1
        other = make_client()
        job = other.reserve("stuck", timeout=2)  # handed back with retry=0
        assert job is not None and (job.id, job.attempt) == (jid, 2)
        other.ack(job, "second worker")
    finally:
        release.set()
    time.sleep(0.1)
    doc = client.inspect(jid)
    assert (doc["state"], doc["result"]) == ("completed", "second worker")


def test_run_handles_sigterm(client, url, tmp_path):
    ids = [client.enqueue("sig", str(i)).id for i in range(6)]
    marker = tmp_path / "started"
    script = textwrap.dedent(
        f"""
        import sys, time
        sys.path.insert(0, {str(Path(docket.__file__).parent.parent)!r})
        import docketd_client as docket

        def handler(ctx):
            open({str(marker)!r}, "a").write("x")
            time.sleep(0.6)
            return "finished"

        worker = docket.Worker({url!r}, "sig", handler, concurrency=2, reserve_timeout=0.2, grace=5)
        clean = worker.run()
        print("clean" if clean else "unclean", worker.acked, flush=True)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert wait_until(lambda: marker.exists() and len(marker.read_text()) >= 2, timeout=10)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err.decode()
    status, acked = out.decode().split()
    assert status == "clean"
    states = collections.Counter(client.inspect(i)["state"] for i in ids)
    assert states["completed"] == int(acked) >= 2
    assert states["active"] == 0 and states["completed"] + states["waiting"] == 6


def test_bad_queue_is_fatal(url):
    with pytest.raises(docket.BadArgument):
        docket.Worker(url, "not valid", lambda ctx: None)
