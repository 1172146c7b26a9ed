"""`devenv up`: build what changed, start the stack, wait until it answers, or say why not.

The flow, in order: the no-op fast path (nothing changed and everything answers), preflight
(compose version, engine, free ports), builds, then `docker compose up -d` as a process devenv
owns while it polls the engine and draws progress, and finally a diagnosis when a service fails
or time runs out. Nothing here prints or imports python-on-whales.
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from devenv import build, health, state
from devenv.engine_types import ServiceState
from devenv.errors import EngineError, PortInUseError, ServiceFailedError, StartTimeoutError
from devenv.hostports import port_is_free, process_holding
from devenv.project import API
from devenv.workspace import Engine, Reporter, ServiceSummary, Workspace, answering_early, api_url, summarize

DIAGNOSIS_LOG_LINES = 15


@dataclass
class UpResult:
    changed: bool
    services: list[ServiceSummary]
    elapsed: float
    built: list[str] = field(default_factory=list)


@dataclass
class UpOptions:
    services: list[str] | None = None  # None: every enabled profile
    build: bool | None = None  # None: when the build inputs changed
    timeout: float | None = None  # None: devenv.yaml's timeout
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep


def up(ws: Workspace, engine: Engine, reporter: Reporter, options: UpOptions | None = None) -> UpResult:
    options = options or UpOptions()
    clock = options.clock
    started = clock()
    wanted = ws.compose.with_dependencies(options.services)
    timeout = options.timeout or ws.project.config.timeout
    digest = ws.digest()
    fingerprints = _fingerprints(ws)
    applied = state.read_applied(ws.project.root)

    unchanged = (
        options.build is not True
        and applied.digest == digest
        and applied.fingerprints == fingerprints
        and set(wanted) <= set(applied.services)
    )
    if unchanged:
        states = engine.services(ws.name)
        if _answering(ws, states, wanted):
            rows = summarize(ws, states, wanted)
            for row in rows:
                if row.service == API:
                    row.health = "healthy"  # it answered just now
            return UpResult(False, rows, clock() - started)

    engine.compose_version()
    engine.ping()
    current = engine.services(ws.name)
    check_ports(ws, engine, wanted, current)
    stale = {name for name, value in fingerprints.items() if applied.fingerprints.get(name) != value}
    built = _build(ws, engine, reporter, wanted, options.build, stale)
    # the fingerprint on record is the one each image was built from: a service whose inputs
    # changed but that was not built now (--no-build, not wanted) keeps its old one
    recorded = {
        name: value if name in built or name not in stale else applied.fingerprints.get(name, "")
        for name, value in fingerprints.items()
    }

    reporter.step(f"starting {', '.join(wanted)}")
    tracker = health.Tracker(wanted, started=clock(), timeout=timeout, since=datetime.now(timezone.utc))
    last: list[list[ServiceState]] = [[]]

    def poll() -> list[ServiceState]:
        last[0] = _poll(ws, engine, tracker, wanted)
        return last[0]

    with tempfile.TemporaryFile("w+", prefix="devenv-up-") as output:
        process = engine.start_up(ws.files, wanted, output)
        try:
            verdict = health.wait(
                tracker,
                poll,
                clock=clock,
                sleep=options.sleep,
                on_change=reporter.progress,
                interrupt=lambda: _compose_exit(process, output, ws, tracker, clock()),
            )
            if verdict.kind == "ready" and API in wanted and not _confirmed(tracker, last[0]):
                verdict = _wait_for_api(ws, engine, tracker, options)
        finally:
            _end(process)
            reporter.finish()

    if verdict.kind != "ready":
        raise diagnose(ws, engine, verdict, engine.services(ws.name))
    states = last[0]
    running = set(wanted) | (set(applied.services) if applied.digest == digest else set())
    state.write_applied(ws.project.root, state.Applied(digest, recorded, tuple(sorted(running))))
    summaries = summarize(ws, states, wanted)
    for summary in summaries:
        summary.ready_after = tracker.progress[summary.service].ready_after
        if summary.service == API and summary.state == "running" and _confirmed(tracker, states):
            summary.health = "healthy"  # its health URL answered 2xx; Docker's probe lags a tick
    return UpResult(True, summaries, clock() - started, built)


def _build(
    ws: Workspace, engine: Engine, reporter: Reporter, wanted: list[str], force: bool | None, stale: set[str]
) -> list[str]:
    """Build the wanted services that have a build: always with --build, never with
    --no-build, otherwise when the image is missing or its build inputs changed."""
    if force is False:
        return []
    services = ws.compose.compose["services"]
    todo = [
        name for name in wanted
        if "build" in services[name]
        and (force or name in stale
             or not engine.image_exists(services[name].get("image") or f"{ws.name}-{name}"))
    ]
    if todo:
        reporter.step(f"building {', '.join(todo)}")
        engine.build(ws.files, todo)
    return todo


def _poll(ws: Workspace, engine: Engine, tracker: health.Tracker, wanted: list[str]) -> list[ServiceState]:
    """The engine's view, plus devenv's own probe of the api: once its container runs, an
    answer from its health URL on the host makes it ready without waiting for Docker's next
    healthcheck tick (the first one comes a whole interval after start)."""
    states = engine.services(ws.name)
    if API in wanted and not _confirmed(tracker, states):
        api = answering_early(ws, states)
        if api is not None:
            tracker.confirm(api)
    return states


def _confirmed(tracker: health.Tracker, states: list[ServiceState]) -> bool:
    """The api container running now is the one whose health URL answered."""
    api = next((s for s in states if s.service == API), None)
    return api is not None and tracker.confirmed.get(API) == api.id


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
        found[name] = build.context_fingerprint(context, context / spec.get("dockerfile", "Dockerfile"), mounted)
    return found


def _answering(ws: Workspace, states: list[ServiceState], wanted: list[str]) -> bool:
    """Every wanted service ready by Docker's account, and the api answering from the host
    (by the same rule as `up` and `status`: its answer counts before Docker's next probe)."""
    ready = {s.service for s in states if s.ready}
    if not all(service in ready for service in wanted if service != API):
        return False
    if API not in wanted:
        return True
    api = next((s for s in states if s.service == API), None)
    if api is None or api.state != "running" or api.health == "unhealthy":
        return False
    url = api_url(ws, states)
    return api.ready if url is None else health.http_ok(url)[0]


def _wait_for_api(ws: Workspace, engine: Engine, tracker: health.Tracker, options: UpOptions) -> health.Verdict:
    """The container says healthy; wait until the api answers from the host as well."""
    last = ""
    while True:
        url = api_url(ws, engine.services(ws.name))
        if url is None:
            return health.Verdict("ready")
        ok, last = health.http_ok(url)
        if ok:
            return health.Verdict("ready")
        if tracker.elapsed(options.clock()) >= tracker.timeout:
            return health.Verdict("timeout", API, f"{url} did not answer 2xx from the host: {last}")
        options.sleep(health.POLL_SECONDS)


def _compose_exit(
    process: subprocess.Popen[str], output, ws: Workspace, tracker: health.Tracker, now: float
) -> health.Verdict | None:
    """When `compose up` itself fails, turn what it said into a verdict or an error."""
    code = process.poll()
    if code is None:
        return None
    if code == 0:
        tracker.settle(now)
        return None
    output.seek(0)
    text = output.read().strip()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in reversed(lines):
        lowered = line.lower()
        if "is unhealthy" in lowered or ("exited" in lowered and "dependency" in lowered):
            container = line.split("container")[-1].split()[0] if "container" in line else ""
            service = _service_of(container, ws)
            return health.Verdict("failed", service, "its healthcheck keeps failing" if "unhealthy" in lowered else "it exited")
        if "port is already allocated" in lowered or "address already in use" in lowered:
            raise PortInUseError(
                f"a published port is already in use: {line}",
                hint="stop what holds it, or change the port in devenv.yaml (see `devenv config`)",
            )
    raise EngineError(
        f"docker compose up failed: {lines[-1] if lines else f'exit code {code}'}",
        hint=f"run it yourself to see more: {' '.join(ws.files.command('up'))}",
        details="\n".join(lines[-DIAGNOSIS_LOG_LINES:]),
    )


def _service_of(container: str, ws: Workspace) -> str | None:
    for service in ws.compose.services:
        if container.startswith(f"{ws.name}-{service}-"):
            return service
    return None


def _end(process: subprocess.Popen[str]) -> None:
    """`compose up` may still be waiting on dependencies: end it, and the compose plugin the
    docker CLI runs as its child (they share a process group of their own)."""
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGTERM)
        except OSError:
            process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        try:
            os.killpg(process.pid, 0)  # anyone left in the group?
        except OSError:
            return
        time.sleep(0.05)
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except OSError:
        pass


def diagnose(ws: Workspace, engine: Engine, verdict: health.Verdict, states: list[ServiceState]) -> Exception:
    """Name the service, show its last probe and log lines, and say what to run next."""
    service = verdict.service
    current = next((s for s in states if s.service == service), None)
    lines = []
    if current is not None:
        lines.append(f"state: {current.state}" + (f", health: {current.health}" if current.health else ""))
        if current.last_probe:
            lines.append("last health probe:")
            lines += [f"  {line}" for line in current.last_probe.splitlines()[-5:]]
        logs = engine.logs_tail(current.name, DIAGNOSIS_LOG_LINES).rstrip()
        lines.append(f"last {DIAGNOSIS_LOG_LINES} log lines:" if logs else "no log output")
        lines += [f"  {line}" for line in logs.splitlines()[-DIAGNOSIS_LOG_LINES:]]
    else:
        lines.append("no container was created for it")
    hint = (
        f"see everything it printed: docker compose -p {ws.name} logs {service}; "
        "the other services were left running (`devenv status`, `devenv down`)"
    )
    kind = StartTimeoutError if verdict.kind == "timeout" else ServiceFailedError
    what = f"{service} did not become ready: {verdict.reason}" if verdict.kind == "timeout" else f"{service} failed: {verdict.reason}"
    return kind(what, hint=hint, details="\n".join(lines))


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
