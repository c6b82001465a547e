#!/usr/bin/env python3
"""Adds a Docket route over a raw protocol connection and lists the routes.

    python3 route.py --server nats://127.0.0.1:4222 orders.created invoices attempts=4 backoff=fixed:500ms

ROUTE is a Docket extension verb, so it is sent as a plain text line on a TCP socket: no client
library is involved. The server answers `+OK <route-id>` once the route is on disk; from then on
every message published on a matching subject also becomes a job on the queue.
"""
import argparse
import os
import socket
import sys
from urllib.parse import urlparse


def emit(line):
    """Writes one whole line at once, so lines of processes sharing a terminal do not mix."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def read_reply(stream):
    """One server reply: a line, plus the JSON document after a `JSON <n>` line."""
    while True:
        line = stream.readline()
        if not line:
            raise ConnectionError("the server closed the connection")
        line = line.rstrip(b"\r\n").decode()
        if line in ("PING", ""):
            continue
        if line.startswith("JSON "):
            size = int(line.split()[1])
            body = stream.read(size + 2)[:size].decode()
            return line, body
        return line, None


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default=os.environ.get("DOCKET_URL", "nats://127.0.0.1:4222"))
    parser.add_argument("rule", nargs="+", help="<subject pattern> <queue> [option=value ...]")
    args = parser.parse_args()

    url = urlparse(args.server)
    with socket.create_connection((url.hostname or "127.0.0.1", url.port or 4222), timeout=10) as sock:
        stream = sock.makefile("rb")
        info, _ = read_reply(stream)
        if not info.startswith("INFO "):
            sys.exit(f"route.py: expected INFO, got {info!r}")
        # Job verbs are always answered, whatever `verbose` says; turning verbose off keeps the
        # CONNECT itself quiet.
        sock.sendall(b'CONNECT {"verbose":false,"name":"orders-route"}\r\n')

        command = "ROUTE " + " ".join(args.rule)
        sock.sendall(command.encode() + b"\r\n")
        reply, _ = read_reply(stream)
        emit(f"route     | > {command}")
        emit(f"route     | < {reply}")
        if not reply.startswith("+OK"):
            sys.exit(1)

        sock.sendall(b"ROUTES\r\n")
        reply, body = read_reply(stream)
        emit(f"route     | > ROUTES")
        emit(f"route     | < {body if body is not None else reply}")


if __name__ == "__main__":
    main()
