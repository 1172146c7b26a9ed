"""Named snapshots: `devenv snapshot save | restore | ls | rm`.

A snapshot holds the data of the project's Postgres and Redis, whichever it has, and lives in
their volumes (never in the repo), so `devenv down --volumes` removes the snapshots with the
data. Snapshots belong to the project, not to a git branch: a snapshot taken on branch A and
restored on branch B replaces B's database (the one in place), and B keeps it.

Postgres: a snapshot is a database copied from the project's (``CREATE DATABASE … TEMPLATE``),
named ``<db>__devenv_snap_<slug>_<hash8>``, closed to connections, with its name, time, branch
and seed hash in its comment. Postgres copies only a database nobody is connected to, so
saving refuses new connections and ends the api's for the moment of the copy (tens to hundreds
of milliseconds). It is built under ``<db>__devenv_snapnew`` and renamed to its name once
complete, so a save killed halfway leaves no half snapshot. Restoring builds a copy of the
snapshot under the temporary name and swaps it in by rename in one transaction, as
`devenv reset` does: a restore that fails or is killed halfway leaves the previous database.

Redis: ``SAVE`` has the server write its RDB (``dump.rdb``, a few milliseconds for a dev
data set), copied to ``<dir>/devenv-snapshots/<name>.rdb`` inside the Redis volume (the
official image's ``/data``). (``redis-cli --rdb`` would leave ``dump.rdb`` alone, but a server
with diskless replication waits ``repl-diskless-sync-delay``, 5 s by default, before it
sends.) Redis loads data only when it starts, so restoring stages the
snapshot as Redis' own files (``dump.rdb``, and with append-only persistence the base of a new
AOF), stops Redis without saving and starts its container again; it answers within a second.
(``DEBUG RELOAD`` would load an RDB without a restart, but Redis 7 refuses DEBUG unless
started with ``enable-debug-command``, which the official image is not.)
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from devenv import apicheck, branches, data, pgswap
from devenv.errors import AbortedError, DevenvError, NotRunningError, SeedFailedError, UsageError

if TYPE_CHECKING:
    from devenv.interfaces import Engine
    from devenv.workspace import Workspace

SNAP_MARK = "__devenv_snap_"
BUILD_MARK = "__devenv_snapnew"
NAME_KEY = "devenv:snapshot"
REDIS_FOLDER = "devenv-snapshots"
STORES = (data.POSTGRES, data.REDIS)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
_SLUG = re.compile(r"[^a-z0-9]+")


# -- names (pure) ---------------------------------------------------------------------------


def check_name(name: str) -> str:
    """Snapshot names are file names in the Redis volume and part of a database name: letters,
    digits, '.', '_' and '-', starting with a letter or digit, at most 63 characters."""
    if not _NAME.match(name):
        raise UsageError(
            f"invalid snapshot name {name!r}",
            hint="use letters, digits, '.', '_' and '-' (starting with a letter or digit, at most 63)",
        )
    return name


def database_name(db: str, name: str) -> str:
    """The snapshot's database: a readable part and a hash of the whole name, within
    Postgres' 63 bytes (names differing only in case or punctuation stay apart)."""
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    prefix = f"{pgswap.stem(db)}{SNAP_MARK}"
    room = pgswap.MAX_NAME - len(prefix.encode()) - len(digest) - 1
    slug = _SLUG.sub("_", name.lower()).strip("_")[: max(room, 0)].rstrip("_")
    return f"{prefix}{slug}_{digest}" if slug else f"{prefix}{digest}"


def build_name(db: str) -> str:
    return f"{pgswap.stem(db)}{BUILD_MARK}"


def comment(name: str, created: str, branch: str, seed: str) -> str:
    return branches.comment_text({NAME_KEY: name, "created": created, "branch": branch, "devenv:seed": seed})


# -- the SQL and the Redis scripts (pure) ---------------------------------------------------


def tidy_sql(n: pgswap.Names) -> str:
    """What a killed run can leave: reset's leftovers and a half-built snapshot."""
    return pgswap.repair_sql(n) + f"DROP DATABASE IF EXISTS {pgswap.ident(build_name(n.db))} WITH (FORCE);\n"


def save_sql(db: str, snapshot: str, record: str) -> str:
    """Copy the project's database under the build name (new connections refused and the open
    ones ended for the moment of the copy), then rename it to the snapshot's name, replacing
    one of the same name."""
    build = build_name(db)
    return f"""
DROP DATABASE IF EXISTS {pgswap.ident(build)} WITH (FORCE);
ALTER DATABASE {pgswap.ident(db)} ALLOW_CONNECTIONS false;
SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
 WHERE datname = {pgswap.literal(db)} AND pid <> pg_backend_pid() \\g /dev/null
CREATE DATABASE {pgswap.ident(build)} TEMPLATE {pgswap.ident(db)};
ALTER DATABASE {pgswap.ident(db)} ALLOW_CONNECTIONS true;
ALTER DATABASE {pgswap.ident(build)} ALLOW_CONNECTIONS false;
COMMENT ON DATABASE {pgswap.ident(build)} IS {pgswap.literal(record)};
DROP DATABASE IF EXISTS {pgswap.ident(snapshot)} WITH (FORCE);
ALTER DATABASE {pgswap.ident(build)} RENAME TO {pgswap.ident(snapshot)};
SELECT pg_database_size({pgswap.literal(snapshot)});
"""


def restore_sql(n: pgswap.Names, snapshot: str, record: str) -> str:
    """A copy of the snapshot under the temporary name, swapped in by rename in one
    transaction (the api's connections ended), the previous database dropped after."""
    return (
        f"DROP DATABASE IF EXISTS {pgswap.ident(n.new)} WITH (FORCE);\n"
        f"CREATE DATABASE {pgswap.ident(n.new)} TEMPLATE {pgswap.ident(snapshot)};\n"
        f"ALTER DATABASE {pgswap.ident(n.new)} ALLOW_CONNECTIONS true;\n"
        + pgswap.swap_sql(n, record)
        + pgswap.drop_old_sql(n)
    )


def list_sql(db: str) -> str:
    prefix = pgswap.stem(db) + SNAP_MARK
    return (
        "SELECT datname, pg_database_size(oid), coalesce(shobj_description(oid, 'pg_database'), '') "
        f"FROM pg_database WHERE starts_with(datname, {pgswap.literal(prefix)}) ORDER BY 1;\n"
    )


def drop_sql(database: str) -> str:
    return f"DROP DATABASE IF EXISTS {pgswap.ident(database)} WITH (FORCE);\n"


# Each script runs in the Redis container with `sh -c SCRIPT devenv NAME [META]`: the name
# arrives as $1, never spliced into the text. The folder is Redis' own `dir` (/data).
_REDIS_DIR = """
dir=/data dump=dump.rdb aof=no adir=appendonlydir afile=appendonly.aof
# one CONFIG GET for all (Redis 7 answers name, value, name, value …)
while IFS= read -r key && IFS= read -r value; do
  case "$key" in
    dir) dir=$value ;; dbfilename) dump=$value ;; appendonly) aof=$value ;;
    appenddirname) adir=$value ;; appendfilename) afile=$value ;;
  esac
done <<DEVENV_CONFIG
$(redis-cli --raw CONFIG GET dir dbfilename appendonly appenddirname appendfilename 2>/dev/null)
DEVENV_CONFIG
snaps="$dir/devenv-snapshots"
"""

REDIS_SAVE = (
    "set -e\n"
    + _REDIS_DIR
    + """
mkdir -p "$snaps"
cd "$snaps"
saved=$(redis-cli SAVE)
[ "$saved" = OK ] || { echo "SAVE failed: $saved" >&2; exit 1; }
cp "$dir/$dump" ".$1.rdb.tmp"
printf '%s\\n' "$2" > ".$1.meta.tmp"
mv ".$1.rdb.tmp" "$1.rdb"
mv ".$1.meta.tmp" "$1.meta"
stat -c %s "$1.rdb"
"""
)

REDIS_LIST = (
    _REDIS_DIR
    + """
cd "$snaps" 2>/dev/null || exit 0
for f in *.rdb; do
  [ -f "$f" ] || continue
  n=${f%.rdb}
  printf '%s|%s|%s\\n' "$n" "$(stat -c %s "$f")" "$(cat "$n.meta" 2>/dev/null)"
done
"""
)

REDIS_RM = _REDIS_DIR + 'rm -f "$snaps/$1.rdb" "$snaps/$1.meta"\n'

# Stage the snapshot as Redis' own files, then swap them in. Redis' background writes are
# stopped first (no RDB save points, append-only off) so none lands on the staged files; then
# Redis stops without saving, and the caller starts its container again.
REDIS_RESTORE = (
    "set -e\n"
    + _REDIS_DIR
    + """
snap="$snaps/$1.rdb"
[ -f "$snap" ] || { echo "no snapshot $1 in $snaps" >&2; exit 3; }
owner=$(stat -c %u:%g "$dir")
cd "$dir"
rm -rf .devenv-restore.rdb .devenv-aof-new .devenv-aof-old
cp "$snap" .devenv-restore.rdb
if [ "$aof" = yes ]; then
  mkdir .devenv-aof-new
  cp "$snap" ".devenv-aof-new/$afile.1.base.rdb"
  printf 'file %s seq 1 type b\\n' "$afile.1.base.rdb" > ".devenv-aof-new/$afile.manifest"
fi
chown -R "$owner" .devenv-restore.rdb .devenv-aof-new 2>/dev/null || true
redis-cli CONFIG SET save "" >/dev/null
redis-cli CONFIG SET appendonly no >/dev/null
i=0
while redis-cli INFO persistence | grep -Eq '^(rdb_bgsave|aof_rewrite)_in_progress:1'; do
  i=$((i + 1)); [ $i -lt 200 ] || { echo "Redis kept saving in the background" >&2; exit 4; }
  sleep 0.05
done
mv .devenv-restore.rdb "$dump"
if [ "$aof" = yes ]; then
  [ ! -e "$adir" ] || mv "$adir" .devenv-aof-old
  mv .devenv-aof-new "$adir"
  rm -rf .devenv-aof-old
fi
# Redis is PID 1: its container stops with it (and this script with them)
redis-cli SHUTDOWN NOSAVE >/dev/null 2>&1 || true
"""
)


# -- what a snapshot is, as listed ----------------------------------------------------------


@dataclass(frozen=True)
class Snapshot:
    name: str
    created: str = ""
    branch: str = ""
    seed: str = ""
    database: str = ""  # the Postgres copy ("" when the snapshot has none)
    postgres_size: int | None = None
    redis_size: int | None = None

    @property
    def stores(self) -> tuple[str, ...]:
        return tuple(
            store
            for store, size in ((data.POSTGRES, self.postgres_size), (data.REDIS, self.redis_size))
            if size is not None
        )

    @property
    def size(self) -> int:
        return (self.postgres_size or 0) + (self.redis_size or 0)


def merge(postgres_rows: str, redis_rows: str) -> list[Snapshot]:
    """The snapshots from the Postgres listing (``datname|size|comment``) and the Redis one
    (``name|size|meta``), by name; the Postgres comment is the authority on time and branch."""
    found: dict[str, Snapshot] = {}
    for line in postgres_rows.splitlines():
        database, _, rest = line.partition("|")
        size, _, text = rest.partition("|")
        fields = branches.parse_comment(text)
        name = fields.get(NAME_KEY)
        if not database or not name:
            continue  # not a finished snapshot
        found[name] = Snapshot(
            name,
            fields.get("created", ""),
            fields.get("branch", ""),
            fields.get("devenv:seed", ""),
            database,
            int(size or 0),
        )
    for line in redis_rows.splitlines():
        name, _, rest = line.partition("|")
        size, _, text = rest.partition("|")
        if not name:
            continue
        fields = branches.parse_comment(text)
        before = found.get(name) or Snapshot(
            name, fields.get("created", ""), fields.get("branch", ""), fields.get("devenv:seed", "")
        )
        found[name] = Snapshot(
            name,
            before.created,
            before.branch,
            before.seed,
            before.database,
            before.postgres_size,
            int(size or 0),
        )
    return sorted(found.values(), key=lambda s: (s.created, s.name))


def unknown(name: str, known: list[Snapshot]) -> UsageError:
    listed = ", ".join(s.name for s in known)
    return UsageError(
        f"no snapshot named {name!r} in this project",
        hint=f"its snapshots: {listed}" if listed else "it has none yet: `devenv snapshot save NAME` takes one",
    )


# -- carrying out ---------------------------------------------------------------------------


@dataclass
class Outcome:
    name: str
    stores: tuple[str, ...]
    elapsed: float = 0.0
    size: int = 0
    notes: list[str] | None = None


def _running(ws: Workspace, engine: Engine) -> dict[str, str]:
    """The containers of the stores the project has; each must be running."""
    have = [store for store in STORES if store in ws.compose.services]
    if not have:
        raise UsageError(
            "this project has neither postgres nor redis: nothing to snapshot",
            hint="snapshots hold the data of the postgres and redis profiles",
        )
    running = {s.service: s.name for s in engine.services(ws.name) if s.state == "running"}
    missing = [store for store in have if store not in running]
    if missing:
        raise NotRunningError(
            f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not running",
            hint="start the stack first: `devenv up`",
        )
    return {store: running[store] for store in have}


def _redis(engine: Engine, container: str, script: str, *args: str) -> str:
    done = engine.exec(container, ["sh", "-c", script, "devenv", *args])
    if done.code != 0:
        raise SeedFailedError(
            f"redis: {(done.stderr.strip() or done.stdout.strip() or 'the snapshot step failed').splitlines()[-1]}",
            hint=f"check the Redis logs: `docker logs {container}`",
        )
    return done.stdout


def listing(ws: Workspace, engine: Engine, containers: dict[str, str] | None = None) -> list[Snapshot]:
    containers = containers if containers is not None else _running(ws, engine)
    pg_rows = ""
    if data.POSTGRES in containers:
        where = data.target(ws, containers)
        pg_rows = pgswap.run(engine, where, list_sql(where.db))
    redis_rows = _redis(engine, containers[data.REDIS], REDIS_LIST) if data.REDIS in containers else ""
    return merge(pg_rows, redis_rows)


def save(ws: Workspace, engine: Engine, name: str, *, force: bool = False) -> Outcome:
    check_name(name)
    containers = _running(ws, engine)
    if not force and any(s.name == name for s in listing(ws, engine, containers)):
        raise UsageError(
            f"a snapshot named {name!r} exists already",
            hint=f"pick another name, or replace it: `devenv snapshot save --force {name}`",
        )
    began = time.monotonic()
    created = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    branch = branches.git_branch(ws.project.root) or ""
    plan = data.seed_plan(ws)
    outcome = Outcome(name, tuple(containers))
    where = data.target(ws, containers) if data.POSTGRES in containers else None
    seed = _seed_of(engine, where) if where is not None else ""
    record = comment(name, created, branch, seed)
    sizes: list[int] = []

    def postgres(where: pgswap.Target) -> None:
        n = data.names(ws, plan)
        pgswap.run(engine, where, tidy_sql(n))
        try:
            out = pgswap.run(engine, where, save_sql(where.db, database_name(where.db, name), record))
        finally:
            pgswap.run(engine, where, pgswap.reopen_sql(n))
        sizes.append(int(out.split()[-1]) if out.split() else 0)

    def redis(container: str) -> None:
        out = _redis(engine, container, REDIS_SAVE, name, record)
        sizes.append(int(out.split()[-1]) if out.split() else 0)

    _side_by_side(
        ([lambda: postgres(where)] if where is not None else [])
        + ([lambda: redis(containers[data.REDIS])] if data.REDIS in containers else [])
    )
    outcome.size = sum(sizes)
    outcome.elapsed = time.monotonic() - began
    if data.POSTGRES in containers:  # the copy ended the api's connections
        outcome.notes = list(filter(None, [apicheck.after_data_change(ws, engine)]))
    return outcome


def _side_by_side(jobs: list[Callable[[], None]]) -> None:
    """Postgres and Redis at once; the first failure (in that order) raised after both ended."""
    with ThreadPoolExecutor(max_workers=len(jobs) or 1) as pool:
        futures = [pool.submit(job) for job in jobs]
    for future in futures:
        future.result()


def _seed_of(engine: Engine, where: pgswap.Target) -> str:
    mine = next((k for k in branches.kept(engine, where) if k.current), None)
    return mine.fields.get("devenv:seed", "") if mine else ""


def _existing(ws: Workspace, engine: Engine, name: str) -> tuple[Snapshot, dict[str, str]]:
    """The snapshot called ``name`` and the project's running data services; an unknown name
    is an error that lists the known ones."""
    check_name(name)
    containers = _running(ws, engine)
    known = listing(ws, engine, containers)
    snapshot = next((s for s in known if s.name == name), None)
    if snapshot is None:
        raise unknown(name, known)
    return snapshot, containers


def restore(ws: Workspace, engine: Engine, name: str, *, confirm: Callable[[str], bool]) -> Outcome:
    snapshot, containers = _existing(ws, engine, name)
    stores = [store for store in snapshot.stores if store in containers]
    if not confirm(
        f"Replace the data of {', '.join(stores)} in project {ws.name} with snapshot {name}? "
        "Every change since is lost."
    ):
        raise AbortedError("nothing was restored", hint="add --yes to restore without asking")
    began = time.monotonic()
    outcome = Outcome(name, tuple(stores), notes=[])
    assert outcome.notes is not None
    outcome.notes.extend(
        f"{store}: not in snapshot {name} (taken before the project had it): left as it is"
        for store in containers
        if store not in snapshot.stores
    )
    notes = outcome.notes
    _side_by_side(
        ([lambda: _restore_postgres(ws, engine, snapshot, containers, notes)] if data.POSTGRES in stores else [])
        + ([lambda: _restore_redis(engine, containers[data.REDIS], name)] if data.REDIS in stores else [])
    )
    outcome.size = snapshot.size
    outcome.elapsed = time.monotonic() - began
    note = apicheck.after_data_change(ws, engine)  # the api still answers, or is restarted
    if note:
        outcome.notes.append(note)
    return outcome


def _restore_postgres(
    ws: Workspace, engine: Engine, snapshot: Snapshot, containers: dict[str, str], notes: list[str]
) -> None:
    plan = data.seed_plan(ws)
    where, n = data.target(ws, containers), data.names(ws, plan)
    pgswap.run(engine, where, tidy_sql(n))
    branch = branches.current(ws)
    if branch is not None:  # first the checked-out branch's database in place: it takes the snapshot
        switched = branches.ensure(ws, engine, where, plan.hash)
        if switched:
            notes.append(switched)
        data.remember(ws, branch=branch)
    elif branches.detached(ws):  # the database in place keeps the branch it belongs to
        branch = branches.owner(engine, where)
    record = branches.comment_text({"devenv:seed": snapshot.seed, "branch": branch or ""})
    pgswap.run(engine, where, restore_sql(n, snapshot.database, record))
    if snapshot.seed:
        data.remember(ws, seeded=snapshot.seed)


def _restore_redis(engine: Engine, container: str, name: str, *, timeout: float = 60.0) -> None:
    try:  # the script ends with Redis' SHUTDOWN: its container stops, and the exec with it (137)
        done = engine.exec(container, ["sh", "-c", REDIS_RESTORE, "devenv", name])
    except DevenvError:
        done = None  # docker saw the container stop under the exec
    if done is not None and done.code not in (0, 137):
        raise SeedFailedError(
            f"redis: {(done.stderr.strip() or 'restoring the snapshot failed').splitlines()[-1]}",
            hint=f"check the Redis logs: `docker logs {container}`",
        )
    deadline = time.monotonic() + timeout
    while any(s.state == "running" for s in engine.inspect([container])):
        if time.monotonic() > deadline:
            raise SeedFailedError("redis did not stop to load the snapshot", hint=f"`docker logs {container}`")
        time.sleep(0.05)
    starting = engine.start(container)
    try:
        while starting.poll() is None:
            time.sleep(0.02)
        if starting.poll() != 0:
            raise starting.error()
    finally:
        starting.end()
    while True:
        try:
            done = engine.exec(container, ["redis-cli", "PING"])
            if done.code == 0 and done.stdout.strip() == "PONG":
                return
        except DevenvError:
            pass  # not running yet
        if time.monotonic() > deadline:
            raise SeedFailedError(
                "redis did not answer after loading the snapshot", hint=f"check its logs: `docker logs {container}`"
            )
        time.sleep(0.05)


def remove(ws: Workspace, engine: Engine, name: str, *, confirm: Callable[[str], bool]) -> Snapshot:
    snapshot, containers = _existing(ws, engine, name)
    if not confirm(f"Delete snapshot {name} of project {ws.name}?"):
        raise AbortedError("nothing was deleted", hint="add --yes to delete without asking")
    if snapshot.database and data.POSTGRES in containers:
        pgswap.run(engine, data.target(ws, containers), drop_sql(snapshot.database))
    if snapshot.redis_size is not None and data.REDIS in containers:
        _redis(engine, containers[data.REDIS], REDIS_RM, name)
    return snapshot
