"""docketd_client.aio against a real docketd: the asyncio client's surface
(pub/sub, request/reply, every job verb, queues, routes, events) and the
asyncio worker. Plain tests that run their coroutine with ``asyncio.run``
(no pytest-asyncio needed)."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from typing import Any, Awaitable

import pytest

import docketd_client.aio as aio
from docketd_client import protocol as P

from conftest import lmdb_only


def run(coro: Awaitable[Any], timeout: float = 20.0) -> Any:
    """Runs a test coroutine, bounded in time."""

    async def bounded() -> Any:
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(bounded())


def test_connect_forms_and_server_info(url):
    async def main():
        client = await aio.connect(url, name="aio-test")
        try:
            assert client.is_connected and not client.is_secure
            assert client.server_info["proto"] == 1 and client.max_payload == 1 << 20
            assert "aio.Client" in repr(client)
        finally:
            await client.close()
        assert client.is_closed
        await client.close()  # idempotent
        async with aio.connect(url) as c2:
            await c2.flush()
        async with aio.Client(url) as c3:
            assert "RESERVE" in (await c3.help()).upper()
        with pytest.raises(aio.ConnectionClosed):
            await c3.enqueue("q", "x")

    run(main())


def test_connect_errors():
    async def main():
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        with pytest.raises(aio.ConnectError):
            await aio.connect(f"nats://127.0.0.1:{port}", connect_timeout=2)
        with pytest.raises(aio.BadArgument):
            aio.Client("http://127.0.0.1:4222")

    run(main())


def test_publish_subscribe_request(url):
    async def main():
        async with aio.connect(url, request_timeout=5) as client, aio.connect(url) as other:
            sub = await client.subscribe("orders.*", timeout=0.5)
            await other.flush()
            await client.flush()
            await other.publish("orders.new", b"one")
            await other.publish("orders.old", b"two", headers={"Trace-Id": "abc"})
            await other.publish("unrelated", b"three")
            got = [(m.subject, m.data, m.headers) async for m in sub]
            assert got == [("orders.new", b"one", None), ("orders.old", b"two", {"Trace-Id": "abc"})]

            calls = []

            async def echo(msg):
                calls.append(msg.data)
                msg.respond(msg.data[::-1])

            await other.subscribe("svc.echo", callback=echo)
            await other.subscribe("svc.sync", queue="grp", callback=lambda m: m.respond(b"sync"))
            await other.flush()
            assert (await client.request("svc.echo", b"abc", timeout=2)).data == b"cba"
            assert (await client.request("svc.sync", b"", timeout=2)).data == b"sync"
            assert calls == [b"abc"]
            with pytest.raises(aio.NoResponders):
                await client.request("nobody.home", b"?", timeout=2)
            with pytest.raises(aio.BadArgument):
                await client.publish("bad..subject", b"")

            limited = await client.subscribe("count.>")
            await limited.unsubscribe(max_msgs=2)
            for i in range(4):
                await other.publish("count.x", str(i))
            assert [(await limited.next_msg(2)).data for _ in range(2)] == [b"0", b"1"]
            with pytest.raises(aio.SubscriptionClosed):
                await limited.next_msg(1)
            with pytest.raises(aio.Timeout):
                await sub.next_msg(0.05)

    run(main())


def test_job_verbs(url):
    async def main():
        async with aio.connect(url, request_timeout=5) as c:
            r = await c.enqueue("emails", b'{"to": "ann"}', attempts=2, backoff=aio.fixed(0), key="ann")
            assert (r.duplicate, (await c.enqueue("emails", b"again", key="ann")).duplicate) == (False, True)
            assert (await c.wait(r, timeout=0)).state == "waiting"
            job = await c.reserve("emails", timeout=1)
            assert (job.id, job.attempt, job.json(), job.lease_ms) == (r.id, 1, {"to": "ann"}, 30000)
            await c.progress(job, 50, "half", attempt=job.attempt)
            await c.touch(job, attempt=job.attempt)
            doc = await c.inspect(job)
            assert isinstance(doc, aio.JobInfo) and (doc.state, doc.progress, doc.progress_note) == (
                "active", 50, "half")
            outcome = await c.fail(job, "first try failed", attempt=job.attempt)
            assert tuple(outcome) == ("retry", 0)
            job = await c.reserve(["other", "emails"], timeout=1)
            with pytest.raises(aio.NotHeld):
                await c.ack(job, attempt=1)  # the stale attempt is fenced
            await c.ack(job, b"sent", attempt=job.attempt)
            outcome = await c.wait(job.id, timeout=1)
            assert (outcome.completed, outcome.result) == (True, b"sent")

            assert await c.reserve("emails", timeout=0) is None
            dead = (await c.enqueue("d", "x")).id
            job = await c.reserve("d", timeout=0)
            assert (await c.fail(job, "no", retry=False)).dead
            assert [d.id for d in await c.dead("d")] == [dead]
            assert (await c.wait(dead)).error == "no"
            await c.retry(dead)
            with pytest.raises(aio.NotDead):
                await c.retry(dead)
            job = await c.reserve("d", timeout=0)
            await c.fail(job, "again", retry=False)
            assert await c.retry_queue("d") == 1
            await c.delete(dead)
            with pytest.raises(aio.NotFound):
                await c.inspect(dead)
            with pytest.raises(aio.NotFound):
                await c.wait(dead)
            with pytest.raises(aio.BadArgument):
                await c.enqueue("q", "x", lease=0)  # refused before sending
            with pytest.raises(aio.BadOption):
                await c._request("enqueue", b"ENQ q lease=0s 1\r\nx\r\n")
            with pytest.raises(aio.BadId):
                await c._request("ack", b"ACK abc\r\n")
            with pytest.raises(aio.BadArgument):
                await c.enqueue("bad.queue", "x")
            assert (await c.enqueue("q", "in step")).id > dead

    run(main())


def test_queues_routes_stats_events(url):
    async def main():
        async with aio.connect(url, request_timeout=5) as c:
            events = await c.events("invoices")
            await c.set_queue("invoices", rate=(10, "1s"), concurrency=2, lease="2m", attempts=4)
            info = await c.queue("invoices")
            assert isinstance(info, aio.QueueInfo)
            assert (info.config.rate, info.config.concurrency, info.config.lease_ms, info.config.attempts) == (
                "10/1000ms", 2, 120000, 4)
            await c.pause("invoices")
            assert (await c.queue("invoices")).paused is True
            jid = (await c.enqueue("invoices", "inv-1", group="acme")).id
            assert await c.reserve("invoices", timeout=0) is None  # paused
            assert (await c.queue("invoices")).blocked_by == "paused"
            await c.resume("invoices")
            job = await c.reserve("invoices", timeout=1)
            throttled = await c.fail(job, "429", attempt=job.attempt, throttle="50ms", scope="group")
            assert throttled.throttled
            job = await c.reserve("invoices", timeout=2)
            await c.ack(job, attempt=job.attempt)
            seen = []
            async for ev in events:
                seen.append(ev)
                if ev.event == "completed":
                    break
            await events.unsubscribe()
            assert [e.event for e in seen] == ["enqueued", "started", "throttled", "started", "completed"]
            assert all(isinstance(e, aio.JobEvent) and e.id == jid and e.group == "acme" for e in seen)
            assert [e.seq for e in seen] == list(range(seen[0].seq, seen[0].seq + 5))

            rid = await c.route("shop.*", "orders", attempts=5)
            assert [(r.id, r.pattern, r.queue) for r in await c.routes()] == [(rid, "shop.*", "orders")]
            ids = await c.publish_routed("shop.new", b"order")
            assert len(ids) == 1 and (await c.inspect(ids[0])).max_attempts == 5
            await c.unroute(rid)
            with pytest.raises(aio.NotFound):
                await c.unroute(rid)
            assert [q.queue for q in await c.queues()] == ["invoices", "orders"]
            stats = await c.stats()
            assert isinstance(stats, aio.ServerStats) and stats.jobs >= 2 and stats.connections >= 1

            got = []
            stream = await c.events("cb", "completed", callback=got.append)
            await c.enqueue("cb", "x")
            job = await c.reserve("cb", timeout=1)
            await c.ack(job, attempt=job.attempt)
            for _ in range(100):
                if got:
                    break
                await asyncio.sleep(0.01)
            assert [e.event for e in got] == ["completed"]
            await stream.unsubscribe()

    run(main())


def test_pipelined_from_many_tasks(url):
    async def main():
        async with aio.connect(url, request_timeout=10) as c:
            async def produce(t):
                return [(await c.enqueue("many", f"{t}-{i}", key=f"{t}-{i}")).id for i in range(25)]

            ids = await asyncio.gather(*(produce(t) for t in range(8)))
            flat = [i for part in ids for i in part]
            assert len(set(flat)) == 200
            assert (await c.queue("many")).jobs.waiting == 200

    run(main())


def test_an_abandoned_reserve_frees_its_connection_and_uses_no_attempt(url):
    # A RESERVE whose caller stops waiting is ended (CANCEL): the connection
    # answers its next command at once, and the job enqueued afterwards goes
    # to another worker on its first attempt. (Before CANCEL, the server read
    # nothing more until a job came, then the job went back as a used attempt.)
    async def main():
        async with aio.connect(url) as slow, aio.connect(url) as producer, aio.connect(url) as worker:
            with pytest.raises(aio.Timeout):
                await slow._request("reserve", P.encode_reserve("late"), 0.2, holds=True)
            await asyncio.wait_for(slow.flush(), 3)
            jid = (await producer.enqueue("late", "x")).id
            job = await worker.reserve("late", timeout=3)
            assert job is not None and (job.id, job.attempt) == (jid, 1)
            # a cancelled reserve the same way
            task = asyncio.ensure_future(slow.reserve("late2"))
            await asyncio.sleep(0.1)
            task.cancel()
            await asyncio.wait_for(slow.flush(), 3)
            jid = (await producer.enqueue("late2", "y")).id
            job = await worker.reserve("late2", timeout=3)
            assert job is not None and (job.id, job.attempt) == (jid, 1)
            # and the connection reserves as before
            jid = (await producer.enqueue("late3", "z")).id
            job = await slow.reserve("late3", timeout=3)
            assert job is not None and (job.id, job.attempt) == (jid, 1)

    run(main())


def test_an_abandoned_wait_frees_its_connection(url):
    # A WAIT whose caller stops waiting is ended (CANCEL) as a RESERVE is:
    # the connection answers its next command at once, where the server
    # read nothing more until the job finished.
    async def main():
        async with aio.connect(url) as slow, aio.connect(url) as producer:
            jid = (await producer.enqueue("waited", "x")).id
            with pytest.raises(aio.Timeout):
                await slow._request("wait", P.encode_wait(jid), 0.2, holds=True)
            await asyncio.wait_for(slow.flush(), 3)
            task = asyncio.ensure_future(slow.wait(jid))
            await asyncio.sleep(0.1)
            task.cancel()
            await asyncio.wait_for(slow.flush(), 3)
            assert (await slow.inspect(jid)).state == "waiting"

    run(main())


def test_reconnect_after_restart(start_docketd, tmp_path):
    server = start_docketd(data_dir=tmp_path / "data")
    port = server.port

    async def main():
        lost, back = [], []
        async with aio.connect(server.url, request_timeout=5, reconnect_max_wait=0.2,
                               disconnected_callback=lambda: lost.append(1),
                               reconnected_callback=lambda: back.append(1)) as c:
            sub = await c.subscribe("news")
            jid = (await c.enqueue("durable", "x")).id
            await asyncio.get_running_loop().run_in_executor(None, server.stop)
            for _ in range(200):
                if lost:
                    break
                await asyncio.sleep(0.01)
            assert lost and not c.is_connected
            pending = asyncio.ensure_future(c.inspect(jid))  # waits for the new connection
            await asyncio.sleep(0.1)
            await asyncio.get_running_loop().run_in_executor(
                None, lambda: start_docketd(port=port, data_dir=tmp_path / "data"))
            assert (await pending).state == "waiting"
            assert back and c.reconnects == 1
            await c.publish("news", b"after")  # the subscription was sent again
            assert (await sub.next_msg(2)).data == b"after"

    run(main())


def test_auth_token(start_docketd):
    from test_auth import _docketd_has_auth

    if not _docketd_has_auth():
        pytest.skip("this docketd has no --auth")
    server = start_docketd(flags=("--auth", "s3cr3t"))

    async def main():
        async with aio.connect(server.url, token="s3cr3t") as c:
            assert (await c.enqueue("q", "x")).id == 1
        with pytest.raises(aio.AuthorizationError) as info:
            await aio.connect(server.url, token="wrong")
        assert "wrong" not in str(info.value)
        url = server.url.replace("nats://", "nats://s3cr3t@")
        async with aio.connect(url) as c:
            assert "s3cr3t" not in c.url and "s3cr3t" not in repr(c)
            await c.flush()

    run(main())


# --------------------------------------------------------------------------
# The asyncio worker


def test_worker_outcomes(client, url):
    kinds = ["ok", "obj", "nonretryable", "retry_after", "boom", "throttle", "sync"]
    ids = {k: client.enqueue("aw", k, attempts=1 if k != "retry_after" else 2, backoff="fixed:1h").id
           for k in kinds}

    async def handler(ctx):
        await ctx.progress(10, "started")
        if ctx.text == "obj":
            return {"n": 1}
        if ctx.text == "nonretryable":
            raise aio.NonRetryable("bad input")
        if ctx.text == "retry_after":
            if ctx.attempt == 1:
                raise aio.RetryAfter(0.05, "later")
            return "second time"
        if ctx.text == "boom":
            raise ValueError("boom")
        if ctx.text == "throttle":
            if ctx.attempt == 1 and not throttled:
                throttled.append(ctx.id)
                raise aio.Throttle("50ms", "429 from upstream")
            return "after the hold"
        await asyncio.sleep(0.01)
        return ctx.text

    def sync_handler(ctx):
        return "plain function"

    throttled: list = []

    async def main():
        worker = aio.Worker(url, "aw", lambda ctx: sync_handler(ctx) if ctx.text == "sync" else handler(ctx),
                            concurrency=3, reserve_timeout=0.2)
        worker.start()
        for _ in range(400):
            if worker.acked + worker.failed >= 8:
                break
            await asyncio.sleep(0.02)
        return await worker.stop(grace=5)

    result = run(main())
    docs = {k: client.inspect(i) for k, i in ids.items()}
    assert {k: d.state for k, d in docs.items()} == {
        "ok": "completed", "obj": "completed", "nonretryable": "dead", "retry_after": "completed",
        "boom": "dead", "throttle": "completed", "sync": "completed"}
    assert docs["obj"].result == '{"n": 1}' and docs["sync"].result == "plain function"
    assert docs["nonretryable"].last_error == "bad input"
    assert docs["boom"].last_error == "ValueError: boom"
    assert docs["retry_after"].attempts == 2 and docs["throttle"].attempts == 1  # a throttle uses no attempt
    assert (result.acked, result.failed, result.clean, result.reason) == (5, 4, True, "stop")


def test_worker_heartbeat_follows_a_short_lease(client, url):
    jid = client.enqueue("alease", "x", lease="1s", backoff="fixed:0s").id
    calls = []

    async def handler(ctx):
        calls.append((ctx.attempt, ctx.lease_ms))
        await asyncio.sleep(3.0)  # three leases: only the heartbeats keep it
        return "ok"

    async def main():
        worker = aio.Worker(url, "alease", handler, concurrency=2, reserve_timeout=0.2).start()
        for _ in range(400):
            if worker.acked:
                break
            await asyncio.sleep(0.02)
        return await worker.stop(grace=5)

    result = run(main())
    assert calls == [(1, 1000)]
    assert (result.acked, result.lost, result.clean) == (1, 0, True)
    doc = client.inspect(jid)
    assert (doc.state, doc.attempts, doc.result) == ("completed", 1, "ok")


def test_worker_logs_each_run(client, url, caplog):
    ok = client.enqueue("alog", "ok").id
    bad = client.enqueue("alog", "bad", attempts=1).id

    async def handler(ctx):
        if ctx.text == "bad":
            raise KeyError("missing")
        await asyncio.sleep(0.05)
        return "fine"

    async def main():
        worker = aio.Worker(url, "alog", handler, reserve_timeout=0.2).start()
        for _ in range(400):
            if worker.acked + worker.failed == 2:
                break
            await asyncio.sleep(0.02)
        return await worker.stop(grace=5)

    with caplog.at_level(logging.INFO, logger="docketd_client.worker"):
        run(main())
    runs = {r.docket_job["job_id"]: r for r in caplog.records if hasattr(r, "docket_job")}
    assert set(runs) == {ok, bad}
    for jid, outcome in ((ok, "acked"), (bad, "dead")):
        record = runs[jid]
        assert record.levelno == logging.INFO and record.name == "docketd_client.worker"
        fields = record.docket_job
        assert (fields["queue"], fields["attempt"], fields["outcome"]) == ("alog", 1, outcome)
        assert f"job {jid} queue=alog attempt=1" in record.getMessage()
    assert runs[ok].docket_job["duration"] >= 0.05
    assert runs[bad].docket_job["reason"] == "KeyError: 'missing'"


def test_worker_graceful_stop_and_grace_expiry(client, url):
    quick = client.enqueue("astop", "quick").id
    stuck = client.enqueue("astop", "stuck", backoff="fixed:1h").id
    started = []

    async def handler(ctx):
        started.append(ctx.text)
        if ctx.text == "quick":
            await asyncio.sleep(0.3)
            return "done"
        await asyncio.sleep(30)

    async def main():
        worker = aio.Worker(url, "astop", handler, concurrency=2, reserve_timeout=0.2).start()
        for _ in range(200):
            if len(started) == 2:
                break
            await asyncio.sleep(0.02)
        t0 = time.monotonic()
        result = await worker.stop(grace=0.6)
        return result, time.monotonic() - t0

    result, took = run(main())
    assert took < 4
    assert (result.acked, result.abandoned, result.clean) == (1, 1, False)
    assert client.inspect(quick).state == "completed"
    doc = client.inspect(stuck)
    assert doc.state == "waiting" and doc.last_error == "worker shut down before the handler finished"


def test_worker_counts_outcomes_lost_to_a_frozen_server(server, client, caplog):
    for _ in range(3):
        client.enqueue("afrozen", b"x")

    async def handler(ctx):
        await asyncio.sleep(0.5)

    async def main():
        worker = aio.Worker(server.url, "afrozen", handler, concurrency=4, grace=1).start()
        await asyncio.sleep(0.2)
        os.kill(server.proc.pid, signal.SIGSTOP)  # the ACKs go unanswered
        try:
            return await worker.stop()
        finally:
            os.kill(server.proc.pid, signal.SIGCONT)

    with caplog.at_level(logging.INFO, logger="docketd_client.worker"):
        result = run(main())
    logged = [r for r in caplog.records if getattr(r, "docket_job", {}).get("outcome") == "lost"]
    # what the log says was lost is counted, as by the threaded worker
    assert (result.acked, result.failed, result.lost, len(logged)) == (0, 0, 3, 3), result
    assert result.clean


def test_worker_stopped_by_its_own_handler(client, url):
    job_id = client.enqueue("aonce", b"x").id
    seen = {}

    async def main():
        worker = None

        async def handler(ctx):
            started = time.monotonic()
            seen["stop"] = await worker.stop()
            seen["took"] = time.monotonic() - started
            return "done"

        worker = aio.Worker(url, "aonce", handler, grace=3, reserve_timeout=0.2).start()
        while "took" not in seen:
            await asyncio.sleep(0.02)
        return await worker.run()  # returns the final result once the shutdown is done

    result = run(main(), timeout=10)
    assert seen["took"] < 0.5 and isinstance(seen["stop"], aio.WorkerResult)
    assert result.clean and (result.reason, result.acked, result.abandoned) == ("stop", 1, 0)
    info = client.inspect(job_id)
    assert (info.state, info.attempts, info.result) == ("completed", 1, "done")


@lmdb_only  # --max-queues
def test_worker_refused_reserve_is_fatal(start_docketd):
    server = start_docketd(flags=("--max-queues", "1"))

    async def main():
        async with aio.connect(server.url) as c:
            await c.enqueue("only", "x")
        # a waiting RESERVE would make a second queue: LIMIT, which no retry can fix
        worker = aio.Worker(server.url, "another", lambda ctx: None, reserve_timeout=0.2)
        with pytest.raises(aio.LimitReached):
            await worker.run(install_signal_handlers=False)
        assert worker.result.reason == "fatal_error" and not worker.result.clean

    run(main())


def test_worker_handler_exit_stops_it(client, url):
    client.enqueue("aexit", "first")
    client.enqueue("aexit", "exit", backoff="fixed:1h")

    async def handler(ctx):
        if ctx.text == "exit":
            raise SystemExit(3)
        return "ok"

    async def main():
        worker = aio.Worker(url, "aexit", handler, reserve_timeout=0.2)
        return await worker.run(install_signal_handlers=False)

    result = run(main())
    assert (result.reason, result.clean, result.acked, result.failed, result.crashed) == (
        "handler_exit", False, 1, 1, 1)


def test_forbidden_and_unknown_codes_keep_the_connection():
    from test_auth import FakeServer

    srv = FakeServer(replies={
        b"INSPECT 1": b"-ERR 'FORBIDDEN INSPECT is not allowed for this user'\r\n",
        b"INSPECT 2": b"-ERR 'SOMETHING_NEW a code from a later server'\r\n",
    })

    async def main():
        async with aio.connect(srv.url, token="t") as c:
            with pytest.raises(aio.Forbidden) as info:
                await c.inspect(1)
            assert info.value.code == "FORBIDDEN" and info.value.message == "INSPECT is not allowed for this user"
            with pytest.raises(aio.DocketError) as info:
                await c.inspect(2)
            assert type(info.value) is aio.DocketError and info.value.code == "SOMETHING_NEW"
            await c.flush(timeout=2)
            assert c.is_connected

    try:
        run(main())
    finally:
        srv.close()


def test_a_full_server_refuses_the_connection(start_docketd):
    server = start_docketd(flags=("--max-connections", "1"))

    async def main():
        async with aio.connect(server.url) as first:
            with pytest.raises(aio.ConnectError) as info:
                await aio.connect(server.url, connect_timeout=3)
            assert "maximum connections exceeded" in str(info.value)
            await first.flush()

    run(main())
