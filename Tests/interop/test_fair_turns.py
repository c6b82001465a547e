"""One busy client cannot hold up everyone else: a connection's backlog is run a bounded
amount per loop pass (docketd's `workPerTurn`), the other clients' commands between.

A wake-up of a connection used to run everything its up to 8 reads held: of SUB/UNSUB pairs,
tens of thousands of subscription changes, while every other client's PING waited (20-45 ms at
the median, over 100 ms at worst, against 0.02 ms on nats-server); of LIST pages, up to a
megabyte of JSON (20 ms at the median). The tests order events in one stream rather than time
them: the busy client publishes markers to a subject the other client reads, so the other
client's socket carries, in the server's order, how far the busy one got before its PING was
answered.
"""

from __future__ import annotations

import itertools
import json
import select
import socket
import threading

import pytest

from conftest import _free_port, connect_raw as connect, read_line

pytestmark = pytest.mark.docketd_only("docketd's per-turn work budget")

# Markers the other client may see between sending its PING and reading the PONG. Served in
# bounded turns, the busy client gets a turn or two meanwhile (about two markers); one wake-up
# of the old server ran about 25 (SUB/UNSUB) or 16 (LIST) of them.
MOST_MARKERS_WHILE_WAITING = 8


def with_markers(commands: list[bytes], every: int) -> tuple[bytes, int]:
    """`commands` with a marker PUB (its payload how many of them came before) after every
    `every` of them, and a PING at the end; and the number of markers."""
    parts = []
    for done, command in enumerate(commands, 1):
        parts.append(command)
        if done % every == 0:
            count = b"%d" % done
            parts.append(b"PUB progress %d\r\n%s\r\n" % (len(count), count))
    parts.append(b"PING\r\n")
    return b"".join(parts), len(commands) // every


def subscription_churn(busy: socket.socket) -> tuple[bytes, int]:
    """200,000 SUB/UNSUB lines (about 2 MiB), a marker every thousand of them."""
    return with_markers([b"SUB churn.%d %d\r\nUNSUB %d\r\n" % (n, n, n) for n in range(1, 100_001)], 500)


def listing_pages(busy: socket.socket) -> tuple[bytes, int]:
    """2,000 LIST pages of 100 jobs (some 60 MB of JSON to build), a marker every two."""
    busy.sendall(b"ENQ pages 16\r\n0123456789abcdef\r\n" * 1000 + b"PING\r\n")
    while not busy.recv(1 << 16).endswith(b"PONG\r\n"):
        pass
    return with_markers([b"LIST pages limit=100\r\n"] * 2000, 2)


def listings_walking_a_queue(busy: socket.socket) -> tuple[bytes, int]:
    """1,200 LIST pages of one job from a queue of 2,000 waiting ones, each walking them all to
    find its page, a marker every five. Counted by their replies alone (a few hundred bytes),
    a turn held about 290 of them (some 58 markers while another client's PING waited);
    counted by the jobs walked too, about 15 (three markers)."""
    busy.sendall(b"BATCH 1000\r\n" + b"ENQ walked 1\r\nx\r\n" * 1000 + b"BATCH 1000\r\n" + b"ENQ walked 1\r\nx\r\n" * 1000 + b"PING\r\n")
    drain_until_pong(busy)
    return with_markers([b"LIST walked state=waiting limit=1\r\n"] * 1200, 5)


def publishes_walking_wildcards(busy: socket.socket) -> tuple[bytes, int]:
    """12,000 PUBs that no one receives, each on a new subject that a match walks 255 trie
    nodes for: busy subscribes to every mix of `a` and `*` over 7 tokens, then `.z` (128
    subscriptions), and publishes on `a.a.a.a.a.a.a.<n>`; a marker every 256. Counted as one
    unit each, a turn held thousands of them (a dozen markers while another client's PING
    waited); counted by the nodes walked through `*` branches, about 30."""
    patterns = itertools.product((b"a", b"*"), repeat=7)
    busy.sendall(b"".join(b"SUB %s.z %d\r\n" % (b".".join(tokens), sid) for sid, tokens in enumerate(patterns, 1)) + b"PING\r\n")
    drain_until_pong(busy)
    busy.settimeout(60)  # nothing comes back before the backlog's PONG
    return with_markers([b"PUB a.a.a.a.a.a.a.%d 0\r\n\r\n" % n for n in range(12_000)], 256)


def read_event(sock: socket.socket) -> tuple[str, int]:
    """('marker', commands the busy client had run) or ('pong', 0), in the server's order."""
    line = read_line(sock)
    if line == b"PONG\r\n":
        return "pong", 0
    assert line.startswith(b"MSG progress "), line
    size = int(line.split()[-1])
    payload = b""
    while len(payload) < size + 2:
        payload += sock.recv(size + 2 - len(payload))
    return "marker", int(payload[:size])


def markers_already_sent(sock: socket.socket) -> list[int]:
    """The markers the server has written to `sock` so far, read without waiting for more: what
    came before a PING sent right after, however late this process got to run."""
    counts = []
    while select.select([sock], [], [], 0)[0]:
        kind, count = read_event(sock)
        assert kind == "marker"
        counts.append(count)
    return counts


def drain_until_pong(sock: socket.socket) -> None:
    """Reads (and drops) what the busy client is sent, up to its final PONG."""
    tail = b""
    while not tail.endswith(b"PONG\r\n"):
        chunk = sock.recv(1 << 20)
        assert chunk, "the busy client was closed"
        tail = (tail + chunk)[-16:]


def ping_amid_markers(watcher: socket.socket, markers: int) -> tuple[list[int], list[int]]:
    """Waits for the first marker, sends a PING, and reads every marker to the last: returns
    the markers already sent when the PING went and those that came before its PONG. Checks
    that none was lost or reordered: they count up by the first one's count."""
    kind, first = read_event(watcher)
    assert kind == "marker"  # the server has begun on the backlog
    before = markers_already_sent(watcher)
    watcher.sendall(b"PING\r\n")
    while_waiting = []
    while (event := read_event(watcher))[0] != "pong":
        while_waiting.append(event[1])
    later = [read_event(watcher) for _ in range(markers - 1 - len(before) - len(while_waiting))]
    counts = [first] + before + while_waiting + [count for _, count in later]
    assert counts == list(range(first, first * markers + 1, first)), (before, while_waiting)
    return before, while_waiting


def sending_while_draining(sock: socket.socket, backlog: bytes) -> list[threading.Thread]:
    """Writes `backlog` while the server works through it, and reads what comes back up to the
    backlog's final PONG, each on a thread; `finished` waits for them."""
    threads = [threading.Thread(target=sock.sendall, args=(backlog,), daemon=True),
               threading.Thread(target=drain_until_pong, args=(sock,), daemon=True)]
    for thread in threads:
        thread.start()
    return threads


def finished(threads: list[threading.Thread]) -> None:
    for thread in threads:
        thread.join(60)
        assert not thread.is_alive()  # the backlog's PONG came: the connection is still up


def watching(port: int) -> socket.socket:
    """A client that hears the markers."""
    watcher = connect(port)
    watcher.sendall(b"SUB progress 1\r\nPING\r\n")
    assert read_line(watcher) == b"PONG\r\n"
    return watcher


@pytest.mark.parametrize("flood", [subscription_churn, listing_pages, listings_walking_a_queue, publishes_walking_wildcards],
                         ids=["sub-unsub", "list", "list-walks", "wildcard-walks"])
def test_another_clients_ping_is_answered_within_a_few_turns_of_a_busy_client(start_process, flood):
    port = int(start_process().url.rsplit(":", 1)[1])
    watcher = watching(port)
    busy = connect(port)
    backlog, markers = flood(busy)
    threads = sending_while_draining(busy, backlog)
    _, markers_while_waiting = ping_amid_markers(watcher, markers)
    # Answered while the busy client's backlog was still being run, after a turn or two of it
    # (and nothing of it lost or reordered: its final PONG comes after every marker).
    assert len(markers_while_waiting) <= MOST_MARKERS_WHILE_WAITING, markers_while_waiting
    finished(threads)
    busy.close()
    watcher.close()


def route_interest_churn(done: int) -> bytes:
    return b"RS+ $G churn.%d\r\nRS- $G churn.%d\r\n" % (done, done)


def route_info_updates(done: int) -> bytes:
    """An INFO that changes the peer's client addresses (so that each is news)."""
    return b'INFO {"server_id":"NFAIRPEER","server_name":"peer","connect_urls":["127.0.0.1:%d"]}\r\n' % (4000 + done % 2)


@pytest.mark.parametrize("line, every", [(route_interest_churn, 500), (route_info_updates, 128)], ids=["rs-pairs", "info"])
def test_a_route_peers_backlog_takes_turns_with_the_clients(start_process, line, every):
    """A peer on the route port is served in turns as a client is: 200,000 RS+/RS- lines from
    it used to run a whole wake-up at a time (15 markers, 7,500 pairs, before another client's
    PING). An INFO counts for the 12 µs it costs (a JSON document, the peer's addresses
    compared): counted as one unit, a turn of them held 8 markers. Its markers are messages to
    the watcher, in its order."""
    route_port = _free_port()
    server = start_process(config=f"cluster {{\n  name: fair\n  listen: 127.0.0.1:{route_port}\n}}\n")
    port = int(server.url.rsplit(":", 1)[1])
    watcher = watching(port)
    peer = socket.create_connection(("127.0.0.1", route_port), timeout=10)
    assert read_line(peer).startswith(b"INFO ")
    peer.sendall(b'INFO {"server_id":"NFAIRPEER","server_name":"peer","cluster":"fair"}\r\nPING\r\n')
    drain_until_pong(peer)
    parts = []
    markers = 200
    for done in range(1, every * markers + 1):
        parts.append(line(done))
        if done % every == 0:
            count = b"%d" % done
            parts.append(b"RMSG $G progress %d\r\n%s\r\n" % (len(count), count))
    parts.append(b"PING\r\n")
    threads = sending_while_draining(peer, b"".join(parts))

    _, markers_while_waiting = ping_amid_markers(watcher, markers)
    assert len(markers_while_waiting) <= MOST_MARKERS_WHILE_WAITING, markers_while_waiting
    finished(threads)
    peer.close()
    watcher.close()


def sent_until_the_server_stops_reading(sock: socket.socket, data: bytes) -> int:
    """Sends `data` until the server has taken none of it for a second (its kernel buffers and
    ours are full); returns how much went."""
    sock.setblocking(False)
    sent = 0
    try:
        while sent < len(data):
            try:
                sent += sock.send(data[sent:sent + (1 << 16)])
            except BlockingIOError:
                if not select.select([], [sock], [], 1.0)[1]:
                    break
    finally:
        sock.setblocking(True)
        sock.settimeout(10)
    return sent


def run_behind_a_waiting_reserve(port: int, backlog: bytes, markers: int, first: bytes = b"") -> socket.socket:
    """Sends `first`, a RESERVE that waits and `backlog` on one connection, lets a job come for
    the RESERVE, and checks that another client's PING is answered within a few turns of the
    backlog; returns the connection that sent the job, still open."""
    watcher = watching(port)
    busy = connect(port)
    # The server reads ahead of a waiting RESERVE until it holds more than a command's worth
    # (a megabyte), then stops reading: all of that is run when the job comes.
    waiting = first + b"RESERVE gate timeout=60s\r\n" + backlog
    sent = sent_until_the_server_stops_reading(busy, waiting)
    sender = threading.Thread(target=busy.sendall, args=(waiting[sent:],), daemon=True)
    sender.start()
    gate = connect(port)
    gate.sendall(b"ENQ gate 1\r\nx\r\n")
    before, markers_while_waiting = ping_amid_markers(watcher, markers)
    assert len(before) + len(markers_while_waiting) <= 2 * MOST_MARKERS_WHILE_WAITING, (before, markers_while_waiting)
    sender.join(60)
    assert read_line(gate).startswith(b"+OK ")
    busy.close()
    watcher.close()
    return gate


def test_a_backlog_of_connects_run_at_once_is_cut_into_turns(start_process):
    """Parsing a CONNECT's JSON is work (some 60 µs for 4 KB here): counted as one unit, the
    megabyte of them read ahead of a waiting RESERVE ran in one go once its job came (the first
    marker came with 50 more, and hundreds before another client's PONG); counted by their
    bytes, a turn holds about 30 of them, and the PING is answered between turns."""
    port = int(start_process().url.rsplit(":", 1)[1])
    line = b'CONNECT {"verbose":false,"name":"' + b"n" * 3900 + b'"}\r\n'
    run_behind_a_waiting_reserve(port, *with_markers([line] * 6000, 8)).close()


def test_a_backlog_of_api_requests_with_long_headers_is_cut_into_turns(start_process):
    """A `$DOCKET.API` request's header block is scanned for `Docket-Options` on the loop, and
    may be as long as a payload: counted as one unit (a PUB), the megabyte of 32 KB header
    blocks read ahead of a waiting RESERVE ran in one go once its job came (some 32 of them,
    each of 2,000 fields that were decoded into a dictionary at about 6 µs a field); counted by
    their bytes, as replies are, a turn holds 4 of them, and the PING is answered between
    turns."""
    port = int(start_process().url.rsplit(":", 1)[1])
    fields = b"".join(b"X-Trace-%d: v\r\n" % n for n in range(2_000))
    headers = b"NATS/1.0\r\n" + fields + b"Docket-Options: pri=1\r\n\r\n"
    line = b"HPUB $DOCKET.API.ENQ.fair %d %d\r\n%s\r\n" % (len(headers), len(headers), headers)
    gate = run_behind_a_waiting_reserve(port, *with_markers([line] * 200, 1), first=b'CONNECT {"verbose":false,"headers":true}\r\n')
    # Every request was run, its Docket-Options read: 200 jobs waiting, each of priority 1.
    gate.sendall(b"LIST fair limit=1000\r\n")
    assert read_line(gate).startswith(b"JSON ")
    page = json.loads(read_line(gate))
    assert [job["priority"] for job in page["jobs"]] == [1] * 200, page
    gate.close()
