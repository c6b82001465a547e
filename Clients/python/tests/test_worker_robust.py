"""The worker survives its handlers (issue #20): every outcome ends in ACK or
FAIL, slots keep going, heartbeats follow each job's lease, the attempt held
is sent with every job command, and each run is logged."""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import logging
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


def _alive(worker):
    return [t.is_alive() for t in worker._threads]


class Boom(BaseException):
    """Not an Exception: what used to kill a worker thread."""


class BadStr(Exception):
    def __str__(self):
        raise RuntimeError("__str__ raises")

    def __repr__(self):
        raise RuntimeError("__repr__ raises")


class _Meta(type):
    @property
    def __name__(cls):  # type: ignore[override]
        raise RuntimeError("no name either")


class Nameless(Exception, metaclass=_Meta):
    def __str__(self):
        raise RuntimeError("__str__ raises")


# --------------------------------------------------------------------------
# 1. A worker slot never dies silently


def test_any_exception_fails_the_job_and_the_slot_goes_on(client, url):
    kinds = ["badstr", "boom", "nameless", "cancelled", "generator_exit", "bad_retry", "ok1", "ok2"]
    ids = {k: client.enqueue("crash", k, attempts=1).id for k in kinds}
    seen = []

    def handler(ctx):
        seen.append(ctx.text)
        if ctx.text == "badstr":
            raise BadStr()
        if ctx.text == "boom":
            raise Boom("boom")
        if ctx.text == "nameless":
            raise Nameless()
        if ctx.text == "cancelled":
            raise asyncio.CancelledError()
        if ctx.text == "generator_exit":
            raise GeneratorExit()
        if ctx.text == "bad_retry":
            raise docket.RetryAfter("soon")  # not a duration: refused where it is made
        return "fine"

    worker = docket.Worker(url, "crash", handler, concurrency=1, reserve_timeout=0.2).start()
    try:
        assert wait_until(lambda: worker.acked == 2, timeout=10), seen
        assert _alive(worker) == [True]  # the one slot survived all of it
    finally:
        result = worker.stop(grace=5)
    assert seen == kinds
    errors = {k: client.inspect(i) for k, i in ids.items()}
    assert {k: d["state"] for k, d in errors.items()} == {
        **{k: "dead" for k in kinds[:6]}, "ok1": "completed", "ok2": "completed"}
    assert errors["badstr"]["last_error"] == "BadStr"
    assert errors["boom"]["last_error"] == "Boom: boom"
    assert errors["nameless"]["last_error"] == "handler failed with an exception that cannot be printed"
    assert errors["cancelled"]["last_error"] == "CancelledError"
    assert errors["generator_exit"]["last_error"] == "GeneratorExit"
    assert errors["bad_retry"]["last_error"] == (
        "BadArgument: RetryAfter delay 'soon' is not a duration like 250ms, 30s, 5m, 2h, 1d")
    assert (result.acked, result.failed, result.crashed, result.errors, result.slots_lost) == (2, 6, 3, 0, 0)
    assert result.clean is False and not result and result.reason == "stop"


@pytest.mark.parametrize("exc", [SystemExit, KeyboardInterrupt])
def test_system_exit_fails_the_job_and_stops_the_worker(client, url, exc):
    ids = [client.enqueue("exit", text, backoff="fixed:1h").id for text in ("first", "exit", "after1", "after2")]
    seen = []

    def handler(ctx):
        seen.append(ctx.text)
        if ctx.text == "exit":
            raise exc(3) if exc is SystemExit else exc()
        return "ok"

    worker = docket.Worker(url, "exit", handler, concurrency=1, reserve_timeout=0.2, grace=5)
    safety = threading.Timer(15, lambda: worker.stop(wait=False))
    safety.start()
    try:
        t0 = time.monotonic()
        result = worker.run(install_signal_handlers=False)
        assert time.monotonic() - t0 < 10
    finally:
        safety.cancel()
    assert seen == ["first", "exit"]
    assert result.reason == "handler_exit" and result.clean is False
    assert (result.acked, result.failed, result.crashed, result.errors, result.slots_lost) == (1, 1, 1, 0, 0)
    doc = client.inspect(ids[1])
    assert (doc["state"], doc["attempts"]) == ("delayed", 1)  # FAILed, retried after its backoff
    assert doc["last_error"] == ("SystemExit: 3" if exc is SystemExit else "KeyboardInterrupt")
    assert [client.inspect(i)["state"] for i in ids[2:]] == ["waiting", "waiting"]


def test_a_failing_client_factory_does_not_kill_the_slot(client, url):
    ids = [client.enqueue("factory", str(i)).id for i in range(3)]
    calls = [0]

    def factory():
        calls[0] += 1
        if calls[0] <= 2:
            raise RuntimeError("not yet")  # not a docket.Error: unexpected
        return docket.Client(url, request_timeout=5)

    worker = docket.Worker(factory, "factory", lambda ctx: "ok", concurrency=1, reserve_timeout=0.2).start()
    try:
        assert wait_until(lambda: worker.acked == 3, timeout=10)
    finally:
        result = worker.stop(grace=5)
    assert (result.errors, result.slots_lost, result.clean) == (2, 0, False)
    assert all(client.inspect(i)["state"] == "completed" for i in ids)


def test_sigterm_after_a_handler_crash_reports_unclean(client, url, tmp_path):
    ids = [client.enqueue("sigcrash", text).id for text in ("crash", "a", "b", "c")]
    marker = tmp_path / "ran"
    script = textwrap.dedent(
        f"""
        import sys, time
        sys.path.insert(0, {str(Path(docket.__file__).parent.parent)!r})
        import docketd_client as docket

        class Boom(BaseException):
            pass

        def handler(ctx):
            open({str(marker)!r}, "a").write(ctx.text + "\\n")
            if ctx.text == "crash":
                raise Boom("boom")
            return "ok"

        worker = docket.Worker({url!r}, "sigcrash", handler, concurrency=1, reserve_timeout=0.2, grace=5)
        result = worker.run()
        print("clean" if result else "unclean", result.reason, result.acked, result.failed, result.crashed,
              result.slots_lost, flush=True)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert wait_until(lambda: marker.exists() and len(marker.read_text().split()) == 4, timeout=10)
        assert wait_until(lambda: client.inspect(ids[-1])["state"] == "completed", timeout=5)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err.decode()
    assert out.decode().split() == ["unclean", "signal", "3", "1", "1", "0"], err.decode()


def test_a_handler_may_stop_its_own_worker(client, url):
    """stop() from a handler returns at once (it cannot wait for itself);
    the handler's job is ACKed, not handed back, and the shutdown ends the
    worker in the background."""
    job_id = client.enqueue("once", b"x").id
    client.enqueue("once", b"not run")  # the worker stops before reserving this one
    seen = {}
    worker = None

    def handler(ctx):
        started = time.monotonic()
        try:
            seen["stop"] = worker.stop()
        except BaseException as exc:  # noqa: B902 - what used to happen: RuntimeError
            seen["stop"] = exc
        seen["took"] = time.monotonic() - started
        return "done"

    worker = docket.Worker(url, "once", handler, grace=3, reserve_timeout=0.2).start()
    assert wait_until(lambda: "took" in seen, 5)
    assert isinstance(seen["stop"], docket.WorkerResult), seen["stop"]
    assert seen["took"] < 0.5  # not the grace period
    assert wait_until(lambda: not any(_alive(worker)), 5)
    info = client.inspect(job_id)
    assert (info.state, info.attempts, info.result) == ("completed", 1, "done")
    result = worker.stop()  # from here: the final result
    assert result.clean and (result.reason, result.acked, result.abandoned) == ("stop", 1, 0)
    assert client.queue("once").jobs.waiting == 1


# --------------------------------------------------------------------------
# 2. Heartbeats follow the job's lease


def test_default_heartbeat_follows_the_lease(client, url):
    jid = client.enqueue("lease1", "x", lease="1s", backoff="fixed:0s").id
    calls = []

    def handler(ctx):
        calls.append((ctx.attempt, ctx.lease_ms))
        time.sleep(3.0)  # three leases of 1 s: only the heartbeats keep it
        return "ok"

    # the second slot would take the job again if its lease ran out
    worker = docket.Worker(url, "lease1", handler, concurrency=2, reserve_timeout=0.2).start()
    try:
        assert wait_until(lambda: worker.acked == 1, timeout=8)
    finally:
        result = worker.stop(grace=5)
    assert calls == [(1, 1000)]
    assert (result.lost, result.clean) == (0, True)
    doc = client.inspect(jid)
    assert (doc["state"], doc["attempts"], doc["result"]) == ("completed", 1, "ok")


def test_heartbeat_learns_the_lease_with_inspect_when_job_lacks_it(client, url):
    jid = client.enqueue("lease2", "x", lease="600ms", backoff="fixed:0s").id
    inspected = []
    calls = []

    class OldJobLines(docket.Client):
        """A server that does not name the lease in JOB."""

        def reserve(self, *args, **kwargs):
            job = super().reserve(*args, **kwargs)
            return None if job is None else dataclasses.replace(job, lease_ms=None)

        def inspect(self, job_id):
            inspected.append(job_id)
            return super().inspect(job_id)

    def handler(ctx):
        calls.append(ctx.attempt)
        time.sleep(1.5)  # two and a half leases
        return ctx.lease_ms  # learned by the heartbeat

    worker = docket.Worker(lambda: OldJobLines(url, request_timeout=5), "lease2", handler,
                           concurrency=2, reserve_timeout=0.2).start()
    try:
        assert wait_until(lambda: worker.acked == 1, timeout=8)
    finally:
        worker.stop(grace=5)
    assert calls == [1] and inspected == [jid]  # one round trip
    doc = client.inspect(jid)
    assert (doc["state"], doc["attempts"], doc["result"]) == ("completed", 1, "600")


# --------------------------------------------------------------------------
# 3. The worker sends the attempt it holds; the context names the delivery


def _require_fencing(client):
    client.enqueue("fence-probe", "x")
    job = client.reserve("fence-probe", timeout=0)
    try:
        client.touch(job.id, attempt=job.attempt)
    except docket.BadOption:
        pytest.skip("this docketd does not support attempt= on job commands yet")
    finally:
        client.ack(job.id)
    if job.delivery is None or job.lease_ms is None:
        pytest.skip("this docketd does not send lease= and delivery= in JOB yet")


def test_worker_sends_the_attempt_it_holds(client, url):
    _require_fencing(client)
    ok = client.enqueue("fenced", "ok", lease="600ms").id
    bad = client.enqueue("fenced", "bad", attempts=2, backoff="fixed:0s").id
    sent = []
    runs = []

    class Recording(docket.Client):
        def _request(self, kind, data, *args, **kwargs):
            if kind in ("ack", "fail", "progress", "touch"):
                sent.append(data.split(b"\r\n", 1)[0].decode())
            return super()._request(kind, data, *args, **kwargs)

    def handler(ctx):
        runs.append((ctx.id, ctx.attempt, ctx.delivery, ctx.lease_ms))
        ctx.progress(50, "half")
        ctx.touch()
        if ctx.text == "bad":
            raise ValueError("no")
        time.sleep(0.5)  # a heartbeat or two (every 200ms)
        return "done"

    worker = docket.Worker(lambda: Recording(url, request_timeout=5), "fenced", handler,
                           concurrency=1, reserve_timeout=0.2).start()
    try:
        assert wait_until(lambda: worker.acked == 1 and client.inspect(bad)["state"] == "dead", timeout=8)
    finally:
        result = worker.stop(grace=5)
    assert result.clean and result.lost == 0
    assert [(i, a) for i, a, _, _ in runs] == [(ok, 1), (bad, 1), (bad, 2)]
    deliveries = [d for _, _, d, _ in runs]
    assert all(isinstance(d, int) for d in deliveries) and len(set(deliveries)) == 3
    assert runs[0][3] == 600
    verbs = collections.Counter(line.split()[0] for line in sent)
    assert verbs["ACK"] == 1 and verbs["FAIL"] == 2 and verbs["PROGRESS"] == 3 and verbs["TOUCH"] >= 4
    for line in sent:
        fields = line.split()
        jid = int(fields[1])
        attempt = fields[3] if fields[0] == "PROGRESS" else fields[2]
        assert attempt.startswith("attempt="), line
        assert (jid, int(attempt[len("attempt="):])) in {(i, a) for i, a, _, _ in runs}, line


# --------------------------------------------------------------------------
# 6. One INFO line per job run


def test_each_run_is_logged(client, url, caplog):
    ok = client.enqueue("logged", "ok").id
    bad = client.enqueue("logged", "bad", attempts=1).id

    def handler(ctx):
        if ctx.text == "bad":
            raise ValueError("no good")
        time.sleep(0.05)
        return "ok"

    with caplog.at_level(logging.INFO, logger="docketd_client.worker"):
        worker = docket.Worker(url, "logged", handler, concurrency=1, reserve_timeout=0.2).start()
        try:
            assert wait_until(lambda: worker.acked == 1 and worker.failed == 1, timeout=8)
        finally:
            worker.stop(grace=5)
    runs = {r.docket_job["job_id"]: r for r in caplog.records if hasattr(r, "docket_job")}
    assert set(runs) == {ok, bad}
    for jid, outcome in ((ok, "acked"), (bad, "dead")):
        record = runs[jid]
        fields = record.docket_job
        assert record.levelno == logging.INFO and record.name == "docketd_client.worker"
        assert (fields["queue"], fields["attempt"], fields["outcome"]) == ("logged", 1, outcome)
        assert "delivery" in fields and fields["duration"] >= 0
        message = record.getMessage()
        assert f"job {jid} queue=logged attempt=1 delivery=" in message and f"outcome={outcome}" in message
    assert runs[ok].docket_job["duration"] >= 0.05
    assert runs[bad].docket_job["reason"] == "ValueError: no good"


# --------------------------------------------------------------------------
# max_run_time: a handler that never returns does not hold its job forever


def test_a_handler_past_max_run_time_fails_its_job_which_runs_again(client, url):
    ids = [client.enqueue("overrun", "hang", attempts=2, backoff="fixed:0s").id]
    release = threading.Event()
    runs = []

    def handler(ctx):
        runs.append(ctx.attempt)
        if ctx.attempt == 1:
            release.wait(30)  # hangs: heartbeats alone would keep the lease for as long
            return "too late"
        return "second run"

    # A thread cannot be stopped: the first slot stays in the hung handler, the second runs the retry.
    worker = docket.Worker(url, "overrun", handler, concurrency=2, reserve_timeout=0.2, max_run_time=0.5).start()
    try:
        assert wait_until(lambda: worker.acked == 1, timeout=15), runs
        assert worker.timed_out == 1
    finally:
        release.set()
        result = worker.stop(grace=5)
    info = client.inspect(ids[0])
    assert (info.state, info.attempts, info.result) == ("completed", 2, "second run")
    assert [a.error for a in info.failed_attempts] == ["handler ran longer than max_run_time (0.5s)"]
    # The hung handler's "too late", when it finally came, was dropped.
    assert (result.acked, result.failed, result.timed_out) == (1, 1, 1)


def test_aio_a_handler_past_max_run_time_is_cancelled_and_frees_its_slot(client, url):
    import docketd_client.aio as aio

    job_id = client.enqueue("overrun-aio", "hang", attempts=2, backoff="fixed:0s").id
    cancelled = []

    async def handler(ctx):
        if ctx.attempt == 1:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                cancelled.append(ctx.id)
                raise
        return "second run"

    async def main():
        worker = aio.Worker(url, "overrun-aio", handler, concurrency=1, reserve_timeout=0.2, max_run_time=0.5)
        worker.start()
        try:
            for _ in range(750):
                if worker.acked == 1:
                    break
                await asyncio.sleep(0.02)
        finally:
            return await worker.stop(grace=5)

    result = asyncio.run(asyncio.wait_for(main(), 30))
    # One slot: the retry could only run because the overrun handler was cancelled.
    assert cancelled == [job_id]
    assert (result.acked, result.failed, result.timed_out) == (1, 1, 1)
    info = client.inspect(job_id)
    assert (info.state, info.attempts) == ("completed", 2)
    assert [a.error for a in info.failed_attempts] == ["handler ran longer than max_run_time (0.5s)"]


@pytest.mark.parametrize("bad", [0, -1, True, "30s", float("inf"), float("nan")])
def test_max_run_time_is_checked_at_the_call(bad):
    with pytest.raises(docket.BadArgument):
        docket.Worker("nats://127.0.0.1:1", "q", lambda ctx: None, max_run_time=bad)


# --------------------------------------------------------------------------
# The aio worker says when a handler blocks its event loop


@pytest.mark.parametrize("blocking", [True, False])
def test_aio_worker_warns_when_a_handler_blocks_the_event_loop(client, url, caplog, blocking):
    import docketd_client.aio as aio

    job_id = client.enqueue("blocking", "x").id

    def blocking_handler(ctx):
        time.sleep(1.5)  # the careless handler: blocking I/O on the event loop
        return "done"

    async def polite_handler(ctx):
        await asyncio.sleep(1.5)
        return "done"

    async def main():
        handler = blocking_handler if blocking else polite_handler
        worker = aio.Worker(url, "blocking", handler, reserve_timeout=0.2)
        worker.start()
        try:
            for _ in range(500):
                if worker.acked == 1:
                    break
                await asyncio.sleep(0.02)
        finally:
            await worker.stop(grace=5)

    with caplog.at_level(logging.WARNING, logger="docketd_client.worker"):
        asyncio.run(asyncio.wait_for(main(), 30))
    assert client.inspect(job_id).state == "completed"
    warned = [r.getMessage() for r in caplog.records if "event loop was blocked" in r.getMessage()]
    if blocking:
        assert len(warned) == 1 and f"while job(s) {job_id} ran" in warned[0], warned
    else:
        assert warned == []
