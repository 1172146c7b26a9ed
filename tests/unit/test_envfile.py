"""`.env` on day one: the offer to copy .env.example, and what up says without a terminal."""

from __future__ import annotations

import stat

from devenv import cli, envfile, readiness
from devenv.commands import context
from tests.conftest import FakeEngine, FakeProber
from tests.unit.conftest import answering


def offer(root, *, interactive=True, answer=True):
    asked, notes = [], []

    def confirm(question):
        asked.append(question)
        return answer

    copied = envfile.offer_example(root, interactive=interactive, confirm=confirm, note=notes.append)
    return copied, asked, notes


def test_copies_the_example_when_the_user_says_yes(tmp_path):
    (tmp_path / ".env.example").write_text("POSTGRES_PASSWORD=change-me\n")
    copied, asked, notes = offer(tmp_path)
    assert copied and asked == ["No .env here. Copy .env.example to .env (you can edit it after)?"]
    assert (tmp_path / ".env").read_text() == "POSTGRES_PASSWORD=change-me\n"
    assert stat.S_IMODE((tmp_path / ".env").stat().st_mode) == 0o600
    assert notes == ["created .env from .env.example"]


def test_no_leaves_it_and_says_how(tmp_path):
    (tmp_path / ".env.example").write_text("A=1\n")
    copied, _, notes = offer(tmp_path, answer=False)
    assert not copied and not (tmp_path / ".env").exists()
    assert notes == ["going on without .env; `cp .env.example .env` creates it later"]


def test_without_a_terminal_it_only_says_how(tmp_path):
    (tmp_path / ".env.example").write_text("A=1\n")
    copied, asked, notes = offer(tmp_path, interactive=False)
    assert (copied, asked) == (False, [])
    assert notes == ["no .env here: `cp .env.example .env` creates it from the example (then edit its values)"]


def test_nothing_to_offer_with_a_dotenv_or_without_an_example(tmp_path):
    assert offer(tmp_path) == (False, [], [])
    (tmp_path / ".env.example").write_text("A=1\n")
    (tmp_path / ".env").write_text("A=2\n")
    assert offer(tmp_path) == (False, [], [])
    assert (tmp_path / ".env").read_text() == "A=2\n"


def test_up_says_how_before_anything_starts(capsys, make_project, monkeypatch):
    root = make_project("name: proj\nprofiles: [redis]\nservices:\n  redis: {ports: {6379: 0}}\n")
    (root / ".env.example").write_text("A=1\n")
    fake = FakeEngine(ports={"redis": {6379: 41002}})
    monkeypatch.setattr(context, "make_engine", lambda: fake)
    monkeypatch.setattr(readiness, "Prober", FakeProber)
    monkeypatch.setattr(readiness, "check_now", answering)
    assert cli.main(["-C", str(root), "up"]) == 0
    err = capsys.readouterr().err
    assert err.splitlines()[0] == (
        "no .env here: `cp .env.example .env` creates it from the example (then edit its values)"
    )
    assert not (root / ".env").exists()
