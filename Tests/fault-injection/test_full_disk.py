"""docketd's embedded store on a real, small file system that fills up: a tmpfs mounted with
`size=` as the data directory (mounting needs root, or CAP_SYS_ADMIN; skipped otherwise).

Filled with jobs, the server refuses new ones with STORE_FULL naming the disk while
--min-disk-free is still free, and keeps serving: RESERVE, ACK, PUB. Given room again (the
mount grown), it takes jobs again without a restart. Filled at once by another file (at start,
during a burst that grows the log, under --sync none), it either keeps serving or stops with
exit 1 and a line saying why, never a signal; started again once there is room, every job
answered +OK is there.

    DOCKETD=$PWD/.build/debug/docketd python3 -m pytest -q Tests/fault-injection/test_full_disk.py
"""
from __future__ import annotations

import errno
import os
import subprocess
import tempfile
import time

import pytest

import sweep

DOCKETD = os.environ.get("DOCKETD")
# The files of a new directory take about 4.2 MB (two 2 MiB log files, data.mdb's first pages).
DISK_MB = 16
ROOM = "3MiB"   # --min-disk-free for these runs: a quarter of what the jobs may take
PAYLOAD = b"x" * 1000


def mount_tmpfs(size_mb: int) -> str | None:
    point = tempfile.mkdtemp(prefix="docket-full-disk-")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs", point],
                          capture_output=True, text=True)
    if done.returncode != 0:
        os.rmdir(point)
        return None
    return point


@pytest.fixture
def disk():
    if not DOCKETD:
        pytest.skip("needs DOCKETD")
    point = mount_tmpfs(DISK_MB)
    if point is None:
        pytest.skip("cannot mount a tmpfs here (needs root or CAP_SYS_ADMIN)")
    yield point
    subprocess.run(["umount", "-l", point], check=False)
    os.rmdir(point)


def resize(point: str, size_mb: int) -> None:
    subprocess.run(["mount", "-o", f"remount,size={size_mb}m", point], check=True)


def fill(point: str, name: str = "filler") -> None:
    """Takes every free byte of the file system with a file of its own (none when not one is
    left: a CI run found the server's own files had taken the last of it)."""
    try:
        filler = open(os.path.join(point, name), "wb", buffering=0)
    except OSError as error:
        if error.errno != errno.ENOSPC:
            raise
        return
    # Unbuffered: a buffered file keeps what a full disk refused and writes it again as it
    # closes, which raised ENOSPC out of this function in a CI run.
    with filler:
        try:
            while True:
                filler.write(b"\0" * (1 << 16))
        except OSError:
            pass


def unfill(point: str, name: str = "filler") -> None:
    """Gives back what `fill` took."""
    try:
        os.unlink(os.path.join(point, name))
    except FileNotFoundError:
        pass


def enqueue_until_refused(port: int, limit: int = 20000) -> tuple[list[str], str]:
    """ENQs until one is not +OK (or the server goes): the ids answered +OK, and the refusal."""
    connection = sweep.Connection(port)
    acknowledged = []
    try:
        for _ in range(limit):
            reply = connection.ask(f"ENQ full {len(PAYLOAD)}", PAYLOAD)
            if not reply.startswith("+OK"):
                return acknowledged, reply
            acknowledged.append(reply.split()[1])
        return acknowledged, "(never refused)"
    except (ConnectionError, OSError) as error:
        return acknowledged, f"(connection lost: {error})"
    finally:
        connection.close()


def assert_all_there(data: str, acknowledged: list[str], flags: list[str]) -> None:
    server = sweep.start(DOCKETD, data, flags)
    assert server.port is not None, server.text
    connection = sweep.Connection(server.port)
    missing = [job for job in acknowledged if not connection.ask(f"INSPECT {job}").startswith("JSON")]
    connection.close()
    assert sweep.stop(server) == 0, server.text
    assert not missing, f"{len(missing)} of {len(acknowledged)} jobs answered +OK are gone: {missing[:5]}"


@pytest.mark.parametrize("sync, given", [("always", "flag"), ("none", "config")])
def test_jobs_that_fill_the_disk_are_refused_and_the_server_keeps_serving(disk: str, sync: str, given: str) -> None:
    # Before --min-disk-free, the jobs filled the disk until a checkpoint's commit failed
    # (2,587 jobs of 1 KB on an 8 MB tmpfs) and docketd exited 1: workers could not drain the
    # queue, nor subscribers hear anything, until someone made room and restarted it.
    data = os.path.join(disk, "data")
    flags = ["--sync", sync, "--min-disk-free", ROOM]
    if given == "config":
        config = tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False)
        config.write("docket { min_disk_free: %s }\n" % ROOM)
        config.close()
        flags = ["--sync", sync, "-c", config.name]
    server = sweep.start(DOCKETD, data, flags)
    assert server.port is not None, server.text
    acknowledged, refusal = enqueue_until_refused(server.port)
    assert refusal.startswith("-ERR 'STORE_FULL") and "disk" in refusal and "--min-disk-free" in refusal, (refusal, server.text)
    assert acknowledged and server.process.poll() is None, server.text

    # Reads, the changes that finish jobs (with a result too: it may take half the room kept),
    # and messages go on.
    worker = sweep.Connection(server.port)
    for index in range(20):
        job = worker.ask("RESERVE full timeout=1s")
        assert job.startswith("JOB "), job
        if index % 2:
            assert worker.ask(f"ACK {job.split()[1]} 4", b"done") == "+OK", server.text
        else:
            assert worker.ask(f"ACK {job.split()[1]}") == "+OK", server.text
    worker.sock.sendall(b"SUB news 1\r\nPUB news 5\r\nhello\r\nPING\r\n")
    assert worker.line() == "MSG news 1 5" and worker.body(5) == b"hello"
    worker.close()
    time.sleep(0.3)  # two checkpoints: the ACKs' pages written into data.mdb
    assert server.process.poll() is None, server.text

    # Room again: new jobs are taken once the next measurement sees it, without a restart.
    resize(disk, DISK_MB * 2)
    deadline = time.monotonic() + sweep.REPLY_TIMEOUT_S
    connection = sweep.Connection(server.port)
    reply = connection.ask(f"ENQ full {len(PAYLOAD)}", PAYLOAD)
    while not reply.startswith("+OK") and time.monotonic() < deadline:
        time.sleep(0.05)
        reply = connection.ask(f"ENQ full {len(PAYLOAD)}", PAYLOAD)
    assert reply.startswith("+OK"), reply
    acknowledged.append(reply.split()[1])
    connection.close()
    assert sweep.stop(server) == 0, server.text
    assert_all_there(data, acknowledged, flags)


@pytest.mark.parametrize("sync", ["always", "none"])
def test_another_file_taking_the_room_stops_the_server_cleanly_and_loses_nothing(disk: str, sync: str) -> None:
    # The disk filled by something else, all at once: --min-disk-free cannot keep room that is
    # gone, and a commit that cannot be written stops docketd (README, "A full disk").
    data = os.path.join(disk, "data")
    flags = ["--sync", sync, "--min-disk-free", ROOM]
    server = sweep.start(DOCKETD, data, flags)
    assert server.port is not None, server.text
    acknowledged, _ = enqueue_until_refused(server.port, limit=500)
    fill(disk)
    more, refusal = enqueue_until_refused(server.port, limit=5000)
    acknowledged += more
    status = sweep.stop(server)
    assert status in (0, 1), server.text  # never a signal (a SIGBUS from a mapped file)
    if status == 1:
        assert "[ERR] Store" in server.text and ("No space left on device" in server.text or "free on its file system" in server.text), server.text
    else:
        assert refusal.startswith("-ERR 'STORE_FULL"), refusal

    # A start on the full disk refuses with a line that says why, or starts.
    again = sweep.start(DOCKETD, data, flags)
    if again.port is None:
        assert again.process.wait(sweep.EXIT_TIMEOUT_S) == 1 and "Cannot start:" in again.text, again.text
    else:
        assert sweep.stop(again) in (0, 1), again.text
    unfill(disk)
    assert_all_there(data, acknowledged, flags)


def test_a_new_directory_on_a_full_disk_is_refused_with_the_reason(disk: str) -> None:
    fill(disk)
    data = os.path.join(disk, "data")
    server = sweep.start(DOCKETD, data, [])
    assert server.port is None and server.process.wait(sweep.EXIT_TIMEOUT_S) == 1, server.text
    assert "Cannot start:" in server.text and ("No space left on device" in server.text or "free on its file system" in server.text), server.text
    unfill(disk)
    assert_all_there(data, [], [])
