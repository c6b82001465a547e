"""docketd on PostgreSQL under settings a DBA gives the database for everyone's sessions: a
`statement_timeout` or `lock_timeout` meant for people's queries must not cancel docketd's
transactions (each carries many clients' commands, and would be cancelled again every time it
is sent), nor an `idle_session_timeout` close its connections between passes. docketd's own
`--store-timeout` says how long it waits.

Each test makes a database of its own on the cluster scripts/with-postgres.sh started, and
takes a few seconds.
"""
from __future__ import annotations

import os
import subprocess
import time

import pytest

from parity import Client, Postgres, Side

DOCKETD = os.environ.get("DOCKETD")
PG_URL = os.environ.get("DOCKET_TEST_POSTGRES")
pytestmark = pytest.mark.skipif(not DOCKETD or not PG_URL, reason="needs DOCKETD and DOCKET_TEST_POSTGRES")

# The test's own sessions keep no timeout, whatever the database's default.
NO_TIMEOUTS = dict(os.environ, PGOPTIONS="-c statement_timeout=0 -c lock_timeout=0")
HOLD_S = 1.5


def psql(postgres: Postgres, database: str, sql: str, **popen) -> subprocess.Popen:
    return subprocess.Popen([postgres.psql, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", postgres.url_for(database), "-c", sql],
                            env=dict(NO_TIMEOUTS, PGAPPNAME="row holder"), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, **popen)


def query(postgres: Postgres, database: str, sql: str) -> str:
    done = psql(postgres, database, sql)
    out, err = done.communicate(timeout=60)
    assert done.returncode == 0, err
    return out.strip()


@pytest.mark.parametrize("setting", ["statement_timeout", "lock_timeout"])
def test_a_timeout_the_database_gives_everyone_does_not_cancel_docketd(setting):
    postgres = Postgres(PG_URL)
    database = postgres.new_database()
    side = None
    holder = None
    try:
        postgres.run("ALTER DATABASE %s SET %s = '100ms'" % (database, setting))
        side = Side(DOCKETD, ["--store-timeout", "10s"], postgres.url_for(database))
        worker = Client(side.port)
        [enqueued] = worker.run("ENQ dba 1\r\nx\r\n")
        assert enqueued.startswith("+OK "), enqueued
        job = int(enqueued.split(" ")[1])
        [reserved] = worker.run("RESERVE dba timeout=1s\r\n")
        assert reserved.startswith("JOB %d " % job), reserved

        # Another session holds the job's row for longer than the database's timeout: docketd's
        # ACK waits for it, as it would behind another docketd's transaction.
        holder = psql(postgres, database, "BEGIN; SELECT id FROM docket.jobs WHERE id = %d FOR UPDATE; SELECT pg_sleep(%s); COMMIT"
                      % (job, HOLD_S))
        until = time.monotonic() + 10
        while query(postgres, database, "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'row holder' AND wait_event = 'PgSleep'") != "1":
            assert holder.poll() is None, holder.communicate()
            assert time.monotonic() < until, "the row holder never got to its sleep"
            time.sleep(0.05)

        assert worker.run("ACK %d\r\n" % job) == ["+OK"]
        assert holder.wait(10) == 0, holder.communicate()
        assert query(postgres, database, "SELECT state FROM docket.jobs WHERE id = %d" % job) == "completed"
    finally:
        if holder is not None and holder.poll() is None:
            holder.kill()
            holder.wait()
        if side is not None:
            side.stop()
        postgres.run("DROP DATABASE IF EXISTS %s WITH (FORCE)" % database)


def test_an_idle_session_timeout_the_database_gives_everyone_does_not_close_docketd_connections():
    postgres = Postgres(PG_URL)
    database = postgres.new_database()
    side = None
    try:
        postgres.run("ALTER DATABASE %s SET idle_session_timeout = '100ms'" % database)
        side = Side(DOCKETD, ["--store-timeout", "10s"], postgres.url_for(database))
        client = Client(side.port)
        assert client.run("ENQ dba 1\r\nx\r\n")[0].startswith("+OK ")
        sessions = "SELECT string_agg(pid::text, ',' ORDER BY pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        until = time.monotonic() + 10
        while len(query(postgres, database, sessions).split(",")) != 2:  # the main connection and the ENQs' own
            assert time.monotonic() < until, query(postgres, database, sessions)
            time.sleep(0.05)
        before = query(postgres, database, sessions)
        # Ten times the database's timeout with nothing to do: the same two sessions.
        time.sleep(1)
        assert query(postgres, database, sessions) == before
        assert client.run("ENQ dba 1\r\nx\r\n")[0].startswith("+OK ")
    finally:
        if side is not None:
            side.stop()
        postgres.run("DROP DATABASE IF EXISTS %s WITH (FORCE)" % database)
