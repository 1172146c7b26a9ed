"""`devenv check` as a user runs it: the example is clean, each fixture's bad practice is found
once on its line, and --health proves the example's health path answers 503 without Postgres
(on a throwaway copy of the stack, removed after)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.integration.conftest import copy_example, new_name, run_devenv, teardown
from tests.unit.test_check import EXPECTED, FIXTURES


def leftovers(prefix: str) -> list[str]:
    out = subprocess.run(
        ["docker", "ps", "-a", "--format", '{{.Label "com.docker.compose.project"}}'],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    volumes = subprocess.run(
        ["docker", "volume", "ls", "--format", '{{.Label "com.docker.compose.project"}}'],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return [p for p in out + volumes if p.startswith(prefix)]


def test_check_on_the_example_is_clean(tmp_path):
    root = copy_example(tmp_path / "shop")
    result = run_devenv("check", cwd=root, env={"DEVENV_PROJECT_NAME": new_name("check")})
    assert (result.returncode, result.stdout) == (0, "✔ no findings\n"), result.stderr


@pytest.mark.parametrize("fixture", sorted(EXPECTED))
def test_check_on_each_fixture(tmp_path, fixture):
    root = shutil.copytree(FIXTURES / fixture, tmp_path / fixture)
    result = run_devenv("check", "--json", cwd=root)
    data = json.loads(result.stdout)
    assert [(f["rule"], f["severity"], f["where"]) for f in data["findings"]] == EXPECTED[fixture]
    errors = any(severity == "error" for _, severity, _ in EXPECTED[fixture])
    assert result.returncode == (60 if errors else 0), result.stderr


def _health_project(tmp_path: Path, always_ok: bool) -> tuple[Path, dict[str, str], str]:
    name = new_name("check")
    root = copy_example(tmp_path / "shop")
    if always_ok:
        health = root / "src" / "health.js"
        health.write_text(health.read_text().replace("body.status === 'ok' ? 200 : 503", "200"))
    return root, {"DEVENV_PROJECT_NAME": name}, name


def test_check_health_finds_the_example_answers_503_without_postgres(tmp_path):
    root, env, name = _health_project(tmp_path, always_ok=False)
    try:
        result = run_devenv("check", "--health", cwd=root, env=env)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "✔ /health answers 503 with Postgres stopped (a throwaway copy of the stack)" in result.stdout
        assert leftovers(f"{name}-check-") == []
        assert leftovers(name) == []  # the project's own stack was never started
    finally:
        teardown(name)


def test_check_health_finds_a_health_path_that_always_answers_200(tmp_path):
    root, env, name = _health_project(tmp_path, always_ok=True)
    try:
        result = run_devenv("check", "--health", cwd=root, env=env)
        assert result.returncode == 60, result.stdout + result.stderr
        line = next(
            n for n, text in enumerate((root / "devenv.yaml").read_text().splitlines(), 1) if "health_path" in text
        )
        assert (
            f"✖ devenv.yaml:{line}: the health path is not honest: /health still answers 200 with Postgres stopped"
            in result.stdout
        )
        assert leftovers(f"{name}-check-") == []
    finally:
        teardown(name)
