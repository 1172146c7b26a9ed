"""A project made ready to run, and what every command needs to describe it.

``open_workspace()`` loads devenv.yaml, assembles the compose project and writes the rendered
file; ``summarize()`` turns what the engine reports into rows with URLs. The protocols say what
the commands need from an engine and from a progress display, so tests can pass fakes.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Protocol

from devenv import build, health, state
from devenv.config import Project, load_project, read_dotenv
from devenv.engine_types import ComposeFiles, Port, ServiceState
from devenv.project import API, ComposeProject, load_compose_project, resolve_link


class Engine(Protocol):
    """What the stack needs from Docker (``devenv.engine.DockerEngine`` in real use)."""

    def ping(self) -> str: ...
    def compose_version(self) -> str: ...
    def services(self, project: str) -> list[ServiceState]: ...
    def logs_tail(self, container: str, lines: int = 20) -> str: ...
    def image_exists(self, tag: str) -> bool: ...
    def port_holder(self, port: int) -> str | None: ...
    def volumes(self, project: str) -> list[str]: ...
    def build(self, files: ComposeFiles, services: list[str]) -> None: ...
    def start_up(self, files: ComposeFiles, services: list[str], output) -> subprocess.Popen[str]: ...
    def down(self, files: ComposeFiles, *, volumes: bool) -> None: ...


class Reporter(Protocol):
    def step(self, text: str) -> None: ...
    def progress(self, tracker: health.Tracker, now: float) -> None: ...
    def finish(self) -> None: ...


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
        found = list(self.project.warnings)
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


def open_workspace(start: Path) -> Workspace:
    project = load_project(start)
    compose = load_compose_project(project)
    folder = state.state_dir(project.root)
    rendered = folder / "compose.yaml"
    state.write_if_changed(rendered, compose.render())
    return Workspace(project, compose, ComposeFiles(project.name, project.root, rendered))


@dataclass
class ServiceSummary:
    service: str
    state: str
    health: str | None
    links: list[str]
    ready_after: float | None = None
    uptime: float | None = None
    ports: tuple[Port, ...] = ()


def api_url(ws: Workspace, states: list[ServiceState]) -> str | None:
    api = next((s for s in states if s.service == API), None)
    if api is None:
        return None
    port = next((p for p in api.ports if p.container_port == ws.compose.api_port), None)
    if port is None or not port.host_port:
        return None
    host = _display_host(port.host_ip)
    return f"http://{host}:{port.host_port}{ws.compose.health_path}"


def answering_early(ws: Workspace, states: list[ServiceState]) -> ServiceState | None:
    """The api container, when Docker still says `starting` but its health URL already
    answers from the host (Docker's first probe comes a whole interval after start)."""
    api = next((s for s in states if s.service == API), None)
    if api is None or api.state != "running" or api.health != "starting":
        return None
    url = api_url(ws, states)
    return api if url is not None and health.http_ok(url, timeout=1.0)[0] else None


_SECRET_NAME = re.compile(r"(^|_)(PASSWORD|PASSWD|PASS|SECRET|TOKEN|KEY)(_|$)", re.I)


def printable_env(env: dict[str, str]) -> dict[str, str]:
    """Secrets the user set (in .env or the shell) are shown as ***; the profiles' public
    defaults (which apply when nothing is set) are shown as they are."""
    return {name: "***" if _SECRET_NAME.search(name) and value else value for name, value in env.items()}


def summarize(ws: Workspace, states: list[ServiceState], wanted: list[str] | None = None) -> list[ServiceSummary]:
    env = printable_env(ws.env())
    by_service = {s.service: s for s in states}
    now = datetime.now(timezone.utc)
    summaries = []
    for service in wanted if wanted is not None else list(ws.compose.services):
        current = by_service.get(service)
        ports = {p.container_port: p for p in current.ports} if current else {}
        links = []
        if current is not None and current.state == "running":
            for template in ws.compose.links.get(service, ()):
                link = resolve_link(template, env, ws.project.config.bind_address, {
                    number: port.host_port for number, port in ports.items()
                })
                if link:
                    links.append(link)
        uptime = (now - current.started_at).total_seconds() if current and current.started_at and current.state == "running" else None
        summaries.append(
            ServiceSummary(
                service,
                current.state if current else "not created",
                current.health if current else None,
                links,
                uptime=uptime,
                ports=current.ports if current else (),
            )
        )
    return summaries


def _display_host(host_ip: str) -> str:
    return "127.0.0.1" if host_ip in ("", "0.0.0.0", "::") else host_ip
