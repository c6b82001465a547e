"""Jobs that come due together are made ready a slice per loop pass, other clients served between.

A million jobs delayed to the same millisecond used to come due in one call on the loop: 1.5 s
in which no other client was answered. The test orders rather than times: jobs delayed with
`at=` come due in the same millisecond, and another client asks QUEUE, one request at a time,
until none is delayed; a slice per pass means some answer shows the move under way (some jobs
waiting, some still delayed), where the old server only ever showed all of them delayed or
none.
"""

from __future__ import annotations

import json
import time

import pytest

from conftest import connect_raw as connect, read_line

pytestmark = pytest.mark.docketd_only("docketd's job timer")

JOBS = 20_000


def queue_counts(sock) -> dict:
    sock.sendall(b"QUEUE due\r\n")
    header = read_line(sock)
    assert header.startswith(b"JSON "), header
    size = int(header.split()[1])
    body = b""
    while len(body) < size + 2:
        body += sock.recv(size + 2 - len(body))
    return json.loads(body[:size])["jobs"]


def test_jobs_due_together_are_made_ready_between_other_clients_commands(start_process):
    port = int(start_process().url.rsplit(":", 1)[1])
    producer = connect(port)
    # Far enough ahead that every ENQ is acknowledged before the time comes.
    due = int(time.time()) + 3
    producer.sendall(b"ENQ due at=%d 1\r\nx\r\n" % due * JOBS + b"PING\r\n")
    tail = b""
    while not tail.endswith(b"PONG\r\n"):
        tail = (tail + producer.recv(1 << 20))[-16:]
    observer = connect(port)
    before = queue_counts(observer)
    assert before["delayed"] == JOBS, "the jobs came due before the test could watch them"
    seen = []
    while True:
        counts = queue_counts(observer)
        seen.append((counts["waiting"], counts["delayed"]))
        if counts["delayed"] == 0:
            break
    assert seen[-1] == (JOBS, 0)
    under_way = [s for s in seen if s[0] > 0 and s[1] > 0]
    assert under_way, f"never seen part way: {seen[-3:]} of {len(seen)} answers"
    producer.close()
    observer.close()
