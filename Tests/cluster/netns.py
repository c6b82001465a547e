"""A private network of hosts for the partition tests: each docketd node, and PostgreSQL, in its
own network namespace, joined to the others through a hub namespace's bridges, so that a fault
is a fault of the network (packets dropped without a word, delayed, one way only) and not a
closed socket. A cut is tc's `blackhole` queueing discipline on a veth: every packet it is given
is dropped, and the sender is told it went (`netem` would also give delay and partial loss, but
not every kernel has it: this machine's Firecracker kernel has neither netem nor a packet
filter, so delay is not among the faults). Nothing is added to the machine's own namespace; every namespace made here is
deleted by `close` (and a deleted namespace takes its veths and queueing rules with it).

Two bridges, two networks, so a node can be cut from the other nodes and not from the
database, or the other way round:

    net 10.77.0.0/24: the nodes' routes (node i at 10.77.0.(10+i))
    db  10.77.1.0/24: the nodes and PostgreSQL (node i at 10.77.1.(10+i), PostgreSQL at 10.77.1.2)

A host's clients are threads of the test that enter its namespace (`inside`) to open their
sockets: they reach docketd on 127.0.0.1 there, whatever happens to the host's links.
"""
from __future__ import annotations

import contextlib
import ctypes
import os
import subprocess

CLONE_NEWNET = 0x40000000
NETWORKS = {"net": "10.77.0", "db": "10.77.1"}
_libc = ctypes.CDLL(None, use_errno=True)


def ip(*args: str, namespace: str | None = None) -> None:
    command = ["ip"] + (["-n", namespace] if namespace else []) + list(args)
    done = subprocess.run(command, capture_output=True, text=True, timeout=20)
    if done.returncode != 0:
        raise OSError("%s: %s" % (" ".join(command), done.stderr.strip()))


def available() -> str | None:
    """Why namespaces cannot be made here, or None when they can."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    probe = "dkp%d-probe" % os.getpid()
    try:
        ip("netns", "add", probe)
    except (OSError, FileNotFoundError) as e:
        return "cannot make a network namespace: %s" % e
    try:
        ip("link", "add", "probe0", "type", "veth", "peer", "name", "probe1", namespace=probe)
        done = subprocess.run(["ip", "netns", "exec", probe, "tc", "qdisc", "add", "dev", "probe0", "root", "blackhole"],
                              capture_output=True, text=True, timeout=10)
        if done.returncode != 0:
            return "no tc blackhole to drop packets with: %s" % done.stderr.strip()
    except (OSError, subprocess.SubprocessError) as e:
        return "cannot make a veth with tc's blackhole: %s" % e
    finally:
        ip("netns", "del", probe)
    return None


@contextlib.contextmanager
def inside(namespace: str):
    """Runs the block with this thread in `namespace`'s network: sockets opened meanwhile stay
    there. (A thread's network namespace is its own: the test's other threads are untouched.)"""
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open("/run/netns/" + namespace, os.O_RDONLY)
    try:
        if _libc.setns(target, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns " + namespace)
        yield
    finally:
        _libc.setns(own, CLONE_NEWNET)
        os.close(own)
        os.close(target)


class Network:
    made = 0

    def __init__(self) -> None:
        Network.made += 1
        self.prefix = "dkp%d.%d" % (os.getpid(), Network.made)
        self.hub = self.prefix + "-hub"
        self.hosts: list[str] = []
        # (host, network) -> the veth's names: its end in the host, its end on the hub's bridge.
        self.links: dict[tuple[str, str], tuple[str, str]] = {}
        self.namespaces = [self.hub]
        ip("netns", "add", self.hub)
        ip("link", "set", "lo", "up", namespace=self.hub)
        for name in NETWORKS:
            ip("link", "add", "br-" + name, "type", "bridge", namespace=self.hub)
            ip("link", "set", "br-" + name, "up", namespace=self.hub)

    def namespace(self, host: str) -> str:
        return "%s-%s" % (self.prefix, host)

    def add_host(self, host: str, addresses: dict[str, int]) -> str:
        """A host with one address on each named network (`{"net": 10}` is 10.77.0.10)."""
        ns = self.namespace(host)
        ip("netns", "add", ns)
        self.namespaces.append(ns)
        self.hosts.append(host)
        ip("link", "set", "lo", "up", namespace=ns)
        for network, last in addresses.items():
            outer = "%s-%s" % (host, network)[:15]
            ip("link", "add", outer, "type", "veth", "peer", "name", network, "netns", ns, namespace=self.hub)
            ip("link", "set", outer, "master", "br-" + network, "up", namespace=self.hub)
            ip("addr", "add", "%s.%d/24" % (NETWORKS[network], last), "dev", network, namespace=ns)
            ip("link", "set", network, "up", namespace=ns)
            self.links[(host, network)] = (network, outer)
        return ns

    def run(self, host: str, command: list[str], **kwargs) -> subprocess.Popen:
        return subprocess.Popen(["ip", "netns", "exec", self.namespace(host)] + command, **kwargs)

    def _queueing(self, host: str, network: str, direction: str, rule: list[str] | None) -> None:
        inner, outer = self.links[(host, network)]
        targets = {"out": [(inner, self.namespace(host))], "in": [(outer, self.hub)]}
        targets["both"] = targets["out"] + targets["in"]
        for device, ns in targets[direction]:
            if rule is None:
                with contextlib.suppress(OSError):
                    subprocess.run(["ip", "netns", "exec", ns, "tc", "qdisc", "del", "dev", device, "root"],
                                   capture_output=True, timeout=10)
            else:
                done = subprocess.run(["ip", "netns", "exec", ns, "tc", "qdisc", "replace", "dev", device, "root"] + rule,
                                      capture_output=True, text=True, timeout=10)
                if done.returncode != 0:
                    raise OSError("tc %s: %s" % (rule, done.stderr.strip()))

    def cut(self, host: str, network: str, direction: str = "both") -> None:
        """Drops every packet of `host` on `network` without a word (no RST, no FIN): `out` what
        it sends, `in` what is sent to it, `both`."""
        self._queueing(host, network, direction, ["blackhole"])

    def heal(self, host: str, network: str) -> None:
        self._queueing(host, network, "both", None)

    def close(self) -> None:
        for ns in reversed(self.namespaces):
            with contextlib.suppress(OSError):
                ip("netns", "del", ns)
        self.namespaces = []
