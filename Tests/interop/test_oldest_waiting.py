"""QUEUE's `oldest_waiting_ms` counts a waiting job's wait from when it became waiting.

The embedded store now keeps the waiting jobs' times in order instead of walking them on every
QUEUE (a walk of ~23 ms at a million waiting jobs, holding every other client). One job used to
be counted differently: held back by its group's `group_rate=` (parked), a job enqueued with an
`at=` in the past was counted from that `at=`, as if it had waited an hour it had not, while the
same job not held back, and PostgreSQL's store either way, count from the ENQ.
"""

from __future__ import annotations

import time

import pytest

from conftest import connect_raw as connect, pipelined, read_json_reply, read_line

pytestmark = pytest.mark.docketd_only("QUEUE is a Docket job command")

HOUR_MS = 3_600_000


def queue_document(sock, queue: bytes) -> dict:
    sock.sendall(b"QUEUE %s\r\n" % queue)
    return read_json_reply(sock)


def test_a_job_held_by_its_group_counts_its_wait_from_its_enqueue(start_process):
    port = int(start_process().url.rsplit(":", 1)[1])
    client = connect(port)
    client.sendall(b"QUEUE par group_rate=1/1h\r\n")
    read_line(client)
    pipelined(client, b"ENQ par group=g 1\r\nx\r\n")
    client.sendall(b"RESERVE par timeout=0\r\n")
    assert read_line(client).startswith(b"JOB ")
    read_line(client)
    an_hour_ago = int(time.time()) - 3600
    pipelined(client, b"ENQ par group=g at=%d 1\r\nx\r\n" % an_hour_ago)
    # Its group's window is full: this RESERVE parks it, and it stays waiting.
    client.sendall(b"RESERVE par timeout=0\r\n")
    assert read_line(client) == b"NOJOB\r\n"
    document = queue_document(client, b"par")
    assert document["jobs"]["waiting"] == 1
    assert document["blocked_by"] is None
    # Enqueued moments ago: nowhere near the hour its at= names.
    assert 0 <= document["oldest_waiting_ms"] < HOUR_MS // 2, document
    client.close()


def test_the_oldest_wait_follows_jobs_as_they_leave_in_any_order(start_process):
    """Taken first by priority, the newer job leaves and the older one's wait is still shown;
    once every job has gone the answer is null."""
    port = int(start_process().url.rsplit(":", 1)[1])
    client = connect(port)
    pipelined(client, b"ENQ ord pri=5 1\r\na\r\n")
    first_age = queue_document(client, b"ord")["oldest_waiting_ms"]
    pipelined(client, b"ENQ ord pri=1 1\r\nb\r\n")
    client.sendall(b"RESERVE ord timeout=0\r\n")
    assert read_line(client).startswith(b"JOB ")
    assert read_line(client) == b"b\r\n"
    after = queue_document(client, b"ord")
    assert after["jobs"]["waiting"] == 1 and after["oldest_waiting_ms"] >= first_age
    client.sendall(b"RESERVE ord timeout=0\r\n")
    assert read_line(client).startswith(b"JOB ")
    assert read_line(client) == b"a\r\n"
    assert queue_document(client, b"ord")["oldest_waiting_ms"] is None
    client.close()
