"""Named snapshots without Docker: names, the SQL and Redis plans, the listing, refusals."""

import pytest

from devenv import pgswap, snapshots
from devenv.engine_types import Executed
from devenv.errors import AbortedError, ExitCode, UsageError
from devenv.workspace import open_workspace
from tests.conftest import state
from tests.unit.test_data import CONFIG, FILES, DataEngine


def test_names_are_checked():
    for good in ("s1", "before-migration", "v1.2_rc", "A" * 63):
        assert snapshots.check_name(good) == good
    for bad in ("", "-x", ".hidden", "a/b", "a b", "x" * 64, "é", "a;rm"):
        with pytest.raises(UsageError) as caught:
            snapshots.check_name(bad)
        assert caught.value.code == ExitCode.USAGE


def test_database_names_are_readable_unique_and_fit_postgres_limit():
    name = snapshots.database_name("app", "Before-Migration")
    assert (
        name.startswith("app__devenv_snap_before_migration_")
        and len(name) == len("app__devenv_snap_before_migration_") + 8
    )
    # names that slug alike (case, punctuation) stay apart
    assert snapshots.database_name("app", "a.b") != snapshots.database_name("app", "a-b")
    assert snapshots.database_name("app", "S1") != snapshots.database_name("app", "s1")
    long = snapshots.database_name("d" * 80, "x" * 63)
    assert len(long.encode()) <= pgswap.MAX_NAME
    assert len(snapshots.build_name("d" * 80).encode()) <= pgswap.MAX_NAME
    # never mistaken for a template, a parked branch or a swap's temporary database
    assert "__devenv_tpl_" not in name and "__devenv_br_" not in name


def test_save_copies_with_connections_refused_and_renames_when_complete():
    sql = snapshots.save_sql("app", "app__devenv_snap_s1_x", "devenv:snapshot=s1")
    order = [
        sql.index('ALTER DATABASE "app" ALLOW_CONNECTIONS false'),
        sql.index("pg_terminate_backend"),
        sql.index('CREATE DATABASE "app__devenv_snapnew" TEMPLATE "app"'),
        sql.index('ALTER DATABASE "app" ALLOW_CONNECTIONS true'),
        sql.index('COMMENT ON DATABASE "app__devenv_snapnew"'),
        sql.index('ALTER DATABASE "app__devenv_snapnew" RENAME TO "app__devenv_snap_s1_x"'),
    ]
    assert order == sorted(order)


def test_restore_builds_a_copy_then_swaps_it_in_one_transaction():
    n = pgswap.names("app", "h" * 16)
    sql = snapshots.restore_sql(n, "app__devenv_snap_s1_x", "devenv:seed=h branch=main")
    order = [
        sql.index('CREATE DATABASE "app__devenv_new" TEMPLATE "app__devenv_snap_s1_x"'),
        sql.index("DO $devenv$"),
        sql.index('DROP DATABASE IF EXISTS "app__devenv_old"'),
    ]
    assert order == sorted(order) and sql.count("DO $devenv$") == 1
    assert "devenv:seed=h branch=main" in sql.replace("''", "'")
    assert 'DROP DATABASE IF EXISTS "app__devenv_snapnew"' in snapshots.tidy_sql(n)


def test_redis_scripts_take_the_name_as_an_argument_and_swap_files_before_redis_stops():
    for script in (snapshots.REDIS_SAVE, snapshots.REDIS_RESTORE, snapshots.REDIS_RM):
        assert '"$1' in script or "$1." in script
    restore = snapshots.REDIS_RESTORE
    order = [
        restore.index("CONFIG SET save"),
        restore.index("CONFIG SET appendonly no"),
        restore.index('mv .devenv-restore.rdb "$dump"'),
        restore.index('mv .devenv-aof-new "$adir"'),
    ]
    assert order == sorted(order)
    assert "type b" in restore  # the snapshot becomes the base of a fresh AOF
    save = snapshots.REDIS_SAVE
    assert save.index("SAVE") < save.index("cp ") < save.index('mv ".$1.rdb.tmp" "$1.rdb"')


def test_listing_merges_postgres_and_redis_by_name():
    pg = (
        "app__devenv_snap_b_1|8000000|devenv:snapshot=b created=2026-01-02T00:00:00Z branch=main devenv:seed=h\n"
        "app__devenv_snap_a_2|9000000|devenv:snapshot=a created=2026-01-01T00:00:00Z branch=feature/x\n"
        "app__devenv_snapnew|1|\n"  # never finished: not a snapshot
    )
    redis = "a|100|devenv:snapshot=a created=2026-01-01T00:00:00Z branch=feature/x\nonly-redis|50|created=2026-01-03T00:00:00Z\n"
    found = snapshots.merge(pg, redis)
    assert [s.name for s in found] == ["a", "b", "only-redis"]
    a, b, only = found
    assert (a.postgres_size, a.redis_size, a.size, a.branch, a.stores) == (
        9000000,
        100,
        9000100,
        "feature/x",
        ("postgres", "redis"),
    )
    assert b.stores == ("postgres",) and b.seed == "h" and b.database == "app__devenv_snap_b_1"
    assert only.stores == ("redis",) and only.database == ""


class SnapEngine(DataEngine):
    def __init__(self, pg_rows: str = "", redis_rows: str = "", **kwargs) -> None:
        super().__init__(**kwargs)
        self.snapshots = [[state(s) for s in ("api", "postgres", "redis")]]
        self.pg_rows, self.redis_rows = pg_rows, redis_rows

    def exec(self, container, argv, *, input=None):
        if "__devenv_snap_" in (input or "") and "starts_with" in (input or ""):
            self.calls.append(("exec", container, tuple(argv), input))
            return Executed(0, self.pg_rows, "")
        if len(argv) > 2 and argv[2] == snapshots.REDIS_LIST:
            self.calls.append(("exec", container, tuple(argv), input))
            return Executed(0, self.redis_rows, "")
        return super().exec(container, argv, input=input)


@pytest.fixture
def ws(make_project):
    return open_workspace(make_project(CONFIG, FILES))


ONE = "app__devenv_snap_s1_x|8000000|devenv:snapshot=s1 created=2026-01-01T00:00:00Z branch=main devenv:seed=h\n"


def test_restoring_a_missing_name_lists_the_known_ones(ws):
    engine = SnapEngine(ONE, "s1|100|\n")
    with pytest.raises(UsageError) as caught:
        snapshots.restore(ws, engine, "nope", confirm=lambda question: True)
    assert caught.value.message == "no snapshot named 'nope' in this project"
    assert caught.value.hint == "its snapshots: s1"
    with pytest.raises(UsageError) as none:
        snapshots.remove(ws, SnapEngine(), "nope", confirm=lambda question: True)
    assert none.value.hint.startswith("it has none yet")


def test_restore_and_rm_ask_first_and_touch_nothing_on_no(ws):
    for act in (snapshots.restore, snapshots.remove):
        engine = SnapEngine(ONE, "s1|100|\n")
        with pytest.raises(AbortedError):
            act(ws, engine, "s1", confirm=lambda question: False)
        scripts = [c[3] or "" for c in engine.calls if c[0] == "exec"]
        assert not any("DROP DATABASE" in s or "CREATE DATABASE" in s for s in scripts)
        assert engine.calls[-1][2][2] == snapshots.REDIS_LIST  # nothing after the listing


def test_save_refuses_an_existing_name_without_force(ws):
    with pytest.raises(UsageError) as caught:
        snapshots.save(ws, SnapEngine(ONE), "s1")
    assert "--force" in caught.value.hint


def test_a_project_without_postgres_or_redis_has_nothing_to_snapshot(make_project):
    ws = open_workspace(make_project("name: proj\nprofiles: [mailhog]\n"))
    with pytest.raises(UsageError) as caught:
        snapshots.save(ws, SnapEngine(), "s1")
    assert caught.value.message.startswith("this project has neither postgres nor redis")
