"""A node whose link to the nats-server cluster is down serves its queue groups itself and keeps
what is published for the cluster; once the link is back, what it kept reaches the other nodes'
plain subscribers and no group a second time (found by the cluster torture: seed 1, round 2, a
nats-server killed; twenty messages reached two members of one group, or one member twice)."""
from __future__ import annotations

import json
import os
import shutil
import socket
import sys
import tempfile
import threading
import time

import pytest

import cluster_torture
from cluster_torture import Heard, Listener, NatsCluster

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "scripts"))
from docketd_process import start_docketd  # noqa: E402
from parity import Client  # noqa: E402

DOCKETD = os.environ.get("DOCKETD")
pytestmark = [
    pytest.mark.skipif(not DOCKETD, reason="needs DOCKETD"),
    pytest.mark.skipif(not (shutil.which("nats-server") or os.path.exists("/usr/sbin/nats-server")), reason="needs nats-server"),
]
BOUND_S = 30.0


class Ports:
    """The two nodes' client ports, as the listeners look them up."""

    def __init__(self, ports: list[int]) -> None:
        self.ports = ports

    def port_of(self, i: int) -> int:
        return self.ports[i]


class Cuttable:
    """A TCP relay to the nats-server for one node's link, which the test can cut (every
    connection closed, new ones refused) and restore, while the other node's link stays up."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.open = True
        self.pairs: list[tuple[socket.socket, socket.socket]] = []
        self.lock = threading.Lock()
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self) -> None:
        while True:
            try:
                near, _ = self.listener.accept()
            except OSError:
                return
            with self.lock:
                if not self.open:
                    near.close()
                    continue
                far = socket.create_connection(("127.0.0.1", self.target))
                self.pairs.append((near, far))
            for a, b in ((near, far), (far, near)):
                threading.Thread(target=self.pump, args=(a, b), daemon=True).start()

    @staticmethod
    def pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while chunk := source.recv(65536):
                sink.sendall(chunk)
        except OSError:
            pass
        for s in (source, sink):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self) -> None:
        with self.lock:
            self.open = False
            for near, far in self.pairs:
                for s in (near, far):
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
            self.pairs = []

    def restore(self) -> None:
        with self.lock:
            self.open = True

    def close(self) -> None:
        self.cut()
        self.listener.close()


def stats(port: int) -> dict:
    """The node's cluster link, as STATS shows it."""
    c = Client(port)
    try:
        reply = c.run("STATS\r\n")[0]
    finally:
        c.close()
    return json.loads(reply.split("\n", 1)[1])["cluster"]


def linked(port: int) -> bool:
    return stats(port)["connected"]


def wait_until(what: str, condition) -> None:
    deadline = time.monotonic() + BOUND_S
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("not within %.0f s: %s" % (BOUND_S, what))
        time.sleep(0.05)


def payloads(heard: Heard) -> list[str]:
    return [p for _, p in heard.snapshot()]


class Outage:
    """Two nodes on one nats-server (started with `nats_arguments`): node 0 reaches it through
    a relay the test cuts, node 1 directly, so that its subscriptions stay known upstream the
    whole time. One member of group `members` of `work` on each node, and a plain subscription
    on node 1; a publisher on node 0."""

    def __init__(self, nats_arguments: tuple[str, ...] = ()) -> None:
        self.directory = tempfile.mkdtemp(prefix="link-outage-")
        self.nats = NatsCluster(self.directory, count=1, arguments=nats_arguments)
        self.relay = Cuttable(self.nats.client_ports[0])
        self.nodes = [start_docketd(DOCKETD, os.path.join(self.directory, "node-%d" % i), "--cluster-nats", url)
                      for i, url in enumerate(["nats://127.0.0.1:%d" % self.relay.port, self.nats.urls(0)])]
        self.stop = threading.Event()
        heard: list[Heard] = []
        self.errors: list[BaseException] = []
        self.ports = Ports([port for _, port, _ in self.nodes])
        self.listeners = [Listener(self.ports, 0, "work", "members", self.stop, heard, self.errors),
                          Listener(self.ports, 1, "work", "members", self.stop, heard, self.errors),
                          Listener(self.ports, 1, "work", None, self.stop, heard, self.errors)]
        self.publisher = Client(self.ports.port_of(0))
        for listener in self.listeners:
            listener.thread.start()
            wait_until("a subscription", lambda: len(heard) == self.listeners.index(listener) + 1)
        self.heard = heard
        self.member_a, self.member_b, self.plain_b = heard

    def publish(self, payload: str) -> None:
        self.publisher.run("PUB work %d\r\n%s\r\n" % (len(payload), payload))

    def sync(self, tag: str) -> None:
        """Publishes on node 0 until each member and the plain subscription heard one: what
        node 0 sent up before has then come down to each of them."""
        n = 0

        def heard_all() -> bool:
            nonlocal n
            n += 1
            self.publish("%s-%d" % (tag, n))
            time.sleep(0.05)
            return all(any(p.startswith(tag) for p in payloads(h)) for h in self.heard)
        wait_until("%s heard by every subscription" % tag, heard_all)

    def cut(self) -> None:
        self.relay.cut()
        wait_until("node 0 sees its link down", lambda: not linked(self.ports.port_of(0)))

    def restore(self) -> None:
        assert linked(self.ports.port_of(1))
        self.relay.restore()
        wait_until("node 0's link up again", lambda: linked(self.ports.port_of(0)))

    def __enter__(self) -> "Outage":
        return self

    def __exit__(self, *_) -> None:
        self.stop.set()
        self.publisher.close()
        for listener in self.listeners:
            listener.thread.join(5)
        for proc, _, _ in self.nodes:
            proc.kill()
            proc.wait()
        self.relay.close()
        self.nats.close()
        shutil.rmtree(self.directory, ignore_errors=True)


def test_what_a_node_kept_while_its_link_was_down_reaches_each_queue_group_once():
    with Outage() as outage:
        outage.sync("before")
        outage.cut()
        kept = ["kept-%d" % i for i in range(20)]
        for payload in kept:
            outage.publish(payload)
        # Served here meanwhile: the group's member on this node has each one.
        wait_until("node 0's member hears what is published", lambda: set(kept) <= set(payloads(outage.member_a)))
        outage.restore()
        outage.sync("after")
        to_members = [p for h in (outage.member_a, outage.member_b) for p in payloads(h) if p.startswith("kept-")]
        assert sorted(to_members) == sorted(kept), "the group heard %d of 20 kept messages, %d times in all" % (
            len(set(to_members)), len(to_members))
        assert sorted(p for p in payloads(outage.plain_b) if p.startswith("kept-")) == sorted(kept)
        assert not outage.errors, outage.errors


def test_a_kept_message_the_mark_takes_over_max_payload_stays_on_its_node_and_the_link_stays_up():
    """A message kept while the link is down goes up marked with the groups it was served to
    here (48 bytes for a message without headers and the group `members`): one that fitted the
    nats-server's max_payload (100 bytes here) may not fit any more. Before, it went up anyway,
    nats-server closed the link for it (`Maximum Payload Violation`), and the kept messages
    after it were lost with the link."""
    config = tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False)
    config.write("max_payload: 100\n")
    config.close()
    try:
        with Outage(("-c", config.name)) as outage:
            outage.sync("before")
            outage.cut()
            sent_before = stats(outage.ports.port_of(0))["out_msgs"]
            # 80 bytes, 128 with the mark; 20 bytes, 68 with it.
            kept = [("long-%d-" % i).ljust(80, "x") if i % 2 == 0 else "short-%d" % i for i in range(10)]
            for payload in kept:
                outage.publish(payload)
            wait_until("node 0's member hears what is published", lambda: set(kept) <= set(payloads(outage.member_a)))
            # Held is not sent: out_msgs counts what went up, so that it never falls (it once
            # counted the ten here and took back the five refused at the reconnect).
            assert stats(outage.ports.port_of(0))["out_msgs"] == sent_before
            outage.restore()
            assert stats(outage.ports.port_of(0))["out_msgs"] >= sent_before + 5
            outage.sync("after")
            shorts = [p for p in kept if p.startswith("short-")]
            assert sorted(p for p in payloads(outage.plain_b) if p.startswith(("long-", "short-"))) == sorted(shorts)
            assert not [p for p in payloads(outage.member_b) if p.startswith(("long-", "short-"))], "served on node 0 already"
            link = stats(outage.ports.port_of(0))
            assert link["reconnects"] == 2, "only the cut broke the link's two connections: %s" % link
            assert link["oversized_msgs"] == 5 and link["max_payload"] == 100, link
            assert not outage.errors, outage.errors
    finally:
        os.unlink(config.name)
