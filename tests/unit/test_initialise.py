"""`devenv init` on a corpus of compose projects written in the styles real projects use.

Each case in tests/fixtures/test_init/<case>/input is adopted; what init would write (and
what it says it mapped and left) is compared with <case>/expected. UPDATE_GOLDEN=1 rewrites
the expected files after an intended change (review the diff). Every written devenv.yaml must
also load and assemble."""

import os
import shutil
from pathlib import Path

import pytest

from devenv.errors import ExitCode, NoProjectError, ProjectExistsError
from devenv.initialise import plan, write
from devenv.workspace import open_workspace

CORPUS = Path(__file__).parent.parent / "fixtures" / "test_init"
CASES = sorted(p.name for p in CORPUS.iterdir() if (p / "input").is_dir())


@pytest.mark.parametrize("case", CASES)
def test_init_adopts_the_project(case, tmp_path):
    folder = tmp_path / case
    shutil.copytree(CORPUS / case / "input", folder)
    result = plan(folder, name=case.replace("_", "-"))
    # stored under names git keeps (.env is ignored): ".env" as "dotenv"
    outputs = {name.replace(".env", "dotenv"): text for name, text in result.files.items()}
    outputs["said.txt"] = "\n".join([*result.mapped, *(f"! {line}" for line in result.left)]) + "\n"
    expected = CORPUS / case / "expected"
    if os.environ.get("UPDATE_GOLDEN"):
        shutil.rmtree(expected, ignore_errors=True)
        expected.mkdir()
        for name, text in outputs.items():
            (expected / name).write_text(text)
    assert {p.name: p.read_text() for p in expected.iterdir()} == outputs
    write(result, force=False)
    ws = open_workspace(folder)  # the result loads and assembles
    assert ws.name == case.replace("_", "-")


def test_init_never_overwrites_a_devenv_yaml_without_force(tmp_path):
    shutil.copytree(CORPUS / "a_worker_next_to_the_api" / "input", tmp_path, dirs_exist_ok=True)
    (tmp_path / "devenv.yaml").write_text("name: mine\n")
    result = plan(tmp_path)
    with pytest.raises(ProjectExistsError) as info:
        write(result, force=False)
    assert info.value.code == ExitCode.PROJECT_EXISTS
    assert (tmp_path / "devenv.yaml").read_text() == "name: mine\n"
    write(result, force=True)
    assert "compose.devenv.yaml" in (tmp_path / "devenv.yaml").read_text()


def test_init_keeps_the_users_compose_file_and_dotenv_and_adds_only_missing_secrets(tmp_path):
    shutil.copytree(CORPUS / "v2_version_key" / "input", tmp_path, dirs_exist_ok=True)
    original = (tmp_path / "docker-compose.yml").read_text()
    (tmp_path / ".env").write_text("# mine\nOTHER=1")
    write(plan(tmp_path), force=False)
    assert (tmp_path / "docker-compose.yml").read_text() == original
    assert (tmp_path / ".env").read_text() == "# mine\nOTHER=1\nPOSTGRES_PASSWORD=s3cret\n"
    assert "s3cret" not in (tmp_path / "devenv.yaml").read_text()


def test_a_new_dotenv_is_private(tmp_path):
    shutil.copytree(CORPUS / "v2_version_key" / "input", tmp_path, dirs_exist_ok=True)
    write(plan(tmp_path), force=False)
    assert (tmp_path / ".env").stat().st_mode & 0o777 == 0o600


def test_nothing_to_adopt(tmp_path):
    with pytest.raises(NoProjectError, match="nothing to adopt"):
        plan(tmp_path)
