"""Shared test seams: a fake engine and a project factory. No test here touches Docker."""

from __future__ import annotations

import subprocess
import textwrap
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from devenv.engine_types import ComposeFiles, EngineInfo, Port, ServiceState, Volume
from devenv.errors import DevenvError


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


def state(
    service: str,
    status: str = "running",
    health: str | None = "healthy",
    *,
    ports: dict[int, int] | None = None,
    exit_code: int = 0,
    probe: str = "",
    project: str = "proj",
    id: str = "",
) -> ServiceState:
    return ServiceState(
        service=service,
        name=f"{project}-{service}-1",
        state=status,
        health=health,
        exit_code=exit_code,
        started_at=datetime.now(UTC) - timedelta(seconds=65),
        ports=tuple(Port(c, "127.0.0.1", h) for c, h in (ports or {}).items()),
        last_probe=probe,
        id=id or f"{project}-{service}-container",
    )


class FakeProcess:
    """A docker command that finished (code) or still runs (None), as the engine hands it out."""

    def __init__(self, code: int | None = 0, output: str = "", command: list[str] | None = None) -> None:
        self.code = code
        self.text = output
        self.command = command or ["docker", "container", "start", "x"]
        self.ended = False

    def poll(self) -> int | None:
        return self.code

    def output(self) -> str:
        return self.text

    def error(self) -> DevenvError:
        from devenv.engine import _translate

        return _translate(subprocess.CalledProcessError(self.code or 1, self.command, stderr=self.text))

    def end(self) -> None:
        self.ended = True


class FakeEngine:
    """Answers like the engine and records what was asked of it.

    ``snapshots``: what `services()` returns, one list per call (the last repeats). When
    `create()` is called, the engine simulates instead: created containers, which `start()`
    makes running (with the ports in ``ports``), unless ``fail`` says what goes wrong
    ("exit": it exits with code 1 at once; "restart": it crash-loops)."""

    def __init__(
        self,
        snapshots: list[list[ServiceState]] | None = None,
        *,
        images: set[str] | None = None,
        volumes: list[str] | None = None,
        logs: str = "",
        ports: dict[str, dict[int, int]] | None = None,
        fail: dict[str, str] | None = None,
        start: dict[str, FakeProcess] | None = None,
        api: tuple[int, int] = (1, 45),
    ) -> None:
        self.snapshots = list(snapshots or [[]])
        self.images = images if images is not None else set()
        self._volumes = volumes or []
        self._logs = logs
        self.calls: list[tuple] = []
        self.ports = ports or {}
        self.fail = fail or {}
        self.start_processes = start or {}
        self.api = api
        self.containers: dict[str, ServiceState] | None = None  # set by create()
        self.attach_code = 0  # what attach() (shell, exec) returns
        self.volume_records: list[Volume] = []  # what labelled_volumes() finds

    def info(self) -> EngineInfo:
        self.calls.append(("info",))
        return EngineInfo("26.1.5", self.api)

    def compose_version(self) -> str:
        self.calls.append(("compose_version",))
        return "5.6.1"

    def services(self, project: str) -> list[ServiceState]:
        if project:
            self.calls.append(("services", project))
        if self.containers is not None:
            return sorted(self.containers.values(), key=lambda s: s.service)
        # each call moves one snapshot on; the last one repeats
        return self.snapshots.pop(0) if len(self.snapshots) > 1 else self.snapshots[0]

    def inspect(self, ids: list[str]) -> list[ServiceState]:
        return [s for s in self.services("") if s.id in ids]

    def watch(self, project: str, wake) -> FakeWatch:
        self.calls.append(("watch", project))
        return FakeWatch()

    def logs_tail(self, container: str, lines: int = 20) -> str:
        self.calls.append(("logs_tail", container))
        return self._logs

    # logs (devenv logs): ``log_lines[container]`` is what `logs()` hands over at once, as
    # (stream, raw line) pairs; a follow's sink stays open in ``log_sinks`` for the test to feed
    def logs(self, container: str, sink, *, follow=False, since=None, until=None, tail=None) -> FakeFeed:
        self.calls.append(("logs", container, follow, since, until, tail))
        if hasattr(self, "log_lines"):
            lines = self.log_lines.get(container, [])
        else:  # what `logs=` says, as the container's stdout
            lines = [
                ("stdout", f"2025-01-31T09:00:00.{i:09d}Z {text}") for i, text in enumerate(self._logs.splitlines())
            ]
        for stream in ("stdout", "stderr"):
            batch = [raw for where, raw in lines if where == stream]
            if batch:
                sink(stream, batch)
        if follow:
            self.log_sinks = {**getattr(self, "log_sinks", {}), container: sink}
        else:
            sink("stdout", None)
            sink("stderr", None)
        feed = FakeFeed()
        self.feeds = [*getattr(self, "feeds", []), feed]
        return feed

    def log_stream(self, container: str, *, since=None, until=None, tail=None):
        """``streams[container]``: the one stream to hand over; none: the engine is not on a
        local socket (None), and `logs()` is used."""
        self.calls.append(("log_stream", container, since, until, tail))
        return getattr(self, "streams", {}).get(container)

    def log_events(self, project: str, sink, since: str) -> FakeFeed:
        self.calls.append(("log_events", project))
        self.event_sink = sink
        feed = FakeFeed()
        self.feeds = [*getattr(self, "feeds", []), feed]
        return feed

    def image_exists(self, tag: str) -> bool:
        return tag in self.images

    def port_holder(self, port: int) -> str | None:
        return None

    def volumes(self, project: str) -> list[str]:
        return list(self._volumes)

    def labelled_volumes(self, project: str, label: str) -> list[Volume]:
        return [v for v in self.volume_records if label in v.labels]

    def remove_volumes(self, names: list[str]) -> list[str]:
        if names:
            self.calls.append(("remove_volumes", tuple(names)))
        return list(names)

    def build(self, files: ComposeFiles, services: list[str]) -> None:
        self.calls.append(("build", tuple(services)))

    def create(self, files: ComposeFiles, services: list[str]) -> None:
        self.calls.append(("create", tuple(services)))
        existing = {s.service: s for s in (self.snapshots[0] if self.snapshots else [])}
        self.containers = {}
        for service in services:
            old = existing.get(service)
            self.containers[service] = (
                old
                if old is not None
                else replace(state(service, "created", None, project=files.name), started_at=None)
            )

    def start(self, container: str) -> FakeProcess:
        assert self.containers is not None, "start before create"
        current = next(s for s in self.containers.values() if container in (s.id, s.name))
        self.calls.append(("start", current.service))
        process = self.start_processes.get(current.service, FakeProcess(0))
        if process.code == 0:
            how = self.fail.get(current.service)
            if how == "exit":
                started = replace(current, state="exited", exit_code=1, started_at=datetime.now(UTC))
            elif how == "restart":
                started = replace(current, state="restarting", exit_code=2, restart_count=current.restart_count + 1)
            else:
                started = replace(
                    current,
                    state="running",
                    health="starting" if current.service in self.ports else None,
                    started_at=datetime.now(UTC),
                    ports=tuple(Port(c, "127.0.0.1", h) for c, h in self.ports.get(current.service, {}).items()),
                )
            self.containers[current.service] = started
        return process

    def down(self, files: ComposeFiles, *, volumes: bool) -> None:
        self.calls.append(("down", volumes))

    # doctor, shell and exec
    def buildx_version(self) -> str | None:
        return "0.17.1"

    def endpoint(self) -> str:
        return "unix:///var/run/docker.sock"

    def root_dir(self) -> str:
        return "/"

    def attach(self, container: str, command: list[str], *, tty: bool) -> int:
        self.calls.append(("attach", container, tuple(command), tty))
        return self.attach_code

    def compose_up(self, files: ComposeFiles, *, timeout: int = 180) -> None:
        self.calls.append(("compose_up", files.name))

    def compose_stop(self, files: ComposeFiles, services: list[str]) -> None:
        self.calls.append(("compose_stop", files.name, tuple(services)))

    # commands inside containers (data: seeds, reset): ``execs`` answers by the first word of
    # the command (or the whole command joined by spaces); the default is success, no output
    def exec(self, container: str, argv: list[str], *, input: str | None = None):
        from devenv.engine_types import Executed

        self.calls.append(("exec", container, tuple(argv), input))
        answer = getattr(self, "execs", {}).get(" ".join(argv)) or getattr(self, "execs", {}).get(argv[0])
        return answer if answer is not None else Executed(0, "", "")

    def run_once(self, files: ComposeFiles, service: str, argv: list[str]):
        from devenv.engine_types import Executed

        self.calls.append(("run_once", service, tuple(argv)))
        answer = getattr(self, "execs", {}).get(" ".join(argv))
        return answer if answer is not None else Executed(0, "", "")

    def called(self, name: str) -> list[tuple]:
        return [c for c in self.calls if c[0] == name]


class FakeWatch:
    def __init__(self) -> None:
        self.ended = False

    def take(self) -> bool:
        return True  # as if something happened every time: the loop asks the engine each pass

    def end(self) -> None:
        self.ended = True


class FakeFeed:
    """A `docker logs` or `docker events` process handed out by FakeEngine.logs/log_events."""

    def __init__(self, problem: DevenvError | None = None) -> None:
        self.problem = problem
        self.ended = False

    def failure(self) -> DevenvError | None:
        return self.problem

    def end(self) -> None:
        self.ended = True


class FakeProber:
    """Stands in for readiness.Prober: a service's probe answers once ``after[service]``
    more looks at the reports have passed (0: at once); ``refuse`` answers fatally."""

    def __init__(
        self, after: dict[str, int] | None = None, refuse: dict[str, str] | None = None, never: set[str] | None = None
    ) -> None:
        import threading

        self.after = dict(after or {})
        self.refuse = refuse or {}
        self.never = never or set()
        self.watched: dict[str, ServiceState] = {}
        self.wake = threading.Event()
        self.stopped = False

    def __call__(self) -> FakeProber:
        return self

    def watch(self, rule, state: ServiceState, planned=None) -> None:
        if rule.probes and state.state == "running":
            self.watched[state.service] = state

    def reports(self) -> dict:
        from devenv.readiness import Report

        found = {}
        for service, current in self.watched.items():
            if service in self.refuse:
                found[service] = Report(current.id, False, self.refuse[service], True, "postgres")
            elif service in self.never or self.after.get(service, 0) > 0:
                self.after[service] = self.after.get(service, 0) - 1
                found[service] = Report(current.id, False, "connection refused")
            else:
                found[service] = Report(current.id, True, "answering", wall=1000.0)
        return found

    def stop(self) -> None:
        self.stopped = True
