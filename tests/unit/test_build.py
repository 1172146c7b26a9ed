import os
from pathlib import Path

from devenv.build import context_fingerprint, ignored


def test_ignore_rules():
    patterns = ["node_modules", "*.log", "!keep.log", "**/.env", "dist/"]
    assert ignored("node_modules", [p.strip("/") for p in patterns])
    assert ignored("node_modules/pg/index.js", patterns)
    assert ignored("debug.log", patterns)
    assert not ignored("keep.log", patterns)
    assert ignored("config/.env", patterns)
    assert not ignored("src/server.js", patterns)


def _touch(path: Path, text: str = "x") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_fingerprint_changes_with_inputs_but_not_ignored_or_mounted_files(tmp_path: Path):
    _touch(tmp_path / "Dockerfile", "FROM x")
    _touch(tmp_path / "package.json", "{}")
    _touch(tmp_path / "src" / "server.js", "a")
    _touch(tmp_path / ".dockerignore", "node_modules\n")
    _touch(tmp_path / "node_modules" / "x.js")
    dockerfile = tmp_path / "Dockerfile"
    mounted = [tmp_path / "src"]
    first = context_fingerprint(tmp_path, dockerfile, mounted)

    _touch(tmp_path / "node_modules" / "y.js")
    _touch(tmp_path / ".devenv" / "state.json", "devenv's own files never count")
    _touch(tmp_path / "src" / "server.js", "changed, but mounted: reloads in place")
    assert context_fingerprint(tmp_path, dockerfile, mounted) == first

    _touch(tmp_path / "package.json", '{"dependencies": {}}')
    second = context_fingerprint(tmp_path, dockerfile, mounted)
    assert second != first
    assert context_fingerprint(tmp_path, dockerfile) != second  # src counts when not mounted


def test_fingerprint_sees_a_touched_file(tmp_path: Path):
    _touch(tmp_path / "Dockerfile")
    before = context_fingerprint(tmp_path, tmp_path / "Dockerfile")
    stat = (tmp_path / "Dockerfile").stat()
    os.utime(tmp_path / "Dockerfile", ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert context_fingerprint(tmp_path, tmp_path / "Dockerfile") != before


def test_env_files_in_the_build_context_are_flagged_unless_ignored(tmp_path: Path):
    from devenv.build import exposed_secrets

    _touch(tmp_path / ".env", "POSTGRES_PASSWORD=x")
    _touch(tmp_path / ".env.local", "X=1")
    _touch(tmp_path / ".env.example", "POSTGRES_PASSWORD=change-me")
    assert exposed_secrets(tmp_path) == [tmp_path / ".env", tmp_path / ".env.local"]
    _touch(tmp_path / ".dockerignore", ".env*\n!.env.example\n")
    assert exposed_secrets(tmp_path) == []
