"""The engine module's pure parts: reading inspect JSON, naming failing build steps."""

from datetime import UTC, datetime

from devenv.engine import _build_error, _state, _timestamp, failed_step_containers
from devenv.engine_types import Port

INSPECT = {
    "Id": "abc",
    "Name": "/shop-postgres-1",
    "Image": "sha256:1234",
    "Config": {"Labels": {"com.docker.compose.project": "shop", "com.docker.compose.service": "postgres"}},
    "State": {
        "Status": "running",
        "ExitCode": 0,
        "StartedAt": "2026-11-27T05:16:12.904513425Z",
        "Health": {"Status": "unhealthy", "Log": [{"Output": "old"}, {"Output": "127.0.0.1:5432 - no response\n"}]},
    },
    "NetworkSettings": {"Ports": {"5432/tcp": [{"HostIp": "127.0.0.1", "HostPort": "15432"}], "9999/tcp": None}},
}


def test_state_from_inspect_json():
    s = _state(INSPECT)
    assert (s.service, s.name, s.state, s.health, s.exit_code) == (
        "postgres",
        "shop-postgres-1",
        "running",
        "unhealthy",
        0,
    )
    assert s.ports == (Port(5432, "127.0.0.1", 15432),)
    assert s.last_probe == "127.0.0.1:5432 - no response"
    assert s.started_at == datetime(2026, 11, 27, 5, 16, 12, 904513, tzinfo=UTC)
    assert not s.ready


def test_a_container_without_healthcheck_that_never_started():
    s = _state(
        {
            "Name": "/x-worker-1",
            "Config": {"Labels": {}},
            "State": {"Status": "created", "StartedAt": "0001-01-01T00:00:00Z"},
        }
    )
    assert (s.service, s.health, s.started_at) == ("x-worker-1", None, None)


def test_timestamps_with_offsets():
    assert _timestamp("2026-01-02T03:04:05+02:00") == datetime(2026, 1, 2, 1, 4, 5, tzinfo=UTC)
    assert _timestamp("garbage") is None


CLASSIC = """Sending build context to Docker daemon  4.1kB
Step 1/5 : FROM node:20-alpine
 ---> 23182412269c
Step 2/5 : RUN npm ci
 ---> Running in 985bbbc7d830
\x1b[31mnpm ERR!\x1b[0m missing: package-lock.json
The command '/bin/sh -c npm ci' returned a non-zero code: 1
"""


def test_build_error_names_the_failing_step_and_keeps_its_output():
    error = _build_error(["api"], CLASSIC, "docker compose build api")
    assert error.message == "building api failed at: Step 2/5 : RUN npm ci"
    assert error.details.splitlines() == [
        " ---> Running in 985bbbc7d830",
        "npm ERR! missing: package-lock.json",
        "The command '/bin/sh -c npm ci' returned a non-zero code: 1",
    ]
    assert error.hint == "fix that Dockerfile step; the full output: docker compose build api"


def test_build_error_from_buildkit_output():
    output = '#5 [dev 2/4] RUN npm ci\n#5 0.5 npm ERR! boom\nERROR: failed to solve: process "/bin/sh -c npm ci" did not complete successfully: exit code: 1\n'
    error = _build_error(["api"], output, "x")
    assert error.message == "building api failed at: #5 [dev 2/4] RUN npm ci"
    assert "did not complete successfully" in error.details


def test_only_the_containers_of_failed_steps_are_left_to_remove():
    output = (
        " ---> Running in aaaaaaaaaaaa\nok\nRemoving intermediate container aaaaaaaaaaaa\n"
        " ---> Running in bbbbbbbbbbbb\nnpm ERR! boom\n"
    )
    assert failed_step_containers(output) == ["bbbbbbbbbbbb"]
    assert failed_step_containers(CLASSIC) == ["985bbbc7d830"]


def _alive(pid: int) -> bool:
    import os

    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:  # a zombie waiting for its parent counts as gone
        return open(f"/proc/{pid}/stat").read().split(")")[1].split()[0] != "Z"
    except OSError:
        return False


def test_ending_a_process_ends_its_whole_group(tmp_path):
    """The docker CLI runs the compose plugin as its child: ending one must end both."""
    import time

    from devenv.engine import Process

    pidfile = tmp_path / "child"
    process = Process(["sh", "-c", f"sleep 30 & echo $! > {pidfile}; wait"])
    for _ in range(100):
        if pidfile.exists() and pidfile.read_text().strip():
            break
        time.sleep(0.02)
    child = int(pidfile.read_text())
    assert _alive(child)
    process.end()
    assert process.poll() is not None
    for _ in range(50):
        if not _alive(child):
            break
        time.sleep(0.02)
    assert not _alive(child), "the grandchild outlived end()"
    process.end()  # twice is fine


def test_an_interrupt_while_waiting_for_a_docker_command_ends_it(monkeypatch):
    import subprocess

    import pytest

    from devenv import engine
    from devenv.errors import InterruptedByUser

    started = []
    real = engine.Process

    class Watched(real):
        def __init__(self, cmd):
            super().__init__(cmd)
            started.append(self)

    real_wait = subprocess.Popen.wait
    calls = []

    def interrupted(self, timeout=None):
        calls.append(timeout)
        if len(calls) == 1:  # Ctrl-C lands while devenv waits for the command
            raise InterruptedByUser()
        return real_wait(self, timeout)

    monkeypatch.setattr(engine, "Process", Watched)
    monkeypatch.setattr(subprocess.Popen, "wait", interrupted, raising=True)
    with pytest.raises(InterruptedByUser):
        engine._run(["sleep", "30"])
    monkeypatch.undo()
    assert started and started[0].poll() is not None


def test_docker_failures_become_typed_errors():
    import subprocess

    from devenv.engine import _translate
    from devenv.errors import ComposeMissingError, EngineError, EngineUnreachableError, PortInUseError

    def failed(stderr):
        return _translate(subprocess.CalledProcessError(1, ["docker", "x"], stderr=stderr))

    taken = failed(
        "Error response from daemon: driver failed programming external connectivity on endpoint "
        "p-redis-1: Bind for 127.0.0.1:6379 failed: port is already allocated\n"
    )
    assert isinstance(taken, PortInUseError) and "127.0.0.1:6379" in taken.message
    assert isinstance(
        failed("Cannot connect to the Docker daemon at unix:///x.sock. Is the docker daemon running?"),
        EngineUnreachableError,
    )
    assert isinstance(failed("docker: 'compose' is not a docker command."), ComposeMissingError)
    other = failed("Error response from daemon: No such container: abc\n")
    assert isinstance(other, EngineError)
    assert other.message == "docker failed: Error response from daemon: No such container: abc"
    assert other.hint == "the command was: docker x"
