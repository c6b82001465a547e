"""docketd's embedded store on a real, small file system that fills up: a tmpfs mounted with
`size=` as the data directory (mounting needs root, or CAP_SYS_ADMIN; skipped otherwise).

A new directory on a full disk is refused with exit 1 and a line naming the full disk, never a
signal, and starts once there is room.

    DOCKETD=$PWD/.build/debug/docketd python3 -m pytest -q Tests/fault-injection/test_full_disk.py
"""
from __future__ import annotations

import os
import subprocess
import tempfile

import pytest

import sweep

DOCKETD = os.environ.get("DOCKETD")
# The files of a new directory take about 4.2 MB (two 2 MiB log files, data.mdb's first pages).
DISK_MB = 16


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


def fill(point: str, name: str = "filler") -> None:
    """Takes every free byte of the file system with a file of its own."""
    with open(os.path.join(point, name), "wb") as filler:
        try:
            while True:
                filler.write(b"\0" * (1 << 16))
                filler.flush()
        except OSError:
            pass


def assert_all_there(data: str, acknowledged: list[str], flags: list[str]) -> None:
    server = sweep.start(DOCKETD, data, flags)
    assert server.port is not None, server.text
    connection = sweep.Connection(server.port)
    missing = [job for job in acknowledged if not connection.ask(f"INSPECT {job}").startswith("JSON")]
    connection.close()
    assert sweep.stop(server) == 0, server.text
    assert not missing, f"{len(missing)} of {len(acknowledged)} jobs answered +OK are gone: {missing[:5]}"


def test_a_new_directory_on_a_full_disk_is_refused_with_the_reason(disk: str) -> None:
    fill(disk)
    data = os.path.join(disk, "data")
    server = sweep.start(DOCKETD, data, [])
    assert server.port is None and server.process.returncode == 1, server.text
    assert "Cannot start:" in server.text and ("No space left on device" in server.text or "free on its file system" in server.text), server.text
    os.unlink(os.path.join(disk, "filler"))
    assert_all_there(data, [], [])
