"""Clusters of servers joined by routes (`cluster { listen, routes }`), driven by real NATS
clients. The configuration is nats-server's own, so every test not marked docketd-only runs
unchanged against a cluster of nats-servers (NATS_SERVER=1): messages cross nodes once, queue
groups span them, clients learn the other nodes and move to one when theirs stops.

The nodes are given only the first node's route address; the rest of the mesh they learn from
it, as nats-server's nodes do.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import nats
import pytest

from conftest import _free_port, _start, read_line, server_mode


def run(coro):
    return asyncio.run(coro)


def collect(into: list, shape=lambda m: m.data):
    """A subscription callback (nats.py takes coroutines only) appending `shape(msg)`."""
    async def handler(msg):
        into.append(shape(msg))
    return handler


def read_exact(sock, count: int) -> bytes:
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            break
        data += chunk
    return data


class Node:
    def __init__(self, process, route_port: int):
        self.process = process
        self.route_port = route_port

    @property
    def url(self) -> str:
        return self.process.url

    @property
    def client_address(self) -> str:
        return self.url.removeprefix("nats://")


@pytest.fixture
def cluster(request, tmp_path_factory):
    """Factory: ``cluster(3)`` starts three nodes routed to the first; every node is stopped at
    the end. ``extra`` is added to each node's configuration."""
    nodes: list[Node] = []

    def start(count: int, extra: str = "", seed: int | None = None, route_user: str = "") -> list[Node]:
        seed_port = seed if seed is not None else (nodes[0].route_port if nodes else None)
        started = []
        for index in range(count):
            route_port = _free_port()
            seed_port = seed_port or route_port
            text = (f"cluster {{\n  name: docket_test\n  listen: 127.0.0.1:{route_port}\n"
                    f"  routes: [nats://{route_user}127.0.0.1:{seed_port}]\n}}\n{extra}")
            node = Node(_start(tmp_path_factory.mktemp("node"), {"config": text}), route_port)
            nodes.append(node)
            started.append(node)
        return started

    yield start
    for node in nodes:
        node.process.stop()
    call_report = getattr(request.node, "rep_call", None)
    if call_report is not None and call_report.failed:
        for node in nodes:
            sys.stderr.write(node.process.describe()[-20000:] + "\n")


async def until(condition, timeout: float = 10.0, step: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await condition():
            return True
        await asyncio.sleep(step)
    return False


async def heard(sender, sub, subject: str, timeout: float) -> bool:
    """Publishes on `subject` from `sender` until `sub` hears it; False if `timeout` passes."""
    async def crossed():
        await sender.publish(subject, b"?")
        await sender.flush()
        try:
            await sub.next_msg(timeout=0.1)
            return True
        except nats.errors.TimeoutError:
            return False

    return await until(crossed, timeout)


async def meshed(clients: list, timeout: float = 10.0) -> None:
    """Waits until a message published on each node reaches a subscriber on every other node."""
    for index, receiver in enumerate(clients):
        subject = f"mesh.probe.{index}"
        sub = await receiver.subscribe(subject)
        await receiver.flush()
        for sender in clients:
            if sender is receiver:
                continue
            assert await heard(sender, sub, subject, timeout), f"no route from {sender.connected_url.netloc} to {receiver.connected_url.netloc}"
        await sub.unsubscribe()
        # Drain probes still on their way.
        await asyncio.sleep(0.05)


def test_messages_cross_nodes_once_per_subscription(cluster):
    nodes = cluster(3)

    async def main():
        clients = [await nats.connect(node.url) for node in nodes]
        await meshed(clients)
        got = []
        await clients[1].subscribe("orders.*", cb=collect(got, lambda m: ("star", m.subject, m.data)))
        await clients[1].subscribe("orders.>", cb=collect(got, lambda m: ("tail", m.subject, m.data)))
        await clients[1].flush()
        await asyncio.sleep(0.3)  # the interest reaches the other nodes
        await clients[2].publish("orders.new", b"from-3")
        await clients[0].publish("orders.new", b"from-1")
        await clients[2].flush()
        await clients[0].flush()
        assert await until(lambda: asyncio.sleep(0, len(got) >= 4))
        await asyncio.sleep(0.3)
        # One message per matching subscription, however many routes could carry it.
        assert sorted(got) == sorted([("star", "orders.new", b"from-3"), ("tail", "orders.new", b"from-3"),
                                      ("star", "orders.new", b"from-1"), ("tail", "orders.new", b"from-1")])
        for client in clients:
            await client.close()

    run(main())


def test_a_queue_group_spanning_nodes_gets_each_message_once(cluster):
    nodes = cluster(3)

    async def main():
        clients = [await nats.connect(node.url) for node in nodes]
        await meshed(clients)
        counts = [0, 0, 0]
        for index, client in enumerate(clients):
            async def handler(msg, index=index):
                counts[index] += 1
            await client.subscribe("jobs.work", queue="workers", cb=handler)
            await client.flush()
        await asyncio.sleep(0.3)
        for _ in range(300):
            await clients[0].publish("jobs.work", b"x")
        await clients[0].flush()
        assert await until(lambda: asyncio.sleep(0, sum(counts) >= 300))
        await asyncio.sleep(0.3)
        assert sum(counts) == 300, counts
        assert all(count > 0 for count in counts), f"every node's member takes a share: {counts}"
        for client in clients:
            await client.close()

    run(main())


def test_requests_and_headers_cross_nodes(cluster):
    nodes = cluster(3)

    async def main():
        responder, requester = await nats.connect(nodes[0].url), await nats.connect(nodes[2].url)
        await meshed([responder, requester])

        async def answer(msg):
            await responder.publish(msg.reply, b"answer to " + msg.data, headers={"Seen": msg.headers.get("Trace", "")})

        await responder.subscribe("svc.echo", cb=answer)
        await responder.flush()
        await asyncio.sleep(0.3)
        reply = await requester.request("svc.echo", b"ping", headers={"Trace": "abc"}, timeout=3)
        assert reply.data == b"answer to ping" and reply.headers.get("Seen") == "abc"
        # Nobody anywhere listens: the requester hears so at once (no responders), not a timeout.
        with pytest.raises(nats.errors.NoRespondersError):
            await requester.request("svc.nobody", b"?", timeout=3)
        await responder.close()
        await requester.close()

    run(main())


def test_accounts_stay_apart_across_nodes(cluster):
    accounts = ("accounts {\n  A: { users: [ {user: a, password: pa} ] }\n"
                "  B: { users: [ {user: b, password: pb} ] }\n}\n")
    nodes = cluster(2, extra=accounts)

    def url(node, user, password):
        return node.url.replace("nats://", f"nats://{user}:{password}@")

    async def main():
        a1, a2 = await nats.connect(url(nodes[0], "a", "pa")), await nats.connect(url(nodes[1], "a", "pa"))
        b2 = await nats.connect(url(nodes[1], "b", "pb"))
        await meshed([a1, a2])
        heard_a, heard_b = [], []
        await a2.subscribe("news", cb=collect(heard_a))
        await b2.subscribe("news", cb=collect(heard_b))
        await a2.flush()
        await b2.flush()
        await asyncio.sleep(0.3)
        await a1.publish("news", b"for A")
        await a1.flush()
        assert await until(lambda: asyncio.sleep(0, heard_a == [b"for A"]))
        await asyncio.sleep(0.3)
        assert heard_b == []
        for client in (a1, a2, b2):
            await client.close()

    run(main())


def test_clients_learn_the_other_nodes_and_move_when_theirs_stops(cluster):
    nodes = cluster(3)

    async def main():
        reconnected = asyncio.Event()

        async def on_reconnect():
            reconnected.set()

        client = await nats.connect(nodes[0].url, reconnect_time_wait=0.1, max_reconnect_attempts=30,
                                    reconnected_cb=on_reconnect, dont_randomize=True)
        others = {node.client_address for node in nodes[1:]}

        async def knows_all():
            return others <= {f"{s.uri.hostname}:{s.uri.port}" for s in client._server_pool}

        assert await until(knows_all), [s.uri.netloc for s in client._server_pool]
        got = []
        await client.subscribe("after.move", cb=collect(got))
        await client.flush()
        nodes[0].process.stop()
        await asyncio.wait_for(reconnected.wait(), 10)
        assert client.connected_url.netloc in others
        sender = await nats.connect(nodes[2].url if client.connected_url.netloc != nodes[2].client_address else nodes[1].url)
        async def heard():
            await sender.publish("after.move", b"still here")
            await sender.flush()
            await asyncio.sleep(0.1)
            return bool(got)
        assert await until(heard)
        await sender.close()
        await client.close()

    run(main())


def process_state(pid: int) -> str:
    """The state letter of /proc/<pid>/stat: T stopped, Z exited and not yet reaped."""
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rsplit(")", 1)[1].split()[0]


@pytest.mark.docketd_only("nats-server closes its clients before its process ends, as docketd did")
def test_a_stopping_nodes_clients_see_their_connection_end_only_as_its_process_ends(cluster):
    """nats-core's cluster test stops the node its client is on, waits for the harness to see the
    process gone, and only then starts waiting for the client's reconnect: a node that closed its
    clients' sockets and then went on tearing itself down let the client move before that, and
    the test waited for a reconnect that had already come. The sockets close with the process:
    once a client sees the end, the process is exiting and a SIGSTOP no longer stops it."""
    for _ in range(5):
        node = cluster(1)[0]
        host, port = node.client_address.split(":")
        sock = socket.create_connection((host, int(port)), timeout=10)
        assert read_line(sock).startswith(b"INFO ")
        sock.sendall(b'CONNECT {"verbose":false}\r\nPING\r\n')
        assert read_line(sock) == b"PONG\r\n"
        pid = node.process.proc.pid
        node.process.proc.send_signal(signal.SIGTERM)
        while sock.recv(4096):
            pass
        os.kill(pid, signal.SIGSTOP)
        deadline = time.monotonic() + 10
        while process_state(pid) not in ("T", "Z") and time.monotonic() < deadline:
            time.sleep(0.001)
        state = process_state(pid)
        os.kill(pid, signal.SIGCONT)
        sock.close()
        assert state == "Z", f"the node was still running (state {state}) after its client saw the connection end"
        assert node.process.stop() == 0


def test_a_node_that_joins_later_is_announced_to_connected_clients(cluster):
    first = cluster(1)[0]

    async def main():
        client = await nats.connect(first.url)
        assert client._server_info.get("connect_urls") in (None, [], [first.client_address])
        later = cluster(1)[0]

        async def announced():
            return later.client_address in {f"{s.uri.hostname}:{s.uri.port}" for s in client._server_pool}

        assert await until(announced)
        await client.close()

    run(main())


def test_no_info_comes_before_a_clients_first_pong(cluster):
    """nats-py reads exactly one line after its CONNECT and PING and must find PONG: a node that
    joins between a client's INFO and its first PING is announced after that PONG."""
    first = cluster(1)[0]
    host, port = first.client_address.split(":")
    sock = socket.create_connection((host, int(port)), timeout=5)
    assert read_line(sock).startswith(b"INFO ")
    later = cluster(1)[0]
    time.sleep(1.0)  # the route is up by now (the nodes are on loopback)
    sock.sendall(b'CONNECT {"verbose":false,"protocol":1}\r\nPING\r\n')
    assert read_line(sock) == b"PONG\r\n"
    info = json.loads(read_line(sock)[5:])
    # As nats-server: the node's own address first, then the others'.
    assert info["connect_urls"] == [first.client_address, later.client_address]
    sock.close()


# docketd's own route protocol and its guards (nats-server speaks its own between its nodes).


def route_socket(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    return sock


def peer_info(server_id: str = "NPEERTESTNODE", **extra) -> bytes:
    return f"INFO {json.dumps({'server_id': server_id, 'server_name': 'peer', **extra})}\r\n".encode()


@pytest.mark.docketd_only("docketd's route protocol")
def test_a_raw_route_peer_hears_what_it_asked_for_and_is_heard(cluster):
    node = cluster(1)[0]
    peer = route_socket(node.route_port)
    info = json.loads(read_line(peer)[5:])
    assert info["cluster"] == "docket_test" and info["connect_urls"] == [node.client_address]
    peer.sendall(peer_info(cluster="docket_test") + b"RS+ $G orders.*\r\nPING\r\n")
    assert read_line(peer) == b"PONG\r\n"

    client = socket.create_connection(("127.0.0.1", int(node.client_address.split(":")[1])), timeout=5)
    read_line(client)
    client.sendall(b'CONNECT {"verbose":false,"headers":true}\r\nSUB inbound 1\r\nPUB orders.new reply.to 5\r\nhello\r\n'
                   b'HPUB orders.new 12 14\r\nNATS/1.0\r\n\r\nhi\r\nPING\r\n')
    assert read_line(client) == b"PONG\r\n"
    # The client's interest reaches the peer, its messages on the peer's subjects too.
    assert read_line(peer) == b"RS+ $G inbound\r\n"
    assert read_line(peer) == b"RMSG $G orders.new + reply.to 5\r\n"
    assert read_line(peer) == b"hello\r\n"
    assert read_line(peer) == b"HMSG $G orders.new 12 14\r\n"
    assert read_exact(peer, 16) == b"NATS/1.0\r\n\r\nhi\r\n"
    # The peer's message reaches the client.
    peer.sendall(b"RMSG $G inbound 3\r\nyes\r\n")
    assert read_line(client) == b"MSG inbound 1 3\r\n"
    assert read_line(client) == b"yes\r\n"
    # A route that breaks the protocol is told and cut off.
    peer.sendall(b"RMSG $G inbound x\r\n")
    assert read_line(peer) == b"-ERR 'Route Protocol Error'\r\n"
    assert peer.recv(1) == b""
    client.close()


@pytest.mark.docketd_only("docketd's route protocol")
def test_a_route_that_never_says_who_it_is_is_closed(cluster):
    """The route port has no connection limit: a socket that sends no INFO within the auth
    timeout (2 s) is told so and closed, not kept until the pings give up minutes later."""
    node = cluster(1)[0]
    silent = route_socket(node.route_port)
    silent.settimeout(8)
    started = time.monotonic()
    assert read_line(silent).startswith(b"INFO ")
    assert read_line(silent) == b"-ERR 'Authentication Timeout'\r\n"
    assert silent.recv(1) == b""
    assert time.monotonic() - started < 6
    silent.close()


def wait_for_log(node, text: str, timeout: float = 5.0) -> bool:
    """Waits for `text` in the log of a Node or a ServerProcess."""
    process = getattr(node, "process", node)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in process.log.text():
            return True
        time.sleep(0.05)
    return False


def client_pings(node: Node) -> bytes:
    client = socket.create_connection(("127.0.0.1", int(node.client_address.split(":")[1])), timeout=5)
    read_line(client)
    client.sendall(b"CONNECT {}\r\nPING\r\n")
    reply = read_line(client) + read_line(client)
    client.close()
    return reply


HOSTILE_ROUTE_INPUT = [
    pytest.param(b"\x00\x01\x02 hello\r\n", "unknown operation", id="garbage"),
    pytest.param(b"RMSG $G a 99999999999\r\n", "a message of 99999999999 bytes, over 1048576", id="huge size"),
    pytest.param(b"RMSG $G a 1048577\r\n", "a message of 1048577 bytes, over 1048576", id="one past max_payload"),
    pytest.param(b"RMSG $G a -1\r\n", "RMSG with bad sizes", id="negative size"),
    pytest.param(b"HMSG $G a 5 3\r\nabc\r\n", "HMSG with bad sizes", id="headers past the end"),
    pytest.param(b"RMSG $G a 3\r\nabcXY", "a message not followed by CRLF", id="payload overrun"),
    pytest.param(b"RS+ $G " + b"a" * 70000 + b"\r\n", "a line longer than 65536 bytes", id="long line"),
    pytest.param(b"RS+ $G a..b\r\n", 'interest in the invalid subject "a..b"', id="RS+ empty token"),
    pytest.param(b"RS+ $G >.a\r\n", 'interest in the invalid subject ">.a"', id="RS+ misplaced >"),
    pytest.param(b"RMSG $G a.* 3\r\nabc\r\n", 'a message on the invalid subject "a.*"', id="RMSG wildcard"),
    pytest.param(b"RMSG $G a..b 3\r\nabc\r\n", 'a message on the invalid subject "a..b"', id="RMSG empty token"),
    pytest.param(b"RMSG $G a + r.* 3\r\nabc\r\n", 'a message with the invalid reply subject "r.*"', id="RMSG wildcard reply"),
    pytest.param(b"RMSG $G a + r..s 3\r\nabc\r\n", 'a message with the invalid reply subject "r..s"', id="RMSG empty reply token"),
    pytest.param(b"HMSG $G a 3 5\r\nabcde\r\n", "HMSG whose 3 header bytes are not a NATS/1.0 header block", id="HMSG not NATS/1.0"),
    pytest.param(b"HMSG $G a 10 14\r\nNATS/1.0\r\n\r\nhi\r\n", "HMSG whose 10 header bytes are not a NATS/1.0 header block",
                 id="HMSG header size lies"),
    pytest.param(b'INFO {"server_id":"NSOMEONEELSE"}\r\n', "an INFO naming another node", id="another identity"),
]


@pytest.mark.docketd_only("docketd's route protocol")
def test_a_client_message_the_route_protocol_cannot_carry_stays_on_its_node(cluster):
    """A client's PUB with a reply that is no subject, or an HPUB whose header block is not
    NATS/1.0 headers (neither is refused from a client, as nats-server does not), is delivered on
    its own node but not sent to the others, which would take it for a broken peer and end the
    route; the route carries the next message."""
    node = cluster(1)[0]
    peer = route_socket(node.route_port)
    read_line(peer)
    peer.sendall(peer_info(cluster="docket_test") + b"RS+ $G d\r\nPING\r\n")
    assert read_line(peer) == b"PONG\r\n"
    unroutable = b"PUB d r.* 2\r\nno\r\nHPUB d 3 5\r\nabcno\r\nHPUB d 10 14\r\nNATS/1.0\r\n\r\nno\r\n"
    client = socket.create_connection(("127.0.0.1", int(node.client_address.split(":")[1])), timeout=5)
    client.sendall(b'CONNECT {"verbose":false,"headers":true}\r\nSUB d 1\r\n' + unroutable + b"PUB d r.1 2\r\nok\r\nPING\r\n")
    received = []
    while (line := read_line(client)) not in (b"PONG\r\n", b""):
        received.append(line)
    assert b"".join(received[1:]) == (b"MSG d 1 r.* 2\r\nno\r\nHMSG d 1 3 5\r\nabcno\r\n"
                                      b"HMSG d 1 10 14\r\nNATS/1.0\r\n\r\nno\r\nMSG d 1 r.1 2\r\nok\r\n")
    line = read_line(peer)
    while line.startswith(b"RS+ "):
        line = read_line(peer)
    assert line == b"RMSG $G d + r.1 2\r\n"
    assert read_line(peer) == b"ok\r\n"
    assert wait_for_log(node.process, "was not sent to the other nodes: its reply subject is invalid"), node.process.log.text()
    client.close()
    peer.close()


@pytest.mark.docketd_only("docketd's route protocol")
@pytest.mark.parametrize("hostile, logged", HOSTILE_ROUTE_INPUT)
def test_hostile_route_input_ends_that_route_only(cluster, hostile, logged):
    """A peer that breaks the route protocol is told (`Route Protocol Error`), logged with the
    reason, and cut off; another route and the node's clients are served on."""
    node = cluster(1)[0]
    bystander = route_socket(node.route_port)
    read_line(bystander)
    bystander.sendall(peer_info(server_id="NBYSTANDER") + b"RS+ $G news\r\nPING\r\n")
    assert read_line(bystander) == b"PONG\r\n"
    peer = route_socket(node.route_port)
    read_line(peer)
    peer.sendall(peer_info(server_id="NHOSTILE") + b"PING\r\n")
    assert read_line(peer) == b"PONG\r\n"
    peer.sendall(hostile)
    assert read_line(peer) == b"-ERR 'Route Protocol Error'\r\n"
    assert peer.recv(1) == b""
    assert wait_for_log(node, f"Route protocol error: {logged}"), node.process.log.text()
    client = socket.create_connection(("127.0.0.1", int(node.client_address.split(":")[1])), timeout=5)
    read_line(client)
    client.sendall(b'CONNECT {"verbose":false}\r\nPUB news 2\r\nok\r\nPING\r\n')
    assert read_line(client) == b"PONG\r\n"
    # The bystander heard of the other route coming and going (INFO), then the message.
    line = read_line(bystander)
    while line.startswith(b"INFO "):
        line = read_line(bystander)
    assert line == b"RMSG $G news 2\r\n"
    assert read_line(bystander) == b"ok\r\n"
    client.close()
    bystander.close()


@pytest.mark.docketd_only("docketd's route protocol")
def test_interest_in_an_account_the_node_lacks_is_logged_once(cluster):
    """Nodes whose accounts differ keep their route (the other accounts work), and the log
    says so once, however many lines name the missing account."""
    node = cluster(1)[0]
    peer = route_socket(node.route_port)
    read_line(peer)
    peer.sendall(peer_info() + b"RS+ nosuch a\r\nRS+ nosuch b\r\nRS+ other c\r\nRS+ $G d\r\nPING\r\n")
    assert read_line(peer) == b"PONG\r\n"
    assert wait_for_log(node, "which this node does not have"), node.process.log.text()
    assert node.process.log.text().count("which this node does not have") == 1
    client = socket.create_connection(("127.0.0.1", int(node.client_address.split(":")[1])), timeout=5)
    read_line(client)
    client.sendall(b'CONNECT {"verbose":false}\r\nPUB d 2\r\nok\r\nPING\r\n')
    assert read_line(client) == b"PONG\r\n"
    assert read_line(peer) == b"RMSG $G d 2\r\n"
    client.close()
    peer.close()


@pytest.mark.docketd_only("docketd's route listener")
def test_a_flood_of_route_connections_past_the_descriptors_neither_spins_nor_floods_the_log(tmp_path):
    """With no descriptor left (logged-in clients hold them all), the route listener pauses as
    the client port does (it spun the loop at full CPU while sockets waited in its backlog),
    and routes that never log in are refused, and logged once per interval with a count, not
    once each, however many: once fewer than --descriptor-reserve descriptors are free (here 8,
    an eighth of 64), each route accepted closes the one that waited longest."""
    import os
    from conftest import READY_TIMEOUT, ServerProcess
    route_port = _free_port()
    command = (f"ulimit -n 64; exec '{os.environ['DOCKETD']}' --port 0 --data-dir '{tmp_path / 'data'}' "
               f"--cluster nats://127.0.0.1:{route_port}")
    node = ServerProcess(["/bin/sh", "-c", command], "docketd")
    clients = []
    try:
        node.wait_for_log_ready(READY_TIMEOUT)

        def cpu_ticks() -> int:
            fields = open(f"/proc/{node.proc.pid}/stat").read().rsplit(")", 1)[1].split()
            return int(fields[11]) + int(fields[12])

        # Logged-in clients until the descriptors are gone (the next one is refused).
        while len(clients) < 100:
            client = socket.create_connection(("127.0.0.1", node.port), timeout=5)
            read_line(client)
            client.sendall(b'CONNECT {"verbose":false}\r\nPING\r\n')
            clients.append(client)
            if read_line(client) != b"PONG\r\n":
                break
        assert wait_for_log(node, "Out of file descriptors"), node.log.text()
        sockets = [socket.create_connection(("127.0.0.1", route_port), timeout=5) for _ in range(100)]
        time.sleep(0.3)
        before = cpu_ticks()
        time.sleep(1)
        assert cpu_ticks() - before < 25, "the loop spins while routes wait for descriptors"
        for client in clients[:40]:
            client.close()
        # Descriptors are back: the routes are taken, until 8 are left.
        assert wait_for_log(node, "Closed before its login: fewer than 8 descriptors are free"), node.log.text()
        time.sleep(2.5)
        assert node.log.text().count("Closed before its login") <= 2, node.log.text()
        for sock in sockets:
            sock.close()
        client = socket.create_connection(("127.0.0.1", node.port), timeout=5)
        assert read_line(client).startswith(b"INFO ")
        client.close()
    finally:
        for client in clients:
            client.close()
        node.stop()


@pytest.mark.docketd_only("docketd's bound on route peers")
def test_routes_with_other_nodes_are_bounded(tmp_path):
    """Without route credentials anyone can make a route by saying a new server_id, or have
    the node make them by listing addresses in its INFO: past --max-route-peers (here 2) one more
    is refused, and no more listed addresses are tried; a route that goes makes room."""
    import os
    from conftest import READY_TIMEOUT, ServerProcess
    route_port = _free_port()
    node = ServerProcess([os.environ["DOCKETD"], "--port", "0", "--data-dir", str(tmp_path / "data"),
                          "--cluster", f"nats://127.0.0.1:{route_port}", "--max-route-peers", "2"], "docketd")
    listeners = [socket.create_server(("127.0.0.1", 0)) for _ in range(5)]
    try:
        node.wait_for_log_ready(READY_TIMEOUT)
        peers = []
        for index in range(3):
            peer = route_socket(route_port)
            read_line(peer)
            peer.sendall(peer_info(server_id=f"NPEER{index}") + b"PING\r\n")
            peers.append(peer)
        assert read_line(peers[0]) == b"PONG\r\n"
        assert read_line(peers[1]) == b"PONG\r\n"
        assert read_line(peers[2]) == b"-ERR 'Maximum Route Peers Exceeded'\r\n"
        assert peers[2].recv(1) == b""
        assert wait_for_log(node, "Route refused: this node has routes with 2 other nodes (--max-route-peers)")
        peers[1].close()
        time.sleep(0.3)
        late = route_socket(route_port)
        read_line(late)
        routes = [f"nats://127.0.0.1:{listener.getsockname()[1]}" for listener in listeners]
        late.sendall(peer_info(server_id="NLATE", routes=routes) + b"PING\r\n")
        assert read_line(late) == b"PONG\r\n"
        # Of the five addresses the late peer listed, at most two are tried.
        time.sleep(1)
        tried = 0
        for listener in listeners:
            listener.settimeout(0.05)
            try:
                listener.accept()[0].close()
                tried += 1
            except socket.timeout:
                pass
        assert 1 <= tried <= 2, tried
        for peer in (peers[0], late):
            peer.close()
    finally:
        for listener in listeners:
            listener.close()
        node.stop()


@pytest.mark.docketd_only("docketd's bound on a route's interest")
def test_a_routes_interest_is_bounded(cluster):
    """A peer's interest is one subscription per distinct (account, subject, queue) it
    announced; one past --max-route-subscriptions closes the route, told and logged, while the
    node goes on serving its clients."""
    node = cluster(1, extra="docket { max_route_subscriptions: 3 }\n")[0]
    peer = route_socket(node.route_port)
    read_line(peer)
    # A repeat counts once, and an ended interest no longer counts: a, "b q" and c make three.
    peer.sendall(peer_info(cluster="docket_test") + b"RS+ $G a\r\nRS+ $G a\r\nRS+ $G b\r\nRS+ $G b q\r\nRS- $G b\r\n"
                 b"RS+ $G c\r\nPING\r\n")
    assert read_line(peer) == b"PONG\r\n"
    peer.sendall(b"RS+ $G d\r\nPING\r\n")
    assert read_line(peer) == b"-ERR 'Maximum Route Subscriptions Exceeded'\r\n"
    assert peer.recv(1) == b""
    peer.close()
    assert wait_for_log(node, "its interest is over 3 subscriptions (--max-route-subscriptions)"), node.process.log.text()
    assert client_pings(node) == b"+OK\r\nPONG\r\n"


def test_a_routes_interest_counts_toward_the_subscription_memory(cluster):
    """--max-subscription-memory bounds a peer's interest too: each counts its subject and sid
    plus 512 bytes, so 1 KiB holds one; the next closes the route, told and logged."""
    node = cluster(1, extra="docket { max_subscription_memory: 1KiB }\n")[0]
    peer = route_socket(node.route_port)
    read_line(peer)
    peer.sendall(peer_info(cluster="docket_test") + b"RS+ $G a\r\nPING\r\n")
    assert read_line(peer) == b"PONG\r\n"
    peer.sendall(b"RS+ $G b\r\nPING\r\n")
    assert read_line(peer) == b"-ERR 'Maximum Route Subscriptions Exceeded'\r\n"
    assert peer.recv(1) == b""
    peer.close()
    assert wait_for_log(node, "--max-subscription-memory allows"), node.process.log.text()


@pytest.mark.docketd_only("docketd's route retries")
def test_a_refused_route_is_tried_once_a_second(cluster, tmp_path):
    """A node of another cluster is refused, and its route tried again once a second as
    documented: not ten times a second, each logged on both nodes."""
    first = cluster(1)[0]
    text = (f"cluster {{\n  name: elsewhere\n  listen: 127.0.0.1:{_free_port()}\n"
            f"  routes: [nats://127.0.0.1:{first.route_port}]\n}}\n")
    stranger = _start(tmp_path, {"config": text})
    try:
        assert wait_for_log(first, "Route refused")
        start = first.process.log.text().count("Route refused")
        time.sleep(3)
        refusals = first.process.log.text().count("Route refused") - start
        assert 1 <= refusals <= 5, first.process.log.text()
    finally:
        stranger.stop()


@pytest.mark.docketd_only("docketd's slow-route bound")
def test_a_route_that_stops_reading_is_cut_at_64_mib_and_made_again(tmp_path):
    """A peer that takes its messages no more is cut off once 64 MiB wait for it, though a
    client's bound (--max-pending) is 1 MiB: a route carries many clients' messages. The node
    goes on serving its clients and makes the route again, as it was configured to."""
    fake = socket.socket()
    fake.bind(("127.0.0.1", 0))
    fake.listen(4)
    fake.settimeout(10)
    text = (f"max_pending: 1MB\ncluster {{\n  listen: 127.0.0.1:{_free_port()}\n"
            f"  routes: [nats://127.0.0.1:{fake.getsockname()[1]}]\n}}\n")
    node = _start(tmp_path, {"config": text})
    try:
        peer, _ = fake.accept()
        peer.settimeout(10)
        assert read_line(peer).startswith(b"INFO ")
        peer.sendall(peer_info() + b"RS+ $G big\r\nPING\r\n")
        assert read_line(peer) == b"PONG\r\n"
        # From here the peer reads nothing.
        publisher = socket.create_connection(("127.0.0.1", node.port), timeout=10)
        read_line(publisher)
        publisher.sendall(b'CONNECT {"verbose":false}\r\nPING\r\n')
        assert read_line(publisher) == b"PONG\r\n"
        message = b"PUB big 1048576\r\n" + b"x" * 1048576 + b"\r\n"
        sent = 0  # MiB
        while "Slow Consumer" not in node.log.text() and sent < 160:
            publisher.sendall(message * 4 + b"PING\r\n")
            sent += 4
            assert read_line(publisher) == b"PONG\r\n"
        assert wait_for_log(node, "over 67108864 bytes"), (sent, node.log.text())
        # Kernel buffers hold a few MiB more than the route's own 64 MiB, and the log is read
        # a little behind.
        assert 64 <= sent <= 128, sent
        # The node serves its clients, and makes the route again.
        subscriber = socket.create_connection(("127.0.0.1", node.port), timeout=10)
        read_line(subscriber)
        subscriber.sendall(b'CONNECT {"verbose":false}\r\nSUB big 1\r\nPING\r\n')
        assert read_line(subscriber) == b"PONG\r\n"
        publisher.sendall(b"PUB big 2\r\nok\r\n")
        assert read_line(subscriber) == b"MSG big 1 2\r\n"
        assert read_line(subscriber) == b"ok\r\n"
        again, _ = fake.accept()
        assert read_line(again).startswith(b"INFO ")
        again.close()
        peer.close()
        publisher.close()
        subscriber.close()
    finally:
        node.stop()
        fake.close()


@pytest.mark.docketd_only("docketd's reload of its routes")
def test_a_reload_adds_and_removes_routes(cluster, tmp_path):
    """SIGHUP reads `cluster { routes }` again, as nats-server does: a new route is made, a
    removed one closed and not made again; what takes a restart (the cluster's name) is named."""
    b = cluster(1, seed=0)[0]
    c = cluster(1, seed=0)[0]
    conf = tmp_path / "docketd.conf"
    listen = _free_port()

    def config(route_port: int, name: str = "docket_test") -> str:
        return (f"cluster {{\n  name: {name}\n  listen: 127.0.0.1:{listen}\n"
                f"  routes: [nats://127.0.0.1:{route_port}]\n}}\n")

    a = _start(tmp_path, {"config": config(b.route_port)})
    try:
        async def crosses(sender_url: str, receiver_url: str, subject: str, timeout: float = 5) -> bool:
            sender, receiver = await nats.connect(sender_url), await nats.connect(receiver_url)
            sub = await receiver.subscribe(subject)
            await receiver.flush()
            result = await heard(sender, sub, subject, timeout)
            await sender.close()
            await receiver.close()
            return result

        assert run(crosses(a.url, b.url, "before"))
        conf.write_text(config(c.route_port))
        a.proc.send_signal(signal.SIGHUP)
        assert wait_for_log(a, f"SIGHUP: removed route 127.0.0.1:{b.route_port}"), a.log.text()
        assert wait_for_log(a, f"SIGHUP: added route 127.0.0.1:{c.route_port}"), a.log.text()
        assert wait_for_log(a, "the login deadline, and the routes"), a.log.text()
        assert wait_for_log(b, "Route connection closed"), b.process.log.text()
        assert run(crosses(a.url, c.url, "after"))
        # Not made again: b hears nothing from a.
        time.sleep(1.5)
        assert not run(crosses(a.url, b.url, "gone", timeout=1))
        assert a.log.text().count("Route connection created with") == 2, a.log.text()
        # The name is the cluster's: it changes at a restart only, and the log says so.
        conf.write_text(config(c.route_port, name="renamed"))
        a.proc.send_signal(signal.SIGHUP)
        assert wait_for_log(a, "applied only at the next start: cluster name"), a.log.text()
    finally:
        a.stop()


@pytest.mark.docketd_only("docketd's route credentials and cluster names")
def test_routes_must_log_in_when_the_cluster_has_credentials():
    auth = "  authorization { user: route, password: s3cret }\n"
    # The authorization goes inside the cluster block: build it by hand.
    route_port, other_port = _free_port(), _free_port()

    def config(port, seed_user):
        return (f"cluster {{\n  name: docket_test\n  listen: 127.0.0.1:{port}\n{auth}"
                f"  routes: [nats://{seed_user}127.0.0.1:{route_port}]\n}}\n")

    from conftest import _start as start
    import tempfile
    from pathlib import Path
    first = start(Path(tempfile.mkdtemp()), {"config": config(route_port, "route:s3cret@")})
    try:
        peer = route_socket(route_port)
        assert json.loads(read_line(peer)[5:])["auth_required"] is True
        peer.sendall(peer_info(cluster="docket_test"))
        assert read_line(peer) == b"-ERR 'Authorization Violation'\r\n"
        peer = route_socket(route_port)
        read_line(peer)
        peer.sendall(b'CONNECT {"user":"route","pass":"wrong"}\r\n' + peer_info(cluster="docket_test"))
        assert read_line(peer) == b"-ERR 'Authorization Violation'\r\n"
        peer = route_socket(route_port)
        read_line(peer)
        peer.sendall(b'CONNECT {"user":"route","pass":"s3cret"}\r\n' + peer_info(server_id="NOTHERCLUSTER", cluster="elsewhere"))
        assert read_line(peer) == b"-ERR 'Cluster Name Conflict'\r\n"
        # A node with the credentials in its route URL joins.
        second = start(Path(tempfile.mkdtemp()), {"config": config(other_port, "route:s3cret@")})
        try:
            async def main():
                a, b = await nats.connect(first.url), await nats.connect(second.url)
                await meshed([a, b])
                await a.close()
                await b.close()
            run(main())
        finally:
            second.stop()
    finally:
        first.stop()


def test_a_learnt_route_logs_in_with_the_clusters_authorization(tmp_path):
    """As nats-server's: a route learnt from a peer logs in with this node's cluster
    authorization, not with the credentials written into a configured route's URL (those are
    the seed's). Two nodes that share an authorization meet through a seed that has its own."""
    seed_port, b_port, c_port = _free_port(), _free_port(), _free_port()

    def config(port, user, password, routes):
        listed = ", ".join(routes)
        return (f"cluster {{\n  name: docket_test\n  listen: 127.0.0.1:{port}\n"
                f"  authorization {{ user: {user}, password: {password} }}\n  routes: [{listed}]\n}}\n")

    to_seed = f"nats://seed:seedpw@127.0.0.1:{seed_port}"
    for name in ("seed", "b", "c"):
        (tmp_path / name).mkdir()
    nodes = []
    try:
        nodes.append(_start(tmp_path / "seed", {"config": config(seed_port, "seed", "seedpw", [])}))
        nodes.append(_start(tmp_path / "b", {"config": config(b_port, "route", "s3cret", [to_seed])}))
        nodes.append(_start(tmp_path / "c", {"config": config(c_port, "route", "s3cret", [to_seed])}))

        async def main():
            b, c = await nats.connect(nodes[1].url), await nats.connect(nodes[2].url)
            # B and C hear each other only over a route of their own (routes carry one hop).
            await meshed([b, c], timeout=15.0)
            await b.close()
            await c.close()
        run(main())
    finally:
        for node in nodes:
            node.stop()


def test_varz_counts_the_routes_and_lists_every_nodes_client_address(cluster):
    """As nats-server's /varz: `routes` and `remotes` count the peers, `connect_urls` has every
    node's client address (nats.js's harness waits on it for a cluster to form), and `cluster`
    names the cluster and its route port."""
    http_ports = [_free_port(), _free_port()]
    nodes = [cluster(1, extra=f"http_port: {port}\n")[0] for port in http_ports]

    def varz(port):
        return json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/varz", timeout=2).read())

    addresses = {node.client_address for node in nodes}
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        documents = [varz(port) for port in http_ports]
        if all(d["routes"] == 1 and set(d.get("connect_urls", [])) == addresses for d in documents):
            break
        time.sleep(0.1)
    for node, document in zip(nodes, documents):
        assert document["routes"] == 1 and document["remotes"] == 1, document
        assert sorted(document["connect_urls"]) == sorted(addresses), document
        assert document["cluster"]["name"] == "docket_test" and document["cluster"]["cluster_port"] == node.route_port, document


def test_varz_without_a_cluster_has_no_routes(tmp_path):
    http_port = _free_port()
    server = _start(tmp_path, {"config": f"http_port: {http_port}\n"})
    try:
        document = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{http_port}/varz", timeout=2).read())
        assert document["routes"] == 0 and "connect_urls" not in document, document
    finally:
        server.stop()


@pytest.mark.docketd_only("docketd's monitoring of its routes")
def test_routez_lists_the_peers(tmp_path):
    import os
    port_a, port_b, http_a = _free_port(), _free_port(), _free_port()
    docketd = os.environ["DOCKETD"]
    procs = []
    try:
        for index, (port, routes) in enumerate(((port_a, port_b), (port_b, port_a))):
            flags = [docketd, "--port", "0", "--data-dir", str(tmp_path / f"d{index}"), "--cluster", f"nats://127.0.0.1:{port}",
                     "--routes", f"nats://127.0.0.1:{routes}", "--cluster-name", "x"]
            if index == 0:
                flags += ["-m", str(http_a)]
            procs.append(subprocess.Popen(flags, stderr=subprocess.PIPE, text=True))
        # A liveness bound: CI runs this beside two other lanes of suites, and a server that
        # could not start (a free port taken meanwhile) is reported with its own words.
        deadline = time.monotonic() + 30
        document = {}
        while time.monotonic() < deadline and all(proc.poll() is None for proc in procs):
            try:
                document = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{http_a}/routez", timeout=2).read())
                if document.get("num_routes") == 1:
                    break
            except OSError:
                pass
            time.sleep(0.1)
        if document.get("num_routes") != 1:
            for proc in procs:
                proc.terminate()
            logs = [proc.communicate(timeout=10)[1] for proc in procs]
            pytest.fail(f"no route in /routez: {document}; the servers said: {logs}")
        assert document["routes"][0]["route_url"] == f"127.0.0.1:{port_b}"
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(10)


@pytest.mark.docketd_only("docketd's two ways to a cluster")
def test_routes_and_a_nats_server_cluster_link_do_not_mix(tmp_path):
    import os
    result = subprocess.run([os.environ["DOCKETD"], "--port", "0", "--data-dir", str(tmp_path / "d"), "--cluster", "nats://127.0.0.1:0",
                             "--cluster-nats", "nats://127.0.0.1:4222"], capture_output=True, text=True, timeout=20)
    assert result.returncode != 0 and "choose one" in result.stderr, result.stderr
