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


def linked(port: int) -> bool:
    c = Client(port)
    try:
        reply = c.run("STATS\r\n")[0]
    finally:
        c.close()
    return json.loads(reply.split("\n", 1)[1])["cluster"]["connected"]


def wait_until(what: str, condition) -> None:
    deadline = time.monotonic() + BOUND_S
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("not within %.0f s: %s" % (BOUND_S, what))
        time.sleep(0.05)


def payloads(heard: Heard) -> list[str]:
    return [p for _, p in heard.snapshot()]


def test_what_a_node_kept_while_its_link_was_down_reaches_each_queue_group_once():
    directory = tempfile.mkdtemp(prefix="link-outage-")
    nats = NatsCluster(directory, count=1)
    # Node 0 reaches the nats-server through a relay the test cuts; node 1 directly, so that its
    # subscriptions stay known upstream the whole time.
    relay = Cuttable(nats.client_ports[0])
    nodes = [start_docketd(DOCKETD, os.path.join(directory, "node-%d" % i), "--cluster-nats", url)
             for i, url in enumerate(["nats://127.0.0.1:%d" % relay.port, nats.urls(0)])]
    stop = threading.Event()
    heard: list[Heard] = []
    errors: list[BaseException] = []
    ports = Ports([port for _, port, _ in nodes])
    # One member of group `members` on each node, and a plain subscription on the other node.
    listeners = [Listener(ports, 0, "work", "members", stop, heard, errors), Listener(ports, 1, "work", "members", stop, heard, errors),
                 Listener(ports, 1, "work", None, stop, heard, errors)]
    publisher = Client(ports.port_of(0))
    try:
        for listener in listeners:
            listener.thread.start()
            wait_until("a subscription", lambda: len(heard) == listeners.index(listener) + 1)
        member_a, member_b, plain_b = heard

        def sync(tag: str) -> None:
            """Publishes on node 0 until each member and the plain subscription heard one: what
            node 0 sent up before has then come down to each of them."""
            n = 0

            def heard_all() -> bool:
                nonlocal n
                n += 1
                publisher.run("PUB work %d\r\n%s-%d\r\n" % (len("%s-%d" % (tag, n)), tag, n))
                time.sleep(0.05)
                return all(any(p.startswith(tag) for p in payloads(h)) for h in heard)
            wait_until("%s heard by every subscription" % tag, heard_all)

        sync("before")
        relay.cut()
        wait_until("node 0 sees its link down", lambda: not linked(ports.port_of(0)))
        kept = ["kept-%d" % i for i in range(20)]
        for payload in kept:
            publisher.run("PUB work %d\r\n%s\r\n" % (len(payload), payload))
        # Served here meanwhile: the group's member on this node has each one.
        wait_until("node 0's member hears what is published", lambda: set(kept) <= set(payloads(member_a)))
        assert linked(ports.port_of(1))
        relay.restore()
        wait_until("node 0's link up again", lambda: linked(ports.port_of(0)))
        sync("after")
        to_members = [p for h in (member_a, member_b) for p in payloads(h) if p.startswith("kept-")]
        assert sorted(to_members) == sorted(kept), "the group heard %d of 20 kept messages, %d times in all" % (
            len(set(to_members)), len(to_members))
        assert sorted(p for p in payloads(plain_b) if p.startswith("kept-")) == sorted(kept)
        assert not errors, errors
    finally:
        stop.set()
        publisher.close()
        for listener in listeners:
            listener.thread.join(5)
        for proc, _, _ in nodes:
            proc.kill()
            proc.wait()
        relay.close()
        nats.close()
        shutil.rmtree(directory, ignore_errors=True)
