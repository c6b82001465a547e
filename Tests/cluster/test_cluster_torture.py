"""The short form of the cluster torture (cluster_torture.py): three docketd nodes on one
PostgreSQL, linked by routes and by a nats-server cluster in turn, a few rounds of mixed load
with a node killed or paused, a nats-server killed or PostgreSQL restarted at random moments.
`scripts/torture.py --cluster` is the long form.

CLUSTER_TORTURE_SEED repeats a run (the seed is printed either way). Bounded to about a minute
and a half: ROUNDS rounds of ROUND_S of load with their faults, plus the checks.
"""
from __future__ import annotations

import os
import shutil
import time

import pytest

import cluster_torture
from cluster import server_binaries

DOCKETD = os.environ.get("DOCKETD")
pytestmark = [
    pytest.mark.skipif(not DOCKETD, reason="needs DOCKETD"),
    pytest.mark.skipif(server_binaries() is None, reason="needs PostgreSQL's server programs"),
    pytest.mark.skipif(not (shutil.which("nats-server") or os.path.exists("/usr/sbin/nats-server")), reason="needs nats-server"),
]
ROUNDS = 4
ROUND_S = 6.0
SEED = int(os.environ.get("CLUSTER_TORTURE_SEED", time.time_ns() % 1_000_000))


def test_kills_pauses_and_link_loss_across_three_nodes():
    print("seed", SEED)
    figures = cluster_torture.run(DOCKETD, ROUNDS, ROUND_S, SEED)
    # The load did what it is for: jobs went through every step, and faults struck.
    assert figures["acks"] > 0 and figures["handouts"] >= figures["acks"] and figures["faults"], figures
