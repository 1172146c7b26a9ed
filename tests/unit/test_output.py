"""Output polish: tables end where their text ends; every command's --help shows an example."""

from __future__ import annotations

import pytest
import typer

from devenv import cli, readiness
from devenv.commands import context
from tests.conftest import FakeEngine, FakeProber, state
from tests.unit.conftest import answering

COMMANDS = sorted(typer.main.get_command(cli.app).commands)  # type: ignore[attr-defined]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_commands_help_has_an_example(capsys, command):
    assert cli.main([command, "--help"]) == 0
    assert "Example: devenv " + command in capsys.readouterr().out


def test_status_and_up_tables_have_no_trailing_spaces(capsys, make_project, monkeypatch):
    root = make_project(
        "name: proj\nprofiles: [redis, mailhog]\nservices:\n  redis: {ports: {6379: 0}}\n"
        "  mailhog: {ports: {1025: 0, 8025: 0}}\n"
    )
    running = [state("mailhog", ports={8025: 41003, 1025: 41004}), state("redis", ports={6379: 41002})]
    monkeypatch.setattr(context, "make_engine", lambda: FakeEngine([running]))
    monkeypatch.setattr(readiness, "Prober", FakeProber)
    monkeypatch.setattr(readiness, "check_now", answering)
    for argv in (["status"], ["up"]):
        assert cli.main(["-C", str(root), *argv]) == 0
        out = capsys.readouterr().out
        lines = out.splitlines()
        assert any(line.startswith("redis ") for line in lines), out
        assert [line for line in lines if line != line.rstrip()] == [], out
