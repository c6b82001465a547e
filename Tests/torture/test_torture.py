"""The short form of the torture (torture.py): a few rounds of mixed concurrent load, each ended
by SIGKILL, on the embedded store (`--sync always` and `--sync none`) and, when
scripts/with-postgres.sh runs the suite, on PostgreSQL. scripts/torture.py is the long form.

TORTURE_SEED repeats a run (the seed is printed either way); each store's run is bounded to
well under a minute: rounds of at most ROUND_S of load, plus the checks.
"""
from __future__ import annotations

import os
import platform
import time

import pytest

import torture
from parity import Postgres

DOCKETD = os.environ.get("DOCKETD")
pytestmark = pytest.mark.skipif(not DOCKETD, reason="needs DOCKETD")
ROUNDS = 4
ROUND_S = 3.0
SEED = int(os.environ.get("TORTURE_SEED", time.time_ns() % 1_000_000))


@pytest.mark.parametrize("sync", ["always", "none"])
def test_kill_9_under_load_on_the_embedded_store(sync):
    print("seed", SEED)
    figures = torture.run(DOCKETD, ROUNDS, ROUND_S, SEED, ["--sync", sync])
    # The load did what it is for: jobs went through every step before the kills.
    assert figures["acks"] > 0 and figures["handouts"] >= figures["acks"] and figures["ticks"] > 0, figures


@pytest.mark.skipif(not os.path.exists("/proc/self/task") or platform.machine() != "x86_64",
                    reason="needs Linux's /proc and x86-64's system call numbers to see data.mdb being written")
def test_kill_9_inside_checkpoints():
    # Each kill lands while a thread of docketd is inside a write or flush of data.mdb: a
    # checkpoint moving logged batches into LMDB, which the random moments of the other runs
    # hit only by chance.
    print("seed", SEED)
    figures = torture.run(DOCKETD, ROUNDS, ROUND_S, SEED, ["--sync", "always"], at_checkpoints=True)
    assert figures["acks"] > 0 and figures["kills_in_data_writes"] > 0, figures


@pytest.mark.skipif(not os.environ.get("DOCKET_TEST_POSTGRES"), reason="needs scripts/with-postgres.sh")
def test_kill_9_under_load_on_postgres():
    print("seed", SEED)
    postgres = Postgres(os.environ["DOCKET_TEST_POSTGRES"])
    url = postgres.url_for(postgres.new_database())
    figures = torture.run(DOCKETD, ROUNDS, ROUND_S, SEED, [], url)
    assert figures["acks"] > 0 and figures["handouts"] >= figures["acks"] and figures["ticks"] > 0, figures
