"""Job verbs against a real docketd."""

from __future__ import annotations

import threading
import time

import pytest

import docketd_client as docket


def test_enqueue_reserve_ack(client):
    r = client.enqueue("emails", b"hello world")
    assert r == docket.EnqueueResult(1, False)
    job = client.reserve("emails", timeout=0)
    assert (job.id, job.queue, job.attempt, job.payload) == (1, "emails", 1, b"hello world")
    client.ack(job, "sent")
    doc = client.inspect(1)
    assert doc["state"] == "completed"
    assert doc["result"] == "sent"
    assert client.reserve("emails", timeout=0) is None


def test_reserve_waits_and_times_out(client, make_client):
    start = time.monotonic()
    assert client.reserve("empty", timeout=0.2) is None
    assert 0.15 <= time.monotonic() - start < 2

    producer = make_client()
    threading.Timer(0.2, lambda: producer.enqueue("later", b"x")).start()
    job = client.reserve(["nothing", "later"], timeout=5)
    assert job is not None and job.queue == "later" and job.payload == b"x"
    client.ack(job.id)


def test_options_are_sent_and_read(client):
    r = client.enqueue(
        "opts", "x", priority=-5, attempts=7, backoff=docket.fixed(2), jitter=0.25, lease=0.75, key="k-1"
    )
    doc = client.inspect(r.id)
    assert doc["priority"] == -5
    assert doc["max_attempts"] == 7
    assert doc["lease_ms"] == 750
    assert doc["key"] == "k-1"
    assert doc["payload_bytes"] == 1
    assert client.enqueue("opts", "y", key="k-1") == docket.EnqueueResult(r.id, True)

    d = client.enqueue("opts", "later", delay="5s")
    assert client.inspect(d.id)["state"] == "delayed"
    a = client.enqueue("opts", "at", at=int(time.time()) + 60)
    assert client.inspect(a.id)["state"] == "delayed"


def test_priority_order(client):
    client.enqueue("p", "low", priority=5)
    client.enqueue("p", "high", priority=-5)
    client.enqueue("p", "mid")
    order = [client.reserve("p", timeout=0).payload for _ in range(3)]
    assert order == [b"high", b"mid", b"low"]


def test_fail_with_retries_until_dead(client):
    jid = client.enqueue("work", b"job", attempts=3, backoff="fixed:100ms").id
    job = client.reserve("work", timeout=0)
    out = client.fail(job, b"boom")
    assert out == docket.FailOutcome("retry", 100) and tuple(out) == ("retry", 100) and out.retrying
    assert client.reserve("work", timeout=0) is None  # delayed by the backoff
    job = client.reserve("work", timeout=5)
    assert (job.id, job.attempt) == (jid, 2)
    assert tuple(client.fail(job, "again", retry=0)) == ("retry", 0)
    job = client.reserve("work", timeout=5)
    assert job.attempt == 3
    out = client.fail(job, "last")
    assert tuple(out) == ("dead",) and out.dead
    doc = client.inspect(jid)
    assert (doc["state"], doc["attempts"], doc["last_error"]) == ("dead", 3, "last")
    # The attempt history: each failure with its number, times and reason.
    assert [(a.attempt, a.error) for a in doc.failed_attempts] == [(1, "boom"), (2, "again"), (3, "last")]
    assert all(isinstance(a, docket.FailedAttempt) and a.started_at <= a.ended_at for a in doc.failed_attempts)


def test_fail_retry_no_and_retry_after(client):
    a = client.enqueue("w", "a").id
    job = client.reserve("w", timeout=0)
    assert client.fail(job, "fatal", retry=False).dead
    b = client.enqueue("w", "b").id
    job = client.reserve("w", timeout=0)
    assert job.id == b
    assert tuple(client.fail(job, retry="1500ms")) == ("retry", 1500)
    assert client.inspect(a)["state"] == "dead"


def test_progress_and_touch(client, make_client):
    jid = client.enqueue("prog", "x").id
    client.reserve("prog", timeout=0)
    client.progress(jid, 50, "half way")
    client.touch(jid)
    doc = client.inspect(jid)
    assert (doc["progress"], doc["progress_note"]) == (50, "half way")
    with pytest.raises(docket.BadArgument):
        client.progress(jid, 101)
    other = make_client()
    with pytest.raises(docket.NotHeld) as info:
        other.touch(jid)
    assert info.value.code == "NOT_HELD"
    with pytest.raises(docket.NotHeld):
        other.ack(jid)
    client.ack(jid)


def test_inspect_dead_retry_delete(client):
    ids = [client.enqueue("d", str(i)).id for i in range(3)]
    for _ in ids:
        job = client.reserve("d", timeout=0)
        client.fail(job, f"broken {job.id}", retry=False)
    dead = client.dead("d")
    assert [j["id"] for j in dead] == ids
    assert [j["last_error"] for j in dead] == [f"broken {i}" for i in ids]
    assert [j["id"] for j in client.dead("d", limit=1)] == ids[:1]

    client.retry(ids[0])
    assert client.inspect(ids[0])["state"] == "waiting"
    with pytest.raises(docket.NotDead):
        client.retry(ids[0])
    assert client.retry_queue("d") == 2
    assert client.dead("d") == []
    client.delete(ids[0])
    with pytest.raises(docket.NotFound):
        client.inspect(ids[0])
    with pytest.raises(docket.NotFound):
        client.delete(ids[0])


def test_server_errors_map_to_classes(client):
    with pytest.raises(docket.BadArgument):
        client.enqueue("q", "x", lease=0)  # the client refuses a zero lease before sending
    with pytest.raises(docket.BadOption):
        client._request("enqueue", b"ENQ q lease=0s 1\r\nx\r\n")  # as the server does
    with pytest.raises(docket.NotFound):
        client.ack(12345)
    # BAD_ID / BAD_QUEUE cannot come from the typed API (it validates), so
    # send raw commands through the same FIFO
    with pytest.raises(docket.BadId):
        client._request("ack", b"ACK abc\r\n")
    with pytest.raises(docket.BadQueue):
        client._request("enqueue", b"ENQ bad.queue 1\r\nx\r\n")
    with pytest.raises(docket.BadArgument):
        client.enqueue("bad.queue", "x")
    with pytest.raises(docket.BadArgument):
        client.enqueue("q", "x", delay=1, at=time.time())
    assert client.enqueue("q", "fine").id >= 1  # still in step


def test_pipelined_from_many_threads(client):
    errors = []

    def produce(t):
        try:
            for i in range(25):
                r = client.enqueue("many", f"{t}-{i}", key=f"{t}-{i}")
                assert not r.duplicate
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=produce, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert not errors
    seen = set()
    while True:
        job = client.reserve("many", timeout=0)
        if job is None:
            break
        seen.add(job.text)
        client.ack(job)
    assert len(seen) == 200


def test_abandoned_reserve_gives_the_job_back(url, make_client):
    # The client gives up waiting while the server still has the RESERVE, and
    # a command was sent behind it (so no CANCEL can end it): when the job
    # comes, the client hands it back at once with FAIL retry=0. (reserve()
    # itself always waits longer than the server; force a short client-side
    # wait to get there)
    from docketd_client import protocol

    slow = docket.Client(url)
    try:
        reserving = threading.Thread(
            target=lambda: pytest.raises(docket.Timeout, slow._request, "reserve", protocol.encode_reserve("late", timeout=3), 0.5))
        reserving.start()
        time.sleep(0.1)
        flushing = threading.Thread(target=slow.flush)  # behind the RESERVE
        flushing.start()
        reserving.join()
        producer = make_client()
        jid = producer.enqueue("late", "x", backoff="fixed:10s").id
        flushing.join()
        worker = make_client()
        job = worker.reserve("late", timeout=3)
        assert job is not None and (job.id, job.attempt) == (jid, 2)
    finally:
        slow.close()


def test_help(client):
    assert "RESERVE" in client.help().upper()


@pytest.mark.parametrize("call", [
    # the order of the queues is their priority: a dict or a set has none the caller chose
    lambda c: c.reserve({"q": 1}, timeout=0),
    lambda c: c.reserve({"a", "b"}, timeout=0),
    lambda c: c.reserve(b"q", timeout=0),
    # the wire takes whole unix seconds: a fraction is refused, not rounded
    lambda c: c.enqueue("q", "x", at=1700000000.5),
    # `$` matched before a trailing newline: these reached the control line
    lambda c: c.enqueue("q\n", "x"),
    lambda c: c.reserve("q\n", timeout=0),
    lambda c: c.reserve("q", timeout="5s\n"),
    lambda c: c.enqueue("q", "x", delay="5s\n"),
    lambda c: c.inspect("5\n"),
])
def test_arguments_outside_the_docs_are_refused_before_anything_is_sent(client, call):
    with pytest.raises(docket.BadArgument):
        call(client)
    assert client.queues() == []  # nothing was enqueued, and the connection still answers


def test_whole_and_datetime_at_are_sent_and_run_no_sooner(client):
    import datetime

    whole = client.enqueue("at-ok", "x", at=1700000000.0)
    assert client.inspect(whole.id)["state"] == "waiting"  # in the past: runs now
    later = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=60.4)
    job = client.enqueue("at-ok", "y", at=later)
    assert client.inspect(job.id)["state"] == "delayed"
