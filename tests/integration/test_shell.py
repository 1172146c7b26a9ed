"""`devenv shell`, `exec`, `open` and completion against real containers; the interactive
clients through a pseudo-terminal, as a user types into them."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.integration.conftest import new_name, run_devenv, teardown

CONFIG = (
    "profiles: [postgres, redis, mailhog]\n"
    "services:\n  postgres: {ports: {5432: 0}}\n  redis: {ports: {6379: 0}}\n  mailhog: {ports: {1025: 0, 8025: 0}}\n"
)


@pytest.fixture(scope="module")
def stack(tmp_path_factory, docker_engine):
    name = new_name("shell")
    root = tmp_path_factory.mktemp("shell") / name
    root.mkdir()
    (root / "devenv.yaml").write_text(CONFIG)
    env = {"DEVENV_PROJECT_NAME": name}
    up = run_devenv("up", cwd=root, env=env)
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        yield root, env
    finally:
        teardown(name)


def in_terminal(
    args: list[str], cwd: Path, env: dict[str, str], prompt: bytes, lines: list[bytes], timeout: float = 60
) -> tuple[int, str]:
    """Run devenv with a pseudo-terminal as its stdin, stdout and stderr; type each of
    ``lines`` when the output ends with ``prompt``; return its exit code (-1: still running at the timeout) and
    everything it wrote."""
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "devenv", *args],
        cwd=cwd,
        env={**os.environ, "NO_COLOR": "1", "TERM": "dumb", **env},
        stdin=follower,
        stdout=follower,
        stderr=follower,
        start_new_session=True,
    )
    os.close(follower)
    output = b""
    deadline = time.monotonic() + timeout
    sent = 0
    seen = 0  # the output's length when the last line was typed
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(leader, 4096)
                except OSError:  # the terminal closed: everyone on it has exited
                    break
                if not chunk:
                    break
                output += chunk
                for _ in range(chunk.count(b"\x1b[6n")):  # a line editor asks where the cursor is
                    os.write(leader, b"\x1b[1;1R")  # as a terminal answers
            if sent < len(lines) and len(output) > seen and output.endswith(prompt):
                os.write(leader, lines[sent])
                sent += 1
                seen = len(output)
            if process.poll() is not None and not ready:
                break
        code = process.wait(timeout=max(1.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        code = -1  # still running: the output says where it hung
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(leader)
    return code, output.decode(errors="replace")


def test_shell_postgres_is_psql_in_the_apps_database(stack):
    root, env = stack
    code, output = in_terminal(
        ["shell", "postgres"],
        root,
        env,
        b"=# ",
        [b"SELECT current_user || '@' || current_database() AS who;\r", b"\\q\r"],
    )
    assert code == 0, output
    assert "app@app" in output


def test_shell_redis_is_redis_cli(stack):
    root, env = stack
    code, output = in_terminal(["shell", "redis"], root, env, b"6379> ", [b"PING\r", b"quit\r"])
    assert code == 0, output
    assert "PONG" in output


def test_exec_passes_the_exit_code_through_with_and_without_a_terminal(stack):
    root, env = stack
    code, _ = in_terminal(["exec", "redis", "--", "sh", "-c", "exit 7"], root, env, b"", [], timeout=30)
    assert code == 7
    piped = run_devenv(
        "exec", "postgres", "--", "psql", "-U", "app", "-d", "app", "-tAc", "SELECT 40+2", cwd=root, env=env
    )
    assert (piped.returncode, piped.stdout.strip()) == (0, "42")
    assert run_devenv("exec", "redis", "--", "sh", "-c", "exit 3", cwd=root, env=env).returncode == 3


def test_shell_of_a_service_that_is_not_running(stack):
    root, env = stack
    result = run_devenv("shell", "api", cwd=root, env=env)
    assert result.returncode == 2, result.stderr  # this project has no api
    assert result.stderr.startswith(f"error: {env['DEVENV_PROJECT_NAME']} has no service 'api'")


def test_open_prints_mailhogs_url_without_a_browser(stack):
    root, env = stack
    clean = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "BROWSER")}
    result = subprocess.run(
        [sys.executable, "-m", "devenv", "open", "mailhog"],
        cwd=root,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("http://127.0.0.1:") and result.stdout.endswith("/\n")


def test_completion_installs_for_bash_and_completes_service_names(stack, tmp_path):
    root, env = stack
    home = {"HOME": str(tmp_path)}
    installed = subprocess.run(
        ["bash", "-c", f"{sys.executable} -m devenv --install-completion bash"],
        cwd=root,
        env={**os.environ, **env, **home},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr
    assert "_DEVENV_COMPLETE" in (tmp_path / ".bash_completions" / "devenv.sh").read_text()
    assert "devenv.sh" in (tmp_path / ".bashrc").read_text()
    completed = subprocess.run(
        [sys.executable, "-m", "devenv"],
        cwd=root,
        env={
            **os.environ,
            **env,
            "_DEVENV_COMPLETE": "complete_bash",
            "COMP_WORDS": "devenv shell p",
            "COMP_CWORD": "2",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.stdout.split() == ["postgres"]
