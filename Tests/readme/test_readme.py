"""README.md's examples, run against a live docketd, so that a snippet can never again differ
from what the software does.

- Blocks after `<!-- session -->` (or `<!-- session continues -->`, on the same connection as the
  one before) are `nc` sessions typed as shown: lines the client types are
  sent with a bare LF (plain `nc`), and every line the server prints must come back. In server
  lines `…` stands for anything, and a note after two or more spaces in parentheses is prose.
- Blocks after `<!-- cli session -->` are `docket` sessions: the `$ ` commands run in order in
  one directory against one server and print what is shown (see
  test_cli_sessions_print_what_they_show); the `openssl` recipe of "Securing docketd" runs as
  written.
- ```swift blocks run in the Swift suite (Tests/DocketClientTests/ReadmeTests.swift holds each
  one as printed, which this file checks).
- The `# docket.conf` of "Users and permissions" starts, and its refusals are answered as shown;
  the table of "docketd options" names every option of `docketd --help`, with its variable and
  default.
- ```python and ```js blocks run as programs (`127.0.0.1:4222` pointed at the test's server);
  a block that ends in a worker's endless run is stopped with SIGTERM and must exit cleanly.
"""

import base64
import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
DOCKETD = os.environ.get("DOCKETD")
pytestmark = pytest.mark.skipif(not DOCKETD, reason="set DOCKETD to a docketd binary")

SERVER_LINE = re.compile(r"^(INFO |\+OK|-ERR |MSG |HMSG |JOB |JSON |NOJOB|OUTCOME |PENDING |PONG|PING)")
SIZED_SERVER = re.compile(r"^(MSG|JOB|JSON|OUTCOME)\b.* (\d+)$")
# Fields before a client command's optional byte count: `ack 1 5` has a body, `ack 1` not.
CLIENT_FIELDS_BEFORE_SIZE = {"pub": 2, "enq": 2, "fail": 2, "ack": 2, "progress": 3, "schedule": 3}


def carries_payload(line):
    words = line.split()
    if not words or words[0].lower() not in CLIENT_FIELDS_BEFORE_SIZE:
        return False
    return len(words) > CLIENT_FIELDS_BEFORE_SIZE[words[0].lower()] and words[-1].isdigit() and "=" not in words[-1]


def blocks(language):
    """(line number, text) of every fenced block with this info string ('' for none)."""
    found = []
    for match in re.finditer(r"^```([a-z]*)\n(.*?)^```$", README, re.MULTILINE | re.DOTALL):
        if match.group(1) == language:
            found.append((README[: match.start()].count("\n") + 1, match.group(2)))
    return found


def sessions():
    """(line number, text, continues) of every marked session; `continues` reuses the previous
    session's connection (`<!-- session continues -->`)."""
    found = []
    for match in re.finditer(r"^<!-- session( continues)? -->\n```\n(.*?)^```$", README, re.MULTILINE | re.DOTALL):
        found.append((README[: match.start()].count("\n") + 2, match.group(2), match.group(1) is not None))
    return found


@pytest.fixture
def server(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKET_")}
    proc = subprocess.Popen([DOCKETD, "--port", "0", "--data-dir", str(tmp_path / "data")],
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env)
    port = None
    deadline = time.monotonic() + 10
    for line in proc.stderr:
        if m := re.search(r"client connections on 127\.0\.0\.1:(\d+)", line):
            port = int(m.group(1))
        if "Server is ready" in line or time.monotonic() > deadline:
            break
    yield port
    proc.terminate()
    proc.wait(10)


def steps(text):
    """The session as ('send', line) and ('expect', regex) steps."""
    result = []
    payload_next = None
    for raw in text.splitlines():
        if raw.startswith("$ "):
            continue  # the shell command that opened the session
        if payload_next == "server":
            result.append(("expect", ".*".join(re.escape(part) for part in raw.split("…"))))
            payload_next = None
            continue
        if payload_next == "client":
            result.append(("send", raw))
            payload_next = None
            continue
        if SERVER_LINE.match(raw):
            line = re.sub(r"\s{2,}\(.*\)$", "", raw).rstrip()
            pattern = ".*".join(re.escape(part) for part in line.split("…"))
            result.append(("expect", pattern))
            if SIZED_SERVER.match(line):
                payload_next = "server"
        else:
            result.append(("send", raw))
            if carries_payload(raw):
                payload_next = "client"
    return result


def test_every_session_runs_as_typed(server):
    found = sessions()
    assert len(found) >= 3, "the README's nc sessions are marked <!-- session -->"
    open_connections = []
    for line_number, text, continues in found:
        if not continues:
            sock = socket.create_connection(("127.0.0.1", server), timeout=10)
            open_connections.append(sock)
            reader = sock.makefile("rb")
        for kind, value in steps(text):
            if kind == "send":
                sock.sendall(value.encode() + b"\n")
            else:
                got = reader.readline().decode().rstrip("\r\n")
                assert re.fullmatch(value, got), f"README.md line {line_number}: expected /{value}/, got {got!r}"
    for sock in open_connections:
        sock.close()


def run_program(argv, cwd, env, stop_after=None):
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        if stop_after is None:
            out, err = proc.communicate(timeout=30)
        else:
            try:
                out, err = proc.communicate(timeout=stop_after)
                return proc.returncode, out, err
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGTERM)
                out, err = proc.communicate(timeout=15)
        return proc.returncode, out, err
    finally:
        if proc.poll() is None:
            proc.kill()


def endless(code):
    """Whether the block ends in a worker that runs until it is stopped."""
    return ".run()" in code or ".start()" in code


@pytest.mark.parametrize("line_number,code", blocks("python"), ids=lambda v: str(v) if isinstance(v, int) else "")
def test_python_blocks_run(server, tmp_path, line_number, code):
    script = tmp_path / "snippet.py"
    script.write_text(code.replace("127.0.0.1:4222", f"127.0.0.1:{server}"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKET_")}
    env["PYTHONPATH"] = str(ROOT / "Clients/python/src")
    status, out, err = run_program(["python3", str(script)], tmp_path, env, stop_after=4 if endless(code) else None)
    assert status == 0, f"README.md line {line_number}: exit {status}\n{out}\n{err}"


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
@pytest.mark.parametrize("line_number,code", blocks("js"), ids=lambda v: str(v) if isinstance(v, int) else "")
def test_js_blocks_run(server, tmp_path, line_number, code):
    # `import … from 'docketd-client'` as after `npm install ./Clients/node`.
    modules = tmp_path / "node_modules"
    modules.mkdir()
    (modules / "docketd-client").symlink_to(ROOT / "Clients/node")
    script = tmp_path / "snippet.mjs"
    script.write_text(code.replace("port: 4222", f"port: {server}").replace("127.0.0.1:4222", f"127.0.0.1:{server}"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKET_")}
    status, out, err = run_program(["node", str(script)], tmp_path, env, stop_after=4 if endless(code) else None)
    assert status == 0, f"README.md line {line_number}: exit {status}\n{out}\n{err}"


def test_the_certificate_recipe_makes_a_working_tls_setup(tmp_path):
    """The `openssl` lines of "Securing docketd" run as written, and docketd and the docket tool
    work with what they make, as the lines after them say (plain TLS, then client certificates)."""
    docket = Path(DOCKETD).parent / "docket"
    if not docket.exists() or shutil.which("openssl") is None:
        pytest.skip("needs the docket tool next to docketd, and openssl")
    recipe = [line.split("  #")[0].strip() for _, text in blocks("sh") for line in text.splitlines()
              if line.startswith(("openssl ", "echo \"subjectAltName"))]
    assert any("client.csr" in line for line in recipe), "the README shows how to make a client certificate"
    for line in recipe:
        subprocess.run(["sh", "-c", line], cwd=tmp_path, check=True, capture_output=True, timeout=60)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKET_")}
    for flags, client in ((["--tls"], []), (["--tlsverify", "--tlscacert", "ca.pem"], ["--tls-cert", "client.pem", "--tls-key", "client.key"])):
        proc = subprocess.Popen([DOCKETD, "--port", "0", "--data-dir", str(tmp_path / "data"), *flags,
                                 "--tlscert", "server.pem", "--tlskey", "server.key"],
                                cwd=tmp_path, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env)
        port = None
        for line in proc.stderr:
            if m := re.search(r"client connections on 127\.0\.0\.1:(\d+)", line):
                port = int(m.group(1))
            if "Server is ready" in line:
                break
        try:
            result = subprocess.run([str(docket), "stats", "--server", f"tls://127.0.0.1:{port}", "--tls-ca", "ca.pem", *client],
                                    cwd=tmp_path, capture_output=True, text=True, env=env, timeout=30)
            assert result.returncode == 0, result.stdout + result.stderr
        finally:
            proc.terminate()
            proc.wait(10)


def cli_sessions():
    """(line number, text) of every ```sh block marked `<!-- cli session -->`."""
    return [(README[: m.start()].count("\n") + 2, m.group(1))
            for m in re.finditer(r"^<!-- cli session -->\n```sh\n(.*?)^```$", README, re.MULTILINE | re.DOTALL)]


def cli_steps(text):
    """The `$ ` commands of a CLI session, each with the lines shown after it."""
    result = []
    for line in text.splitlines():
        if line.startswith("$ "):
            result.append((line[2:], []))
        else:
            result[-1][1].append(line)
    return result


def worker_block():
    """make-thumbnail.sh as the README prints it, and the `docket work` line that runs it."""
    text = next(text for _, text in blocks("sh") if "$ cat make-thumbnail.sh" in text)
    steps = dict(cli_steps(text))
    work = next(command for command in steps if command.startswith("docket work thumbnails"))
    return "\n".join(steps["cat make-thumbnail.sh"]) + "\n", work


def test_cli_sessions_print_what_they_show(server, tmp_path):
    """The `docket` sessions marked `<!-- cli session -->` run in order on one server, in one
    directory, as typed: every command exits 0 and prints the lines shown after it on standard
    output (`…` stands for anything; a command shown without output is not compared); a command
    ending in `&` goes on in the background until the test ends. The README's thumbnail worker
    runs meanwhile, its script as printed, with a stand-in for ImageMagick's `convert`;
    `request.json` holds a request."""
    docket = Path(DOCKETD).parent / "docket"
    if not docket.exists() or shutil.which("jq") is None:
        pytest.skip("needs the docket tool next to docketd, and jq")
    found = cli_sessions()
    assert len(found) >= 2, "the README's docket sessions are marked <!-- cli session -->"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "docket").symlink_to(docket)
    (bin_dir / "convert").write_text('#!/bin/sh\nfor last; do :; done\ntouch "$last"\n')
    script, work = worker_block()
    (tmp_path / "make-thumbnail.sh").write_text(script)
    (tmp_path / "request.json").write_text('{"image": "dog.png"}\n')
    for name in ("convert", "make-thumbnail.sh"):
        (bin_dir / name if name == "convert" else tmp_path / name).chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKET_")}
    env["DOCKET_SERVER"] = f"127.0.0.1:{server}"
    env["PATH"] = f"{bin_dir}:{env['PATH']}"
    background = [subprocess.Popen(["bash", "-c", work], cwd=tmp_path, env=env, start_new_session=True,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        for line_number, text in found:
            for command, shown in cli_steps(text):
                if re.search(r"&\s*(#.*)?$", command):
                    background.append(subprocess.Popen(["bash", "-c", re.sub(r"&\s*(#.*)?$", "", command)], cwd=tmp_path,
                                                       env=env, start_new_session=True,
                                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
                    continue
                result = subprocess.run(["bash", "-c", command], cwd=tmp_path, env=env, capture_output=True,
                                        text=True, timeout=30)
                where = f"README.md line {line_number}: {command}"
                assert result.returncode == 0, f"{where}: exit {result.returncode}\n{result.stdout}{result.stderr}"
                if not shown:
                    continue
                printed = result.stdout.splitlines()
                assert len(printed) == len(shown), f"{where}: printed\n{result.stdout}"
                for expected, got in zip(shown, printed):
                    pattern = ".*".join(re.escape(part) for part in expected.split("…"))
                    assert re.fullmatch(pattern, got), f"{where}: expected {expected!r}, got {got!r}"
    finally:
        for proc in background:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(15)


SWIFT_TESTS = ROOT / "Tests/DocketClientTests/ReadmeTests.swift"


def swift_as_tested(code):
    """A README Swift block as ReadmeTests.swift holds it: the address and certificate files
    of the test's server, no import lines; each line without its indentation."""
    code = code.replace('"tls://127.0.0.1:4222"', "tlsAddress").replace('"127.0.0.1:4222"', "address")
    code = re.sub(r'"((?:ca|client)\.(?:pem|key))"', r'pki.path("\1")', code)
    code = code.replace("Worker(queues:", "Worker(address: address, queues:")
    return [line.strip() for line in code.splitlines() if line.strip() and not line.startswith("import ")]


def test_every_swift_block_runs_in_the_swift_suite():
    """The Swift blocks cannot run from here; ReadmeTests.swift runs each one, as printed."""
    tested = SWIFT_TESTS.read_text()
    held = [[line.strip() for line in part.split("// README end")[0].splitlines() if line.strip()]
            for part in tested.split("// README\n")[1:]]
    found = blocks("swift")
    assert found, "the README has Swift examples"
    for line_number, code in found:
        assert swift_as_tested(code) in held, f"README.md line {line_number}: this block is not in {SWIFT_TESTS.name} as printed"


def docketd_help_options():
    """(flags, variable, default) of every option `docketd --help` lists: its long (and short)
    spellings, the environment variable its help names, and the default it shows (None for none)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKET_")}
    text = subprocess.run([DOCKETD, "--help"], capture_output=True, text=True, env=env, timeout=30, check=True).stdout
    entries = []
    for line in text.split("OPTIONS:", 1)[1].splitlines():
        if re.match(r"^  -", line):
            entries.append(line)
        elif entries and line.startswith("   "):
            entries[-1] += " " + line.strip()
    options = []
    for entry in entries:
        spelling = re.match(r"^\s*((?:-\w, )?--[\w-]+)", entry).group(1)
        flags = re.findall(r"--[\w-]+", spelling)
        if flags[0] in ("--help", "--version"):
            continue
        variable = re.search(r"\b(DOCKET_[A-Z_]+)\b", entry)
        default = re.search(r"\(default: ([^)]*)\)", entry)
        options.append((flags[0], variable.group(1) if variable else None, default.group(1) if default else None))
    return options


def options_table():
    """The rows of README's "docketd options" table: flag cell, variable cell, default cell."""
    section = README.split("## docketd options", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("| `-") and len(cells) >= 4:
            rows.append(cells)
    return rows


def test_the_options_table_lists_every_docketd_option_with_its_variable_and_default():
    """Every option `docketd --help` shows has a row in README's table, naming the same
    environment variable and the same default, so that neither drifts from the code."""
    rows = options_table()
    assert len(rows) > 50, "README's docketd options table was not found"
    problems = []
    for flag, variable, default in docketd_help_options():
        row = next((cells for cells in rows if re.search(rf"`(?:-\w, )?{re.escape(flag)}[`,]", cells[0])
                    or re.search(rf", {re.escape(flag)}`", cells[0])), None)
        if row is None:
            problems.append(f"{flag}: no row")
            continue
        if variable and variable not in re.findall(r"DOCKET_[A-Z_]+", row[1]):
            problems.append(f"{flag}: README names {row[1]!r}, --help {variable}")
        if default is not None:
            flags_in_row = re.findall(r"--[\w-]+", row[0])
            defaults_in_row = re.findall(r"`([^`]*)`", row[2])
            position = flags_in_row.index(flag) if len(flags_in_row) == len(defaults_in_row) else 0
            shown = defaults_in_row[position] if defaults_in_row else row[2]
            if shown != default:
                problems.append(f"{flag}: README's default {shown!r}, --help's {default!r}")
    assert not problems, "README.md's docketd options table differs from docketd --help:\n" + "\n".join(problems)


def test_the_permissions_example_refuses_as_shown(tmp_path):
    """The `# docket.conf` of "Users and permissions" starts as printed, and each line of "What
    each refusal looks like" gets the answer shown, as the user it names (webapp when it names
    none), on a connection that stays open."""
    config = next(text for _, text in blocks("") if text.startswith("# docket.conf\n"))
    refusals = next(text for _, text in blocks("") if "(as mailer)" in text)
    ports = []
    for _ in range(2):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            ports.append(probe.getsockname()[1])
    config = config.replace("listen: 127.0.0.1:4222", f"listen: 127.0.0.1:{ports[0]}").replace("http_port: 8222", f"http_port: {ports[1]}")
    (tmp_path / "docket.conf").write_text(config)
    passwords = {"webapp": "w-secret", "mailer": "m-secret", "ops": "o-secret"}
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKET_")}
    env.update({f"{user.upper()}_PASS": password for user, password in passwords.items()})
    proc = subprocess.Popen([DOCKETD, "-c", "docket.conf", "--data-dir", str(tmp_path / "data")], cwd=tmp_path,
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env)
    try:
        for line in proc.stderr:
            if "Server is ready" in line or "Cannot start" in line:
                break
        assert proc.poll() is None, "the README's docket.conf did not start"

        def login(user):
            sock = socket.create_connection(("127.0.0.1", ports[0]), timeout=10)
            reader = sock.makefile("rb")
            reader.readline()
            sock.sendall(f'CONNECT {{"verbose":false,"user":"{user}","pass":"{passwords[user]}"}}\r\nPING\r\n'.encode())
            assert reader.readline() == b"PONG\r\n", f"{user} could not log in"
            return sock, reader

        ops, ops_reader = login("ops")
        for _ in range(7):  # job 7, which the API line deletes, is on emails
            ops.sendall(b"ENQ emails 1\r\nx\r\n")
            assert ops_reader.readline().startswith(b"+OK ")
        for line in refusals.splitlines():
            request, expected = re.split(r"\s{2,}(?=\S)(?!\(as )", line.strip(), maxsplit=1)
            user = re.search(r"\(as (\w+)\)", request)
            user = user.group(1) if user else "webapp"
            request = re.sub(r"\s*\(as \w+\)", "", request).strip()
            if request.startswith("GET "):
                monitoring = http.client.HTTPConnection("127.0.0.1", ports[1], timeout=10)
                credentials = base64.b64encode(f"{user}:{passwords[user]}".encode()).decode()
                monitoring.request("GET", request[4:], headers={"Authorization": f"Basic {credentials}"})
                answer = monitoring.getresponse()
                status = f"HTTP/1.1 {answer.status} {answer.reason}"
                monitoring.close()
                assert status == expected, f"{line}: got {status}"
                continue
            sock, reader = login(user)
            if request.startswith("$DOCKET.API."):
                sock.sendall(f"SUB _INBOX.readme 1\r\nPUB {request} _INBOX.readme 0\r\n\r\n".encode())
                assert reader.readline().startswith(b"MSG _INBOX.readme 1 "), line
            else:
                words = request.split()
                payload = f"{'x' * int(words[-1])}\r\n" if words[0] in ("PUB", "ENQ") else ""
                sock.sendall(f"{request}\r\n{payload}".encode())
            assert reader.readline().decode().rstrip("\r\n") == expected, line
            sock.sendall(b"PING\r\n")
            assert reader.readline() == b"PONG\r\n", f"{line}: the connection was closed"
            sock.close()
        ops.close()
    finally:
        proc.terminate()
        proc.wait(10)
