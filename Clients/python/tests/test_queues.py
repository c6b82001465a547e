"""Queue documents, settings, throttling, routes and lifecycle events (#14),
against a real docketd; plus the encoders and documents without one."""

from __future__ import annotations

import dataclasses
import threading
import time

import pytest

import docketd_client as docket
from docketd_client import protocol as P

from conftest import wait_until


# --------------------------------------------------------------------------
# Without a server


def test_set_queue_encoding():
    assert P.encode_set_queue(
        "q", keep_dead=5, rate="100/1s", group_rate=(5, "250ms"), concurrency="none", lease=2.5,
        attempts=4, backoff=docket.fixed(2), jitter=0.5, keep_completed=0,
    ) == (
        b"QUEUE q rate=100/1s group_rate=5/250ms concurrency=none attempts=4 backoff=fixed:2s"
        b" jitter=0.5 lease=2500ms keep_completed=0 keep_dead=5\r\n"
    )
    assert P.encode_set_queue("q", rate="none", group_rate=None) == b"QUEUE q rate=none\r\n"
    for bad in ({}, {"rate": "100"}, {"rate": "1 /s"}, {"concurrency": 0}, {"attempts": 1001}, {"colour": 1}):
        with pytest.raises(docket.BadArgument):
            P.encode_set_queue("q", **bad)
    assert P.encode_queue("q") == b"QUEUE q\r\n"
    assert P.encode_pause("q") == b"PAUSE q\r\n" and P.encode_resume("q") == b"RESUME q\r\n"


def test_throttle_route_group_encoding():
    assert P.encode_fail(3, b"429", attempt=2, throttle=30, scope="group") == (
        b"FAIL 3 attempt=2 throttle=30s scope=group 3\r\n429\r\n"
    )
    assert P.encode_fail(3, throttle="250ms") == b"FAIL 3 throttle=250ms\r\n"
    for bad in ({"throttle": 1, "retry": 2}, {"throttle": 1, "scope": "tenant"}, {"scope": "group"}):
        with pytest.raises(docket.BadArgument):
            P.encode_fail(3, **bad)
    assert P.encode_enqueue("q", "x", key="k", group="acme") == b"ENQ q key=k group=acme 1\r\nx\r\n"
    assert P.encode_route("orders.*", "q", attempts=2, group="g") == b"ROUTE orders.* q attempts=2 group=g\r\n"
    with pytest.raises(docket.BadArgument):
        P.encode_route("$JOB.>", "q")
    assert P.encode_unroute(7) == b"UNROUTE 7\r\n"


def test_documents_keep_unknown_keys():
    doc = {"queue": "q", "paused": False, "config": {"rate": None, "future": 1}, "jobs": {"waiting": 2},
           "brand_new": [1]}
    info = docket.QueueInfo.from_dict(doc)
    assert info.queue == "q" and info.jobs.waiting == 2 and info.jobs.dead is None
    assert info.config.raw["future"] == 1 and info.raw["brand_new"] == [1]
    assert info["brand_new"] == [1] and info.get("nope", 5) == 5 and "paused" in info
    assert info.totals.enqueued is None and info.totals.raw == {}
    assert docket.FailOutcome("throttled", 1000).throttled
    assert tuple(docket.FailOutcome("throttled", 1000)) == ("throttled", 1000)


# --------------------------------------------------------------------------
# Against docketd

QUEUE_KEYS = {f.name for f in dataclasses.fields(docket.QueueInfo)} - {"raw"}
STATS_KEYS = {f.name for f in dataclasses.fields(docket.ServerStats)} - {"raw"}


def test_queue_document_is_typed(client):
    client.enqueue("docs", b"a")
    client.enqueue("docs", b"b", delay=60)
    job = client.reserve("docs", timeout=0)
    client.ack(job)
    info = client.queue("docs")
    assert isinstance(info, docket.QueueInfo)
    assert QUEUE_KEYS <= set(info.raw), QUEUE_KEYS - set(info.raw)  # every documented key is sent
    assert info.queue == "docs" and info.paused is False
    assert (info.jobs.waiting, info.jobs.delayed, info.jobs.active, info.jobs.completed, info.jobs.dead) == (0, 1, 0, 1, 0)
    assert (info.totals.enqueued, info.totals.started, info.totals.completed) == (2, 1, 1)
    assert info.totals.throttled == 0 and info.totals.deleted == 0
    assert info.config.attempts == 3 and info.config.lease_ms == 30000 and info.config.rate is None
    assert info.rates.started_per_s > 0
    assert info.blocked_by is None and info.active == 0

    assert [q.queue for q in client.queues()] == ["docs"]
    unknown = client.queue("never-made")  # reading does not create it
    assert unknown.jobs.waiting == 0 and [q.queue for q in client.queues()] == ["docs"]

    stats = client.stats()
    assert isinstance(stats, docket.ServerStats)
    assert STATS_KEYS <= set(stats.raw), STATS_KEYS - set(stats.raw)
    assert stats.queues == 1 and stats.jobs == 2 and stats.connections >= 1
    assert stats.max_payload == client.max_payload and stats["server_id"] == stats.server_id


def test_queues_come_a_page_at_a_time(client):
    """QUEUES answers at most 1,000 queues a page: after= the last name goes on."""
    for name in ("docs", "docs2", "docs3"):
        client.set_queue(name, attempts=4)
    assert [q.queue for q in client.queues(limit=2)] == ["docs", "docs2"]
    assert [q.queue for q in client.queues(after="docs2")] == ["docs3"]
    assert client.queues(after="docs3") == []
    with pytest.raises(docket.BadArgument):
        client.queues(limit=0)
    assert P.encode_queues("a", 5) == b"QUEUES after=a limit=5\r\n"


def test_set_queue_pause_resume(client, make_client):
    client.set_queue(
        "tuned", rate="100/1s", group_rate=(2, 1), concurrency=3, attempts=5, backoff="fixed:2s",
        jitter=0.25, lease="45s", keep_completed=10, keep_dead=20,
    )
    c = client.queue("tuned").config
    assert (c.concurrency, c.attempts, c.jitter, c.lease_ms, c.keep_completed, c.keep_dead) == (3, 5, 0.25, 45000, 10, 20)
    assert c.rate is not None and c.rate.startswith("100/") and c.group_rate.startswith("2/")
    assert c.backoff.startswith("fixed:")
    # New jobs take the queue's defaults.
    job_id = client.enqueue("tuned", b"x").id
    assert client.inspect(job_id)["max_attempts"] == 5

    # None leaves a setting alone; "none" returns it to its default.
    client.set_queue("tuned", rate="none", concurrency="none", attempts="none")
    c = client.queue("tuned").config
    assert c.rate is None and c.concurrency is None and c.attempts == 3
    assert c.group_rate.startswith("2/") and c.keep_dead == 20

    with pytest.raises(docket.BadOption):
        client._request("set_queue", b"QUEUE tuned rate=fast\r\n")

    client.pause("tuned")
    info = client.queue("tuned")
    assert info.paused is True and info.blocked_by == "paused"
    assert client.reserve("tuned", timeout=0) is None
    client.resume("tuned")
    assert client.queue("tuned").paused is False
    job = client.reserve("tuned", timeout=0)
    assert job is not None and job.id == job_id
    client.ack(job)


def test_concurrency_holds_jobs(client, make_client):
    client.set_queue("capped", concurrency=1)
    client.enqueue("capped", b"1")
    client.enqueue("capped", b"2")
    first = client.reserve("capped", timeout=0)
    assert first is not None
    other = make_client()
    assert other.reserve("capped", timeout=0) is None
    assert client.queue("capped").blocked_by == "concurrency"
    client.ack(first)
    second = other.reserve("capped", timeout=2)
    assert second is not None and second.payload == b"2"
    other.ack(second)


def test_throttle_with_group(client):
    client.enqueue("api", b"a", group="acme")
    client.enqueue("api", b"b", group="other")
    job = client.reserve("api", timeout=0)
    assert job.payload == b"a" and client.inspect(job)["group"] == "acme"
    out = client.fail(job, b"429", attempt=job.attempt, throttle=30, scope="group")
    assert out.throttled and out.delay_ms == 30000
    # Only acme is held: the other group's job still starts; acme's attempt was not used.
    nxt = client.reserve("api", timeout=0)
    assert nxt is not None and nxt.payload == b"b"
    client.ack(nxt)
    assert client.reserve("api", timeout=0) is None
    doc = client.inspect(job)
    assert doc["state"] == "waiting" and doc["attempts"] == 0
    assert client.queue("api").totals.throttled == 1

    # A whole-queue throttle holds the queue.
    client.enqueue("api2", b"c")
    job = client.reserve("api2", timeout=0)
    assert tuple(client.fail(job, attempt=job.attempt, throttle="20s")) == ("throttled", 20000)
    info = client.queue("api2")
    assert info.blocked_by == "throttle" and info.held_until is not None
    assert client.reserve("api2", timeout=0) is None


def test_worker_throttle(url, client):
    client.enqueue("w", b"x", group="g1")
    seen = []

    def handler(ctx):
        seen.append(ctx.attempt)
        raise docket.Throttle(30, "rate limited upstream", scope="group")

    worker = docket.Worker(url, "w", handler, concurrency=1, reserve_timeout=0.1)
    thread = threading.Thread(target=worker.run, kwargs={"install_signal_handlers": False}, daemon=True)
    thread.start()
    try:
        assert wait_until(lambda: client.queue("w").totals.throttled == 1, timeout=5)
    finally:
        worker.stop()
        thread.join(5)
    doc = client.inspect(1)
    assert doc["state"] == "waiting" and doc["attempts"] == 0
    assert doc["last_error"] == "rate limited upstream"
    assert seen == [1]


def test_routes(client, make_client):
    rid = client.route("orders.*", "orders", attempts=2, group="shop")
    assert isinstance(rid, int)
    routes = client.routes()
    assert [(r.id, r.pattern, r.queue) for r in routes] == [(rid, "orders.*", "orders")]
    assert "attempts=2" in routes[0].rule and "group=shop" in routes[0].rule

    publisher = make_client()
    publisher.publish("orders.new", b'{"n":1}')
    publisher.flush()
    assert wait_until(lambda: client.queue("orders").jobs.waiting == 1, timeout=5)
    job = client.reserve("orders", timeout=0)
    assert job.payload == b'{"n":1}'
    doc = client.inspect(job)
    assert doc["max_attempts"] == 2 and doc["group"] == "shop"
    client.ack(job)

    client.unroute(rid)
    assert client.routes() == []
    with pytest.raises(docket.NotFound):
        client.unroute(rid)
    with pytest.raises(docket.BadOption):
        client._request("route", b"ROUTE orders.* orders key=k\r\n")


def test_lifecycle_events(client, make_client):
    stream = client.events("mail")
    other = client.events("other-queue")
    producer = make_client()
    producer.enqueue("mail", b"hi", group="acme", attempts=2)
    producer.enqueue("other-queue", b"x")
    job = producer.reserve("mail", timeout=0)
    producer.progress(job, 50, "half", attempt=job.attempt)
    out = producer.fail(job, b"boom", attempt=job.attempt, retry=0)
    assert out.retrying
    job = producer.reserve("mail", timeout=5)
    producer.ack(job, b"done", attempt=job.attempt)

    events = [stream.next_event(5) for _ in range(6)]
    assert all(isinstance(e, docket.JobEvent) for e in events)
    assert [e.event for e in events] == ["enqueued", "started", "progress", "failed", "started", "completed"]
    assert [e.seq for e in events] == list(range(events[0].seq, events[0].seq + 6))
    by = {e.event: e for e in events}
    enq = by["enqueued"]
    assert (enq.id, enq.queue, enq.group, enq.max_attempts, enq.state) == (job.id, "mail", "acme", 2, "waiting")
    assert enq.subject == "$JOB.mail.enqueued" and enq.at > 0
    assert by["started"].wait_ms is not None
    assert (by["progress"].progress, by["progress"].note) == (50, "half")
    failed = by["failed"]
    assert (failed.error, failed.next, failed.retry_in_ms) == ("boom", "retry", 0) and failed.run_ms is not None
    assert by["completed"].result_bytes == 4 and by["completed"].state == "completed"
    assert other.next_event(5).queue == "other-queue"
    stream.unsubscribe()
    other.unsubscribe()


def test_events_callback_and_filter(client, make_client):
    got = []
    done = threading.Event()

    def on_event(ev):
        got.append(ev)
        done.set()

    client.events(event="completed", callback=on_event)
    producer = make_client()
    producer.enqueue("cb", b"x")
    job = producer.reserve("cb", timeout=0)
    producer.ack(job)
    assert done.wait(5)
    time.sleep(0.1)
    assert [(e.event, e.queue, e.id) for e in got] == [("completed", "cb", job.id)]


def test_routes_reads_every_page(start_docketd):
    """ROUTES answers one page, stopping at max_payload: routes() follows the
    pages by id until one is empty, routes_page() answers one."""
    server = start_docketd(flags=("--max-payload", "2048"))
    with docket.Client(server.url) as client:
        patterns = [f"orders.{'x' * 300}.{n}" for n in range(12)]
        ids = [client.route(pattern, "orders") for pattern in patterns]
        first = client.routes_page()
        assert 0 < len(first) < len(ids), "12 routes of 300-byte patterns do not fit 2,048 bytes"
        assert [r.id for r in client.routes()] == ids
        assert [r.id for r in client.routes_page(after=ids[0], limit=2)] == ids[1:3]
        assert client.routes_page(after=ids[-1]) == []
