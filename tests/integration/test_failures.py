"""What a user sees when things go wrong, against the real engine: one line, a hint, a code."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys

from tests.integration.conftest import containers, run_devenv, status


def assert_one_error(result: subprocess.CompletedProcess[str], code: int, starts: str) -> list[str]:
    assert result.returncode == code, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1 and errors[0].startswith(f"error: {starts}"), result.stderr
    assert lines[-1].startswith("hint: "), result.stderr
    assert "Traceback" not in result.stderr
    return lines


def test_a_busy_port_is_named_before_anything_starts(project):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        root, env = project(f"""
            profiles: [postgres, redis]
            services:
              postgres: {{ports: {{5432: {port}}}}}
              redis: {{ports: {{6379: 0}}}}
        """)
        result = run_devenv("up", cwd=root, env=env)
    lines = assert_one_error(result, 30, f"port 127.0.0.1:{port} for postgres is already in use by ")
    assert "(pid " in lines[0]
    assert "services.postgres.ports" in lines[-1]
    assert containers(env["DEVENV_PROJECT_NAME"]) == []


def test_a_port_held_by_another_projects_container_names_it(project):
    other_root, other_env = project("profiles: [redis]\nservices:\n  redis: {ports: {6379: 0}}\n")
    assert run_devenv("up", cwd=other_root, env=other_env).returncode == 0
    taken = status(other_root, other_env)["redis"]["ports"][0]["host"]
    root, env = project(f"profiles: [redis]\nservices:\n  redis: {{ports: {{6379: {taken}}}}}\n")
    result = run_devenv("up", cwd=root, env=env)
    assert_one_error(
        result,
        30,
        f"port 127.0.0.1:{taken} for redis is already in use by container "
        f"{other_env['DEVENV_PROJECT_NAME']}-redis-1 (project {other_env['DEVENV_PROJECT_NAME']})",
    )
    # the other project was not touched
    assert status(other_root, other_env)["redis"]["health"] == "healthy"


def test_a_healthcheck_that_always_fails_is_diagnosed_and_the_rest_left_running(project):
    root, env = project(
        """
        profiles: [postgres, redis]
        services:
          postgres: {ports: {5432: 0}}
          redis: {ports: {6379: 0}}
        compose_files: [broken-health.yaml]
        """,
        {
            "broken-health.yaml": """
            services:
              worker:
                image: redis:7-alpine
                healthcheck:
                  test: ["CMD-SHELL", "echo 'probe says: not today' && exit 1"]
                  interval: 1s
                  retries: 2
                  start_period: 0s
        """
        },
    )
    # the worker declares no probe of devenv's: Docker's healthcheck is what counts for it
    result = run_devenv("up", "--timeout", "60", cwd=root, env=env)
    lines = assert_one_error(result, 40, "worker failed: its healthcheck keeps failing")
    text = "\n".join(lines)
    assert "last health probe:" in text and "probe says: not today" in text
    assert "log lines:" in text and "Ready to accept connections" in text
    assert f"docker compose -p {env['DEVENV_PROJECT_NAME']} logs worker" in lines[-1]
    # postgres, which did nothing wrong, is left as it was
    states = {
        c["Labels"].split("com.docker.compose.service=")[1].split(",")[0]: c["State"]
        for c in containers(env["DEVENV_PROJECT_NAME"])
    }
    assert states["postgres"] == "running"


def test_a_failing_api_build_shows_the_failing_step(project):
    root, env = project(
        """
        profiles: [api]
        api: {port: 0}
        """,
        {
            "Dockerfile": """
            FROM node:20-alpine
            RUN echo preparing
            RUN echo 'npm ERR! missing script: build' && exit 3
            CMD ["node", "-e", "1"]
        """
        },
    )
    result = run_devenv("up", cwd=root, env=env)
    lines = assert_one_error(result, 31, "building api failed at: Step 3/")
    assert lines[1].endswith(": RUN echo 'npm ERR! missing script: build' && exit 3")
    assert any("returned a non-zero code: 3" in line for line in lines)
    assert "npm ERR! missing script: build" in "\n".join(lines[2:])
    # the classic builder's container of the failed step is not left behind
    step = next(line.split("Running in ")[1] for line in lines if "Running in " in line)
    assert (
        subprocess.run(["docker", "ps", "-aq", "--filter", f"id={step}"], capture_output=True, text=True).stdout == ""
    )
    assert containers(env["DEVENV_PROJECT_NAME"]) == []


def test_the_rendered_file_runs_with_plain_docker_compose(project, tmp_path):
    root, env = project("profiles: [redis]\nservices:\n  redis: {ports: {6379: 0}}\n")
    rendered = run_devenv("config", cwd=root, env=env)
    assert rendered.returncode == 0, rendered.stderr
    elsewhere = tmp_path / "rendered.yaml"
    elsewhere.write_text(rendered.stdout)
    up = subprocess.run(
        ["docker", "compose", "-f", str(elsewhere), "up", "-d", "--wait"], capture_output=True, text=True, timeout=120
    )
    assert up.returncode == 0, up.stderr
    # it is the same project devenv manages
    assert status(root, env)["redis"]["health"] == "healthy"


def test_an_unreachable_engine(project):
    root, env = project("profiles: [redis]\n")
    result = run_devenv("status", cwd=root, env={**env, "DOCKER_HOST": "unix:///nonexistent/docker.sock"})
    assert_one_error(result, 21, "the Docker Engine is not reachable".replace("Engine", "engine"))


def test_no_docker_binary(project):
    root, env = project("profiles: [redis]\n")
    result = subprocess.run(
        [sys.executable, "-m", "devenv", "up"],
        cwd=root,
        capture_output=True,
        text=True,
        env={**os.environ, **env, "PATH": "/nonexistent"},
    )
    assert_one_error(result, 20, "the docker command was not found")


COMPOSE_MISSING = """echo "docker: 'compose' is not a docker command." >&2; echo "See 'docker --help'" >&2; exit 1"""


def test_compose_plugin_missing(project, tmp_path):
    """The real docker CLI behind a wrapper that answers `docker compose` as a CLI without the
    plugin does."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    real = subprocess.run(["sh", "-c", "command -v docker"], capture_output=True, text=True).stdout.strip()
    wrapper = bin_dir / "docker"
    wrapper.write_text(f'#!/bin/sh\nif [ "$1" = compose ]; then {COMPOSE_MISSING}; fi\nexec {real} "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IEXEC)
    root, env = project("profiles: [redis]\nservices:\n  redis: {ports: {6379: 0}}\n")
    result = run_devenv("up", cwd=root, env={**env, "PATH": f"{bin_dir}:{os.environ['PATH']}"})
    assert_one_error(result, 22, "the Docker Compose plugin is missing: devenv needs Compose v2.24 or later")


def test_compose_plugin_too_old(project, tmp_path):
    """An old Compose plugin where the docker CLI looks first (the config folder's
    cli-plugins), as the CLI and devenv both find it."""
    plugins = tmp_path / "docker-config" / "cli-plugins"
    plugins.mkdir(parents=True)
    old = plugins / "docker-compose"
    old.write_text(
        "#!/bin/sh\n"
        'if [ "$1" = docker-cli-plugin-metadata ]; then\n'
        '  echo \'{"SchemaVersion": "0.1.0", "Vendor": "Docker Inc.", "Version": "v2.20.3"}\'; exit 0\n'
        "fi\n"
        "echo v2.20.3\n"
    )
    old.chmod(old.stat().st_mode | stat.S_IEXEC)
    root, env = project("profiles: [redis]\nservices:\n  redis: {ports: {6379: 0}}\n")
    result = run_devenv("up", cwd=root, env={**env, "DOCKER_CONFIG": str(plugins.parent)})
    assert_one_error(result, 22, "Docker Compose 2.20.3 is too old: devenv needs Compose v2.24 or later")
