"""Migrations and seeds on the real engine, with the example's own: `npm run migrate` in a
one-off api container, db/seed.sql (50,000 orders) and a Redis command."""

from __future__ import annotations

import pytest

from tests.integration.conftest import copy_example, http, new_name, redis, run_devenv, sql, status, teardown


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    name = new_name("data")
    root = copy_example(tmp_path_factory.mktemp("data") / "shop")
    env = {"DEVENV_PROJECT_NAME": name}
    try:
        yield {"name": name, "root": root, "env": env}
    finally:
        teardown(name)


def test_first_up_migrates_and_seeds_and_the_next_ones_do_not(shop):
    name, root, env = shop["name"], shop["root"], shop["env"]
    first = run_devenv("up", cwd=root, env=env)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "data: migrated and seeded in" in first.stdout and "(3 steps)" in first.stdout
    assert sql(name, "select count(*) from orders") == "50000"
    assert sql(name, "select count(*) from customers") == "10000"
    assert sql(name, "select version from schema_migrations") == "001_catalog.sql"
    assert redis(name, "GET", "feature:new-checkout") == "on"

    again = run_devenv("up", cwd=root, env=env)
    assert again.returncode == 0 and "nothing changed" in again.stdout
    assert "data:" not in again.stdout

    # the data outlives the containers, and so does its record: no second seeding
    sql(name, "delete from orders where id <= 10")
    assert run_devenv("down", cwd=root, env=env).returncode == 0
    back = run_devenv("up", cwd=root, env=env)
    assert back.returncode == 0, back.stderr
    assert "data:" not in back.stdout
    assert sql(name, "select count(*) from orders") == "49990"


def test_changed_seed_says_so_and_devenv_seed_runs_it(shop):
    name, root, env = shop["name"], shop["root"], shop["env"]
    seed = root / "db" / "seed.sql"
    seed.write_text(seed.read_text() + "INSERT INTO products (sku, title, price_cents) VALUES ('NEW-1', 'New', 5);\n")
    noop = run_devenv("up", cwd=root, env=env)
    assert noop.returncode == 0 and "nothing changed" in noop.stdout
    assert "the seed inputs changed since this data was seeded; `devenv seed` runs them again" in noop.stdout
    assert sql(name, "select count(*) from products where sku = 'NEW-1'") == "0"  # told, not run

    seeded = run_devenv("seed", cwd=root, env=env)
    assert seeded.returncode == 0, seeded.stderr
    assert f"✔ {name}: migrated and seeded in" in seeded.stdout
    assert sql(name, "select count(*) from products where sku = 'NEW-1'") == "1"
    assert sql(name, "select count(*) from orders") == "50000"
    quiet = run_devenv("up", cwd=root, env=env)
    assert "seed inputs changed" not in quiet.stdout


def test_a_failing_sql_seed_names_file_and_line_and_leaves_the_stack_running(shop):
    root, env = shop["root"], shop["env"]
    (root / "db" / "broken.sql").write_text("SELECT 1;\n\nINSERT INTO nowhere VALUES (1);\nSELECT 2;\n")
    config = (root / "devenv.yaml").read_text()
    (root / "devenv.yaml").write_text(config.replace("    - sql: db/seed.sql\n", "    - sql: db/broken.sql\n"))
    try:
        failed = run_devenv("seed", cwd=root, env=env)
        assert failed.returncode == 43, failed.stdout + failed.stderr
        lines = failed.stderr.splitlines()
        assert lines[0] == 'error: seed db/broken.sql:3: relation "nowhere" does not exist'
        assert lines[-1] == "hint: fix db/broken.sql and run `devenv seed`; the stack is left running"
        rows = status(root, env)
        assert all(row["state"] == "running" for row in rows.values())
        api = next(link for link in rows["api"]["urls"] if link.startswith("http"))
        assert http("GET", api + "health")[0] == 200
    finally:
        (root / "devenv.yaml").write_text(config)


def test_a_failing_seed_on_new_data_fails_up_with_the_stack_running(shop):
    name, root, env = shop["name"], shop["root"], shop["env"]
    assert run_devenv("down", "--volumes", "--yes", cwd=root, env=env).returncode == 0
    (root / "db" / "broken.sql").write_text("SELECT 1;\nSELECT * FROM orders WHERE;\n")
    config = (root / "devenv.yaml").read_text()
    (root / "devenv.yaml").write_text(config.replace("    - sql: db/seed.sql\n", "    - sql: db/broken.sql\n"))
    try:
        up = run_devenv("up", cwd=root, env=env)
        assert up.returncode == 43, up.stdout + up.stderr
        error = next(line for line in up.stderr.splitlines() if line.startswith("error:"))
        assert error.startswith("error: seed db/broken.sql:2: syntax error at or near")
        assert all(row["state"] == "running" for row in status(root, env).values())
        assert sql(name, "select count(*) from schema_migrations") == "1"  # migrate ran before it
    finally:
        (root / "devenv.yaml").write_text(config)
    # fixed: the next up seeds the data that was never seeded
    fixed = run_devenv("up", cwd=root, env=env)
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert "data: migrated and seeded" in fixed.stdout
    assert sql(name, "select count(*) from orders") == "50000"
