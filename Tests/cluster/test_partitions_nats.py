"""A docketd node whose link to its nats-server (`--cluster-nats`) goes silent: every packet
dropped, no RST, no FIN (netns.py). While the link is taken for up, the node sends what its
clients publish up, and leaves its queue groups to the cluster: what the nats-server never gets
reaches no member anywhere. So how soon the node notices is what bounds the loss; once it has,
it serves its groups itself and keeps what is published, and after the heal the link is made
again by itself.

Skipped (with the reason) where namespaces cannot be made. Bounded: about half a minute.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import time

import pytest

import netns
from test_partitions import START_BOUND_S, Namespaced, wait_until

DOCKETD = os.environ.get("DOCKETD")
NATS_SERVER = shutil.which("nats-server") or ("/usr/sbin/nats-server" if os.path.exists("/usr/sbin/nats-server") else None)
NETNS_UNAVAILABLE = netns.available()
pytestmark = [
    pytest.mark.skipif(not DOCKETD, reason="needs DOCKETD"),
    pytest.mark.skipif(NATS_SERVER is None, reason="needs nats-server"),
    pytest.mark.skipif(NETNS_UNAVAILABLE is not None, reason=NETNS_UNAVAILABLE or ""),
]
NATS_ADDRESS = "10.77.0.2"
CLUSTER_PING_S = 1
# Three PINGs unanswered, then the fourth tick closes the link: four intervals after the last
# word from the server; one more for the timer's phase, and a second for a slow machine.
NOTICE_BOUND_S = 5 * CLUSTER_PING_S + 1
# A connect that hears nothing is given up after 5 s and tried again (0.1 s doubling to 5 s).
REJOIN_BOUND_S = 20


class Hosts(Namespaced):
    """nats-server on host `nats`, docketd on hosts node0 and node1, each joined to it."""

    def __init__(self) -> None:
        super().__init__("docket-partition-nats-")
        try:
            self.net.add_host("nats", {"net": 2})
            self.procs.append(self.net.run("nats", [NATS_SERVER, "-a", NATS_ADDRESS, "-p", "4222"],
                                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            env = {"DOCKET_CLUSTER_PING_INTERVAL": "%ds" % CLUSTER_PING_S}
            for i in range(2):
                self.net.add_host("node%d" % i, {"net": 10 + i})
                self.start_docketd("node%d" % i, ["--cluster-nats", "nats://%s:4222" % NATS_ADDRESS], env=env)
            for i in range(2):
                wait_until("node%d linked" % i, lambda i=i: self.link(i)["connected"], START_BOUND_S)
        except BaseException:
            self.close()
            raise

    def link(self, i: int) -> dict:
        return self.http(i, "/varz")[1]["cluster"]


def test_a_silent_nats_server_is_noticed_within_the_cluster_ping_bound_and_the_link_comes_back():
    hosts = Hosts()
    try:
        member, plain, publisher = hosts.client(0), hosts.client(0), hosts.client(0)
        member.run("SUB work members 1\r\n")
        plain.run("SUB work 1\r\n")
        wait_until("the interest upstream", lambda: hosts.link(0)["subscriptions"] == 2, START_BOUND_S)
        hosts.net.cut("node0", "net")
        sent = []

        def noticed_while_publishing() -> bool:
            sent.append("during-%d" % len(sent))
            publisher.run("PUB work %d\r\n%s\r\n" % (len(sent[-1]), sent[-1]))
            time.sleep(0.2)
            return not hosts.link(0)["connected"]
        noticed = wait_until("node 0 takes its link for lost", noticed_while_publishing, 60)
        print("link to a silent nats-server closed %.1f s after the cut" % noticed)
        wait_until("the plain subscriber hears all", lambda: plain.run("") is not None and len(plain.messages) >= len(sent), 10)
        assert sorted(m.split("\n", 1)[1] for m in plain.messages) == sorted(sent), "a local plain subscriber hears every one"
        member.run("")
        print("the queue group heard %d of the %d messages published before the link was taken for lost" % (
            len(member.messages), len(sent)))
        status, health = hosts.http(0, "/healthz")
        assert status == 200 and health["cluster"]["connected"] is False, health
        # Taken for lost, the node serves its own group member again.
        publisher.run("PUB work 4\r\nmine\r\n")
        wait_until("node 0's member hears what node 0 publishes", lambda: member.run("") is not None and
                   any(m.endswith("\nmine") for m in member.messages), 10)
        # What it keeps for the cluster meanwhile is in /varz, and bounded (--cluster-max-pending).
        held = hosts.link(0)
        assert held["pending_bytes"] >= len("PUB work 4\r\nmine\r\n") and held["dropped_msgs"] == 0, held
        hosts.net.heal("node0", "net")
        rejoined = wait_until("the link made again", lambda: hosts.link(0)["connected"], REJOIN_BOUND_S)
        print("link made again %.1f s after the heal" % rejoined)
        wait_until("what was kept has gone up", lambda: hosts.link(0)["pending_bytes"] == 0, REJOIN_BOUND_S)
        assert noticed <= NOTICE_BOUND_S, "noticed %.1f s after the cut (bound %.0f s)" % (noticed, NOTICE_BOUND_S)
    finally:
        hosts.close()
