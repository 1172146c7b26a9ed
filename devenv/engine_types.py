"""Plain data the engine reports, and the one protocol for a process devenv started:
importable without Docker or python-on-whales."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from devenv.errors import DevenvError


@dataclass(frozen=True)
class Port:
    container_port: int
    host_ip: str
    host_port: int


@dataclass(frozen=True)
class EngineInfo:
    version: str  # the engine's own version, e.g. 26.1.5
    api: tuple[int, int]  # the Engine API version it speaks, e.g. (1, 45)

    @property
    def start_interval(self) -> bool:
        """Whether the engine honours a healthcheck's `start_interval` (API 1.44, Engine 25)."""
        return self.api >= (1, 44)


@dataclass(frozen=True)
class ServiceState:
    """One container of a compose service, as the engine reports it."""

    service: str
    name: str
    state: str  # created, running, restarting, exited, paused, dead
    health: str | None  # starting, healthy, unhealthy; None without a healthcheck
    exit_code: int = 0
    started_at: datetime | None = None
    ports: tuple[Port, ...] = ()
    last_probe: str = ""  # output of the last health probe
    image_id: str = ""
    id: str = ""  # the container's id: a recreated container has a new one
    restart_count: int = 0  # restarts by its restart policy: a crash loop counts up

    @property
    def ready(self) -> bool:
        """Ready by Docker's account alone: running, and healthy where it has a healthcheck."""
        return self.state == "running" and self.health in (None, "healthy")

    def host_port(self, container_port: int) -> Port | None:
        return next((p for p in self.ports if p.container_port == container_port and p.host_port), None)


@dataclass(frozen=True)
class Volume:
    """A volume as the engine reports it."""

    name: str
    created: str  # RFC 3339, as the engine reports it (sorts by time)
    labels: dict[str, str]


@dataclass(frozen=True)
class Executed:
    """A command that ran to its end inside a container: its exit code and output."""

    code: int
    stdout: str
    stderr: str


class Running(Protocol):
    """A docker command devenv started and owns (``devenv.engine.Process`` in real use)."""

    @property
    def command(self) -> list[str]: ...
    def poll(self) -> int | None: ...
    def output(self) -> str: ...
    def error(self) -> DevenvError: ...
    def end(self) -> None: ...


class Watching(Protocol):
    """A project's container events being followed (``devenv.engine.Watch`` in real use)."""

    def take(self) -> bool: ...
    def end(self) -> None: ...


@dataclass
class ComposeFiles:
    """How to address one compose project: its name, folder and rendered file."""

    name: str
    directory: Path
    file: Path

    def command(self, *args: str) -> list[str]:
        base = [
            "docker",
            "compose",
            "--project-name",
            self.name,
            "--project-directory",
            str(self.directory),
            "--file",
            str(self.file),
        ]
        return [*base, *args]
