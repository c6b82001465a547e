"""TLS on routes between nodes (`cluster { tls { cert_file, key_file, ca_file } }`), as
nats-server's routes have it: both nodes show a certificate and verify the other's against the
CA, so a route needs a certificate from the cluster's CA, and a node that makes a route also
checks that the certificate names the address it dialled. Messages crossing nodes over TLS run
against nats-server too (NATS_SERVER=1); the wire details are docketd's own route protocol.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import time
from pathlib import Path

import nats
import pytest

from conftest import _free_port, read_line


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def certs(tmp_path_factory) -> dict:
    d = tmp_path_factory.mktemp("route-certs")
    for ca, subject in (("ca", "/CN=Cluster CA"), ("other-ca", "/CN=Another CA")):
        _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{ca}.key", "-out", f"{ca}.pem",
                 "-days", "2", "-subj", subject, cwd=d)
    (d / "node.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    (d / "elsewhere.ext").write_text("subjectAltName=IP:127.0.0.9\n")
    for name, ca, ext in (("node", "ca", "node.ext"), ("stranger", "other-ca", "node.ext"), ("elsewhere", "ca", "elsewhere.ext")):
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr",
                 "-subj", f"/CN={name}", cwd=d)
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key", "-CAcreateserial",
                 "-out", f"{name}.pem", "-days", "2", "-extfile", ext, cwd=d)
    return {"dir": d}


@pytest.fixture
def tls_node(start_process, certs):
    """Factory: a node routed to `seed` (itself when the same), with `cert` as its certificate."""
    def start(route_port: int, seed: int, cert: str = "node"):
        d = certs["dir"]
        return start_process(config=(
            f"cluster {{\n  name: tls_test\n  listen: 127.0.0.1:{route_port}\n  routes: [nats://127.0.0.1:{seed}]\n"
            f"  tls {{\n    cert_file: \"{d / (cert + '.pem')}\"\n    key_file: \"{d / (cert + '.key')}\"\n"
            f"    ca_file: \"{d / 'ca.pem'}\"\n    timeout: 2\n  }}\n}}\n"))

    return start


def crosses(sender_url: str, receiver_url: str, within: float) -> bool:
    """Whether a message published on one node reaches a subscriber on the other in time."""
    async def main():
        receiver = await nats.connect(receiver_url)
        sender = await nats.connect(sender_url)
        sub = await receiver.subscribe("tls.route")
        await receiver.flush()
        deadline = time.monotonic() + within
        try:
            while time.monotonic() < deadline:
                await sender.publish("tls.route", b"over tls")
                await sender.flush()
                try:
                    msg = await sub.next_msg(timeout=0.2)
                    return msg.data == b"over tls"
                except nats.errors.TimeoutError:
                    continue
            return False
        finally:
            await sender.close()
            await receiver.close()

    return asyncio.run(main())


def test_messages_cross_a_route_over_tls(tls_node):
    seed = _free_port()
    first = tls_node(seed, seed)
    second = tls_node(_free_port(), seed)
    assert crosses(second.url, first.url, within=10)
    assert crosses(first.url, second.url, within=10)


def test_a_node_whose_certificate_another_ca_signed_is_not_routed(tls_node):
    seed = _free_port()
    first = tls_node(seed, seed)
    second = tls_node(_free_port(), seed, cert="stranger")
    assert not crosses(second.url, first.url, within=2)


@pytest.mark.docketd_only("nats-server's routes do not check the dialled address against the certificate")
def test_a_node_whose_certificate_names_another_address_is_not_routed_to(tls_node):
    seed = _free_port()
    first = tls_node(seed, seed, cert="elsewhere")
    second = tls_node(_free_port(), seed)
    assert not crosses(second.url, first.url, within=2)
    assert "TLS handshake error" in second.describe(), second.describe()


@pytest.mark.docketd_only("nats-server sends its route INFO in clear before the upgrade")
def test_a_route_peer_in_plain_text_is_told_tls_is_required_and_hears_nothing_else(tls_node):
    seed = _free_port()
    tls_node(seed, seed)
    peer = socket.create_connection(("127.0.0.1", seed), timeout=5)
    peer.sendall(b'INFO {"server_id":"NPLAINPEER","cluster":"tls_test"}\r\nPING\r\n')
    assert read_line(peer) == b"-ERR 'Secure Connection - TLS Required'\r\n"
    assert peer.recv(100) == b""
    peer.close()


@pytest.mark.docketd_only("nats-server finds itself only from the INFO after the handshake")
def test_a_node_in_its_own_routes_knows_itself_at_once_whatever_its_certificate_names(tls_node):
    """Its certificate names another address than the one in its routes list: the handshake
    with itself fails, so the INFO that would tell it is never read. Before, it tried again
    for as long as it ran, with a handshake warning every 10 s; the sockets tell it at the
    first attempt."""
    seed = _free_port()
    node = tls_node(seed, seed, cert="elsewhere")
    deadline = time.monotonic() + 10
    while "reaches this node itself: not tried again" not in node.log.text():
        assert time.monotonic() < deadline, node.describe()
        time.sleep(0.05)
    assert "TLS handshake error" not in node.log.text(), node.describe()
