"""Protocol/monitoring.openapi.yaml against the monitoring port: every path the sources route is
described there and nothing else is, and (when schemathesis is installed) a bounded run of it
against a real docketd finds no 5xx, no hang, and no answer outside the description."""

import http.client
import os
import pathlib
import re
import shutil
import subprocess

import pytest
yaml = pytest.importorskip("yaml")

from test_dashboard_api import token
from test_monitoring import DOCKETD, Conn, Docketd

ROOT = pathlib.Path(__file__).resolve().parents[2]
SPEC = ROOT / "Protocol" / "monitoring.openapi.yaml"


def routed_paths():
    """The paths the server routes, read from its sources."""
    monitoring = (ROOT / "Sources/DocketServer/Server+Monitoring.swift").read_text()
    dashboard = (ROOT / "Sources/DocketServer/Server+Dashboard.swift").read_text()
    assets = (ROOT / "Sources/DocketDashboard/Assets.swift").read_text()
    paths = set(re.findall(r'^\s+"(/[a-z]+)": \(', monitoring, re.M))
    paths |= set(re.findall(r'case "(/api/[a-z/]+)"', dashboard))
    paths |= set(re.findall(r'^\s+"(/dashboard/[a-z.]+)": Asset\(', assets, re.M)) - {"/dashboard/index.html"}
    return paths | {"/", "/favicon.ico"}  # the page (index.html filled in) and the icon browsers ask for


def test_the_description_names_every_path_served_and_no_other():
    described = set(yaml.safe_load(SPEC.read_text())["paths"])
    routed = routed_paths()
    assert "/varz" in routed and "/api/job/delete" in routed and "/dashboard/app.js" in routed, routed
    assert routed - described == set(), "served but not described"
    assert described - routed == set(), "described but not served"


@pytest.mark.skipif(not DOCKETD, reason="set DOCKETD to a docketd binary")
def test_each_path_refuses_the_methods_it_is_not_described_with_and_names_those_it_is():
    paths = yaml.safe_load(SPEC.read_text())["paths"]
    server = Docketd()
    try:
        for path, operations in paths.items():
            described = {method.upper() for method in operations if method in ("get", "post", "put", "delete", "patch")}
            if "GET" in described:
                described.add("HEAD")
            for method in sorted({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH"} - described):
                connection = http.client.HTTPConnection("127.0.0.1", server.http, timeout=5)
                connection.request(method, path, headers={"Host": "127.0.0.1"})
                response = connection.getresponse()
                response.read()
                connection.close()
                assert response.status == 405, (method, path, response.status)
                assert set(response.getheader("Allow", "").split(", ")) == described, (method, path, response.getheader("Allow"))
        assert server.proc.poll() is None
    finally:
        server.stop()


@pytest.mark.skipif(not DOCKETD, reason="set DOCKETD to a docketd binary")
@pytest.mark.skipif(not shutil.which("schemathesis"), reason="schemathesis is not installed")
def test_schemathesis_finds_nothing_against_a_real_server(tmp_path):
    # Bounded: about ten seconds. The event stream never ends, so it is left out; the POSTs carry
    # the page's token, so the changes run too (on this throwaway server).
    server = Docketd()
    try:
        client = Conn(server.port)
        for n in range(3):
            assert client.call("ENQ q%d 1" % n, b"x")[0].startswith("+OK")
        csrf, _ = token(server)
        run = subprocess.run(
            ["schemathesis", "run", str(SPEC), "-u", f"http://127.0.0.1:{server.http}", "-n", "15",
             "--seed", "1", "--request-timeout", "5", "--exclude-path", "/api/events",
             "--checks", "not_a_server_error,status_code_conformance,content_type_conformance,"
             "response_schema_conformance,response_headers_conformance",
             "-H", f"X-Docket-CSRF: {csrf}", "-H", "Host: 127.0.0.1"],
            capture_output=True, text=True, timeout=120, cwd=tmp_path, env={**os.environ, "NO_COLOR": "1"})
        assert run.returncode == 0, run.stdout[-4000:]
        assert server.proc.poll() is None
    finally:
        server.stop()
