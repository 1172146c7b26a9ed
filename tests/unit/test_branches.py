"""A database per git branch without Docker: names, comments, the switch SQL, the opt-out."""

import subprocess

from devenv import branches, pgswap
from devenv.workspace import open_workspace


def test_parked_names_are_valid_unique_and_readable():
    assert (
        branches.parked_name("app", "main") == "app__devenv_br_main_" + branches.hashlib.sha256(b"main").hexdigest()[:8]
    )
    odd = branches.parked_name("app", "Feature/ÜBER.fix-1")
    assert odd.startswith("app__devenv_br_feature_ber_fix_1_")  # characters Postgres names avoid become _
    # two branches that slug alike still get two databases
    assert branches.parked_name("app", "a/b") != branches.parked_name("app", "a-b")
    long = branches.parked_name("d" * 70, "x" * 300)
    assert len(long.encode()) <= pgswap.MAX_NAME
    assert branches.parked_name("app", "///") == "app__devenv_br_" + branches.hashlib.sha256(b"///").hexdigest()[:8]


def test_comments_round_trip():
    fields = branches.parse_comment("devenv:seed=abc branch=feature/x used=2026-01-01T00:00:00Z")
    assert fields == {"devenv:seed": "abc", "branch": "feature/x", "used": "2026-01-01T00:00:00Z"}
    assert branches.comment_text(fields) == "devenv:seed=abc branch=feature/x used=2026-01-01T00:00:00Z"
    assert branches.parse_comment("") == {}


def test_the_switch_parks_and_brings_in_one_transaction():
    n = pgswap.names("app", "h" * 16)
    sql = branches.switch_sql(n, "app__devenv_br_b_1", "app__devenv_br_a_2", "branch=a used=now", "branch=b")
    assert sql.count("DO $devenv$") == 1
    park = sql.index('RENAME TO "app__devenv_br_a_2"')
    bring = sql.index('"app__devenv_br_b_1" RENAME TO "app"')
    assert sql.index("pg_terminate_backend") < park < bring
    assert "EXCEPTION WHEN object_in_use" in sql


def git(root, *args):
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)


def test_the_branch_is_read_from_git_and_the_opt_out_and_detached_head_have_none(make_project):
    root = make_project("name: proj\nprofiles: [postgres]\n")
    assert branches.current(open_workspace(root)) is None  # not a git work tree
    git(root, "init", "-q", "-b", "topic/one")
    git(root, "-c", "user.email=a@b", "-c", "user.name=t", "commit", "-q", "--allow-empty", "-m", "x")
    ws = open_workspace(root)
    assert branches.current(ws) == "topic/one" and not branches.detached(ws)
    git(root, "checkout", "-q", "--detach")
    assert branches.current(ws) is None and branches.detached(ws)
    git(root, "switch", "-q", "topic/one")
    (root / "devenv.yaml").write_text("name: proj\nprofiles: [postgres]\ndata:\n  per_branch: false\n")
    assert branches.current(open_workspace(root)) is None
    (root / "devenv.yaml").write_text("name: proj\nprofiles: [redis]\n")
    assert branches.current(open_workspace(root)) is None  # no Postgres, nothing to keep per branch
