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

import select
import socket
import threading

import pytest

from conftest import connect_raw as connect, read_line

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


@pytest.mark.parametrize("flood", [subscription_churn, listing_pages], ids=["sub-unsub", "list"])
def test_another_clients_ping_is_answered_within_a_few_turns_of_a_busy_client(start_process, flood):
    port = int(start_process().url.rsplit(":", 1)[1])
    watcher = connect(port)
    watcher.sendall(b"SUB progress 1\r\nPING\r\n")
    assert read_line(watcher) == b"PONG\r\n"
    busy = connect(port)
    backlog, markers = flood(busy)
    # Everything the busy client owes the server, written while the server works through it,
    # and its replies read as they come.
    sender = threading.Thread(target=busy.sendall, args=(backlog,), daemon=True)
    reader = threading.Thread(target=drain_until_pong, args=(busy,), daemon=True)
    sender.start()
    reader.start()

    kind, first = read_event(watcher)
    assert kind == "marker"  # the server has begun on the backlog
    before = markers_already_sent(watcher)
    watcher.sendall(b"PING\r\n")
    markers_while_waiting = []
    while (event := read_event(watcher))[0] != "pong":
        markers_while_waiting.append(event[1])
    # Answered while the busy client's backlog was still being run, after a turn or two of it.
    assert len(markers_while_waiting) <= MOST_MARKERS_WHILE_WAITING, (first, markers_while_waiting)
    later = [read_event(watcher) for _ in range(markers - 1 - len(before) - len(markers_while_waiting))]
    # Nothing of the busy client's was lost or reordered: every marker came, in order, and its
    # final PONG after all of them.
    counts = [first] + before + markers_while_waiting + [count for _, count in later]
    every = first
    assert counts == list(range(every, every * markers + 1, every))
    sender.join(60)
    reader.join(60)
    assert not reader.is_alive()
    busy.close()
    watcher.close()
