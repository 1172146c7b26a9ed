"""A project made ready to run: devenv.yaml loaded, the compose project assembled and its
file written, and what every command derives from them (environment, digest, readiness rules,
summaries with URLs)."""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from devenv import build, state
from devenv.config import Project, load_project, read_dotenv
from devenv.engine_types import ComposeFiles, Port, ServiceState
from devenv.project import API, ComposeProject, interpolate, load_compose_project, resolve_link
from devenv.readiness import Probe, Report, Rule


@dataclass(frozen=True)
class Workspace:
    """A project made ready to run: its config, the assembled compose project and its files."""

    project: Project
    compose: ComposeProject
    files: ComposeFiles

    @property
    def name(self) -> str:
        return self.project.name

    @property
    def warnings(self) -> list[str]:
        found = [*self.project.warnings, *self.compose.notes]
        bind = self.project.config.bind_address
        if self.compose.ports and not (bind.startswith("127.") or bind in ("::1", "localhost")):
            found.append(
                f"{self.project.where('bind_address')}: ports are published on {bind}, not only on this "
                "machine: others on your network can reach the databases (the default is 127.0.0.1)"
            )
        spec = self.compose.compose["services"].get(API, {}).get("build")
        if isinstance(spec, dict):
            for path in build.exposed_secrets(Path(spec["context"])):
                found.append(
                    f"{path} is in the api's build context and not in .dockerignore: a COPY can put "
                    f"its secrets into the image; add {path.name} to .dockerignore"
                )
        return found

    def env(self) -> dict[str, str]:
        """The values Compose interpolates with: the shell's environment over `.env`."""
        return {**read_dotenv(self.project.root / ".env"), **os.environ}

    def digest(self) -> str:
        """What `up` applies: the rendered file, the values it interpolates and the `.env`
        the api reads. Only a hash is kept, never the values."""
        env = self.env()
        digest = hashlib.sha256(self.compose.digest().encode())
        for name in sorted(self.compose.variables()):
            digest.update(f"\0{name}={env.get(name, '')}".encode())
        try:
            digest.update((self.project.root / ".env").read_bytes())
        except OSError:
            pass
        return digest.hexdigest()[:16]

    def rules(self) -> dict[str, Rule]:
        """How each service counts as ready, its probes filled in from the environment (in
        memory only: a password here is never written anywhere)."""
        env = self.env()
        waited_to_finish = {
            dep
            for conditions in self.compose.conditions.values()
            for dep, condition in conditions.items()
            if condition == "service_completed_successfully"
        }
        rules = {}
        for service in self.compose.services:
            probes = tuple(
                Probe(
                    protocol=str(spec["protocol"]),
                    port=int(spec["port"]),
                    path=interpolate(str(spec.get("path", "/")), env),
                    user=interpolate(str(spec.get("user", "")), env),
                    password=interpolate(str(spec.get("password", "")), env),
                    database=interpolate(str(spec.get("database", "")), env),
                )
                for spec in self.compose.probes.get(service, ())
            )
            rules[service] = Rule(service, probes, completes=service in waited_to_finish)
        return rules


def open_workspace(start: Path, *, start_interval: bool | None = None, remote_engine: bool | None = None) -> Workspace:
    """Load and assemble the project in ``start`` (or a parent) and write its compose file.
    ``start_interval``: whether the engine honours healthcheck start_interval; None: as the
    last `up` found the engine (devenv config and status need not ask it). ``remote_engine``:
    whether the engine runs on another machine; None: as DOCKER_HOST or the docker context
    say (read from their files, no docker process)."""
    from devenv import reload

    project = load_project(start)
    if start_interval is None:
        start_interval = state.read_applied(project.root).engine_api >= (1, 44)
    if remote_engine is None:
        remote_engine = reload.remote_engine()
    compose = load_compose_project(project, start_interval=start_interval, remote_engine=remote_engine)
    rendered = state.state_dir(project.root) / "compose.yaml"
    state.write_if_changed(rendered, compose.render())
    return Workspace(project, compose, ComposeFiles(project.name, project.root, rendered))


@dataclass
class ServiceSummary:
    service: str
    state: str  # the container's: running, exited, ... or "not created"
    health: str | None  # Docker's healthcheck status, as the engine reports it
    links: list[str]
    ready: bool | None = None  # devenv's readiness: its probes answered (None: not probed)
    detail: str = ""  # what the probe said when not ready
    ready_after: float | None = None
    ready_at: float | None = None  # time.time() when devenv saw it ready
    uptime: float | None = None
    ports: tuple[Port, ...] = ()


_SECRET_NAME = re.compile(r"(^|_)(PASSWORD|PASSWD|PASS|SECRET|TOKEN|KEY)(_|$)", re.I)


def printable_env(env: dict[str, str]) -> dict[str, str]:
    """Secrets the user set (in .env or the shell) are shown as ***; the profiles' public
    defaults (which apply when nothing is set) are shown as they are."""
    return {name: "***" if _SECRET_NAME.search(name) and value else value for name, value in env.items()}


def summarize(
    ws: Workspace, states: list[ServiceState], wanted: list[str] | None = None, reports: dict[str, Report] | None = None
) -> list[ServiceSummary]:
    """One row per service: state, Docker's health, devenv's readiness, URLs, uptime."""
    env = printable_env(ws.env())
    rules = ws.rules()
    by_service = {s.service: s for s in states}
    now = datetime.now(UTC)
    summaries = []
    for service in wanted if wanted is not None else list(ws.compose.services):
        current = by_service.get(service)
        running = current is not None and current.state == "running"
        links = []
        if current is not None and running:
            host_ports = {port.container_port: port.host_port for port in current.ports}
            for template in ws.compose.links.get(service, ()):
                link = resolve_link(template, env, ws.project.config.bind_address, host_ports)
                if link:
                    links.append(link)
        summary = ServiceSummary(
            service,
            current.state if current else "not created",
            current.health if current else None,
            links,
            uptime=(now - current.started_at).total_seconds() if current and running and current.started_at else None,
            ports=current.ports if current else (),
        )
        report = (reports or {}).get(service)
        rule = rules.get(service)
        if current is not None and running and rule is not None and rule.probes:
            fresh = report if report is not None and report.container == current.id else None
            summary.ready = fresh is not None and fresh.ok
            summary.detail = fresh.detail if fresh is not None and not fresh.ok else ""
        elif current is not None and running:
            summary.ready = current.ready
        elif current is not None:
            summary.ready = False
        summaries.append(summary)
    return summaries
