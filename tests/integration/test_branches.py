"""A database per git branch on the real engine: the example in a real git repository."""

from __future__ import annotations

import pytest

from tests.integration.conftest import (
    copy_example,
    databases,
    git,
    http,
    new_name,
    run_devenv,
    sql,
    status,
    teardown,
    wait_for,
)


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    name = new_name("branch")
    root = copy_example(tmp_path_factory.mktemp("branch") / "shop")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "shop")
    env = {"DEVENV_PROJECT_NAME": name}
    try:
        up = run_devenv("up", cwd=root, env=env)
        assert up.returncode == 0, up.stdout + up.stderr
        assert "data: migrated and seeded" in up.stdout
        yield {"name": name, "root": root, "env": env}
    finally:
        teardown(name)


def test_each_branch_keeps_its_data_and_a_new_one_starts_seeded(repo):
    name, root, env = repo["name"], repo["root"], repo["env"]
    sql(name, "delete from orders where id <= 100")  # main's own change

    git(root, "switch", "-q", "-c", "feature/über-fix")
    up = run_devenv("up", cwd=root, env=env)  # a no-op up for the stack: only the data moves
    assert up.returncode == 0, up.stdout + up.stderr
    assert "data: branch feature/über-fix starts from the seeded data (kept main's)" in up.stdout
    assert sql(name, "select count(*) from orders") == "50000"
    sql(name, "insert into products (sku, title, price_cents) values ('FEATURE', 'f', 1)")
    api = next(u for u in status(root, env)["api"]["urls"] if u.startswith("http"))
    assert wait_for(lambda: http("GET", api + "health")[0] == 200, timeout=10)

    git(root, "switch", "-q", "main")
    back = run_devenv("up", cwd=root, env=env)
    assert "data: switched to branch main's database (kept feature/über-fix's)" in back.stdout
    assert sql(name, "select count(*) from orders") == "49900"
    assert sql(name, "select count(*) from products where sku = 'FEATURE'") == "0"
    assert wait_for(lambda: http("GET", api + "health")[0] == 200, timeout=10)

    git(root, "switch", "-q", "feature/über-fix")
    again = run_devenv("up", cwd=root, env=env)
    assert "switched to branch feature/über-fix's database" in again.stdout
    assert sql(name, "select count(*) from products where sku = 'FEATURE'") == "1"
    assert sql(name, "select count(*) from orders") == "50000"
    same = run_devenv("up", cwd=root, env=env)
    assert "data:" not in same.stdout  # the same branch: nothing moves

    # reset works on this branch's database only
    reset = run_devenv("reset", "--yes", "postgres", cwd=root, env=env)
    assert reset.returncode == 0, reset.stdout + reset.stderr
    assert sql(name, "select count(*) from products where sku = 'FEATURE'") == "0"
    git(root, "switch", "-q", "main")
    assert run_devenv("up", cwd=root, env=env).returncode == 0
    assert sql(name, "select count(*) from orders") == "49900"  # main's change survived


def test_data_lists_the_branches_and_prunes_deleted_ones(repo):
    name, root, env = repo["name"], repo["root"], repo["env"]
    listed = run_devenv("data", cwd=root, env=env)
    assert listed.returncode == 0, listed.stderr
    rows = {line.split()[0]: line for line in listed.stdout.splitlines()[1:] if line.strip()}
    assert "in use" in rows["main"] and "feature/über-fix" in rows
    git(root, "branch", "-q", "-D", "feature/über-fix")
    refused = run_devenv("data", "--prune", cwd=root, env=env)
    assert refused.returncode == 50
    pruned = run_devenv("data", "--prune", "--yes", cwd=root, env=env)
    assert pruned.returncode == 0, pruned.stderr
    assert "deleted 1 database(s) of deleted branches" in pruned.stdout
    names = databases(name)
    assert names[0] == "app" and len(names) == 2 and names[1].startswith("app__devenv_tpl_")
