"""Migrations and seeds: devenv.yaml's ``data:`` as a plan, its hash, and the steps run.

The plan (pure) lists the migrate command and the seeds in order and hashes what they are
made of: each step's kind and text, and the content of every SQL file. Carrying it out runs
SQL files through ``psql -v ON_ERROR_STOP=1`` in the Postgres container, commands in a
one-off api container (``docker compose run --rm --no-deps api …``) and Redis commands
through ``redis-cli`` in the Redis container.

Which data is seeded is recorded *with the data*, so a fresh volume is new data whatever
devenv's own files say: a comment on the Postgres database (``devenv:seed=<hash>``), or, in
a project without Postgres, the Redis key ``devenv:seed``. A copy of the hash is kept in
``.devenv/data.json`` so a no-op ``up`` can say that the inputs changed without asking the
engine.
"""

from __future__ import annotations

import hashlib
import json
import re
import shlex
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from devenv import apicheck, branches, pgswap, state
from devenv.errors import ConfigError, NotRunningError, SeedFailedError

if TYPE_CHECKING:
    from devenv.engine_types import ServiceState
    from devenv.hooks import Ready
    from devenv.interfaces import Engine
    from devenv.workspace import Workspace

POSTGRES, REDIS, API = "postgres", "redis", "api"
RECORD_PREFIX = "devenv:seed="
REDIS_KEY = "devenv:seed"
DATA_FILE = "data.json"
_PSQL_ERROR = re.compile(r"^psql:[^:]*:(\d+): (?:ERROR|FATAL):\s+(.*)$")


@dataclass(frozen=True)
class Step:
    kind: str  # migrate, sql, run, redis
    label: str  # what messages call it: the file, the command
    argv: tuple[str, ...] = ()  # migrate, run: the command
    text: str = ""  # sql: the file's content; redis: the commands, one per line
    where: str = ""  # devenv.yaml:line of the step

    @property
    def service(self) -> str:
        return {"migrate": API, "run": API, "sql": POSTGRES, "redis": REDIS}[self.kind]


@dataclass(frozen=True)
class SeedPlan:
    steps: tuple[Step, ...]
    hash: str  # of every step's kind, text and file content: the same inputs, the same hash
    record_in: str  # where the seeded hash is kept: postgres, redis ("" without steps)
    # no steps, but Postgres init scripts (/docker-entrypoint-initdb.d): the state they leave
    # on a new volume is the seeded state, and ``hash`` is the hash of the scripts
    init: bool = False

    @property
    def services(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(step.service for step in self.steps))


@dataclass(frozen=True)
class Database:
    """How to reach the project's Postgres database from inside its container."""

    container: str
    user: str
    name: str


def _argv(command: str | list[str]) -> tuple[str, ...]:
    """A string runs through `sh -c` (pipes, &&); a list is the command's words as they are."""
    return ("sh", "-c", command) if isinstance(command, str) else tuple(str(word) for word in command)


def _label(command: str | list[str]) -> str:
    return command if isinstance(command, str) else shlex.join(str(word) for word in command)


def seed_plan(ws: Workspace) -> SeedPlan:
    """The migrate command, then the seeds in the order devenv.yaml lists them."""
    data = ws.project.config.data
    steps: list[Step] = []
    if data.migrate:
        steps.append(
            Step("migrate", _label(data.migrate), _argv(data.migrate), where=ws.project.where("data", "migrate"))
        )
    for i, seed in enumerate(data.seeds):
        where = ws.project.where("data", "seeds", i)
        if seed.sql:
            path = (ws.project.root / seed.sql).resolve()
            try:
                text = path.read_text(encoding="utf-8")
            except OSError as exc:
                raise ConfigError(
                    f"{where}: data.seeds.{i}.sql: cannot read {seed.sql}: {exc.strerror}",
                    hint="SQL seed paths are relative to the folder of devenv.yaml",
                ) from None
            steps.append(Step("sql", _shown(path, ws.project.root), text=text, where=where))
        elif seed.run:
            steps.append(Step("run", _label(seed.run), _argv(seed.run), where=where))
        elif seed.redis:
            lines = seed.redis.splitlines() if isinstance(seed.redis, str) else [str(line) for line in seed.redis]
            commands = "\n".join(line.strip() for line in lines if line.strip())
            steps.append(
                Step("redis", f"redis: {commands.splitlines()[0]}" if commands else "redis", text=commands, where=where)
            )
    services = set(ws.compose.services)
    for step in steps:
        if step.service not in services:
            raise ConfigError(
                f"{step.where}: this {step.kind} step needs {step.service}, which the project does not have",
                hint=f"add {step.service} to `profiles:` in devenv.yaml, or remove the step",
            )
    record_in = "" if not steps else POSTGRES if POSTGRES in services else REDIS if REDIS in services else ""
    if steps and not record_in:
        raise ConfigError(
            f"{ws.project.where('data')}: data: needs the postgres or redis profile to keep its record in",
            hint="add postgres (or redis) to `profiles:` in devenv.yaml",
        )
    if not steps and POSTGRES in services:
        scripts = init_scripts(ws.compose.compose["services"][POSTGRES], ws.project.root)
        if scripts is not None:
            return SeedPlan((), init_hash(scripts), POSTGRES, init=True)
    return SeedPlan(tuple(steps), plan_hash(steps), record_in)


INITDB = "/docker-entrypoint-initdb.d"


def init_scripts(service: dict[str, object], root: Path) -> list[tuple[str, bytes]] | None:
    """The files mounted into Postgres' ``/docker-entrypoint-initdb.d`` (name, content), in
    the order the entrypoint runs them; None when nothing is mounted there. A mount whose
    source is not a host path (a named volume) counts with no content."""
    found: list[tuple[str, bytes]] = []
    mounted = False
    volumes = service.get("volumes")
    for volume in volumes if isinstance(volumes, list) else []:
        if isinstance(volume, dict):
            source, target = str(volume.get("source", "")), str(volume.get("target", ""))
        else:
            parts = str(volume).split(":")
            source, target = (parts[0], parts[1]) if len(parts) > 1 else ("", parts[0])
        if target.rstrip("/") != INITDB and not target.startswith(INITDB + "/"):
            continue
        mounted = True
        path = Path(source) if source.startswith(("/", ".", "~")) else None
        if path is not None and not path.is_absolute():
            path = root / path
        if path is None or not path.exists():
            found.append((target, b""))
        elif path.is_dir():
            found.extend((f"{target}/{f.name}", _bytes(f)) for f in sorted(path.iterdir()) if f.is_file())
        else:
            found.append((target, _bytes(path)))
    return sorted(found) if mounted else None


def _bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""


def init_hash(scripts: list[tuple[str, bytes]]) -> str:
    digest = hashlib.sha256(b"initdb\0")
    for name, content in scripts:
        digest.update(name.encode() + b"\0" + hashlib.sha256(content).digest())
    return digest.hexdigest()[:16]


def _shown(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def plan_hash(steps: list[Step] | tuple[Step, ...]) -> str:
    digest = hashlib.sha256()
    for step in steps:
        digest.update(json.dumps([step.kind, step.label, list(step.argv), step.text]).encode())
        digest.update(b"\0")
    return digest.hexdigest()[:16]


# -- where the data lives -------------------------------------------------------------------


def database(ws: Workspace, container: str) -> Database:
    """The user and database the Postgres container was made with: its environment as
    rendered (the profile's `${POSTGRES_USER:-app}`, or what devenv.yaml, a compose file or
    `devenv init` set), filled from the shell and `.env`; the official image's defaults last."""
    from devenv.project import interpolate

    declared = ws.compose.compose["services"].get(POSTGRES, {}).get("environment") or {}
    if isinstance(declared, list):  # Compose's list form, KEY=VALUE
        declared = dict(item.partition("=")[::2] for item in declared)
    env = ws.env()

    def value(key: str) -> str:
        raw = declared.get(key)
        return interpolate(str(raw), env) if raw is not None else ""

    user = value("POSTGRES_USER") or "postgres"
    return Database(container, user, value("POSTGRES_DB") or user)


def psql(engine: Engine, db: Database, sql: str, *, dbname: str | None = None) -> str:
    """Run SQL as the project's user (over the container's socket), stop at the first error;
    return what it printed (unaligned, tuples only)."""
    return psql_on(engine, db.container, db.user, dbname or db.name, sql)


def psql_on(engine: Engine, container: str, user: str, dbname: str, sql: str) -> str:
    done = engine.exec(
        container,
        ["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-U", user, "-d", dbname, "-f", "-"],
        input=sql,
    )
    if done.code != 0:
        raise SeedFailedError(
            f"postgres: {_psql_message(done.stderr) or 'psql failed'}",
            hint=f"check the Postgres logs: `docker logs {container}`",
            details=done.stderr.strip(),
        )
    return done.stdout


def _psql_message(stderr: str) -> str:
    for line in stderr.splitlines():
        found = _PSQL_ERROR.match(line.strip())
        if found:
            return found[2]
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    return lines[0].removeprefix("psql: ").strip() if lines else ""


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def read_record(engine: Engine, plan: SeedPlan, containers: dict[str, str], ws: Workspace) -> str:
    """The seed hash the data carries ("" for data devenv never seeded)."""
    if plan.record_in == POSTGRES:
        db = database(ws, containers[POSTGRES])
        found = psql(
            engine,
            db,
            "SELECT coalesce(shobj_description(oid, 'pg_database'), '') FROM pg_database "
            f"WHERE datname = {_literal(db.name)};",
        ).strip()
        first = found.split()[0] if found.split() else ""
        return first.removeprefix(RECORD_PREFIX) if first.startswith(RECORD_PREFIX) else ""
    done = engine.exec(containers[REDIS], ["redis-cli", "--raw", "GET", REDIS_KEY])
    return done.stdout.strip() if done.code == 0 else ""


def record_text(ws: Workspace, seed_hash: str) -> str:
    """What the database's comment says: the seed hash, and the git branch it belongs to
    (with a database per branch)."""
    from devenv import branches

    branch = branches.current(ws)
    return RECORD_PREFIX + seed_hash + (f" branch={branch}" if branch else "")


def write_record(engine: Engine, plan: SeedPlan, containers: dict[str, str], ws: Workspace) -> None:
    if plan.record_in == POSTGRES:
        db = database(ws, containers[POSTGRES])
        psql(engine, db, f"COMMENT ON DATABASE {_ident(db.name)} IS {_literal(record_text(ws, plan.hash))};")
    else:
        engine.exec(containers[REDIS], ["redis-cli", "SET", REDIS_KEY, plan.hash])
    remember(ws, seeded=plan.hash)


def remember(ws: Workspace, *, seeded: str | None = None, branch: str | None = None) -> None:
    """devenv's copy of what the data carries (for a no-op `up`, which asks no engine)."""
    record = _records(ws.project.root)
    record.update({key: value for key, value in (("seeded", seeded), ("branch", branch)) if value is not None})
    state.write_atomic(state.state_dir(ws.project.root) / DATA_FILE, json.dumps(record, indent=2) + "\n")


def _records(root: Path) -> dict[str, str]:
    try:
        data = json.loads((root / state.STATE_DIR / DATA_FILE).read_text(encoding="utf-8"))
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def remembered(root: Path, key: str = "seeded") -> str:
    return _records(root).get(key, "")


# -- carrying out ---------------------------------------------------------------------------


def run_steps(
    ws: Workspace, engine: Engine, plan: SeedPlan, containers: dict[str, str], *, skip: tuple[str, ...] = ()
) -> None:
    """Each step in order (but the kinds in ``skip``); the first failure raises
    SeedFailedError naming it."""
    for step in plan.steps:
        if step.kind in skip:
            continue
        if step.kind == "sql":
            _run_sql(ws, engine, step, containers)
        elif step.kind in ("migrate", "run"):
            done = engine.run_once(ws.files, API, list(step.argv))
            if done.code != 0:
                output = (done.stdout + done.stderr).strip().splitlines()
                raise SeedFailedError(
                    f"{'migrate' if step.kind == 'migrate' else 'seed'} `{step.label}` failed (exit code {done.code})",
                    hint=f"fix it ({step.where}) and run `devenv seed`; the stack is left running",
                    details="\n".join(output[-15:]),
                )
        else:
            _run_redis(engine, step, containers)


def _run_sql(ws: Workspace, engine: Engine, step: Step, containers: dict[str, str]) -> None:
    db = database(ws, containers[POSTGRES])
    done = engine.exec(
        db.container,
        ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-U", db.user, "-d", db.name, "-f", "-"],
        input=step.text,
    )
    if done.code == 0:
        return
    line, message = sql_error(done.stderr)
    raise SeedFailedError(
        f"seed {step.label}{f':{line}' if line else ''}: {message}",
        hint=f"fix {step.label} and run `devenv seed`; the stack is left running",
        details="\n".join(done.stderr.strip().splitlines()[1:6]),
    )


def sql_error(stderr: str) -> tuple[int | None, str]:
    """The line and Postgres' message of psql's first error (`psql:<stdin>:12: ERROR: …`)."""
    for raw in stderr.splitlines():
        found = _PSQL_ERROR.match(raw.strip())
        if found:
            return int(found[1]), found[2].strip()
    return None, _psql_message(stderr) or "psql failed"


def run_steps_redis(engine: Engine, plan: SeedPlan, containers: dict[str, str]) -> None:
    for step in plan.steps:
        if step.kind == "redis":
            _run_redis(engine, step, containers)


def _run_redis(engine: Engine, step: Step, containers: dict[str, str]) -> None:
    done = engine.exec(containers[REDIS], ["redis-cli", "--no-raw"], input=step.text + "\n")
    errors = [line for line in done.stdout.splitlines() if line.startswith("(error)")]
    if done.code != 0 or errors:
        message = errors[0].removeprefix("(error)").strip() if errors else (done.stderr.strip() or "redis-cli failed")
        raise SeedFailedError(
            f"seed {step.label}: {message}",
            hint=f"fix it ({step.where}) and run `devenv seed`; the stack is left running",
        )


def _containers(states: list[ServiceState] | tuple[ServiceState, ...]) -> dict[str, str]:
    return {s.service: s.name for s in states if s.state == "running"}


# -- what `up` and `devenv seed` do ---------------------------------------------------------


def changed_note() -> str:
    return "data: the seed inputs changed since this data was seeded; `devenv seed` runs them again on it"


def after_ready(ready: Ready) -> str | None:
    """`up`'s hook: the branch's database in place; new data seeded; a note when the inputs
    changed since it was seeded. When the api's connections were ended on the way (a swap,
    the template's copy), it must answer again, or is restarted (devenv.apicheck)."""
    ws, engine = ready.ws, ready.engine
    plan = seed_plan(ws)
    containers = _containers(ready.states)
    notes = []
    moved = False  # the api's database connections were ended
    if POSTGRES in containers and POSTGRES in ready.services:
        where = target(ws, containers)
        pgswap.run(engine, where, pgswap.repair_sql(names(ws, plan)))
        switched = branches.ensure(ws, engine, where, plan.hash)
        remember(ws, branch=branches.current(ws) or "")
        if switched:
            notes.append(switched)
            moved = True
    if plan.init and POSTGRES in containers and POSTGRES in ready.services:
        note = _keep_init_state(ws, engine, plan, containers)
        if note:
            notes.append(note)
            moved = moved or note != init_changed_note()
    if plan.steps and all(service in ready.services and service in containers for service in plan.services):
        # (part of the stack, `up --profile redis`: seeds wait for the whole of it)
        note = _seed_if_new(ws, engine, plan, containers)
        if note:
            notes.append(note)
            moved = moved or note != changed_note()
    if moved:
        notes.extend(filter(None, [apicheck.after_data_change(ws, engine, states=ready.states)]))
    return "\n  ".join(notes) or None


def _seed_if_new(ws: Workspace, engine: Engine, plan: SeedPlan, containers: dict[str, str]) -> str | None:
    if plan.record_in not in containers:
        return None
    recorded = _seen_before(ws, engine, plan, containers)
    if recorded:
        return None if recorded == plan.hash else changed_note()
    began = time.monotonic()
    run_steps(ws, engine, plan, containers)
    keep_seeded(ws, engine, plan, containers)
    return f"data: migrated and seeded in {time.monotonic() - began:.1f}s ({_count(plan)})"


def _keep_init_state(ws: Workspace, engine: Engine, plan: SeedPlan, containers: dict[str, str]) -> str | None:
    """A project seeded by Postgres init scripts: the state devenv first sees (right after
    the first start of a new volume) is kept as its template."""
    recorded = _seen_before(ws, engine, plan, containers)
    if recorded:
        return None if recorded == plan.hash else init_changed_note()
    keep_seeded(ws, engine, plan, containers)
    return "data: kept the state Postgres' init scripts left as the seeded state (`devenv reset` goes back to it)"


def _seen_before(ws: Workspace, engine: Engine, plan: SeedPlan, containers: dict[str, str]) -> str:
    """The seed hash recorded in the data ("" for new data); a recorded one is remembered."""
    recorded = read_record(engine, plan, containers, ws)
    if recorded:
        remember(ws, seeded=recorded)
    return recorded


def keep_seeded(ws: Workspace, engine: Engine, plan: SeedPlan, containers: dict[str, str]) -> None:
    """The data was just seeded: record the seed hash in it and keep it as the template."""
    write_record(engine, plan, containers, ws)
    keep_template(ws, engine, plan, containers)


def init_changed_note() -> str:
    return (
        "data: the Postgres init scripts changed since this database was created; Postgres runs them only "
        "on a new volume (`devenv down --volumes`, then `devenv up`)"
    )


def _count(plan: SeedPlan) -> str:
    n = len(plan.steps)
    return f"{n} step{'s' if n != 1 else ''}"


def applies(ws: Workspace) -> bool:
    data = ws.project.config.data
    if data.migrate or data.seeds or branches.current(ws) is not None:
        return True
    service = ws.compose.compose["services"].get(POSTGRES)
    return service is not None and init_scripts(service, ws.project.root) is not None


def noop_notes(ws: Workspace, engine: Engine) -> list[str]:
    """For a no-op `up`: the branch's database put in place when the branch changed since
    (one git call to know; the engine only when it did), and a note when the seed inputs
    changed."""
    notes = []
    branch = branches.current(ws)
    if branch is not None and branch != remembered(ws.project.root, "branch"):
        containers = _containers(engine.services(ws.name))
        if POSTGRES in containers:
            plan = seed_plan(ws)
            where = target(ws, containers)
            pgswap.run(engine, where, pgswap.repair_sql(names(ws, plan)))
            switched = branches.ensure(ws, engine, where, plan.hash)
            remember(ws, branch=branch)
            if switched:
                notes.append(switched)
                notes.extend(filter(None, [apicheck.after_data_change(ws, engine)]))
    stale = stale_note(ws)
    return [*notes, stale] if stale else notes


def stale_note(ws: Workspace) -> str | None:
    """For a no-op `up`: the inputs changed since the data was seeded (from devenv's own
    record; no engine call)."""
    try:
        plan = seed_plan(ws)
    except ConfigError:
        return None
    if not (plan.steps or plan.init):
        return None
    seeded = remembered(ws.project.root)
    if not seeded or seeded == plan.hash:
        return None
    return init_changed_note() if plan.init else changed_note()


@dataclass(frozen=True)
class SeedResult:
    steps: int
    elapsed: float
    hash: str
    note: str | None = None


def seed(ws: Workspace, engine: Engine) -> SeedResult:
    """`devenv seed`: migrate and seed the running stack's data now, whatever it holds."""
    plan = seed_plan(ws)
    if not plan.steps:
        raise ConfigError(
            f"{ws.project.config_path}: no migrate or seeds under `data:`",
            hint="see docs/reference/devenv-yaml.md#data for how to list them",
        )
    containers = _containers(engine.services(ws.name))
    missing = [service for service in (*plan.services, plan.record_in) if service not in containers]
    if missing:
        raise NotRunningError(
            f"{', '.join(dict.fromkeys(missing))} {'is' if len(set(missing)) == 1 else 'are'} not running",
            hint="start the stack first: `devenv up`",
        )
    began = time.monotonic()
    if POSTGRES in containers:
        pgswap.run(engine, target(ws, containers), pgswap.repair_sql(names(ws, plan)))
    run_steps(ws, engine, plan, containers)
    keep_seeded(ws, engine, plan, containers)
    note = apicheck.after_data_change(ws, engine)  # the template's copy ended the api's connections
    return SeedResult(len(plan.steps), time.monotonic() - began, plan.hash, note)


def target(ws: Workspace, containers: dict[str, str]) -> pgswap.Target:
    db = database(ws, containers[POSTGRES])
    return pgswap.Target(db.container, db.user, db.name)


def names(ws: Workspace, plan: SeedPlan) -> pgswap.Names:
    return pgswap.names(database(ws, "").name, plan.hash)


def keep_template(ws: Workspace, engine: Engine, plan: SeedPlan, containers: dict[str, str]) -> None:
    """Keep the seeded database as the template `devenv reset` copies (Postgres only); the
    database is closed to connections for the moment of the copy, and always opened again."""
    if POSTGRES not in containers:
        return
    where, n = target(ws, containers), names(ws, plan)
    try:
        pgswap.run(engine, where, pgswap.make_template_sql(n, RECORD_PREFIX + plan.hash))
    finally:
        pgswap.run(engine, where, pgswap.reopen_sql(n))
    pgswap.make_spare(engine, where, n)  # so that the first `devenv reset` is fast too


def register() -> None:
    """Add the seed hook to `up` (once)."""
    from devenv import hooks

    if not any(hook.name == "seed" for hook in hooks._REGISTERED):
        hooks.register(hooks.Hook("seed", after_ready, applies))
