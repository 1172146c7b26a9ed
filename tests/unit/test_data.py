"""Migrations and seeds without Docker: the plan and its hash, the record, the hook, `devenv seed`."""

import pytest

from devenv import data, hooks
from devenv.commands import context
from devenv.engine_types import Executed
from devenv.errors import ConfigError, ExitCode, SeedFailedError
from devenv.workspace import open_workspace
from tests.conftest import FakeEngine, state

CONFIG = """
name: proj
profiles: [api, postgres, redis]
data:
  migrate: npm run migrate
  seeds:
    - sql: db/seed.sql
    - run: [node, scripts/seed.js]
    - redis:
        - SET feature:checkout on
        - SET greeting hello
"""
FILES = {"Dockerfile": "FROM scratch\n", "db/seed.sql": "INSERT INTO t VALUES (1);\n"}
RUNNING = [state(s) for s in ("api", "postgres", "redis")]


class DataEngine(FakeEngine):
    """The fake engine, answering psql and redis-cli the way their containers do."""

    def __init__(self, record: str = "", answers: dict[str, Executed] | None = None) -> None:
        super().__init__([RUNNING])
        self.record = record
        self.answers = answers or {}

    def exec(self, container, argv, *, input=None):
        self.calls.append(("exec", container, tuple(argv), input))
        if "shobj_description" in (input or ""):
            return Executed(0, f"{self.record}\n", "")
        for marker, answer in self.answers.items():
            if marker in (input or "") or marker in " ".join(argv):
                return answer
        return Executed(0, "", "")

    def run_once(self, files, service, argv):
        self.calls.append(("run_once", service, tuple(argv)))
        return self.answers.get(" ".join(argv), Executed(0, "", ""))


@pytest.fixture
def ws(make_project):
    return open_workspace(make_project(CONFIG, FILES))


def ready(ws, engine):
    return hooks.Ready(ws, engine, ("api", "postgres", "redis"), tuple(RUNNING), ())


def steps_run(engine):
    """What ran, in order, without the record's reads and writes."""
    found = []
    for call in engine.calls:
        if call[0] == "run_once":
            found.append(("api", call[2]))
        elif call[0] == "exec" and "redis-cli" in call[2] and "--no-raw" in call[2]:
            found.append(("redis", call[3]))
        elif call[0] == "exec" and "psql" in call[2] and not _record(call[3] or "") and not _own(call[2]):
            found.append(("postgres", call[3]))
    return found


def _own(argv: tuple[str, ...]) -> bool:
    """devenv's own scripts (repair, the template) run on the maintenance database."""
    return argv[argv.index("-d") + 1] == "postgres"


def _record(sql: str) -> bool:
    return "devenv:seed" in sql or "shobj_description" in sql


def test_the_plan_is_migrate_then_the_seeds_in_order(ws):
    plan = data.seed_plan(ws)
    assert [(s.kind, s.label) for s in plan.steps] == [
        ("migrate", "npm run migrate"),
        ("sql", "db/seed.sql"),
        ("run", "node scripts/seed.js"),
        ("redis", "redis: SET feature:checkout on"),
    ]
    assert plan.steps[0].argv == ("sh", "-c", "npm run migrate")  # a string runs through a shell
    assert plan.steps[2].argv == ("node", "scripts/seed.js")  # a list runs as it is
    assert plan.steps[3].text == "SET feature:checkout on\nSET greeting hello"
    assert plan.record_in == "postgres"
    assert plan.services == ("api", "postgres", "redis")


def test_the_hash_follows_the_sql_files_content_and_nothing_else(ws, make_project):
    before = data.seed_plan(ws).hash
    assert data.seed_plan(open_workspace(ws.project.root)).hash == before  # same inputs, same hash
    (ws.project.root / "db" / "seed.sql").write_text("INSERT INTO t VALUES (2);\n")
    changed = data.seed_plan(open_workspace(ws.project.root)).hash
    assert changed != before
    config = ws.project.config_path.read_text()
    ws.project.config_path.write_text(config.replace("name: proj", "name: proj\ntimeout: 90"))
    assert data.seed_plan(open_workspace(ws.project.root)).hash == changed  # unrelated keys don't count
    ws.project.config_path.write_text(config.replace("greeting hello", "greeting hi"))
    assert data.seed_plan(open_workspace(ws.project.root)).hash not in (before, changed)


def test_a_missing_sql_file_names_the_line_in_devenv_yaml(make_project):
    root = make_project(CONFIG, {"Dockerfile": "FROM scratch\n"})
    with pytest.raises(ConfigError) as caught:
        data.seed_plan(open_workspace(root))
    assert caught.value.message.startswith(f"{root / 'devenv.yaml'}:6: data.seeds.0.sql: cannot read db/seed.sql")


def test_a_step_needs_its_service_in_the_profiles(make_project):
    root = make_project("name: proj\nprofiles: [postgres]\ndata:\n  seeds:\n    - redis: [SET a 1]\n")
    with pytest.raises(ConfigError) as caught:
        data.seed_plan(open_workspace(root))
    assert "this redis step needs redis, which the project does not have" in caught.value.message


def test_a_seed_of_two_kinds_is_a_config_error(make_project):
    root = make_project("name: proj\nprofiles: [postgres]\ndata:\n  seeds:\n    - sql: a.sql\n      redis: SET a 1\n")
    with pytest.raises(ConfigError) as caught:
        open_workspace(root)
    assert caught.value.message.endswith(
        "devenv.yaml:5: data.seeds.0: each seed needs exactly one of sql, run or redis"
    )


def test_new_data_is_migrated_and_seeded_in_order_and_recorded(ws):
    engine = DataEngine(record="")
    note = data.after_ready(ready(ws, engine))
    assert note is not None and note.startswith("data: migrated and seeded in ") and note.endswith("(4 steps)")
    assert steps_run(engine) == [
        ("api", ("sh", "-c", "npm run migrate")),
        ("postgres", "INSERT INTO t VALUES (1);\n"),
        ("api", ("node", "scripts/seed.js")),
        ("redis", "SET feature:checkout on\nSET greeting hello\n"),
    ]
    sql_call = next(c for c in engine.calls if c[0] == "exec" and c[3] == "INSERT INTO t VALUES (1);\n")
    assert sql_call[1] == "proj-postgres-1" and "ON_ERROR_STOP=1" in sql_call[2]
    seed_hash = data.seed_plan(ws).hash
    scripts = [c[3] for c in engine.calls if c[0] == "exec" and "psql" in c[2]]
    comment = scripts.index(f"COMMENT ON DATABASE \"app\" IS 'devenv:seed={seed_hash}';")
    template = next(i for i, s in enumerate(scripts) if 'TEMPLATE "app";' in s)
    assert comment < template  # recorded, then kept as the template
    assert f'CREATE DATABASE "app__devenv_tpl_{seed_hash[:12]}" TEMPLATE "app";' in scripts[template]
    assert scripts[template + 1] == 'ALTER DATABASE "app" ALLOW_CONNECTIONS true;\n'  # always opened again
    assert data.remembered(ws.project.root) == data.seed_plan(ws).hash


def test_data_seeded_with_the_same_inputs_is_left_alone(ws):
    engine = DataEngine(record=f"devenv:seed={data.seed_plan(ws).hash}")
    assert data.after_ready(ready(ws, engine)) is None
    assert steps_run(engine) == []


def test_changed_inputs_are_reported_not_run(ws):
    engine = DataEngine(record="devenv:seed=0123456789abcdef")
    note = data.after_ready(ready(ws, engine))
    assert note == "data: the seed inputs changed since this data was seeded; `devenv seed` runs them again on it"
    assert steps_run(engine) == []
    # and a no-op `up` says it too, from devenv's own record, without the engine
    assert data.stale_note(ws) == note


def test_part_of_the_stack_seeds_nothing(ws):
    engine = DataEngine()
    only = hooks.Ready(ws, engine, ("redis",), (state("redis"),), ())
    assert data.after_ready(only) is None and engine.calls == []


def test_a_failing_sql_seed_names_the_file_and_line_with_postgres_message(ws):
    stderr = (
        'psql:<stdin>:3: ERROR:  relation "t" does not exist\nLINE 1: INSERT INTO t VALUES (1);\n'
        "                    ^\n"
    )
    engine = DataEngine(answers={"INSERT INTO t": Executed(3, "", stderr)})
    with pytest.raises(SeedFailedError) as caught:
        data.after_ready(ready(ws, engine))
    assert caught.value.message == 'seed db/seed.sql:3: relation "t" does not exist'
    assert "LINE 1: INSERT INTO t VALUES (1);" in caught.value.details
    assert caught.value.code == ExitCode.SEED_FAILED
    assert "the stack is left running" in caught.value.hint
    assert not any("COMMENT ON" in (c[3] or "") for c in engine.calls if c[0] == "exec")  # not recorded


def test_a_failing_migrate_names_the_command_and_its_output(ws):
    engine = DataEngine(answers={"sh -c npm run migrate": Executed(1, "", "migrate failed: boom\n")})
    with pytest.raises(SeedFailedError) as caught:
        data.after_ready(ready(ws, engine))
    assert caught.value.message == "migrate `npm run migrate` failed (exit code 1)"
    assert caught.value.details == "migrate failed: boom"


def test_a_failing_redis_command_is_named(ws):
    engine = DataEngine(answers={"SET feature": Executed(0, "OK\n(error) ERR syntax error\n", "")})
    with pytest.raises(SeedFailedError) as caught:
        data.after_ready(ready(ws, engine))
    assert caught.value.message == "seed redis: SET feature:checkout on: ERR syntax error"


def test_sql_error_parsing():
    assert data.sql_error('psql:<stdin>:12: ERROR:  syntax error at or near ";"\n') == (
        12,
        'syntax error at or near ";"',
    )
    assert data.sql_error("psql: error: connection refused\n") == (None, "error: connection refused")


def test_projects_without_data_get_no_hook(make_project):
    ws = open_workspace(make_project("name: proj\nprofiles: [postgres]\n"))
    assert not data.applies(ws) and data.stale_note(ws) is None


def test_devenv_seed_runs_everything_on_the_running_stack(ws, monkeypatch, capsys):
    from devenv import cli

    engine = DataEngine(record="devenv:seed=0123456789abcdef")
    monkeypatch.setattr(context, "make_engine", lambda: engine)
    code = cli.main(["-C", str(ws.project.root), "seed"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert out.startswith("✔ proj: migrated and seeded in ") and "(4 steps)" in out
    assert len(steps_run(engine)) == 4


def test_devenv_seed_needs_the_stack_running(ws, monkeypatch, capsys):
    from devenv import cli

    engine = DataEngine()
    engine.snapshots = [[state("api")]]
    monkeypatch.setattr(context, "make_engine", lambda: engine)
    code = cli.main(["-C", str(ws.project.root), "seed"])
    _, err = capsys.readouterr()
    assert code == ExitCode.NOT_RUNNING
    assert err.splitlines()[:2] == [
        "error: postgres, redis are not running",
        "hint: start the stack first: `devenv up`",
    ]


def test_init_scripts_mounted_for_postgres_are_its_seed(make_project):
    root = make_project(
        "name: proj\nprofiles: [postgres]\nservices:\n  postgres:\n"
        '    volumes: ["./db/init:/docker-entrypoint-initdb.d:ro"]\n',
        {"db/init/01.sql": "CREATE TABLE t (n int);\n", "db/init/02.sh": "echo hi\n"},
    )
    ws = open_workspace(root)
    plan = data.seed_plan(ws)
    assert plan.init and plan.steps == () and plan.record_in == "postgres"
    assert data.applies(ws)
    (root / "db" / "init" / "01.sql").write_text("CREATE TABLE t (n bigint);\n")
    assert data.seed_plan(open_workspace(root)).hash != plan.hash  # the scripts' content is the key
    # a single file, the long syntax, a named volume, and no mount at all
    service = {
        "volumes": [
            {"type": "bind", "source": str(root / "db/init/02.sh"), "target": "/docker-entrypoint-initdb.d/x.sh"}
        ]
    }
    assert data.init_scripts(service, root) == [("/docker-entrypoint-initdb.d/x.sh", b"echo hi\n")]
    assert data.init_scripts({"volumes": ["seed:/docker-entrypoint-initdb.d"]}, root) == [
        ("/docker-entrypoint-initdb.d", b"")
    ]
    assert data.init_scripts({"volumes": ["pg:/var/lib/postgresql/data"]}, root) is None
    plain = open_workspace(make_project("name: plain\nprofiles: [postgres]\n", folder="plain"))
    assert not data.seed_plan(plain).init and data.seed_plan(plain).steps == ()
    assert data.init_hash([]) != data.plan_hash([])


def test_the_database_is_the_one_the_postgres_container_was_made_with(make_project, monkeypatch):
    monkeypatch.delenv("POSTGRES_USER", raising=False)
    monkeypatch.delenv("POSTGRES_DB", raising=False)
    defaults = open_workspace(make_project(CONFIG, FILES))
    assert data.database(defaults, "c") == data.Database("c", "app", "app")  # the profile's defaults
    monkeypatch.setenv("POSTGRES_USER", "from-shell")  # the profile's ${POSTGRES_USER:-app} is filled
    assert data.database(open_workspace(defaults.project.root), "c").user == "from-shell"

    adopted = CONFIG + "services:\n  postgres:\n    environment: {POSTGRES_USER: shop, POSTGRES_DB: shopdb}\n"
    assert data.database(open_workspace(make_project(adopted, FILES)), "c") == data.Database("c", "shop", "shopdb")
