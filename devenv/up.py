"""`devenv up`: carry out the plan, step by step.

1. Gather the facts and plan (``devenv.plan``). On an unchanged stack whose services all
   answer, stop there.
2. Preflight: Compose's version, free host ports.
3. Build what the plan says.
4. `docker compose create` every wanted service (network, volumes, containers; nothing starts).
5. Start each container the moment what it depends on is ready by devenv's probes, not at
   Docker's next healthcheck tick, while the probes run; fail at once on a service that exits,
   crash-loops, turns unhealthy or refuses its probe, and show the logs of one that stalls.
6. Run the after-ready hooks, then record what was applied.

Every docker process it starts is ended before it returns, whatever happens (Ctrl-C too).
Nothing here prints or imports python-on-whales.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

from devenv import build, hooks, logs, readiness, reload, state
from devenv.engine_types import EngineInfo, Port, Running, ServiceState
from devenv.errors import DevenvError, PortInUseError, ServiceFailedError, StartTimeoutError
from devenv.hostports import port_is_free, process_holding
from devenv.interfaces import Engine, Reporter
from devenv.plan import Facts, UpPlan, buildable, image_tag, plan_up
from devenv.project import API
from devenv.workspace import ServiceSummary, Workspace, summarize

DIAGNOSIS_LOG_LINES = 15
LIVE_LOG_LINES = 5
TICK = 0.05  # the loop's longest pause; a probe's answer or an engine event ends it sooner
POLL_EVERY = 2.0  # seconds between asking the engine for the containers' states unprompted
LOG_EVERY = 1.0  # seconds between reading a stalled service's newest lines


@dataclass
class UpResult:
    changed: bool
    services: list[ServiceSummary]
    elapsed: float
    built: list[str] = field(default_factory=list)
    started_at: float = 0.0  # time.time() when up began
    notes: list[str] = field(default_factory=list)  # what the after-ready hooks reported


@dataclass
class UpOptions:
    services: list[str] | None = None  # None: every enabled profile
    build: bool | None = None  # None: when the image is missing or its build inputs changed
    timeout: float | None = None  # None: devenv.yaml's timeout
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    wall: Callable[[], float] = time.time
    hooks: tuple[hooks.Hook, ...] | None = None  # None: the registered ones
    # seams for tests: what probes the services while up waits, and once (None: readiness')
    prober: Callable[[], readiness.Prober] | None = None
    check: Callable[..., dict[str, readiness.Report]] | None = None


def gather(ws: Workspace) -> Facts:
    """What planning needs to know from the project's files."""
    return Facts(state.read_applied(ws.project.root), ws.digest(), _fingerprints(ws))


def with_images(ws: Workspace, engine: Engine, facts: Facts, services: list[str] | None) -> Facts:
    """The facts, plus which of the images the stack builds exist (one engine call each)."""
    wanted = buildable(ws, ws.compose.with_dependencies(services))
    return replace(facts, images={image_tag(ws, name): engine.image_exists(image_tag(ws, name)) for name in wanted})


def plan(ws: Workspace, engine: Engine, options: UpOptions) -> UpPlan:
    """The full plan, with the engine asked which images exist (`up --dry-run`)."""
    return _plan(ws, with_images(ws, engine, gather(ws), options.services), options)


def _plan(ws: Workspace, facts: Facts, options: UpOptions) -> UpPlan:
    chosen = hooks.after_ready(ws) if options.hooks is None else options.hooks
    return plan_up(ws, facts, services=options.services, build=options.build, timeout=options.timeout, hooks=chosen)


def up(
    ws: Workspace, engine: Engine, reporter: Reporter, info: EngineInfo, options: UpOptions | None = None
) -> UpResult:
    options = options or UpOptions()
    clock = options.clock
    began, began_wall = clock(), options.wall()
    facts = gather(ws)
    the_plan = _plan(ws, facts, options)

    if the_plan.unchanged:
        states = engine.services(ws.name)
        reports = (options.check or readiness.check_now)(the_plan.rules, states)
        rows = summarize(ws, states, list(the_plan.services), reports)
        if all(row.ready for row in rows):
            return UpResult(False, rows, clock() - began, started_at=began_wall)

    with ThreadPoolExecutor(max_workers=1) as pool:  # Compose's version, asked alongside
        compose = pool.submit(engine.compose_version)
        check_ports(ws, engine, list(the_plan.services), engine.services(ws.name))
        if options.build is not False:  # now that work is due, ask which images exist
            the_plan = _plan(ws, with_images(ws, engine, facts, options.services), options)
        compose.result()
    if the_plan.build:
        reporter.step(f"building {', '.join(the_plan.build)}")
        engine.build(ws.files, list(the_plan.build))

    reporter.step(f"starting {', '.join(the_plan.services)}")
    engine.create(ws.files, list(the_plan.services))
    tracker = readiness.Tracker(
        the_plan.rules, list(the_plan.services), the_plan.depends, started=clock(), timeout=the_plan.timeout
    )
    try:
        verdict, states = _wait(ws, engine, reporter, tracker, options)
    finally:
        reporter.finish()
    if verdict.kind != "ready":
        raise diagnose(ws, engine, verdict, engine.services(ws.name))

    ready = hooks.Ready(ws, engine, the_plan.services, tuple(states), tuple(the_plan.services))
    notes = [note for hook in the_plan.hooks if (note := hook.run(ready))]
    if API in the_plan.services:
        prune_dependency_volumes(ws, engine)
    previous = facts.applied
    running = set(the_plan.services) | (set(previous.services) if previous.digest == the_plan.digest else set())
    state.write_applied(
        ws.project.root,
        state.Applied(the_plan.digest, the_plan.record, tuple(sorted(running)), info.api, previous.extra),
    )
    summaries = summarize(ws, states, list(the_plan.services))
    for summary in summaries:
        progress = tracker.progress[summary.service]
        summary.ready, summary.ready_after, summary.ready_at = True, progress.ready_after, progress.ready_at
    return UpResult(True, summaries, clock() - began, list(the_plan.build), began_wall, notes)


def _wait(
    ws: Workspace, engine: Engine, reporter: Reporter, tracker: readiness.Tracker, options: UpOptions
) -> tuple[readiness.Verdict, list[ServiceState]]:
    """Start containers as their dependencies get ready, until all are ready or one fails.

    Readiness comes from the probes, which wake this loop the moment one answers. The engine
    is asked for the containers' states when a start finishes (to learn its ports), when its
    events say something happened to one (an exit, a restart, a health change), and every
    POLL_EVERY in case an event was missed: each ask is a docker CLI process, and on a small
    machine polling several times a second takes CPU from the services starting."""
    clock = options.clock
    prober = (options.prober or readiness.Prober)()
    watch = engine.watch(ws.name, prober.wake)
    fixed = fixed_ports(ws)
    starting: dict[str, Running] = {}
    logs_read: dict[str, float] = {}
    try:
        # what waits for nothing starts at once, by name, before the first look at the engine
        for service in tracker.startable_now():
            tracker.asked(service)
            starting[service] = engine.start(container_name(ws, service))
        polled_at, states = clock(), engine.services(ws.name)
        ids = [s.id for s in states]
        while True:
            by_service = {s.service: s for s in states}
            finished = False
            for service, process in list(starting.items()):
                code = process.poll()
                if code is None:
                    continue
                del starting[service]
                if code != 0:
                    raise _start_error(process, service)
                process.end()
                finished = True
            if finished:  # its container runs now: learn its ports, judge it from here on
                polled_at, states = clock(), engine.inspect(ids)
                by_service = {s.service: s for s in states}
                for service in set(by_service) & tracker.pending - set(starting):
                    tracker.launch(by_service[service], clock())
            for current in states:
                rule = tracker.rules.get(current.service)
                if rule is not None:
                    early = fixed.get(current.service) if current.service in tracker.pending else None
                    prober.watch(rule, current, early)
            verdict = _observe_and_start(engine, tracker, prober, states, starting, polled_at, options)
            reporter.progress(tracker, clock())
            if verdict.done:
                return verdict, states
            now = clock()
            for service in tracker.stalled(now):
                if now - logs_read.get(service, -LOG_EVERY) >= LOG_EVERY and service in by_service:
                    logs_read[service] = now
                    tracker.progress[service].logs = _newest_lines(engine, by_service[service].name)
            if options.sleep is time.sleep:
                prober.wake.wait(TICK)  # a probe's answer ends the pause at once
            else:
                options.sleep(TICK)
            prober.wake.clear()
            if watch.take() or clock() - polled_at >= POLL_EVERY:
                polled_at, states = clock(), engine.inspect(ids)
    finally:
        watch.end()
        prober.stop()
        for process in starting.values():
            process.end()


def _observe_and_start(
    engine: Engine,
    tracker: readiness.Tracker,
    prober: readiness.Prober,
    states: list[ServiceState],
    starting: dict[str, Running],
    polled_at: float,
    options: UpOptions,
) -> readiness.Verdict:
    """Judge the snapshot with the newest probe reports, and start what may start now."""
    verdict = tracker.observe(states, prober.reports(), options.clock(), polled_at, options.wall)
    if verdict.done:
        return verdict
    by_service = {s.service: s for s in states}
    for service in tracker.startable(states):
        current = by_service[service]
        if current.state == "running":
            tracker.launch(current, options.clock())  # up to date and running: nothing to start
        else:
            tracker.asked(service)
            starting[service] = engine.start(current.id or current.name)
    return verdict


def fixed_ports(ws: Workspace) -> dict[str, dict[int, Port]]:
    """service -> {container port: host port} for the ports the compose file fixes (not 0)."""
    found: dict[str, dict[int, Port]] = {}
    for port in ws.compose.ports:
        if port.host_port:
            found.setdefault(port.service, {})[port.container_port] = Port(
                port.container_port, port.host_ip, port.host_port
            )
    return found


def container_name(ws: Workspace, service: str) -> str:
    """The container Compose creates for a service (one replica)."""
    spec = ws.compose.compose["services"].get(service, {})
    return str(spec.get("container_name") or f"{ws.name}-{service}-1")


def _start_error(process: Running, service: str) -> DevenvError:
    """A `docker start` that failed, as a typed error naming the service."""
    error = process.error()
    process.end()
    if isinstance(error, PortInUseError):
        return PortInUseError(f"{service}: {error.message}", hint=error.hint)
    error.message = f"starting {service} failed: {error.message.removeprefix('docker failed: ')}"
    return error


def _newest_lines(engine: Engine, container: str) -> list[str]:
    try:
        found = logs.tail_lines(engine, container, LIVE_LOG_LINES)  # devenv logs' reader
    except DevenvError as exc:
        return [f"(could not read its logs: {exc.message})"]
    return [line.rstrip() for line in found if line.strip()][-LIVE_LOG_LINES:]


def prune_dependency_volumes(ws: Workspace, engine: Engine) -> list[str]:
    """The api's dependency volumes of older manifests, but the newest few (switching back to
    a branch finds its volume ready); one still in use stays. Returns the removed ones."""
    setup = ws.compose.reload
    if setup is None or not setup.volumes:
        return []
    current = {f"{ws.name}_{key}" for _, key in setup.volumes}
    stale = reload.stale_dependency_volumes(engine.labelled_volumes(ws.name, reload.DEPS_LABEL), current)
    return engine.remove_volumes(stale)


def _fingerprints(ws: Workspace) -> dict[str, str]:
    """The build inputs of every service the stack builds (service -> fingerprint)."""
    found = {}
    for name, service in ws.compose.compose["services"].items():
        spec = service.get("build")
        if not isinstance(spec, dict) or "context" not in spec or "://" in str(spec["context"]):
            continue
        context = Path(spec["context"])
        mounted = [
            Path(volume.split(":", 1)[0])
            for volume in service.get("volumes", [])
            if isinstance(volume, str) and volume.startswith("/")
        ]
        manifests: tuple[Path, ...] = ()
        setup = ws.compose.reload
        if name == API and setup is not None:
            # what reaches the running api by a mount or by `devenv watch` needs no rebuild;
            # a manifest or the Dockerfile does, even inside a mounted folder
            mounted += [path.host for path in setup.paths]
            manifests = setup.manifests
        found[name] = build.context_fingerprint(
            context, context / spec.get("dockerfile", "Dockerfile"), mounted, manifests
        )
    return found


def diagnose(ws: Workspace, engine: Engine, verdict: readiness.Verdict, states: list[ServiceState]) -> DevenvError:
    """Name the service, show its last probe and log lines, and say what to run next."""
    service = verdict.service
    current = next((s for s in states if s.service == service), None)
    lines = []
    if current is not None:
        lines.append(f"state: {current.state}" + (f", health: {current.health}" if current.health else ""))
        if current.last_probe:
            lines.append("last health probe:")
            lines += [f"  {line}" for line in current.last_probe.splitlines()[-5:]]
        try:
            found = [line.rstrip() for line in logs.tail_lines(engine, current.name, DIAGNOSIS_LOG_LINES)]
            lines.append(f"last {DIAGNOSIS_LOG_LINES} log lines:" if any(found) else "no log output")
            lines += [f"  {line}" for line in found[-DIAGNOSIS_LOG_LINES:]] if any(found) else []
        except DevenvError as exc:
            lines.append(f"could not read its logs: {exc.message}")
    else:
        lines.append("no container was created for it")
    hint = verdict.hint or (
        f"see everything it printed: docker compose -p {ws.name} logs {service}; "
        "the other services were left running (`devenv status`, `devenv down`)"
    )
    if verdict.kind == "timeout":
        return StartTimeoutError(
            f"{service} did not become ready: {verdict.reason}", hint=hint, details="\n".join(lines)
        )
    return ServiceFailedError(f"{service} failed: {verdict.reason}", hint=hint, details="\n".join(lines))


def check_ports(ws: Workspace, engine: Engine, wanted: list[str], current: list[ServiceState]) -> None:
    """Every host port the stack publishes must be free (or already ours) before starting."""
    ours = {(p.host_ip, p.host_port) for s in current if s.state == "running" for p in s.ports}
    ours |= {("0.0.0.0", p.host_port) for s in current if s.state == "running" for p in s.ports}
    for port in ws.compose.ports:
        if port.service not in wanted or port.host_port == 0 or (port.host_ip, port.host_port) in ours:
            continue
        if port_is_free(port.host_ip, port.host_port):
            continue
        holder = engine.port_holder(port.host_port) or process_holding(port.host_port)
        by = f" by {holder}" if holder else ""
        key = (
            "api.port"
            if port.service == API
            else f"services.{port.service}.ports: {{{port.container_port}: <free port>}}"
        )
        raise PortInUseError(
            f"port {port.host_ip}:{port.host_port} for {port.service} is already in use{by}",
            hint=f"stop it, or pick another port in devenv.yaml ({key})",
        )
