"""Hostile clients against a real docketd, on both of its ports: random and mutated bytes at
every state of a protocol connection (before CONNECT, mid control line, mid PUB, HPUB and ENQ
payloads, inside a BATCH, during a TLS handshake), NUL and lone CR bytes, one-byte writes of a
pipelined mix of NATS and job verbs, numbers past every range, Unicode in names, and
request-smuggling shapes on the monitoring port.

The rules checked are PROTOCOL.md's: whatever arrives, the server answers with lines of its
protocol (an error is one well-formed `-ERR '…'` line), closes a connection only after an -ERR
saying why (or for a TLS handshake that fails or runs out of time), and keeps serving everyone
else: a client connected before the hostile ones, and a new one, still work after each batch.
The random inputs come from a fixed seed, so a failure replays."""

import itertools
import random
import re
import socket
import ssl
import subprocess
import threading

import pytest

from test_http_hardening import raw, status_of
from test_monitoring import DOCKETD, Docketd

pytestmark = pytest.mark.skipif(not DOCKETD, reason="set DOCKETD to a docketd binary")

# What a connection may be in the middle of when the hostile bytes arrive.
STATES = {
    "before CONNECT": b"",
    "after CONNECT": b'CONNECT {"verbose":false,"headers":true}\r\n',
    "mid control line": b'CONNECT {"verbose":false}\r\nSUB orders.',
    "mid PUB payload": b'CONNECT {"verbose":false}\r\nPUB orders.new 40\r\nhalf a pay',
    "mid HPUB headers": b'CONNECT {"verbose":false,"headers":true}\r\nHPUB orders.new 24 30\r\nNATS/1.0\r\nX-A',
    "mid ENQ payload": b'CONNECT {"verbose":false}\r\nENQ mail 40\r\nhalf a pay',
    "inside a BATCH": b'CONNECT {"verbose":false}\r\nBATCH 3\r\nENQ mail 1\r\nx\r\n',
}

# Pieces a mutation splices in: protocol words, framing bytes, numbers at and past the limits.
WORDS = [b"PUB ", b"HPUB ", b"SUB ", b"ENQ ", b"RESERVE ", b"ACK ", b"BATCH ", b"CONNECT ", b"PING",
         b"\r\n", b"\r", b"\n", b"\x00", b"\xff", b" ", b"\t", b"-1", b"0", b"99999999999999999999",
         b"9223372036854775808", b"18446744073709551616", b"{", b"}", b"'", "ü.é".encode(), b">", b"*"]

ERR_LINE = re.compile(rb"-ERR '[^'\r\n]*'")


def transcript_mutation(rng):
    """A valid pipelined mix with a few bytes replaced, inserted or cut."""
    data = bytearray(b"SUB a.b 1\r\nPUB a.b 5\r\nhello\r\nENQ mail 3\r\nabc\r\nRESERVE mail timeout=1ms\r\n"
                     b"HPUB a.b 12 14\r\nNATS/1.0\r\n\r\nhi\r\nPING\r\n")
    for _ in range(rng.randint(1, 4)):
        at = rng.randrange(len(data) + 1)
        choice = rng.random()
        if choice < 0.4:
            data[at:at] = rng.choice(WORDS)
        elif choice < 0.7 and at < len(data):
            data[at] = rng.randrange(256)
        else:
            del data[at:at + rng.randint(1, 8)]
    return bytes(data)


def hostile_inputs(seed, count):
    rng = random.Random(seed)
    inputs = []
    for _ in range(count):
        kind = rng.random()
        if kind < 0.35:
            inputs.append(bytes(rng.randrange(256) for _ in range(rng.randint(1, 64))))
        elif kind < 0.65:
            inputs.append(b"".join(rng.choice(WORDS) for _ in range(rng.randint(1, 12))))
        else:
            inputs.append(transcript_mutation(rng))
    return inputs


def play(port, data, pieces=1, quiet=0.5, until=None):
    """Reads INFO, sends `data` (in `pieces` writes), and reads until the server closes, is
    quiet, or has sent what ends with `until`: (everything after INFO, closed)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    received = b""
    while not received.endswith(b"\r\n"):
        received += sock.recv(4096)
    step = max(1, -(-len(data) // pieces))
    try:
        for start in range(0, len(data), step):
            sock.sendall(data[start:start + step])
    except OSError:
        pass  # closed while still writing: what was read tells why
    sock.settimeout(quiet)
    answer, closed = b"", False
    try:
        while chunk := sock.recv(65536):
            answer += chunk
            if until and answer.endswith(until):
                break
        else:
            closed = True
    except ConnectionResetError:
        closed = True
    except socket.timeout:
        pass
    sock.close()
    return answer, closed


def lines_of(answer):
    """The control lines the server sent, payloads skipped by their announced sizes."""
    lines, at = [], 0
    while (end := answer.find(b"\r\n", at)) >= 0:
        line = answer[at:end]
        lines.append(line)
        at = end + 2
        fields = line.split(b" ")
        if fields[0] in (b"MSG", b"HMSG", b"JOB", b"JSON", b"HELP", b"OUTCOME") and fields[-1].isdigit():
            at += int(fields[-1]) + 2
    return lines


def check_answer(answer, closed, what):
    lines = lines_of(answer)
    for line in lines:
        if line.startswith(b"-ERR"):
            assert ERR_LINE.fullmatch(line), (what, line)
        else:
            assert re.match(rb"(PONG|PING|\+OK|INFO |MSG |HMSG |JOB |NOJOB|JSON |HELP |OUTCOME |PENDING )", line + b" "), (what, line)
    if closed:
        assert lines and lines[-1].startswith(b"-ERR"), ("closed without an -ERR saying why", what, answer[-200:])


class Bystander:
    """A client connected before the hostile ones, which must keep working."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.file = self.sock.makefile("rb")
        self.file.readline()
        self.sock.sendall(b'CONNECT {"verbose":false}\r\nSUB bystander 1\r\n')

    def works(self):
        self.sock.sendall(b"PUB bystander 2\r\nok\r\nPING\r\n")
        assert self.file.readline() == b"MSG bystander 1 2\r\n"
        assert self.file.readline() == b"ok\r\n"
        assert self.file.readline() == b"PONG\r\n"


ALIVE_QUEUES = itertools.count()


def new_client_works(port):
    queue = b"alive%d" % next(ALIVE_QUEUES)  # its own, so no job left by an earlier check comes back
    answer, closed = play(port, b'CONNECT {"verbose":false}\r\nENQ ' + queue + b" 2\r\nok\r\nRESERVE " + queue + b"\r\nPING\r\n",
                          quiet=5, until=b"PONG\r\n")
    assert not closed and re.match(rb"\+OK \d+\r\nJOB \d+ " + queue + rb" 1 .*2\r\nok\r\nPONG\r\n", answer), answer


@pytest.fixture(scope="module")
def server():
    """One server for the whole file: each test also checks it still serves everyone."""
    s = Docketd("--max-control-line", "256", "--max-payload", "1024")
    yield s
    s.stop()


@pytest.mark.parametrize("state", STATES)
def test_random_and_mutated_bytes_at_every_state(server, state):
    bystander = Bystander(server.port)
    inputs = hostile_inputs(seed=list(STATES).index(state), count=24)
    # In parallel (each waits for quiet), whole and in one-byte writes.
    results = [None] * (2 * len(inputs))

    def run(index):
        data = STATES[state] + inputs[index // 2]
        results[index] = (data, play(server.port, data, pieces=1 if index % 2 == 0 else len(data)))

    threads = [threading.Thread(target=run, args=(index,)) for index in range(len(results))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for data, (answer, closed) in results:
        check_answer(answer, closed, (state, data))
    bystander.works()
    new_client_works(server.port)
    assert server.proc.poll() is None


def test_one_byte_writes_of_a_pipelined_mix_answer_as_one_write(server):
    """NATS and job verbs interleaved, sent whole by one client and byte by byte by another,
    get the same answers (job ids aside)."""
    def script(tag):
        return (f'CONNECT {{"verbose":true,"headers":true}}\r\nSUB {tag}.* 1\r\nPUB {tag}.a 5\r\nhello\r\n'
                f'ENQ {tag} 3\r\nabc\r\nHPUB {tag}.b 12 14\r\nNATS/1.0\r\n\r\nhi\r\nRESERVE {tag} timeout=1s\r\n'
                f'PING\r\nENQ {tag} 0\r\n\r\nQUEUE {tag}\r\nUNSUB 1\r\nPUB {tag}.a 0\r\n\r\nPING\r\n').encode()

    def normalized(answer, tag):
        # Numbers of any form (QUEUE's rates are 0 or 0.017 by when in its second it is read,
        # its oldest wait a number or null), so that only the answers' shape is compared.
        # Replies come in the order of the commands; a message to a subscription may pass a
        # reply that waits for a commit (PROTOCOL.md), and one write runs the HPUB while the
        # ENQ before it is still being flushed, where one byte at a time finds it flushed. So
        # the replies are compared in order, and the messages in order among themselves.
        messages, replies, at = [], [], 0
        while at < len(answer):
            end = answer.index(b"\r\n", at) + 2
            line = answer[at:end]
            if line.startswith(b"MSG ") or line.startswith(b"HMSG "):
                end += int(line.split()[-1]) + 2
                messages.append(answer[at:end])
            else:
                replies.append(answer[at:end])
            at = end

        def shape(frames):
            return re.sub(rb"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?|null", b"N", b"".join(frames).replace(tag.encode(), b"TAG"))
        return shape(replies), shape(messages)

    whole, closed = play(server.port, script("whole"), quiet=1.5, until=b"+OK\r\nPONG\r\n")
    assert not closed and whole.endswith(b"PONG\r\n") and b"-ERR" not in whole, whole
    trickled, closed = play(server.port, script("trickle"), pieces=len(script("trickle")), quiet=1.5, until=b"+OK\r\nPONG\r\n")
    assert not closed
    assert normalized(trickled, "trickle") == normalized(whole, "whole")


# Each with the error's words and whether the protocol closes the connection for it.
ODD_INPUTS = [
    (b"PI\x00NG\r\n", b"Unknown Protocol Operation", True),
    (b"PUB a -1\r\n", b"PUB byte count must be a non-negative number", True),
    (b"PUB a 99999999999999999999999999\r\n", b"PUB byte count must be a non-negative number", True),
    (b"HPUB a -1 5\r\n", b"HPUB byte counts must be non-negative numbers", True),
    (b"HPUB a 10 5\r\n", b"HPUB header size exceeds total size", True),
    (b"ENQ mail -5\r\n", b"ENQ needs <queue>", True),
    (b"ENQ mail 99999999999999999999999\r\n", b"ENQ needs <queue>", True),
    (b"BATCH -1\r\n", b"BATCH needs a count from 1", True),
    (b"BATCH 99999999999999999999\r\n", b"BATCH needs a count from 1", True),
    (b"PUB a 2000\r\n", b"Maximum Payload Violation", True),
    (b"SUB " + b"a" * 300 + b" 1\r\n", b"maximum control line exceeded", True),
    (b"ENQ mail delay=999999999999999999999999 1\r\nx\r\n", b"BAD_OPTION delay=", False),
    (b"RESERVE mail timeout=9223372036854775807h\r\n", b"BAD_OPTION timeout=", False),
    (b"ACK 99999999999999999999 1\r\nx\r\n", b"BAD_ID", False),
    (b"INSPECT 18446744073709551616\r\n", b"BAD_ID", False),
    (b"WAIT 0 timeout=1ms\r\n", b"BAD_ID", False),
    ("ENQ köln 1\r\nx\r\n".encode(), b"BAD_QUEUE", False),
    (b"ENQ q\xff\xfe 1\r\nx\r\n", b"BAD_QUEUE", False),
]


@pytest.mark.parametrize("data,words,closes", ODD_INPUTS, ids=[repr(case[0][:24]) for case in ODD_INPUTS])
def test_numbers_past_every_range_and_odd_bytes_are_answered(server, data, words, closes):
    answer, closed = play(server.port, b'CONNECT {"verbose":false}\r\n' + data + (b"" if closes else b"PING\r\n"), quiet=5,
                          until=None if closes else b"PONG\r\n")
    check_answer(answer, closed, data)
    assert words in answer, answer
    assert closed == closes, answer
    if not closes:
        assert answer.endswith(b"PONG\r\n"), answer
    new_client_works(server.port)


def test_lone_cr_and_lf_and_unicode_subjects(server):
    # A CR without LF does not end a line; a bare LF does (as nats-server reads them).
    answer, closed = play(server.port, b'CONNECT {"verbose":false}\r\nPING\rPING\r\n')
    assert not closed and answer == b"PONG\r\n", answer
    answer, closed = play(server.port, b'CONNECT {"verbose":false}\nPING\nPING\n')
    assert not closed and answer == b"PONG\r\nPONG\r\n", answer
    subject = "ü.é.日本".encode()
    answer, closed = play(server.port, b'CONNECT {"verbose":false}\r\nSUB ' + subject + b" 1\r\nPUB " + subject + b" 2\r\nhi\r\nPING\r\n")
    assert not closed and answer == b"MSG " + subject + b" 1 2\r\nhi\r\nPONG\r\n", answer


def test_junk_during_a_tls_handshake_closes_only_that_connection(tmp_path):
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.pem",
                    "-days", "2", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   cwd=tmp_path, check=True, capture_output=True, timeout=60)
    server = Docketd("--tls", "--tlscert", str(tmp_path / "server.pem"), "--tlskey", str(tmp_path / "server.key"),
                     "--tls-timeout", "500ms")
    context = ssl.create_default_context(cafile=str(tmp_path / "server.pem"))

    def tls_client_works():
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        sock.recv(4096)  # INFO, in clear
        tls = context.wrap_socket(sock, server_hostname="localhost")
        tls.sendall(b'CONNECT {"verbose":false}\r\nPING\r\n')
        assert tls.recv(16) == b"PONG\r\n"
        tls.close()

    # The start of a real ClientHello, to cut.
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    try:
        context.wrap_bio(incoming, outgoing, server_hostname="localhost").do_handshake()
    except ssl.SSLWantReadError:
        pass
    hello = outgoing.read()
    rng = random.Random(5)
    try:
        tls_client_works()
        cases = [hello[:cut] for cut in (1, 5, 40, len(hello) - 1)]
        cases += [bytes([0x16, 3, 1, 0, 64]) + bytes(rng.randrange(256) for _ in range(64)),
                  bytes([0x16, 3, 1, 0xFF, 0xFF]) + b"x" * 100, bytes([0x16]) + b"\x00" * 200]
        for data in cases:
            answer, closed = play(server.port, data, quiet=5)
            assert closed, data[:16]  # a failed or timed-out handshake closes, with nothing in clear
            assert not answer.startswith(b"PONG"), answer
            tls_client_works()
        answer, closed = play(server.port, b'CONNECT {"verbose":false}\r\nPING\r\n')
        assert closed and answer == b"-ERR 'Secure Connection - TLS Required'\r\n", answer
        tls_client_works()
    finally:
        server.stop()


HOST = b"Host: 127.0.0.1\r\n"
# Requests a proxy and docketd could frame or route differently, with the status expected.
SMUGGLING = [
    (b"POST /api/queue/pause?name=q HTTP/1.1\r\n" + HOST + b"transfer-encoding: chunked\r\n\r\n0\r\n\r\n", 411),
    (b"POST /api/queue/pause?name=q HTTP/1.1\r\n" + HOST + b"Transfer-Encoding:\tchunked\r\n\r\n0\r\n\r\n", 411),
    (b"POST /x HTTP/1.1\r\n" + HOST + b"Transfer-Encoding:chunked\r\nContent-Length: 3\r\n\r\nabc", 400),
    (b"POST /x HTTP/1.1\r\n" + HOST + b"Content-Length: 3, 3\r\n\r\nabc", 400),
    (b"POST /x HTTP/1.1\r\n" + HOST + b"Content-Length: 1 0\r\n\r\nabc", 400),
    (b"POST /x HTTP/1.1\r\n" + HOST + b"Content-Length: 99999999999999999999999\r\n\r\n", 400),
    ("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: ５\r\n\r\n".encode(), 400),
    (b"GET /varz HTTP/1.1\r\n" + HOST + b"X: a\r\n Transfer-Encoding: chunked\r\n\r\n", 400),
    ("GET /varz HTTP/1.1\r\nHost: 127.0.0.1\r\nTränsfer-Encoding: chunked\r\n\r\n".encode(), 400),
    (b"GET /varz HTTP/1.1\r\n" + HOST + b"X\x7f: 1\r\n\r\n", 400),
    (b"GET\t/varz\tHTTP/1.1\r\n" + HOST + b"\r\n", 400),
    (b"GET /varz HTTP/1.1\r\n" + HOST + b"X: y\r\n" * 2000 + b"\r\n", 431),
    (b"GET /varz HTTP/1.1\r\n" + HOST + b"X: " + b"a" * 100_000 + b"\r\n\r\n", 431),
    (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 400),
    (b"GET http://127.0.0.1@evil.example/varz HTTP/1.1\r\n" + HOST + b"\r\n", 400),
    (b"GET /healthz HTTP/1.1\r\n" + HOST + b"Content-Length: 00000000000000000000000000\r\n\r\n", 200),
]


def test_request_smuggling_shapes_on_the_monitoring_port(server):
    bystander = Bystander(server.port)
    for request, status in SMUGGLING:
        answer = raw(server, request)
        assert status_of(answer) == status, (request[:80], answer[:120])
        assert b"Connection: close\r\n" in answer
    # Two requests in one write get one answer: one request per connection, nothing smuggled.
    answer = raw(server, b"GET /healthz HTTP/1.1\r\n" + HOST + b"\r\nGET /varz HTTP/1.1\r\n" + HOST + b"\r\n")
    assert answer.count(b"HTTP/1.1 ") == 1 and b'"status":"ok"' in answer
    assert status_of(raw(server, b"GET /healthz HTTP/1.1\r\n" + HOST + b"\r\n")) == 200
    bystander.works()
    new_client_works(server.port)
