"""`devenv watch`'s pieces that need no engine: the tar it copies into the container, the
folders it watches, the build's share of a rebuild."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

from devenv.reload import ReloadSetup, SourcePath
from devenv.watch import HostWatcher, _Steps, write_archive
from devenv.watchplan import Copy, Sources


def setup(root: Path, **extra: object) -> ReloadSetup:
    return ReloadSetup(
        service="api",
        mode="sync",
        paths=(SourcePath(root / "src", "/app/src"),),
        dependencies=(),
        manifests=(root / "package.json", root / "Dockerfile"),
        on_change="reload",
        ignore=("*.tmp", "node_modules"),
        preset="node",
        **extra,  # type: ignore[arg-type]
    )


def test_the_archive_names_files_by_their_container_path_owned_by_root_and_skips_ignored_ones(tmp_path):
    src = tmp_path / "src"
    (src / "new" / "node_modules").mkdir(parents=True)
    (src / "a.js").write_text("a")
    (src / "a.js").chmod(0o640)
    (src / "new" / "b.js").write_text("b")
    (src / "new" / "c.tmp").write_text("scratch")
    (src / "new" / "node_modules" / "x.js").write_text("dependency")
    buffer = io.BytesIO()
    copies = (Copy(src / "a.js", "/app/src/a.js"), Copy(src / "new", "/app/src/new"), Copy(src / "gone.js", "/x"))
    count = write_archive(buffer, copies, Sources(setup(tmp_path)))
    buffer.seek(0)
    with tarfile.open(fileobj=buffer) as tar:
        members = {m.name: m for m in tar.getmembers()}
        assert sorted(members) == ["app/src/a.js", "app/src/new", "app/src/new/b.js"]
        assert tar.extractfile("app/src/new/b.js").read() == b"b"  # type: ignore[union-attr]
    assert count == 2  # files; the folder entry and the file that went away do not count
    assert members["app/src/a.js"].mode & 0o777 == 0o640
    assert {(m.uid, m.gid, m.uname) for m in members.values()} == {(0, 0, "root")}


def test_sources_recursively_and_the_manifests_folders_flat(tmp_path):
    (tmp_path / "src" / "lib").mkdir(parents=True)
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "app.ini").write_text("")
    ws_setup = setup(tmp_path)
    ws_setup = ReloadSetup(
        **{**ws_setup.__dict__, "paths": (*ws_setup.paths, SourcePath(tmp_path / "config" / "app.ini", "/app/app.ini"))}
    )
    watcher = HostWatcher(ws_setup, lambda path: True, force_polling=False)
    try:
        # src/ with what is below it; the project folder (manifests) and config/ (a file) alone
        assert watcher.roots == [tmp_path / "src", tmp_path, tmp_path / "config"]
    finally:
        watcher.end()


def test_the_build_share_of_a_rebuild_is_from_building_to_starting():
    times = iter([10.0, 24.5])
    steps = _Steps(lambda: next(times))
    steps.step("building api")
    steps.step("starting api, postgres")
    assert steps.build_seconds() == 14.5
    assert _Steps(lambda: 0.0).build_seconds() is None
