#!/usr/bin/env python3
"""How long one client's PING round trip takes while another client floods the server.

One process pipelines a flood of one kind (SUB/UNSUB pairs, PUBs to a subject with many
subscribers, ENQs, RESERVE/ACK, the expensive read verbs, huge CONNECTs, HPUBs with huge
headers) for --seconds; another sends PING and waits for PONG, over and over, and reports the
median and the largest round trip. Both talk to 127.0.0.1 only, and both stop by themselves.

    scripts/bench-fairness.py --docketd .build-rel/release/docketd --flood sub
    scripts/bench-fairness.py --nats-server /usr/sbin/nats-server --flood sub

The route-* floods come from a peer on the cluster (route) port instead, logged in as a node
would be: RS+/RS- pairs (route-interest), INFO updates (route-info), RMSGs to a subject with many
subscribers (route-fanout). The server is then started with a route port.
"""
from __future__ import annotations

import argparse
import multiprocessing
import os
import queue
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from docketd_process import start_docketd  # noqa: E402

# Subscribers of the fan-out flood's subject, all on one connection that reads everything.
FANOUT = 100
JOBS_FOR_READS = 1000


def connect(port: int, hello: bytes = b'CONNECT {"verbose":false,"pedantic":false,"headers":true}\r\n') -> socket.socket:
    """A client past the server's INFO, `hello` and a PING answered."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    line = b""
    while not line.endswith(b"\r\n"):
        line += sock.recv(1)
    sock.sendall(hello + b"PING\r\n")
    expect(sock, b"PONG\r\n")
    return sock


def expect(sock: socket.socket, wanted: bytes) -> None:
    got = b""
    while not got.endswith(wanted):
        chunk = sock.recv(65536)
        if not chunk:
            raise SystemExit(f"closed while waiting for {wanted!r}: {got[-200:]!r}")
        got += chunk


def block(kind: str) -> bytes:
    """One repetition of the flood: the client sends it again and again."""
    if kind == "route-interest":
        return b"".join(b"RS+ $G churn.%d\r\nRS- $G churn.%d\r\n" % (i, i) for i in range(1, 1001))
    if kind == "route-info":
        return b"".join(b'INFO {"server_id":"NFLOODPEER","connect_urls":["127.0.0.1:%d"]}\r\n' % (4000 + i % 2)
                        for i in range(1000))
    if kind == "route-fanout":
        return b"RMSG $G fan 16\r\n0123456789abcdef\r\n" * 1000
    if kind == "sub":
        return b"".join(b"SUB churn.%d %d\r\nUNSUB %d\r\n" % (i, i, i) for i in range(1, 1001))
    if kind == "pub-fanout":
        return b"PUB fan 16\r\n0123456789abcdef\r\n" * 1000
    if kind == "enq":
        return b"ENQ flood 16\r\n0123456789abcdef\r\n" * 1000
    if kind == "reserve-ack":
        return b"ENQ work 16\r\n0123456789abcdef\r\nRESERVE work timeout=0\r\n" * 500
    if kind == "reads":
        return b"LIST reads limit=100\r\nINSPECT 1\r\nSTATS\r\n" * 100
    if kind == "connect-huge":
        big = b'{"verbose":false,"name":"' + b"n" * 3900 + b'"}'
        return b"CONNECT " + big + b"\r\n" * 1
    if kind == "hpub-huge":
        headers = b"NATS/1.0\r\n" + b"".join(b"X-Filler-%d: %s\r\n" % (i, b"v" * 1000) for i in range(60)) + b"\r\n"
        payload = b"0123456789abcdef"
        return b"HPUB fan %d %d\r\n" % (len(headers), len(headers) + len(payload)) + headers + payload + b"\r\n"
    raise SystemExit(f"unknown flood {kind}")


def prepare(port: int, kind: str) -> list[socket.socket]:
    """What the flood needs to exist first; the sockets returned are read until the end."""
    keep = []
    if kind in ("pub-fanout", "hpub-huge", "route-fanout"):
        sub = connect(port)
        fanout = FANOUT if kind == "pub-fanout" else 1
        sub.sendall(b"".join(b"SUB fan %d\r\n" % i for i in range(1, fanout + 1)) + b"PING\r\n")
        expect(sub, b"PONG\r\n")
        keep.append(sub)
    if kind == "reads":
        setup = connect(port)
        setup.sendall(b"ENQ reads 16\r\n0123456789abcdef\r\n" * JOBS_FOR_READS + b"PING\r\n")
        expect(setup, b"PONG\r\n")
        setup.close()
    return keep


def drain(sock: socket.socket, kind: str, stop: threading.Event, counted: list[int], lock: threading.Lock) -> None:
    """Reads all the server sends the flooder (and ACKs its jobs, for reserve-ack)."""
    pending = b""
    while not stop.is_set():
        try:
            chunk = sock.recv(1 << 20)
        except (socket.timeout, OSError):
            return
        if not chunk:
            return
        counted[0] += len(chunk)
        if kind != "reserve-ack":
            continue
        pending += chunk
        acks = []
        while True:
            end = pending.find(b"\r\n")
            if end < 0:
                break
            line = pending[:end]
            if line.startswith(b"JOB "):
                counted[1] += 1
                fields = line.split()
                acks.append(b"ACK %s\r\n" % fields[1])
                size = int(fields[-1])
                if len(pending) < end + 2 + size + 2:
                    break
                pending = pending[end + 2 + size + 2:]
            else:
                pending = pending[end + 2:]
        if acks:
            try:
                with lock:
                    sock.sendall(b"".join(acks))
            except OSError:
                return


def route_peer(port: int) -> socket.socket:
    """A peer on the route port that has said who it is, as a docketd or nats-server node does."""
    return connect(port, b'CONNECT {"verbose":false}\r\nINFO {"server_id":"NFLOODPEER","server_name":"flood"}\r\n')


def flood(port: int, kind: str, seconds: float, ready, result, route_port: int | None = None) -> None:
    keep = prepare(port, kind)
    sock = route_peer(route_port) if kind.startswith("route-") else connect(port)
    stop = threading.Event()
    counted = [0, 0]  # bytes read back, jobs handed out
    # Whole commands only: the ACKs of reserve-ack go out between the flood's chunks.
    lock = threading.Lock()
    reader = threading.Thread(target=drain, args=(sock, kind, stop, counted, lock), daemon=True)
    reader.start()
    sunk = [0]
    for other in keep:
        threading.Thread(target=drain, args=(other, "sink", stop, sunk, threading.Lock()), daemon=True).start()
    chunk = block(kind)
    repeat = max(1, (256 << 10) // len(chunk))
    # RESERVE/ACK is paced by its replies: a Python reader cannot keep up with what a blind
    # flood reserves, and the server rightly cuts it off as a slow consumer.
    window = 4 * chunk.count(b"RESERVE") if kind == "reserve-ack" else None
    if window is None:
        chunk = chunk * repeat
    reserved = 0
    ready.set()
    deadline = time.monotonic() + seconds
    sent = 0
    while time.monotonic() < deadline:
        if window is not None:
            if reserved - counted[1] > window:
                time.sleep(0.0005)
                continue
            reserved += chunk.count(b"RESERVE")
        try:
            with lock:
                sock.sendall(chunk)
        except OSError as error:
            result.put(("flood closed", f"{error} after {sent} bytes sent, {counted[0]} read back, {sunk[0]} to subscribers"))
            return
        sent += len(chunk)
    stop.set()
    result.put(("flood", f"{sent} bytes sent, {counted[0]} read back, {sunk[0]} to subscribers"))


def ping(port: int, seconds: float, ready, result) -> None:
    sock = connect(port)
    ready.wait(30)
    rtts = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        started = time.perf_counter()
        sock.sendall(b"PING\r\n")
        try:
            expect(sock, b"PONG\r\n")
        except socket.timeout:
            rtts.append(float("inf"))  # no PONG within the socket's 30 s
            break
        rtts.append((time.perf_counter() - started) * 1000)
    result.put(("ping", rtts))


def start_nats_server(binary: str, route_port: int | None = None) -> tuple[subprocess.Popen, int]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    cluster = ["--cluster", f"nats://127.0.0.1:{route_port}"] if route_port else []
    proc = subprocess.Popen([binary, "-a", "127.0.0.1", "-p", str(port), *cluster], stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc, port
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("nats-server did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docketd")
    parser.add_argument("--nats-server")
    parser.add_argument("--flood", default="sub",
                        choices=["none", "sub", "pub-fanout", "enq", "reserve-ack", "reads", "connect-huge", "hpub-huge",
                                 "route-interest", "route-info", "route-fanout"])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--port", type=int, help="a server already listening on 127.0.0.1:PORT")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as data:
        proc = None
        route_port = None
        if arguments.flood.startswith("route-"):
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", 0))
                route_port = probe.getsockname()[1]
        if arguments.port:
            port = arguments.port
        elif arguments.docketd:
            cluster = ["--cluster", f"nats://127.0.0.1:{route_port}"] if route_port else []
            proc, port, _ = start_docketd(arguments.docketd, data, *cluster)
        elif arguments.nats_server:
            proc, port = start_nats_server(arguments.nats_server, route_port)
        else:
            raise SystemExit("--docketd, --nats-server or --port")
        try:
            ready = multiprocessing.Event()
            result = multiprocessing.Queue()
            workers = [multiprocessing.Process(target=ping, args=(port, arguments.seconds, ready, result))]
            if arguments.flood == "none":
                ready.set()
            else:
                workers.append(multiprocessing.Process(
                    target=flood, args=(port, arguments.flood, arguments.seconds, ready, result, route_port)))
            for worker in workers:
                worker.start()
            outcomes = {}
            for _ in workers:
                try:
                    item = result.get(timeout=arguments.seconds + 60)
                except queue.Empty:
                    break
                outcomes[item[0]] = item[1:]
            for worker in workers:
                worker.join(10)
                if worker.is_alive():
                    worker.kill()
        finally:
            if proc:
                proc.terminate()
                proc.wait(30)
    if "ping" not in outcomes:
        raise SystemExit(f"{arguments.flood}: the PING client did not report; {outcomes}")
    rtts = outcomes["ping"][0]
    flooded = (outcomes.get("flood") or outcomes.get("flood closed") or ("no report",))[0]
    print(f"{arguments.flood}: {len(rtts)} pings, median {statistics.median(rtts):.2f} ms, "
          f"p99 {sorted(rtts)[int(len(rtts) * 0.99)]:.2f} ms, max {max(rtts):.2f} ms; flood {flooded}")


if __name__ == "__main__":
    main()
