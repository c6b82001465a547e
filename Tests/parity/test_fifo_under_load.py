"""FIFO within a priority, as the embedded store gives it, on both stores under load: producers
pipeline plain ENQs, ENQs with `ttl=` (which go on PostgreSQL's main connection, plain ones on
its enqueue connection), BATCHes and ENQs `after=` a finished job, while workers keep RESERVEs
in flight. A worker never gets a producer's job before one that producer sent earlier.

Bounded: a few thousand jobs, two minutes at most.
"""
from __future__ import annotations

import os
import threading
import time

import pytest

from parity import Client, Postgres, Side

DOCKETD = os.environ.get("DOCKETD")
PG_URL = os.environ.get("DOCKET_TEST_POSTGRES")
pytestmark = pytest.mark.skipif(not DOCKETD or not PG_URL, reason="needs DOCKETD and DOCKET_TEST_POSTGRES")

PRODUCERS = 4
PER_PRODUCER = 400
CHUNK = 40
WORKERS = 3
WINDOW = 16
DEADLINE = 120.0


def enq(body: str, options: str = "") -> str:
    return "ENQ fifo %s%d\r\n%s\r\n" % (options + " " if options else "", len(body), body)


def chunk_of(producer: int, first: int, count: int, parent: int) -> str:
    """ENQs `first`.. of one producer; the kind of command varies with the chunk."""
    bodies = ["%d:%d" % (producer, i) for i in range(first, first + count)]
    kind = (first // CHUNK) % 4
    if kind == 1:
        return "".join(enq(b, "ttl=1h" if n % 3 == 1 else "") for n, b in enumerate(bodies))
    if kind == 2:
        return "BATCH %d\r\n" % len(bodies) + "".join(enq(b) for b in bodies)
    if kind == 3:
        return "".join(enq(b, "after=%d" % parent if n % 5 == 2 else "") for n, b in enumerate(bodies))
    return "".join(enq(b) for b in bodies)


def run(side: Side) -> tuple[list, list]:
    setup = Client(side.port)
    # A finished job for after=: its children are waiting at once.
    [reply] = setup.run(enq("parent", "").replace("fifo", "done"))
    parent = int(reply.split(" ")[1])
    assert setup.run("RESERVE done timeout=0\r\nACK %d\r\n" % parent)[1] == "+OK"
    errors: list[str] = []
    streams: dict[int, list[str]] = {}
    total = PRODUCERS * PER_PRODUCER
    taken = [0]
    lock = threading.Lock()
    stop_at = time.monotonic() + DEADLINE

    def producer(p: int) -> None:
        c = Client(side.port)
        for first in range(0, PER_PRODUCER, CHUNK):
            for r in c.run(chunk_of(p, first, CHUNK, parent)):
                if not r.startswith("+OK"):
                    errors.append(r)

    def worker(w: int) -> None:
        c = Client(side.port)
        got = streams.setdefault(w, [])
        while time.monotonic() < stop_at:
            with lock:
                if taken[0] >= total:
                    return
            acks = ""
            for r in c.run("RESERVE fifo timeout=200ms\r\n" * WINDOW):
                if r.startswith("JOB "):
                    head, body = r.split("\n", 1)
                    got.append(body)
                    acks += "ACK %s\r\n" % head.split(" ")[1]
                    with lock:
                        taken[0] += 1
            if acks:
                errors.extend(r for r in c.run(acks) if r != "+OK")

    threads = [threading.Thread(target=producer, args=(p,)) for p in range(PRODUCERS)]
    threads += [threading.Thread(target=worker, args=(w,)) for w in range(WORKERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(DEADLINE + 30)
    assert taken[0] == total, "took %d of %d jobs" % (taken[0], total)
    inversions = []
    for w, got in streams.items():
        last: dict[int, int] = {}
        for body in got:
            p, i = map(int, body.split(":"))
            if i < last.get(p, -1):
                inversions.append("worker %d got %d:%d after %d:%d" % (w, p, i, p, last[p]))
            last[p] = max(last.get(p, -1), i)
    return errors, inversions


@pytest.mark.parametrize("store", ["lmdb", "postgres"])
def test_each_producers_jobs_run_in_the_order_it_sent_them(store):
    url = None
    postgres = Postgres(PG_URL)
    database = None
    if store == "postgres":
        database = postgres.new_database()
        url = postgres.url_for(database)
    side = Side(DOCKETD, [], url)
    try:
        errors, inversions = run(side)
    finally:
        side.stop()
        if database:
            postgres.run("DROP DATABASE IF EXISTS %s WITH (FORCE)" % database)
    assert not errors, errors[:5]
    assert not inversions, "%d out of order, first: %s" % (len(inversions), inversions[:5])
