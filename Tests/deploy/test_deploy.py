"""deploy/: the systemd unit and the example configuration, exercised for real.

- systemd-analyze verify finds nothing to say about the unit (it exits 0 even on warnings, so
  any output fails the test);
- docketd tells systemd READY=1 once it serves and STOPPING=1 on SIGTERM (the unit is
  Type=notify), over a datagram socket the test binds as NOTIFY_SOCKET;
- the example configuration starts docketd, and its three roles do what the comments say.
"""

import json
import os
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKETD = os.environ.get("DOCKETD")
pytestmark = pytest.mark.skipif(not DOCKETD, reason="set DOCKETD to a docketd binary")
SECRETS = {"WEBAPP_PASS": "w-secret", "WORKER_PASS": "k-secret", "OPS_PASS": "o-secret"}


def start(args, env_extra=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKET_")}
    env.update(env_extra or {})
    proc = subprocess.Popen([DOCKETD, *args], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env)
    port = None
    deadline = time.monotonic() + 10
    for line in proc.stderr:
        if m := re.search(r"client connections on 127\.0\.0\.1:(\d+)", line):
            port = int(m.group(1))
        if "Server is ready" in line or time.monotonic() > deadline:
            break
    return proc, port


def stop(proc):
    proc.terminate()
    return proc.wait(10)


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_the_unit_verifies_cleanly(tmp_path):
    unit = (ROOT / "deploy/docketd.service").read_text()
    # verify checks that ExecStart's binary and the files it names exist: point them here.
    unit = unit.replace("/usr/local/bin/docketd", DOCKETD).replace("/etc/docket/docketd.conf", str(ROOT / "deploy/docketd.conf"))
    path = tmp_path / "docketd.service"
    path.write_text(unit)
    result = subprocess.run(["systemd-analyze", "verify", str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout.strip() == "" and result.stderr.strip() == "", result.stdout + result.stderr
    assert "Type=notify" in unit


def test_readiness_and_stopping_reach_systemd(tmp_path):
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    address = str(tmp_path / "notify.sock")
    listener.bind(address)
    listener.settimeout(10)
    proc, port = start(["--port", "0", "--data-dir", str(tmp_path / "data")], {"NOTIFY_SOCKET": address})
    try:
        messages = [listener.recv(4096).decode()]
        while "READY=1" not in messages[-1].split("\n"):
            messages.append(listener.recv(4096).decode())
        ready = messages[-1]
        # Before it, the recovery says what the start is doing (`systemctl status` shows it).
        assert messages[0].startswith("STATUS=recovering jobs from "), messages
        assert f":{port}" in ready  # STATUS names the port it serves
        assert stop(proc) == 0
        assert listener.recv(4096).decode() == "STOPPING=1"
    finally:
        if proc.poll() is None:
            proc.kill()
        listener.close()


class Line:
    def __init__(self, port, user, password):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.file = self.sock.makefile("rb")
        assert b'"auth_required":true' in self.file.readline()
        self.sock.sendall(("CONNECT " + json.dumps({"verbose": False, "user": user, "pass": password}) + "\r\n").encode())

    def call(self, text):
        self.sock.sendall(text.encode() + b"\r\n")
        return self.file.readline().decode().rstrip("\r\n")


def test_the_example_configuration_serves_its_three_roles(tmp_path):
    proc, port = start(["--config", str(ROOT / "deploy/docketd.conf"), "--port", "0", "--http-port", "0",
                        "--data-dir", str(tmp_path / "data")], SECRETS)
    try:
        assert port, "docketd did not start with the example configuration"
        webapp = Line(port, "webapp", SECRETS["WEBAPP_PASS"])
        assert webapp.call("ENQ emails 2\r\nhi") == "+OK 1"
        assert webapp.call("RESERVE emails timeout=0").startswith("-ERR 'FORBIDDEN")
        webapp.sock.sendall(b"PUB orders.new 2\r\nno\r\n")
        assert webapp.call("PING").startswith("-ERR 'Permissions Violation for Publish")
        worker = Line(port, "worker", SECRETS["WORKER_PASS"])
        assert worker.call("RESERVE emails timeout=0").startswith("JOB 1 emails 1 ")
        worker.file.readline()
        assert worker.call("ACK 1") == "+OK"
        assert worker.call("DEL 1").startswith("-ERR 'FORBIDDEN")
        ops = Line(port, "ops", SECRETS["OPS_PASS"])
        assert ops.call("DEL 1") == "+OK"
        wrong = Line(port, "ops", "guess")
        assert wrong.call("PING") == "-ERR 'Authorization Violation'"
        assert stop(proc) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
