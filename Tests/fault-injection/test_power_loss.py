"""docketd's embedded store after a power loss, not just a kill -9: every acknowledged job, ACK
and FAIL retry=no must survive, and the directory must start (a power loss is not damage).

A kill -9 keeps the kernel's page cache, so every write docketd made survives it, flushed or
not. A power loss (or a kernel crash) keeps only what completed flushes made durable. So the
server runs with record.c loaded (LD_PRELOAD), which logs every write, truncation, creation,
rename, unlink and flush under its data directory, in order; a client drives a durable load and
notes, for each reply that promised durability, how much of that log existed when the reply
arrived. Then, for points in the log, powerloss.py rebuilds a data directory that a power loss
at that point could leave, docketd is started on it, and every promise made before the point
is checked (the torture checker's rules: an ENQ answered +OK is there, an ACK answered +OK is
completed, a FAIL retry=no answered +OK is dead).

What the file system is assumed to do (ext4 with data=ordered, the common Linux default, read
adversarially within POSIX, like ALICE and CrashMonkey):
- A completed fsync or fdatasync of a file makes durable every write and size change made to
  it before the call began; a write through a descriptor opened O_DSYNC is durable when it
  returns (LMDB writes its meta pages so).
- Of what was written since, any 512-byte sector may hold what any moment since left there,
  each sector chosen on its own (writeback goes a page at a time in any order, and a cut tears
  a write at sector boundaries); the file's size is the size of some moment since, and sectors
  that size exposes past the durable size hold at least that moment's data (data=ordered
  writes a new block before the journal commit that makes it part of the file, so stale bytes
  never appear).
- A name (a file created, renamed or unlinked; a directory made) is durable only after an fsync
  of its directory that began after the change (POSIX; ext4 usually does more, since any fsync
  commits its journal, but no program should rely on it). Changes not yet durable survive as
  a prefix of the order they were made in (a journal commits them in order).
- Nothing sync_file_range does is durable. LMDB's lock.mdb (rebuilt by every start) is modelled
  like any file but holds nothing that must survive.

Two recorded runs make the log: a new directory's start and a load, then kill -9 and a second
start on the same directory (its replay of the log, and writes over the log's first file) with
more load, then a clean stop. Crash points are drawn around every flush, name change and write
of data.mdb (LMDB's commits, the checkpoints that move the log into it and the commit after that
settles both meta pages before the log is written over). A third test records a --salvage start
of a directory whose log was cut. What it found: the data directory's own name was never
flushed into its parent (fixed: every start flushes it). Under --sync none (LMDB's MDB_NOSYNC)
a power loss could keep a meta page written in place and lose the appended pages it names, and
the start then refused data.mdb (fixed: --sync none logs without flushes and checkpoints the log
into data.mdb durably, as --sync always does, and a start takes a log whose unflushed end is torn
up to the tear).

A tenth of a second or so per crash state in a debug build; POWERLOSS_STATES sets how many
(40 by default), POWERLOSS_SEED which.

    DOCKETD=$PWD/.build/debug/docketd python3 -m pytest -q Tests/fault-injection/test_power_loss.py
"""
from __future__ import annotations

import atexit
import os
import random
import shutil
import signal
import tempfile

import pytest

import powerloss
import sweep

DOCKETD = os.environ.get("DOCKETD")
SEED = int(os.environ.get("POWERLOSS_SEED", "1"))
STATES = int(os.environ.get("POWERLOSS_STATES", "40"))
WORK = tempfile.mkdtemp(prefix="docket-powerloss-")
atexit.register(shutil.rmtree, WORK, True)  # a failing test's directory too: each is megabytes
RECORDER = powerloss.build_recorder(WORK)
pytestmark = pytest.mark.skipif(not DOCKETD or RECORDER is None, reason="needs DOCKETD, Linux and a C compiler")


def record(work: str, flags: list[str], seed: int) -> tuple[str, list[powerloss.Record], list[powerloss.Promise]]:
    """The two recorded runs; returns the data directory, the log and the promises."""
    data = os.path.join(work, "data")
    log = os.path.join(work, "record.log")
    environment = {"LD_PRELOAD": RECORDER, "DOCKET_RECORD_DIR": data, "DOCKET_RECORD_LOG": log}
    promises: list[powerloss.Promise] = []
    server = sweep.start(DOCKETD, data, flags, environment=environment)
    assert server.port, server.text
    powerloss.recorded_load(server.port, log, seed, 24, promises)
    server.process.send_signal(signal.SIGKILL)
    server.process.wait()
    server = sweep.start(DOCKETD, data, flags, environment=environment)
    assert server.port, server.text
    powerloss.recorded_load(server.port, log, seed + 1, 12, promises)
    assert sweep.stop(server) == 0, server.text
    records = powerloss.read_log(log)
    check_model(data, records)
    return data, records, promises


def check_model(data: str, records: list[powerloss.Record], present: dict[str, bytes] | None = None) -> None:
    """The model of the whole log with every change kept must be the directory as it is: what a
    crash state is built from is what docketd did (LMDB's lock.mdb, written through a mapping
    the recorder cannot see, aside)."""
    actual = {}
    for name in os.listdir(data):
        with open(os.path.join(data, name), "rb") as f:
            actual[name] = f.read()
    copy = data + ".model"
    powerloss.crash_state(records, len(records), data, random.Random(0), "new", present=present, into=copy)
    for name in sorted((set(actual) | set(os.listdir(copy))) - powerloss.UNMODELLED):
        path = os.path.join(copy, name)
        modelled = open(path, "rb").read() if os.path.exists(path) else None
        assert modelled == actual.get(name), f"the model of {name} is not the file docketd left"
    shutil.rmtree(copy)


def check_states(data: str, records: list[powerloss.Record], promises: list[powerloss.Promise], flags: list[str],
                 seed: int, states: int, kept: callable) -> tuple[int, list[str]]:
    """Starts docketd on `states` crash states; returns how many were checked and what broke.
    `kept(promise, crash record)` says whether a promise must survive a crash there."""
    rng = random.Random(seed)
    failures = []
    points = powerloss.crash_points(records, rng, states)
    for number, upto in enumerate(points):
        mode = ("old", "new", "in-place", "random", "random")[number % 5]
        failures += check_state(data, records, promises, flags, upto, rng, mode, kept)
    return len(points), failures


def check_state(data: str, records: list[powerloss.Record], promises: list[powerloss.Promise], flags: list[str],
                upto: int, rng: random.Random, mode: str, kept: callable,
                present: dict[str, bytes] | None = None) -> list[str]:
    """Starts docketd on one crash state (after `records[:upto]`, the files `present` there
    before the recording); returns what broke."""
    chosen = powerloss.crash_state(records, upto, data, rng, mode, present=present)
    last = records[upto - 1] if upto else None
    due = [p for p in promises if last is not None and kept(p, last)]
    where = f"crash after record {upto} {last} ({mode}; {'; '.join(chosen)})"
    server = sweep.start(DOCKETD, data, flags)
    try:
        if not server.port:
            said = [line for line in server.text.splitlines() if "[ERR]" in line or "[FTL]" in line]
            return [f"{where}: docketd did not start: {' '.join(said) or server.text[-2000:]}"]
        problems = powerloss.broken_promises(server.port, due)
        return [f"{where}: {len(problems)} of {len(due)} promises broken, first: {problems[0]}"] if problems else []
    finally:
        sweep.stop(server)


def test_acknowledged_changes_survive_a_power_loss() -> None:
    work = tempfile.mkdtemp(dir=WORK)
    flags = ["--sync", "always"]
    data, records, promises = record(work, flags, SEED)
    assert promises and records
    checked, failures = check_states(data, records, promises, flags, SEED, STATES,
                                     lambda promise, last: last.end >= promise.logged)
    assert not failures, f"{len(failures)} of {checked} crash states broke a promise:\n" + "\n".join(failures[:10])
    shutil.rmtree(work, ignore_errors=True)


def test_sync_none_starts_after_a_power_loss() -> None:
    """--sync none writes its log without flushes and checkpoints it into data.mdb, durably,
    every 100 ms: a power loss anywhere leaves a directory that starts, with every promise
    kept that a checkpoint made durable before the cut. Before, LMDB committed with
    MDB_NOSYNC, whose meta page, written in place, could reach the disk before the appended
    pages it names, and the start refused data.mdb as cut.

    A checkpoint is two durable LMDB commits (its batches, then the one that settles both meta
    pages), each ending in an O_DSYNC write of a meta page. Of the meta writes after a reply,
    the first two can be the checkpoint under way (which took its batches before the reply's)
    and the third the next one's, which holds it; one more covers a write that began before
    the reply was read."""
    work = tempfile.mkdtemp(dir=WORK)
    flags = ["--sync", "none"]
    data, records, promises = record(work, flags, SEED)
    assert promises and records
    meta_writes = [r.end for r in records if r.op == powerloss.WRITE and r.b and os.path.basename(r.path) == "data.mdb"
                   and r.a < 2 * 4096]

    def kept(promise: powerloss.Promise, last: powerloss.Record) -> bool:
        return sum(1 for end in meta_writes if promise.logged < end <= last.end) >= 4

    # Not a test that passes by checking nothing: some states owe promises.
    owing = [upto for upto in powerloss.crash_points(records, random.Random(SEED), STATES)
             if any(kept(p, records[upto - 1]) for p in promises)]
    assert len(owing) >= STATES // 4, f"only {len(owing)} of {STATES} crash states owe a promise"
    checked, failures = check_states(data, records, promises, flags, SEED, STATES, kept)
    assert not failures, f"{len(failures)} of {checked} crash states broke a promise:\n" + "\n".join(failures[:10])
    shutil.rmtree(work, ignore_errors=True)


def test_a_salvage_start_survives_a_power_loss() -> None:
    """A directory killed under load whose wal-a.log was then cut, started with --salvage (the
    cut file given its size back, the valid batches applied) under a load: a power loss before
    it served anyone leaves a directory that --salvage starts again, and one after leaves a
    directory that starts without it and keeps every promise the salvaged server made."""
    work = tempfile.mkdtemp(dir=WORK)
    data = os.path.join(work, "data")
    log = os.path.join(work, "record.log")
    flags = ["--sync", "always"]
    server = sweep.start(DOCKETD, data, flags)
    assert server.port, server.text
    powerloss.recorded_load(server.port, os.devnull, SEED, 24, [])
    server.process.send_signal(signal.SIGKILL)
    server.process.wait()
    os.truncate(os.path.join(data, "wal-a.log"), 100_000)
    present = {}
    for name in os.listdir(data):
        with open(os.path.join(data, name), "rb") as f:
            present[os.path.join(data, name)] = f.read()
    environment = {"LD_PRELOAD": RECORDER, "DOCKET_RECORD_DIR": data, "DOCKET_RECORD_LOG": log}
    server = sweep.start(DOCKETD, data, flags + ["--salvage"], environment=environment)
    assert server.port, server.text
    promises: list[powerloss.Promise] = []
    powerloss.recorded_load(server.port, log, SEED + 1, 12, promises)
    assert sweep.stop(server) == 0, server.text
    records = powerloss.read_log(log)
    check_model(data, records, present)
    served = min(p.logged for p in promises)
    rng = random.Random(SEED)
    failures = []
    for number, upto in enumerate(powerloss.crash_points(records, rng, STATES // 2)):
        mode = ("old", "new", "in-place", "random", "random")[number % 5]
        again = [] if records[upto - 1].end >= served else ["--salvage"]
        failures += check_state(data, records, promises, flags + again, upto, rng, mode,
                                lambda promise, last: last.end >= promise.logged, present)
    assert not failures, f"{len(failures)} crash states broke a promise:\n" + "\n".join(failures[:10])
    shutil.rmtree(work, ignore_errors=True)
