"""The same scripts of job commands against docketd on the embedded store and on PostgreSQL:
every reply a client sees must be the same (ids, times and lease numbers aside).

    DOCKETD=.build/debug/docketd scripts/with-postgres.sh python3 -m pytest -q Tests/parity

Skipped without DOCKETD or without a PostgreSQL ($DOCKET_TEST_POSTGRES, which
scripts/with-postgres.sh sets).
"""
from __future__ import annotations

import os

import pytest

from parity import Postgres, differences, renumbered, run_side_by_side

DOCKETD = os.environ.get("DOCKETD")
PG_URL = os.environ.get("DOCKET_TEST_POSTGRES")
pytestmark = pytest.mark.skipif(not DOCKETD or not PG_URL, reason="needs DOCKETD and DOCKET_TEST_POSTGRES")


def enq(queue: str, payload: str, options: str = "") -> str:
    return "ENQ %s %s%d\r\n%s\r\n" % (queue, options + " " if options else "", len(payload), payload)


def check(script, flags=(), renumber=False, pg_nodes=1):
    """`renumber`: job ids compared by order of first appearance (see `renumbered`);
    `pg_nodes`: docketd on the database (connections named "2…" use the second)."""
    lmdb, pg = run_side_by_side(DOCKETD, Postgres(PG_URL), script, flags, pg_nodes)
    if renumber:
        lmdb, pg = renumbered(lmdb), renumbered(pg)
    found = differences(lmdb, pg)
    assert not found, "the stores differ:\n" + "\n".join(found)


def test_priorities_and_fifo():
    script = [
        ("a", enq("q", "p5a", "pri=5") + enq("q", "p0a") + enq("q", "pm1", "pri=-1") + enq("q", "p0b") + enq("q", "p5b", "pri=5")
         + enq("q", "p0c", "pri=0")),
        ("a", "RESERVE q timeout=0\r\n" * 7),
    ]
    check(script)


def test_a_time_in_the_past_takes_its_place_at_the_end():
    # at= in the past runs now: behind the jobs already waiting, as a job enqueued now.
    script = [
        ("a", enq("q", "first") + enq("q", "second")),
        ("a", enq("q", "past", "at=1") + enq("q", "third")),
        ("a", "RESERVE q timeout=0\r\n" * 5),
    ]
    check(script)


def test_delays_come_due_in_order():
    script = [
        ("a", enq("q", "late", "delay=600ms") + enq("q", "early", "delay=300ms") + enq("q", "now")),
        ("a", "RESERVE q timeout=0\r\n" * 2),
        ("sleep", 0.4),
        ("a", "RESERVE q timeout=0\r\n" * 2),
        ("sleep", 0.4),
        ("a", "RESERVE q timeout=0\r\n" * 2 + "INSPECT 1\r\nINSPECT 2\r\n"),
    ]
    check(script)


def test_retries_backoff_and_dead():
    script = [
        ("a", enq("q", "one", "attempts=2 backoff=fixed:200ms") + enq("q", "two", "attempts=1")),
        ("a", "RESERVE q timeout=0\r\nRESERVE q timeout=0\r\n"),
        ("a", "FAIL 1 3\r\nbad\r\nFAIL 2 5\r\nworse\r\n"),
        ("a", "RESERVE q timeout=0\r\nINSPECT 1\r\nINSPECT 2\r\nDEAD q\r\n"),
        ("sleep", 0.3),
        ("a", "RESERVE q timeout=0\r\n"),
        ("a", "FAIL 1 retry=no\r\nDEAD q\r\nINSPECT 1\r\nRETRY 1\r\nRETRY 1\r\nRESERVE q timeout=0\r\nACK 1\r\nINSPECT 1\r\n"),
        ("a", "RETRY queue=q\r\nRESERVE q timeout=0\r\nFAIL 2 retry=300ms\r\nINSPECT 2\r\nQUEUE q\r\n"),
    ]
    check(script)


def test_a_job_that_died_again_after_a_retry_counts_by_its_last_death():
    # DEAD's order and RETRY queue='s: deaths 2, 3, 1, then 3 again (sleeps keep them apart).
    script = [
        ("a", enq("q", "a", "attempts=1") + enq("q", "b", "attempts=1") + enq("q", "c", "attempts=1")
         + "RESERVE q timeout=0\r\n" * 3 + "FAIL 2\r\n"),
        ("sleep", 0.02),
        ("a", "FAIL 3\r\n"),
        ("sleep", 0.02),
        ("a", "FAIL 1\r\n"),
        ("sleep", 0.02),
        ("a", "RETRY 3\r\nRESERVE q timeout=0\r\nFAIL 3\r\n"),
        ("a", "DEAD q\r\nDEAD q limit=2\r\nRETRY queue=q\r\n" + "RESERVE q timeout=0\r\n" * 3),
    ]
    check(script)


def test_queues_are_sorted_by_bytes_whatever_the_databases_collation():
    # Production databases often collate en-US, which puts a before B and skips _ and -.
    icu = Postgres(PG_URL, " TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'")
    try:
        icu.run("DROP DATABASE IF EXISTS parity_icu_probe")
        icu.run("CREATE DATABASE parity_icu_probe" + icu.create)
        icu.run("DROP DATABASE parity_icu_probe")
    except RuntimeError as refused:
        pytest.skip("this PostgreSQL cannot make an ICU database: %s" % refused)
    names = ["b", "B", "a", "_x", "-y", "A1", "a-b", "a_b"]
    script = [("a", "".join(enq(name, "x") for name in names) + "QUEUES\r\n")]
    lmdb, pg = run_side_by_side(DOCKETD, icu, script)
    found = differences(lmdb, pg)
    assert not found, "the stores differ:\n" + "\n".join(found)


def test_retry_order_against_waiting_jobs():
    script = [
        ("a", enq("q", "a", "backoff=fixed:0") + enq("q", "b")),
        ("a", "RESERVE q timeout=0\r\nFAIL 1\r\n"),
        ("a", enq("q", "c")),
        ("a", "RESERVE q timeout=0\r\n" * 4),
    ]
    check(script)


def test_idempotency_keys():
    # Pipelined: a duplicate, and a replace=true of a job enqueued just before in the same pass
    # (on PostgreSQL, one insert cannot see its own rows: it said `duplicate` and dropped z2).
    script = [
        ("a", enq("q", "x", "key=k1") + enq("q", "y", "key=k1") + enq("q", "z", "key=k2 replace=true")
         + enq("q", "z2", "key=k2 replace=true") + enq("r", "other", "key=k1")),
        ("a", "RESERVE q timeout=0\r\nACK 1\r\n" + enq("q", "again", "key=k1") + "DEL 1\r\n" + enq("q", "again", "key=k1")),
        ("a", enq("q", "kt", "key=k3 key_ttl=1s") + "RESERVE q timeout=0\r\nRESERVE q timeout=0\r\nRESERVE q timeout=0\r\n"),
        ("a", "BATCH 2\r\n" + enq("b", "one", "key=bk") + enq("b", "two", "key=bk") + "RESERVE b timeout=0\r\nRESERVE b timeout=0\r\n"),
    ]
    check(script, flags=["--keep-completed", "0"], renumber=True)


def test_replace_keeps_the_place():
    script = [
        ("a", enq("q", "k-old", "key=k replace=true") + enq("q", "plain")),
        ("a", enq("q", "k-new", "key=k replace=true") + enq("q", "k-delayed", "key=d delay=10s")),
        ("a", enq("q", "k-undelayed", "key=d replace=true")),
        ("a", "RESERVE q timeout=0\r\n" * 4),
    ]
    check(script, renumber=True)


def test_pause_resume_and_concurrency():
    script = [
        ("a", "PAUSE q\r\n" + enq("q", "1") + enq("q", "2") + enq("q", "3") + "RESERVE q timeout=0\r\nQUEUE q\r\n"),
        ("a", "RESUME q\r\nQUEUE q concurrency=1\r\nRESERVE q timeout=0\r\nRESERVE q timeout=0\r\nQUEUE q\r\n"),
        ("a", "ACK 1\r\nRESERVE q timeout=0\r\nRESERVE q timeout=0\r\nQUEUE q concurrency=\r\nRESERVE q timeout=0\r\nQUEUES\r\n"),
    ]
    check(script)


def test_rate_limits():
    script = [
        ("a", "QUEUE q rate=2/500ms\r\n" + "".join(enq("q", str(i)) for i in range(5))),
        ("a", "RESERVE q timeout=0\r\n" * 3 + "QUEUE q\r\n"),
        ("sleep", 0.6),
        ("a", "RESERVE q timeout=0\r\n" * 3),
        ("a", "QUEUE q rate=\r\nQUEUE q group_rate=1/10s\r\n" + enq("q", "g1a", "group=g1") + enq("q", "g1b", "group=g1")
         + enq("q", "g2a", "group=g2")),
        ("a", "RESERVE q timeout=0\r\n" * 4),
    ]
    check(script)


def test_throttles():
    script = [
        ("a", enq("q", "a", "group=g") + enq("q", "b", "group=h") + enq("q", "c")),
        ("a", "RESERVE q timeout=0\r\nFAIL 1 throttle=400ms scope=group\r\n"),
        ("a", "RESERVE q timeout=0\r\nRESERVE q timeout=0\r\nRESERVE q timeout=0\r\nINSPECT 1\r\n"),
        ("a", "FAIL 2 throttle=300ms\r\nRESERVE q timeout=0\r\nQUEUE q\r\n"),
        ("sleep", 0.5),
        ("a", "RESERVE q timeout=0\r\nRESERVE q timeout=0\r\nRESERVE q timeout=0\r\n"),
    ]
    check(script)


def test_progress_touch_and_leases():
    script = [
        ("a", enq("q", "p", "lease=400ms attempts=2 backoff=fixed:0") + "RESERVE q timeout=0\r\n"),
        ("a", "PROGRESS 1 40 4\r\nhalf\r\nTOUCH 1\r\nINSPECT 1\r\nPROGRESS 1 101\r\nPROGRESS 1 50 attempt=2\r\n"),
        ("sleep", 0.7),
        ("b", "RESERVE q timeout=2s\r\n"),
        ("a", "ACK 1\r\nPROGRESS 1 10\r\nINSPECT 1\r\n"),
        ("b", "ACK 1\r\nINSPECT 1\r\n"),
    ]
    check(script)


def test_reserve_timeouts_and_several_queues():
    script = [
        ("a", enq("b", "in-b") + enq("c", "in-c")),
        ("w", "RESERVE a,b,c timeout=0\r\nRESERVE c,b timeout=0\r\nRESERVE a,b,c timeout=200ms\r\nRESERVE a,b,c timeout=0\r\n"),
        ("a", enq("c", "later", "delay=300ms")),
        ("w", "RESERVE a,b,c timeout=2s\r\n"),
        ("w", "RESERVE q timeout=x\r\nRESERVE q timeout=1s timeout=2s\r\nRESERVE bad!q timeout=0\r\n"),
    ]
    check(script)


def test_lost_worker_returns_the_job():
    script = [
        ("a", enq("q", "one", "attempts=2 backoff=fixed:0") + enq("q", "two", "attempts=1")),
        ("w", "RESERVE q timeout=0\r\nRESERVE q timeout=0\r\n"),
        ("close", "w"),
        ("sleep", 0.3),
        ("a", "INSPECT 1\r\nINSPECT 2\r\nRESERVE q timeout=2s\r\nRESERVE q timeout=0\r\nQUEUE q\r\n"),
    ]
    check(script)


def test_dependencies():
    script = [
        ("a", enq("q", "parent") + enq("q", "child", "after=1") + enq("q", "other")),
        ("a", "RESERVE q timeout=0\r\n"),
        ("a", enq("q", "third")),
        ("a", "ACK 1\r\nINSPECT 2\r\n" + "RESERVE q timeout=0\r\n" * 4),
    ]
    check(script)


def test_events_from_the_bridge():
    script = [
        ("e", "SUB $JOB.q.> 1\r\n"),
        ("a", enq("q", "one", "attempts=2 backoff=fixed:0") + enq("q", "two", "delay=200ms")),
        ("a", "RESERVE q timeout=0\r\nPROGRESS 1 50\r\nFAIL 1\r\nRESERVE q timeout=0\r\nACK 1\r\n"),
        ("sleep", 0.4),
        ("a", "RESERVE q timeout=0\r\nFAIL 2 retry=no\r\nRETRY 2\r\nDEL 2\r\n"),
        ("sleep", 0.2),
        ("events", "e"),
    ]
    check(script)


def test_batches_and_parents_act_in_order_with_the_commands_behind_them():
    # On PostgreSQL a BATCH, and an ENQ after= an earlier job, were inserted a transaction
    # later than the commands pipelined behind them: a RESERVE missed the batch, an INSPECT of
    # the child said NOT_FOUND, and a plain ENQ behind the child got the lower id and ran first.
    script = [
        ("a", "BATCH 2\r\n" + enq("q", "b1") + enq("q", "b2", "after=#1") + "RESERVE q timeout=0\r\n" + enq("q", "plain")),
        ("a", "ACK 1\r\n" + enq("q", "child", "after=1") + "INSPECT 4\r\n" + enq("q", "behind") + "RESERVE q timeout=0\r\n" * 5),
        ("a", enq("q", "missing-parent", "after=999") + enq("q", "last") + "RESERVE q timeout=0\r\n"),
    ]
    check(script)


def test_totals_count_the_commands_pipelined_before_them():
    script = [
        ("a", enq("q", "1") + enq("q", "2") + "QUEUE q\r\n"),
        ("a", "RESERVE q timeout=0\r\nACK 1\r\nQUEUE q\r\n"),
    ]
    check(script)


def test_limits_hold_across_two_nodes():
    # On PostgreSQL the workers are on two docketd sharing the database; on the embedded store,
    # on one: a cap, a rate and a pause hold the same.
    script = [
        ("a", "QUEUE q concurrency=2\r\n" + "".join(enq("q", str(i)) for i in range(6))),
        ("w1", "RESERVE q timeout=0\r\n"),
        ("2w", "RESERVE q timeout=0\r\nRESERVE q timeout=0\r\n"),
        ("w1", "ACK 1\r\nRESERVE q timeout=0\r\nRESERVE q timeout=0\r\n"),
        ("2w", "ACK 2\r\nQUEUE q concurrency=none rate=2/1h\r\nRESERVE q timeout=0\r\n"),
        ("w1", "RESERVE q timeout=0\r\nRESERVE q timeout=0\r\n"),
        ("2a", "PAUSE r\r\n" + enq("r", "held")),
        ("w1", "RESERVE r timeout=300ms\r\n"),
        ("2a", "RESUME r\r\n"),
        ("w1", "RESERVE r timeout=2s\r\n"),
    ]
    check(script, pg_nodes=2)


def test_a_slot_freed_on_another_node_goes_to_the_waiting_worker_at_once():
    # On PostgreSQL the worker waits on the second docketd for the slot the first one frees
    # (an ACK, a FAIL, a worker lost): it got the job only at its node's next poll, up to a
    # second later, so each 300 ms RESERVE here timed out most of the time.
    script = [
        ("a", "QUEUE q concurrency=1\r\n" + enq("q", "1") + enq("q", "2") + enq("q", "3", "attempts=1") + enq("q", "4")),
        ("w1", "RESERVE q timeout=0\r\n"),
        ("2w", "RESERVE q timeout=300ms\r\n", "nowait"),
        ("sleep", 0.1),
        ("w1", "ACK 1\r\n"),
        ("2w", ""),
        ("w1", "RESERVE q timeout=300ms\r\n", "nowait"),
        ("sleep", 0.1),
        ("2w", "FAIL 2 retry=no\r\n"),
        ("w1", ""),
        ("2w2", "RESERVE q timeout=300ms\r\n", "nowait"),
        ("sleep", 0.1),
        ("close", "w1"),
        ("2w2", ""),
    ]
    check(script, pg_nodes=2)


def test_listing_promote_purge_and_wait():
    script = [
        ("a", enq("q", "p1", "pri=1") + enq("q", "d", "delay=1h") + enq("q", "p0") + enq("q", "d2", "delay=2h")
         + "LIST q\r\nLIST q state=delayed\r\nLIST q limit=1\r\n"),
        ("a", "PROMOTE 4\r\nPROMOTE 3\r\nPROMOTE 4\r\nLIST q\r\nRESERVE q timeout=0\r\n"),
        ("w", "WAIT 3 timeout=0\r\nWAIT 3 timeout=2s\r\n"),
        ("a", "ACK 3\r\n"),
        ("w", "WAIT 3 timeout=0\r\n"),
        ("a", "PURGE q state=waiting\r\nLIST q\r\nQUEUE q\r\nPURGE q state=active\r\n"),
    ]
    check(script)


def test_expiry_and_retention():
    script = [
        ("a", enq("q", "gone", "ttl=200ms") + enq("q", "kept", "ttl=1h") + "QUEUE q keep_completed=1 keep_dead=1\r\n"),
        ("sleep", 0.4),
        ("a", "INSPECT 1\r\nRESERVE q timeout=0\r\nACK 2\r\n" + enq("q", "x") + "RESERVE q timeout=0\r\nACK 3\r\n"),
        ("a", "INSPECT 2\r\nINSPECT 3\r\nDEAD q\r\n" + enq("q", "y", "attempts=1") + "RESERVE q timeout=0\r\nFAIL 4\r\nDEAD q\r\nINSPECT 1\r\n"),
    ]
    check(script)


def test_events_of_every_kind():
    script = [
        ("e", "SUB $JOB.ev.> 1\r\n"),
        ("a", enq("ev", "p") + enq("ev", "c", "after=1") + enq("ev", "t", "ttl=150ms pri=5")
         + enq("ev", "d", "delay=1h pri=9") + enq("ev", "l", "lease=300ms backoff=fixed:0 pri=-1")),
        ("w", "RESERVE ev timeout=0\r\n"),
        ("sleep", 0.6),
        ("w", "RESERVE ev timeout=0\r\nRESERVE ev timeout=0\r\nFAIL 5 throttle=50ms\r\n"),
        ("close", "w"),
        ("sleep", 0.3),
        ("a", "PROMOTE 4\r\nRESERVE ev timeout=0\r\nACK 1\r\nRESERVE ev timeout=0\r\nRESERVE ev timeout=0\r\n"),
        ("sleep", 0.2),
        ("events", "e"),
    ]
    check(script)


def test_waiting_workers_are_served_first_come_first_served():
    script = [
        ("w1", "RESERVE q timeout=5s\r\n", "nowait"),
        ("sleep", 0.1),
        ("w2", "RESERVE q,r timeout=5s\r\n", "nowait"),
        ("sleep", 0.1),
        ("a", enq("r", "for-w2") + enq("q", "for-w1")),
        ("w1", ""),
        ("w2", ""),
    ]
    check(script)


def test_a_freed_slot_goes_to_the_waiting_worker_at_once():
    # Under a concurrency cap, an ACK or a FAIL frees a slot: the worker waiting gets the next
    # job then (on PostgreSQL it waited for the next second's poll).
    script = [
        ("a", "QUEUE q concurrency=1\r\n" + enq("q", "1") + enq("q", "2") + enq("q", "3", "attempts=1")),
        ("w1", "RESERVE q timeout=0\r\n"),
        ("w2", "RESERVE q timeout=300ms\r\n", "nowait"),
        ("sleep", 0.1),
        ("w1", "ACK 1\r\n"),
        ("sleep", 0.2),
        ("w3", "RESERVE q timeout=300ms\r\n", "nowait"),
        ("sleep", 0.1),
        ("w2", "FAIL 2 retry=no\r\n"),
        ("sleep", 0.2),
        ("w3", ""),
    ]
    check(script)


def test_routes_apply_to_the_messages_sent_behind_them():
    # On PostgreSQL a route was installed once the database had it, after the PUBs pipelined
    # behind the ROUTE had been handled: they made no job, and ROUTES did not show it.
    script = [
        ("a", "ROUTE orders.* q pri=2\r\nROUTES\r\nPUB orders.x 3\r\nabc\r\nRESERVE q timeout=1s\r\n"),
        ("a", "UNROUTE 2\r\nUNROUTE 1\r\nROUTES\r\nPUB orders.y 3\r\ndef\r\nRESERVE q timeout=200ms\r\n"),
    ]
    check(script)


def test_lists_and_refusals_read_as_on_the_embedded_store():
    # DEAD and LIST showed `children` on PostgreSQL (only INSPECT gives them); RETRY of a
    # delayed job said it was waiting.
    script = [
        ("a", enq("q", "p", "attempts=1") + enq("q", "c", "after=1") + enq("q", "d", "delay=1h")
         + "RESERVE q timeout=0\r\nFAIL 1\r\nDEAD q\r\nLIST q state=dead\r\nINSPECT 1\r\nRETRY 3\r\nRETRY 2\r\n"),
    ]
    check(script)


def test_children_of_dead_and_finished_parents_make_the_same_events_and_totals():
    # On PostgreSQL, with a subscriber: a child enqueued after a dead parent was enqueued
    # `dead` and died twice, one after completed parents was `unblocked` too, a blocked job's
    # expiry was published twice, and the queue's dead total counted them twice; without one,
    # children dying with their parent were not counted at all.
    children = enq("q", "c", "after=1") + enq("q", "r", "after=1 on_parent_dead=run") + enq("q", "x") + enq("q", "y", "after=4 ttl=1s")
    for listening in (True, False):
        script = ([("e", "SUB $JOB.> 1\r\n")] if listening else []) + [
            ("a", enq("q", "p", "attempts=1") + "RESERVE q timeout=0\r\nFAIL 1\r\n"),
            ("a", children + enq("q", "k", "after=4")),
            ("a", "RESERVE q timeout=0\r\nRESERVE q timeout=0\r\nACK 4\r\nINSPECT 6\r\n"),
            ("a", enq("q", "z", "after=4")),
            # y is unblocked by ACK 4, then expires waiting: its ttl leaves a busy machine a
            # second between its ENQ and that ACK (at 200 ms a slow step expired it blocked).
            ("sleep", 1.3),
            ("a", "QUEUE q\r\n" + enq("s", "p2", "attempts=1") + enq("s", "c2", "after=8 group=tenant")
             + "RESERVE s timeout=0\r\nFAIL 8 retry=no\r\nQUEUE s\r\n"),
        ] + ([("events", "e")] if listening else [])
        check(script)


def test_flow_depth_is_counted_and_refused_alike():
    # --max-flow-depth: a parent that finished counts for nothing, a #n parent and the job a
    # key found count whatever their state, a refused BATCH makes none of its jobs, and the
    # commands pipelined behind a refusal act as on the embedded store.
    script = [
        ("a", enq("q", "a") + enq("q", "b", "after=1") + enq("q", "c", "after=2") + enq("s", "behind")),
        ("a", "BATCH 2\r\n" + enq("r", "x", "key=k") + enq("r", "y", "after=#1,2") + "RESERVE r timeout=0\r\n"),
        ("a", enq("r", "x", "key=k") + "BATCH 2\r\n" + enq("r", "x", "key=k") + enq("r", "y", "after=#1") + "RESERVE r timeout=0\r\n" * 2),
        ("a", "RESERVE q timeout=0\r\nACK 1\r\nRESERVE q timeout=0\r\nACK 2\r\n" + enq("q", "d", "after=2") + "RESERVE q timeout=0\r\n"),
    ]
    check(script, flags=["--max-flow-depth", "2"], renumber=True)


def test_a_death_settles_its_flow_one_generation_at_a_time():
    # The embedded store settled a death depth first (a child of two dying jobs named the one
    # it reached last, and the events came in that order), PostgreSQL breadth first, one parent
    # at a time. Both now settle a generation at a time: the released children, then the dead,
    # each oldest first, a dead one naming the oldest of its parents in the generation. DEAD
    # lists them in the order they died, and RETRY queue= revives them in that order
    # (PostgreSQL took those of one millisecond by id).
    flow = (enq("q", "root", "attempts=1") + enq("q", "a", "after=1") + enq("q", "b", "after=1")
            + enq("q", "c", "after=2,3") + enq("q", "d", "after=2") + enq("q", "e", "after=3 on_parent_dead=run")
            + enq("q", "f", "after=3,2 on_parent_dead=run") + enq("q", "g", "after=5,6"))
    deleted = enq("r", "root") + enq("r", "h", "after=9") + enq("r", "i", "after=10") + enq("r", "j", "after=9,11")
    script = [
        ("e", "SUB $JOB.> 1\r\n"),
        ("a", flow + "RESERVE q timeout=0\r\nFAIL 1\r\n" + "".join(f"INSPECT {n}\r\n" for n in range(2, 9))),
        ("a", deleted + "DEL 9\r\n" + "".join(f"INSPECT {n}\r\n" for n in range(10, 13))),
        ("a", "DEAD q\r\nDEAD r\r\nLIST q state=waiting\r\n"),
        ("a", "RETRY queue=r\r\n" + "RESERVE r timeout=0\r\n" * 3),
        ("events", "e"),
    ]
    check(script)


def test_cancel_behind_pipelined_reserves_keeps_the_order_of_replies():
    # Two RESERVEs and a CANCEL in one write: the CANCEL ends the second only once the first
    # is answered, and the ENQ behind it runs after both, so the first RESERVE takes the job
    # the other client enqueues. (On PostgreSQL the second, read ahead, was ended at once and
    # the ENQ ran before the first was answered, which then took that job.)
    script = [
        ("w", "RESERVE q\r\nRESERVE q\r\nCANCEL\r\n" + enq("q", "mine"), "nowait"),
        ("sleep", 0.2),
        ("a", enq("q", "other")),
        ("w", ""),
        ("w", "RESERVE q timeout=0\r\n"),
    ]
    check(script)


def test_cancel_ends_a_waiting_wait_as_its_timeout_would():
    script = [
        ("a", enq("q", "x")),
        ("w", "WAIT 1\r\nCANCEL\r\nWAIT 1 timeout=1m\r\nCANCEL\r\n"),
        ("a", "RESERVE q timeout=0\r\n"),
        ("w", "WAIT 1\r\nCANCEL\r\nWAIT 1 timeout=0\r\nCANCEL\r\n"),
        ("a", "ACK 1\r\n"),
        ("w", "WAIT 1\r\nCANCEL\r\n"),
    ]
    check(script)


def test_cancel_behind_a_reserve_that_finds_a_job_ends_nothing():
    # The embedded store decides a RESERVE as it reads it: with a job there, the CANCEL behind
    # it finds nothing waiting. PostgreSQL decides it in a try at the end of the pass, and ended
    # it (NOJOB) before that try came back; now the try's job is handed over there too.
    script = [
        ("a", enq("q", "x")),
        ("w", "RESERVE q\r\nCANCEL\r\nRESERVE q timeout=0\r\n"),
        ("a", "INSPECT 1\r\n"),
    ]
    check(script)


def test_stats_counts_jobs_and_queues_alike():
    # PostgreSQL keeps both counts as of its last fold (about once a second) plus the changes
    # since (schema version 30): each count is asked for before a fold and after one.
    import json
    script = [
        ("a", enq("a", "x") + enq("b", "x") + enq("b", "y") + "PAUSE c\r\n" + "STATS\r\n"),
        ("sleep", 2.5),
        ("a", "STATS\r\n"),
        # a emptied, then given settings; b emptied; d made and emptied; e made.
        ("a", "DEL 1\r\nSTATS\r\nPAUSE a\r\nDEL 2\r\nDEL 3\r\n" + enq("d", "x") + "DEL 4\r\n" + enq("e", "x") + "STATS\r\n"),
        ("sleep", 2.5),
        ("a", "STATS\r\n"),
    ]
    lmdb, pg = run_side_by_side(DOCKETD, Postgres(PG_URL), script)

    def counts(transcript):
        return [(document["jobs"], document["queues"]) for _, replies in transcript for reply in replies
                if reply.startswith("JSON ") and "server_id" in (document := json.loads(reply[5:]))]

    assert counts(lmdb) == [(3, 3), (3, 3), (2, 2), (1, 3), (1, 3)]
    assert counts(pg) == counts(lmdb)
