"""One busy client cannot hold up everyone else: a connection's backlog is run a bounded
amount per loop pass (docketd's `workPerTurn`), the other clients' commands between.

A wake-up of a connection used to run everything its up to 8 reads held: of SUB/UNSUB pairs,
tens of thousands of subscription changes, while every other client's PING waited (48 ms at the
median, 163 ms at worst, against 0.2 ms on nats-server). The tests order events in one stream
rather than time them: the busy client publishes a marker every 1,000 of its commands to a
subject the other client reads, so the other client's socket carries, in the server's order,
how far the busy one got before its PING was answered.
"""

from __future__ import annotations

import socket
import threading

import pytest

from conftest import connect_raw as connect, read_line

pytestmark = pytest.mark.docketd_only("docketd's per-turn work budget")

PAIRS = 100_000  # 200,000 SUB/UNSUB lines, about 2 MiB queued in the busy client's socket
COMMANDS_PER_MARKER = 1_000
# Markers (thousands of the busy client's commands) the other client may see between sending
# its PING and reading the PONG. Served in bounded turns, the busy client gets a turn or two
# (a thousand commands each) meanwhile; one wake-up of the old server ran about 25,000.
MOST_MARKERS_WHILE_WAITING = 10


def backlog() -> bytes:
    """SUB/UNSUB pairs with a marker PUB (its payload the count so far) after every thousand
    commands, and a PING at the end."""
    parts = []
    for pair in range(1, PAIRS + 1):
        parts.append(b"SUB churn.%d %d\r\nUNSUB %d\r\n" % (pair, pair, pair))
        if (2 * pair) % COMMANDS_PER_MARKER == 0:
            count = b"%d" % (2 * pair)
            parts.append(b"PUB progress %d\r\n%s\r\n" % (len(count), count))
    parts.append(b"PING\r\n")
    return b"".join(parts)


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


def test_another_clients_ping_is_answered_within_a_few_turns_of_a_busy_client(start_process):
    port = int(start_process().url.rsplit(":", 1)[1])
    watcher = connect(port)
    watcher.sendall(b"SUB progress 1\r\nPING\r\n")
    assert read_line(watcher) == b"PONG\r\n"
    busy = connect(port)
    # Everything the busy client owes the server, written while the server works through it.
    sender = threading.Thread(target=busy.sendall, args=(backlog(),), daemon=True)
    sender.start()

    kind, first = read_event(watcher)
    assert kind == "marker"  # the server has begun on the backlog
    watcher.sendall(b"PING\r\n")
    markers_while_waiting = []
    while (event := read_event(watcher))[0] != "pong":
        markers_while_waiting.append(event[1])
    # Answered while the busy client's backlog was still being run, after at most a few
    # thousand of its commands.
    assert len(markers_while_waiting) <= MOST_MARKERS_WHILE_WAITING, (first, markers_while_waiting)
    later = [read_event(watcher) for _ in range(2 * PAIRS // COMMANDS_PER_MARKER - 1 - len(markers_while_waiting))]
    # Nothing of the busy client's was lost or reordered: every marker came, in order, and its
    # final PONG after all of them.
    counts = [first] + markers_while_waiting + [count for _, count in later]
    assert counts == list(range(COMMANDS_PER_MARKER, 2 * PAIRS + 1, COMMANDS_PER_MARKER))
    sender.join(30)
    assert read_line(busy) == b"PONG\r\n"
    busy.close()
    watcher.close()
