"""A random dependency graph of 1,000 jobs, enqueued as one BATCH and worked by four workers
with random permanent failures: every job that ran started only after each of its parents
finished, no job ran whose parent died (unless on_parent_dead=run), and every job ends in the
state the graph says, over the real wire protocol."""

from __future__ import annotations

import random
import socket
import threading
import time
from urllib.parse import urlparse

import pytest

pytestmark = pytest.mark.docketd_only("dependencies are a Docket extension")

JOBS = 1000
WORKERS = 4


class Wire:
    """Just enough of the protocol for this test: commands out, lines and sized bodies in."""

    def __init__(self, url):
        parsed = urlparse(url)
        self.sock = socket.create_connection((parsed.hostname, parsed.port), timeout=10)
        self.reader = self.sock.makefile("rb")
        self.reader.readline()  # INFO
        self.sock.sendall(b'CONNECT {"verbose":false}\r\n')

    def send(self, data: bytes):
        self.sock.sendall(data)

    def line(self) -> str:
        return self.reader.readline().decode().rstrip("\r\n")

    def body(self, size: int) -> bytes:
        data = self.reader.read(size + 2)
        return data[:-2]

    def json(self, command: str):
        import json

        self.send(command.encode() + b"\r\n")
        head = self.line()
        assert head.startswith("JSON "), head
        return json.loads(self.body(int(head.split()[1])))

    def close(self):
        self.sock.close()


def build_graph(rng):
    """Parents (earlier jobs only), the on_parent_dead policy, and which jobs fail."""
    parents, runs, fails = [], [], []
    for index in range(JOBS):
        window = list(range(max(0, index - 40), index))
        count = min(len(window), rng.choice([0, 0, 1, 1, 2, 3]))
        parents.append(sorted(rng.sample(window, count)))
        runs.append(rng.random() < 0.2)
        fails.append(rng.random() < 0.05)
    return parents, runs, fails


def expected_states(parents, runs, fails):
    states, ran = [], []
    for index in range(JOBS):
        killed = any(states[p] == "dead" for p in parents[index]) and not runs[index]
        ran.append(not killed)
        states.append("dead" if killed or fails[index] else "completed")
    return states, ran


def test_a_random_graph_of_a_thousand_jobs_runs_in_dependency_order(start_server):
    url = start_server()
    rng = random.Random(1616)
    parents, runs, fails = build_graph(rng)

    producer = Wire(url)
    batch = [f"BATCH {JOBS}\r\n".encode()]
    for index in range(JOBS):
        options = ["attempts=1"]
        if parents[index]:
            options.append("after=" + ",".join(f"#{p + 1}" for p in parents[index]))
            if runs[index]:
                options.append("on_parent_dead=run")
        payload = f"{index}:{'fail' if fails[index] else 'ok'}".encode()
        batch.append(f"ENQ graph {' '.join(options)} {len(payload)}\r\n".encode() + payload + b"\r\n")
    producer.send(b"".join(batch))
    reply = producer.line()
    assert reply.startswith("+OK "), reply
    ids = [int(word) for word in reply.split()[1:]]
    assert len(ids) == JOBS and ids == sorted(ids)
    index_of = {job_id: index for index, job_id in enumerate(ids)}

    clock = [0]
    lock = threading.Lock()
    started, finished = {}, {}
    done = threading.Event()
    errors = []

    def tick():
        with lock:
            clock[0] += 1
            return clock[0]

    def work():
        wire = Wire(url)
        try:
            while not done.is_set():
                wire.send(b"RESERVE graph timeout=200ms\r\n")
                head = wire.line()
                if head == "NOJOB":
                    continue
                words = head.split()
                assert words[0] == "JOB", head
                job_id = int(words[1])
                payload = wire.body(int(words[-1])).decode()
                index = index_of[job_id]
                started[index] = tick()
                assert payload.startswith(f"{index}:")
                # The finish is recorded before the ACK leaves, so a child handed out because
                # of it can only be recorded after it.
                finished[index] = tick()
                if payload.endswith("fail"):
                    wire.send(f"FAIL {job_id} retry=no\r\n".encode())
                    assert wire.line() == "+OK dead"
                else:
                    wire.send(f"ACK {job_id}\r\n".encode())
                    assert wire.line() == "+OK"
        except Exception as error:  # reported by the main thread
            errors.append(error)
        finally:
            wire.close()

    threads = [threading.Thread(target=work) for _ in range(WORKERS)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline and not errors:
            jobs = producer.json("QUEUE graph")["jobs"]
            if jobs["waiting"] + jobs["delayed"] + jobs["active"] + jobs["blocked"] == 0:
                break
            time.sleep(0.1)
    finally:
        done.set()
        for thread in threads:
            thread.join(10)
    assert not errors, errors[0]

    states, ran = expected_states(parents, runs, fails)
    for index, job_id in enumerate(ids):
        document = producer.json(f"INSPECT {job_id}")
        assert document["state"] == states[index], (index, document)
        assert (index in started) == ran[index], (index, document)
        if ran[index]:
            # Parents killed before running died with their own parent, before this one ran.
            for parent in parents[index]:
                if ran[parent]:
                    assert started[index] > finished[parent], (index, parent)
        else:
            dead_parent = next(p for p in parents[index] if states[p] == "dead")
            assert document["last_error"].startswith("parent "), document
            assert document["attempts"] == 0 and dead_parent is not None
    assert sum(1 for state in states if state == "dead") > 20, "the graph should kill a fair share"
    producer.close()
