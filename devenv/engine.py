"""The one module that talks to Docker.

Inspection goes through python-on-whales; the long-running ``compose up`` is a subprocess devenv
starts and ends itself. Every docker failure is turned into a typed :class:`DevenvError` here,
keeping the command and its stderr, so the rest of devenv never sees a raw exception.
Set ``DEVENV_DEBUG=1`` to echo each docker command to stderr.

Import this module only from code that needs the engine: python-on-whales (and pydantic with
it) is not loaded for ``devenv --help``.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
import sys
from datetime import datetime
from typing import IO, Any

from devenv.engine_types import ComposeFiles, Port, ServiceState
from devenv.errors import (
    BuildFailedError,
    ComposeMissingError,
    DevenvError,
    EngineError,
    EngineUnreachableError,
    NoDockerError,
)

log = logging.getLogger("devenv.engine")

MIN_COMPOSE = (2, 24)  # env_file `required:` is rendered; it arrived in Compose 2.24
PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"

_UNREACHABLE = (
    "cannot connect to the docker daemon",
    "error during connect",
    "is the docker daemon running",
    "permission denied while trying to connect",
    "connection refused",
)


def _echo(cmd: list[str]) -> None:
    log.debug("run: %s", " ".join(cmd))
    if os.environ.get("DEVENV_DEBUG"):
        print("+ " + " ".join(cmd), file=sys.stderr)


def _translate(exc: Exception, cmd: list[str] | None = None) -> DevenvError:
    """Map a failed docker call to a typed error (the one place this is decided)."""
    from python_on_whales.exceptions import DockerException

    if isinstance(exc, FileNotFoundError):
        return NoDockerError(
            "the docker command was not found",
            hint="install Docker (Docker Desktop, or the engine and its CLI) and make sure `docker` is on PATH",
        )
    stderr = ""
    if isinstance(exc, DockerException):
        stderr = (exc.stderr or "").strip()
        cmd = list(exc.docker_command)
    elif isinstance(exc, subprocess.CalledProcessError):
        stderr = (exc.stderr or "").strip() if isinstance(exc.stderr, str) else ""
    text = stderr.lower()
    if any(marker in text for marker in _UNREACHABLE):
        return EngineUnreachableError(
            "the Docker engine is not reachable",
            hint="start Docker (Docker Desktop, or `sudo systemctl start docker`) and check `docker info`",
            details=stderr.splitlines()[-1] if stderr else "",
        )
    if "'compose' is not a docker command" in text:
        return _compose_missing()
    last = stderr.splitlines()[-1] if stderr else str(exc)
    return EngineError(
        f"docker failed: {last}",
        hint=f"the command was: {' '.join(cmd or [])}",
        details=stderr,
    )


def _compose_missing(found: str = "") -> ComposeMissingError:
    need = ".".join(map(str, MIN_COMPOSE))
    what = f"Docker Compose {found} is too old" if found else "the Docker Compose plugin is missing"
    return ComposeMissingError(
        f"{what}: devenv needs Compose v{need} or later",
        hint="install or update the `docker compose` plugin (Docker Desktop has it; on Linux, the docker-compose-plugin package)",
    )


class DockerEngine:
    """The real engine. Tests use the same methods against it; unit tests use a fake."""

    def __init__(self) -> None:
        if shutil.which("docker") is None:
            raise _translate(FileNotFoundError("docker"))
        if os.environ.get("DEVENV_DEBUG"):
            # echo python-on-whales' docker commands too (its own debug switch prints the
            # whole environment to stdout, secrets included: not that one)
            handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(logging.Formatter("+ %(message)s"))
            pow_log = logging.getLogger("python_on_whales")
            pow_log.addHandler(handler)
            pow_log.setLevel(logging.DEBUG)
        from python_on_whales import DockerClient

        self._docker = DockerClient()

    # -- inspection ------------------------------------------------------------------------
    def ping(self) -> str:
        """The server version; raises the right error when the engine does not answer."""
        try:
            return self._docker.version().server.version or "?"
        except Exception as exc:  # noqa: BLE001 - translated
            raise _translate(exc) from None

    def compose_version(self) -> str:
        cmd = ["docker", "compose", "version", "--short"]
        result = self._run(cmd)
        if result.returncode != 0:
            if "not a docker command" in result.stderr or "unknown" in result.stderr.lower():
                raise _compose_missing()
            raise _translate(subprocess.CalledProcessError(result.returncode, cmd, stderr=result.stderr), cmd)
        version = result.stdout.strip().lstrip("v")
        numbers = tuple(int(n) for n in re.findall(r"\d+", version)[:2])
        if numbers < MIN_COMPOSE:
            raise _compose_missing(version)
        return version

    def services(self, project: str) -> list[ServiceState]:
        """Every container of a compose project, running or not.

        `up` calls this several times a second, so it costs two docker calls whatever the
        number of containers: one list, one inspect of them all (python-on-whales' own
        list inspects each container with a call of its own)."""
        from python_on_whales.utils import run

        docker = self._docker.client_config.docker_cmd
        try:
            ids = run([*docker, "container", "list", "--all", "--quiet", "--no-trunc",
                       "--filter", f"label={PROJECT_LABEL}={project}"]).split()
            if not ids:
                return []
            found = json.loads(run([*docker, "container", "inspect", *ids]))
        except Exception as exc:  # noqa: BLE001 - translated
            if "No such container" in str(getattr(exc, "stderr", "")):
                return self.services(project)  # one went away between the two calls
            raise _translate(exc) from None
        return sorted((_state(item) for item in found), key=lambda s: s.service)

    def logs_tail(self, container: str, lines: int = 20) -> str:
        try:
            return self._docker.container.logs(container, tail=lines, timestamps=False)
        except Exception:  # noqa: BLE001 - diagnostics are best effort
            return ""

    def image_exists(self, tag: str) -> bool:
        try:
            return self._docker.image.exists(tag)
        except Exception as exc:  # noqa: BLE001 - translated
            raise _translate(exc) from None

    def port_holder(self, port: int) -> str | None:
        """The container publishing a host port, as 'name (project P)', if one does."""
        try:
            containers = self._docker.container.list(filters={"publish": str(port)})
        except Exception:  # noqa: BLE001 - best effort
            return None
        for container in containers:
            project = container.config.labels.get(PROJECT_LABEL)
            return f"container {container.name}" + (f" (project {project})" if project else "")
        return None

    def volumes(self, project: str) -> list[str]:
        try:
            return sorted(v.name for v in self._docker.volume.list(filters={"label": f"{PROJECT_LABEL}={project}"}))
        except Exception as exc:  # noqa: BLE001 - translated
            raise _translate(exc) from None

    # -- actions ---------------------------------------------------------------------------
    def build(self, files: ComposeFiles, services: list[str]) -> None:
        cmd = files.command("build", *services)
        result = self._run(cmd)
        if result.returncode != 0:
            self._remove_failed_step(result.stdout + result.stderr)
            raise _build_error(services, result.stdout + "\n" + result.stderr, " ".join(files.command("build", *services)))

    def _remove_failed_step(self, output: str) -> None:
        """The classic builder keeps the container of a failed step; remove that one (named
        in its output), and nothing else."""
        leftovers = failed_step_containers(output)
        if leftovers:
            self._run(["docker", "container", "rm", "--force", *leftovers])

    def start_up(self, files: ComposeFiles, services: list[str], output: IO[str]) -> subprocess.Popen[str]:
        """Start `compose up -d` without waiting for it; the caller owns (and ends) the process."""
        cmd = files.command("up", "--detach", "--no-build", "--remove-orphans", *services)
        _echo(cmd)
        try:
            return subprocess.Popen(
                cmd, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True,
                start_new_session=True,
            )
        except FileNotFoundError as exc:
            raise _translate(exc) from None

    def down(self, files: ComposeFiles, *, volumes: bool) -> None:
        cmd = files.command("down", "--remove-orphans", *(["--volumes"] if volumes else []))
        result = self._run(cmd)
        if result.returncode != 0:
            raise _translate(subprocess.CalledProcessError(result.returncode, cmd, stderr=result.stderr), cmd)

    def _run(self, cmd: list[str]) -> subprocess.CompletedProcess[str]:
        """Run a docker command. An unreachable engine or a missing compose plugin raises;
        any other failure is returned for the caller to explain in its own terms."""
        _echo(cmd)
        try:
            result = subprocess.run(cmd, capture_output=True, text=True, check=False)
        except FileNotFoundError as exc:
            raise _translate(exc) from None
        if result.returncode != 0:
            log.debug("exit %s: %s", result.returncode, result.stderr.strip())
            lowered = result.stderr.lower()
            if any(marker in lowered for marker in _UNREACHABLE):
                raise _translate(subprocess.CalledProcessError(result.returncode, cmd, stderr=result.stderr), cmd)
            if "'compose' is not a docker command" in lowered:
                raise _compose_missing()
        return result


def failed_step_containers(output: str) -> list[str]:
    """Containers the classic builder started for a step and never removed (failed steps)."""
    started = re.findall(r"---> Running in ([0-9a-f]{12,64})", output)
    removed = set(re.findall(r"Removing intermediate container ([0-9a-f]{12,64})", output))
    return [container for container in started if container not in removed]


def _state(inspected: dict[str, Any]) -> ServiceState:
    """One container from `docker container inspect` JSON (the Engine API's shape)."""
    state = inspected.get("State") or {}
    health = state.get("Health")
    last_probe = ""
    if health and health.get("Log"):
        last_probe = (health["Log"][-1].get("Output") or "").strip()
    ports: list[Port] = []
    for spec, bindings in ((inspected.get("NetworkSettings") or {}).get("Ports") or {}).items():
        for binding in bindings or []:
            ports.append(Port(int(spec.split("/")[0]), binding.get("HostIp", ""), int(binding.get("HostPort") or 0)))
    labels = (inspected.get("Config") or {}).get("Labels") or {}
    name = inspected.get("Name", "").lstrip("/")
    return ServiceState(
        service=labels.get(SERVICE_LABEL, name),
        name=name,
        state=state.get("Status") or "unknown",
        health=health.get("Status") if health else None,
        exit_code=state.get("ExitCode") or 0,
        started_at=_timestamp(state.get("StartedAt")),
        ports=tuple(sorted(ports, key=lambda p: (p.container_port, p.host_ip))),
        last_probe=last_probe,
        image_id=inspected.get("Image", ""),
        id=inspected.get("Id", ""),
    )


def _timestamp(value: str | None) -> datetime | None:
    """Docker's RFC 3339 times (nanoseconds, 'Z'); None for '0001-01-01…' (never started)."""
    if not value or value.startswith("0001-"):
        return None
    match = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)", value)
    if not match:
        return None
    fraction = (match[2] or ".0")[:7]
    zone = "+00:00" if match[3] == "Z" else match[3]
    return datetime.fromisoformat(f"{match[1]}{fraction}{zone}")


_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_STEP = re.compile(r"^(Step \d+/\d+ : .*|#\d+ \[.*\] .*|ERROR \[.*\] .*)$")
_FAILED = re.compile(r"(returned a non-zero code|did not complete successfully|failed to solve|ERROR:|error:|COPY failed|failed to compute cache key)", re.I)


def _build_error(services: list[str], output: str, command: str) -> BuildFailedError:
    """Name the failing Dockerfile step and show the lines it printed."""
    output = _ANSI.sub("", output)
    lines = [line.rstrip() for line in output.splitlines() if line.strip()]
    lines = [line for line in lines if "level=warning" not in line and "Building" not in line]
    step_index = max((i for i, line in enumerate(lines) if _STEP.match(line)), default=None)
    reason = next((line for line in reversed(lines) if _FAILED.search(line)), lines[-1] if lines else "no output")
    step = lines[step_index] if step_index is not None else "(before the first step)"
    tail = lines[step_index + 1:] if step_index is not None else lines
    details = "\n".join(tail[-15:])
    return BuildFailedError(
        f"building {', '.join(services)} failed at: {step}",
        hint=f"fix that Dockerfile step; the full output: {command}",
        details=details if reason in details else f"{details}\n{reason}",
    )
