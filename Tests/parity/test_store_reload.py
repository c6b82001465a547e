"""The database password changes while docketd runs: the DBA sets a new one, the configuration
file gets it, and SIGHUP makes the connections docketd opens from then on use it, so that when
its connections are next lost (here: the DBA ends them) it connects again without a restart.
A string that names another database is not taken at a reload (that takes a restart), and a
wrong password shows where a lost connection's reason does.

A private cluster (cluster.py) whose TCP logins for the role `worker` need a password.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

import pytest

from cluster import Cluster, server_binaries
from parity import Client

DOCKETD = os.environ.get("DOCKETD")
pytestmark = pytest.mark.skipif(not DOCKETD or server_binaries() is None, reason="needs DOCKETD and PostgreSQL's programs")

BOUND_S = 15


def enq(c: Client) -> str:
    return c.run("ENQ q 1\r\nx\r\n")[0]


def wait_for_log(path: str, text: str, times: int = 1) -> None:
    deadline = time.monotonic() + BOUND_S
    while time.monotonic() < deadline:
        if os.path.exists(path):
            with open(path) as f:
                if f.read().count(text) >= times:
                    return
        time.sleep(0.05)
    raise AssertionError("the log never said %r" % text)


def healthz(port: int) -> tuple[int, str]:
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/healthz" % port, timeout=5) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


@pytest.fixture
def cluster():
    c = Cluster()
    # Before the trust line initdb wrote: TCP logins of `worker` need its password.
    hba = os.path.join(c.data, "pg_hba.conf")
    subprocess.run(c.run_as + ["sh", "-c", "{ echo 'host all worker 127.0.0.1/32 scram-sha-256'; cat %s; } > %s.new && mv %s.new %s"
                               % (hba, hba, hba, hba)], check=True)
    c._pg("pg_ctl", "-D", c.data, "reload")
    c.psql("CREATE ROLE worker LOGIN SUPERUSER PASSWORD 'first'")
    yield c
    c.stop()
    c.remove()


def test_a_new_password_in_the_configuration_is_used_for_the_next_connections(cluster):
    work = tempfile.mkdtemp(prefix="docket-reload-")
    conf, log = os.path.join(work, "docketd.conf"), os.path.join(work, "docketd.log")
    url = "postgres://worker:%%s@127.0.0.1:%d/postgres" % cluster.port

    def configure(password: str, database: str = "postgres") -> None:
        with open(conf, "w") as f:
            f.write('docket { store: "%s" }\n' % (url.replace("/postgres", "/" + database) % password))

    configure("first")
    proc = subprocess.Popen([DOCKETD, "--port", "0", "--http-port", "0", "--data-dir", work, "-c", conf, "-l", log,
                             "--store-timeout", "2s"], stderr=subprocess.DEVNULL)
    try:
        wait_for_log(log, "Server is ready")
        text = open(log).read()
        port = int(re.search(r"client connections on 127\.0\.0\.1:(\d+)", text).group(1))
        http = int(re.search(r"monitoring connections on http://127\.0\.0\.1:(\d+)", text).group(1))
        c = Client(port)
        assert enq(c).startswith("+OK")

        # Another database is not taken at a reload: the log says it waits for a restart.
        configure("first", "elsewhere")
        proc.send_signal(signal.SIGHUP)
        wait_for_log(log, "applied only at the next start: store")

        cluster.psql("ALTER ROLE worker PASSWORD 'second'")
        configure("second")
        proc.send_signal(signal.SIGHUP)
        wait_for_log(log, "SIGHUP: reloaded", times=2)
        assert enq(c).startswith("+OK"), "the open connections go on"

        # The DBA ends docketd's sessions: the next ones log in with the new password.
        cluster.psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'worker'")
        deadline = time.monotonic() + BOUND_S
        reply = enq(c)
        while not reply.startswith("+OK") and time.monotonic() < deadline:
            assert "UNAVAILABLE" in reply, reply
            time.sleep(0.1)
            reply = enq(c)
        assert reply.startswith("+OK"), "docketd did not connect again with the new password: %s" % reply
        assert healthz(http)[0] == 200
        text = open(log).read()
        assert "and the store's connection settings" in text.split("SIGHUP: reloaded")[2], text
        assert "password authentication failed" not in text

        # A wrong one is told where a lost connection's reason is: /healthz, UNAVAILABLE, the log.
        configure("wrong")
        proc.send_signal(signal.SIGHUP)
        wait_for_log(log, "SIGHUP: reloaded", times=3)
        cluster.psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'worker'")
        deadline = time.monotonic() + BOUND_S
        status, body = healthz(http)
        while "password authentication failed" not in body and time.monotonic() < deadline:
            time.sleep(0.1)
            status, body = healthz(http)
        assert status == 503 and "password authentication failed" in body, (status, body)
        assert "password authentication failed" in enq(c)
        wait_for_log(log, "password authentication failed")
    finally:
        proc.terminate()
        proc.wait(10)
        subprocess.run(["rm", "-rf", work])
