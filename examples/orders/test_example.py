"""Smoke test of the orders example: run.sh with 5 orders must see every order's outcome.

    python3 -m pytest -q examples/orders/test_example.py

Uses the debug docketd of this checkout (.build/debug/docketd), or $DOCKETD when set.
"""
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
DOCKETD = os.path.abspath(os.environ.get("DOCKETD") or str(REPO / ".build" / "debug" / "docketd"))
ORDERS = 5
LIMIT_S = 60


def run_example(cwd):
    """Runs run.sh from another directory; returns (status, output, seconds)."""
    env = dict(os.environ, DOCKETD=DOCKETD, ORDERS=str(ORDERS), TIMEOUT="40")
    started = time.monotonic()
    process = subprocess.Popen(
        ["bash", str(HERE / "run.sh")], cwd=cwd, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        output, _ = process.communicate(timeout=LIMIT_S)
    except subprocess.TimeoutExpired:
        # SIGTERM lets run.sh's trap stop everything it started, docketd included.
        os.killpg(process.pid, signal.SIGTERM)
        try:
            output, _ = process.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            output, _ = process.communicate()
        pytest.fail(f"run.sh did not finish within {LIMIT_S} s:\n{output}")
    return process.returncode, output, time.monotonic() - started


@pytest.mark.skipif(not os.access(DOCKETD, os.X_OK), reason=f"no docketd at {DOCKETD}")
def test_every_order_reaches_an_outcome(tmp_path):
    status, output, seconds = run_example(tmp_path)
    assert status == 0, output
    assert seconds < LIMIT_S

    # The watcher's summary has one line per order: "order 3: invoice completed after 2 attempts, email sent".
    outcomes = dict(re.findall(r"^watcher +\|   order (\d+): (invoice (?:completed|dead) .*)$", output, re.M))
    assert sorted(map(int, outcomes)) == list(range(1, ORDERS + 1)), output
    for order, outcome in outcomes.items():
        if outcome.startswith("invoice completed"):
            assert "email sent" in outcome, f"order {order}: {outcome}"
    assert "NO OUTCOME" not in output
    assert "seq contiguous: none missed" in output

    # run.sh stopped everything and removed its temporary directory.
    work = re.search(r"data in (\S+)/data", output).group(1)
    assert not os.path.exists(work), f"{work} was left behind"
