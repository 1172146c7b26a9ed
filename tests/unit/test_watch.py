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


class _Engine:
    """The api running, and what watch asked of it."""

    def __init__(self) -> None:
        from devenv.engine_types import ServiceState

        self.api = ServiceState("api", "p-api-1", "running", None, id="c1", image_id="img")
        self.copied: list[list[str]] = []
        self.removed: list[list[str]] = []

    def services(self, project: str) -> list:
        return [self.api]

    def watch(self, project: str, wake: object) -> object:
        class Quiet:
            def take(self) -> bool:
                return False

            def end(self) -> None:
                pass

        return Quiet()

    def checksums(self, container: str, folder: str, skip: list[str]) -> dict[str, str]:
        return {f"{folder}/gone.txt": "0" * 32}

    def copy_into(self, container: str, archive) -> None:
        with tarfile.open(fileobj=archive) as tar:
            self.copied.append(sorted(tar.getnames()))

    def remove_in(self, container: str, paths: list[str]) -> None:
        self.removed.append(paths)


def test_the_loop_syncs_at_start_then_each_change_with_one_line_each(tmp_path, monkeypatch):
    """The whole loop, on real files with watchfiles, against a fake engine (sync mode)."""
    import json
    import threading
    import time

    from devenv import reload
    from devenv.engine_types import EngineInfo
    from devenv.watch import WatchOptions, run
    from devenv.workspace import open_workspace

    monkeypatch.setenv("DEVENV_PROJECT_NAME", "p")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.txt").write_text("a")
    (tmp_path / "Dockerfile").write_text(
        'FROM node:20-alpine\nWORKDIR /app\nCOPY src ./src\nCMD ["node", "src/x.js"]\n'
    )
    (tmp_path / "devenv.yaml").write_text(
        "profiles: [api]\napi:\n  volumes: ['./src:/app/src']\n  reload: {mode: sync, on_change: reload}\n"
    )
    ws = open_workspace(tmp_path)
    setup = reload.setup_for(ws, remote_engine=False)
    record = {"image": "img", "manifests": reload.manifest_hash(setup.manifests, tmp_path)}
    (tmp_path / ".devenv" / "watch.json").write_text(json.dumps(record))  # the image is current

    engine, lines, stop = _Engine(), [], threading.Event()
    options = WatchOptions(out=lines.append, stop=stop, force_polling=False)
    thread = threading.Thread(target=run, args=(ws, engine, EngineInfo("26", (1, 45)), options), daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not any("initial sync" in line for line in lines) and time.monotonic() < deadline:
            time.sleep(0.02)
        (tmp_path / "src" / "b.txt").write_text("b")
        (tmp_path / "src" / ".b.txt.swp").write_text("vim")  # ignored
        while len(lines) < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        stop.set()
        thread.join(timeout=5)
    assert not thread.is_alive()
    assert lines[0].startswith("watching 1 path(s) for api (sync")
    assert "initial sync: synced what changed while not watching (1 copied, 1 deleted)" in lines[1]
    assert "src/b.txt changed · synced into api (1 copied) · " in lines[2]
    assert len(lines) == 3
    assert engine.copied == [["app/src/a.txt"], ["app/src/b.txt"]]
    assert engine.removed == [["/app/src/gone.txt"]]
