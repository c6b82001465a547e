"""The README's promise that `bash scripts/test.sh` works on a fresh Debian machine with Swift,
checked where it can be without reinstalling one: scripts/setup.sh runs against stand-ins for
dpkg, apt-get and the tools it looks for, on a machine that has everything but what each case
takes away, and must install what is missing before it uses it."""

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Found on PATH, each a stand-in that succeeds: the tools setup.sh looks for with `command -v`.
PRESENT_TOOLS = ["npm", "nats-server", "jq", "chromium", "chromedriver", "ip", "tc"]


def stand_ins(bin_dir, log, pip_installed, node_version="20.19.2"):
    """dpkg says every package is installed; apt-get logs what it is asked and, asked for
    python3-pip, makes pip appear; python3 has pip only once it appears (or from the start when
    `pip_installed`), and none of the test packages, so setup.sh installs them with pip; node
    is `node_version`."""
    marker = bin_dir / "pip-is-installed"
    if pip_installed:
        marker.touch()
    scripts = {
        "dpkg": "exit 0",
        "sudo": 'exec "$@"',
        "apt-get": f'echo "apt-get $*" >> "{log}"\ncase " $* " in *" python3-pip "*) touch "{marker}" ;; esac',
        "python3": (
            f'if [ "$1" = "-m" ] && [ "$2" = "pip" ]; then\n'
            f'  [ -e "{marker}" ] || {{ echo "No module named pip" >&2; exit 1; }}\n'
            f'  echo "python3 $*" >> "{log}"; exit 0\n'
            f"fi\n"
            f"exit 1"
        ),
    }
    scripts.update({tool: "exit 0" for tool in PRESENT_TOOLS})
    scripts["node"] = (f'case "$1" in --version) echo v{node_version} ;; -p) echo {node_version.split(".")[0]} ;; esac')
    for name, body in scripts.items():
        path = bin_dir / name
        path.write_text(f"#!/bin/sh\n{body}\n")
        path.chmod(0o755)


def run_setup(tmp_path, **machine):
    """setup.sh --test on a machine of stand-ins: its result, and the calls it made."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls.log"
    log.touch()
    stand_ins(bin_dir, log, **machine)
    result = subprocess.run(["bash", str(ROOT / "scripts/setup.sh"), "--test"], cwd=tmp_path,
                            env={"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path)},
                            capture_output=True, text=True, timeout=60)
    return result, log.read_text().splitlines()


@pytest.mark.parametrize("pip_installed", [False, True], ids=["python3 without pip", "python3 with pip"])
def test_setup_installs_pip_before_the_python_packages(tmp_path, pip_installed):
    result, calls = run_setup(tmp_path, pip_installed=pip_installed)
    assert result.returncode == 0, f"setup.sh failed:\n{result.stdout}{result.stderr}\ncalls: {calls}"
    installs = [call for call in calls if call.startswith("apt-get") and " install " in call]
    pip_installs = [index for index, call in enumerate(calls) if call.startswith("python3 -m pip install")]
    assert pip_installs, f"the Python packages were not installed with pip: {calls}"
    if pip_installed:
        assert installs == [], f"apt-get was asked to install what is there: {installs}"
    else:
        assert len(installs) == 1 and " python3-pip" in installs[0], f"apt-get calls: {installs}"
        assert calls.index(installs[0]) < pip_installs[0], f"pip was used before it was installed: {calls}"


@pytest.mark.parametrize("version,warned", [("18.20.4", True), ("20.19.2", False)])
def test_setup_says_when_node_is_too_old_for_the_node_suites(tmp_path, version, warned):
    """Debian 12's nodejs is 18: the Node.js client wants 20, and its suites run with
    --test-concurrency, which node 18 refuses. setup.sh says so, naming the version."""
    result, _ = run_setup(tmp_path, pip_installed=True, node_version=version)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (f"node v{version} is older than 20" in result.stderr) == warned, result.stderr
