"""A PURGE of many jobs deletes a slice per loop pass, other clients served between.

Purging a million jobs was one step of 1.5 s on the loop, in which no other client was answered.
The test orders rather than times: while one client's PURGE runs, another asks QUEUE, one
request at a time, until no job is left waiting; a slice per pass means some answer shows the
purge under way (some jobs deleted, some still waiting), where the old server only ever showed
all of them or none. The purging client's replies keep their order: its PURGE is answered with
the whole count, once, and the commands it sent after it see the purge done.
"""

from __future__ import annotations

import socket

import pytest

from conftest import connect_raw as connect, counts_until_none, pipelined, queue_counts, read_json_reply, read_line

pytestmark = pytest.mark.docketd_only("docketd's embedded store purges in slices")

JOBS = 50_000


def test_a_large_purge_lets_other_clients_in_and_answers_its_client_in_order(start_process):
    port = int(start_process().url.rsplit(":", 1)[1])
    producer = connect(port)
    pipelined(producer, b"ENQ big 1\r\nx\r\n" * JOBS + b"ENQ big delay=1h 1\r\nx\r\nENQ small 1\r\nx\r\n")
    purger = connect(port)
    observer = connect(port)
    assert queue_counts(observer, b"big")["waiting"] == JOBS
    purger.sendall(b"PURGE big state=waiting\r\nQUEUE big\r\nPING\r\n")
    seen = counts_until_none(observer, b"big", "waiting")
    under_way = [waiting for waiting in seen if 0 < waiting < JOBS]
    assert under_way, f"never seen part way: {seen[-3:]} of {len(seen)} answers"
    # In the order sent: the whole count, then a QUEUE that sees the purge done, then the PONG.
    assert read_line(purger) == b"+OK %d\r\n" % JOBS
    after = read_json_reply(purger)
    assert after["jobs"]["waiting"] == 0 and after["jobs"]["delayed"] == 1
    assert after["totals"]["deleted"] == JOBS
    assert read_line(purger) == b"PONG\r\n"
    assert queue_counts(observer, b"small")["waiting"] == 1
    for sock in (producer, purger, observer):
        sock.close()


def test_a_purge_with_nothing_to_delete_answers_zero_at_once(start_process):
    port = int(start_process().url.rsplit(":", 1)[1])
    client = connect(port)
    pipelined(client, b"ENQ few 1\r\nx\r\n")
    client.sendall(b"PURGE few state=dead\r\nPURGE nosuch state=waiting\r\nPURGE few state=waiting\r\nPING\r\n")
    assert [read_line(client) for _ in range(4)] == [b"+OK 0\r\n", b"+OK 0\r\n", b"+OK 1\r\n", b"PONG\r\n"]
    client.close()


def test_a_large_purge_through_the_api_answers_the_whole_count_once(start_process):
    """Through $DOCKET.API the answer waits for the last slice too (`JobAnswer`), and comes once."""
    port = int(start_process().url.rsplit(":", 1)[1])
    client = socket.create_connection(("127.0.0.1", port), timeout=10)
    assert read_line(client).startswith(b"INFO ")
    client.sendall(b'CONNECT {"verbose":false,"headers":true}\r\n')
    jobs = 5_000
    pipelined(client, b"ENQ api 1\r\nx\r\n" * jobs)
    header = b"NATS/1.0\r\nDocket-Options: state=waiting\r\n\r\n"
    client.sendall(b"SUB _INBOX.p 1\r\nHPUB $DOCKET.API.PURGE.api _INBOX.p %d %d\r\n%s\r\n" % (len(header), len(header), header))
    answer = b'{"count":%d}' % jobs
    assert read_line(client) == b"MSG _INBOX.p 1 %d\r\n" % len(answer)
    assert read_line(client) == answer + b"\r\n"
    assert queue_counts(client, b"api")["waiting"] == 0
    client.close()
