"""Output waiting for clients that do not read, all of it together (--max-pending-total).

--max-pending bounds what one client may have waiting (64 MiB). A publisher's firehose to
subscribers that never read held that much for each of them: 20 such subscribers took 1.3 GiB,
and enough of them would take all memory. Past --max-pending-total, the clients with the most
output waiting are cut off as slow consumers, and a subscriber that keeps reading gets every
message.
"""

from __future__ import annotations

import os
import socket
import subprocess
import threading

import pytest

from conftest import READY_TIMEOUT, ServerProcess, connect_raw as connect, read_line

pytestmark = pytest.mark.docketd_only("docketd's bound on all clients' output together")

PAYLOAD = 1024
MESSAGES = 20_000  # 20 MiB to each subscriber: past what loopback sockets hold
MESSAGE = b"MSG fire 1 %d\r\n" % PAYLOAD + b"x" * PAYLOAD + b"\r\n"


def subscribe(port: int) -> socket.socket:
    sock = connect(port)
    sock.sendall(b"SUB fire 1\r\nPING\r\n")
    assert read_line(sock) == b"PONG\r\n"
    return sock


def read_to_end(sock: socket.socket, seconds: float) -> bool:
    """Whether the server closes `sock` within `seconds` of reads that take all it sent."""
    sock.settimeout(seconds)
    try:
        while sock.recv(1 << 20):
            pass
        return True
    except socket.timeout:
        return False
    except ConnectionResetError:
        return True


@pytest.mark.parametrize("how", ["flag", "config", "environment"])
def test_past_max_pending_total_the_clients_with_the_most_waiting_are_cut_off(tmp_path, how):
    argv = [os.environ["DOCKETD"], "--port", "0", "--data-dir", str(tmp_path / "data"), "--max-pending", "64MiB"]
    environment = ""
    if how == "flag":
        argv += ["--max-pending-total", "4MiB"]
    elif how == "config":
        (tmp_path / "docketd.conf").write_text("docket { max_pending_total: 4MiB }\n")
        argv += ["-c", str(tmp_path / "docketd.conf")]
    else:
        environment = "DOCKET_MAX_PENDING_TOTAL=4MiB"
    command = f"{environment} exec " + " ".join(f"'{arg}'" for arg in argv)
    server = ServerProcess(["/bin/sh", "-c", command], "docketd")
    server.wait_for_log_ready(READY_TIMEOUT)
    stalled = []
    try:
        stalled = [subscribe(server.port) for _ in range(3)]
        reader = subscribe(server.port)
        received = 0

        def read_all():
            nonlocal received
            while received < MESSAGES * len(MESSAGE):
                chunk = reader.recv(1 << 20)
                if not chunk:
                    return
                received += len(chunk)

        thread = threading.Thread(target=read_all, daemon=True)
        thread.start()
        publisher = connect(server.port)
        message = b"PUB fire %d\r\n" % PAYLOAD + b"x" * PAYLOAD + b"\r\n"
        for _ in range(MESSAGES // 100):
            publisher.sendall(message * 100)
        publisher.sendall(b"PING\r\n")
        assert read_line(publisher) == b"PONG\r\n"
        thread.join(30)
        assert received == MESSAGES * len(MESSAGE), "the subscriber that reads missed messages"
        # 20 MiB each is far below --max-pending: only the bound on all of them cuts them off.
        for sock in stalled:
            assert read_to_end(sock, 10), "a subscriber that never read is still served"
        assert "(--max-pending-total)" in server.log.text()
        assert "Slow Consumer Detected" in server.log.text()
    finally:
        for sock in stalled:
            sock.close()
        server.stop()


def test_max_pending_total_must_be_a_size(tmp_path):
    result = subprocess.run([os.environ["DOCKETD"], "--port", "0", "--data-dir", str(tmp_path / "data"),
                             "--max-pending-total", "12"], capture_output=True, text=True, timeout=30)
    assert result.returncode != 0
    assert "--max-pending-total must be a size between 1024 bytes and 1024GiB" in result.stderr
