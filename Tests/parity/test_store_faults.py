"""docketd on PostgreSQL under load while the database fails in every way we can cause: its
sessions killed (pg_terminate_backend), restarted (pg_ctl restart -m fast, -m immediate), and
stalled (SIGSTOP of docketd's server processes, one at a time, then of the whole cluster).
Throughout: no reply waits past --store-timeout plus a margin, pub/sub answers at once, job
commands that fail say UNAVAILABLE, and afterwards every ENQ and ACK that was answered +OK is
in the database (nothing acknowledged lost), and docketd serves again.

Bounded: a private cluster (cluster.py), about half a minute of load.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time
import urllib.error
import urllib.request

import pytest

from cluster import Cluster, server_binaries
from parity import Client, Side

DOCKETD = os.environ.get("DOCKETD")
pytestmark = pytest.mark.skipif(not DOCKETD or server_binaries() is None, reason="needs DOCKETD and PostgreSQL's programs")

STORE_TIMEOUT_S = 2
# A reply may wait for the store's timeout, then for a transaction queued behind the lost one.
REPLY_BOUND_S = STORE_TIMEOUT_S * 2 + 4
# Pub/sub never waits for the database.
PUBSUB_BOUND_S = 1.5


class Load:
    def __init__(self, port: int, events: bool) -> None:
        self.port = port
        self.events = events
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.enqueued: dict[str, int] = {}   # key -> id, for every ENQ answered +OK
        self.acked: set[int] = set()          # every ACK answered +OK
        self.problems: list[str] = []         # replies that are neither +OK nor UNAVAILABLE, hangs
        self.unavailable = 0
        self.slowest_reply = 0.0
        self.slowest_pubsub = 0.0
        self.threads = [threading.Thread(target=self.producer, args=(p,)) for p in range(3)]
        self.threads += [threading.Thread(target=self.worker) for _ in range(2)]
        self.threads.append(threading.Thread(target=self.pubsub))

    def client(self) -> Client:
        c = Client(self.port)
        c.sock.settimeout(REPLY_BOUND_S)
        return c

    def timed(self, c: Client, data: str) -> list[str] | None:
        started = time.monotonic()
        try:
            replies = c.run(data)
        except (socket.timeout, OSError) as error:
            with self.lock:
                self.problems.append("no answer within %d s (%s) to %r" % (REPLY_BOUND_S, error, data[:60]))
            return None
        with self.lock:
            self.slowest_reply = max(self.slowest_reply, time.monotonic() - started)
        return replies

    def note(self, reply: str) -> None:
        if reply.startswith("-ERR 'UNAVAILABLE"):
            with self.lock:
                self.unavailable += 1
        else:
            with self.lock:
                self.problems.append("unexpected reply: " + reply[:200])

    def producer(self, p: int) -> None:
        c = self.client()
        n = 0
        while not self.stop.is_set():
            keys = ["p%d-%d" % (p, n + i) for i in range(20)]
            n += 20
            data = "".join("ENQ faults key=%s %d\r\n%s\r\n" % (k, len(k), k) for k in keys)
            replies = self.timed(c, data)
            if replies is None:
                c = self.client()
                continue
            for key, reply in zip(keys, replies):
                if reply.startswith("+OK "):
                    with self.lock:
                        self.enqueued[key] = int(reply.split(" ")[1])
                else:
                    self.note(reply)
            time.sleep(0.005)  # bounded load, not a flood

    def worker(self) -> None:
        c = self.client()
        while not self.stop.is_set():
            replies = self.timed(c, "RESERVE faults timeout=100ms\r\n" * 8)
            if replies is None:
                c = self.client()
                continue
            ids = []
            for reply in replies:
                if reply.startswith("JOB "):
                    ids.append(int(reply.split(" ")[1]))
                elif reply != "NOJOB":
                    self.note(reply)
            if not ids:
                continue
            replies = self.timed(c, "".join("ACK %d\r\n" % i for i in ids))
            if replies is None:
                c = self.client()
                continue
            for i, reply in zip(ids, replies):
                if reply == "+OK":
                    with self.lock:
                        self.acked.add(i)
                elif not reply.startswith("-ERR 'NOT_HELD"):  # its lease was lost with the connection
                    self.note(reply)

    def pubsub(self) -> None:
        c = Client(self.port)
        c.sock.settimeout(PUBSUB_BOUND_S * 4)
        # With `events`, it also hears the queue's lifecycle events: docketd then numbers them in
        # each transaction, which commits in two steps.
        c.run("SUB ping 1\r\n" + ("SUB $JOB.faults.> 2\r\n" if self.events else ""))
        while not self.stop.is_set():
            started = time.monotonic()
            try:
                c.run("PUB ping 2\r\nhi\r\n")
            except (socket.timeout, OSError) as error:
                with self.lock:
                    self.problems.append("pub/sub stopped: %s" % error)
                return
            took = time.monotonic() - started
            with self.lock:
                self.slowest_pubsub = max(self.slowest_pubsub, took)
            c.messages.clear()
            time.sleep(0.02)

    def start(self) -> None:
        for t in self.threads:
            t.start()

    def finish(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(REPLY_BOUND_S * 3)


def wait_until_serving(port: int, deadline_s: float = 30) -> None:
    c = Client(port)
    c.sock.settimeout(REPLY_BOUND_S)
    until = time.monotonic() + deadline_s
    while time.monotonic() < until:
        if c.run("ENQ probe 1\r\nx\r\n")[0].startswith("+OK "):
            return
        time.sleep(0.2)
    raise AssertionError("docketd did not serve again within %d s" % deadline_s)


@pytest.mark.parametrize("events", [False, True], ids=["plain", "with-events"])
def test_nothing_acknowledged_is_lost_and_nothing_hangs_while_the_database_fails(events):
    cluster = Cluster()
    side = None
    load = None
    try:
        cluster.psql("CREATE DATABASE faults")
        side = Side(DOCKETD, ["--store-timeout", "%ds" % STORE_TIMEOUT_S, "--keep-completed", "1000000", "-m", "0"],
                    cluster.url("faults"))
        load = Load(side.port, events)
        load.start()
        time.sleep(1.5)

        # Every docketd session killed by the database.
        cluster.psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = 'faults' AND pid <> pg_backend_pid()")
        time.sleep(2)
        wait_until_serving(side.port)
        cluster.restart("fast")
        time.sleep(2)
        wait_until_serving(side.port)
        cluster.restart("immediate")
        time.sleep(2)
        wait_until_serving(side.port)
        time.sleep(1)
        # Each of docketd's sessions stalled in turn, past --store-timeout, then the whole cluster.
        for application in ("docketd enqueues", "main", None):
            pids = cluster.backends("faults", application)
            if application == "main":
                pids = [int(x) for x in cluster.psql(
                    "SELECT pid FROM pg_stat_activity WHERE datname = 'faults' AND backend_type = 'client backend'"
                    " AND application_name <> 'docketd enqueues' AND pid <> pg_backend_pid()").split()]
            if application is None:
                pids = cluster.freeze()
            assert pids, application
            cluster.signal(pids, signal.SIGSTOP)
            time.sleep(STORE_TIMEOUT_S + 1.5)
            cluster.signal(pids, signal.SIGCONT)
            time.sleep(1)
            wait_until_serving(side.port)
        time.sleep(1.5)
        load.finish()

        print("enqueued %d, acked %d, unavailable %d, slowest reply %.2f s, slowest pub/sub %.2f s"
              % (len(load.enqueued), len(load.acked), load.unavailable, load.slowest_reply, load.slowest_pubsub))
        assert not load.problems, load.problems[:10]
        assert load.slowest_reply <= REPLY_BOUND_S, load.slowest_reply
        assert load.slowest_pubsub <= PUBSUB_BOUND_S, "pub/sub waited %.1f s" % load.slowest_pubsub
        assert load.unavailable > 0, "the faults were noticed"
        assert len(load.enqueued) > 100 and len(load.acked) > 50, (len(load.enqueued), len(load.acked))
        # Nothing acknowledged lost: every ENQ answered +OK is there under its id and key, every
        # ACK answered +OK completed it.
        rows = cluster.psql("SELECT id, convert_from(key, 'UTF8'), state FROM docket.jobs WHERE queue = 'faults'", "faults")
        stored = {}
        for line in rows.splitlines():
            job_id, key, state = line.split("|")
            stored[int(job_id)] = (key, state)
        lost = [(k, i) for k, i in load.enqueued.items() if stored.get(i, (None,))[0] != k]
        assert not lost, "%d acknowledged ENQs missing, e.g. %s" % (len(lost), lost[:5])
        undone = [i for i in load.acked if stored.get(i, (None, None))[1] != "completed"]
        assert not undone, "%d acknowledged ACKs not completed, e.g. %s" % (len(undone), undone[:5])
    finally:
        if load is not None:
            load.finish()
        if side is not None:
            side.stop()
        cluster.remove()


def health(http_port: int) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/healthz" % http_port, timeout=REPLY_BOUND_S) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_while_docketd_connects_again_it_still_says_why_the_database_was_lost():
    """/healthz and the UNAVAILABLE answers give the reason the last connection was lost, also
    while the next one is being made (which, to a stalled server, takes --store-timeout)."""
    cluster = Cluster()
    side = None
    stopped: list[int] = []
    try:
        cluster.psql("CREATE DATABASE faults")
        side = Side(DOCKETD, ["--store-timeout", "1s", "-m", "0"], cluster.url("faults"))
        wait_until_serving(side.port)
        stopped = cluster.freeze()
        client = Client(side.port)
        client.sock.settimeout(REPLY_BOUND_S)
        reasons = []
        # Several connections lost and made again (each attempt waits --store-timeout), counted
        # from the first answer that says so: finding the first connection lost takes one to two
        # store timeouts alone, and twice that beside other tests (4 s in CI's parallel run).
        until = time.monotonic() + 30
        while time.monotonic() < until:
            status, document = health(side.http)
            if status == 503:
                reasons.append(document["error"])
            reply = client.run("ENQ faults 1\r\nx\r\n")[0]
            if reply.startswith("-ERR 'UNAVAILABLE"):
                reasons.append(reply)
            if reasons and until - time.monotonic() > 4:
                until = time.monotonic() + 4
            time.sleep(0.05)
        cluster.signal(stopped, signal.SIGCONT)
        stopped = []
        assert len(reasons) > 10, reasons
        vague = [r for r in reasons if "not connected" in r]
        assert not vague, "%d of %d answers without the reason, e.g. %s" % (len(vague), len(reasons), vague[0])
        wait_until_serving(side.port)
        assert health(side.http)[0] == 200
    finally:
        cluster.signal(stopped, signal.SIGCONT)
        if side is not None:
            side.stop()
        cluster.remove()
