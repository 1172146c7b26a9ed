"""What `devenv up` will do, decided once as plain data before anything acts.

``plan_up()`` is pure: from the workspace, the facts gathered about it (the last applied
state, build fingerprints, which images exist) and the options, it decides whether the stack
may already be up, what to build, what to start in which order, what each service waits for
and how readiness is judged. ``devenv up --dry-run`` prints it; ``devenv.up`` carries it out
and never re-derives what it holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from devenv import state
from devenv.hooks import Hook
from devenv.readiness import Rule
from devenv.workspace import Workspace


@dataclass(frozen=True)
class Facts:
    """What `up` looked up before planning."""

    applied: state.Applied
    digest: str
    fingerprints: dict[str, str]  # service -> fingerprint of its build inputs now
    images: dict[str, bool] = field(default_factory=dict)  # image tag -> present


@dataclass(frozen=True)
class UpPlan:
    services: tuple[str, ...]  # what to start, in dependency order
    depends: dict[str, dict[str, str]]  # service -> {dependency: condition} it waits for
    rules: dict[str, Rule]  # how each counts as ready
    build: tuple[str, ...]  # services to build first
    images: dict[str, str]  # service -> the image tag it builds
    unchanged: bool  # nothing changed since the last up: if all answer, there is nothing to do
    digest: str
    record: dict[str, str]  # service -> fingerprint to record once up succeeds
    timeout: float
    hooks: tuple[Hook, ...] = ()

    def describe(self) -> list[str]:
        """The plan in words (up --dry-run)."""
        lines = []
        if self.unchanged:
            lines.append("nothing changed since the last up: if every service answers, do nothing")
        lines.append(f"build: {', '.join(self.build) if self.build else 'nothing'}")
        for service in self.services:
            waits = self.depends.get(service, {})
            after = ", ".join(f"{dep} {_WORDS.get(cond, cond)}" for dep, cond in waits.items()) or "at once"
            rule = self.rules.get(service)
            if rule and rule.completes:
                ready = "once it has finished with exit code 0"
            elif rule and rule.probes:
                ready = "when " + " and ".join(p.describe() for p in rule.probes) + " answers"
            else:
                ready = "by Docker's healthcheck, else once it has kept running for a second"
            lines.append(f"start {service}: {after}; ready {ready}")
        for hook in self.hooks:
            lines.append(f"then: {hook.name}")
        lines.append(f"give up after {self.timeout:g}s")
        return lines


_WORDS = {
    "service_healthy": "is ready",
    "service_started": "has started",
    "service_completed_successfully": "has finished",
}


def image_tag(ws: Workspace, service: str) -> str:
    spec = ws.compose.compose["services"][service]
    return str(spec.get("image") or f"{ws.name}-{service}")


def buildable(ws: Workspace, wanted: list[str]) -> list[str]:
    return [name for name in wanted if "build" in ws.compose.compose["services"][name]]


def plan_up(
    ws: Workspace,
    facts: Facts,
    *,
    services: list[str] | None = None,
    build: bool | None = None,
    timeout: float | None = None,
    hooks: tuple[Hook, ...] = (),
) -> UpPlan:
    wanted = ws.compose.with_dependencies(services)
    applied = facts.applied
    unchanged = (
        build is not True
        and applied.digest == facts.digest
        and applied.fingerprints == facts.fingerprints
        and set(wanted) <= set(applied.services)
    )
    stale = {name for name, value in facts.fingerprints.items() if applied.fingerprints.get(name) != value}
    to_build: list[str] = []
    if build is not False:
        to_build = [
            name
            for name in buildable(ws, wanted)
            if build or name in stale or not facts.images.get(image_tag(ws, name), False)
        ]
    # the fingerprint on record is the one each image was built from: a service whose inputs
    # changed but that is not built now (--no-build, not wanted) keeps its old one
    record = {
        name: value if name in to_build or name not in stale else applied.fingerprints.get(name, "")
        for name, value in facts.fingerprints.items()
    }
    wanted_set = set(wanted)
    return UpPlan(
        services=tuple(wanted),
        depends={
            name: {dep: cond for dep, cond in ws.compose.conditions.get(name, {}).items() if dep in wanted_set}
            for name in wanted
        },
        rules={name: rule for name, rule in ws.rules().items() if name in wanted_set},
        build=tuple(to_build),
        images={name: image_tag(ws, name) for name in buildable(ws, wanted)},
        unchanged=unchanged,
        digest=facts.digest,
        record=record,
        timeout=timeout or ws.project.config.timeout,
        hooks=hooks,
    )
