"""NATS clients' own test suites start "nats-server" with a fixed command line and poll
http://127.0.0.1:<-m port>/varz until it answers 200 (nats.py's tests/utils.py does exactly
this, looping for ever on any other status). docketd must take that command line as it is:
-p, -m, -a, --user/--pass, --auth, -DV, and the TLS flags, with /varz answering plain HTTP.
nats.c's harness spells the same flags with one dash, as Go's flag package allows (-auth,
-user, -pass, -config, -tls…), and sends the log to a file with -l."""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import time

import pytest

from conftest import server_mode


def _free_port() -> int:
    return _free_ports(1)[0]


def _free_ports(count: int) -> list:
    """`count` different free ports: each probe stays bound until all are taken (one closed
    first can be handed out again, and docketd refuses -m equal to -p)."""
    probes = [socket.socket() for _ in range(count)]
    try:
        for probe in probes:
            probe.bind(("127.0.0.1", 0))
        return [probe.getsockname()[1] for probe in probes]
    finally:
        for probe in probes:
            probe.close()


def _varz_status(port: int) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    connection.request("GET", "/varz")
    return connection.getresponse().status


@pytest.mark.docketd_only("checks docketd's command line against nats.py's harness")
@pytest.mark.parametrize("extra", [
    [],
    ["--user", "foo", "--pass", "bar"],
    ["--auth", "token"],
    ["-DV"],
    ["--tls", "--tlscert", "CERT", "--tlskey", "KEY", "--tlsverify", "--tlscacert", "CA"],
    ["-user", "ivan", "-pass", "secret"],
    ["-auth", "testSecret"],
    ["-DVV", "-l", "LOG"],
    ["-tls", "-tlscert", "CERT", "-tlskey", "KEY", "-tlscacert", "CA", "-tlsverify"],
    ["-config", "CONF"],
], ids=["plain", "user", "token", "debug", "tls", "one-dash-user", "one-dash-token", "log-file", "one-dash-tls",
        "one-dash-config"])
def test_the_harness_command_line_starts_and_varz_answers(tmp_path, extra):
    if "CERT" in extra:
        def openssl(*args):
            subprocess.run(["openssl", *args], cwd=tmp_path, check=True, capture_output=True, timeout=60)
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
                "-subj", "/CN=CA")
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost")
        openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                "-out", "server.pem", "-days", "2")
        names = {"CERT": "server.pem", "KEY": "server.key", "CA": "ca.pem"}
        extra = [str(tmp_path / names[word]) if word in names else word for word in extra]
    if "CONF" in extra:
        (tmp_path / "server.conf").write_text("max_payload: 4096\nauthorization { user: ivan, password: pwd }\n")
    extra = [{"LOG": str(tmp_path / "server.log"), "CONF": str(tmp_path / "server.conf")}.get(word, word)
             for word in extra]
    port, http_port = _free_ports(2)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKET_")}
    env["DOCKET_DATA_DIR"] = str(tmp_path / "data")
    argv = [os.environ["DOCKETD"], "-p", str(port), "-m", str(http_port), "-a", "127.0.0.1", *extra]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    try:
        status = None
        deadline = time.monotonic() + 10
        # As the harness does: until /varz answers 200 (503 while docketd recovers its jobs).
        while time.monotonic() < deadline and proc.poll() is None and status != 200:
            try:
                status = _varz_status(http_port)
            except OSError:
                pass
            if status != 200:
                time.sleep(0.05)
        assert proc.poll() is None, proc.stderr.read().decode()
        assert status == 200
        if "-l" in extra:
            # The log went to the file, at trace level, and nothing to standard error.
            log = (tmp_path / "server.log").read_text()
            assert "Server is ready" in log
            _expect_in_log(tmp_path / "server.log", port, "[TRC]")
        if str(tmp_path / "server.conf") in extra:
            varz = _varz(http_port)
            assert varz["max_payload"] == 4096 and varz["auth_required"] is True
    finally:
        proc.terminate()
        proc.wait(10)
    if "-l" in extra:
        assert proc.stderr.read() == b""


def _varz(port: int) -> dict:
    import json
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    connection.request("GET", "/varz")
    return json.loads(connection.getresponse().read())


def _expect_in_log(path, port: int, text: str) -> None:
    """Traffic on the client port shows up in the log file as `text` (a trace line)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
        client.recv(4096)  # INFO
        client.sendall(b"PING\r\n")
        assert client.recv(4096).startswith(b"PONG")
    deadline = time.monotonic() + 5
    while text not in path.read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert text in path.read_text()


@pytest.mark.docketd_only("signals docketd directly")
def test_sigusr1_reopens_the_log_file_for_rotation(tmp_path):
    """As nats-server: after a rotator moves the file away, SIGUSR1 makes docketd write to a new
    one at the same path; the old file keeps what was written before."""
    import signal

    log, rotated = tmp_path / "docketd.log", tmp_path / "docketd.log.1"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKET_")}
    proc = subprocess.Popen([os.environ["DOCKETD"], "-p", "0", "--data-dir", str(tmp_path / "data"), "-l", str(log)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    try:
        deadline = time.monotonic() + 10
        while not (log.exists() and "Server is ready" in log.read_text()) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "Server is ready" in log.read_text()
        log.rename(rotated)
        proc.send_signal(signal.SIGUSR1)
        while not log.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "Reopened the log file" in log.read_text()
        proc.terminate()
        assert proc.wait(10) == 0
        assert "shutting down" in log.read_text()
        assert "shutting down" not in rotated.read_text() and "Server is ready" in rotated.read_text()
        assert proc.stderr.read() == b""
    finally:
        if proc.poll() is None:
            proc.kill()


@pytest.mark.docketd_only("signals docketd directly")
@pytest.mark.parametrize("signame", ["SIGUSR1", "SIGHUP"])
def test_sigusr1_without_a_log_file_and_sighup_are_harmless(tmp_path, signame):
    """Neither signal's default action (the end of the process) may take the server down: a
    SIGUSR1 from a log rotator, a SIGHUP meant as nats-server's reload."""
    import signal

    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKET_")}
    proc = subprocess.Popen([os.environ["DOCKETD"], "-p", "0", "--data-dir", str(tmp_path / "data")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    try:
        for line in proc.stderr:
            if "Server is ready" in line:
                break
        proc.send_signal(getattr(signal, signame))
        for line in proc.stderr:
            if signame in line:
                break
        assert proc.poll() is None
        proc.terminate()
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


@pytest.mark.docketd_only("signals docketd directly")
def test_lame_duck_mode_reaches_nats_py(tmp_path):
    """SIGUSR2 puts the server in lame duck mode: nats-py hears of it (lame_duck_mode_cb), stays
    connected through the grace period, and the server then closes it and stops."""
    import asyncio
    import signal

    import nats

    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKET_")}
    proc = subprocess.Popen([os.environ["DOCKETD"], "-p", str(port), "--data-dir", str(tmp_path / "data"),
                             "--lame-duck-grace-period", "500ms", "--lame-duck-duration", "500ms"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    try:
        for line in proc.stderr:
            if "Server is ready" in line:
                break

        async def main():
            told = asyncio.get_running_loop().create_future()

            async def on_lame_duck():
                if not told.done():
                    told.set_result(True)

            nc = await nats.connect(f"nats://127.0.0.1:{port}", lame_duck_mode_cb=on_lame_duck, allow_reconnect=False)
            proc.send_signal(signal.SIGUSR2)
            await asyncio.wait_for(told, 5)
            assert nc.is_connected
            await nc.close()

        asyncio.run(main())
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


@pytest.mark.docketd_only("checks docketd's own refusal")
def test_a_log_file_that_cannot_be_opened_refuses_the_start(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKET_")}
    result = subprocess.run([os.environ["DOCKETD"], "-p", "0", "--data-dir", str(tmp_path / "data"),
                             "-l", str(tmp_path / "missing" / "docketd.log")],
                            capture_output=True, text=True, timeout=30, env=env)
    assert result.returncode == 64
    assert "cannot open the log file" in result.stderr and "No such file or directory" in result.stderr


@pytest.mark.docketd_only("checks docketd's command line against nats.py's nats-server package")
@pytest.mark.parametrize("how", ["--port -1", "--port=-1", "config port: -1", "config listen: 127.0.0.1:-1"])
def test_port_minus_one_picks_a_free_port_as_nats_server_does(tmp_path, how):
    """nats.py's nats-server package (`nats.server.run(port=0)`, which the Python client's new
    core suite starts every server with) passes `--port -1`, nats-server's "any free port", then
    reads the port from the "Listening for client connections on HOST:PORT" line and waits for
    "Server is ready". Its client then refuses an INFO without `go`, `host` or `port`."""
    import json
    import re

    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKET_")}
    argv = [os.environ["DOCKETD"], "--data-dir", str(tmp_path / "data")]
    if how.startswith("config"):
        (tmp_path / "server.conf").write_text(how.removeprefix("config ").replace("127.0.0.1:-1", '"127.0.0.1:-1"') + "\n")
        argv += ["--config", str(tmp_path / "server.conf")]
    else:
        argv += how.split(" ")
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    try:
        port = None
        for line in proc.stderr:
            if match := re.search(r"Listening for client connections on (.+):(\d+)", line):
                port = int(match.group(2))
            if "Server is ready" in line:
                break
        assert proc.poll() is None and port is not None and port > 0
        with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
            line = client.makefile("rb").readline()
        assert line.startswith(b"INFO ")
        info = json.loads(line[5:])
        assert info["port"] == port and info["host"] == "127.0.0.1"
        assert isinstance(info["go"], str) and info["go"]
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.mark.docketd_only("checks docketd's start-up errors against nats.py's nats-server package")
def test_start_up_errors_say_what_a_harness_looks_for(tmp_path):
    """nats.py's harness reports why a server did not start from its standard error, and its
    tests look there for "port" (the port is taken) and "Parse error" (the file is not a
    configuration). A file that is one JSON object, as nats-server takes it, starts the server."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKET_")}

    def start(*args):
        return subprocess.run([os.environ["DOCKETD"], "--data-dir", str(tmp_path / "data"), *args],
                              capture_output=True, text=True, env=env, timeout=30)

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        result = start("--port", str(busy))
        assert result.returncode != 0 and f"port {busy}" in result.stderr, result.stderr

    (tmp_path / "invalid.conf").write_text('{\n  "port": : "invalid syntax"\n}\n')
    result = start("--config", str(tmp_path / "invalid.conf"))
    assert result.returncode == 64 and "invalid.conf:2:" in result.stderr and "Parse error" in result.stderr, result.stderr

    port = _free_port()
    (tmp_path / "json.conf").write_text('{\n  "port": %d,\n  "max_payload": 2048\n}\n' % port)
    proc = subprocess.Popen([os.environ["DOCKETD"], "--data-dir", str(tmp_path / "data2"), "--config", str(tmp_path / "json.conf")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    try:
        for line in proc.stderr:
            if "Server is ready" in line:
                break
        with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
            assert b'"max_payload":2048' in client.makefile("rb").readline()
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.mark.parametrize("how", ["config", "flags"])
def test_the_ports_file_and_the_pid_file_as_nats_js_harness_reads_them(tmp_path, how):
    """nats.js's harness starts "nats-server -c CONF" with `port: -1` and `ports_file_dir: TMP`, then
    polls TMP/nats-server_<pid>.ports for the URLs to connect to. Started here through a wrapper
    script named nats-server (as this repository's suite scripts start docketd), whose exec
    keeps the pid but not the name; the same from the flags (-P, --ports_file_dir)."""
    import shutil
    import urllib.request

    docketd = server_mode() == "docketd"
    binary = os.environ["DOCKETD"] if docketd else shutil.which("nats-server")
    wrapper = tmp_path / "nats-server"
    data = f'--data-dir "{tmp_path / "data"}" ' if docketd else ""
    wrapper.write_text(f'#!/bin/sh\nexec "{binary}" {data}"$@"\n')
    wrapper.chmod(0o755)
    pid_file = tmp_path / "server.pid"
    if how == "config":
        (tmp_path / "server.conf").write_text(
            f'port: -1\nhttp_port: -1\nports_file_dir: "{tmp_path}"\npid_file: "{pid_file}"\n')
        argv = [str(wrapper), "-c", str(tmp_path / "server.conf")]
    else:
        argv = [str(wrapper), "-a", "127.0.0.1", "-p", "-1", "-m", "-1", "-P", str(pid_file), "--ports_file_dir", str(tmp_path)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKET_")}
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    ports_file = tmp_path / f"nats-server_{proc.pid}.ports"
    try:
        ports = _ports_file(proc, ports_file)
        nats_url = next(url for url in ports["nats"] if url.startswith("nats://127.0.0.1:"))
        with socket.create_connection(("127.0.0.1", int(nats_url.rsplit(":", 1)[1])), timeout=5) as client:
            assert client.recv(4096).startswith(b"INFO ")
            client.sendall(b"CONNECT {\"verbose\":false}\r\nPING\r\n")
            assert client.recv(4096).startswith(b"PONG")
        monitoring = next(url for url in ports["monitoring"] if url.startswith("http://127.0.0.1:"))
        with urllib.request.urlopen(monitoring + "/varz", timeout=5) as response:
            assert response.status == 200
        assert pid_file.read_text().strip() == str(proc.pid)
    finally:
        proc.terminate()
        proc.wait(10)
    assert not ports_file.exists()
    if docketd:
        # nats-server leaves its pid file behind; docketd removes its own at a clean exit.
        assert not pid_file.exists() and list(tmp_path.glob("*.ports")) == []


def test_the_configuration_nats_js_harness_gives_every_server_starts_it(tmp_path):
    """nats.js's harness (confDefaults) gives each server a leaf node port, server tags and a
    plain WebSocket port, all on -1, and reads every port back from the ports file."""
    import shutil

    docketd = server_mode() == "docketd"
    binary = os.environ["DOCKETD"] if docketd else shutil.which("nats-server")
    (tmp_path / "server.conf").write_text(
        'host: "127.0.0.1"\nport: -1\nhttp: "127.0.0.1:-1"\nleafnodes {\n  listen: "127.0.0.1:-1"\n}\n'
        'server_tags: [\n  "id:T1"\n]\nwebsocket {\n  port: -1\n  no_tls: true\n}\n'
        f'ports_file_dir: "{tmp_path}"\n')
    argv = [binary, *(["--data-dir", str(tmp_path / "data")] if docketd else []), "-c", str(tmp_path / "server.conf")]
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKET_")}
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    ports_file = tmp_path / f"nats-server_{proc.pid}.ports"
    try:
        ports = _ports_file(proc, ports_file)
        assert {"nats", "monitoring", "websocket"} <= set(ports), ports
        assert ports["websocket"][0].startswith("ws://127.0.0.1:")
        port = int(ports["nats"][0].rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
            assert client.recv(4096).startswith(b"INFO ")
    finally:
        proc.terminate()
        proc.wait(10)
    if docketd:
        assert "docketd opens no leaf node port" in proc.stderr.read().decode()


def _ports_file(proc, path) -> dict:
    """The ports file's document, once the server has written it (as nats.js's harness polls)."""
    import json

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):
            time.sleep(0.05)
    raise AssertionError(proc.stderr.read().decode() if proc.poll() is not None else f"no {path}")


@pytest.mark.docketd_only("docketd's refusal to start")
@pytest.mark.parametrize("flag", ["-P", "--ports_file_dir"])
def test_a_pid_or_ports_file_that_cannot_be_written_stops_the_start(tmp_path, flag):
    missing = tmp_path / "no-such-directory"
    target = str(missing / "d.pid") if flag == "-P" else str(missing)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKET_")}
    run = subprocess.run([os.environ["DOCKETD"], "-p", "0", "--data-dir", str(tmp_path / "data"), flag, target],
                         capture_output=True, text=True, timeout=30, env=env)
    assert run.returncode == 1 and f"cannot write {missing}/" in run.stderr, run.stderr


@pytest.mark.docketd_only("docketd's refusal to start")
def test_a_start_stopped_by_the_ports_file_leaves_no_pid_file(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKET_")}
    run = subprocess.run([os.environ["DOCKETD"], "-p", "0", "--data-dir", str(tmp_path / "data"), "-P", str(tmp_path / "d.pid"),
                          "--ports_file_dir", str(tmp_path / "missing")], capture_output=True, text=True, timeout=30, env=env)
    assert run.returncode == 1, run.stderr
    assert not (tmp_path / "d.pid").exists()


@pytest.mark.docketd_only("docketd's refusal to start")
def test_a_pid_file_of_a_running_docketd_is_not_taken_but_a_dead_ones_is(tmp_path):
    """A second docketd given the first's -P (on a data directory of its own) wrote over the
    first's pid file and removed it at its exit: the first ran on with no pid file. It is
    refused now, naming the pid; a pid file left by a process that is gone is written over."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKET_")}
    pid_file = tmp_path / "d.pid"
    gone = subprocess.Popen(["true"])
    gone.wait()
    pid_file.write_text(f"{gone.pid}\n")
    first = subprocess.Popen([os.environ["DOCKETD"], "-p", "0", "--data-dir", str(tmp_path / "one"), "-P", str(pid_file)],
                             stderr=subprocess.PIPE, env=env)
    try:
        deadline = time.monotonic() + 30
        while pid_file.read_text().strip() != str(first.pid):
            assert first.poll() is None and time.monotonic() < deadline, first.stderr.read().decode()
            time.sleep(0.05)
        second = subprocess.Popen([os.environ["DOCKETD"], "-p", "0", "--data-dir", str(tmp_path / "two"), "-P", str(pid_file)],
                                  stderr=subprocess.PIPE, text=True, env=env)
        try:
            second.wait(30)
        except subprocess.TimeoutExpired:
            second.kill()
        stderr = second.communicate()[1]
        assert second.returncode == 1, stderr
        assert f"the pid file {pid_file} names pid {first.pid}, a docketd that is still running" in stderr, stderr
        assert pid_file.read_text().strip() == str(first.pid)
    finally:
        first.terminate()
        first.wait(30)
    assert first.returncode == 0 and not pid_file.exists()


def test_a_pid_file_written_over_since_is_left_at_exit(tmp_path):
    """At its exit docketd removes its pid file only while it still names docketd: one another
    process wrote since (a supervisor starting the next server) is not its to remove."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKET_")}
    pid_file = tmp_path / "d.pid"
    server = subprocess.Popen([os.environ["DOCKETD"], "-p", "0", "--data-dir", str(tmp_path / "data"), "-P", str(pid_file)],
                              stderr=subprocess.PIPE, env=env)
    try:
        deadline = time.monotonic() + 30
        while not pid_file.exists() or pid_file.read_text().strip() != str(server.pid):
            assert server.poll() is None and time.monotonic() < deadline, server.stderr.read().decode()
            time.sleep(0.05)
        pid_file.write_text("4242\n")
    finally:
        server.terminate()
        server.wait(30)
    assert server.returncode == 0
    assert pid_file.read_text() == "4242\n"
