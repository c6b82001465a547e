"""README.md's examples, run against a live docketd, so that a snippet can never again differ
from what the software does.

- Blocks after `<!-- session -->` (or `<!-- session continues -->`, on the same connection as the
  one before) are `nc` sessions typed as shown: lines the client types are
  sent with a bare LF (plain `nc`), and every line the server prints must come back. In server
  lines `…` stands for anything, and a note after two or more spaces in parentheses is prose.
- The `openssl` recipe of "Securing docketd" and the producer example of the `docket` tool run
  as written.
- ```python and ```js blocks run as programs (`127.0.0.1:4222` pointed at the test's server);
  a block that ends in a worker's endless run is stopped with SIGTERM and must exit cleanly.
"""

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


def test_the_producer_example_prints_what_it_shows(server, tmp_path):
    docket = Path(DOCKETD).parent / "docket"
    if not docket.exists():
        pytest.skip("needs the docket tool next to docketd")
    block = next(text for _, text in blocks("sh") if "$ docket enq thumbnails '{" in text)
    lines = block.splitlines()
    command = next(line for line in lines if line.startswith("$ docket enq thumbnails '{"))[2:]
    shown = lines[lines.index("$ " + command) + 1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKET_")}
    env["DOCKET_SERVER"] = f"127.0.0.1:{server}"
    result = subprocess.run(["sh", "-c", command.replace("docket ", f"{docket} ", 1)], cwd=tmp_path,
                            capture_output=True, text=True, env=env, timeout=30)
    assert result.returncode == 0 and result.stdout.strip() == shown, result.stdout + result.stderr
    job = subprocess.run([str(docket), "job", shown], capture_output=True, text=True, env=env, timeout=30)
    assert job.returncode == 0 and '"attempts"' in job.stdout
