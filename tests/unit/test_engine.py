"""The engine module's pure parts: reading inspect JSON, naming failing build steps."""

from datetime import datetime, timezone

from devenv.engine import _build_error, _state, _timestamp, failed_step_containers
from devenv.engine_types import Port

INSPECT = {
    "Id": "abc",
    "Name": "/shop-postgres-1",
    "Image": "sha256:1234",
    "Config": {"Labels": {"com.docker.compose.project": "shop", "com.docker.compose.service": "postgres"}},
    "State": {
        "Status": "running", "ExitCode": 0, "StartedAt": "2026-11-27T05:16:12.904513425Z",
        "Health": {"Status": "unhealthy", "Log": [{"Output": "old"}, {"Output": "127.0.0.1:5432 - no response\n"}]},
    },
    "NetworkSettings": {"Ports": {"5432/tcp": [{"HostIp": "127.0.0.1", "HostPort": "15432"}], "9999/tcp": None}},
}


def test_state_from_inspect_json():
    s = _state(INSPECT)
    assert (s.service, s.name, s.state, s.health, s.exit_code) == ("postgres", "shop-postgres-1", "running", "unhealthy", 0)
    assert s.ports == (Port(5432, "127.0.0.1", 15432),)
    assert s.last_probe == "127.0.0.1:5432 - no response"
    assert s.started_at == datetime(2026, 11, 27, 5, 16, 12, 904513, tzinfo=timezone.utc)
    assert not s.ready


def test_a_container_without_healthcheck_that_never_started():
    s = _state({"Name": "/x-worker-1", "Config": {"Labels": {}}, "State": {"Status": "created", "StartedAt": "0001-01-01T00:00:00Z"}})
    assert (s.service, s.health, s.started_at) == ("x-worker-1", None, None)


def test_timestamps_with_offsets():
    assert _timestamp("2026-01-02T03:04:05+02:00") == datetime(2026, 1, 2, 1, 4, 5, tzinfo=timezone.utc)
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
    output = "#5 [dev 2/4] RUN npm ci\n#5 0.5 npm ERR! boom\nERROR: failed to solve: process \"/bin/sh -c npm ci\" did not complete successfully: exit code: 1\n"
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
