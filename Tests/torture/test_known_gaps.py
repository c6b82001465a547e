"""What the torture found, each reduced to its smallest reproduction against a real docketd (the
embedded store, and PostgreSQL under scripts/with-postgres.sh).

One not fixed yet is marked xfail(strict=True): the day a fix lands its test passes, the run
fails, and the mark (and torture.py's way around the gap) must go.
"""
from __future__ import annotations

import json
import os

import pytest

import torture
from parity import Client, Postgres

DOCKETD = os.environ.get("DOCKETD")
pytestmark = pytest.mark.skipif(not DOCKETD, reason="needs DOCKETD")
STORES = ["lmdb"] + (["postgres"] if os.environ.get("DOCKET_TEST_POSTGRES") else [])


@pytest.fixture(params=STORES)
def client(request):
    url = None
    if request.param == "postgres":
        postgres = Postgres(os.environ["DOCKET_TEST_POSTGRES"])
        url = postgres.url_for(postgres.new_database())
    server = torture.Server(DOCKETD, [], url)
    server.start()
    c = Client(server.port)
    yield c
    c.close()
    server.close()


def state(c: Client, job: str) -> str:
    return json.loads(c.run("INSPECT %s\r\n" % job)[0].split("\n", 1)[1])["state"]


def test_a_run_child_waits_for_its_other_parent_after_one_died_was_retried_and_completed(client):
    # PROTOCOL.md, Dependencies: a child runs once every parent completed, a dead parent counting
    # as done under on_parent_dead=run. Parent a dies (one count), is retried and completes (a
    # second count for the same parent): b has not run, yet the child is released.
    reply = client.run("BATCH 3\r\nENQ pa 1\r\na\r\nENQ pb 1\r\nb\r\nENQ pc after=#1,#2 on_parent_dead=run 1\r\nc\r\n")
    a, b, child = reply[0].split(" ")[1:4]
    assert client.run("RESERVE pa timeout=0\r\n")[0].startswith("JOB %s " % a)
    assert client.run("FAIL %s retry=no\r\n" % a) == ["+OK dead"]
    assert state(client, child) == "blocked"  # b still to come
    assert client.run("RETRY %s\r\n" % a) == ["+OK"]
    assert client.run("RESERVE pa timeout=0\r\n")[0].startswith("JOB %s " % a)
    assert client.run("ACK %s\r\n" % a) == ["+OK"]
    assert state(client, b) == "waiting"
    assert state(client, child) == "blocked"
    assert client.run("RESERVE pb timeout=0\r\n")[0].startswith("JOB %s " % b)
    assert client.run("ACK %s\r\n" % b) == ["+OK"]
    assert state(client, child) == "waiting"  # both parents done now


def test_a_run_child_waits_again_for_a_parent_revived_with_its_queue(client):
    """RETRY queue= revives a dead parent as RETRY does: the child waits for it again."""
    reply = client.run("BATCH 3\r\nENQ qa 1\r\na\r\nENQ qb 1\r\nb\r\nENQ qc after=#1,#2 on_parent_dead=run 1\r\nc\r\n")
    a, b, child = reply[0].split(" ")[1:4]
    assert client.run("RESERVE qa timeout=0\r\n")[0].startswith("JOB %s " % a)
    assert client.run("FAIL %s retry=no\r\n" % a) == ["+OK dead"]
    assert client.run("RETRY queue=qa\r\n")[0].startswith("+OK")
    assert client.run("RESERVE qa timeout=0\r\n")[0].startswith("JOB %s " % a)
    assert client.run("ACK %s\r\n" % a) == ["+OK"]
    assert state(client, b) == "waiting"
    assert state(client, child) == "blocked"
