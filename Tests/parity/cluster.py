"""A private PostgreSQL cluster for the fault tests, which restart, stop and kill it (the one
scripts/with-postgres.sh starts is shared by the tests running beside them): initdb into a
temporary directory, pg_ctl on a free loopback port, as the `postgres` user under root."""
from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile


def server_binaries() -> str | None:
    found = os.environ.get("DOCKET_PG_BIN")
    if not found:
        candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
        found = candidates[-1] if candidates else None
    if found and os.access(os.path.join(found, "initdb"), os.X_OK):
        return found
    return None


class Cluster:
    def __init__(self) -> None:
        self.bin = server_binaries()
        if self.bin is None:
            raise RuntimeError("no PostgreSQL server programs")
        self.run_as = ["runuser", "-u", "postgres", "--"] if os.getuid() == 0 else []
        self.dir = tempfile.mkdtemp(prefix="docket-pgfault-")
        if self.run_as:
            shutil.chown(self.dir, "postgres")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.data = os.path.join(self.dir, "data")
        self._pg("initdb", "-D", self.data, "-U", "docket", "--auth=trust", "-E", "UTF8", "--no-sync", "--no-instructions")
        self.start()

    def _pg(self, program: str, *args: str) -> str:
        done = subprocess.run(self.run_as + [os.path.join(self.bin, program), *args], capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            raise RuntimeError("%s: %s" % (program, done.stderr or done.stdout))
        return done.stdout

    def start(self) -> None:
        self._pg("pg_ctl", "-D", self.data, "-l", os.path.join(self.dir, "log"), "-w", "-t", "30", "-o",
                 "-k %s -p %d -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off" % (self.dir, self.port), "start")

    def restart(self, mode: str) -> None:
        self._pg("pg_ctl", "-D", self.data, "-l", os.path.join(self.dir, "log"), "-m", mode, "-w", "-t", "30", "-o",
                 "-k %s -p %d -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off" % (self.dir, self.port), "restart")

    def stop(self, mode: str = "immediate") -> None:
        subprocess.run(self.run_as + [os.path.join(self.bin, "pg_ctl"), "-D", self.data, "-m", mode, "-w", "-t", "20", "stop"],
                       capture_output=True, timeout=60)

    def url(self, database: str = "postgres") -> str:
        return "postgres://docket@127.0.0.1:%d/%s" % (self.port, database)

    def psql(self, sql: str, database: str = "postgres") -> str:
        done = subprocess.run([os.path.join(self.bin, "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                               self.url(database), "-c", sql], capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            raise RuntimeError(done.stderr)
        return done.stdout

    def backends(self, database: str, application: str | None = None) -> list[int]:
        """The server processes of docketd's sessions in `database` (by application_name)."""
        where = "datname = '%s' AND pid <> pg_backend_pid()" % database
        if application is not None:
            where += " AND application_name = '%s'" % application
        return [int(x) for x in self.psql("SELECT pid FROM pg_stat_activity WHERE " + where).split()]

    def signal(self, pids: list[int], sig: int) -> None:
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass

    def postmaster(self) -> int:
        with open(os.path.join(self.data, "postmaster.pid")) as f:
            return int(f.readline())

    def freeze(self) -> list[int]:
        """Stops the whole server with SIGSTOP: the postmaster first, so that it forks nothing
        more, then every process it forked, found by parent pid. (A list of backends read from
        pg_stat_activity before the stop missed a connection docketd opened meanwhile, such as its
        enqueue connection, which then went on serving.) Returns the pids, for SIGCONT."""
        master = self.postmaster()
        self.signal([master], signal.SIGSTOP)
        stopped = [master]
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open("/proc/%s/stat" % entry) as f:
                    parent = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            if parent == master:
                self.signal([int(entry)], signal.SIGSTOP)
                stopped.append(int(entry))
        return stopped

    def remove(self) -> None:
        try:
            self.signal([self.postmaster()], signal.SIGCONT)
        except (OSError, ValueError):
            pass
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
