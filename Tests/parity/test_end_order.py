"""Jobs that end together (leases that run out in one millisecond, expiries that come
together) and the dead jobs retention keeps: both stores must agree on their order.

The embedded store ends such jobs one at a time: leases by their end, then in the order they
were handed out; expiries by their time, then by id. Its dead history is in death order, and
`keep_dead` keeps those that died last. PostgreSQL ended them in one UPDATE, in whatever order it
updated the rows, and trimmed the dead by id.

    DOCKETD=.build/debug/docketd scripts/with-postgres.sh python3 -m pytest -q Tests/parity/test_end_order.py
"""
from __future__ import annotations

import json
import os
import time

import pytest

from parity import Postgres, differences, run_side_by_side

DOCKETD = os.environ.get("DOCKETD")
PG_URL = os.environ.get("DOCKET_TEST_POSTGRES")
pytestmark = pytest.mark.skipif(not DOCKETD or not PG_URL, reason="needs DOCKETD and DOCKET_TEST_POSTGRES")

RESERVE = "RESERVE q timeout=0\r\n"


def enq(payload: str, options: str = "") -> str:
    return "ENQ q %s%d\r\n%s\r\n" % (options + " " if options else "", len(payload), payload)


def listed_ids(replies: list[str]) -> list[int]:
    """The ids in the last JSON reply (DEAD answers an array of jobs)."""
    return [job["id"] for job in json.loads([r for r in replies if r.startswith("JSON ")][-1].split(" ", 1)[1])]


def claimed(replies: list[str]) -> list[str]:
    return [r.split("\n", 1)[1] for r in replies if r.startswith("JOB ")]


def same_on_both(script, pg_clock_stopped: bool):
    lmdb, pg = run_side_by_side(DOCKETD, Postgres(PG_URL), script, pg_clock_stopped=pg_clock_stopped)
    found = differences(lmdb, pg)
    assert not found, "the stores differ:\n" + "\n".join(found)
    return lmdb, pg


def test_keep_dead_keeps_the_jobs_that_died_last():
    # The database's clock is stopped: both deaths share a millisecond, so only the order
    # they died in tells them apart. Job 2 dies first, job 1 last: job 1 is kept.
    script = [
        ("a", "QUEUE q keep_dead=1\r\n" + enq("one", "attempts=1") + enq("two", "attempts=1") + RESERVE * 2
         + "FAIL 2\r\nFAIL 1\r\nDEAD q\r\n"),
    ]
    lmdb, pg = same_on_both(script, pg_clock_stopped=True)
    for name, transcript in (("lmdb", lmdb), ("pg", pg)):
        kept = listed_ids(transcript[-1][1])
        assert kept == [1], "%s kept %r, not the job that died last" % (name, kept)


def test_leases_that_end_together_put_their_jobs_back_in_hand_out_order():
    # `one` fails once and goes back behind `two`; one worker then takes both in one pass
    # (two first), so their leases end in the same millisecond on PostgreSQL (one claim, one
    # clock reading), and at most a millisecond apart on the embedded store. Retried at once,
    # they go back in line in the order they were handed out: two, then one.
    opts = "backoff=fixed:0 lease=1s attempts=5"
    script = [
        ("a", enq("one", opts) + enq("two", opts) + RESERVE + "FAIL 1\r\n"),
        ("w", RESERVE * 2),
        ("sleep", 1.8),
        ("a", enq("three") + "LIST q\r\n" + RESERVE * 3),
    ]
    lmdb, pg = same_on_both(script, pg_clock_stopped=False)
    assert claimed(lmdb[1][1]) == ["two", "one"], lmdb[1][1]
    for name, transcript in (("lmdb", lmdb), ("pg", pg)):
        got = claimed(transcript[-1][1])
        assert got == ["two", "one", "three"], "%s ran %r" % (name, got)


def test_jobs_whose_expiry_came_together_die_in_expiry_order():
    # Both expiries are long past at the ENQ, the later one on the lower id: both stores find
    # them at their next look for expiries, and the job whose expiry came first dies first, so
    # DEAD lists it first.
    past = int(time.time() * 1000) - 60_000
    script = [
        ("a", enq("late", "expires=%d" % past) + enq("early", "expires=%d" % (past - 1000))),
        ("sleep", 0.3),
        ("a", "DEAD q\r\n"),
    ]
    lmdb, pg = same_on_both(script, pg_clock_stopped=True)
    for name, transcript in (("lmdb", lmdb), ("pg", pg)):
        died = listed_ids(transcript[-1][1])
        assert died == [2, 1], "%s listed the expired %r, not by expiry" % (name, died)
