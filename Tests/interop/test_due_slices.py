"""Jobs that come due together are made ready a slice per loop pass, other clients served between.

A million jobs delayed to the same millisecond used to come due in one call on the loop: 1.5 s
in which no other client was answered; a worker that closed holding a million jobs, 10 s. The test orders rather than times: jobs delayed with
`at=` come due in the same millisecond, and another client asks QUEUE, one request at a time,
until none is delayed; a slice per pass means some answer shows the move under way (some jobs
waiting, some still delayed), where the old server only ever showed all of them delayed or
none.
"""

from __future__ import annotations

import time

import pytest

from conftest import connect_raw as connect, counts_until_none, pipelined, queue_counts

pytestmark = pytest.mark.docketd_only("docketd's job timer")

JOBS = 20_000


def test_jobs_due_together_are_made_ready_between_other_clients_commands(start_process):
    port = int(start_process().url.rsplit(":", 1)[1])
    producer = connect(port)
    observer = connect(port)
    # Far enough ahead that every ENQ is acknowledged before the time comes: on a busy machine
    # the first margin may not be, and the test tries again, further ahead, on another queue.
    for margin in (3, 8, 20):
        queue = b"due%d" % margin
        due = int(time.time()) + margin
        pipelined(producer, b"ENQ %s at=%d 1\r\nx\r\n" % (queue, due) * JOBS)
        if queue_counts(observer, queue)["delayed"] == JOBS:
            break
    else:
        pytest.fail("the jobs came due before the test could watch them, three times")
    seen = []
    while True:
        counts = queue_counts(observer, queue)
        seen.append((counts["waiting"], counts["delayed"]))
        if counts["delayed"] == 0:
            break
    assert seen[-1] == (JOBS, 0)
    under_way = [s for s in seen if s[0] > 0 and s[1] > 0]
    assert under_way, f"never seen part way: {seen[-3:]} of {len(seen)} answers"
    producer.close()
    observer.close()


def test_the_jobs_of_a_worker_that_closes_fail_between_other_clients_commands(start_process):
    port = int(start_process().url.rsplit(":", 1)[1])
    producer = connect(port)
    pipelined(producer, b"ENQ lost 1\r\nx\r\n" * JOBS)
    worker = connect(port)
    pipelined(worker, b"RESERVE lost timeout=0\r\n" * JOBS)
    observer = connect(port)
    assert queue_counts(observer, b"lost")["active"] == JOBS
    worker.close()
    seen = counts_until_none(observer, b"lost", "active")
    # Each lost attempt has its retry ahead (after a backoff of a second by default).
    after = queue_counts(observer, b"lost")
    assert after["delayed"] + after["waiting"] == JOBS
    under_way = [active for active in seen if 0 < active < JOBS]
    assert under_way, f"never seen part way: {seen[-3:]} of {len(seen)} answers"
    producer.close()
    observer.close()
