"""A Postgres database per git branch.

In a git work tree the project's database belongs to the branch that is checked out; its
comment says which (``devenv:seed=<hash> branch=<name>``). When the branch changed since,
the next `devenv up` (or `devenv reset`) parks the database under a name of its branch,
``<db>__devenv_br_<slug>_<hash8>`` (the branch's own name in its comment, with the time it
was parked), and renames the new branch's database into place: the one parked earlier, or,
for a branch seen the first time, a copy of the seeded template. Both renames are one
transaction (pgswap), so ``DATABASE_URL`` never changes and a switch killed halfway leaves
the previous database in place.

No branch, no swap: outside a git work tree, on a detached HEAD (a bisect, a rebase in
progress) and with ``data.per_branch: false`` the database stays what it is. Each worktree
is a folder of its own and so, by default, a project (and a stack) of its own.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from devenv import pgswap

if TYPE_CHECKING:
    from devenv.interfaces import Engine
    from devenv.workspace import Workspace

BRANCH_MARK = "__devenv_br_"
_SLUG = re.compile(r"[^a-z0-9]+")


def current(ws: Workspace) -> str | None:
    """The checked-out branch, when there is one and per-branch databases are on."""
    config = ws.project.config
    if not config.data.per_branch or "postgres" not in ws.compose.services:
        return None
    return git_branch(ws.project.root)


def git_branch(folder: object) -> str | None:
    try:
        found = subprocess.run(
            ["git", "symbolic-ref", "--quiet", "--short", "HEAD"],
            check=False,
            cwd=str(folder),
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None  # no git: one database
    name = found.stdout.strip()
    return name if found.returncode == 0 and name else None  # detached HEAD or not a work tree


def detached(ws: Workspace) -> bool:
    """A git work tree without a branch checked out (detached HEAD): its database stays the
    one in place, and keeps the branch it belongs to."""
    config = ws.project.config
    if not config.data.per_branch or "postgres" not in ws.compose.services or current(ws) is not None:
        return False
    try:
        inside = subprocess.run(
            ["git", "rev-parse", "--is-inside-work-tree"],
            check=False,
            cwd=str(ws.project.root),
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return inside.stdout.strip() == "true"


def owner(engine: Engine, target: pgswap.Target) -> str | None:
    """The branch the project's database belongs to, by its comment."""
    return next((k.branch or None for k in kept(engine, target) if k.current), None)


def branch_exists(folder: object, branch: str) -> bool:
    found = subprocess.run(
        ["git", "show-ref", "--verify", "--quiet", f"refs/heads/{branch}"],
        check=False,
        cwd=str(folder),
        capture_output=True,
        timeout=10,
    )
    return found.returncode == 0


def parked_name(db: str, branch: str) -> str:
    """A valid, unique database name for a branch: readable part + hash of the whole name
    (branch names can hold '/', '.', capitals and characters Postgres names should not)."""
    digest = hashlib.sha256(branch.encode()).hexdigest()[:8]
    prefix = f"{pgswap.stem(db)}{BRANCH_MARK}"
    room = pgswap.MAX_NAME - len(prefix.encode()) - len(digest) - 1
    slug = _SLUG.sub("_", branch.lower()).strip("_")[: max(room, 0)].rstrip("_")
    return f"{prefix}{slug}_{digest}" if slug else f"{prefix}{digest}"


def parse_comment(text: str) -> dict[str, str]:
    """`devenv:seed=h branch=main used=…` -> {"devenv:seed": "h", "branch": "main", …}."""
    pairs = (token.partition("=") for token in text.split())
    return {key: value for key, sep, value in pairs if sep}


def comment_text(fields: dict[str, str]) -> str:
    return " ".join(f"{key}={value}" for key, value in fields.items() if value)


@dataclass(frozen=True)
class Kept:
    """One database devenv keeps: the project's own or a parked branch's."""

    name: str
    branch: str
    size: int
    used: str  # when it was parked ("" for the database in use)
    current: bool
    fields: dict[str, str]


def list_sql(db: str) -> str:
    prefix = pgswap.stem(db) + BRANCH_MARK
    return (
        "SELECT datname, pg_database_size(oid), coalesce(shobj_description(oid, 'pg_database'), '') "
        f"FROM pg_database WHERE datname = {pgswap.literal(db)} OR starts_with(datname, {pgswap.literal(prefix)}) "
        "ORDER BY 1;\n"
    )


def kept(engine: Engine, target: pgswap.Target) -> list[Kept]:
    """The project's database and every parked branch database, with their comments."""
    found = []
    for line in pgswap.run(engine, target, list_sql(target.db)).splitlines():
        name, _, rest = line.partition("|")
        size, _, comment = rest.partition("|")
        if not name:
            continue
        fields = parse_comment(comment)
        found.append(
            Kept(name, fields.get("branch", ""), int(size or 0), fields.get("used", ""), name == target.db, fields)
        )
    return found


def switch_sql(n: pgswap.Names, incoming: str, park_as: str, park_comment: str, db_comment: str) -> str:
    """The project's database parked under its branch's name and ``incoming`` renamed into its
    place, in one transaction (retried while the api reconnects in between)."""
    statements = [
        f"ALTER DATABASE {pgswap.ident(n.db)} RENAME TO {pgswap.ident(park_as)}",
        f"ALTER DATABASE {pgswap.ident(incoming)} RENAME TO {pgswap.ident(n.db)}",
        f"COMMENT ON DATABASE {pgswap.ident(park_as)} IS {pgswap.literal(park_comment)}",
        f"COMMENT ON DATABASE {pgswap.ident(n.db)} IS {pgswap.literal(db_comment)}",
    ]
    return pgswap.retrying_transaction(n.db, statements)


def ensure(ws: Workspace, engine: Engine, target: pgswap.Target, seed_hash: str) -> str | None:
    """Put the checked-out branch's database in place; a line to report when it changed."""
    branch = current(ws)
    if branch is None:
        return None
    n = pgswap.names(target.db, seed_hash)
    databases = {k.name: k for k in kept(engine, target)}
    mine = databases[n.db].fields if n.db in databases else {}
    owner = mine.get("branch")
    if owner == branch:
        return None
    if owner is None:  # data from before branches (or a fresh one): it is this branch's
        pgswap.run(engine, target, _comment_sql(n.db, {**mine, "branch": branch}))
        return None
    park_as = parked_name(target.db, owner)
    incoming = parked_name(target.db, branch)
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    park_comment = comment_text({**mine, "used": now})
    if park_as in databases:  # a stale copy under that name (should not happen): keep the newest
        pgswap.run(engine, target, f"DROP DATABASE {pgswap.ident(park_as)} WITH (FORCE);\n")
    if incoming in databases:
        fields = {k: v for k, v in databases[incoming].fields.items() if k != "used"}
        pgswap.run(engine, target, switch_sql(n, incoming, park_as, park_comment, comment_text(fields)))
        return f"data: switched to branch {branch}'s database (kept {owner}'s)"
    # a branch seen the first time: a copy of the seeded template (or, without one, empty)
    has_template = pgswap.run(engine, target, pgswap.template_exists_sql(n)).strip() == "1"
    pgswap.run(engine, target, pgswap.build_sql(n, empty=not has_template))
    fields = {"devenv:seed": seed_hash, "branch": branch} if has_template else {"branch": branch}
    pgswap.run(engine, target, switch_sql(n, n.new, park_as, park_comment, comment_text(fields)))
    start = "the seeded data" if has_template else "an empty database (no seeded template yet)"
    return f"data: branch {branch} starts from {start} (kept {owner}'s)"


def _comment_sql(db: str, fields: dict[str, str]) -> str:
    return f"COMMENT ON DATABASE {pgswap.ident(db)} IS {pgswap.literal(comment_text(fields))};\n"


def prune_sql(names: list[str]) -> str:
    return "".join(f"DROP DATABASE IF EXISTS {pgswap.ident(name)} WITH (FORCE);\n" for name in names)


@dataclass(frozen=True)
class Listing:
    databases: list[Kept]
    gone: list[Kept]  # parked databases of branches that no longer exist
    pruned: bool = False


def listing(ws: Workspace, engine: Engine, *, prune: bool, confirm: object = None) -> Listing:
    """The kept databases (the project's and each parked branch's), and with ``prune`` the
    parked ones of deleted branches dropped (after ``confirm(question)``)."""
    from devenv import data
    from devenv.errors import AbortedError, NotRunningError

    states = {s.service: s.name for s in engine.services(ws.name) if s.state == "running"}
    if "postgres" not in states:
        raise NotRunningError("postgres is not running", hint="start it first: `devenv up`")
    where = data.target(ws, states)
    databases = kept(engine, where)
    gone = [k for k in databases if not k.current and (not k.branch or not branch_exists(ws.project.root, k.branch))]
    if not prune or not gone:
        return Listing(databases, gone)
    question = (
        f"Delete the databases of {len(gone)} deleted branch(es) ({', '.join(k.branch or k.name for k in gone)})?"
    )
    if not callable(confirm) or not confirm(question):
        raise AbortedError("nothing was deleted", hint="add --yes to delete without asking")
    pgswap.run(engine, where, prune_sql([k.name for k in gone]))
    return Listing([k for k in databases if k not in gone], gone, pruned=True)
