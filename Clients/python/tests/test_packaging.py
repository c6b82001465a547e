"""The package as users get it: build a wheel and an sdist, install the wheel
into a fresh virtual environment, and run the README's quick start (the
producer, then the worker until SIGTERM) from there against a live docketd.

Builds with ``python3 -m build --no-isolation`` when the ``build`` module is
installed, otherwise with ``pip wheel --no-deps --no-build-isolation`` and
setuptools' own sdist hook; when setuptools cannot make wheels by itself
(older than 70.1, and no ``wheel`` package), ``pip wheel`` builds in its
isolated environment, fetching setuptools from the index (see :func:`build`).
The venv gets ``--system-site-packages`` and the wheel is installed with
``--no-index``.
Marked ``packaging``; set ``DOCKETD_CLIENT_SKIP_PACKAGING=1`` to skip it
(for example where setuptools is missing).
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path
from typing import Dict, List

import pytest

import docketd_client as docket

pytestmark = pytest.mark.packaging

PROJECT = Path(__file__).resolve().parent.parent
SKIP_ENV = "DOCKETD_CLIENT_SKIP_PACKAGING"
STEP_TIMEOUT = 60


def _run(argv: List[str], cwd: Path, env: Dict[str, str]) -> str:
    out = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=STEP_TIMEOUT)
    assert out.returncode == 0, f"{' '.join(argv)} failed:\n{out.stdout}\n{out.stderr}"
    return out.stdout


def _clean_env() -> Dict[str, str]:
    """No PYTHONPATH (the checkout's src must not leak in) and no
    credentials for the quick start to pick up."""
    drop = ("PYTHONPATH", "PYTHONHOME", "DOCKET_USER", "DOCKET_PASS", "DOCKET_TOKEN", "PIP_REQUIRE_VIRTUALENV")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env["PIP_NO_INPUT"] = "1"
    return env


def _quick_start_blocks() -> Dict[str, str]:
    """The ```python blocks under README's "### Producer" and "### Worker"."""
    text = (PROJECT / "README.md").read_text(encoding="utf-8")
    blocks = {}
    for title in ("Producer", "Worker"):
        match = re.search(rf"^### {title}\n.*?```python\n(.*?)```", text, re.S | re.M)
        assert match, f"README has no python block under ### {title}"
        blocks[title] = match.group(1)
    return blocks


def _setuptools_makes_wheels() -> bool:
    """True when setuptools can build a wheel without downloading anything:
    setuptools 70.1 or later has bdist_wheel itself, older ones need the
    ``wheel`` package."""
    if importlib.util.find_spec("wheel") is not None:
        return True
    try:
        from importlib.metadata import version as installed_version

        version = tuple(int(p) for p in re.findall(r"\d+", installed_version("setuptools"))[:2])
    except Exception:
        return False
    return version >= (70, 1)


NETWORK_ERRORS = ("Could not find a version", "No matching distribution", "Failed to establish",
                  "Temporary failure in name resolution", "Network is unreachable", "ConnectTimeout")


def build(workdir: Path, env: Dict[str, str]) -> str:
    """Builds into workdir/dist from a copy of the project; returns the tool used:

    1. ``python3 -m build --no-isolation`` when the ``build`` module is installed
       and setuptools can make wheels here;
    2. else ``pip wheel --no-deps --no-build-isolation`` when setuptools can;
    3. else ``pip wheel --no-deps`` in pip's isolated build environment, which
       downloads setuptools from the package index (skipped when that fails
       for want of the network).

    Without ``build`` the sdist comes from setuptools' own PEP 517 hook."""
    src = workdir / "project"
    shutil.copytree(PROJECT, src, ignore=shutil.ignore_patterns(
        "__pycache__", "*.egg-info", "build", "dist", ".pytest_cache", ".mypy_cache", "tests"))
    dist = workdir / "dist"
    dist.mkdir()
    offline = _setuptools_makes_wheels()
    if offline and importlib.util.find_spec("build") is not None:
        _run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(dist)], src, env)
        return "python3 -m build --no-isolation"
    # the sdist is built alongside the wheel (two cores, and pip's part is mostly waiting)
    sdist = subprocess.Popen(
        [sys.executable, "-c", f"from setuptools import build_meta; build_meta.build_sdist({str(dist)!r})"],
        cwd=src, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        return _build_wheel(src, dist, env, offline)
    finally:
        sdist_out, _ = sdist.communicate(timeout=STEP_TIMEOUT)
        assert sdist.returncode == 0, f"build_sdist failed:\n{sdist_out}"


def _build_wheel(src: Path, dist: Path, env: Dict[str, str], offline: bool) -> str:
    if offline:
        argv = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(dist), "."]
        tool = "pip wheel --no-deps --no-build-isolation"
    else:
        argv = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(dist), "."]
        tool = "pip wheel --no-deps (isolated build environment: setuptools from the index)"
    out = subprocess.run(argv, cwd=src, env=env, capture_output=True, text=True, timeout=STEP_TIMEOUT)
    if out.returncode != 0 and not offline and any(e in out.stdout + out.stderr for e in NETWORK_ERRORS):
        pytest.skip("neither the wheel package nor setuptools>=70.1 is installed, and the package index "
                    f"cannot be reached to build in isolation (set {SKIP_ENV}=1 to skip on purpose)")
    assert out.returncode == 0, f"{' '.join(argv)} failed:\n{out.stdout}\n{out.stderr}"
    return tool + " + setuptools.build_meta.build_sdist"


def make_venv(workdir: Path, wheel: Path, env: Dict[str, str]) -> Path:
    venv = workdir / "venv"
    python = venv / "bin" / "python"
    pip_version = tuple(int(p) for p in re.findall(r"\d+", _pip_version())[:2])
    if pip_version >= (22, 3):  # pip --python installs into the venv without pip in it: fast
        _run([sys.executable, "-m", "venv", "--without-pip", "--system-site-packages", str(venv)], workdir, env)
        _run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index",
              str(wheel)], workdir, env)
    else:
        _run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], workdir, env)
        _run([str(python), "-m", "pip", "install", "--no-deps", "--no-index", str(wheel)], workdir, env)
    return python


def _pip_version() -> str:
    import pip

    return pip.__version__


def test_wheel_and_sdist_install_and_run_the_readme_quick_start(tmp_path, server):
    if os.environ.get(SKIP_ENV):
        pytest.skip(f"{SKIP_ENV} is set")
    if importlib.util.find_spec("setuptools") is None or importlib.util.find_spec("pip") is None:
        pytest.skip("setuptools or pip is not installed: cannot build without the network")
    env = _clean_env()
    tool = build(tmp_path, env)
    print(f"built with: {tool}")

    (wheel,) = (tmp_path / "dist").glob("docketd_client-*.whl")
    # setuptools before 69.3 names the sdist docketd-client-<v>, later ones docketd_client-<v>
    (sdist,) = [p for p in (tmp_path / "dist").glob("docketd*client-*.tar.gz")]
    assert wheel.name == f"docketd_client-{docket.__version__}-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        metadata = zf.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert {"docketd_client/__init__.py", "docketd_client/aio/__init__.py", "docketd_client/py.typed",
            "docketd_client/protocol.py"} <= set(names)
    assert not [n for n in names if n.split("/")[0] in ("docket", "tests")]  # nothing that can collide
    assert "Name: docketd-client" in metadata and f"Version: {docket.__version__}" in metadata
    with tarfile.open(sdist) as tf:
        members = tf.getnames()
    root = sdist.name[: -len(".tar.gz")]
    assert {f"{root}/pyproject.toml", f"{root}/README.md", f"{root}/src/docketd_client/client.py"} <= set(members)

    python = make_venv(tmp_path, wheel, env)
    run_dir = tmp_path / "elsewhere"  # not the checkout: only the installed package can be imported
    run_dir.mkdir()
    where = _run([str(python), "-c", "import docketd_client, docketd_client.aio; print(docketd_client.__file__)"],
                 run_dir, env)
    assert str(tmp_path / "venv") in where

    blocks = _quick_start_blocks()
    for title, code in blocks.items():
        assert "nats://127.0.0.1:4222" in code
        (run_dir / f"{title.lower()}.py").write_text(code.replace("nats://127.0.0.1:4222", server.url))
    out = _run([str(python), "producer.py"], run_dir, env)
    assert out.split("\n")[:2] == ["1 False", "waiting"], out

    worker = subprocess.Popen([str(python), "worker.py"], cwd=run_dir, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        with docket.Client(server.url, request_timeout=5) as c:
            outcome = c.wait(1, timeout=10)
            assert (outcome.state, outcome.result) == ("completed", b"sent")
        worker.send_signal(signal.SIGTERM)
        stdout, stderr = worker.communicate(timeout=15)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    assert worker.returncode == 0, stderr
    assert "WorkerResult(clean=True, reason='signal', acked=1" in stdout
