"""Shared test seams: a fake engine and a project factory. No test here touches Docker."""

from __future__ import annotations

import subprocess
import textwrap
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from devenv.engine_types import ComposeFiles, Port, ServiceState


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Crash logs go to a temp folder, never the real ~/.cache."""
    monkeypatch.setenv("DEVENV_HOME", str(tmp_path_factory.mktemp("devenv-home")))
    monkeypatch.delenv("DEVENV_PROJECT_NAME", raising=False)


@pytest.fixture
def make_project(tmp_path: Path):
    """Write a devenv.yaml (and optional files) into a fresh folder; return the folder."""

    def make(config: str, files: dict[str, str] | None = None, folder: str = "proj") -> Path:
        root = tmp_path / folder
        root.mkdir(parents=True, exist_ok=True)
        (root / "devenv.yaml").write_text(textwrap.dedent(config).lstrip())
        for name, text in (files or {}).items():
            path = root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(text).lstrip())
        return root

    return make


def state(service: str, status: str = "running", health: str | None = "healthy", *,
          ports: dict[int, int] | None = None, exit_code: int = 0, probe: str = "",
          project: str = "proj", id: str = "") -> ServiceState:
    return ServiceState(
        service=service,
        name=f"{project}-{service}-1",
        state=status,
        health=health,
        exit_code=exit_code,
        started_at=datetime.now(timezone.utc) - timedelta(seconds=65),
        ports=tuple(Port(c, "127.0.0.1", h) for c, h in (ports or {}).items()),
        last_probe=probe,
        id=id or f"{project}-{service}-container",
    )


class FakeProcess:
    def __init__(self, code: int | None = 0, output: str = "") -> None:
        self.code = code
        self.output = output
        self.pid = -1
        self.terminated = False

    def poll(self) -> int | None:
        return self.code

    def terminate(self) -> None:
        self.terminated = True
        self.code = -15

    def wait(self, timeout: float | None = None) -> int:
        return self.code or 0

    def kill(self) -> None:
        self.terminate()


class FakeEngine:
    """Answers like the engine from scripted snapshots and records what was asked of it."""

    def __init__(self, snapshots: list[list[ServiceState]] | None = None, *,
                 images: set[str] | None = None, volumes: list[str] | None = None,
                 up_process: FakeProcess | None = None, logs: str = "") -> None:
        self.snapshots = list(snapshots or [[]])
        self.images = images if images is not None else set()
        self._volumes = volumes or []
        self.up_process = up_process or FakeProcess()
        self._logs = logs
        self.calls: list[tuple] = []

    def ping(self) -> str:
        self.calls.append(("ping",))
        return "20.10"

    def compose_version(self) -> str:
        self.calls.append(("compose_version",))
        return "5.6.1"

    def services(self, project: str) -> list[ServiceState]:
        self.calls.append(("services", project))
        # each call moves one snapshot on; the last one repeats
        return self.snapshots.pop(0) if len(self.snapshots) > 1 else self.snapshots[0]

    def logs_tail(self, container: str, lines: int = 20) -> str:
        self.calls.append(("logs_tail", container))
        return self._logs

    def image_exists(self, tag: str) -> bool:
        return tag in self.images

    def port_holder(self, port: int) -> str | None:
        return None

    def volumes(self, project: str) -> list[str]:
        return list(self._volumes)

    def build(self, files: ComposeFiles, services: list[str]) -> None:
        self.calls.append(("build", tuple(services)))

    def start_up(self, files: ComposeFiles, services: list[str], output) -> subprocess.Popen:
        self.calls.append(("up", tuple(services)))
        output.write(self.up_process.output)
        output.flush()
        return self.up_process  # type: ignore[return-value]

    def down(self, files: ComposeFiles, *, volumes: bool) -> None:
        self.calls.append(("down", volumes))

    def called(self, name: str) -> list[tuple]:
        return [c for c in self.calls if c[0] == name]
