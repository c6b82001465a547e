"""docketd's embedded store with one system call failing at a chosen point (inject.c, loaded with
LD_PRELOAD): at start-up on a new directory, under a durable keyed ENQ / RESERVE / ACK load, under
`--sync none`, while recovering a directory killed under load, in a `--salvage`, and in the
writing of the pid file (`-P`; the ports file is written the same way).

For every point: docketd keeps serving or stops with an [ERR] line and exit status 1 (never a
signal, never a hang); started again without the library, it starts, and every ENQ and ACK it
answered +OK is there (no job lost, none doubled: each key finds its one job); once a write or
flush of the write-ahead log failed, the log is never written or flushed again: a later batch may
depend on the failed one, and the kernel may have dropped the pages it could not write
(PostgreSQL's 2018 "fsyncgate" lesson).

Seeded (DOCKET_INJECT_SEED, default 1) and bounded: about a second a point.

    DOCKETD=$PWD/.build/debug/docketd python3 -m pytest -q Tests/fault-injection
"""
from __future__ import annotations

import os
import random
import shutil
import signal
import tempfile
import threading
import time

import pytest

import sweep
from sweep import Fault

DOCKETD = os.environ.get("DOCKETD")
SEED = int(os.environ.get("DOCKET_INJECT_SEED", "1"))
WORK = tempfile.mkdtemp(prefix="docket-inject-")
LIBRARY = sweep.build_library(WORK)
pytestmark = pytest.mark.skipif(not DOCKETD or LIBRARY is None, reason="needs DOCKETD, Linux and a C compiler")

# A failing call takes this long first, so that the server hands the store more batches behind it.
SLOW_FAILURE_MS = 200

# The calls a new directory's start makes, as counted with DOCKET_INJECT_CALL=all: LOCK, data.mdb
# (three opens), lock.mdb (given its blocks with posix_fallocate, so LMDB never truncates it),
# then the two log files made whole (write, fsync, rename, directory fsync) and LMDB's first
# commits.
START_POINTS = ([("openat", n) for n in range(1, 11)] + [("fallocate", 1), ("rename", 1), ("rename", 2)]
                + [("fsync", n) for n in range(1, 5)] + [("pwrite", n) for n in range(1, 9)]
                + [("writev", n) for n in range(1, 4)] + [("fdatasync", n) for n in range(1, 4)])

# Under load: the first log flushes (4: the first after start-up's three of data.mdb), later ones,
# the log's writes (9 on: the start-up's come first) and checkpoints' writes of data.mdb.
LOAD_POINTS = [Fault("fdatasync", n, "EIO", delay_ms=SLOW_FAILURE_MS) for n in (4, 5, 6, 12, 30)] + [
    Fault("fdatasync", 8, "ENOSPC"), Fault("pwrite", 9, "EIO", delay_ms=SLOW_FAILURE_MS),
    Fault("pwrite", 20, "EDQUOT", delay_ms=SLOW_FAILURE_MS),
    Fault("writev", 6, "EIO"), Fault("writev", 8, "ENOSPC"), Fault("fdatasync", 20, "EIO", times=0),
    # What a write may do without failing: be cut short, or interrupted; the server goes on.
    Fault("pwrite", 12, "SHORT"), Fault("pwrite", 15, "EINTR"), Fault("writev", 6, "EINTR"),
]
# Plus a few seeded points among the load's log flushes and writes (at least 40 of each: four
# clients, each waiting for its reply, give a batch at most four of the load's 160 commands).
LOAD_POINTS += [Fault(random.Random(SEED + i).choice(("fdatasync", "pwrite")), random.Random(SEED + i).randrange(5, 30),
                      random.Random(SEED + i).choice(("EIO", "ENOSPC")), delay_ms=SLOW_FAILURE_MS) for i in range(3)]


def injected(trace: str) -> bool:
    return os.path.exists(trace) and any(line.endswith(" injected") for line in open(trace).read().splitlines())


def run(fault: Fault, flags: list[str] | None = None, directory: str | None = None,
        outcome: sweep.Outcome | None = None, restart_flags: list[str] | None = None,
        until_injected: bool = False, **load: float) -> tuple:
    """docketd with `fault` on `directory` (a new one without), the load if it starts, then the
    checks of the module's description. Returns (exit status, the run's log, the load's outcome).
    `until_injected`: more rounds of load (new keys, at most four rounds) while the fault has not
    fired and the server runs: how many checkpoints one round's 40 jobs make depends on the
    machine's speed, and a late point (the eighth write of data.mdb) was not always reached."""
    flags = flags or []
    data = directory or tempfile.mkdtemp(dir=WORK)
    trace = data + ".trace"
    server = sweep.start(DOCKETD, data, flags, LIBRARY, fault, trace)
    told = outcome or sweep.Outcome()
    if server.port is not None:
        for round in range(4 if until_injected else 1):
            more = sweep.load(server.port, SEED + 1000 * round, **({"jobs_each": 20, "seconds": 2} | load))
            told.enqueued.update(more.enqueued)
            told.acked |= more.acked
            told.keys_sent += more.keys_sent
            if injected(trace) or server.process.poll() is not None:
                break
    status = sweep.stop(server)
    where = f"{fault} {' '.join(flags)}"
    assert status >= 0, f"{where}: docketd ended with signal {-status}\n{server.text}"
    if status != 0:
        assert "[ERR]" in server.text, f"{where}: exit {status} without a reason\n{server.text}"
    lines = open(trace).read().splitlines() if os.path.exists(trace) else []
    failed = [i for i, line in enumerate(lines) if line.endswith(" injected")]
    assert failed, f"{where}: the fault was never injected (the point is not reached any more)"
    first = lines[failed[0]]
    if fault.call in ("pwrite", "fdatasync") and fault.errno not in ("SHORT", "EINTR") and "/wal-" in first:
        # Only the chosen call is traced: these are later writes or flushes of a log file.
        again = [line for line in lines[failed[0] + 1:] if "/wal-" in line.split()[2]]
        assert not again, f"{where}: {first}, then the log was written or flushed again: {again}"
    restarted = sweep.start(DOCKETD, data, restart_flags if restart_flags is not None else flags)
    assert restarted.port is not None, f"{where}: the directory does not start again:\n{restarted.text}\n(the faulty run:)\n{server.text}"
    problems = sweep.verify(restarted.port, told)
    assert sweep.stop(restarted) == 0, restarted.text
    assert not problems, f"{where}: " + "\n".join(problems) + f"\n{server.text}"
    return status, server.text, told


@pytest.mark.parametrize("call,nth", START_POINTS)
def test_a_new_directory_whose_start_fails_starts_later(call: str, nth: int) -> None:
    status, text, _ = run(Fault(call, nth, "EIO"))
    if status != 0:
        assert "Cannot start:" in text and WORK in text, text


@pytest.mark.parametrize("nth", [3, 4, 5])
def test_an_interrupted_write_at_start_is_retried(nth: int) -> None:
    # 3-6: the zeros that make the log files whole.
    status, text, told = run(Fault("pwrite", nth, "EINTR"))
    assert status == 0 and len(told.enqueued) == len(told.keys_sent), text


@pytest.mark.parametrize("fault", LOAD_POINTS, ids=str)
def test_a_fault_under_durable_load_loses_nothing_acknowledged(fault: Fault) -> None:
    status, text, told = run(fault, until_injected=True)
    if fault.errno in ("SHORT", "EINTR"):
        assert status == 0 and len(told.enqueued) == len(told.keys_sent), text
    else:
        assert status == 1 and ("Store commit failed" in text or "[ERR] Store:" in text), text


# With --sync none the log is checkpointed into the data file, durably, every 100 ms (the load
# lasts two seconds) and at SIGTERM.
@pytest.mark.parametrize("fault", [Fault("fdatasync", n, "EIO") for n in (1, 2, 3)] + [
    Fault("writev", 5, "EIO"), Fault("pwrite", 40, "ENOSPC"), Fault("writev", 7, "SHORT")], ids=str)
def test_a_fault_under_sync_none_loses_nothing_acknowledged(fault: Fault) -> None:
    status, text, _ = run(fault, flags=["--sync", "none"], jobs_each=40, pause=0.05, seconds=3)
    assert status == 1, text


def killed_under_load() -> tuple[str, sweep.Outcome]:
    """A directory docketd was killed (-9) in under load, with batches still only in its log."""
    data = tempfile.mkdtemp(dir=WORK)
    server = sweep.start(DOCKETD, data, [])
    box = {}
    thread = threading.Thread(target=lambda: box.setdefault("told", sweep.load(server.port, SEED + 1000, jobs_each=200, seconds=2)))
    thread.start()
    time.sleep(0.4)
    server.process.send_signal(signal.SIGKILL)
    server.process.wait()
    thread.join()
    return data, box["told"]


@pytest.fixture(scope="module")
def crashed() -> tuple[str, sweep.Outcome]:
    return killed_under_load()


def copy(directory: str) -> str:
    target = tempfile.mkdtemp(dir=WORK)
    shutil.rmtree(target)
    shutil.copytree(directory, target)
    return target


@pytest.mark.parametrize("call,nth", [("pwrite", n) for n in (1, 2, 3)] + [("writev", n) for n in (1, 2, 3)]
                         + [("fdatasync", n) for n in (1, 2, 3)] + [("openat", n) for n in (1, 2, 4, 7, 8)])
def test_a_recovery_that_fails_refuses_and_recovers_later(crashed, call: str, nth: int) -> None:
    data, told = crashed
    status, text, _ = run(Fault(call, nth, "EIO"), directory=copy(data), outcome=sweep.Outcome(
        enqueued=dict(told.enqueued), acked=set(told.acked), keys_sent=list(told.keys_sent)))
    if status != 0:
        assert "Cannot start:" in text, text


@pytest.mark.parametrize("call,nth", [("pwrite", 1), ("fsync", 1), ("writev", 1), ("fdatasync", 1)])
def test_a_salvage_that_fails_can_be_run_again(crashed, call: str, nth: int) -> None:
    data = copy(crashed[0])
    # A log cut short: only a salvage starts it (restoring the file's size: zeros and an fsync).
    with open(os.path.join(data, "wal-b.log"), "r+b") as log:
        log.truncate(1 << 20)
    status, text, _ = run(Fault(call, nth, "EIO"), flags=["--salvage"], directory=data, restart_flags=["--salvage"])
    if status != 0:
        assert "Cannot start:" in text, text


@pytest.mark.parametrize("errno", ["SHORT", "EINTR", "ENOSPC", "NOTHING"])
def test_a_pid_file_write_that_falls_short_is_finished_and_one_that_fails_says_why(errno: str) -> None:
    # A short or interrupted write of the pid file (-P) refused the start, with whatever errno an
    # earlier call had left ("Input/output error" for a write that had failed nothing). A write
    # that takes nothing (returns 0, NOTHING) sets no errno: it is reported as the full disk it
    # means, not as what errno held from an earlier call.
    data = tempfile.mkdtemp(dir=WORK)
    pid_file = os.path.join(data, "docketd.pid")
    trace = data + ".trace"
    server = sweep.start(DOCKETD, data, ["-P", pid_file], LIBRARY, Fault("write", 1, errno), trace)
    status = sweep.stop(server)
    assert injected(trace) and "docketd.pid" in [line for line in open(trace).read().splitlines() if line.endswith(" injected")][0], open(trace).read()
    if errno in ("ENOSPC", "NOTHING"):
        assert status == 1 and f"Cannot start: cannot write {pid_file}: No space left on device" in server.text, server.text
        assert not os.path.exists(pid_file) and not os.path.exists(pid_file + ".tmp")
    else:
        assert server.port is not None and status == 0, server.text
