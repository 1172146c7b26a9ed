"""`devenv doctor` against the real engine: a healthy stack, an unreachable engine, a busy
port, and Postgres data initialised with other credentials."""

from __future__ import annotations

import json
import socket
import subprocess
import uuid

import pytest

from tests.integration.conftest import copy_example, free_port, new_name, run_devenv, teardown


@pytest.fixture(scope="module")
def shop(tmp_path_factory, docker_engine):
    """The example stack, up, with Postgres on a fixed host port (so the port check has one
    to find held by the project itself)."""
    name = new_name("doctor")
    root = copy_example(tmp_path_factory.mktemp("doctor") / "shop")
    config = (root / "devenv.yaml").read_text().replace("5432: 0", f"5432: {free_port()}")
    (root / "devenv.yaml").write_text(config)
    (root / ".env").write_text(f"POSTGRES_PASSWORD=pw-{uuid.uuid4().hex}\n")
    env = {"DEVENV_PROJECT_NAME": name}
    up = run_devenv("up", cwd=root, env=env)
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        yield root, env
    finally:
        teardown(name)


def checks(result) -> dict[str, dict]:
    return {c["check"]: c for c in json.loads(result.stdout)["checks"]}


def test_doctor_on_a_healthy_machine_passes(shop):
    root, env = shop
    result = run_devenv("doctor", cwd=root, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    api = subprocess.run(
        ["docker", "version", "--format", "{{.Server.APIVersion}}"], capture_output=True, text=True, check=True
    ).stdout.strip()
    modern = tuple(int(n) for n in api.split(".")[:2]) >= (1, 44)
    # every check passes; only an engine older than 25 (API 1.44) is said not to honour
    # start_interval. buildx missing (as on CI) is fine: the example needs no BuildKit feature
    marks = [line for line in lines if line[:1] in ("✔", "!", "✖")]
    expected = [line for line in marks if not modern and "start_interval is not honoured" in line]
    assert [line for line in marks if not line.startswith("✔")] == expected, result.stdout
    assert lines[-1].startswith("all checks passed" if modern else "0 failed, 1 warning(s)"), result.stdout
    found = checks(run_devenv("doctor", "--json", cwd=root, env=env))
    for name in ("docker", "engine", "compose", "buildx", "endpoint", "disk", "ports", "env", "postgres", "config"):
        assert found[name]["status"] == ("ok" if name != "engine" or modern else "warn"), found[name]
    assert found["buildx"]["message"].startswith(
        ("buildx ", "classic builder (buildx not installed; this project's Dockerfiles need no BuildKit features)")
    )
    assert "held by this project (1)" in found["ports"]["message"]
    assert found["postgres"]["message"] == "postgres: the configured credentials log in"
    assert ("honour start_interval" if modern else "start_interval is not honoured") in found["engine"]["message"]


def test_doctor_with_the_engine_unreachable(tmp_path):
    root = copy_example(tmp_path / "shop")
    result = run_devenv(
        "doctor", cwd=root, env={"DOCKER_HOST": "unix:///nonexistent/docker.sock", "DEVENV_PROJECT_NAME": new_name("x")}
    )
    assert result.returncode == 60, result.stdout + result.stderr
    assert "✖ the Docker engine is not reachable" in result.stdout
    assert "  fix: start Docker" in result.stdout
    assert "Traceback" not in result.stderr


def test_doctor_names_who_holds_a_busy_port(tmp_path):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        root = copy_example(tmp_path / "shop")
        config = (root / "devenv.yaml").read_text().replace("6379: 0", f"6379: {port}")
        (root / "devenv.yaml").write_text(config)
        result = run_devenv("doctor", "--json", cwd=root, env={"DEVENV_PROJECT_NAME": new_name("x")})
    assert result.returncode == 60, result.stdout + result.stderr
    found = checks(result)["ports"]
    assert found["status"] == "fail"
    assert found["message"].startswith(f"127.0.0.1:{port} (redis) is held by python")
    assert "(pid " in found["message"]


def test_doctor_finds_postgres_data_with_other_credentials(tmp_path):
    name = new_name("doctor-pg")
    root = tmp_path / name
    root.mkdir()
    (root / "devenv.yaml").write_text("profiles: [postgres]\nservices:\n  postgres: {ports: {5432: 0}}\n")
    env = {"DEVENV_PROJECT_NAME": name}
    try:
        assert run_devenv("up", cwd=root, env=env).returncode == 0
        (root / ".env").write_text("POSTGRES_PASSWORD=a-new-one\n")
        result = run_devenv("doctor", cwd=root, env=env)
        assert result.returncode == 60, result.stdout + result.stderr
        assert "✖ postgres refuses the configured credentials: password authentication failed" in result.stdout
        assert "devenv down --volumes" in result.stdout
        assert "a-new-one" not in result.stdout
    finally:
        teardown(name)


def test_doctor_and_the_builder_agree_on_a_dockerfile_that_needs_buildkit(tmp_path):
    """`RUN --mount` needs BuildKit: doctor says ✖ where buildx is missing, and the classic
    builder indeed refuses it; with buildx, doctor says ✔ (and BuildKit builds it)."""
    root = tmp_path / "needs-buildkit"
    root.mkdir()
    (root / "devenv.yaml").write_text("profiles: [api]\napi: {port: 0}\n")
    (root / "Dockerfile").write_text(
        'FROM node:20-alpine\nRUN --mount=type=cache,target=/root/.npm true\nUSER node\nCMD ["node"]\n'
    )
    result = run_devenv("doctor", "--json", cwd=root, env={"DEVENV_PROJECT_NAME": new_name("doctor-bk")})
    buildx = checks(result)["buildx"]
    if subprocess.run(["docker", "buildx", "version"], capture_output=True).returncode == 0:
        assert buildx["status"] == "ok", buildx
        return
    assert result.returncode == 60, result.stdout + result.stderr
    assert buildx["status"] == "fail", buildx
    assert "the classic builder cannot build Dockerfile:2 (RUN --mount)" in buildx["message"]
    built = subprocess.run(["docker", "build", "--quiet", str(root)], capture_output=True, text=True)
    assert built.returncode != 0
    assert "the --mount option requires BuildKit" in built.stdout + built.stderr
