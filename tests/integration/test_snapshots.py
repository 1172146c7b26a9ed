"""Named snapshots on the real engine: Postgres rows and Redis keys round-trip, a snapshot
restored on another branch goes into that branch's database, another project is left alone,
`down --volumes` takes the snapshots with the data, a restore killed at random moments
leaves a usable database."""

from __future__ import annotations

import random
import subprocess

from tests.integration.conftest import databases, git, killed_at_random, redis, run_devenv, sql, wait_for

CONFIG = """
profiles: [postgres, redis]
services:
  postgres: {ports: {5432: 0}}
  redis: {ports: {6379: 0}}
data:
  seeds:
    - sql: db/seed.sql
    - redis: [SET greeting seeded]
"""
SEED = "CREATE TABLE items (id int PRIMARY KEY, title text);\nINSERT INTO items SELECT n, 'item ' || n FROM generate_series(1, 5000) n;\n"


def test_snapshots_round_trip_postgres_and_redis_across_branches(project):
    root, env = project(CONFIG, {"db/seed.sql": SEED})
    name = env["DEVENV_PROJECT_NAME"]
    other_root, other_env = project("profiles: [postgres]\nservices:\n  postgres: {ports: {5432: 0}}\n")
    other = other_env["DEVENV_PROJECT_NAME"]
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "init")
    up = run_devenv("up", cwd=root, env=env)
    assert up.returncode == 0, up.stdout + up.stderr
    assert run_devenv("up", cwd=other_root, env=other_env).returncode == 0
    sql(other, "create table mine (n int); insert into mine values (42)")

    none = run_devenv("snapshot", "ls", cwd=root, env=env)
    assert none.returncode == 0 and none.stdout == "" and "no snapshots yet" in none.stderr

    # the state to keep: rows deleted and added, keys changed and added after seeding
    sql(name, "delete from items where id > 4000; insert into items values (9999, 'kept')")
    redis(name, "SET", "greeting", "snapshotted")
    redis(name, "HSET", "cart:1", "sku", "A-1", "qty", "2")
    saved = run_devenv("snapshot", "save", "checkpoint", cwd=root, env=env)
    assert saved.returncode == 0, saved.stdout + saved.stderr
    assert saved.stdout.startswith(f"✔ saved snapshot checkpoint of {name} (postgres, redis, ")
    again = run_devenv("snapshot", "save", "checkpoint", cwd=root, env=env)
    assert again.returncode == 2 and "exists already" in again.stderr

    listed = run_devenv("snapshot", "ls", cwd=root, env=env)
    assert listed.returncode == 0, listed.stderr
    [header, row] = listed.stdout.splitlines()
    assert header.split() == ["name", "created", "size", "branch", "holds"]
    assert row.split()[0] == "checkpoint" and row.split()[4] == "main" and row.endswith("postgres, redis")

    # everything changes after the snapshot
    sql(name, "delete from items; insert into items values (1, 'after')")
    redis(name, "FLUSHALL")
    redis(name, "SET", "later", "1")

    missing = run_devenv("snapshot", "restore", "nope", "--yes", cwd=root, env=env)
    assert missing.returncode == 2
    assert missing.stderr.splitlines() == [
        "error: no snapshot named 'nope' in this project",
        "hint: its snapshots: checkpoint",
    ]
    refused = run_devenv("snapshot", "restore", "checkpoint", cwd=root, env=env)
    assert refused.returncode == 50 and sql(name, "select count(*) from items") == "1"

    restored = run_devenv("snapshot", "restore", "checkpoint", "--yes", cwd=root, env=env)
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert sql(name, "select count(*), max(id) from items") == "4001|9999"
    assert redis(name, "GET", "greeting") == "snapshotted"
    assert redis(name, "HGET", "cart:1", "qty") == "2"
    assert redis(name, "EXISTS", "later") == "0"
    # Redis persists what it loaded: a restart keeps the restored keys
    subprocess.run(["docker", "restart", "-t", "5", f"{name}-redis-1"], check=True, capture_output=True)
    assert redis(name, "GET", "greeting") == "snapshotted"
    # the database keeps its name (DATABASE_URL unchanged) and no temporary copy is left
    names = databases(name)
    assert names[0] == "app" and not any(
        n.endswith(("__devenv_new", "__devenv_old", "__devenv_snapnew")) for n in names
    )

    # a snapshot taken on main, restored on another branch, goes into that branch's database
    git(root, "switch", "-q", "-c", "feature")
    assert run_devenv("up", cwd=root, env=env).returncode == 0
    assert sql(name, "select count(*) from items") == "5000"  # a new branch starts seeded
    on_feature = run_devenv("snapshot", "restore", "checkpoint", "--yes", cwd=root, env=env)
    assert on_feature.returncode == 0, on_feature.stdout + on_feature.stderr
    assert sql(name, "select count(*) from items") == "4001"
    sql(name, "insert into items values (10000, 'feature only')")
    git(root, "switch", "-q", "main")
    assert run_devenv("up", cwd=root, env=env).returncode == 0
    assert sql(name, "select count(*) from items where id = 10000") == "0"  # main's data is main's

    removed = run_devenv("snapshot", "rm", "checkpoint", "--yes", cwd=root, env=env)
    assert removed.returncode == 0, removed.stderr
    assert "no snapshots yet" in run_devenv("snapshot", "ls", cwd=root, env=env).stderr
    assert sql(name, "select count(*) from pg_database where datname like '%__devenv_snap%'", "postgres") == "0"
    assert redis(name, "EVAL", "return 1", "0") == "1"

    # another project: its data and its databases untouched
    assert sql(other, "select n from mine") == "42"
    assert sql(other, "select count(*) from pg_database where datname like '%devenv%'", "postgres") == "0"

    # snapshots live in the volumes: `down --volumes` takes them with the data
    assert run_devenv("snapshot", "save", "gone-soon", cwd=root, env=env).returncode == 0
    assert run_devenv("down", "--volumes", "--yes", cwd=root, env=env).returncode == 0
    assert run_devenv("up", cwd=root, env=env).returncode == 0
    assert "no snapshots yet" in run_devenv("snapshot", "ls", cwd=root, env=env).stderr


def test_a_restore_killed_at_random_moments_leaves_a_usable_database(project):
    root, env = project(
        "profiles: [postgres]\nservices:\n  postgres: {ports: {5432: 0}}\ndata:\n  seeds:\n    - sql: db/seed.sql\n",
        {"db/seed.sql": SEED},
    )
    name = env["DEVENV_PROJECT_NAME"]
    assert run_devenv("up", cwd=root, env=env).returncode == 0
    sql(name, "delete from items where id > 3000")
    assert run_devenv("snapshot", "save", "three", cwd=root, env=env).returncode == 0
    rng = random.Random(11)
    for _ in range(4):
        sql(name, "delete from items where id > 1000")
        killed_at_random(["snapshot", "restore", "three", "--yes"], root, env, rng)
        # whatever moment it died at, the database is there with the old data or the snapshot's
        assert wait_for(lambda: _count(name) in ("1000", "3000"), timeout=15), _count(name)
    again = run_devenv("snapshot", "restore", "three", "--yes", cwd=root, env=env)
    assert again.returncode == 0, again.stdout + again.stderr
    assert _count(name) == "3000"
    names = databases(name)
    assert len(names) == 3 and names[0] == "app", names  # the database, its template, the snapshot


def _count(name: str) -> str:
    done = subprocess.run(
        [
            "docker",
            "exec",
            f"{name}-postgres-1",
            "psql",
            "-U",
            "app",
            "-d",
            "app",
            "-tAc",
            "select count(*) from items",
        ],
        capture_output=True,
        text=True,
    )
    return done.stdout.strip()
