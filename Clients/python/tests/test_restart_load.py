"""Restart under load, short form (issue #20).

2,000 keyed jobs are enqueued while a worker (concurrency 4) works them,
recording every run (job id, attempt, delivery, start and end) to a file.
Mid-way the server is stopped with SIGTERM and restarted on the same port
and data directory; later it is killed with SIGKILL and restarted again.
At the end: every job is completed, no job was created twice, nothing
escaped the worker (no thread died, nothing unexpected logged), and a job
ran more than once only when one of its earlier runs overlapped a server
stop, i.e. when its ACK could have been lost.
"""

from __future__ import annotations

import collections
import logging
import threading
import time

import docketd_client as docket
from conftest import lmdb_only, wait_until

N = 2000
CONCURRENCY = 4
FLAGS = ["--keep-completed", "10000"]  # keep every job (and key) for the checks
ACK_SLACK = 1.0  # seconds from a handler's end to its ACK being durable, at most


@lmdb_only  # held jobs come back at the restart here, at their lease's end on PostgreSQL
def test_restart_under_load(start_docketd, tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="docket")
    thread_deaths = []
    previous_hook = threading.excepthook
    threading.excepthook = lambda args: thread_deaths.append(args)

    first = start_docketd(flags=FLAGS)
    runs_path = tmp_path / "runs.txt"
    runs_file = open(runs_path, "a", buffering=1)
    file_lock = threading.Lock()
    started = [0]

    def handler(ctx):
        t0 = time.monotonic()
        with file_lock:
            started[0] += 1
        time.sleep(0.002)
        t1 = time.monotonic()
        with file_lock:
            runs_file.write(f"{ctx.id} {ctx.attempt} {ctx.delivery} {t0:.6f} {t1:.6f}\n")

    # Producer: keyed ENQs, retried with the same key after any doubt, kept
    # a few hundred jobs ahead of the worker so that it runs across both stops.
    ids = {}
    producer_errors = []
    producer_retries = [0]
    producer_client = docket.Client(first.url, request_timeout=5, reconnect_max_wait=0.2)

    def produce(part):
        deadline = time.monotonic() + 30
        for i in range(part, N, 2):
            while i - started[0] > 300 and time.monotonic() < deadline:
                time.sleep(0.005)
            key = f"load-{i}"
            while True:
                try:
                    ids[key] = producer_client.enqueue(
                        "load", str(i), key=key, attempts=10, backoff="fixed:0s"
                    ).id
                    break
                except (docket.ConnectionLost, docket.Timeout) as exc:
                    if time.monotonic() > deadline:
                        producer_errors.append(exc)
                        return
                    producer_retries[0] += 1
                    time.sleep(0.02)

    producers = [threading.Thread(target=produce, args=(p,), name=f"producer-{p}") for p in range(2)]
    worker = docket.Worker(first.url, "load", handler, concurrency=CONCURRENCY, reserve_timeout=0.2,
                           client_options={"request_timeout": 5, "reconnect_max_wait": 0.2})
    stops = []  # (went down, came back up), monotonic seconds
    try:
        for p in producers:
            p.start()
        worker.start()

        assert wait_until(lambda: started[0] >= N // 4, timeout=10)
        down = time.monotonic()
        first.stop()  # SIGTERM: a graceful shutdown
        second = start_docketd(port=first.port, data_dir=first.data_dir, flags=FLAGS)
        stops.append((down, time.monotonic()))

        assert wait_until(lambda: started[0] >= (N * 5) // 8, timeout=10)
        down = time.monotonic()
        second.kill()  # SIGKILL: a crash
        third = start_docketd(port=first.port, data_dir=first.data_dir, flags=FLAGS)
        stops.append((down, time.monotonic()))

        for p in producers:
            p.join(15)
        assert not producer_errors and len(ids) == N
        assert len(set(ids.values())) == N  # one job per key, retries included

        checker = docket.Client(third.url, request_timeout=5)
        try:
            def all_completed():
                return all(checker.inspect(i)["state"] == "completed" for i in sorted(ids.values()))

            assert wait_until(all_completed, timeout=15, interval=0.2)
            assert all(t.is_alive() for t in worker._threads)  # no slot died
            for stray in set(range(1, max(ids.values()) + 1)) - set(ids.values()):
                try:
                    checker.inspect(stray)
                    raise AssertionError(f"job {stray} was created but not by a key of ours")
                except docket.NotFound:
                    pass
        finally:
            checker.close()
    finally:
        result = worker.stop(grace=5)
        producer_client.close()
        runs_file.close()
        threading.excepthook = previous_hook

    assert not thread_deaths, thread_deaths
    assert (result.errors, result.slots_lost, result.crashed, result.abandoned) == (0, 0, 0, 0), result
    assert result.clean, result
    unexpected = [r for r in caplog.records if r.name.startswith("docket") and r.levelno >= logging.ERROR]
    assert not unexpected, [r.getMessage() for r in unexpected]

    runs = collections.defaultdict(list)
    for line in runs_path.read_text().splitlines():
        jid, attempt, delivery, t0, t1 = line.split()
        runs[int(jid)].append((float(t0), float(t1), int(attempt), None if delivery == "None" else int(delivery)))
    assert set(runs) == set(ids.values())  # every job ran

    def overlaps_a_stop(t0, t1):
        return any(t0 < up and t1 + ACK_SLACK > down for down, up in stops)

    repeated = {jid: sorted(r) for jid, r in runs.items() if len(r) > 1}
    for jid, job_runs in repeated.items():
        for t0, t1, attempt, delivery in job_runs[:-1]:
            assert overlaps_a_stop(t0, t1), (jid, job_runs, stops)
    extra_runs = sum(len(r) - 1 for r in repeated.values())
    assert extra_runs <= CONCURRENCY * len(stops), (extra_runs, repeated)
    deliveries = [d for r in runs.values() for _, _, _, d in r]
    if all(d is not None for d in deliveries):  # a server that names deliveries
        assert len(set(deliveries)) == len(deliveries)
