"""Where a node tells others to reach it, when its nodes and clients are on other machines:
`client_advertise`, `cluster { advertise, no_advertise }`, and listeners on every interface
(0.0.0.0), where 127.0.0.1 is the one address no other machine can use. The configuration is
nats-server's own, so the tests not marked docketd-only run against nats-server too
(NATS_SERVER=1)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time

import pytest

from conftest import _free_port, read_line


@pytest.fixture
def node(start_process):
    """Factory: starts a node with its route port at `route_port`, routed to `seed_port`."""
    def start(route_port: int, seed_port: int, cluster_extra: str = "", extra: str = ""):
        return start_process(config=(f"cluster {{\n  name: advertise_test\n  listen: 127.0.0.1:{route_port}\n"
                                     f"  routes: [nats://127.0.0.1:{seed_port}]\n{cluster_extra}}}\n{extra}"))

    return start


def address(process) -> str:
    return process.url.removeprefix("nats://")


def infos_after_login(process, wait: float = 10.0):
    """Logs in with protocol 1 (so INFOs after the first are sent) and returns the first INFO
    and a function reading the next INFO within `wait` seconds (None if none comes)."""
    host, port = address(process).split(":")
    sock = socket.create_connection((host, int(port)), timeout=wait)
    first = json.loads(read_line(sock)[5:])
    sock.sendall(b'CONNECT {"verbose":false,"protocol":1}\r\nPING\r\n')
    assert read_line(sock) == b"PONG\r\n"

    def next_info():
        sock.settimeout(wait)
        try:
            line = read_line(sock)
        except socket.timeout:
            return None
        assert line.startswith(b"INFO "), line
        return json.loads(line[5:])

    return sock, first, next_info


def wait_for_urls(process, wanted, timeout: float = 10.0):
    """The connect_urls a fresh client of `process` is given, once `wanted` holds of them."""
    deadline = time.monotonic() + timeout
    urls = None
    while time.monotonic() < deadline:
        sock, info, _ = infos_after_login(process)
        sock.close()
        urls = info.get("connect_urls")
        if urls is not None and wanted(urls):
            return urls
        time.sleep(0.1)
    raise AssertionError(f"connect_urls never as wanted: {urls}")


def test_other_nodes_clients_are_told_the_client_advertise_address(node):
    seed = _free_port()
    first = node(seed, seed)
    second = node(_free_port(), seed, extra='client_advertise: "198.51.100.7:4444"\n')
    urls = wait_for_urls(first, lambda urls: "198.51.100.7:4444" in urls)
    assert urls == [address(first), "198.51.100.7:4444"]
    # Its own clients are told the advertised address as its own, first.
    assert wait_for_urls(second, lambda urls: len(urls) == 2) == ["198.51.100.7:4444", address(first)]


def test_a_node_with_no_advertise_is_not_told_to_clients(node):
    """As nats-server's `no_advertise`: the other nodes' clients are not told of the node, and
    its own clients are not told of the other nodes."""
    seed = _free_port()
    quiet = node(seed, seed, cluster_extra="  no_advertise: true\n")
    second = node(_free_port(), seed)
    third = node(_free_port(), seed)
    assert wait_for_urls(second, lambda urls: address(third) in urls) == [address(second), address(third)]
    sock, info, next_info = infos_after_login(quiet, wait=1.0)
    assert "connect_urls" not in info and next_info() is None, info
    sock.close()


@pytest.mark.docketd_only("the test harness starts nats-server with -a 127.0.0.1")
def test_a_node_listening_on_every_interface_tells_each_interface_not_loopback(node):
    seed = _free_port()
    first = node(seed, seed)
    everywhere = node(_free_port(), seed, extra="host: 0.0.0.0\n")
    port = everywhere.url.rsplit(":", 1)[1]
    urls = wait_for_urls(first, lambda urls: len(urls) >= 2)
    assert urls[0] == address(first)
    theirs = urls[1:]
    assert theirs and all(url.rsplit(":", 1)[1] == port for url in theirs), urls
    hosts = {url.rsplit(":", 1)[0] for url in theirs}
    # 127.0.0.1 only on a machine with no other interface (nowhere else to be reached).
    assert "0.0.0.0" not in hosts and "[::]" not in hosts, urls
    assert hosts == {"127.0.0.1"} or not (hosts & {"127.0.0.1", "[::1]"}), urls


def route_info(server_id: str, route_url: str) -> bytes:
    return f"INFO {json.dumps({'server_id': server_id, 'server_name': server_id, 'cluster': 'advertise_test', 'route_url': route_url})}\r\n".encode()


@pytest.mark.docketd_only("docketd's route protocol")
def test_a_peer_on_every_interface_is_passed_on_at_the_address_its_route_came_from(node):
    """A peer whose route port listens on 0.0.0.0 says so in its route_url; passed on as it is,
    every other node would try 0.0.0.0, its own machine. The node passes on the address the
    route came from, with the peer's port."""
    seed = _free_port()
    node(seed, seed)
    peer = socket.socket()
    peer.bind(("127.0.0.5", 0))
    peer.settimeout(5)
    peer.connect(("127.0.0.1", seed))
    assert read_line(peer).startswith(b"INFO ")
    peer.sendall(route_info("NPEERONEVERYINTERFACE", "0.0.0.0:7777") + b"PING\r\n")
    while read_line(peer) != b"PONG\r\n":
        pass
    other = socket.create_connection(("127.0.0.1", seed), timeout=5)
    info = json.loads(read_line(other)[5:])
    assert info["routes"] == ["127.0.0.5:7777"], info
    other.close()
    peer.close()


@pytest.mark.docketd_only("docketd's route protocol")
def test_other_nodes_are_told_the_cluster_advertise_address(node):
    seed = _free_port()
    node(seed, seed, cluster_extra='  advertise: "198.51.100.9:16222"\n')
    peer = socket.create_connection(("127.0.0.1", seed), timeout=5)
    info = json.loads(read_line(peer)[5:])
    assert info["route_url"] == "198.51.100.9:16222", info
    peer.close()


@pytest.mark.docketd_only("docketd's messages")
@pytest.mark.parametrize("flags, message", [
    (["--client-advertise", "nats://198.51.100.7:4444"], "--client-advertise must be host[:port]"),
    (["--cluster", "nats://127.0.0.1:0", "--cluster-advertise", "198.51.100.9:99999"], "--cluster-advertise must be host[:port]"),
])
def test_a_malformed_advertised_address_stops_the_start(tmp_path, flags, message):
    result = subprocess.run([os.environ["DOCKETD"], "--port", "0", "--data-dir", str(tmp_path / "data"), *flags],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 1 and message in result.stdout + result.stderr, result
