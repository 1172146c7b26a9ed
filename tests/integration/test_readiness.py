"""Readiness on the real engine: order, timings reported, fail-fast cases, the project lock,
and Ctrl-C at any moment."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from datetime import datetime

import yaml

from tests.integration.conftest import copy_example, new_name, run_devenv, status, teardown


def inspect(container: str) -> dict:
    out = subprocess.run(["docker", "container", "inspect", container], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)[0]


def started_at(container: str) -> float:
    value = inspect(container)["State"]["StartedAt"]  # RFC 3339 with nanoseconds
    head, _, rest = value.partition(".")
    fraction = rest.rstrip("Z")[:6]
    return datetime.fromisoformat(f"{head}.{fraction}+00:00").timestamp()


def engine_api() -> tuple[int, int]:
    out = subprocess.run(
        ["docker", "version", "--format", "{{.Server.APIVersion}}"], capture_output=True, text=True, check=True
    ).stdout.strip()
    major, minor = out.split(".")[:2]
    return int(major), int(minor)


def test_the_api_starts_only_once_its_dependencies_answer_and_each_time_to_ready_is_reported(tmp_path):
    root = copy_example(tmp_path / "shop")
    name = new_name("order")
    env = {"DEVENV_PROJECT_NAME": name}
    try:
        result = run_devenv("up", "--json", cwd=root, env=env)
        assert result.returncode == 0, result.stderr
        data = json.loads(result.stdout)
        rows = {row["service"]: row for row in data["services"]}
        assert set(rows) == {"api", "postgres", "redis", "mailhog"}
        for row in rows.values():
            assert row["ready"] is True and row["ready_after"] > 0 and row["ready_at"] >= data["started_at"]
        # the api's container started after devenv saw postgres and redis answer (same host clock)
        api_started = started_at(f"{name}-api-1")
        assert api_started >= rows["postgres"]["ready_at"] - 0.01
        assert api_started >= rows["redis"]["ready_at"] - 0.01
        assert rows["api"]["ready_at"] >= api_started
        # status keeps Docker's health and devenv's readiness apart
        seen = status(root, env)
        assert all(row["ready"] is True for row in seen.values())
        assert {row["health"] for row in seen.values()} <= {"starting", "healthy"}
    finally:
        teardown(name)


def test_start_interval_is_rendered_only_where_the_engine_honours_it(project):
    root, env = project("profiles: [redis]\nservices:\n  redis: {ports: {6379: 0}}\n")
    assert run_devenv("up", cwd=root, env=env).returncode == 0
    rendered = yaml.safe_load((root / ".devenv" / "compose.yaml").read_text())["services"]["redis"]["healthcheck"]
    check = inspect(f"{env['DEVENV_PROJECT_NAME']}-redis-1")["Config"]["Healthcheck"]
    if engine_api() >= (1, 44):
        assert rendered["start_interval"] == "500ms"
        assert check["StartInterval"] == 500_000_000
    else:
        assert "start_interval" not in rendered
        assert not check.get("StartInterval")


def test_two_ups_at_once_one_waits_both_succeed_one_network(project):
    root, env = project(
        "profiles: [postgres, redis]\nservices:\n  postgres: {ports: {5432: 0}}\n  redis: {ports: {6379: 0}}\n"
    )
    command = [sys.executable, "-m", "devenv", "up"]
    full_env = {**os.environ, "NO_COLOR": "1", **env}
    first = subprocess.Popen(command, cwd=root, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    second = subprocess.Popen(
        command, cwd=root, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    outputs = [p.communicate(timeout=180) for p in (first, second)]
    assert (first.returncode, second.returncode) == (0, 0), outputs
    waited = [err for _, err in outputs if "waiting for `devenv up` (pid " in err]
    assert len(waited) == 1, outputs
    networks = subprocess.run(
        ["docker", "network", "ls", "--filter", f"name={env['DEVENV_PROJECT_NAME']}", "--format", "{{.Name}}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert networks == [f"{env['DEVENV_PROJECT_NAME']}_default"]
    assert all(row["ready"] for row in status(root, env).values())


def test_postgres_with_other_credentials_than_its_volume_fails_at_once_saying_what_to_do(project):
    root, env = project("profiles: [postgres]\nservices:\n  postgres: {ports: {5432: 0}}\n")
    assert run_devenv("up", cwd=root, env=env).returncode == 0
    (root / ".env").write_text("POSTGRES_PASSWORD=a-new-one\n")
    # the start period is 120 s: only devenv's own login tells the two apart before that
    result = run_devenv("up", "--timeout", "100", cwd=root, env=env)
    assert result.returncode == 40, result.stderr
    lines = result.stderr.strip().splitlines()
    error = next(line for line in lines if line.startswith("error: "))
    assert error.startswith("error: postgres failed: it refused devenv's probe: password authentication failed")
    assert "a-new-one" not in result.stderr
    assert lines[-1].startswith("hint: Postgres keeps the user, password and database its data volume")
    assert "devenv down --volumes" in lines[-1]


def test_a_crash_looping_service_fails_at_once(project):
    root, env = project(
        "profiles: [redis]\nservices:\n  redis: {ports: {6379: 0}}\ncompose_files: [worker.yaml]\n",
        {
            "worker.yaml": """
            services:
              worker:
                image: redis:7-alpine
                command: ["sh", "-c", "echo 'worker: cannot reach the queue'; exit 3"]
                restart: always
                # it would only ever be healthy once it ran a while: with neither probe nor
                # healthcheck, a glimpse of it running on a loaded machine could pass for ready
                healthcheck: {test: ["CMD-SHELL", "test -f /tmp/up"], interval: 1s}
                depends_on: [redis]
        """
        },
    )
    result = run_devenv("up", "--timeout", "100", cwd=root, env=env)
    assert result.returncode == 40, result.stderr
    first = next(line for line in result.stderr.splitlines() if line.startswith("error: "))
    assert first.startswith("error: worker failed: "), result.stderr
    assert "keeps restarting" in first or "exited with code 3" in first
    assert "worker: cannot reach the queue" in result.stderr


def _docker_processes_for(name: str) -> list[str]:
    """docker processes (compose, starts of this project's containers) still running."""
    ids = subprocess.run(
        ["docker", "ps", "-aq", "--no-trunc", "--filter", f"label=com.docker.compose.project={name}"],
        capture_output=True,
        text=True,
    ).stdout.split()
    rows = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout.splitlines()
    return [
        row for row in rows if "docker" in row and (name in row or any(i in row for i in ids)) and "ps -eo" not in row
    ]


def test_ctrl_c_at_random_moments_always_exits_130_and_leaves_no_docker_process(project):
    root, env = project(
        "profiles: [redis]\nservices:\n  redis: {ports: {6379: 0}}\ncompose_files: [slow.yaml]\n",
        {
            "slow.yaml": """
            services:
              never:
                image: redis:7-alpine
                healthcheck:
                  test: ["CMD-SHELL", "exit 1"]
                  interval: 1s
                  start_period: 300s
              worker:
                image: redis:7-alpine
                depends_on:
                  never: {condition: service_healthy}
        """
        },
    )
    name = env["DEVENV_PROJECT_NAME"]
    moments = random.Random(os.environ.get("PYTEST_XDIST_WORKER", "") + name)
    for attempt in range(10):
        if attempt % 3 == 0:  # now and then from nothing, so early moments hit create and starts
            subprocess.run(["docker", "compose", "-p", name, "down", "--timeout", "0"], capture_output=True)
        process = subprocess.Popen(
            [sys.executable, "-m", "devenv", "up"],
            cwd=root,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, "NO_COLOR": "1", **env},
        )
        time.sleep(moments.uniform(0.3, 2.5))  # from once Python has started (a Ctrl-C before that is Python's)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=30)
        assert process.returncode == 130, f"attempt {attempt}: {err}"
        lines = err.strip().splitlines()
        assert "error: interrupted" in lines and "Traceback" not in err, err
        assert _docker_processes_for(name) == [], f"attempt {attempt} left docker running"
