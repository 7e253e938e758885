"""The units in ``deploy/`` as systemd would run them: each unit's own ExecStart, with the example
environment file's settings (a temporary database and trust substituted), tells a notify socket
READY=1 once it can do its work and STOPPING=1 when told to stop; ``systemd-analyze`` accepts
the units and rates their sandbox (where systemd is installed)."""

from __future__ import annotations

import shlex
import shutil
import signal
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from escalation_flow.adapters.store import Store
from tests.daemon_builders import write_trust

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
UNITS = ("escalation-flow-daemon.service", "escalation-flow-web.service")
INSTALLED = "/opt/escalation-flow/.venv/bin/escalation-flow"
#: How long a start may take before the test gives up on it (a start is a few seconds).
PATIENCE = 90.0


def unit_settings(name: str) -> dict[str, list[str]]:
    """``{key: [values]}`` of a unit's ``[Service]`` section (no continuation lines in ours)."""
    found: dict[str, list[str]] = {}
    section = ""
    for raw in (DEPLOY / name).read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line
            continue
        if section == "[Service]":
            key, _, value = line.partition("=")
            found.setdefault(key, []).append(value)
    return found


def example_environment() -> dict[str, str]:
    out = {}
    for raw in (DEPLOY / "escalation-flow.env.example").read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            out[key] = value
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def command_line(name: str, ports: dict[str, int]) -> list[str]:
    """The unit's ExecStart, on this checkout's install, with each ``--X-port`` given a free
    port (never 8000, which a developer's pages may hold)."""
    argv = shlex.split(unit_settings(name)["ExecStart"][0])
    assert argv[0] == INSTALLED, "the units and deploy/README.md name one install path"
    argv[0] = str(Path(sys.executable).parent / "escalation-flow")
    for i, arg in enumerate(argv[:-1]):
        if arg in ports:
            argv[i + 1] = str(ports[arg])
    return argv


@pytest.fixture
def world(tmp_path: Path) -> dict[str, str]:
    """The example environment file, on a migrated SQLite file and a one-school trust."""
    url = f"sqlite:///{tmp_path / 'ef.sqlite'}"
    store = Store(url)
    store.migrate()
    store.dispose()
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("ESCALATION_")}
    env.update(example_environment())
    env.update(
        ESCALATION_FLOW_DATABASE_URL=url,
        ESCALATION_FLOW_TRUST_FILE=str(write_trust(tmp_path / "trust")),
        ESCALATION_FLOW_INBOX_DIR=str(tmp_path / "inbox"),
    )
    return env


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(PATIENCE)
    try:
        yield sock, str(path)
    finally:
        sock.close()


def read_until(sock: socket.socket, wanted: str) -> list[str]:
    """Every notification up to and including ``wanted`` (a timeout fails the test)."""
    seen: list[str] = []
    while wanted not in seen:
        try:
            message = sock.recv(4096).decode()
        except TimeoutError:
            pytest.fail(f"no {wanted} within {PATIENCE} s; got {seen}")
        seen += message.splitlines()
    return seen


def started(name: str, env: dict[str, str], folder: Path, ports: dict[str, int], notify: str):  # type: ignore[no-untyped-def]
    log = (folder / f"{name}.log").open("wb")
    return subprocess.Popen(
        command_line(name, ports),
        env={**env, "NOTIFY_SOCKET": notify},
        cwd=folder,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def stop(process: subprocess.Popen[bytes]) -> int:
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=PATIENCE)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_the_daemon_unit_tells_systemd_it_is_ready_and_serves_its_metrics(
    world: dict[str, str], notify_socket: tuple[socket.socket, str], tmp_path: Path
) -> None:
    sock, address = notify_socket
    port = free_port()
    process = started(UNITS[0], world, tmp_path, {"--metrics-port": port}, address)
    try:
        seen = read_until(sock, "READY=1")
        assert any(m.startswith("STATUS=") for m in read_until(sock, "STATUS=running: timers "
                                                               "mirrored, evenings scheduled"))  # fmt: skip
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as response:
            text = response.read().decode()
        values = {s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples}
        assert values["escalation_flow_store_readable"] == 1
        assert "escalation_flow_timers_pending" in values
    finally:
        code = stop(process)
    assert "READY=1" in seen
    assert "STOPPING=1" in read_until(sock, "STOPPING=1")
    assert code == 0, (tmp_path / f"{UNITS[0]}.log").read_text()


def test_the_pages_unit_tells_systemd_it_is_ready_once_listening(
    world: dict[str, str], notify_socket: tuple[socket.socket, str], tmp_path: Path
) -> None:
    sock, address = notify_socket
    port = free_port()
    process = started(UNITS[1], world, tmp_path, {"--port": port}, address)
    try:
        read_until(sock, "READY=1")
        # ready means listening: the first request after READY=1 is answered
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=30) as response:
            assert response.status == 200
    finally:
        code = stop(process)
    assert "STOPPING=1" in read_until(sock, "STOPPING=1")
    # uvicorn shuts down gracefully, then re-raises the SIGTERM it caught: systemd counts death
    # by SIGTERM as a clean stop (not a failure to restart)
    assert code in (0, -signal.SIGTERM), (tmp_path / f"{UNITS[1]}.log").read_text()


@pytest.mark.parametrize("name", UNITS)
def test_each_unit_is_hardened_and_restarts_on_failure(name: str) -> None:
    """What docs/operations.md promises the IT team, pinned (systemd may not be here to ask)."""
    found = unit_settings(name)
    one = {k: v[-1] for k, v in found.items()}
    assert one["Type"] == "notify" and one["Restart"] == "on-failure"
    assert one["User"] == "escalation-flow" and one["ProtectSystem"] == "strict"
    assert one["NoNewPrivileges"] == one["PrivateTmp"] == one["ProtectHome"] == "yes"
    assert one["CapabilityBoundingSet"] == ""
    assert one["ReadWritePaths"] == "/var/lib/escalation-flow"
    assert found["SystemCallFilter"][0] == "@system-service"
    assert set(one["RestrictAddressFamilies"].split()) == {"AF_UNIX", "AF_INET", "AF_INET6"}
    argv = shlex.split(one["ExecStart"])
    if "--host" in argv:
        assert argv[argv.index("--host") + 1] == "127.0.0.1", "the proxy in front takes TLS"


def installed_copy(name: str, folder: Path) -> Path:
    """The unit with ExecStart on this checkout's install: ``verify`` checks the program."""
    text = (DEPLOY / name).read_text(encoding="utf-8")
    target = folder / name
    target.write_text(
        text.replace(INSTALLED, str(Path(sys.executable).parent / "escalation-flow")),
        encoding="utf-8",
    )
    return target


def systemd_analyze() -> str:
    found = shutil.which("systemd-analyze")
    if found is None:
        pytest.skip("systemd-analyze is not installed (apt-get install systemd; checks the units)")
    return found


def test_systemd_analyze_verify_accepts_both_units(tmp_path: Path) -> None:
    program = systemd_analyze()
    units = [str(installed_copy(n, tmp_path)) for n in UNITS]
    done = subprocess.run(
        [program, "verify", *units], capture_output=True, text=True, cwd=tmp_path, check=False
    )
    assert done.returncode == 0, done.stderr
    complaints = [line for line in done.stderr.splitlines() if "escalation-flow" in line]
    assert not complaints, complaints


@pytest.mark.parametrize("name", UNITS)
def test_systemd_analyze_rates_each_sandbox_below_two(name: str, tmp_path: Path) -> None:
    """``security`` scores exposure 0 (locked) to 10 (open); ``--threshold`` is ten times it."""
    program = systemd_analyze()
    unit = installed_copy(name, tmp_path)
    done = subprocess.run(
        [program, "security", "--offline=yes", "--threshold=20", "--no-pager", str(unit)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    if "--offline" in done.stderr and "unrecognized" in done.stderr:
        pytest.skip("this systemd-analyze has no --offline (systemd 250 or newer has)")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr
    assert "Overall exposure level" in done.stdout
