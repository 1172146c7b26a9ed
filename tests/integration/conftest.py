"""Real-engine tests: each test project has its own name and is torn down after.

Locally they skip, with the reason, when no Docker engine answers; in CI (CI=true) they fail
instead, so a broken engine can never pass as green.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "shop"


def _engine_problem() -> str | None:
    if shutil.which("docker") is None:
        return "no docker binary on PATH"
    try:
        result = subprocess.run(
            ["docker", "info", "--format", "{{.ServerVersion}}"], capture_output=True, text=True, timeout=20
        )
    except subprocess.TimeoutExpired:
        return "`docker info` did not answer in 20 s"
    if result.returncode != 0:
        return f"no Docker engine answers: {result.stderr.strip().splitlines()[-1] if result.stderr.strip() else 'docker info failed'}"
    return None


@pytest.fixture(scope="session")
def docker_engine() -> None:
    problem = _engine_problem()
    if problem:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"CI needs a Docker engine: {problem} (did .ci/run provision it?)")
        pytest.skip(f"needs a Docker engine: {problem}")


@pytest.fixture(autouse=True)
def _needs_engine(docker_engine) -> None:
    """Every test in this folder needs the engine (see docker_engine)."""


def run_devenv(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 300, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """The real CLI in a real process, as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "devenv", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_COLOR": "1", **(env or {})},
        timeout=timeout,
        input=stdin if stdin is not None else "",
    )


def new_name(purpose: str) -> str:
    return f"it-{purpose}-{uuid.uuid4().hex[:6]}"


def teardown(name: str) -> None:
    """Remove what a test project made: containers, networks, volumes and its api image."""
    subprocess.run(
        ["docker", "compose", "-p", name, "down", "--volumes", "--remove-orphans", "--timeout", "3"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    ids = subprocess.run(
        ["docker", "volume", "ls", "-q", "--filter", f"label=com.docker.compose.project={name}"],
        capture_output=True,
        text=True,
    ).stdout.split()
    if ids:
        subprocess.run(["docker", "volume", "rm", "-f", *ids], capture_output=True)
    subprocess.run(["docker", "image", "rm", "-f", f"{name}-api:devenv"], capture_output=True)


def containers(name: str) -> list[dict]:
    out = subprocess.run(
        ["docker", "ps", "-a", "--filter", f"label=com.docker.compose.project={name}", "--format", "{{json .}}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def volumes(name: str) -> list[str]:
    out = subprocess.run(
        ["docker", "volume", "ls", "-q", "--filter", f"label=com.docker.compose.project={name}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return sorted(out.split())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http(method: str, url: str, body: dict | None = None, timeout: float = 5) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def wait_for(predicate, timeout: float = 30, interval: float = 0.25):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


def copy_example(dest: Path) -> Path:
    """The example project with every host port left to the engine, so tests run side by side."""
    shutil.copytree(EXAMPLE, dest, ignore=shutil.ignore_patterns("node_modules", ".devenv", ".env"))
    config = (dest / "devenv.yaml").read_text().replace("port: 3000", "port: 0")
    config += (
        "services:\n"
        "  postgres: {ports: {5432: 0}}\n"
        "  redis: {ports: {6379: 0}}\n"
        "  mailhog: {ports: {1025: 0, 8025: 0}}\n"
    )
    (dest / "devenv.yaml").write_text(config)
    return dest


def git(root: Path, *args: str) -> None:
    """git in a test repository, with a committer set."""
    subprocess.run(
        ["git", "-c", "user.email=t@example.test", "-c", "user.name=t", *args],
        cwd=root,
        check=True,
        capture_output=True,
    )


def sql(name: str, query: str, db: str = "app") -> str:
    """One query through psql in the project's Postgres container; its unaligned output."""
    return subprocess.run(
        ["docker", "exec", f"{name}-postgres-1", "psql", "-U", "app", "-d", db, "-tAc", query],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def databases(name: str) -> list[str]:
    """The project's databases (app…) in name order, less the spare copy of the template that
    `devenv reset` makes ahead in the background (it comes and goes)."""
    found = sql(name, "select datname from pg_database where datname like 'app%' order by 1", "postgres").split()
    return [db for db in found if "__devenv_sp" not in db]


def spare_oid(name: str) -> str:
    """The oid of the complete spare copy of the template, or "" while there is none."""
    return sql(name, "select oid from pg_database where datname like 'app\\_\\_devenv\\_sp\\_%'", "postgres")


def redis(name: str, *args: str) -> str:
    """One command through redis-cli in the project's Redis container; its raw output."""
    return subprocess.run(
        ["docker", "exec", f"{name}-redis-1", "redis-cli", "--raw", *args], capture_output=True, text=True, check=True
    ).stdout.strip()


def killed_at_random(args: list[str], cwd: Path, env: dict[str, str], rng) -> None:
    """`devenv ARGS` started, then SIGKILLed at a moment drawn from ``rng`` (0.2 to 0.9 s in)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "devenv", *args],
        cwd=cwd,
        env={**os.environ, "NO_COLOR": "1", **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(rng.uniform(0.2, 0.9))
    process.send_signal(signal.SIGKILL)
    process.wait()


def status(cwd: Path, env: dict[str, str]) -> dict[str, dict]:
    result = run_devenv("status", "--json", cwd=cwd, env=env)
    assert result.returncode == 0, result.stderr
    return {s["service"]: s for s in json.loads(result.stdout)["services"]}


@pytest.fixture
def project(tmp_path: Path, request: pytest.FixtureRequest):
    """make(config, files) -> (folder, env): a project folder with a devenv.yaml (and files),
    its own project name (in env, as DEVENV_PROJECT_NAME); torn down after the test."""
    made: list[str] = []
    purpose = request.module.__name__.rsplit(".", 1)[-1].removeprefix("test_").replace("_", "")[:8]

    def make(config: str, files: dict[str, str] | None = None) -> tuple[Path, dict[str, str]]:
        name = new_name(purpose)
        made.append(name)
        root = tmp_path / name
        root.mkdir()
        (root / "devenv.yaml").write_text(textwrap.dedent(config).lstrip())
        for file, text in (files or {}).items():
            path = root / file
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(text).lstrip())
        return root, {"DEVENV_PROJECT_NAME": name}

    yield make
    for name in made:
        teardown(name)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark everything under this folder `docker`, so `pytest -m "not docker"` runs unit tests only."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.docker)
