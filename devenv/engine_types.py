"""Plain data the engine reports: importable without Docker or python-on-whales."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path


@dataclass(frozen=True)
class Port:
    container_port: int
    host_ip: str
    host_port: int


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

    @property
    def ready(self) -> bool:
        return self.state == "running" and self.health in (None, "healthy")


@dataclass
class ComposeFiles:
    """How to address one compose project: its name, folder and rendered file."""

    name: str
    directory: Path
    file: Path

    def command(self, *args: str) -> list[str]:
        base = ["docker", "compose", "--project-name", self.name,
                "--project-directory", str(self.directory), "--file", str(self.file)]
        return [*base, *args]
