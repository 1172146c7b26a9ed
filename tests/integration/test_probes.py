"""The readiness probes against real containers, each published on an engine-chosen loopback port."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator

import pytest

from devenv.probes import ProbeResult, probe_postgres, probe_redis
from tests.integration.conftest import new_name

POSTGRES_ENV = {"POSTGRES_PASSWORD": "secret", "POSTGRES_USER": "app", "POSTGRES_DB": "appdb"}
LOGIN = {"user": "app", "password": "secret", "database": "appdb"}

Run = Callable[..., int]


@pytest.fixture
def run_container() -> Iterator[Run]:
    """Start a container with one port published on 127.0.0.1 (host port from the engine); removed after."""
    names: list[str] = []

    def run(image: str, port: int, env: dict[str, str] | None = None, args: tuple[str, ...] = ()) -> int:
        name = new_name("probe")
        names.append(name)
        env_args = [arg for key, value in (env or {}).items() for arg in ("-e", f"{key}={value}")]
        subprocess.run(
            ["docker", "run", "-d", "--rm", "--name", name, "-p", f"127.0.0.1::{port}", *env_args, image, *args],
            check=True,
            capture_output=True,
            text=True,
            timeout=60,
        )
        mapping = subprocess.run(
            ["docker", "port", name, f"{port}/tcp"], check=True, capture_output=True, text=True, timeout=30
        ).stdout.split()[0]
        return int(mapping.rsplit(":", 1)[1])

    yield run
    for name in names:
        subprocess.run(["docker", "rm", "-f", "--volumes", name], check=False, capture_output=True, timeout=60)


def poll(probe: Callable[[], ProbeResult], timeout: float = 15) -> list[ProbeResult]:
    """Every result until the first ok or fatal one (or the timeout)."""
    results: list[ProbeResult] = []
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        results.append(result)
        if result.ok or result.fatal or time.monotonic() > deadline:
            return results
        time.sleep(0.1)


def test_postgres_goes_from_not_ready_to_ready_and_stays(run_container: Run) -> None:
    port = run_container("postgres:16-alpine", 5432, POSTGRES_ENV)
    results = poll(lambda: probe_postgres("127.0.0.1", port, **LOGIN))
    seen = [r.detail for r in results]
    assert not results[0].ok, seen  # a fresh container is still running initdb
    assert results[-1] == ProbeResult(True, "accepting connections"), seen
    assert not any(r.fatal for r in results), seen
    # ok only once real logins work: the next ones work too (not the init-time temporary server)
    for _ in range(5):
        assert probe_postgres("127.0.0.1", port, **LOGIN) == ProbeResult(True, "accepting connections")
        time.sleep(0.1)


def test_postgres_wrong_password_is_fatal(run_container: Run) -> None:
    port = run_container("postgres:16-alpine", 5432, POSTGRES_ENV)
    assert poll(lambda: probe_postgres("127.0.0.1", port, **LOGIN))[-1].ok
    result = probe_postgres("127.0.0.1", port, user="app", password="not-the-secret", database="appdb")
    assert not result.ok and result.fatal
    assert 'password authentication failed for user "app"' in result.detail
    assert "not-the-secret" not in result.detail


def test_postgres_missing_database_is_fatal(run_container: Run) -> None:
    port = run_container("postgres:16-alpine", 5432, POSTGRES_ENV)
    assert poll(lambda: probe_postgres("127.0.0.1", port, **LOGIN))[-1].ok
    result = probe_postgres("127.0.0.1", port, user="app", password="secret", database="nodb")
    assert result == ProbeResult(False, 'database "nodb" does not exist', fatal=True)


def test_redis_pong(run_container: Run) -> None:
    port = run_container("redis:7-alpine", 6379)
    results = poll(lambda: probe_redis("127.0.0.1", port))
    assert results[-1] == ProbeResult(True, "PONG"), [r.detail for r in results]


def test_redis_with_a_password(run_container: Run) -> None:
    port = run_container("redis:7-alpine", 6379, args=("redis-server", "--requirepass", "pw"))
    assert poll(lambda: probe_redis("127.0.0.1", port, password="pw"))[-1].ok
    without = probe_redis("127.0.0.1", port)
    assert not without.ok and without.fatal and without.detail.startswith("NOAUTH")
    wrong = probe_redis("127.0.0.1", port, password="nope")
    assert not wrong.ok and wrong.fatal and wrong.detail.startswith("WRONGPASS")
