"""Browsing and bulk repair (LIST, PURGE, PROMOTE), schedules (SCHEDULE,
UNSCHEDULE, SCHEDULES, PAUSE/RESUME schedule=) and job expiry (ENQ ttl=,
expires=): the encoders and documents without a server, then both clients
against a real docketd."""

from __future__ import annotations

import asyncio
import datetime
import time
from typing import Any, Awaitable

import pytest

import docketd_client as docket
import docketd_client.aio as aio
from docketd_client import protocol as P



def run(coro: Awaitable[Any], timeout: float = 9.0) -> Any:
    """Runs a test coroutine, bounded in time."""

    async def bounded() -> Any:
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(bounded())


def now_ms() -> int:
    return int(time.time() * 1000)


# --------------------------------------------------------------------------
# Without a server


def test_expiry_encoding():
    assert P.encode_enqueue("q", "x", ttl="2h") == b"ENQ q ttl=2h 1\r\nx\r\n"
    assert P.encode_enqueue("q", "x", ttl=datetime.timedelta(milliseconds=250)) == b"ENQ q ttl=250ms 1\r\nx\r\n"
    when = datetime.datetime(2100, 1, 1, 0, 0, 0, 123999, tzinfo=datetime.timezone.utc)
    assert P.encode_enqueue("q", "", expires=when) == b"ENQ q expires=4102444800123 0\r\n\r\n"
    plus_two = datetime.timezone(datetime.timedelta(hours=2))
    assert P.encode_enqueue("q", "", expires=when.astimezone(plus_two)) == b"ENQ q expires=4102444800123 0\r\n\r\n"
    assert P.encode_enqueue("q", "", delay=5, ttl=60) == b"ENQ q delay=5s ttl=60s 0\r\n\r\n"
    for bad in (
        {"expires": datetime.datetime(2100, 1, 1)},  # naive
        {"expires": 1.5}, {"expires": True}, {"expires": -1}, {"expires": "4102444800000"},
        {"ttl": "0ms"}, {"ttl": -1}, {"ttl": "soon"}, {"ttl": "367d"},
    ):
        with pytest.raises(docket.BadArgument):
            P.encode_enqueue("q", "x", **bad)
    assert P.encode_route("a.*", "q", ttl=30) == b"ROUTE a.* q ttl=30s\r\n"
    with pytest.raises(docket.BadArgument):
        P.encode_route("a.*", "q", expires=4102444800000)


def test_browse_and_schedule_encoding():
    assert P.encode_list("q", "delayed", limit=1000) == b"LIST q state=delayed limit=1000\r\n"
    assert P.encode_purge("q", "delayed", datetime.timedelta(minutes=5)) == b"PURGE q state=delayed older=300s\r\n"
    assert P.encode_promote(docket.EnqueueResult(12)) == b"PROMOTE 12\r\n"
    for bad in (lambda: P.encode_list("q", after=""), lambda: P.encode_list("q", limit=True),
                lambda: P.encode_purge("q", "everything"), lambda: P.encode_purge("q", "dead", older="old"),
                lambda: P.encode_promote(-1)):
        with pytest.raises(docket.BadArgument):
            bad()
    assert P.encode_schedule("s", "q", every="1m", catchup="one") == b"SCHEDULE s q every=1m catchup=one 0\r\n\r\n"
    assert P.encode_schedule("s", "q", b"p", cron="@hourly") == b'SCHEDULE s q cron="@hourly" 1\r\np\r\n'
    for bad in ({"cron": "* * * *\n *"}, {"every": "999ms"}, {"cron": "@daily", "tz": "Europe Berlin"},
                {"every": 5, "at": 10}, {"every": 5, "expires": 4102444800000}, {"every": 5, "attempts": 0}):
        with pytest.raises(docket.BadArgument):
            P.encode_schedule("s", "q", "", **bad)


def test_new_error_codes():
    with pytest.raises(docket.NotDelayed) as info:
        P.interpret_reply("promote", P.Err("NOT_DELAYED job 7 is waiting, not delayed"))
    assert info.value.code == "NOT_DELAYED" and isinstance(info.value, docket.DocketError)
    with pytest.raises(aio.Unavailable) as unavailable:
        P.interpret_reply("enqueue", P.Err("UNAVAILABLE the job store cannot be reached"))
    assert unavailable.value.message == "the job store cannot be reached"
    assert aio.NotDelayed is docket.NotDelayed and aio.Unavailable is docket.Unavailable


def test_page_and_schedule_documents():
    page = docket.JobPage.from_dict({"queue": "q", "state": "dead", "jobs": [{"id": 3, "expires_at": 5}],
                                     "next": "1.2.3", "extra": True})
    assert (page.queue, page.state, page.next, page.last) == ("q", "dead", "1.2.3", False)
    assert [(j.id, j.expires_at) for j in page.jobs] == [(3, 5)] and isinstance(page.jobs[0], docket.JobInfo)
    assert page["extra"] is True and docket.JobPage.from_dict({"jobs": None}).jobs == []
    assert docket.JobPage.from_dict({"next": None}).last
    sched = docket.Schedule.from_dict({"name": "n", "queue": "q", "every_ms": 1000, "next": [1, 2, 3],
                                       "paused": False, "future": 1})
    assert (sched.name, sched.every_ms, sched.cron, sched.next, sched.paused) == ("n", 1000, None, [1, 2, 3], False)
    assert sched["future"] == 1 and docket.Schedule.from_dict({}).next == []
    event = docket.JobEvent.from_msg(docket.Msg("$JOB.q.scheduled", "1", None,
                                                b'{"event":"scheduled","schedule":"n","tick":1000}'))
    assert (event.event, event.schedule, event.tick) == ("scheduled", "n", 1000)


def test_list_all_refuses_bad_arguments_when_called():
    client = docket.Client.__new__(docket.Client)  # never connected: nothing may be sent
    with pytest.raises(docket.BadArgument):
        client.list_all("q", "running")
    with pytest.raises(docket.BadArgument):
        client.list_all("q", page_size=0)
    aclient = aio.Client.__new__(aio.Client)
    with pytest.raises(aio.BadArgument):
        aclient.list_all("bad queue")


# --------------------------------------------------------------------------
# LIST, PURGE, PROMOTE against docketd


def test_list_pages_with_cursors(client):
    ids = [client.enqueue("browse", f"job-{i:02d}").id for i in range(25)]
    first = client.list("browse", limit=10)
    assert isinstance(first, docket.JobPage)
    assert (first.queue, first.state) == ("browse", "waiting") and first.next is not None
    assert [j.id for j in first.jobs] == ids[:10]
    assert all(isinstance(j, docket.JobInfo) and j.state == "waiting" and j.payload_bytes == 6 for j in first.jobs)
    second = client.list("browse", after=first.next, limit=10)
    assert [j.id for j in second.jobs] == ids[10:20]
    # a job taken meanwhile is not shown again, and paging goes on from the cursor
    job = client.reserve("browse", timeout=0)
    assert job is not None and job.id == ids[0]
    third = client.list("browse", "waiting", after=second.next, limit=10)
    assert [j.id for j in third.jobs] == ids[20:] and third.next is None
    # the default state is waiting, listed as it will run: priority first
    urgent = client.enqueue("browse", "urgent", priority=-1).id
    assert client.list("browse", limit=2).jobs[0].id == urgent
    assert [j.id for j in client.list_all("browse", page_size=7)] == [urgent] + ids[1:]
    assert [j.id for j in client.list("browse", "active").jobs] == [ids[0]]
    assert client.list("nobody-here").jobs == [] and client.list("nobody-here").next is None


def test_list_completed_and_dead_newest_first(client):
    done = []
    for i in range(3):
        client.enqueue("finished", f"ok-{i}")
        job = client.reserve("finished", timeout=0)
        client.ack(job, attempt=job.attempt)
        done.append(job.id)
    dead = []
    for i in range(3):
        client.enqueue("finished", f"bad-{i}", attempts=1)
        job = client.reserve("finished", timeout=0)
        client.fail(job, f"boom {i}", attempt=job.attempt)
        dead.append(job.id)
    completed = client.list("finished", "completed")
    assert [j.id for j in completed.jobs] == done[::-1] and completed.next is None
    assert all(j.state == "completed" and j.finished_at for j in completed.jobs)
    page = client.list("finished", "dead", limit=2)
    assert [j.id for j in page.jobs] == dead[:0:-1] and page.next is not None
    assert [j.last_error for j in page.jobs] == ["boom 2", "boom 1"]
    assert [j.id for j in client.list_all("finished", "dead", page_size=1)] == dead[::-1]
    assert [j.id for j in client.list("finished", "dead", after=page.next).jobs] == [dead[0]]


def test_purge_by_state_and_age(client):
    old = [client.enqueue("purged", f"old-{i}").id for i in range(3)]
    later = [client.enqueue("purged", "later", delay="1h").id for _ in range(2)]
    time.sleep(0.6)
    new = [client.enqueue("purged", f"new-{i}").id for i in range(2)]
    assert client.purge("purged", "waiting", older="300ms") == 3
    assert [j.id for j in client.list_all("purged")] == new
    with pytest.raises(docket.NotFound):
        client.inspect(old[0])
    assert client.purge("purged", "delayed") == 2
    assert client.list("purged", "delayed").jobs == [] and client.purge("purged", "delayed") == 0
    assert client.purge("purged", "waiting", older=3600) == 0
    assert client.queue("purged").totals.deleted == 5
    with pytest.raises(docket.BadArgument):
        client.purge("purged", "active")
    assert later and client.enqueue("purged", "in step").id > new[-1]


def test_promote_a_delayed_job(client):
    ahead = client.enqueue("promo", "ahead").id
    later = client.enqueue("promo", "later", delay="1h")
    assert client.inspect(later).state == "delayed"
    assert client.reserve("promo", timeout=0).id == ahead  # the delayed one is not runnable
    client.promote(later)
    assert client.inspect(later).state == "waiting"
    job = client.reserve("promo", timeout=0)
    assert job is not None and (job.id, job.payload) == (later.id, b"later")
    with pytest.raises(docket.NotDelayed) as info:
        client.promote(client.enqueue("promo", "waiting").id)
    assert info.value.code == "NOT_DELAYED"
    with pytest.raises(docket.NotDelayed):
        client.promote(job.id)  # active
    with pytest.raises(docket.NotFound):
        client.promote(987654)


# --------------------------------------------------------------------------
# Schedules against docketd


def test_schedule_every_second_makes_keyed_jobs(client, make_client):
    before = now_ms()
    events = client.events("beat", "scheduled", timeout=2.5)
    client.schedule("pulse", "beat", b"tick", every=1, priority=3, attempts=2)
    (sched,) = client.schedules()
    assert isinstance(sched, docket.Schedule)
    assert (sched.name, sched.queue, sched.every_ms, sched.cron, sched.paused, sched.payload_bytes) == (
        "pulse", "beat", 1000, None, False, 4)
    assert sched.catchup == "one" and sched.rule == "pulse beat every=1s pri=3 attempts=2"
    assert sched.last_tick in (None, sched.created_at)  # nothing handled yet: it starts from its creation
    assert before - 1000 <= sched.created_at <= now_ms() + 1000
    assert len(sched.next) == 3 and sched.next == sorted(sched.next)
    assert sched.next[1] - sched.next[0] == 1000

    worker = make_client()
    start = time.monotonic()
    job = worker.reserve("beat", timeout=2.5)
    assert job is not None and job.payload == b"tick" and time.monotonic() - start < 2.5
    doc = client.inspect(job)
    name, _, tick = (doc.key or "").partition("@")
    assert name == "pulse" and tick.isdigit() and int(tick) in [sched.created_at + 1000 * n for n in range(1, 4)]
    assert (doc.priority, doc.max_attempts) == (3, 2)
    event = events.next_event(2.5)
    assert (event.event, event.id, event.schedule, event.tick) == ("scheduled", job.id, "pulse", int(tick))
    events.unsubscribe()
    worker.ack(job, attempt=job.attempt)
    assert client.schedules()[0].last_tick >= int(tick)

    client.unschedule("pulse")
    assert client.schedules() == []
    with pytest.raises(docket.NotFound):
        client.unschedule("pulse")


def test_schedule_pause_resume_and_cron(client):
    client.schedule("nightly", "reports", cron="0 3 * * *", tz="Europe/Berlin", catchup="none", ttl="1h")
    client.schedule("hourly", "reports", cron="@hourly")
    names = [s.name for s in client.schedules()]
    assert names == ["hourly", "nightly"]  # by name
    nightly = client.schedules()[1]
    assert (nightly.cron, nightly.tz, nightly.catchup, nightly.every_ms) == (
        "0 3 * * *", "Europe/Berlin", "none", None)
    gaps = [b - a for a, b in zip(nightly.next, nightly.next[1:])]
    assert len(nightly.next) == 3 and all(g in (23 * 3_600_000, 24 * 3_600_000, 25 * 3_600_000) for g in gaps)
    client.pause_schedule("nightly")
    paused = [s for s in client.schedules() if s.name == "nightly"][0]
    assert paused.paused is True and paused.next == []
    client.resume_schedule("nightly")
    resumed = [s for s in client.schedules() if s.name == "nightly"][0]
    assert resumed.paused is False and resumed.next == nightly.next
    for call in (lambda: client.pause_schedule("nope"), lambda: client.resume_schedule("nope")):
        with pytest.raises(docket.NotFound):
            call()
    with pytest.raises(docket.BadOption):  # refused by the server, with the reason
        client.schedule("broken", "reports", cron="61 * * * *")
    with pytest.raises(docket.BadOption):
        client.schedule("broken", "reports", cron="@daily", tz="Not/AZone")
    client.unschedule("hourly")
    client.unschedule("nightly")
    assert client.schedules() == []


# --------------------------------------------------------------------------
# Expiry against docketd


def test_enqueue_ttl_and_expires(client):
    before = now_ms()
    jid = client.enqueue("exp", "x", ttl="1h").id
    doc = client.inspect(jid)
    assert doc.state == "waiting" and doc.expires_at == doc.enqueued_at + 3_600_000
    assert client.inspect(client.enqueue("exp", "y").id).expires_at is None

    future = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)
    jid = client.enqueue("exp", "z", expires=future).id
    assert abs(client.inspect(jid).expires_at - int(future.timestamp() * 1000)) <= 1

    past = before - 60_000
    gone = client.enqueue("exp", "too late", expires=past).id
    doc = client.inspect(gone)
    assert (doc.state, doc.expires_at) == ("dead", past)
    assert doc.last_error.startswith("expired")
    assert client.wait(gone, timeout=0).dead

    client.pause("exp-held")
    short = client.enqueue("exp-held", "x", ttl="200ms").id
    outcome = client.wait(short, timeout=3)
    assert outcome.dead and outcome.error.startswith("expired")
    assert [j.id for j in client.list("exp-held", "dead").jobs] == [short]
    with pytest.raises(docket.BadArgument):
        client.enqueue("exp", "x", ttl=30, expires=past)

    rid = client.route("expiring.*", "exp-routed", ttl="10m")  # counted from each job's ENQ
    (routed,) = client.publish_routed("expiring.one", b"r")
    doc = client.inspect(routed)
    assert doc.expires_at == doc.enqueued_at + 600_000
    client.unroute(rid)


# --------------------------------------------------------------------------
# The asyncio client


def test_aio_browse_schedule_and_expiry(url):
    async def main():
        async with aio.connect(url, request_timeout=5) as c, aio.connect(url, request_timeout=5) as worker:
            ids = [(await c.enqueue("abrowse", f"j{i}")).id for i in range(25)]
            page = await c.list("abrowse", limit=10)
            assert isinstance(page, aio.JobPage) and [j.id for j in page.jobs] == ids[:10]
            page2 = await c.list("abrowse", "waiting", page.next, 10)
            assert [j.id for j in page2.jobs] == ids[10:20]
            assert [j.id async for j in c.list_all("abrowse", page_size=10)] == ids
            assert await c.purge("abrowse", "waiting") == 25
            assert [j async for j in c.list_all("abrowse")] == []

            later = await c.enqueue("apromo", "later", delay="1h")
            await c.promote(later)
            job = await c.reserve("apromo", timeout=0)
            assert job is not None and job.id == later.id
            with pytest.raises(aio.NotDelayed):
                await c.promote((await c.enqueue("apromo", "w")).id)
            await c.ack(job, attempt=job.attempt)
            (done,) = (await c.list("apromo", "completed")).jobs
            assert done.id == later.id

            await c.schedule("apulse", "abeat", "tick", every="1s")
            (sched,) = await c.schedules()
            assert (sched.name, sched.queue, sched.every_ms, sched.paused) == ("apulse", "abeat", 1000, False)
            job = await worker.reserve("abeat", timeout=2.5)
            assert job is not None and job.payload == b"tick"
            assert ((await c.inspect(job)).key or "").startswith("apulse@")
            await c.pause_schedule("apulse")
            assert (await c.schedules())[0].paused is True
            await c.resume_schedule("apulse")
            assert (await c.schedules())[0].next
            await c.unschedule("apulse")
            with pytest.raises(aio.NotFound):
                await c.unschedule("apulse")

            gone = (await c.enqueue("aexp", "x", expires=now_ms() - 1000)).id
            doc = await c.inspect(gone)
            assert doc.state == "dead" and doc.expires_at is not None
            assert (await c.inspect((await c.enqueue("aexp", "y", ttl=60)).id)).expires_at is not None

    run(main())


def test_schedules_come_in_pages(client):
    names = ["s%03d" % i for i in range(5)]
    for name in reversed(names):
        client.schedule(name, "paged", b"", every=3600)
    assert [s.name for s in client.schedules(limit=2)] == names[:2]
    assert [s.name for s in client.schedules("s001", 2)] == names[2:4]
    assert client.schedules("s004") == []
    assert [s.name for s in client.schedules_all(page_size=2)] == names
    with pytest.raises(docket.BadArgument):
        client.schedules_all(page_size=0)


def test_children_come_in_pages(client):
    parent = client.enqueue("kids", b"p").id
    kids = [client.enqueue("kids", b"k", after=[parent]).id for _ in range(5)]
    first = client.children(parent, limit=2)
    assert (first.id, first.children, first.next) == (parent, kids[:2], kids[1])
    last = client.children(parent, after=kids[3])
    assert (last.children, last.next, last.last) == ([kids[4]], None, True)
    assert list(client.children_all(parent, page_size=2)) == kids
    assert client.children(kids[0]).children == []
    with pytest.raises(docket.NotFound):
        client.children(999999)
    with pytest.raises(docket.BadArgument):
        client.children_all(parent, page_size=0)


def test_aio_children_come_in_pages(url):
    async def main():
        async with aio.connect(url, request_timeout=5) as c:
            parent = (await c.enqueue("akids", b"p")).id
            kids = [(await c.enqueue("akids", b"k", after=[parent])).id for _ in range(3)]
            page = await c.children(parent, limit=2)
            assert isinstance(page, aio.ChildrenPage) and page.children == kids[:2] and page.next == kids[1]
            assert [child async for child in c.children_all(parent, page_size=2)] == kids

    run(main())
