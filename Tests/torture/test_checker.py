"""The torture's checker finds what it is there to find: each promise broken in a made-up
history and listing (no server) is reported, and the same history kept is not."""
from __future__ import annotations

import pytest

from torture import SCHEDULE_NAME, SCHEDULE_QUEUE, Checker, Entry, Facts, Snapshot


def entry(request: str, reply: str | None, sent: float, answered: float | None = None) -> Entry:
    e = Entry(1, "client", request, sent)
    e.reply = reply
    e.answered = None if reply is None else (answered if answered is not None else sent + 0.001)
    return e


def job(id_: int, queue: str = "q0", attempts: int = 0, key: str | None = None) -> dict:
    return {"id": id_, "queue": queue, "attempts": attempts, "max_attempts": 3, "key": key}


def judged(entries: list[Entry], listed: list[tuple[str, dict]], checker: Checker | None = None) -> list[str]:
    return (checker or Checker(postgres=False)).judge(Facts(entries), Snapshot(listed, 100.0, 101.0))


ENQ = entry("ENQ q0 1\r\nx\r\n", "+OK 5", 1.0)
RESERVED = entry("RESERVE q0 timeout=1s\r\n", "JOB 5 q0 1 lease=2000 delivery=9 1\nx", 2.0)
ACKED = entry("ACK 5 attempt=1\r\n", "+OK", 3.0)


def test_a_history_kept_is_not_reported():
    assert judged([ENQ, RESERVED, ACKED], [("completed", job(5, attempts=1))]) == []


@pytest.mark.parametrize("entries, listed, found", [
    ([ENQ], [], "answered +OK and is gone"),
    ([ENQ, entry("DEL 5\r\n", "+OK", 2.0)], [("waiting", job(5))], "deleted (+OK) and is back"),
    ([ENQ], [("waiting", job(5)), ("active", job(5))], "listed in two states"),
    ([ENQ, RESERVED, ACKED], [("waiting", job(5, attempts=1))], "ACKed (+OK) and is ['waiting']"),
    ([ENQ, RESERVED, ACKED, entry("RESERVE q0\r\n", "JOB 5 q0 2 lease=1 delivery=10 1\nx", 4.0)],
     [("completed", job(5, attempts=2))], "handed out after its ACK"),
    ([ENQ, RESERVED, entry("RESERVE q0\r\n", "JOB 5 q0 1 lease=1 delivery=9 1\nx", 4.0)],
     [("waiting", job(5, attempts=1))], "delivery 9 handed out twice"),
    ([ENQ, RESERVED], [("active", job(5, attempts=1))], "active after a restart"),
    ([ENQ, entry("RESERVE q0\r\n", "JOB 5 q0 4 lease=1 delivery=9 1\nx", 2.0)],
     [("waiting", job(5, attempts=4))], "ran attempt 4 of 3"),
    ([entry("ENQ q0 key=k 2\r\nx1\r\n", "+OK 5", 1.0), entry("ENQ q0 key=k replace=true 2\r\nx2\r\n", "+OK 5 replaced", 2.0),
      entry("RESERVE q0\r\n", "JOB 5 q0 1 lease=1 delivery=9 2\nx1", 3.0)],
     [("completed", job(5, attempts=1, key="k"))], "handed out with payload 'x1'"),
    ([entry("ENQ q0 key=k 1\r\nx\r\n", "+OK 5", 1.0), entry("ENQ q0 key=k 1\r\nx\r\n", "+OK 6", 2.0)],
     [("waiting", job(5, key="k")), ("waiting", job(6))], "key k of q0 made two jobs"),
    ([ENQ, entry("ENQ q0 1\r\nx\r\n", "+OK 6", 2.0)],
     [("waiting", job(5, key="k")), ("waiting", job(6, key="k"))], "two jobs with key k"),
    ([ENQ, RESERVED, entry("FAIL 5 attempt=1 retry=no\r\n", "+OK dead", 3.0),
      entry("RESERVE q0\r\n", "JOB 5 q0 1 lease=1 delivery=10 1\nx", 4.0)],
     [("active", job(5, attempts=1))], "dead and handed out without a RETRY"),
    ([ENQ, RESERVED, entry("FAIL 5 attempt=1 retry=no\r\n", "+OK dead", 3.0)],
     [("waiting", job(5, attempts=1))], "dead and is ['waiting'] without a RETRY"),
    ([ENQ, RESERVED, entry("FAIL 5 attempt=1 retry=10ms\r\n", "+OK retry 10", 3.0)],
     [("waiting", job(5, attempts=0))], "0 attempts after attempt 1"),
    ([entry("BATCH 2\r\nENQ flow 1\r\np\r\nENQ flow after=#1 1\r\nc\r\n", "+OK 5 6", 1.0),
      entry("RESERVE flow\r\n", "JOB 6 flow 1 lease=1 delivery=9 1\nc", 2.0)],
     [("waiting", job(5, "flow")), ("active", job(6, "flow", 1))], "flow child 6 handed out before parent 5"),
])
def test_a_broken_promise_is_reported(entries, listed, found):
    problems = judged(entries, listed)
    assert any(found in p for p in problems), problems


def test_a_retry_lets_a_dead_job_run_again():
    entries = [ENQ, RESERVED, entry("FAIL 5 attempt=1 retry=no\r\n", "+OK dead", 3.0),
               entry("RETRY queue=q0\r\n", "+OK 1", 3.5), entry("RESERVE q0\r\n", "JOB 5 q0 1 lease=1 delivery=10 1\nx", 4.0)]
    assert judged(entries, [("waiting", job(5, attempts=1))]) == []


def tick(id_: int, at: int) -> tuple[str, dict]:
    return ("completed", job(id_, SCHEDULE_QUEUE, 1, "%s@%d" % (SCHEDULE_NAME, at)))


def test_a_schedule_tick_lost_twice_made_or_remade_is_reported():
    assert judged([], [tick(1, 1000), tick(2, 2000), tick(3, 3000)]) == []
    assert any("lost 1 ticks" in p for p in judged([], [tick(1, 1000), tick(3, 3000)]))
    assert any("made two jobs" in p for p in judged([], [tick(1, 1000), tick(2, 1000)]))
    checker = Checker(postgres=False)
    judged([], [tick(1, 1000)], checker)
    assert any("made job 1, and now job 2" in p for p in judged([], [tick(2, 1000)], checker))


def queue_doc(concurrency, paused=False, enqueued=0) -> dict:
    return {"queue": "q0", "paused": paused, "config": {"concurrency": concurrency, "rate": None, "attempts": 3},
            "jobs": {"waiting": enqueued}, "totals": {"enqueued": enqueued, "removed": 0, "deleted": 0}}


def test_a_setting_lost_is_reported_and_one_whose_answer_never_came_may_be_either():
    told = [entry("QUEUE q0 concurrency=4\r\n", "+OK", 1.0), entry("QUEUE q0 concurrency=6\r\n", None, 2.0)]
    checker = Checker(postgres=False)
    assert checker.queues([queue_doc(4)], Facts(told)) == []
    assert checker.queues([queue_doc(6)], Facts(told)) == []
    assert any("concurrency is None" in p for p in checker.queues([queue_doc(None)], Facts(told)))
    assert any("paused is True" in p for p in checker.queues([queue_doc(4, paused=True)],
                                                             Facts(told + [entry("RESUME q0\r\n", "+OK", 3.0)])))
    assert any("totals do not add up" in p for p in checker.queues([dict(queue_doc(4), totals={"enqueued": 1, "removed": 0, "deleted": 0})], Facts(told)))


def test_a_child_under_on_parent_dead_run_may_run_once_its_parent_died():
    entries = [entry("BATCH 2\r\nENQ flow 1\r\np\r\nENQ flow after=#1 on_parent_dead=run 1\r\nc\r\n", "+OK 5 6", 1.0),
               entry("RESERVE flow\r\n", "JOB 5 flow 1 lease=1 delivery=8 1\np", 2.0),
               entry("FAIL 5 attempt=1 retry=no\r\n", "+OK dead", 2.5),
               entry("RESERVE flow\r\n", "JOB 6 flow 1 lease=1 delivery=9 1\nc", 3.0)]
    assert judged(entries, [("dead", job(5, "flow", 1)), ("waiting", job(6, "flow", 1))]) == []


def test_a_delayed_job_whose_run_time_moved_across_a_restart_is_reported():
    checker = Checker(postgres=False)
    delayed = dict(job(5), run_at=5000)
    assert judged([ENQ], [("delayed", delayed)], checker) == []
    assert judged([ENQ], [("delayed", delayed)], checker) == []
    assert any("delayed until 5000, and now until 6000" in p for p in judged([ENQ], [("delayed", dict(delayed, run_at=6000))], checker))
