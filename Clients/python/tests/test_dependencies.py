"""Dependencies (enqueue ``after=``, ``on_parent_dead=``, ``parents()``),
atomic batches (``batch()``) and key windows / debounce (``key_ttl=``,
``replace=``): the encoders without a server, then both clients against a
real docketd (on either job store)."""

from __future__ import annotations

import asyncio
from typing import Any, Awaitable

import pytest

import docketd_client as docket
import docketd_client.aio as aio
from docketd_client import protocol as P



def run(coro: Awaitable[Any], timeout: float = 9.0) -> Any:
    async def bounded() -> Any:
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(bounded())


# --------------------------------------------------------------------------
# Without a server


def test_dependency_and_key_encoding():
    assert P.encode_enqueue("r", "", after=[3, 4], on_parent_dead="run") == b"ENQ r after=3,4 on_parent_dead=run 0\r\n\r\n"
    assert P.encode_enqueue("q", "x", key="k", key_ttl="1h", replace=True) == b"ENQ q key=k key_ttl=1h replace=true 1\r\nx\r\n"
    assert P.encode_batch([{"queue": "a", "payload": b"1"}, {"queue": "b", "after": ["#1", 9]}]) == (
        b"BATCH 2\r\nENQ a 1\r\n1\r\nENQ b after=#1,9 0\r\n\r\n")
    assert P.encode_parents(5) == b"PARENTS 5\r\n"
    for bad in (
        dict(after=[]), dict(after=[1, 1]), dict(after=["#1"]), dict(after=list(range(1, 102))), dict(after="3"),
        dict(on_parent_dead="run"), dict(after=[1], on_parent_dead="later"), dict(replace=True), dict(key_ttl=5),
        dict(key="k", key_ttl=0),
    ):
        with pytest.raises(docket.BadArgument):
            P.encode_enqueue("q", "x", **bad)
    with pytest.raises(docket.BadArgument):
        P.encode_batch([{"queue": "a", "payload": b"1", "after": ["#2"]}])
    with pytest.raises(docket.BadArgument):
        P.encode_batch([{"queue": "a", "payload": b"1", "colour": "red"}])
    with pytest.raises(docket.BadArgument):
        P.encode_route("orders.*", "q", after=[1])


def test_parent_document():
    parent = docket.ParentInfo.from_dict({"id": 1, "queue": "q", "state": "completed", "result": "ok", "error": None})
    gone = docket.ParentInfo.from_dict({"id": 2, "state": "deleted"})
    assert (parent.completed, parent.deleted, parent.result) == (True, False, "ok")
    assert (gone.deleted, gone.queue) == (True, None)


# --------------------------------------------------------------------------
# Against docketd


def test_a_flow_as_one_batch(client, make_client):
    events = client.events("report", timeout=3)
    first, second, report = client.batch([
        {"queue": "resize", "payload": b"img-001"},
        {"queue": "resize", "payload": b"img-002"},
        {"queue": "report", "after": ["#1", "#2"]},
    ])
    assert first < second < report
    doc = client.inspect(report)
    assert (doc.state, doc.parents, doc.on_parent_dead) == ("blocked", [first, second], "fail")
    enqueued, blocked = events.next_event(3), events.next_event(3)
    assert (enqueued.event, enqueued.id) == ("enqueued", report)
    assert (blocked.event, blocked.id, blocked.parents, blocked.state) == ("blocked", report, [first, second], "blocked")
    assert client.list("report", state="blocked").jobs[0].id == report
    assert client.reserve("report", timeout=0) is None

    worker = make_client()
    for _ in range(2):
        job = worker.reserve("resize", timeout=3)
        worker.ack(job, b"small-" + job.payload, attempt=job.attempt)
    job = worker.reserve("report", timeout=3)
    assert job is not None and job.id == report
    parents = worker.parents(job)
    assert [(p.id, p.queue, p.state, p.result) for p in parents] == [
        (first, "resize", "completed", "small-img-001"), (second, "resize", "completed", "small-img-002")]
    kinds = []
    while True:
        event = events.next_event(3)
        kinds.append(event.event)
        if event.event == "unblocked":
            break
    assert event.id == report and event.state == "waiting"
    events.unsubscribe()
    assert client.parents(first) == []
    with pytest.raises(docket.NotFound):
        client.parents(999_999)


def test_a_dead_parent_kills_or_frees_its_children(client):
    parent = client.enqueue("fetch", b"x", attempts=1)
    dies = client.enqueue("use", after=[parent])
    runs = client.enqueue("use", after=[parent.id], on_parent_dead="run")
    job = client.reserve("fetch", timeout=3)
    client.fail(job, b"boom", retry=False, attempt=job.attempt)
    assert client.inspect(dies).state == "dead"
    assert client.inspect(dies).last_error == f"parent {parent.id} dead"
    assert client.inspect(runs).state == "waiting"
    (info,) = client.parents(runs)
    assert (info.state, info.error) == ("dead", "boom")


def test_a_refused_batch_enqueues_nothing(client):
    with pytest.raises(docket.NotFound) as refused:
        client.batch([{"queue": "all", "payload": b"1"}, {"queue": "all", "after": [987_654]}])
    assert "job 2" in refused.value.message
    assert client.queue("all").jobs.get("waiting", 0) == 0


def test_key_window_and_debounce(client):
    first = client.enqueue("sync", b"v1", key="user-7", key_ttl="1h", delay=3600)
    again = client.enqueue("sync", b"v2", key="user-7", replace=True)
    assert (again.id, again.replaced, again.duplicate) == (first.id, True, False)
    doc = client.inspect(first)
    assert doc.state == "waiting" and doc.key_until is not None  # the replacing ENQ had no delay
    job = client.reserve("sync", timeout=3)
    assert job.payload == b"v2"
    late = client.enqueue("sync", b"v3", key="user-7", replace=True)
    assert (late.id, late.duplicate, late.replaced) == (first.id, True, False)


def test_aio_batch_parents_and_replace(url):
    async def scenario() -> None:
        async with aio.connect(url, request_timeout=5) as c:
            ids = await c.batch([{"queue": "a", "payload": "p"}, {"queue": "b", "after": ["#1"], "on_parent_dead": "run"}])
            assert len(ids) == 2
            assert [p.id for p in await c.parents(ids[1])] == [ids[0]]
            child = await c.enqueue("b", after=[ids[0]])
            assert (await c.inspect(child)).state == "blocked"
            first = await c.enqueue("d", "1", key="k", delay=60)
            assert (await c.enqueue("d", "2", key="k", replace=True)).replaced

    run(scenario())
