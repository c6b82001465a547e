"""Attempt fencing, leases and delivery ids against a real docketd (issue #20).

These need a docketd that sends ``lease=``/``delivery=`` in JOB and takes
``attempt=`` on ACK, FAIL, PROGRESS and TOUCH; against an older one they
are skipped, after asking the server what it does.
"""

from __future__ import annotations

import time

import pytest

import docketd_client as docket

from conftest import lmdb_only


def _skip_without_job_fields(client):
    client.enqueue("probe-fields", "x")
    job = client.reserve("probe-fields", timeout=0)
    client.ack(job.id)
    if job.lease_ms is None or job.delivery is None:
        pytest.skip("this docketd does not send lease= and delivery= in JOB yet")


def _skip_without_fencing(client):
    client.enqueue("probe-fencing", "x")
    job = client.reserve("probe-fencing", timeout=0)
    try:
        client.touch(job.id, attempt=job.attempt)
    except docket.BadOption:
        pytest.skip("this docketd does not take attempt= on job commands yet")
    finally:
        client.ack(job.id)


def test_reserve_reads_lease_and_delivery(client):
    _skip_without_job_fields(client)
    jid = client.enqueue("fields", "x", lease=1.5, backoff="fixed:0s").id
    first = client.reserve("fields", timeout=0)
    assert (first.id, first.attempt, first.lease_ms) == (jid, 1, 1500)
    client.fail(first, "again", retry=0)
    second = client.reserve("fields", timeout=1)
    assert (second.id, second.attempt, second.lease_ms) == (jid, 2, 1500)
    assert isinstance(first.delivery, int) and isinstance(second.delivery, int)
    assert first.delivery != second.delivery
    client.ack(second)


@lmdb_only  # a restarted embedded store ends held attempts at once; PostgreSQL when their lease ends
def test_delivery_ids_never_repeat_across_restarts_and_crashes(start_docketd):
    first = start_docketd()
    seen = []
    client = docket.Client(first.url, request_timeout=5)
    try:
        _skip_without_job_fields(client)
        jid = client.enqueue("d", "x", attempts=10, backoff="fixed:0s").id
        server = first
        for how in ("kill", "sigterm", "kill"):
            job = client.reserve("d", timeout=5)
            assert job is not None and job.id == jid
            seen.append(job.delivery)
            if how == "kill":
                server.kill()  # the reservation may not have reached the disk
            else:
                server.stop()
            server = start_docketd(port=first.port, data_dir=first.data_dir)
            assert client.reserve("nothing", timeout=0) is None  # reconnected
        job = client.reserve("d", timeout=5)
        seen.append(job.delivery)
        client.ack(job, attempt=job.attempt)
    finally:
        client.close()
    assert all(isinstance(d, int) for d in seen)
    assert len(set(seen)) == len(seen), seen


def test_a_stale_attempt_is_fenced(client):
    _skip_without_fencing(client)
    jid = client.enqueue("stale", "x", lease="300ms", backoff="fixed:0s").id
    old = client.reserve("stale", timeout=0)
    assert old.attempt == 1
    time.sleep(0.7)  # the lease runs out: the job is waiting again
    new = client.reserve("stale", timeout=2)  # the same connection holds it again
    assert (new.id, new.attempt) == (jid, 2)
    # everything the run of attempt 1 might still send is refused
    with pytest.raises(docket.NotHeld):
        client.touch(jid, attempt=old.attempt)
    with pytest.raises(docket.NotHeld):
        client.progress(jid, 90, "late", attempt=old.attempt)
    with pytest.raises(docket.NotHeld):
        client.ack(jid, "from the old run", attempt=old.attempt)
    with pytest.raises(docket.NotHeld):
        client.fail(jid, "from the old run", retry=False, attempt=old.attempt)
    client.touch(jid, attempt=new.attempt)
    client.ack(jid, "from the new run", attempt=new.attempt)
    doc = client.inspect(jid)
    assert (doc["state"], doc["attempts"], doc["result"]) == ("completed", 2, "from the new run")
    assert doc["progress"] == 0  # the late PROGRESS was not recorded


def test_docket_api_reserve_names_lease_and_delivery(client):
    _skip_without_job_fields(client)
    jid = client.enqueue("api", "payload", lease="2s").id
    msg = client.request("$DOCKET.API.RESERVE.api", b"", timeout=5)
    headers = msg.headers or {}
    assert msg.data == b"payload"
    assert headers.get("Docket-Job-Id") == str(jid) and headers.get("Docket-Attempt") == "1"
    assert headers.get("Docket-Lease-Ms") == "2000", headers
    assert headers.get("Docket-Delivery", "").isdigit(), headers


def test_docket_api_fences_a_stale_attempt_on_the_shared_connection(client):
    _skip_without_fencing(client)
    jid = client.enqueue("apistale", "x", lease="300ms", backoff="fixed:0s").id
    first = client.request("$DOCKET.API.RESERVE.apistale", b"", timeout=5)
    assert first.headers["Docket-Attempt"] == "1"
    time.sleep(0.7)  # the lease runs out; the same connection takes the job again
    second = client.request("$DOCKET.API.RESERVE.apistale", b"", headers={"Docket-Options": "timeout=2s"}, timeout=5)
    assert (second.headers["Docket-Job-Id"], second.headers["Docket-Attempt"]) == (str(jid), "2")
    stale = client.request(f"$DOCKET.API.ACK.{jid}", b"old", headers={"Docket-Options": "attempt=1"}, timeout=5)
    assert stale.json()["error"]["code"] == "NOT_HELD", stale.data
    fresh = client.request(f"$DOCKET.API.ACK.{jid}", b"new", headers={"Docket-Options": "attempt=2"}, timeout=5)
    assert fresh.json() == {"ok": True}, fresh.data
    doc = client.inspect(jid)
    assert (doc["state"], doc["attempts"], doc["result"]) == ("completed", 2, "new")
