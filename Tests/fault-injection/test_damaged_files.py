"""docketd started on copies of one stopped data directory, each damaged another way: its files
deleted or emptied, its lock files garbage, its log cut at records and in their middle, and bits flipped in its log and in data.mdb (seeded, bounded).

The directory holds jobs in every state (waiting, delayed, blocked behind a parent, active,
completed with a result, dead, failed and waiting for a retry), idempotency keys, a schedule, a
paused queue and queue settings; it was killed with SIGKILL, so its log holds batches beyond
the last checkpoint. Each start must either hold exactly what an undamaged copy holds, or
refuse with exit status 1 and a line naming the directory and the damaged file; never a signal,
never short.

Not asked, because the README documents them as what cannot be told from a crash: the newest
record of a log damaged or zeroed (the start goes on without it, and says so when it can).

    DOCKETD=$PWD/.build/debug/docketd python3 -m pytest -q Tests/fault-injection/test_damaged_files.py
"""
from __future__ import annotations

import os
import random
import re
import shutil
import signal
import struct
import tempfile

import pytest

import sweep

DOCKETD = os.environ.get("DOCKETD")
SEED = int(os.environ.get("DOCKET_DAMAGE_SEED", "1"))
FLIPS = 12  # per file; each is a start of about a second
CUTS = 8    # records of each log cut at and inside
WORK = tempfile.mkdtemp(prefix="docket-damage-")
pytestmark = pytest.mark.skipif(not DOCKETD, reason="needs DOCKETD")
LOGS = ("wal-a.log", "wal-b.log")


def fill(data: str) -> None:
    server = sweep.start(DOCKETD, data, [])
    c, worker = sweep.Connection(server.port), sweep.Connection(server.port)
    rng = random.Random(SEED)
    for command in ("QUEUE q concurrency=50 rate=1000/1s attempts=4", "QUEUE p attempts=2", "PAUSE p"):
        assert c.ask(command).startswith(("+OK", "JSON")), command
    assert c.ask("SCHEDULE tick q every=1h 3", b"tic") == "+OK"

    def enqueue(options: str, payload: bytes) -> None:
        assert c.ask(f"ENQ q {options} {len(payload)}", payload).startswith("+OK ")

    for i in range(30):
        enqueue(f"key=k{i} pri={rng.randrange(-5, 5)}", bytes(rng.randrange(97, 123) for _ in range(rng.choice((1, 50, 3000, 9000)))))
    for i in range(5):
        enqueue(f"key=d{i} delay=1h", b"later")
    assert c.ask("ENQ p key=p1 2", b"pp").startswith("+OK ")
    assert c.ask("BATCH 2\r\nENQ q key=f1 2\r\nf1\r\nENQ q after=#1 2", b"f2").startswith("+OK ")
    for i in range(12):
        job = int(worker.ask("RESERVE q timeout=1s").split()[1])
        finish = (f"ACK {job} 6", f"FAIL {job} retry=no 4", f"FAIL {job} retry=1h 3", None)[i % 4]
        if finish:
            assert worker.ask(finish, (b"result", b"oops", b"bad")[i % 4]).startswith("+OK")
    # The last changes, only in the log when the kill comes.
    for i in range(40):
        enqueue(f"key=t{i}", bytes(rng.randrange(97, 123) for _ in range(rng.choice((1, 50, 3000)))))
    server.process.send_signal(signal.SIGKILL)
    server.process.wait()


def state(port: int, jobs: int) -> dict:
    """Every job's INSPECT and the queues' and schedules' documents, without what a restart
    itself changes (the time a held job was taken back, how long jobs have waited)."""
    c = sweep.Connection(port)
    found = {}
    for job in range(1, jobs + 1):
        found[job] = re.sub(r'"ended_at":\d+,"error":"worker lost: server restarted"', "LOST", c.ask(f"INSPECT {job}"))
    queues = re.sub(r'^JSON \d+ |"(oldest_waiting_ms|rate_window_starts)":\d+', "", c.ask("QUEUES"))
    found["queues"], found["schedules"] = queues, c.ask("SCHEDULES")
    c.close()
    return found


def records(path: str) -> list[tuple[int, int, int]]:
    """(offset, length, sequence) of the file's current round (WriteAheadLog's layout)."""
    data = open(path, "rb").read()
    found, offset = [], 0
    while offset + 16 <= len(data):
        length, _ = struct.unpack_from("<II", data, offset)
        if length < 8 or offset + 8 + length > len(data):
            break
        sequence = struct.unpack_from("<Q", data, offset + 8)[0]
        if found and sequence != found[-1][2] + 1:
            break
        found.append((offset, length, sequence))
        offset += 8 + length
    return found


@pytest.fixture(scope="module")
def directory() -> tuple[str, dict]:
    data = os.path.join(WORK, "filled")
    fill(data)
    server = sweep.start(DOCKETD, copy(data), [])
    expected = state(server.port, 100)
    assert sweep.stop(server) == 0, server.text
    return data, expected


def copy(directory: str) -> str:
    target = tempfile.mkdtemp(dir=WORK)
    shutil.rmtree(target)
    shutil.copytree(directory, target)
    return target


def flip(path: str, offset: int, bit: int) -> None:
    with open(path, "r+b") as file:
        file.seek(offset)
        byte = file.read(1)[0]
        file.seek(offset)
        file.write(bytes([byte ^ (1 << bit)]))


def start_damaged(directory: tuple[str, dict], damage, names: str) -> None:
    """Damages a copy with `damage(path)`, starts docketd on it, and checks the promise;
    `names` is the file a refusal must name."""
    data = copy(directory[0])
    damage(data)
    server = sweep.start(DOCKETD, data, [])
    if server.port is None:
        status = server.process.wait()
        assert status == 1 and "Cannot start:" in server.text and data in server.text and names in server.text, f"exit {status}\n{server.text}"
    else:
        found = state(server.port, 100)
        assert sweep.stop(server) == 0, server.text
        lost = {k: (v, found[k]) for k, v in directory[1].items() if found[k] != v}
        assert not lost, f"started short of what was acknowledged:\n{lost}\n{server.text}"
    shutil.rmtree(data)


@pytest.mark.parametrize("name", ["LOCK", "lock.mdb", "data.mdb", *LOGS])
@pytest.mark.parametrize("how", ["deleted", "emptied"])
def test_a_file_deleted_or_emptied(directory, name: str, how: str) -> None:
    def damage(data: str) -> None:
        if how == "deleted":
            os.remove(os.path.join(data, name))
        else:
            open(os.path.join(data, name), "wb").close()
    start_damaged(directory, damage, name)


@pytest.mark.parametrize("name,size", [("LOCK", 100), ("lock.mdb", 37), ("lock.mdb", 8192)])
def test_a_lock_file_of_garbage(directory, name: str, size: int) -> None:
    garbage = bytes(random.Random(SEED).randrange(256) for _ in range(size))
    start_damaged(directory, lambda data: open(os.path.join(data, name), "wb").write(garbage), name)


@pytest.mark.parametrize("name", LOGS)
def test_a_log_cut_at_records_and_inside_them(directory, name: str) -> None:
    found = records(os.path.join(directory[0], name))
    for offset, length, _ in random.Random(f"{SEED}-{name}").sample(found, min(CUTS, len(found))):
        for cut in (offset, offset + 8 + length // 2):
            start_damaged(directory, lambda data: os.truncate(os.path.join(data, name), cut), name)


@pytest.mark.parametrize("name", LOGS)
def test_bits_flipped_in_a_log(directory, name: str) -> None:
    found = records(os.path.join(directory[0], name))
    # The newest record of a log damaged reads as a write a crash interrupted (see above).
    newest = max(sequence for log in LOGS for _, _, sequence in records(os.path.join(directory[0], log)))
    ends = [offset + 8 + length for offset, length, sequence in found if sequence != newest]
    rng = random.Random(f"{SEED}-{name}")
    for _ in range(FLIPS if ends else 0):
        offset, bit = rng.randrange(max(ends)), rng.randrange(8)
        start_damaged(directory, lambda data: flip(os.path.join(data, name), offset, bit), name)


def test_bits_flipped_in_data_mdb(directory) -> None:
    size = os.path.getsize(os.path.join(directory[0], "data.mdb"))
    rng = random.Random(f"{SEED}-data.mdb")
    for _ in range(2 * FLIPS):
        offset, bit = rng.randrange(size), rng.randrange(8)
        start_damaged(directory, lambda data: flip(os.path.join(data, "data.mdb"), offset, bit), "data.mdb")
