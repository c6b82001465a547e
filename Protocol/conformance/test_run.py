"""Unit tests for the transcript parser and runner in run.py.

Run with `pytest Protocol/conformance/test_run.py`; no docketd or
nats-server is needed (the runner tests use a tiny in-process fake server).
"""

import glob
import re
import os
import socket
import sys
import threading

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import run  # noqa: E402


# --- escape decoding --------------------------------------------------------


@pytest.mark.parametrize("text,expected", [
    ("", b""),
    ("PING", b"PING"),
    (r"a\r\nb", b"a\r\nb"),
    (r"\t", b"\t"),
    (r"back\\slash", b"back\\slash"),
    (r"\x00\xff\x41", b"\x00\xffA"),
    (r"\xAb", b"\xab"),
    (r"\\n", b"\\n"),  # an escaped backslash followed by a plain n
    ("caf\u00e9", "caf\u00e9".encode("utf-8")),
    ("{\"a\":1}", b"{\"a\":1}"),
])
def test_decode_escapes(text, expected):
    assert run.decode_escapes(text) == expected


@pytest.mark.parametrize("text", ["\\", "abc\\", r"\q", r"\x4", r"\xzz",
                                  r"\x"])
def test_decode_escapes_rejects(text):
    with pytest.raises(ValueError):
        run.decode_escapes(text)


# --- directive parsing ------------------------------------------------------


def steps_of(text):
    return run.parse_transcript(text).steps


def test_send_appends_crlf_and_keeps_inner_spaces():
    (step,) = steps_of("a> PUB  foo\\t2 \n")
    assert step.conn == "a"
    assert step.kind == "send"
    assert step.data == b"PUB  foo\t2 \r\n"


def test_send_empty_line():
    assert steps_of("a>\n")[0].data == b"\r\n"
    assert steps_of("a> \n")[0].data == b"\r\n"


def test_send_raw_has_no_crlf():
    (step,) = steps_of("b>> PING\\n")
    assert (step.conn, step.kind, step.data) == ("b", "send_raw", b"PING\n")


def test_send_raw_text_may_start_with_gt():
    (step,) = steps_of("a> >foo")
    assert step.kind == "send" and step.data == b">foo\r\n"


def test_send_raw_requires_bytes():
    with pytest.raises(run.TranscriptError):
        steps_of("a>>\n")


def test_expect_and_empty_expect():
    s1, s2 = steps_of("a< +OK\na<\n")
    assert (s1.kind, s1.data) == ("expect", b"+OK")
    assert (s2.kind, s2.data) == ("expect", b"")


def test_regex_is_not_escape_decoded():
    (step,) = steps_of(r"c~ INFO \{.*\} ?")
    assert step.kind == "match"
    assert step.regex.fullmatch('INFO {"a":1} ')
    assert step.regex.fullmatch('INFO {"a":1}')
    assert not step.regex.fullmatch('INFO {"a":1}x')


def test_actions():
    kinds = [s.kind for s in steps_of("a! body\na! eof\nb! close\n")]
    assert kinds == ["body", "eof", "close"]


def test_comments_blank_lines_and_crlf_files():
    text = "# comment\r\n\r\n  \ta> x\r\n"  # indented lines are not steps
    with pytest.raises(run.TranscriptError):
        steps_of(text)
    steps = steps_of("# c\r\n\r\na> PING\r\na< PONG\r\n")
    assert [s.data for s in steps] == [b"PING\r\n", b"PONG"]
    assert [s.lineno for s in steps] == [3, 4]


def test_file_directives():
    t = run.parse_transcript("! docket-only\n! flags: --max-payload 8 "
                             "--ping-interval 100ms\na> PING\n")
    assert t.docket_only
    assert t.flags == ["--max-payload", "8", "--ping-interval", "100ms"]
    plain = run.parse_transcript("a> PING\n")
    assert not plain.docket_only and plain.flags == []


def test_store_directive():
    assert run.parse_transcript("! store: lmdb\na> PING\n").store == "lmdb"
    assert run.parse_transcript("a> PING\n").store is None


def test_postgres_database_urls_replace_only_the_database():
    postgres = run.Postgres.__new__(run.Postgres)
    postgres.url = "postgres://docket@127.0.0.1:5433/postgres"
    assert postgres.url_for("conf_1") == "postgres://docket@127.0.0.1:5433/conf_1"


def test_config_lines_keep_their_order_and_inner_blanks():
    t = run.parse_transcript("! config: authorization {\n!   config:   users = [ ]\n! config: }\na> PING\n")
    assert t.config == ["authorization {", "  users = [ ]", "}"]
    assert run.parse_transcript("a> PING\n").config == []


@pytest.mark.parametrize("text", [
    "a> PING\n! docket-only\n",  # file directive after a step
    "! flags:\na> PING\n",  # flags without flags
    "! flags: -x\n! flags: -y\na> PING\n",  # duplicate flags
    "! whatever\na> PING\n",  # unknown file directive
    "! store: redis\na> PING\n",  # a store docketd does not have
    "! store: lmdb\n! store: lmdb\na> PING\n",  # duplicate store
    "a! sleep\n",  # unknown action
    "A> PING\n",  # connections are lowercase letters
    "ab> PING\n",  # one letter only
    "a>PING\n",  # text must follow a single space
    "a= PING\n",  # unknown operator
    "a~ (unclosed\n",  # bad regex
    "a< \\q\n",  # bad escape
    "# only a comment\n",  # no steps at all
])
def test_parse_errors(text):
    with pytest.raises(run.TranscriptError):
        run.parse_transcript(text)


def test_parse_error_reports_line_number():
    with pytest.raises(run.TranscriptError) as info:
        run.parse_transcript("# one\na> PING\na? x\n")
    assert info.value.lineno == 3


def test_every_shipped_transcript_parses():
    files = glob.glob(os.path.join(run.HERE, "*", "*.t"))
    assert files
    for path in files:
        t = run.load_transcript(path)
        assert t.steps, path
        # Only the areas README.md documents are used.
        area = os.path.basename(os.path.dirname(path))
        assert area in documented_areas(), path


def documented_areas():
    """The areas listed in README.md's "with `<area>` one of ..." sentence."""
    with open(os.path.join(run.HERE, "README.md"), encoding="utf-8") as readme:
        text = readme.read()
    sentence = text[text.index("with `<area>` one of"):].split(".", 1)[0]
    return set(re.findall(r"`([a-z]+)`", sentence)) - {"area"}


# --- running against a tiny fake server ------------------------------------


class FakeServer:
    """Sends INFO; answers PING with PONG, HELP with a counted body and
    BYE with a bare-LF line; closes on QUIT."""

    def __init__(self):
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(4)
        self.address = self.listener.getsockname()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._client, args=(conn,),
                             daemon=True).start()

    def _client(self, conn):
        conn.sendall(b'INFO {"x":1} \r\n')
        buf = b""
        while True:
            data = conn.recv(1024)
            if not data:
                break
            buf += data
            while b"\r\n" in buf:
                line, buf = buf.split(b"\r\n", 1)
                if line == b"PING":
                    conn.sendall(b"PONG\r\n")
                elif line == b"HELP":
                    conn.sendall(b"HELP 5\r\nab\r\nc\r\n")
                elif line == b"BYE":
                    conn.sendall(b"BYE\n")
                elif line == b"QUIT":
                    conn.sendall(b"-ERR 'bye'\r\n")
                    conn.close()
                    return
        conn.close()

    def close(self):
        self.listener.close()


@pytest.fixture
def fake():
    server = FakeServer()
    yield server
    server.close()


def run_text(text, address):
    run.run_steps(run.parse_transcript(text), address)


def test_runner_passes(fake):
    run_text("a~ INFO \\{.*\\} ?\na> PING\na< PONG\na> HELP\na~ HELP \\d+\n"
             "a! body\nb< INFO {\"x\":1}\\x20\na> QUIT\na< -ERR 'bye'\n"
             "a! eof\nb! close\n", fake.address)


@pytest.mark.parametrize("text,lineno", [
    ("a~ INFO \\{.*\\} ?\na> PING\na< PANG\n", 3),  # wrong line
    ("a~ INFO\n", 1),  # regex must match the whole line
    ("a~ INFO .*\na> BYE\na< BYE\n", 3),  # bare LF is not a line end
    ("a~ INFO .*\na! eof\n", 2),  # server does not close
    ("a~ INFO .*\na! body\n", 2),  # previous line has no byte count
    ("a~ INFO .*\na> QUIT\na< -ERR 'bye'\na< PONG\n", 4),  # closed early
    ("a! close\na> PING\n", 2),  # connection closed by the transcript
])
def test_runner_failures(fake, text, lineno, monkeypatch):
    monkeypatch.setattr(run, "EXPECT_TIMEOUT", 0.3)
    with pytest.raises(run.StepFailure) as info:
        run_text(text, fake.address)
    assert info.value.lineno == lineno
