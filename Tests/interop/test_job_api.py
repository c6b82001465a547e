"""The job queue through a stock NATS client: nats-py with no Docket code enqueues, reserves,
reports progress, fails, acks and waits through request/reply on $DOCKET.API, follows job
events on $JOB.<queue>.>, and sees routes turn its publishes into jobs."""

from __future__ import annotations

import asyncio
import json
import socket
from urllib.parse import urlparse

import nats
import pytest

pytestmark = pytest.mark.docketd_only("the job API is a Docket extension")


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 60))


async def api(nc, subject, body=b"", options=None, timeout=5):
    headers = {"Docket-Options": options} if options else None
    msg = await nc.request(subject, body, headers=headers, timeout=timeout)
    return msg


def raw_command(url, line):
    """One command over the raw protocol (for ROUTE, which admins type)."""
    parsed = urlparse(url)
    with socket.create_connection((parsed.hostname, parsed.port), timeout=5) as sock:
        reader = sock.makefile("rb")
        reader.readline()
        sock.sendall(b'CONNECT {"verbose":false}\r\n' + line.encode() + b"\r\n")
        return reader.readline().decode().strip()


def test_a_full_worker_loop_with_plain_nats_py(nats_url):
    """20 jobs, 3 workers on their own connections, one transient failure per job that is
    divisible by 4, progress reports, WAIT for every outcome, and every event observed in
    order with gap-free sequence numbers."""

    async def main():
        producer = await nats.connect(nats_url)
        watcher = await nats.connect(nats_url)
        events = []

        async def on_event(msg):
            events.append(json.loads(msg.data))

        await watcher.subscribe("$JOB.work.>", cb=on_event)
        await watcher.flush()
        await watcher.flush()
        ids = []
        for n in range(20):
            reply = json.loads((await api(producer, "$DOCKET.API.ENQ.work", f"job-{n}".encode(),
                                          options="attempts=3 backoff=fixed:50ms")).data)
            assert reply["duplicate"] is False
            ids.append(reply["id"])
        again = json.loads((await api(producer, "$DOCKET.API.ENQ.work", b"x", options="key=once")).data)
        dup = json.loads((await api(producer, "$DOCKET.API.ENQ.work", b"y", options="key=once")).data)
        assert dup == {"id": again["id"], "duplicate": True}
        ids.append(again["id"])

        async def worker():
            nc = await nats.connect(nats_url)
            done = 0
            while True:
                msg = await api(nc, "$DOCKET.API.RESERVE.work", options="timeout=300ms")
                if msg.headers is None:
                    assert json.loads(msg.data) == {"job": None}
                    break
                job = msg.headers["Docket-Job-Id"]
                attempt = int(msg.headers["Docket-Attempt"])
                progress = json.loads((await api(nc, f"$DOCKET.API.PROGRESS.{job}.50", b"halfway")).data)
                assert progress == {"ok": True}
                if int(job) % 4 == 0 and attempt == 1:
                    failed = json.loads((await api(nc, f"$DOCKET.API.FAIL.{job}", b"transient")).data)
                    assert failed == {"next": "retry", "retry_in_ms": 50}
                    continue
                acked = json.loads((await api(nc, f"$DOCKET.API.ACK.{job}", b"ok:" + msg.data)).data)
                assert acked == {"ok": True}
                done += 1
            await nc.drain()
            return done

        done = await asyncio.gather(*(worker() for _ in range(3)))
        assert sum(done) == 21
        for job in ids:
            outcome = json.loads((await api(producer, f"$DOCKET.API.WAIT.{job}")).data)
            assert outcome["state"] == "completed" and outcome["result"].startswith("ok:")
        # Not held any more: a clear error, as JSON.
        error = json.loads((await api(producer, f"$DOCKET.API.ACK.{ids[0]}")).data)
        assert error["error"]["code"] == "NOT_HELD"
        await producer.flush()
        for _ in range(50):
            if sum(1 for e in events if e["event"] == "completed") == 21:
                break
            await asyncio.sleep(0.05)
        assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
        kinds = [e["event"] for e in events]
        assert kinds.count("enqueued") == 21 and kinds.count("completed") == 21
        assert kinds.count("failed") == 5 and kinds.count("progress") == 26
        per_job = {}
        for e in events:
            per_job.setdefault(e["id"], []).append(e["event"])
        # The failed attempt's retry waits 50 ms: the job is delayed, then says it is waiting.
        assert per_job[ids[3]] == ["enqueued", "started", "progress", "failed", "waiting", "started", "progress", "completed"]
        await producer.drain()
        await watcher.drain()

    run(main())


def test_routes_turn_publishes_into_jobs(nats_url):
    """A route set over the raw protocol makes each matching nats-py publish a job, and a
    request to a routed subject answers with the job ids."""
    assert raw_command(nats_url, "ROUTE orders.* invoices attempts=2") == "+OK 1"

    async def main():
        nc = await nats.connect(nats_url)
        reply = await nc.request("orders.created", b'{"order":17}', timeout=5)
        assert json.loads(reply.data) == {"jobs": [1]}
        await nc.publish("orders.updated", b'{"order":17}')
        await nc.flush()
        job = await api(nc, "$DOCKET.API.RESERVE.invoices", options="timeout=1s")
        assert job.data == b'{"order":17}' and job.headers["Docket-Queue"] == "invoices"
        second = await api(nc, "$DOCKET.API.RESERVE.invoices", options="timeout=1s")
        assert second.headers["Docket-Job-Id"] == "2"
        await nc.drain()

    run(main())


def test_an_api_reserve_dies_with_its_connection(nats_url):
    """A RESERVE waiting through the API is withdrawn when its connection closes: the next
    job goes to the next worker, not to the departed one."""

    async def main():
        gone = await nats.connect(nats_url)
        pending = asyncio.ensure_future(
            api(gone, "$DOCKET.API.RESERVE.q", options="timeout=10s", timeout=10))
        await asyncio.sleep(0.2)  # the request reaches the server and waits there
        pending.cancel()
        await gone.close()
        nc = await nats.connect(nats_url)
        await api(nc, "$DOCKET.API.ENQ.q", b"work")
        job = await api(nc, "$DOCKET.API.RESERVE.q", options="timeout=2s")
        assert job.headers["Docket-Attempt"] == "1" and job.data == b"work"
        await nc.drain()

    run(main())


def test_a_request_that_only_reads_is_ignored_when_nobody_hears_its_answer(nats_url):
    """Found by a hostile probe: 2000 `PUB $DOCKET.API.QUEUES 0` (72 KB) with 200 queues had
    the document of every queue built for each and thrown away, holding the server, and every
    other client, for 27 s. A request that only reads is now done only when its reply subject
    is heard, as a RESERVE's already was; one that changes something is still carried out."""
    parsed = urlparse(nats_url)
    sock = socket.create_connection((parsed.hostname, parsed.port), timeout=10)
    reader = sock.makefile("rb")
    reader.readline()
    sock.sendall(b'CONNECT {"verbose":false,"headers":true}\r\n'
                 + b"".join(b"ENQ q%d 1\r\nx\r\n" % n for n in range(200)) + b"PING\r\n")
    assert [reader.readline() for _ in range(201)][-1] == b"PONG\r\n"
    unheard = b"PUB $DOCKET.API.QUEUES 0\r\n\r\nPUB $DOCKET.API.STATS nobody 0\r\n\r\n"
    # QUEUE with settings changes the queue: done though nobody hears the answer.
    settings = b"NATS/1.0\r\nDocket-Options: concurrency=3\r\n\r\n"
    sock.sendall(unheard * 5000 + b"HPUB $DOCKET.API.QUEUE.q7 %d %d\r\n%s\r\n" % (len(settings), len(settings), settings)
                 + b"PING\r\n")
    assert reader.readline() == b"PONG\r\n"  # 10 s at most (the socket's timeout)
    sock.sendall(b"SUB inbox 1\r\nPUB $DOCKET.API.QUEUE.q7 inbox 0\r\n\r\n")
    header = reader.readline()
    assert header.startswith(b"MSG inbox 1 ")
    document = json.loads(reader.read(int(header.split()[-1]) + 2))
    assert document["config"]["concurrency"] == 3
    sock.close()


@pytest.mark.parametrize("request_line, answer", [
    (b"QUEUES\r\n", b"JSON "),
    (b"PUB $DOCKET.API.QUEUES inbox 0\r\n\r\n", b"MSG inbox 1 "),
], ids=["wire", "api"])
def test_a_pipeline_of_large_documents_takes_turns_with_other_clients(nats_url, request_line, answer):
    """Found by a hostile probe: 16 KB of QUEUES with 2000 queues built 64 MiB of documents
    in one loop pass, and every other client waited for all of them (9 s; through
    $DOCKET.API, 5 s). Now a connection's job replies and API answers take turns past 128 KiB
    a pass: a bystander's PING keeps being answered, and the pipeline still gets every answer,
    in order."""
    import time

    parsed = urlparse(nats_url)

    def connect():
        sock = socket.create_connection((parsed.hostname, parsed.port), timeout=20)
        read_line(sock)
        sock.sendall(b'CONNECT {"verbose":false}\r\n')
        return sock

    def read_line(sock):
        line = b""
        while not line.endswith(b"\r\n"):
            line += sock.recv(1)
        return line

    attacker = connect()
    attacker.sendall(b"".join(b"ENQ q%d 1\r\nx\r\n" % n for n in range(1000)) + b"PING\r\n")
    reader = attacker.makefile("rb")
    assert [reader.readline() for _ in range(1001)][-1] == b"PONG\r\n"
    bystander = connect()
    attacker.sendall(b"SUB inbox 1\r\n" + request_line * 100 + b"PING\r\n")  # some 30 MB of answers, not read yet
    worst = 0.0
    started = time.monotonic()
    while time.monotonic() - started < 5:
        sent = time.monotonic()
        bystander.sendall(b"PING\r\n")
        assert read_line(bystander) == b"PONG\r\n"
        worst = max(worst, time.monotonic() - sent)
    assert worst < 2, f"a bystander's PING waited {worst:.1f} s"
    for _ in range(100):
        header = reader.readline()
        assert header.startswith(answer), header
        assert len(reader.read(int(header.split()[-1]) + 2)) == int(header.split()[-1]) + 2
    assert reader.readline() == b"PONG\r\n"
    attacker.close()
    bystander.close()


def test_nats_py_takes_an_api_reserve_of_a_max_payload_job_whose_headers_pass_max_payload(start_server):
    """A job handed out through $DOCKET.API.RESERVE is its whole payload (at most max_payload)
    plus its Docket-* headers, about 120 bytes more than the max_payload INFO told. nats.py (as
    nats.c) checks only what it publishes against max_payload and reads a larger message as any
    other: the job arrives whole and the connection stays usable."""

    async def main():
        nc = await nats.connect(start_server(max_payload=1024))
        try:
            assert nc.max_payload == 1024
            enqueued = json.loads((await api(nc, "$DOCKET.API.ENQ.big", b"p" * 1024)).data)
            msg = await api(nc, "$DOCKET.API.RESERVE.big", options="timeout=1s")
            assert msg.data == b"p" * 1024 and msg.headers["Docket-Job-Id"] == str(enqueued["id"])
            header_bytes = len("NATS/1.0\r\n\r\n") + sum(len(k) + len(v) + 4 for k, v in msg.headers.items())
            assert len(msg.data) + header_bytes > 1024
            assert json.loads((await api(nc, f"$DOCKET.API.ACK.{enqueued['id']}")).data) == {"ok": True}
            assert nc.is_connected
        finally:
            await nc.close()

    run(main())
