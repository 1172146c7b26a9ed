"""`devenv reset`: the data back to its freshly seeded state, in about a second.

Postgres: a copy of the seeded template is built under a temporary name, then swapped in by
rename in one transaction (the api's connections ended first), so ``DATABASE_URL`` stays the
same and a reset that fails or is killed halfway leaves the previous database in place. When
there is no template for the current seed inputs (they changed, or the data predates
templates), an empty database is swapped in and migrated and seeded, and becomes the new
template; if that fails, the previous database is swapped back. Redis: flushed, then its
seeds run again. Mailhog: its messages deleted through its API.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from devenv import apicheck, branches, data, pgswap
from devenv.errors import AbortedError, NotRunningError, SeedFailedError, UsageError

if TYPE_CHECKING:
    from devenv.engine_types import ServiceState
    from devenv.interfaces import Engine
    from devenv.workspace import Workspace

RESETTABLE = (data.POSTGRES, data.REDIS, "mailhog")
MAILHOG_API = 8025


@dataclass
class ResetResult:
    services: list[str]
    elapsed: float = 0.0
    notes: list[str] = field(default_factory=list)
    rebuilt: bool = False


def chosen(ws: Workspace, services: list[str] | None) -> list[str]:
    """The services to reset: those named, or every data service the project has."""
    have = [name for name in RESETTABLE if name in ws.compose.services]
    if not services:
        return have
    for name in services:
        if name not in have:
            raise UsageError(
                f"`devenv reset` cannot reset {name!r}",
                hint=f"it resets the data of: {', '.join(have) or 'nothing in this project'}",
            )
    return [name for name in have if name in services]


def reset(ws: Workspace, engine: Engine, services: list[str] | None, *, confirm: Callable[[str], bool]) -> ResetResult:
    wanted = chosen(ws, services)
    states = {s.service: s for s in engine.services(ws.name) if s.state == "running"}
    missing = [name for name in wanted if name not in states]
    if missing:
        raise NotRunningError(
            f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not running",
            hint="start the stack first: `devenv up`",
        )
    plan = data.seed_plan(ws)
    if not confirm(f"Reset the data of {', '.join(wanted)} in project {ws.name}? Every change since seeding is lost."):
        raise AbortedError("nothing was reset", hint="add --yes to reset without asking")
    began = time.monotonic()
    result = ResetResult(wanted)
    containers = {name: s.name for name, s in states.items()}
    jobs: list[Callable[[], None]] = []
    if data.POSTGRES in wanted:
        jobs.append(lambda: _reset_postgres(ws, engine, plan, containers, result))
    if data.REDIS in wanted:
        jobs.append(lambda: _reset_redis(engine, plan, containers))
    if "mailhog" in wanted:
        jobs.append(lambda: _delete_mail(states["mailhog"]))
    with ThreadPoolExecutor(max_workers=len(jobs) or 1) as pool:  # the three stores side by side
        futures = [pool.submit(job) for job in jobs]
    for future in futures:
        future.result()  # the first failure, in the order above
    result.elapsed = time.monotonic() - began
    if data.POSTGRES in wanted or data.REDIS in wanted:  # the api still answers, or is restarted
        note = apicheck.after_data_change(ws, engine, states=list(states.values()))
        if note:
            result.notes.append(note)
    return result


def _reset_postgres(
    ws: Workspace, engine: Engine, plan: data.SeedPlan, containers: dict[str, str], result: ResetResult
) -> None:
    where, n = data.target(ws, containers), data.names(ws, plan)
    record = data.record_text(ws, plan.hash)
    if branches.detached(ws):  # the database in place keeps the branch it belongs to
        belongs = branches.owner(engine, where)
        record += f" branch={belongs}" if belongs else ""
    tidy = pgswap.repair_sql(n)
    if branches.current(ws) is not None:  # first this branch's database in place, then reset it
        pgswap.run(engine, where, tidy)
        tidy = ""
        switched = branches.ensure(ws, engine, where, plan.hash)
        if switched:
            result.notes.append(switched)
        data.remember(ws, branch=branches.current(ws) or "")
    # the usual case in one psql call: tidy, the copy of the template (the spare made ahead,
    # else copied now), swap; the old one is dropped and the next spare made in the background
    fast = tidy + pgswap.copy_sql(n) + pgswap.swap_sql(n, record)
    try:
        pgswap.run(engine, where, fast)
        pgswap.make_spare(engine, where, n)
        return
    except SeedFailedError as exc:
        if f'template database "{n.template}" does not exist' not in exc.message:
            raise
    if plan.init:  # the template is made from a new volume only: never empty the database instead
        raise SeedFailedError(
            "postgres has no kept state of its init scripts to go back to (they changed since this database "
            "was created)",
            hint="Postgres runs /docker-entrypoint-initdb.d only on a new volume: `devenv down --volumes`, "
            "then `devenv up`, starts over from them",
        )
    if not plan.steps:  # nothing to rebuild it from: never empty the database instead
        raise SeedFailedError(
            "postgres has no seeded state to go back to (no template, and no migrate or seeds in devenv.yaml)",
            hint="list them under `data:` in devenv.yaml (docs/reference/devenv-yaml.md#data), "
            "or reset only the other services: `devenv reset redis mailhog`",
        )
    # no template for these inputs: start from an empty database, migrate and seed it
    result.rebuilt = True
    result.notes.append(
        "the seed inputs changed since the template was made (or there was none): "
        "rebuilt it from an empty database, migrated and seeded"
    )
    pgswap.run(engine, where, pgswap.build_sql(n, empty=True))
    pgswap.run(engine, where, pgswap.swap_sql(n, ""))
    try:
        data.run_steps(ws, engine, plan, containers, skip=("redis",))
    except BaseException:
        pgswap.run(engine, where, pgswap.swap_back_sql(n))
        raise
    pgswap.run(engine, where, pgswap.drop_old_sql(n))
    data.keep_seeded(ws, engine, plan, containers)


def _reset_redis(engine: Engine, plan: data.SeedPlan, containers: dict[str, str]) -> None:
    """FLUSHALL, the redis seeds and the record in one redis-cli (one docker exec); when
    Redis answers an error, the same again step by step, so the error names its seed."""
    container = containers[data.REDIS]
    steps = tuple(s for s in plan.steps if s.kind == "redis")
    record = f"SET {data.REDIS_KEY} {plan.hash}\n" if plan.record_in == data.REDIS else ""
    script = "FLUSHALL\n" + "".join(step.text + "\n" for step in steps) + record
    done = engine.exec(container, ["redis-cli", "--no-raw"], input=script)
    if done.code == 0 and not any(line.startswith("(error)") for line in done.stdout.splitlines()):
        return
    flushed = engine.exec(container, ["redis-cli", "FLUSHALL"])
    if flushed.code != 0 or "ERR" in flushed.stdout:
        raise SeedFailedError(f"redis: FLUSHALL failed: {(flushed.stdout + flushed.stderr).strip()}")
    data.run_steps_redis(engine, data.SeedPlan(steps, plan.hash, plan.record_in), containers)
    if record:
        engine.exec(container, ["redis-cli", "SET", data.REDIS_KEY, plan.hash])


def _delete_mail(mailhog: ServiceState) -> None:
    port = mailhog.host_port(MAILHOG_API)
    if port is None:
        raise SeedFailedError(
            "mailhog: its API port 8025 is not published, so its messages cannot be deleted",
            hint="publish it (services.mailhog.ports in devenv.yaml), or reset without mailhog",
        )
    host = "127.0.0.1" if port.host_ip in ("", "0.0.0.0", "::") else port.host_ip
    url = f"http://{host}:{port.host_port}/api/v1/messages"
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="DELETE"), timeout=5) as answer:
            answer.read()
    except (urllib.error.URLError, OSError) as exc:
        raise SeedFailedError(f"mailhog: DELETE {url} failed: {exc}", hint="check `devenv status`") from None
