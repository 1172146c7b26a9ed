"""`devenv logs SERVICE`'s head start: which command lines are guessed and how, and that the
engine hands the stream started early over only to the same request."""

from __future__ import annotations

import os
import subprocess
import sys
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
    assert logs_early.run(["logs", "api"]) is None  # nothing to read: nothing started, no error
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


# -- the project's names, remembered ---------------------------------------------------------
def _aged(*paths: Path) -> None:
    for path in paths:  # changed long ago (a change in the last 2 s is not remembered)
        os.utime(path, ns=(1_700_000_000_000_000_000, 1_700_000_000_000_000_000))


def test_names_are_recalled_only_while_what_they_came_from_is_unchanged(project, monkeypatch):
    config, extra = project / "devenv.yaml", project / "services.yaml"
    extra.write_text("services: {}\n")
    _aged(config, extra)
    names = logs_early.Names("shop", {"api": "shop-api-1", "postgres": "shop-db"})
    env = {"DEVENV_PROJECT_NAME": "shop"}
    logs_early.remember(project, [config, extra], names, env)
    assert logs_early.recall(project, env) == names
    assert logs_early.recall(project, {}) is None  # the name came from the environment
    assert logs_early.recall(project, {"DEVENV_PROJECT_NAME": "other"}) is None
    monkeypatch.setattr(logs_early, "__version__", "9.9")
    assert logs_early.recall(project, env) is None  # another devenv
    monkeypatch.undo()
    extra.write_text("services: {worker: {}}\n")  # a compose file changed
    assert logs_early.recall(project, env) is None
    _aged(extra)
    logs_early.remember(project, [config, extra], names, env)
    assert logs_early.recall(project, env) == names
    extra.unlink()
    assert logs_early.recall(project, env) is None


def test_names_from_files_changed_a_moment_ago_are_not_remembered(project):
    config = project / "devenv.yaml"
    logs_early.remember(project, [config], logs_early.Names("shop", {"api": "shop-api-1"}), {})
    assert not (project / ".devenv" / logs_early.RECORD).exists()


def test_an_interpolated_container_name_is_left_to_the_project(project):
    _aged(project / "devenv.yaml")
    logs_early.remember(project, [project / "devenv.yaml"], logs_early.Names("shop", {"api": "${NAME}"}), {})
    assert logs_early.recall(project, {}) is None


def test_logs_loads_the_project_once_then_uses_the_names_it_remembered(project, monkeypatch, capsys):
    from devenv import cli
    from devenv.commands import context
    from tests.conftest import FakeEngine

    (project / "devenv.yaml").write_text("name: shop\nprofiles: [redis]\n")
    _aged(project / "devenv.yaml")
    fake = FakeEngine()
    fake.log_lines = {"shop-redis-1": [("stdout", "2025-01-31T09:00:00.000000001Z ready")]}
    monkeypatch.setattr(context, "make_engine", lambda: fake)
    monkeypatch.chdir(project)
    loads = []
    real = context.workspace
    monkeypatch.setattr(context, "workspace", lambda **kw: loads.append(kw) or real(**kw))
    for _ in range(2):
        assert cli.main(["logs", "redis"]) == 0
        assert capsys.readouterr().out == "redis | ready\n"
    assert len(loads) == 1
    assert cli.main(["logs", "nope"]) == 2  # not among the names: the project is loaded to say so
    assert "the services are: redis" in capsys.readouterr().err and len(loads) == 2
    (project / "devenv.yaml").write_text("name: shop\nprofiles: [redis, postgres]\n")
    assert cli.main(["logs", "redis"]) == 0 and len(loads) == 3


# -- the plain form without the CLI ------------------------------------------------------------
@pytest.fixture
def remembered(project: Path, tmp_path: Path, monkeypatch):
    """The project with its names remembered and a stand-in engine on DOCKER_HOST."""
    _aged(project / "devenv.yaml")
    logs_early.remember(project, [project / "devenv.yaml"], logs_early.Names("shop", {"api": "shop-api-1"}), {})
    server = StandIn(tmp_path, frame(1, b"one\n") + frame(2, b"oops\n") + frame(1, b"two\n"))
    monkeypatch.setenv("DOCKER_HOST", f"unix://{server.path}")
    monkeypatch.delenv("DEVENV_PROJECT_NAME", raising=False)
    monkeypatch.chdir(project)
    yield server
    server.close()


def test_the_plain_form_with_its_names_remembered_runs_without_the_cli(remembered, capsys):
    assert logs_early.run(["logs", "api", "--tail", "5"]) == 0
    assert capsys.readouterr().out == "api | one\napi ! oops\napi | two\n"
    assert remembered.requests[-1] == "GET /containers/shop-api-1/logs?stdout=1&stderr=1&tail=5 HTTP/1.0"
    assert logs_early.run(["logs", "api", "--no-prefix"]) == 0
    assert capsys.readouterr()[:2] == ("one\ntwo\n", "oops\n")
    assert logs_early.run(["logs", "worker"]) is None  # not among the names: the CLI says so
    assert logs_early.run(["logs", "api", "-t"]) is None


def test_it_loads_neither_typer_nor_rich_nor_the_project_model(remembered):
    code = (
        "import sys\n"
        "from devenv import logs_early\n"
        "code = logs_early.run(['logs', 'api'])\n"
        "print(code, sorted(m for m in ('typer', 'rich', 'pydantic', 'yaml', 'devenv.cli') if m in sys.modules))\n"
    )
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ))
    assert found.stdout.splitlines()[-1] == "0 []", found.stderr


def test_its_errors_end_as_the_clis_do(remembered, monkeypatch, capsys, tmp_path):
    from devenv import logs_output
    from devenv.errors import EngineError

    monkeypatch.setenv("DEVENV_HOME", str(tmp_path / "home"))  # the crash log

    def broken(*args, **kwargs):
        raise EngineError("docker failed: the log driver cannot be read", hint="see docker logs")

    monkeypatch.setattr(logs_output, "show", broken)
    assert logs_early.run(["logs", "api"]) == 23
    assert "error: docker failed: the log driver cannot be read" in capsys.readouterr().err
    monkeypatch.setattr(logs_output, "show", lambda *a, **k: 1 / 0)
    assert logs_early.run(["logs", "api"]) == 1
    assert "unexpected ZeroDivisionError" in capsys.readouterr().err


def test_every_command_that_loads_the_project_remembers_its_names(project, monkeypatch, capsys):
    from devenv import cli

    (project / "devenv.yaml").write_text("name: shop\nprofiles: [redis]\n")
    _aged(project / "devenv.yaml")
    monkeypatch.chdir(project)
    monkeypatch.delenv("DEVENV_PROJECT_NAME", raising=False)
    assert cli.main(["config"]) == 0
    capsys.readouterr()
    assert logs_early.recall(project) == logs_early.Names("shop", {"redis": "shop-redis-1"})
