"""`devenv reset` on the real engine, with the example's seed (62,000 rows): the data back,
the api answering, a reset killed at random moments, a changed seed, another project left alone."""

from __future__ import annotations

import random
import subprocess
import threading
import time

import pytest

from tests.integration.conftest import (
    copy_example,
    databases,
    http,
    killed_at_random,
    new_name,
    run_devenv,
    spare_oid,
    status,
    teardown,
    wait_for,
)


def sql(name: str, query: str, db: str = "app") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["docker", "exec", f"{name}-postgres-1", "psql", "-U", "app", "-d", db, "-tAc", query],
        capture_output=True,
        text=True,
    )


def count(name: str, table: str) -> str:
    return sql(name, f"select count(*) from {table}").stdout.strip()


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    name = new_name("reset")
    root = copy_example(tmp_path_factory.mktemp("reset") / "shop")
    env = {"DEVENV_PROJECT_NAME": name}
    try:
        up = run_devenv("up", cwd=root, env=env)
        assert up.returncode == 0, up.stdout + up.stderr
        rows = status(root, env)
        api = next(u for u in rows["api"]["urls"] if u.startswith("http"))
        mail = next(u for u in rows["mailhog"]["urls"] if u.startswith("http"))
        yield {"name": name, "root": root, "env": env, "api": api, "mail": mail}
    finally:
        teardown(name)


def test_reset_brings_back_the_seeded_data_while_the_api_keeps_answering(shop):
    name, root, env, api = shop["name"], shop["root"], shop["env"], shop["api"]
    sql(name, "delete from orders where id <= 500; insert into products (sku, title, price_cents) values ('T', 't', 1)")
    code, body = http("POST", api + "signups", {"email": "reset@example.test"})
    assert code == 201 and body["mailed"], body
    subprocess.run(
        ["docker", "exec", f"{name}-redis-1", "redis-cli", "SET", "junk", "1"], check=True, capture_output=True
    )
    assert http("GET", shop["mail"] + "api/v2/messages")[1]["total"] >= 1

    answers: list[int] = []
    done = threading.Event()

    def ask() -> None:
        while not done.is_set():
            try:
                answers.append(http("GET", api + "health", timeout=3)[0])
            except OSError:
                answers.append(0)  # no answer at all: the api went away
            time.sleep(0.05)

    asker = threading.Thread(target=ask)
    asker.start()
    try:
        reset = run_devenv("reset", "--yes", cwd=root, env=env)
        time.sleep(0.5)
    finally:
        done.set()
        asker.join()
    assert reset.returncode == 0, reset.stdout + reset.stderr
    assert reset.stdout.startswith(f"✔ reset postgres, redis, mailhog of {name} in ")
    assert "restarted" not in reset.stderr  # the example's pool reconnects by itself
    assert count(name, "orders") == "50000" and count(name, "products") == "2000" and count(name, "signups") == "0"
    redis = subprocess.run(
        ["docker", "exec", f"{name}-redis-1", "redis-cli", "--raw", "KEYS", "*"], capture_output=True, text=True
    )
    assert redis.stdout.split() == ["feature:new-checkout"]
    assert http("GET", shop["mail"] + "api/v2/messages")[1]["total"] == 0
    # the api process never went away, and it answers with the new database at once
    assert 0 not in answers and answers, answers
    assert wait_for(lambda: http("GET", api + "health")[0] == 200, timeout=10)
    code, body = http("POST", api + "signups", {"email": "again@example.test"})
    assert code == 201, body
    # no leftovers: the project's database and its template only, once the background job
    # that drops the old database (and makes the spare) is done
    assert wait_for(lambda: len(databases(name)) == 2, timeout=15), databases(name)
    names = databases(name)
    assert names[0] == "app" and names[1].startswith("app__devenv_tpl_"), names
    # the next reset renames the spare made ahead into place instead of copying the template
    assert wait_for(lambda: spare_oid(name) != "", timeout=15)
    spare = spare_oid(name)
    assert run_devenv("reset", "--yes", "postgres", cwd=shop["root"], env=shop["env"]).returncode == 0
    assert sql(name, "select oid from pg_database where datname = 'app'", "postgres").stdout.strip() == spare
    assert count(name, "orders") == "50000"


def test_reset_asks_first(shop):
    refused = run_devenv("reset", cwd=shop["root"], env=shop["env"])
    assert refused.returncode == 50 and "add --yes" in refused.stderr


def test_a_reset_killed_at_random_moments_leaves_a_usable_database(shop):
    name, root, env = shop["name"], shop["root"], shop["env"]
    rng = random.Random(7)
    for _ in range(5):
        sql(name, "delete from orders where id <= 10")
        killed_at_random(["reset", "--yes", "postgres"], root, env, rng)
        # whatever moment it died at (a psql it started may still finish its transaction in
        # the container), the database is there and answers with the old data or the new
        assert wait_for(lambda: count(name, "orders") in ("49990", "50000"), timeout=15), sql(name, "select 1")
    again = run_devenv("reset", "--yes", "postgres", cwd=root, env=env)
    assert again.returncode == 0, again.stdout + again.stderr
    assert count(name, "orders") == "50000"
    assert wait_for(lambda: len(databases(name)) == 2, timeout=15), databases(name)  # the old one dropped after


def test_another_projects_data_is_not_touched(shop, tmp_path):
    other = new_name("reset-other")
    root = tmp_path / "other"
    root.mkdir()
    (root / "devenv.yaml").write_text("profiles: [redis]\nservices:\n  redis: {ports: {6379: 0}}\n")
    env = {"DEVENV_PROJECT_NAME": other}
    try:
        assert run_devenv("up", cwd=root, env=env).returncode == 0
        subprocess.run(["docker", "exec", f"{other}-redis-1", "redis-cli", "SET", "mine", "1"], check=True)
        assert run_devenv("reset", "--yes", cwd=shop["root"], env=shop["env"]).returncode == 0
        kept = subprocess.run(
            ["docker", "exec", f"{other}-redis-1", "redis-cli", "GET", "mine"], capture_output=True, text=True
        )
        assert kept.stdout.strip() == "1"
    finally:
        teardown(other)


def test_changed_seed_inputs_rebuild_the_template_and_say_so(shop):
    name, root, env = shop["name"], shop["root"], shop["env"]
    seed = root / "db" / "seed.sql"
    seed.write_text(seed.read_text() + "INSERT INTO products (sku, title, price_cents) VALUES ('NEW-2', 'n', 5);\n")
    rebuilt = run_devenv("reset", "--yes", "postgres", cwd=root, env=env)
    assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr
    assert "the seed inputs changed since the template was made" in rebuilt.stderr
    assert count(name, "products") == "2001"
    sql(name, "delete from products where sku = 'NEW-2'")
    fast = run_devenv("reset", "--yes", "postgres", cwd=root, env=env)
    assert fast.returncode == 0 and "changed" not in fast.stderr
    assert count(name, "products") == "2001"
    quiet = run_devenv("up", cwd=root, env=env)
    assert "seed inputs changed" not in quiet.stdout


def test_without_a_seeded_state_reset_refuses_and_keeps_the_data(tmp_path):
    name = new_name("reset-none")
    root = tmp_path / "plain"
    root.mkdir()
    (root / "devenv.yaml").write_text("profiles: [postgres]\nservices:\n  postgres: {ports: {5432: 0}}\n")
    env = {"DEVENV_PROJECT_NAME": name}
    try:
        assert run_devenv("up", cwd=root, env=env).returncode == 0
        sql(name, "create table kept (n int); insert into kept values (1)")
        refused = run_devenv("reset", "--yes", cwd=root, env=env)
        assert refused.returncode == 43, refused.stdout + refused.stderr
        assert refused.stderr.startswith("error: postgres has no seeded state to go back to")
        assert count(name, "kept") == "1"
    finally:
        teardown(name)


def test_a_project_seeded_by_init_scripts_resets_to_the_state_they_left(project):
    root, env = project(
        """
        profiles: [postgres]
        services:
          postgres:
            ports: {5432: 0}
            volumes: ["./db/init:/docker-entrypoint-initdb.d:ro"]
        """,
        {
            "db/init/01-schema.sql": "CREATE TABLE plans (id int PRIMARY KEY, title text);\n",
            "db/init/02-rows.sql": "INSERT INTO plans SELECT n, 'plan ' || n FROM generate_series(1, 300) n;\n",
        },
    )
    name = env["DEVENV_PROJECT_NAME"]
    up = run_devenv("up", cwd=root, env=env)
    assert up.returncode == 0, up.stdout + up.stderr
    assert "data: kept the state Postgres' init scripts left as the seeded state" in up.stdout
    sql(name, "delete from plans where id <= 100; insert into plans values (1000, 'mine')")
    reset = run_devenv("reset", "--yes", cwd=root, env=env)
    assert reset.returncode == 0, reset.stdout + reset.stderr
    assert sql(name, "select count(*), max(id) from plans").stdout.strip() == "300|300"
    again = run_devenv("up", cwd=root, env=env)
    assert "init scripts" not in again.stdout + again.stderr  # the same scripts: nothing to say
    # changed scripts run only on a new volume: up says so, reset refuses and keeps the data
    (root / "db" / "init" / "03-more.sql").write_text("INSERT INTO plans VALUES (301, 'new');\n")
    changed = run_devenv("up", cwd=root, env=env)
    assert "the Postgres init scripts changed since this database was created" in changed.stdout + changed.stderr
    refused = run_devenv("reset", "--yes", cwd=root, env=env)
    assert refused.returncode == 43, refused.stdout + refused.stderr
    assert "devenv down --volumes" in refused.stderr
    assert count(name, "plans") == "300"
