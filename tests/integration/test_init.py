"""`devenv init` on three existing compose projects, then `devenv up` on the real engine: the
api answers, the Postgres init scripts ran, and an edit to the mounted source reloads."""

from __future__ import annotations

import json
import subprocess
import textwrap
import urllib.request
from pathlib import Path

import pytest

from tests.integration.adopt_projects import PROJECTS
from tests.integration.conftest import new_name, run_devenv, status, teardown, wait_for


@pytest.fixture
def adopted(tmp_path: Path):
    made: list[str] = []

    def make(kind: str) -> tuple[Path, dict[str, str], dict[str, str]]:
        spec = PROJECTS[kind]
        root = tmp_path / kind
        for name, text in spec.items():
            if name not in ("user", "database"):
                path = root / name
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(textwrap.dedent(text).lstrip())
        name = new_name(f"init-{kind}")
        made.append(name)
        return root, {"DEVENV_PROJECT_NAME": name}, spec

    yield make
    for name in made:
        teardown(name)
        subprocess.run(["docker", "image", "rm", "-f", f"{name}-worker"], capture_output=True)


def _text(url: str) -> str:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.read().decode()
    except OSError:
        return ""


@pytest.mark.parametrize("kind", sorted(PROJECTS))
def test_init_then_up_brings_the_project_up_with_init_scripts_and_hot_reload(adopted, kind):
    root, env, spec = adopted(kind)
    original = {p: p.read_text() for p in root.rglob("*compose*.y*ml")}
    init = run_devenv("init", cwd=root, env=env)
    assert init.returncode == 0, init.stderr + init.stdout
    assert {p: p.read_text() for p in original} == original  # their compose file is untouched
    up = run_devenv("up", "--json", cwd=root, env=env)
    assert up.returncode == 0, up.stderr
    rows = {row["service"]: row for row in json.loads(up.stdout)["services"]}
    assert rows["api"]["ready"] and rows["postgres"]["ready"]
    if kind == "worker":
        assert rows["worker"]["state"] == "running"
    name = env["DEVENV_PROJECT_NAME"]
    count = subprocess.run(
        [
            "docker",
            "exec",
            f"{name}-postgres-1",
            "psql",
            "-U",
            spec["user"],
            "-d",
            spec["database"],
            "-tAc",
            "select count(*) from items",
        ],
        capture_output=True,
        text=True,
    )
    assert count.stdout.strip() == "2", count.stderr
    url = status(root, env)["api"]["urls"][0]
    assert _text(url) == "version one\n"
    server = root / "src" / "server.js"
    server.write_text(server.read_text().replace("version one", "version two"))
    assert wait_for(lambda: _text(url) == "version two\n", timeout=30), "the edit did not reload"
