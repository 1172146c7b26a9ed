"""shell, exec, open and completion through the real app with the fake engine."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from typer._completion_shared import get_completion_script

from devenv import cli, shell
from devenv.commands import context
from devenv.errors import ExitCode
from tests.conftest import FakeEngine, state

CONFIG = (
    "name: proj\nprofiles: [postgres, redis, mailhog]\n"
    "services:\n  postgres: {ports: {5432: 0}}\n  redis: {ports: {6379: 0}}\n  mailhog: {ports: {1025: 0, 8025: 0}}\n"
)


@pytest.fixture
def project(make_project, monkeypatch):
    root = make_project(CONFIG)
    fake = FakeEngine([[state("postgres", ports={5432: 40001}), state("mailhog", ports={8025: 40002, 1025: 40003})]])
    monkeypatch.setattr(context, "make_engine", lambda: fake)
    return root, fake


def run(capsys, *argv):
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_shell_opens_psql_as_the_apps_user_in_its_database(capsys, project):
    root, fake = project
    code, _, _ = run(capsys, "-C", str(root), "shell", "postgres")
    assert code == 0
    [(_, container, command, tty)] = fake.called("attach")
    assert container == "proj-postgres-1"
    assert command[:2] == ("sh", "-c") and command[2].startswith('exec psql -U "${POSTGRES_USER')
    assert tty is False  # pytest's stdin is no terminal: docker exec -i


def test_clients_per_service():
    assert shell.client_command("redis") == ["redis-cli"]
    assert shell.client_command("api") == shell.client_command("worker") == shell.SHELL
    assert "exec bash" in shell.SHELL[2] and "exec sh" in shell.SHELL[2]


def test_exec_passes_the_exit_code_through(capsys, project):
    root, fake = project
    fake.attach_code = 7
    code, _, _ = run(capsys, "-C", str(root), "exec", "postgres", "--", "sh", "-c", "exit 7")
    assert code == 7
    assert fake.called("attach")[0][2] == ("sh", "-c", "exit 7")


def test_a_service_that_is_not_running_or_does_not_exist(capsys, project):
    root, _ = project
    code, _, err = run(capsys, "-C", str(root), "shell", "redis")
    assert code == ExitCode.NOT_RUNNING == 42
    assert err.splitlines() == ["error: redis is not running", "hint: start it with `devenv up`"]
    code, _, err = run(capsys, "-C", str(root), "exec", "nope", "--", "true")
    assert code == ExitCode.USAGE
    assert err.splitlines() == ["error: proj has no service 'nope'", "hint: its services: mailhog, postgres, redis"]


def test_open_prints_the_url_where_no_browser_can_open(capsys, project, monkeypatch):
    root, _ = project
    monkeypatch.setattr(shell, "has_browser", lambda: False)
    code, out, _ = run(capsys, "-C", str(root), "open")
    assert (code, out) == (0, "http://127.0.0.1:40002/\n")  # no api here: Mailhog's UI
    code, _, err = run(capsys, "-C", str(root), "open", "postgres")
    assert code == ExitCode.USAGE and err.startswith("error: postgres has no web page to open")


@pytest.mark.parametrize(
    ("env", "platform", "expected"),
    [
        ({}, "linux", False),
        ({"DISPLAY": ":0"}, "linux", True),
        ({"WAYLAND_DISPLAY": "wayland-0"}, "linux", True),
        ({"BROWSER": "firefox"}, "linux", True),
        ({}, "darwin", True),
        ({}, "win32", True),
    ],
)
def test_has_browser(env, platform, expected):
    assert shell.has_browser(env, platform) is expected


@pytest.mark.parametrize("sh", ["bash", "zsh", "fish"])
def test_completion_scripts_for_each_shell(sh):
    script = get_completion_script(prog_name="devenv", complete_var="_DEVENV_COMPLETE", shell=sh)
    assert "_DEVENV_COMPLETE" in script and "devenv" in script


def _complete(root, words: str, cword: int) -> list[str]:
    env = {**os.environ, "_DEVENV_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": str(cword)}
    result = subprocess.run(
        [sys.executable, "-m", "devenv"], cwd=root, env=env, capture_output=True, text=True, check=True
    )
    return result.stdout.split()


def test_completion_of_commands_and_service_names(make_project):
    root = make_project(CONFIG)
    assert _complete(root, "devenv sh", 1) == ["shell"]
    assert _complete(root, "devenv shell ", 2) == ["mailhog", "postgres", "redis"]
    assert _complete(root, "devenv exec r", 2) == ["redis"]
    assert _complete(root, "devenv doctor --j", 2) == ["--json"]


def test_completion_outside_a_project_offers_no_services(tmp_path):
    assert _complete(tmp_path, "devenv shell ", 2) == []
