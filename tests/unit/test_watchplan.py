"""The change -> action planner of `devenv watch` (pure: no Docker, no watching)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from devenv.reload import ReloadSetup, SourcePath
from devenv.watchplan import Batches, Change, Copy, Sources, merge, plan_batch, plan_initial

ROOT = Path("/work/shop")


def setup(**changes: object) -> ReloadSetup:
    base = ReloadSetup(
        service="api",
        mode="sync",
        paths=(SourcePath(ROOT / "src", "/app/src"), SourcePath(ROOT / "db", "/app/db")),
        dependencies=("/app/node_modules",),
        manifests=(ROOT / "package.json", ROOT / "package-lock.json", ROOT / "Dockerfile"),
        on_change="reload",
        ignore=("node_modules", "*.tmp", "dist"),
        preset="node",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def changed(*paths: str, kind: str = "modified") -> list[Change]:
    return [Change(kind, ROOT / p) for p in paths]  # type: ignore[arg-type]


def everything(path: Path) -> bool:
    return True


# -- paths ------------------------------------------------------------------------------------


def test_a_source_file_maps_to_its_container_path():
    sources = Sources(setup())
    assert sources.container_path(ROOT / "src/routes/x.js") == "/app/src/routes/x.js"
    assert sources.container_path(ROOT / "db/seed.sql") == "/app/db/seed.sql"
    assert sources.container_path(ROOT / "src") == "/app/src"
    assert sources.container_path(ROOT / "README.md") is None  # reaches no container path
    assert sources.container_path(Path("/elsewhere/src/x.js")) is None


def test_the_deepest_source_path_wins():
    nested = setup(paths=(SourcePath(ROOT, "/app"), SourcePath(ROOT / "src", "/srv/code")))
    assert Sources(nested).container_path(ROOT / "src/x.js") == "/srv/code/x.js"
    assert Sources(nested).container_path(ROOT / "lib/x.js") == "/app/lib/x.js"


def test_a_single_file_source_path():
    one = setup(paths=(SourcePath(ROOT / "server.js", "/app/server.js"),))
    assert Sources(one).container_path(ROOT / "server.js") == "/app/server.js"
    assert Sources(one).container_path(ROOT / "server.jsx") is None


# -- ignores ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "src/node_modules/left-pad/index.js",  # the setup's pattern, any folder level
        "src/x.js.tmp",
        "src/dist/bundle.js",
        "src/.x.js.swp",  # vim
        "src/4913",  # vim's probe before a save
        "src/x.js~",  # backups
        "src/x.js___jb_tmp___",  # JetBrains' safe write
        "src/.#x.js",  # Emacs' lock
        "src/.git/HEAD",
        "src/.DS_Store",
    ],
)
def test_ignored_paths_lead_to_nothing(path):
    assert Sources(setup()).container_path(ROOT / path) is None
    assert plan_batch(setup(), changed(path), exists=everything).action == "none"


def test_editor_files_stay_ignored_when_the_setup_lists_its_own_ignores():
    own = setup(ignore=("*.log",))
    assert Sources(own).container_path(ROOT / "src/.x.js.swp") is None
    assert Sources(own).container_path(ROOT / "src/app.log") is None
    assert Sources(own).container_path(ROOT / "src/x.js") == "/app/src/x.js"


def test_a_dependency_folder_in_the_container_is_never_synced_into():
    whole = setup(paths=(SourcePath(ROOT, "/app"),), ignore=())
    assert Sources(whole).container_path(ROOT / "node_modules/pg/index.js") is None
    assert Sources(whole).container_path(ROOT / "index.js") == "/app/index.js"


def test_a_batch_with_ignored_and_real_changes_counts_the_ignored():
    plan = plan_batch(setup(), changed("src/a.js", "src/.a.js.swp", "README.md"), exists=everything)
    assert plan.action == "sync"
    assert plan.changed == (ROOT / "src/a.js",)
    assert plan.ignored == 2


# -- actions ----------------------------------------------------------------------------------


def test_mounted_and_the_app_reloads_itself_means_nothing_to_do_but_say_so():
    plan = plan_batch(setup(mode="mount"), changed("src/a.js"), exists=everything)
    assert plan.action == "reload"
    assert plan.what_changed(ROOT) == "src/a.js changed"


def test_mounted_with_on_change_restart_restarts():
    plan = plan_batch(setup(mode="mount", on_change="restart"), changed("src/a.js"), exists=everything)
    assert plan.action == "restart"


def test_sync_copies_what_exists_and_deletes_what_is_gone():
    gone = {ROOT / "src/old.js"}
    plan = plan_batch(setup(), changed("src/a.js", "src/old.js", "db/seed.sql"), exists=lambda p: p not in gone)
    assert plan.action == "sync"
    assert plan.copies == (Copy(ROOT / "db/seed.sql", "/app/db/seed.sql"), Copy(ROOT / "src/a.js", "/app/src/a.js"))
    assert plan.deletes == ("/app/src/old.js",)
    assert plan.restart is False


def test_sync_with_on_change_restart_restarts_after_copying():
    plan = plan_batch(setup(on_change="restart"), changed("src/a.js"), exists=everything)
    assert (plan.action, plan.restart) == ("sync", True)


def test_a_folder_copied_brings_what_is_below_it_and_a_folder_deleted_goes_whole():
    present = {ROOT / "src/new", ROOT / "src/new/a.js"}
    batch = changed("src/new", "src/new/a.js", "src/gone", "src/gone/b.js", kind="added")
    plan = plan_batch(setup(), batch, exists=lambda p: p in present)
    assert plan.copies == (Copy(ROOT / "src/new", "/app/src/new"),)
    assert plan.deletes == ("/app/src/gone",)


@pytest.mark.parametrize("mode", ["mount", "sync"])
def test_a_manifest_change_rebuilds_whatever_else_changed(mode):
    batch = changed("src/a.js", "package.json", "src/b.js")
    plan = plan_batch(setup(mode=mode), batch, exists=everything)
    assert plan.action == "rebuild"
    assert plan.manifests == (ROOT / "package.json",)
    assert plan.what_changed(ROOT) == "package.json changed"


def test_the_dockerfile_is_a_manifest():
    assert plan_batch(setup(), changed("Dockerfile"), exists=everything).action == "rebuild"


def test_a_deleted_manifest_rebuilds_too():
    plan = plan_batch(setup(), changed("package-lock.json", kind="deleted"), exists=lambda p: False)
    assert plan.action == "rebuild"


def test_the_line_names_a_few_files_and_counts_the_rest():
    plan = plan_batch(setup(), changed("src/a.js", "src/b.js", "src/c.js"), exists=everything)
    assert plan.what_changed(ROOT) == "3 files changed (src/a.js, src/b.js, …)"


# -- bursts -----------------------------------------------------------------------------------


def test_a_burst_of_two_thousand_files_is_one_action():
    batch = changed(*(f"src/f{i}.js" for i in range(2000)), kind="added")
    for mode, on_change, action in (
        ("sync", "reload", "sync"),
        ("sync", "restart", "sync"),
        ("mount", "restart", "restart"),
        ("mount", "reload", "reload"),
    ):
        plan = plan_batch(setup(mode=mode, on_change=on_change), batch, exists=everything)
        assert plan.action == action
    plan = plan_batch(setup(), [*batch, *changed("package-lock.json")], exists=everything)
    assert plan.action == "rebuild"  # a branch switch that changed the lockfile: one rebuild


def test_batches_act_on_a_few_changes_at_once():
    batches = Batches(burst=50, quiet=0.3, longest=10)
    batches.add(changed("src/a.js"), now=1.0)
    assert batches.due(1.0)
    assert [c.path for c in batches.take()] == [ROOT / "src/a.js"]
    assert not batches.due(1.0)
    assert batches.wait(1.0) is None


def test_a_burst_waits_for_quiet_across_the_watchers_batches():
    batches = Batches(burst=50, quiet=0.3, longest=10)
    batches.add(changed(*(f"src/f{i}.js" for i in range(1000))), now=1.0)
    assert not batches.due(1.1)
    assert batches.wait(1.1) == pytest.approx(0.2)
    batches.add(changed(*(f"src/f{i}.js" for i in range(1000, 2000))), now=1.2)  # the switch goes on
    assert not batches.due(1.4)
    assert batches.due(1.5)
    assert len(batches.take()) == 2000


def test_a_burst_that_never_goes_quiet_is_acted_on_after_the_longest_wait():
    batches = Batches(burst=50, quiet=0.3, longest=2)
    for step in range(30):
        batches.add(changed(*(f"src/f{step}-{i}.js" for i in range(60))), now=1.0 + step * 0.1)
        if 1.0 + step * 0.1 >= 3.0:
            assert batches.due(1.0 + step * 0.1)
            break
        assert not batches.due(1.0 + step * 0.1)
    else:
        pytest.fail("never due")


def test_batches_keep_one_change_per_path_a_deletion_then_a_creation_is_a_modification():
    batches = Batches()
    batches.add(changed("src/a.js", kind="deleted"), now=0)
    batches.add(changed("src/a.js", kind="added"), now=0.01)
    assert batches.take() == changed("src/a.js", kind="modified")


def test_merge_a_rename_save_leaves_the_target_and_forgets_the_temporary_file():
    target, temporary = ROOT / "src/a.js", ROOT / "src/.a.js.4f2a"
    raw = {("added", temporary), ("modified", temporary), ("deleted", temporary), ("added", target)}
    merged = merge(raw, exists=lambda p: p == target)  # type: ignore[arg-type]
    assert merged == [Change("added", target)]


def test_merge_a_file_gone_is_deleted_and_one_still_there_is_modified():
    a, b = ROOT / "src/a.js", ROOT / "src/b.js"
    raw = {("deleted", a), ("deleted", b), ("added", b)}
    merged = merge(raw, exists=lambda p: p == b)  # type: ignore[arg-type]
    assert sorted(merged, key=lambda c: c.path) == [Change("deleted", a), Change("modified", b)]


# -- initial sync -----------------------------------------------------------------------------


def test_initial_sync_copies_what_differs_and_deletes_what_the_host_no_longer_has():
    files = {"/app/src/a.js": ROOT / "src/a.js", "/app/src/b.js": ROOT / "src/b.js", "/app/src/c.js": ROOT / "src/c.js"}
    host = {"/app/src/a.js": "1", "/app/src/b.js": "2", "/app/src/c.js": "3"}
    container = {
        "/app/src/a.js": "1",  # the same
        "/app/src/b.js": "old",  # edited while not watching
        "/app/src/gone.js": "9",  # deleted while not watching
        "/app/src/x.js.tmp": "7",  # ignored there: left alone
        "/app/other/y.js": "8",  # not a synced path
    }
    plan = plan_initial(setup(), host, container, files)
    assert plan.copies == (Copy(ROOT / "src/b.js", "/app/src/b.js"), Copy(ROOT / "src/c.js", "/app/src/c.js"))
    assert plan.deletes == ("/app/src/gone.js",)
    assert plan.unchanged == 1
    assert not plan.empty


def test_initial_sync_leaves_dependency_folders_alone():
    whole = setup(paths=(SourcePath(ROOT, "/app"),), ignore=())
    plan = plan_initial(whole, {}, {"/app/node_modules/pg/index.js": "1", "/app/stale.js": "2"}, {})
    assert plan.deletes == ("/app/stale.js",)


def test_initial_sync_with_nothing_changed_is_empty():
    files = {"/app/src/a.js": ROOT / "src/a.js"}
    plan = plan_initial(setup(), {"/app/src/a.js": "1"}, {"/app/src/a.js": "1"}, files)
    assert plan.empty
    assert plan.unchanged == 1


def test_a_restart_or_a_rebuild_waits_for_a_little_quiet_a_sync_does_not():
    batches = Batches(burst=50, quiet=1.0, longest=10)
    batches.add(changed("src/a.js"), now=1.0)  # a save's truncation ...
    assert batches.due(1.0)  # a sync acts at once
    assert not batches.due(1.1, settle=0.25)  # a restart waits: the write may follow
    assert batches.wait(1.1, settle=0.25) == pytest.approx(0.15)
    batches.add(changed("src/a.js"), now=1.2)  # ... and its write: still one batch
    assert not batches.due(1.4, settle=0.25)
    assert batches.due(1.45, settle=0.25)
    assert len(batches.take()) == 1


def test_costly_plans_are_restarts_and_rebuilds():
    costly = {
        (mode, on_change): plan_batch(
            setup(mode=mode, on_change=on_change), changed("src/a.js"), exists=everything
        ).costly
        for mode in ("mount", "sync")
        for on_change in ("reload", "restart")
    }
    assert costly == {
        ("mount", "reload"): False,
        ("mount", "restart"): True,
        ("sync", "reload"): False,
        ("sync", "restart"): True,
    }
    assert plan_batch(setup(), changed("package.json"), exists=everything).costly
