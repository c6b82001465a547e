"""The start as an operator meets it, on a data directory with enough jobs that their recovery
takes a while (about a second on a debug build):

- a port another process holds stops the start before the store is opened: the refusal, and no
  "Recovered" line before it;
- during the recovery the monitoring port answers 503 {"status":"recovering",...} (/healthz, and
  every other path), and a client that connects meanwhile waits in the backlog and is served once
  the server is ready, with every job there; /healthz answers 200 after.

    DOCKETD=$PWD/.build/debug/docketd python3 -m pytest -q Tests/deploy/test_startup.py
"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time

import resource

import pytest

DOCKETD = os.environ.get("DOCKETD")
pytestmark = pytest.mark.skipif(not DOCKETD, reason="set DOCKETD to a docketd binary")
JOBS = 200_000
BATCH = 1000


def clean_env():
    return {k: v for k, v in os.environ.items() if not k.startswith("DOCKET_")}


class Server:
    """docketd with its log read on a thread: the lines so far, and the ports it names."""

    def __init__(self, *args):
        self.proc = subprocess.Popen([DOCKETD, *args], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=clean_env())
        self.lines = []
        self.changed = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stderr:
            with self.changed:
                self.lines.append(line)
                self.changed.notify_all()
        with self.changed:
            self.lines.append(None)
            self.changed.notify_all()

    def wait_for(self, pattern, timeout=120):
        """The first match of `pattern` in the log, once a line has it (None if docketd exits first)."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while True:
                for line in self.lines:
                    if line is None:
                        return None
                    if m := re.search(pattern, line):
                        return m
                assert self.changed.wait(max(0.0, deadline - time.monotonic())), f"no {pattern!r} in {self.lines}"

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(60)


def exchange(sock, data, until):
    sock.sendall(data)
    reply = b""
    while until not in reply:
        chunk = sock.recv(65536)
        assert chunk, reply
        reply += chunk
    return reply


@pytest.fixture(scope="module")
def filled(tmp_path_factory):
    """A data directory holding JOBS waiting jobs in queue `q`, filled without fsyncs."""
    data = tmp_path_factory.mktemp("filled")
    server = Server("--addr", "127.0.0.1", "--port", "0", "--data-dir", str(data), "--sync", "none")
    try:
        assert server.wait_for("Server is ready")
        port = int(server.wait_for(r"client connections on 127\.0\.0\.1:(\d+)").group(1))
        with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
            exchange(sock, b'CONNECT {"verbose":false}\r\nPING\r\n', b"PONG\r\n")
            batch = b"BATCH %d\r\n" % BATCH + b"ENQ q 1\r\nx\r\n" * BATCH
            for _ in range(JOBS // BATCH):
                sock.sendall(batch)
            exchange(sock, b"PING\r\n", b"PONG\r\n")
    finally:
        assert server.stop() == 0
    return data


def copy_of(filled, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(filled, data)
    return str(data)


def http_get(port, path):
    """(status, body) of a GET, or None while nothing listens on the port."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
            response = b""
            while chunk := sock.recv(65536):
                response += chunk
    except ConnectionRefusedError:
        return None
    head, _, body = response.partition(b"\r\n\r\n")
    return int(head.split()[1]), body.decode()


@pytest.mark.parametrize("taken", ["--port", "--http-port"])
def test_a_port_taken_stops_the_start_before_the_recovery(filled, tmp_path, taken):
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    port = holder.getsockname()[1]
    ports = {"--port": "0", "--http-port": "0", taken: str(port)}
    try:
        args = ["--addr", "127.0.0.1", "--data-dir", copy_of(filled, tmp_path)]
        for flag, value in ports.items():
            args += [flag, value]
        result = subprocess.run([DOCKETD, *args], capture_output=True, text=True, timeout=120, env=clean_env())
    finally:
        holder.close()
    assert result.returncode == 1, result.stderr
    assert f"on port {port} of 127.0.0.1" in result.stderr, result.stderr
    assert "Address already in use" in result.stderr
    # The cause once, the port named by what it serves.
    assert result.stderr.count(f"port {port}") == 1, result.stderr
    if taken == "--http-port":
        assert "the monitoring port: cannot listen" in result.stderr, result.stderr
    # The store was not even opened: no recovery line, before the refusal or at all.
    assert "Recovered" not in result.stderr, result.stderr


def test_the_monitoring_port_says_recovering_and_a_waiting_client_is_served_after(filled, tmp_path):
    server = Server("--addr", "127.0.0.1", "--port", "0", "--http-port", "0", "--data-dir", copy_of(filled, tmp_path))
    try:
        http = int(server.wait_for(r"monitoring connections on http://127\.0\.0\.1:(\d+)").group(1))
        port = int(server.wait_for(r"client connections on 127\.0\.0\.1:(\d+)").group(1))
        answer = None
        deadline = time.monotonic() + 60
        while answer is None and time.monotonic() < deadline:
            answer = http_get(http, "/healthz")
        assert answer is not None
        status, body = answer
        assert status == 503, body
        document = json.loads(body)
        assert document["status"] == "recovering" and document["jobs_read"] >= 0, body
        # The documents describe a server that does not exist yet: every path says the same.
        status, varz = http_get(http, "/varz")
        assert status == 503 and json.loads(varz)["status"] == "recovering", varz

        # Connected during the recovery: /healthz still says so after the connect went through
        # (and so the answers above came during it too).
        client = socket.create_connection(("127.0.0.1", port), timeout=120)
        status, body = http_get(http, "/healthz")
        assert status == 503 and json.loads(body)["status"] == "recovering", body
        assert not any("Server is ready" in (line or "") for line in server.lines)
        with client:
            reply = exchange(client, b'CONNECT {"verbose":false}\r\nPING\r\n', b"PONG\r\n")
            assert reply.startswith(b"INFO ")
            reply = exchange(client, b"QUEUE q\r\n", b"}\r\n")
            queue = json.loads(reply[reply.index(b"{"):reply.rindex(b"}") + 1])
            assert queue["jobs"]["waiting"] == JOBS, queue["jobs"]
        assert server.wait_for("Server is ready")
        assert http_get(http, "/healthz") == (200, '{"status":"ok"}')
        recovered = next(i for i, line in enumerate(server.lines) if "Recovered" in line)
        ready = next(i for i, line in enumerate(server.lines) if "Server is ready" in line)
        assert recovered < ready
    finally:
        assert server.stop() == 0


def thread_cpu_seconds(pid, name):
    """User and system time of `pid`'s thread called `name`; None once it has none."""
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/comm") as comm:
                if comm.read().strip() != name:
                    continue
            with open(f"/proc/{pid}/task/{tid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return None


def test_out_of_descriptors_during_the_recovery_the_monitoring_port_waits_instead_of_spinning(filled, tmp_path):
    # Out of descriptors, accept leaves a connection in the backlog and the listener stays
    # readable: the start's responder polled it again at once, 100% of a core for the rest of the
    # recovery. It now waits as the loop's listeners do (AcceptBackoff).
    server = Server("--addr", "127.0.0.1", "--port", "0", "--http-port", "0", "--data-dir", copy_of(filled, tmp_path))
    pid = server.proc.pid
    idle = []
    try:
        http = int(server.wait_for(r"monitoring connections on http://127\.0\.0\.1:(\d+)").group(1))
        # The store is open once the recovery has read jobs: every descriptor it needs is taken.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            answer = http_get(http, "/healthz")
            if answer and answer[0] == 503 and json.loads(answer[1]).get("jobs_read", 0) > 0:
                break
        else:
            pytest.fail(f"no recovery seen: {answer}")
        # The running server's limit lowered to what it holds: the next accept finds none free.
        limit = resource.prlimit(pid, resource.RLIMIT_NOFILE)
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (len(os.listdir(f"/proc/{pid}/fd")), limit[1]))
        try:
            # A few: a connection the responder has answered may not be closed yet, and frees one.
            idle += [socket.create_connection(("127.0.0.1", http), timeout=30) for _ in range(4)]
            first = thread_cpu_seconds(pid, "startup-http")
            started = time.monotonic()
            last, elapsed = first, 0.0
            while (now := thread_cpu_seconds(pid, "startup-http")) is not None and elapsed < 1.0:
                last, elapsed = now, time.monotonic() - started
                time.sleep(0.05)
        finally:
            resource.prlimit(pid, resource.RLIMIT_NOFILE, limit)
        assert first is not None and elapsed >= 0.2, f"the recovery ended too soon to measure ({elapsed:.2f} s)"
        # Waiting, the thread wakes ten times a second; spinning, it takes most of a core.
        assert last - first < 0.1 * elapsed + 0.03, f"startup-http used {last - first:.2f} s of CPU in {elapsed:.2f} s"
        # With descriptors back, the waiting request is answered and the start goes on.
        status, body = exchange_http(idle[0])
        assert status in (200, 503), body
        assert server.wait_for("Server is ready"), server.lines
        assert http_get(http, "/healthz") == (200, '{"status":"ok"}')
    finally:
        for sock in idle:
            sock.close()
        assert server.stop() == 0


def exchange_http(sock):
    """(status, body) of a GET /healthz on the open `sock`."""
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    response = b""
    while chunk := sock.recv(65536):
        response += chunk
    head, _, body = response.partition(b"\r\n\r\n")
    return int(head.split()[1]), body.decode()
