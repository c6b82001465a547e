"""Jobs that take a new place in their queue's ready order within one millisecond: both stores
must run them, and LIST them, in the same order.

A job re-queued (FAIL with a retry, a worker lost, RETRY of a dead job, a child released by
its parent, PROMOTE, ENQ replace=true of a delayed job) goes behind the jobs already waiting
with its priority, even when they became runnable in the same millisecond. The embedded store
orders by the place a job took; PostgreSQL ordered such ties by id, so a re-queued job with a
lower id jumped the line. Here the database's clock is stopped for the whole script, so every
tie that a fast pipeline hits only now and then is hit every time.

    DOCKETD=.build/debug/docketd scripts/with-postgres.sh python3 -m pytest -q Tests/parity
"""
from __future__ import annotations

import json
import os

import pytest

from parity import Postgres, differences, run_side_by_side

DOCKETD = os.environ.get("DOCKETD")
PG_URL = os.environ.get("DOCKET_TEST_POSTGRES")
pytestmark = pytest.mark.skipif(not DOCKETD or not PG_URL, reason="needs DOCKETD and DOCKET_TEST_POSTGRES")

RESERVE = "RESERVE q timeout=0\r\n"


def enq(payload: str, options: str = "") -> str:
    return "ENQ q %s%d\r\n%s\r\n" % (options + " " if options else "", len(payload), payload)


def claimed_and_listed(replies: list[str]) -> tuple[list[str], list[str]]:
    """The payloads of the JOBs after the last LIST, in order, and the jobs that LIST named, in
    its order: by payload if claimed after it, otherwise as `#<id>`."""
    last_list = max(i for i, r in enumerate(replies) if r.startswith("JSON "))
    listed = json.loads(replies[last_list].split(" ", 1)[1])["jobs"]
    jobs = [r for r in replies[last_list:] if r.startswith("JOB ")]
    payloads = {int(r.split(" ")[1]): r.split("\n", 1)[1] for r in jobs}
    return [r.split("\n", 1)[1] for r in jobs], [payloads.get(job["id"], "#%d" % job["id"]) for job in listed]


def check(script, expected: list[str], listed_too: list[str] | None = None, pg_clock_stopped: bool = True) -> None:
    """Runs `script` on both stores, with PostgreSQL's clock stopped unless told otherwise. Its
    last step LISTs the waiting jobs and then RESERVEs them: both stores claim `expected`, and
    list them in that order (or list `listed_too`: jobs that cannot start yet are listed in
    their place)."""
    lmdb, pg = run_side_by_side(DOCKETD, Postgres(PG_URL), script, pg_clock_stopped=pg_clock_stopped)
    for name, transcript in (("lmdb", lmdb), ("pg", pg)):
        claimed, listed = claimed_and_listed(transcript[-1][1])
        assert claimed == expected, "%s claimed %r, not %r" % (name, claimed, expected)
        assert listed == (listed_too or expected), "%s listed %r, claimed %r" % (name, listed, claimed)
    found = differences(lmdb, pg)
    assert not found, "the stores differ:\n" + "\n".join(found)


def drain(count: int) -> str:
    return "LIST q\r\n" + RESERVE * count


def test_a_failed_job_retried_at_once_goes_behind_the_waiting_jobs():
    script = [
        ("a", enq("a", "backoff=fixed:0") + enq("b") + RESERVE + "FAIL 1\r\n" + enq("c") + drain(3)),
    ]
    check(script, ["b", "a", "c"])


def test_a_job_whose_worker_is_lost_goes_behind_the_waiting_jobs():
    script = [
        ("a", enq("a", "backoff=fixed:0") + enq("b")),
        ("w", RESERVE),
        ("close", "w"),
        ("sleep", 0.3),
        ("a", enq("c") + drain(3)),
    ]
    check(script, ["b", "a", "c"])


def test_a_retried_dead_job_goes_behind_the_waiting_jobs():
    script = [
        ("a", enq("a", "attempts=1") + enq("b") + RESERVE + "FAIL 1\r\nRETRY 1\r\n" + enq("c") + drain(3)),
    ]
    check(script, ["b", "a", "c"])


def test_a_queue_retried_at_once_runs_its_dead_jobs_in_the_order_they_died():
    # The clock runs: the deaths are milliseconds apart, and the revived jobs all take the
    # same run time (RETRY's), so only their places order them.
    script = [
        ("a", enq("a", "attempts=1") + enq("b", "attempts=1") + enq("c") + RESERVE * 2 + "FAIL 2\r\n"),
        ("sleep", 0.05),
        ("a", "FAIL 1\r\n"),
        ("a", "RETRY queue=q\r\n" + enq("d") + drain(4)),
    ]
    check(script, ["c", "b", "a", "d"], pg_clock_stopped=False)


def test_a_released_child_goes_behind_the_waiting_jobs():
    script = [
        ("a", enq("parent") + enq("child", "after=1") + enq("w") + RESERVE + "ACK 1\r\n" + enq("z") + drain(3)),
    ]
    check(script, ["w", "child", "z"])


def test_a_promoted_job_goes_behind_the_waiting_jobs():
    script = [
        ("a", enq("d", "delay=1h") + enq("w") + "PROMOTE 1\r\n" + enq("z") + drain(3)),
    ]
    check(script, ["w", "d", "z"])


def test_a_delayed_job_replaced_to_run_now_goes_behind_the_waiting_jobs():
    script = [
        ("a", enq("d", "key=k delay=1h") + enq("w") + enq("z") + enq("d2", "key=k replace=true") + drain(3)),
    ]
    check(script, ["w", "z", "d2"])


def test_a_throttled_job_keeps_its_place():
    # Not at fault: it waits again where it was, ahead of the jobs enqueued after it (its
    # group is held, so the others run meanwhile).
    script = [
        ("a", enq("a", "group=g") + enq("b") + RESERVE + "FAIL 1 throttle=1h scope=group\r\n" + enq("c") + drain(3)),
    ]
    check(script, ["b", "c"], listed_too=["#1", "b", "c"])
