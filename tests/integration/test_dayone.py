"""`.env` on day one: `devenv up` offers to copy .env.example on a terminal, says how elsewhere."""

from __future__ import annotations

import pytest

from tests.integration.conftest import new_name, run_devenv, teardown
from tests.integration.test_shell import in_terminal

CONFIG = "profiles: [postgres]\nservices:\n  postgres: {ports: {5432: 0}}\n"


@pytest.fixture
def project(tmp_path):
    name = new_name("dayone")
    root = tmp_path / name
    root.mkdir()
    (root / "devenv.yaml").write_text(CONFIG)
    (root / ".env.example").write_text("POSTGRES_PASSWORD=from-the-example\n")
    yield root, {"DEVENV_PROJECT_NAME": name}
    teardown(name)


def test_up_on_a_terminal_offers_to_copy_the_example_and_uses_it(project):
    root, env = project
    code, output = in_terminal(["up"], root, env, b"[Y/n]: ", [b"y\r"], timeout=120)
    assert code == 0, output
    assert "No .env here. Copy .env.example to .env" in output
    assert "created .env from .env.example" in output
    assert (root / ".env").read_text() == "POSTGRES_PASSWORD=from-the-example\n"
    # the stack started with the example's password: Postgres' volume holds it from day one
    piped = run_devenv("exec", "postgres", "--", "sh", "-c", 'echo "$POSTGRES_PASSWORD"', cwd=root, env=env)
    assert piped.stdout.strip() == "from-the-example"


def test_up_without_a_terminal_says_how_and_goes_on(project):
    root, env = project
    result = run_devenv("up", cwd=root, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines()[0] == (
        "no .env here: `cp .env.example .env` creates it from the example (then edit its values)"
    )
    assert not (root / ".env").exists()
