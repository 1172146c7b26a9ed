"""Readiness: when devenv counts a service ready, and how it waits. The one module for it.

A service is *ready* when devenv's own probes get a real answer from it through its published
port (Postgres logs in, Redis answers PONG, an HTTP endpoint answers 2xx): :class:`Rule`. A
service without a probe counts by Docker's healthcheck when it has one, else by running.
Docker's health is reported next to it, never overwritten by it.

Three layers, so that every rule is tested without Docker or time:

- :class:`Tracker` (pure) judges what the engine reported and what the probes found at one
  moment: which services may start now (their dependencies are ready), which are ready, which
  failed and why, or whether time ran out.
- :class:`Prober` (threads) runs each service's probes from the host at a fine cadence (50 ms,
  backing off to 0.5 s) and wakes the waiting loop the moment a probe answers.
- ``devenv.up`` is the thin loop that feeds them and starts containers.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from devenv.engine_types import Port, ServiceState

if TYPE_CHECKING:
    from devenv.probes import ProbeResult

PROTOCOLS = ("postgres", "redis", "http", "smtp")
STABLE_FOR = 1.0  # seconds a service with neither probe nor healthcheck must keep running
STALL_AFTER = 3.0  # seconds without getting ready after its start before its logs are shown
PROBE_TIMEOUT = 1.0
FAST_CADENCE = 0.05  # seconds between probes while a service starts...
SLOW_CADENCE = 0.5  # ...backing off to this
FAST_FOR = 10.0  # seconds of fast probing before backing off
MAX_IN_FLIGHT = 8  # attempts of one service's probes at once

# what a refusal means, per protocol (the probe got an answer that waiting will not change)
REFUSED_HINT = {
    "postgres": (
        "Postgres keeps the user, password and database its data volume was first created with: "
        "put the old POSTGRES_* values back (.env), or start over with fresh data: "
        "`devenv down --volumes` (deletes its data)"
    ),
    "redis": "check the Redis password devenv is given (REDIS_PASSWORD in .env) against the server's",
}


@dataclass(frozen=True)
class Probe:
    """One check devenv runs from the host against a container port (values resolved)."""

    protocol: str  # postgres | redis | http | smtp
    port: int  # the container port; devenv finds where it is published
    path: str = "/"
    user: str = ""
    password: str = field(default="", repr=False)
    database: str = ""

    def describe(self) -> str:
        if self.protocol == "http":
            return f"HTTP GET {self.path} on port {self.port}"
        if self.protocol == "postgres":
            return f"a Postgres login as {self.user} to {self.database} on port {self.port}"
        return f"{self.protocol} on port {self.port}"

    def check(self, host: str, host_port: int, timeout: float = PROBE_TIMEOUT) -> ProbeResult:
        from devenv import probes

        if self.protocol == "postgres":
            return probes.probe_postgres(
                host, host_port, user=self.user, password=self.password, database=self.database, timeout=timeout
            )
        if self.protocol == "redis":
            return probes.probe_redis(host, host_port, password=self.password or None, timeout=timeout)
        if self.protocol == "smtp":
            return probes.probe_tcp_banner(host, host_port, timeout=timeout)
        url_host = f"[{host}]" if ":" in host else host
        return probes.probe_http(f"http://{url_host}:{host_port}{self.path}", timeout=timeout)


@dataclass(frozen=True)
class Rule:
    """How one service counts as ready."""

    service: str
    probes: tuple[Probe, ...] = ()  # devenv's own; none: Docker's healthcheck, else running
    completes: bool = False  # a one-shot job a dependent waits for: exit code 0 is success

    @property
    def by(self) -> str:
        return "probe" if self.probes else "docker"


@dataclass(frozen=True)
class Report:
    """What a service's probes found about one container."""

    container: str  # the container id the probes ran against
    ok: bool
    detail: str = ""
    fatal: bool = False
    protocol: str = ""
    wall: float | None = None  # time.time() of the answer that made it ok


@dataclass(frozen=True)
class Verdict:
    kind: str  # "waiting", "ready", "failed", "timeout"
    service: str | None = None
    reason: str = ""
    hint: str = ""

    @property
    def done(self) -> bool:
        return self.kind != "waiting"


@dataclass
class ServiceProgress:
    service: str
    status: str = "waiting"  # waiting, starting, created, running, ready, unhealthy, exited, ...
    health: str | None = None  # Docker's, as reported
    ready_after: float | None = None  # seconds from the start of the wait
    ready_at: float | None = None  # time.time() when devenv saw it ready
    detail: str = ""  # what its probe said last
    logs: list[str] = field(default_factory=list)  # newest log lines, once it stalls


@dataclass
class Tracker:
    """What `up` waits for, judged from snapshots. Pure: no docker, no sleeping, no clock."""

    rules: dict[str, Rule]
    order: list[str]  # dependency order
    depends: dict[str, dict[str, str]]  # service -> {dependency: compose condition}
    started: float
    timeout: float
    progress: dict[str, ServiceProgress] = field(default_factory=dict)
    # service -> clock time its start finished: what the engine reports from then on is
    # about this run's container (an old exited one is not a failure before it is started)
    launched: dict[str, float] = field(default_factory=dict)
    pending: set[str] = field(default_factory=set)  # starts asked for and not finished
    restarts: dict[str, int] = field(default_factory=dict)  # restart count at launch
    ready: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        for service in self.order:
            self.progress.setdefault(service, ServiceProgress(service))

    # -- starting ----------------------------------------------------------------------------
    def startable(self, states: Iterable[ServiceState]) -> list[str]:
        """Services to start now: not started yet, and every dependency satisfies its
        condition by devenv's account (ready, running or completed)."""
        by_service = {s.service: s for s in states}
        due = []
        for service in self.order:
            if service in self.launched or service in self.pending or service not in by_service:
                continue
            if all(
                self._satisfied(dep, condition, by_service.get(dep))
                for dep, condition in self.depends.get(service, {}).items()
                if dep in self.progress
            ):
                due.append(service)
        return due

    def startable_now(self) -> list[str]:
        """Services that wait for nothing: they start as soon as their containers exist."""
        return [
            s
            for s in self.order
            if s not in self.launched
            and s not in self.pending
            and not any(dep in self.progress for dep in self.depends.get(s, {}))
        ]

    def _satisfied(self, dep: str, condition: str, state: ServiceState | None) -> bool:
        if dep not in self.launched or state is None:
            return False
        if condition == "service_started":
            return state.state in ("running", "exited") or dep in self.ready
        if condition == "service_completed_successfully":
            return state.state == "exited" and state.exit_code == 0
        return dep in self.ready

    def asked(self, service: str) -> None:
        self.pending.add(service)

    def launch(self, state: ServiceState, now: float) -> None:
        """Its start finished (or it was running already and needed none)."""
        self.pending.discard(state.service)
        self.launched[state.service] = now
        self.restarts[state.service] = state.restart_count

    # -- judging -----------------------------------------------------------------------------
    def observe(
        self,
        states: Iterable[ServiceState],
        reports: Mapping[str, Report],
        now: float,
        polled_at: float | None = None,
        wall: Callable[[], float] = time.time,
    ) -> Verdict:
        """Judge one snapshot. ``polled_at``: the clock time the snapshot was asked for; a
        service is only judged failed from a snapshot taken after its start finished."""
        polled_at = now if polled_at is None else polled_at
        by_service = {s.service: s for s in states if s.service in self.progress}
        failed: Verdict | None = None
        for service in self.order:
            progress = self.progress[service]
            state = by_service.get(service)
            report = reports.get(service)
            progress.health = state.health if state else None
            if report is not None and state is not None and report.container == state.id:
                progress.detail = report.detail
            if state is None or service not in self.launched:
                progress.status = "starting" if service in self.pending else "waiting"
                self.ready.discard(service)
                continue
            if self._is_ready(service, state, report, now):
                if service not in self.ready:
                    self.ready.add(service)
                    progress.ready_after = now - self.started
                    progress.ready_at = report.wall if report and report.wall else wall()
                progress.status = "ready" if state.state == "running" else "completed"
                continue
            self.ready.discard(service)
            progress.ready_after = progress.ready_at = None
            progress.status = state.health if state.state == "running" and state.health else state.state
            if failed is None and polled_at >= self.launched[service]:
                failed = self._failure(service, state, report)
        if failed:
            return failed
        if all(service in self.ready for service in self.order):
            return Verdict("ready")
        if now - self.started >= self.timeout:
            pending = [s for s in self.order if s not in self.ready]
            return Verdict("timeout", pending[0], f"not ready after {self.timeout:g}s: {', '.join(pending)}")
        return Verdict("waiting")

    def _is_ready(self, service: str, state: ServiceState, report: Report | None, now: float) -> bool:
        rule = self.rules.get(service, Rule(service))
        if state.state == "exited" and state.exit_code == 0 and rule.completes:
            return True
        if state.state != "running":
            return False
        if service in self.ready:
            return True  # stays ready while this container runs
        if rule.probes:
            return report is not None and report.container == state.id and report.ok
        if state.health is None:  # nothing to ask: it counts once it has kept running a moment
            return now - self.launched[service] >= STABLE_FOR and state.restart_count == self.restarts.get(service, 0)
        return state.health == "healthy"

    def _failure(self, service: str, state: ServiceState, report: Report | None) -> Verdict | None:
        if report is not None and report.fatal and report.container == state.id:
            return Verdict(
                "failed", service, f"it refused devenv's probe: {report.detail}", REFUSED_HINT.get(report.protocol, "")
            )
        if state.state == "restarting" or state.restart_count > self.restarts.get(service, 0):
            return Verdict("failed", service, f"it keeps restarting (last exit code {state.exit_code})")
        reason = failure(state)
        return Verdict("failed", service, reason) if reason else None

    def stalled(self, now: float) -> list[str]:
        """Started services that have not become ready for a while: show their logs."""
        return [
            s
            for s in self.order
            if s in self.launched and s not in self.ready and now - self.launched[s] >= STALL_AFTER
        ]

    def elapsed(self, now: float) -> float:
        return now - self.started


def failure(state: ServiceState) -> str:
    """Why a container can no longer become ready by itself, or '' if it still can."""
    if state.state in ("exited", "dead"):
        return f"exited with code {state.exit_code}"
    if state.health == "unhealthy":
        return "its healthcheck keeps failing"
    return ""


def probe_host(host_ip: str) -> str:
    """Where a port published on host_ip answers from this machine."""
    if host_ip in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host_ip == "::":
        return "::1"
    return host_ip


def targets(
    rule: Rule, state: ServiceState, planned: Mapping[int, Port] | None = None
) -> list[tuple[Probe, str, int]] | None:
    """(probe, host, host port) for each of a rule's probes; None while a port is unknown.
    ``planned``: host ports the compose file fixes, known before the engine reports them."""
    found = []
    for probe in rule.probes:
        port = state.host_port(probe.port) or (planned or {}).get(probe.port)
        if port is None:
            return None
        found.append((probe, probe_host(port.host_ip), port.host_port))
    return found


def check_now(rules: Mapping[str, Rule], states: Iterable[ServiceState]) -> dict[str, Report]:
    """Run every running service's probes once, side by side (for `status` and the no-op `up`)."""
    jobs = {}
    for state in states:
        rule = rules.get(state.service)
        if rule is None or not rule.probes or state.state != "running":
            continue
        found = targets(rule, state)
        if found is None:
            continue
        jobs[state.service] = (state.id, found)
    if not jobs:
        return {}
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        futures = {service: pool.submit(_check_all, container, found) for service, (container, found) in jobs.items()}
        return {service: future.result() for service, future in futures.items()}


def _check_all(container: str, found: list[tuple[Probe, str, int]]) -> Report:
    for probe, host, port in found:
        result = probe.check(host, port)
        if not result.ok:
            return Report(container, False, result.detail, result.fatal, probe.protocol)
    return Report(container, True, found[-1][0].describe() if found else "", wall=time.time())


class Prober:
    """Runs each service's probes in a thread of its own until they pass, fail for good or
    are stopped; ``wake`` is set on every change so the waiting loop reacts at once."""

    def __init__(self, *, fast_for: float = FAST_FOR) -> None:
        self.wake = threading.Event()
        self._reports: dict[str, Report] = {}
        self._threads: dict[str, tuple[str, threading.Thread, threading.Event]] = {}
        self._lock = threading.Lock()
        self._fast_for = fast_for

    def watch(self, rule: Rule, state: ServiceState, planned: Mapping[int, Port] | None = None) -> None:
        """Probe this container once its ports are known: when it runs, or, with ``planned``
        (its fixed host ports, for a container whose start was asked for), at once: the
        engine may report a start only after the service already answers. A new container
        replaces the old."""
        if not rule.probes or (state.state != "running" and not planned):
            return
        current = self._threads.get(rule.service)
        if current is not None and current[0] == state.id:
            return
        found = targets(rule, state, planned)
        if found is None:
            return
        if current is not None:
            current[2].set()
        stop = threading.Event()
        thread = threading.Thread(
            target=self._run,
            args=(rule.service, state.id, found, stop),
            name=f"devenv-probe-{rule.service}",
            daemon=True,
        )
        self._threads[rule.service] = (state.id, thread, stop)
        thread.start()

    def reports(self) -> dict[str, Report]:
        with self._lock:
            return dict(self._reports)

    def stop(self) -> None:
        for _, _, stop in self._threads.values():
            stop.set()
        for _, thread, _ in self._threads.values():
            thread.join(timeout=PROBE_TIMEOUT + 0.5)

    def _run(self, service: str, container: str, found: list[tuple[Probe, str, int]], stop: threading.Event) -> None:
        """Start an attempt every cadence tick, several in flight at once: while a container's
        network comes up, Docker's port proxy can accept a connection and hold it for about a
        second, and one attempt stuck there must not hide the moment the service answers."""
        began = time.monotonic()
        lock = threading.Lock()
        passed: set[int] = set()
        done = threading.Event()
        flying = [0]

        def attempt() -> None:
            try:
                report = None
                for index, (probe, host, port) in enumerate(found):
                    with lock:
                        if index in passed:
                            continue
                    result = probe.check(host, port)
                    if not result.ok:
                        report = Report(container, False, result.detail, result.fatal, probe.protocol)
                        break
                    with lock:
                        passed.add(index)
                final = report or Report(container, True, "answering", wall=time.time())
                with lock:
                    if done.is_set() or stop.is_set():
                        return  # an answer already decided it: a late failure must not undo it
                    if final.ok or final.fatal:
                        done.set()
                self._publish(service, final)
            finally:
                with lock:
                    flying[0] -= 1

        while not stop.is_set() and not done.is_set():
            with lock:
                room = flying[0] < MAX_IN_FLIGHT
                if room:
                    flying[0] += 1
            if room:
                threading.Thread(target=attempt, name=f"devenv-probe-{service}", daemon=True).start()
            fast = time.monotonic() - began < self._fast_for
            stop.wait(FAST_CADENCE if fast else SLOW_CADENCE)

    def _publish(self, service: str, report: Report) -> None:
        with self._lock:
            changed = self._reports.get(service) != report
            self._reports[service] = report
        if changed:
            self.wake.set()
