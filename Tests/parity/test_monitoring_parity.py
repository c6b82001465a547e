"""The dashboard's flow reads and /queues's pages on the embedded store and on PostgreSQL: the
same documents (times aside).

    DOCKETD=.build/debug/docketd scripts/with-postgres.sh python3 -m pytest -q Tests/parity
"""
from __future__ import annotations

import json
import os
import time
import urllib.request

import pytest

from parity import Postgres, Side, normalize_json

DOCKETD = os.environ.get("DOCKETD")
PG_URL = os.environ.get("DOCKET_TEST_POSTGRES")
pytestmark = pytest.mark.skipif(not DOCKETD or not PG_URL, reason="needs DOCKETD and DOCKET_TEST_POSTGRES")

SCRIPT = (
    'CONNECT {"verbose":false}\r\n'
    + "".join("ENQ %s 1\r\nx\r\n" % name for name in ("q-e", "q-c", "q-a", "q-d", "q-b"))  # jobs 1-5
    + "ENQ flow-kids after=1,2 1\r\nk\r\n" * 5  # jobs 6-10, children of 1 and 2
    + "DEL 10\r\nPING\r\n"
)
READS = [
    "/queues?limit=2", "/queues?after=q-b&limit=2", "/queues?after=q-d",
    "/api/job/children?id=1&limit=2", "/api/job/children?id=1&after=7&limit=2", "/api/job/children?id=1&after=9",
    "/api/job/parents?id=6", "/api/job/children?id=6",
]


def documents(side: Side) -> list:
    client = side.client("a")
    client.sock.sendall(SCRIPT.encode())
    while client.line() != "PONG":
        pass
    get = lambda path: json.loads(urllib.request.urlopen(f"http://127.0.0.1:{side.http}{path}", timeout=10).read())
    # PostgreSQL's /queues is the queues as last read from the database (every second or so).
    deadline = time.monotonic() + 10
    while len(get("/queues")) < 6 and time.monotonic() < deadline:
        time.sleep(0.2)
    return [(path, normalize_json(get(path))) for path in READS]


def on_both_stores(reads) -> tuple:
    """What `reads` gets from a docketd on the embedded store and from one on PostgreSQL."""
    postgres = Postgres(PG_URL)
    database = postgres.new_database()
    lmdb = pg = None
    try:
        lmdb = Side(DOCKETD, ["-m", "0"], None)
        pg = Side(DOCKETD, ["-m", "0"], postgres.url_for(database))
        return reads(lmdb), reads(pg)
    finally:
        for side in (lmdb, pg):
            if side:
                side.stop()
        postgres.run("DROP DATABASE IF EXISTS %s WITH (FORCE)" % database)


def test_flow_reads_and_queue_pages_are_the_same_on_both_stores():
    on_lmdb, on_pg = on_both_stores(documents)
    assert [q["queue"] for q in on_lmdb[0][1]] == ["flow-kids", "q-a"]
    assert [c["id"] for c in on_lmdb[4][1]["children"]] == [8, 9] and on_lmdb[5][1]["children"] == []
    for (path, mine), (_, theirs) in zip(on_lmdb, on_pg):
        assert mine == theirs, f"{path}:\n  lmdb     {json.dumps(mine)[:600]}\n  postgres {json.dumps(theirs)[:600]}"


# Names whose byte order is not a usual collation's (upper case first, `-` before `_`).
OVERVIEW_NAMES = ["b", "B", "a_1", "a-2", "A", "q-Z", "q-a"]


def overview_reads(side: Side) -> list:
    client = side.client("a")
    script = 'CONNECT {"verbose":false}\r\n' + "".join("ENQ %s 1\r\nx\r\n" % name for name in OVERVIEW_NAMES)
    client.sock.sendall((script + "PAUSE B\r\nPAUSE a-2\r\nPING\r\n").encode())
    while client.line() != "PONG":
        pass
    get = lambda path: json.loads(urllib.request.urlopen(f"http://127.0.0.1:{side.http}{path}", timeout=10).read())
    # PostgreSQL's are the queues as last read from the database (every second or so).
    deadline = time.monotonic() + 10
    while get("/api/overview?limit=1")["summary"]["paused"] < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    reads = []
    for path in ["/api/overview?offset=2&limit=3", "/api/overview?filter=A", "/queues?after=B&limit=3"]:
        answer = get(path)
        if path.startswith("/api/overview"):
            answer = {"summary": answer["summary"], "total": answer["total"], "queues": [q["queue"] for q in answer["queues"]]}
        else:
            answer = [q["queue"] for q in answer]
        reads.append((path, answer))
    return reads


def test_the_overview_sums_and_queue_order_are_the_same_on_both_stores():
    """The overview's summary is kept as queues change (embedded) or added up once per read of
    the database (PostgreSQL), and both list the queues in the order of their names' bytes,
    whatever the database's collation."""
    on_lmdb, on_pg = on_both_stores(overview_reads)
    by_bytes = sorted(OVERVIEW_NAMES, key=str.encode)
    summary = {"queues": 7, "paused": 2, "waiting_workers": 0, "started_per_s": 0.0, "completed_per_s": 0.0, "failed_per_s": 0.0}
    assert on_lmdb[0][1] == {"summary": summary, "total": 7, "queues": by_bytes[2:5]}
    assert on_lmdb[1][1]["queues"] == ["A", "a-2", "a_1", "q-a"] and on_lmdb[1][1]["total"] == 4
    assert on_lmdb[2][1] == by_bytes[by_bytes.index("B") + 1:][:3]
    assert on_pg == on_lmdb
