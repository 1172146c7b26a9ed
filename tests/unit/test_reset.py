"""`devenv reset` and its Postgres swap without Docker: names, the SQL plan, the order of steps."""

import pytest

from devenv import data, pgswap
from devenv.engine_types import Executed
from devenv.errors import AbortedError, ExitCode, NotRunningError, SeedFailedError, UsageError
from devenv.reset import chosen, reset
from devenv.workspace import open_workspace
from tests.conftest import state
from tests.unit.test_data import CONFIG, FILES, DataEngine


def test_names_keep_the_database_name_and_fit_postgres_limit():
    n = pgswap.names("app", "0123456789abcdef")
    assert (n.db, n.template, n.new, n.old) == (
        "app",
        "app__devenv_tpl_0123456789ab",
        "app__devenv_new",
        "app__devenv_old",
    )
    long = "x" * 80
    cut = pgswap.names(long, "0123456789abcdef")
    assert cut.db == long  # the database's own name is never changed
    assert all(len(name.encode()) <= 63 for name in (cut.template, cut.new, cut.old))
    wide = pgswap.names("é" * 40, "0123456789abcdef")  # cut by bytes, on a character boundary
    assert len(wide.template.encode()) <= 63 and wide.template.startswith("é")


def test_names_postgres_refuses_are_quoted_not_mangled():
    n = pgswap.names('my"db', "0123456789abcdef")
    assert pgswap.ident(n.db) == '"my""db"'
    sql = pgswap.swap_sql(n, "devenv:seed=x")
    # the rename runs through EXECUTE of a literal: quotes doubled at both levels
    assert 'ALTER DATABASE "my""db" RENAME TO "my""db__devenv_old"' in sql.replace("''", "'")
    assert pgswap.literal("it's") == "'it''s'"


def test_the_swap_is_one_transaction_that_retries_while_the_database_is_in_use():
    sql = pgswap.swap_sql(pgswap.names("app", "h" * 16), "devenv:seed=h")
    assert sql.count("DO $devenv$") == 1  # one statement: both renames or neither
    body = (
        sql.index("pg_terminate_backend"),
        sql.index('RENAME TO "app__devenv_old"'),
        sql.index('"app__devenv_new" RENAME TO "app"'),
    )
    assert list(body) == sorted(body)  # connections ended, then old out, then new in
    assert "EXCEPTION WHEN object_in_use" in sql and 'COMMENT ON DATABASE "app"' in sql


def test_repair_brings_back_the_old_database_when_the_project_one_is_missing():
    sql = pgswap.repair_sql(pgswap.names("app", "h" * 16))
    assert "ALLOW_CONNECTIONS true" in sql
    assert "RENAME TO %I', 'app__devenv_old', 'app'" in sql
    assert sql.index("RENAME TO") < sql.index('DROP DATABASE IF EXISTS "app__devenv_old"')


def test_the_maintenance_database_is_never_the_project_one():
    assert pgswap.maintenance_db("app") == "postgres"
    assert pgswap.maintenance_db("postgres") == "template1"


@pytest.fixture
def ws(make_project):
    config = CONFIG.replace("profiles: [api, postgres, redis]", "profiles: [api, postgres, redis, mailhog]")
    return open_workspace(make_project(config, FILES))


class ResetEngine(DataEngine):
    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.snapshots = [[state(s) for s in ("api", "postgres", "redis")]]


def psql_scripts(engine):
    return [c[3] for c in engine.calls if c[0] == "exec" and "psql" in c[2]]


def test_services_default_to_every_data_service_and_refuse_others(ws):
    assert chosen(ws, None) == ["postgres", "redis", "mailhog"]
    assert chosen(ws, ["redis", "postgres"]) == ["postgres", "redis"]
    with pytest.raises(UsageError) as caught:
        chosen(ws, ["api"])
    assert caught.value.message == "`devenv reset` cannot reset 'api'"
    assert caught.value.code == ExitCode.USAGE


def test_reset_asks_first_and_touches_nothing_on_no(ws):
    engine = ResetEngine()
    with pytest.raises(AbortedError):
        reset(ws, engine, ["postgres"], confirm=lambda question: False)
    assert engine.called("exec") == []


def test_reset_needs_the_services_running(ws):
    with pytest.raises(NotRunningError) as caught:
        reset(ws, ResetEngine(), None, confirm=lambda question: True)
    assert caught.value.message == "mailhog is not running"


def test_reset_copies_the_template_and_swaps_in_one_call(ws):
    engine = ResetEngine()
    result = reset(ws, engine, ["postgres", "redis"], confirm=lambda question: True)
    assert result.services == ["postgres", "redis"] and not result.rebuilt
    [script] = psql_scripts(engine)
    n = data.names(ws, data.seed_plan(ws))
    order = [
        script.index("ALLOW_CONNECTIONS true"),  # repair first
        script.index(f'ALTER DATABASE "{n.spare}" RENAME TO "{n.new}"'),  # the spare made ahead, when ready
        script.index(f'CREATE DATABASE "{n.new}" TEMPLATE "{n.template}"'),  # else a copy now
        script.index("DO $devenv$"),
    ]
    assert order == sorted(order)
    assert f'DROP DATABASE IF EXISTS "{n.old}"' not in script[script.index("DO $devenv$") :]  # dropped later
    [job] = [c[2] for c in engine.calls if c[0] == "exec" and c[2][:2] == ("sh", "-c")]
    assert job[2].endswith(" >/dev/null 2>&1 &")  # docker exec returns at once
    assert job[5] == pgswap.spare_sql(n)
    spare = job[5]
    assert spare.index(f'"{n.building}" TEMPLATE "{n.template}"') < spare.rindex(f'RENAME TO "{n.spare}"')
    redis = [c[3] for c in engine.calls if c[0] == "exec" and c[1].endswith("redis-1")]
    assert redis == ["FLUSHALL\nSET feature:checkout on\nSET greeting hello\n"]  # one redis-cli
    assert engine.called("run_once") == []  # nothing is migrated or seeded again


def test_without_a_template_reset_rebuilds_it_and_says_so(ws):
    n = data.names(ws, data.seed_plan(ws))
    missing = Executed(3, "", f'psql:<stdin>:9: ERROR:  template database "{n.template}" does not exist\n')
    engine = ResetEngine(answers={'TEMPLATE "' + n.template: missing})
    result = reset(ws, engine, ["postgres"], confirm=lambda question: True)
    assert result.rebuilt and result.notes[0].startswith("the seed inputs changed since the template was made")
    scripts = psql_scripts(engine)
    assert 'TEMPLATE "template0"' in scripts[1] and "DO $devenv$" in scripts[2]
    assert [c[2] for c in engine.called("run_once")] == [("sh", "-c", "npm run migrate"), ("node", "scripts/seed.js")]
    assert any(f'CREATE DATABASE "{n.template}" TEMPLATE "app"' in s for s in scripts)  # kept for the next reset


def test_a_failed_rebuild_swaps_the_previous_database_back(ws):
    n = data.names(ws, data.seed_plan(ws))
    missing = Executed(3, "", f'psql:<stdin>:9: ERROR:  template database "{n.template}" does not exist\n')
    engine = ResetEngine(
        answers={'TEMPLATE "' + n.template: missing, "sh -c npm run migrate": Executed(1, "", "boom\n")}
    )
    with pytest.raises(SeedFailedError):
        reset(ws, engine, ["postgres"], confirm=lambda question: True)
    last = psql_scripts(engine)[-1]
    assert f'ALTER DATABASE "{n.old}" RENAME TO "app"' in last


def test_without_seeds_or_a_template_reset_refuses_to_empty_the_database(make_project):
    ws = open_workspace(make_project("name: proj\nprofiles: [postgres]\n"))
    n = data.names(ws, data.seed_plan(ws))
    missing = Executed(3, "", f'psql:<stdin>:9: ERROR:  template database "{n.template}" does not exist\n')
    engine = ResetEngine(answers={'TEMPLATE "' + n.template: missing})
    engine.snapshots = [[state("postgres")]]
    with pytest.raises(SeedFailedError) as caught:
        reset(ws, engine, None, confirm=lambda question: True)
    assert caught.value.message.startswith("postgres has no seeded state to go back to")
    assert not any('TEMPLATE "template0"' in s for s in psql_scripts(engine))


def test_a_redis_error_in_reset_is_told_by_its_seed(ws):
    failing = Executed(0, "OK\n(error) ERR wrong number of arguments for 'set' command\n", "")
    engine = ResetEngine(answers={"greeting": failing})
    with pytest.raises(SeedFailedError) as caught:
        reset(ws, engine, ["redis"], confirm=lambda question: True)
    assert caught.value.message.startswith("seed redis")  # the step path names the seed
    assert ("redis-cli", "FLUSHALL") in [c[2] for c in engine.calls if c[0] == "exec"]
