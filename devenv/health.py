"""Readiness: a pure state machine that judges snapshots, and a thin loop that feeds it.

``Tracker.observe()`` takes what the engine reports at one moment and says whether the stack is
ready, still starting, failed (and which service, and why) or out of time. It never sleeps or
calls docker, so every rule is unit-tested with made-up snapshots and a made-up clock. The loop
``wait()`` polls the engine, and takes its clock and sleep function as arguments for the same
reason.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from devenv.engine_types import ServiceState

POLL_SECONDS = 0.25
# how long a container that was already unhealthy before `up` may take to recover once
# Compose has started everything (an api turns healthy again when its database is back)
RECOVERY_GRACE = 10.0


@dataclass
class ServiceProgress:
    service: str
    status: str = "waiting"  # waiting, created, starting, running, healthy, unhealthy, exited, ...
    ready_after: float | None = None  # seconds from the start of the wait


@dataclass(frozen=True)
class Verdict:
    kind: str  # "waiting", "ready", "failed", "timeout"
    service: str | None = None
    reason: str = ""

    @property
    def done(self) -> bool:
        return self.kind != "waiting"


@dataclass
class Tracker:
    """What `up` waits for: every service running, and healthy where it has a healthcheck."""

    services: list[str]
    started: float
    timeout: float
    # wall-clock start of this `up`, when Compose is starting things: containers from before
    # it are not judged failed until started again (or Compose is done), and the stack is not
    # ready until Compose is done (an old container may be about to be replaced)
    since: datetime | None = None
    settled_at: float | None = None
    # containers (service -> container id) devenv's own probe found answering before
    # Docker's healthcheck said so; a recreated container must answer again
    confirmed: dict[str, str] = field(default_factory=dict)
    progress: dict[str, ServiceProgress] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for service in self.services:
            self.progress.setdefault(service, ServiceProgress(service))

    def observe(self, states: Iterable[ServiceState], now: float) -> Verdict:
        by_service = {s.service: s for s in states if s.service in self.progress}
        failed: Verdict | None = None
        for service in self.services:
            progress = self.progress[service]
            state = by_service.get(service)
            if state is None:
                progress.status = "waiting"
                continue
            ready = state.ready or (
                self.confirmed.get(service) == state.id and state.state == "running" and state.health != "unhealthy"
            )
            progress.status = "answering" if ready and not state.ready else _status(state)
            if ready and progress.ready_after is None:
                progress.ready_after = now - self.started
            elif not ready:
                progress.ready_after = None
            if failed is None and self._judged(state, now):
                reason = failure(state)
                if reason:
                    failed = Verdict("failed", service, reason)
        if failed:
            return failed
        settled = self.since is None or self.settled_at is not None
        if settled and all(p.ready_after is not None for p in self.progress.values()):
            return Verdict("ready")
        if now - self.started >= self.timeout:
            pending = [p.service for p in self.progress.values() if p.ready_after is None]
            return Verdict("timeout", pending[0], f"not ready after {self.timeout:g}s: {', '.join(pending)}")
        return Verdict("waiting")

    def elapsed(self, now: float) -> float:
        return now - self.started

    def confirm(self, state: ServiceState) -> None:
        """devenv's own probe got an answer from this container."""
        self.confirmed[state.service] = state.id

    def settle(self, now: float) -> None:
        """Compose has started everything it will start."""
        if self.settled_at is None:
            self.settled_at = now

    def _judged(self, state: ServiceState, now: float) -> bool:
        if self.since is None or (state.started_at is not None and state.started_at >= self.since):
            return True
        if self.settled_at is None:
            return False
        if state.health == "unhealthy" and state.state == "running":
            return now - self.settled_at >= RECOVERY_GRACE
        return True


def _status(state: ServiceState) -> str:
    if state.state == "running" and state.health:
        return state.health
    return state.state


def failure(state: ServiceState) -> str:
    """Why a container can no longer become ready by itself, or '' if it still can."""
    if state.state in ("exited", "dead"):
        return f"exited with code {state.exit_code}"
    if state.health == "unhealthy":
        return "its healthcheck keeps failing"
    return ""


def wait(
    tracker: Tracker,
    poll: Callable[[], list[ServiceState]],
    *,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
    on_change: Callable[[Tracker, float], None] = lambda tracker, now: None,
    interrupt: Callable[[], Verdict | None] = lambda: None,
) -> Verdict:
    """Poll until the tracker's verdict is final. ``interrupt`` may end the wait early."""
    while True:
        now = clock()
        verdict = tracker.observe(poll(), now)
        on_change(tracker, now)
        if verdict.done:
            return verdict
        early = interrupt()
        if early is not None:
            return early
        sleep(POLL_SECONDS)


def http_ok(url: str, timeout: float = 2.0) -> tuple[bool, str]:
    """GET a URL from the host: (answered 2xx, what it said or why it did not answer)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - localhost
            return 200 <= response.status < 300, f"HTTP {response.status}"
    except urllib.error.HTTPError as exc:
        body = exc.read(300).decode(errors="replace").strip()
        return False, f"HTTP {exc.code} {body}".strip()
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return False, str(reason)
