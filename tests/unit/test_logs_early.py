"""`devenv logs SERVICE`'s head start: which command lines are guessed and how, and that the
engine hands the stream started early over only to the same request."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from devenv import engine, logs_early
from tests.unit.test_log_stream import StandIn, frame

RENDERED = """# Rendered by devenv from devenv.yaml; do not edit.
name: shop
services:
  api:
    image: shop-api:devenv
  postgres:
    container_name: shop-db
    image: postgres:16-alpine
volumes:
  api:
    name: x
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "devenv.yaml").write_text("profiles: [postgres]\n")
    (tmp_path / ".devenv").mkdir()
    (tmp_path / ".devenv" / "compose.yaml").write_text(RENDERED)
    (tmp_path / "src").mkdir()
    return tmp_path


def guess(argv: list[str], *, terminal: bool = False, **env: str):
    return logs_early.guess_request(argv, terminal, env)


def test_the_plain_form_is_guessed_from_the_rendered_file(project, monkeypatch):
    monkeypatch.chdir(project / "src")  # devenv.yaml is found in a parent folder, as devenv does
    assert guess(["logs", "api"]) == ("shop-api-1", None)
    assert guess(["logs", "--tail", "10", "api", "--no-prefix"]) == ("shop-api-1", 10)
    assert guess(["logs", "-n", "all", "postgres"]) == ("shop-db", None)  # its container_name
    assert guess(["logs", "--tail=0", "api"], DEVENV_PROJECT_NAME="bench") == ("bench-api-1", 0)
    assert guess(["-C", str(project), "logs", "api"]) == ("shop-api-1", None)
    assert guess([f"--directory={project}", "logs", "api"]) == ("shop-api-1", None)


@pytest.mark.parametrize(
    "argv",
    [
        ["logs"],
        ["logs", "api", "postgres"],
        ["logs", "-f", "api"],
        ["logs", "api", "-t"],
        ["logs", "api", "--json"],
        ["logs", "api", "--grep", "x"],
        ["logs", "api", "--since", "10m"],
        ["status", "api"],
        ["--version"],
        [],
    ],
)
def test_anything_else_is_left_to_the_cli(project, monkeypatch, argv):
    monkeypatch.chdir(project)
    assert guess(argv) is None


def test_no_guess_on_a_terminal_or_without_a_rendered_file(project, monkeypatch, tmp_path):
    monkeypatch.chdir(project)
    assert guess(["logs", "api"], terminal=True) is None
    (project / ".devenv" / "compose.yaml").unlink()
    logs_early.start(["logs", "api"])  # nothing to read: nothing started, no error
    assert engine._PREFETCHED == {}
    with pytest.raises(ValueError):
        guess(["logs", "--tail", "-3", "api"])  # start() swallows it: the CLI says what is wrong


def test_the_stream_started_early_serves_only_the_same_request(tmp_path, monkeypatch):
    server = StandIn(tmp_path, frame(1, b"early\n"))
    monkeypatch.setenv("DOCKER_HOST", f"unix://{server.path}")
    try:
        engine.prefetch_logs("shop-api-1", 10)
        early = engine._PREFETCHED[("shop-api-1", None, None, 10)]
        docker = engine.DockerEngine.__new__(engine.DockerEngine)
        assert docker.log_stream("shop-api-1", tail=10) is early
        assert list(early.runs()) == [("stdout", b"early\n")]
        early.end()
        engine.prefetch_logs("shop-api-1", 10)
        stale = engine._PREFETCHED[("shop-api-1", None, None, 10)]
        other = docker.log_stream("shop-api-1", tail=5)  # another request: a new stream, the guess dropped
        assert other is not None and other is not stale and stale._closed
        assert engine._PREFETCHED == {}
        other.end()
        engine.prefetch_logs("shop-api-1", None)
        never = engine._PREFETCHED[("shop-api-1", None, None, None)]
        engine.end_all()  # never asked for: ended on the way out
        assert never._closed and engine._PREFETCHED == {}
        deadline = time.monotonic() + 5
        while len(server.requests) < 4 and time.monotonic() < deadline:  # the stand-in's threads
            time.sleep(0.01)
        assert len(server.requests) == 4
    finally:
        server.close()
        engine.end_all()
