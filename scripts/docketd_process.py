"""Starts a docketd for the benchmark scripts (bench-dashboard.py, bench-flows.py,
bench-memory.py): on free loopback ports, returning once it says it is ready."""
import re
import subprocess
import threading


def start_docketd(docketd, data, *flags):
    """docketd on `data` with `flags`, ports chosen by the system: (process, client port, monitoring
    port or None). Its log is read on a thread from then on, so that a full pipe never stops it."""
    proc = subprocess.Popen([docketd, "--port", "0", "--data-dir", data, *flags], stderr=subprocess.PIPE, text=True)
    port = http = None
    for line in proc.stderr:
        if m := re.search(r"client connections on 127\.0\.0\.1:(\d+)", line):
            port = int(m.group(1))
        if m := re.search(r"monitoring connections on http://127\.0\.0\.1:(\d+)", line):
            http = int(m.group(1))
        if "Server is ready" in line:
            break
    threading.Thread(target=proc.stderr.read, daemon=True).start()
    if port is None:
        proc.kill()
        raise SystemExit(f"{docketd} did not start")
    return proc, port, http
