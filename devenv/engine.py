"""The one module that talks to Docker.

Every docker command runs one way: :class:`Process`, a child in a process group of its own
that devenv owns and ends (Ctrl-C, failures, timeouts), with its output kept. Short commands
wait for it (``_run``); long ones hand the caller the handle (``start``). Every failure becomes
a typed :class:`DevenvError` in one place, ``_translate``, keeping the command and its stderr,
so the rest of devenv never sees a raw exception or parses docker's output.
Set ``DEVENV_DEBUG=1`` to echo each docker command to stderr.

python-on-whales (and pydantic with it) is imported only by the methods that use it, so
``devenv --help`` never loads it.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, BinaryIO, TypeVar

from devenv import dockerhost, interrupts
from devenv.dockerhost import local_socket
from devenv.engine_types import ComposeFiles, EngineInfo, Executed, Port, ServiceState, Volume
from devenv.errors import (
    BuildFailedError,
    ComposeMissingError,
    DevenvError,
    EngineError,
    EngineUnreachableError,
    NoDockerError,
    PortInUseError,
)

log = logging.getLogger("devenv.engine")

MIN_COMPOSE = (2, 24)  # env_file `required:` is rendered; it arrived in Compose 2.24
PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
END_GRACE = 5.0  # seconds a process group gets after SIGTERM before SIGKILL

_UNREACHABLE = (
    "cannot connect to the docker daemon",
    "error during connect",
    "is the docker daemon running",
    "permission denied while trying to connect",
    "connection refused",
)
_PORT_TAKEN = ("port is already allocated", "address already in use")
T = TypeVar("T")


_T0 = time.monotonic()


def _echo(cmd: list[str]) -> None:
    log.debug("run: %s", " ".join(cmd))
    if os.environ.get("DEVENV_DEBUG"):
        print(f"+ {time.monotonic() - _T0:6.3f}s " + " ".join(cmd), file=sys.stderr)


_LIVE: set[Process] = set()  # every docker process started and not ended yet


def end_all() -> None:
    """End every docker process devenv started and has not ended (on the way out, whatever
    happened: an interrupt can leave a process its owner never got to end)."""
    for process in list(_LIVE):
        process.end()
    for stream in _PREFETCHED.values():
        stream.end()
    _PREFETCHED.clear()


class Process:
    """A docker command devenv started: its own process group (the docker CLI runs the
    compose plugin as a child, which must end with it), stdin closed, stdout and stderr
    each in a temporary file. ``end()`` stops the whole group and is safe to call twice."""

    def __init__(self, cmd: list[str], *, stream: bool = False, stdin: Any = None, pipes: bool = False) -> None:
        """``stream``: stdout is a pipe to read line by line (``lines()``), not a file.
        ``stdin``: an open file the command reads (default: none). ``pipes``: stdout and
        stderr are both pipes of bytes (see PipedProcess)."""
        _echo(cmd)
        self.command = cmd
        self._out = tempfile.TemporaryFile("w+", prefix="devenv-docker-")  # noqa: SIM115 - closed by end()
        self._err = tempfile.TemporaryFile("w+", prefix="devenv-docker-")  # noqa: SIM115 - closed by end()
        self._ended = False
        # a Ctrl-C waits until the process is started and on the list of live ones, so that
        # whatever happens next, end_all() can still end it
        with interrupts.deferred():
            try:
                self._popen = subprocess.Popen(
                    cmd,
                    stdout=subprocess.PIPE if stream or pipes else self._out,
                    stderr=subprocess.PIPE if pipes else self._err,
                    stdin=subprocess.DEVNULL if stdin is None else stdin,
                    text=not pipes,  # pipes: bytes, read with os.read as they come
                    start_new_session=True,
                )
            except FileNotFoundError:
                self._out.close()
                self._err.close()
                raise _no_docker() from None
            _LIVE.add(self)

    @property
    def pid(self) -> int:
        return self._popen.pid

    def poll(self) -> int | None:
        return self._popen.poll()

    def wait(self) -> int:
        return self._popen.wait()

    def stdout(self) -> str:
        return _read(self._out)

    def lines(self) -> Iterator[str]:
        """What a streaming command prints, a line at a time, until it ends."""
        assert self._popen.stdout is not None, "not started with stream=True"
        yield from self._popen.stdout

    def stderr(self) -> str:
        return _read(self._err)

    def output(self) -> str:
        """What it printed: stdout, then stderr."""
        return self.stdout() + self.stderr()

    def end(self) -> None:
        """Stop the command and everything it started; close its output."""
        if self._ended:
            return
        self._ended = True
        if self._popen.poll() is None:
            _signal_group(self._popen.pid, signal.SIGTERM)
            try:
                self._popen.wait(timeout=END_GRACE)
            except subprocess.TimeoutExpired:
                _signal_group(self._popen.pid, signal.SIGKILL)
                self._popen.wait()
        # the group may outlive its leader (the compose plugin after the docker CLI)
        deadline = time.monotonic() + 2
        while _signal_group(self._popen.pid, 0) and time.monotonic() < deadline:
            time.sleep(0.02)
        _signal_group(self._popen.pid, signal.SIGKILL)
        if self._popen.stdout is not None:
            self._popen.stdout.close()
        self._out.close()
        self._err.close()
        _LIVE.discard(self)

    def error(self) -> DevenvError:
        """The typed error for a command that exited non-zero (read before ``end()``)."""
        return _translate(subprocess.CalledProcessError(self._popen.returncode, self.command, stderr=self.stderr()))


def _read(file: Any) -> str:
    if file.closed:
        return ""
    file.flush()
    file.seek(0)
    text: str = file.read()
    return text


def _signal_group(pid: int, sig: int) -> bool:
    """Signal a process group; False when nobody is left in it."""
    if pid <= 0:  # never signal our own group (0) or every process (-1)
        return False
    try:
        os.killpg(pid, sig)
        return True
    except OSError:
        return False


def _translate(exc: BaseException, cmd: list[str] | None = None) -> DevenvError:
    """Map a failed docker call to a typed error (the one place this is decided)."""
    if isinstance(exc, FileNotFoundError):
        return _no_docker()
    stderr = ""
    if _is_whales_error(exc):
        stderr = (getattr(exc, "stderr", "") or "").strip()
        cmd = list(getattr(exc, "docker_command", cmd or []))
    elif isinstance(exc, subprocess.CalledProcessError):
        stderr = (exc.stderr or "").strip() if isinstance(exc.stderr, str) else ""
        cmd = [str(part) for part in exc.cmd] if isinstance(exc.cmd, list) else cmd
    text = stderr.lower()
    last = stderr.splitlines()[-1].strip() if stderr else str(exc)
    if any(marker in text for marker in _UNREACHABLE):
        return EngineUnreachableError(
            "the Docker engine is not reachable",
            hint="start Docker (Docker Desktop, or `sudo systemctl start docker`) and check `docker info`",
            details=last,
        )
    if "'compose' is not a docker command" in text or "unknown command: docker compose" in text:
        return _compose_missing()
    if any(marker in text for marker in _PORT_TAKEN):
        taken = next(line.strip() for line in stderr.splitlines() if any(m in line.lower() for m in _PORT_TAKEN))
        return PortInUseError(
            f"a published port is already in use: {taken}",
            hint="stop what holds it, or change the port in devenv.yaml (see `devenv config`)",
        )
    return EngineError(f"docker failed: {last}", hint=f"the command was: {' '.join(cmd or [])}", details=stderr)


def _is_whales_error(exc: BaseException) -> bool:
    """A python-on-whales DockerException (checked without importing it when unused)."""
    whales = sys.modules.get("python_on_whales.exceptions")
    return whales is not None and isinstance(exc, whales.DockerException)


def _no_docker() -> NoDockerError:
    return NoDockerError(
        "the docker command was not found",
        hint="install Docker (Docker Desktop, or the engine and its CLI) and make sure `docker` is on PATH",
    )


def _compose_missing(found: str = "") -> ComposeMissingError:
    need = ".".join(map(str, MIN_COMPOSE))
    what = f"Docker Compose {found} is too old" if found else "the Docker Compose plugin is missing"
    return ComposeMissingError(
        f"{what}: devenv needs Compose v{need} or later",
        hint="install or update the `docker compose` plugin "
        "(Docker Desktop has it; on Linux, the docker-compose-plugin package)",
    )


@dataclass(frozen=True)
class Finished:
    """A docker command that ran to its end."""

    command: list[str]
    code: int
    stdout: str
    stderr: str

    def output(self) -> str:
        return self.stdout + self.stderr


def _run(cmd: list[str], *, ok: Callable[[Finished], bool] = lambda f: f.code == 0) -> Finished:
    """Run a docker command to its end (an interrupt ends it first). A failure raises the
    typed error, unless ``ok`` accepts the result."""
    process = Process(cmd)
    try:  # an interrupt while waiting ends the command too
        code = process.wait()
        finished = Finished(cmd, code, process.stdout(), process.stderr())
        if not ok(finished):
            raise process.error()
    finally:
        process.end()
    log.debug("exit %s: %s", code, finished.stderr.strip()[-500:])
    return finished


class DockerEngine:
    """The real engine. Integration tests run the same methods against it; unit tests a fake.

    Hot paths (``up``'s polling, ``status``) call the docker CLI directly through ``_run``:
    importing python-on-whales costs about 0.2 s, more than a whole no-op ``up``. It serves
    the rarer queries (who holds a port, a project's volumes), translated in the same place."""

    def __init__(self) -> None:
        if shutil.which("docker") is None:
            raise _no_docker()

    # -- inspection ------------------------------------------------------------------------
    def info(self) -> EngineInfo:
        """The engine's version and API version; raises the right error when it does not answer."""
        sock = local_socket()
        if sock is not None:  # one request on the local socket: no docker process to start
            found = api_get(sock, "/version")
            version, api = str(found.get("Version") or ""), str(found.get("ApiVersion") or "")
        else:
            out = _run_text(["docker", "version", "--format", "{{.Server.Version}} {{.Server.APIVersion}}"])
            version, _, api = out.strip().partition(" ")
        numbers = tuple(int(n) for n in re.findall(r"\d+", api)[:2])
        return EngineInfo(version or "?", (numbers[0], numbers[1]) if len(numbers) == 2 else (1, 0))

    def compose_version(self) -> str:
        """The Compose plugin's version: the plugin binary asked directly when devenv finds it
        where the docker CLI looks (the CLI in between costs a process), else `docker compose`."""
        plugin = cli_plugin("compose")
        cmd = [plugin, "version", "--short"] if plugin else ["docker", "compose", "version", "--short"]
        version = _run_text(cmd).strip().lstrip("v")
        numbers = tuple(int(n) for n in re.findall(r"\d+", version)[:2])
        if numbers < MIN_COMPOSE:
            raise _compose_missing(version)
        return version

    def services(self, project: str) -> list[ServiceState]:
        """Every container of a compose project, running or not: two docker calls whatever
        the number of containers (one list, one inspect of them all); on the engine's local
        socket, Engine API requests instead of docker processes."""
        sock = local_socket()
        if sock is not None:
            label = json.dumps({"label": [f"{PROJECT_LABEL}={project}"]}, separators=(",", ":"))
            listed = api_get(sock, "/containers/json?all=1&filters=" + _percent_encode(label))
            found = [api_get(sock, f"/containers/{item['Id']}/json", missing=True) for item in listed]
            if any(item is None for item in found):
                return self.services(project)  # one went away between the two requests
            return sorted((_state(item) for item in found if item), key=lambda s: s.service)
        ids = _run_text(
            [
                "docker",
                "container",
                "list",
                "--all",
                "--quiet",
                "--no-trunc",
                "--filter",
                f"label={PROJECT_LABEL}={project}",
            ]
        ).split()
        if not ids:
            return []
        inspected = _run(
            ["docker", "container", "inspect", *ids],
            ok=lambda f: f.code == 0 or "no such container" in f.stderr.lower(),
        )
        if inspected.code != 0:
            return self.services(project)  # one went away between the two calls
        found = json.loads(inspected.stdout)
        return sorted((_state(item) for item in found), key=lambda s: s.service)

    def inspect(self, ids: list[str]) -> list[ServiceState]:
        """These containers as they are now (one docker call); gone ones are left out."""
        if not ids:
            return []
        sock = local_socket()
        if sock is not None:
            items = [api_get(sock, f"/containers/{id_}/json", missing=True) for id_ in ids]
            return sorted((_state(item) for item in items if item), key=lambda s: s.service)
        found = _run(
            ["docker", "container", "inspect", *ids],
            ok=lambda f: f.code == 0 or "no such container" in f.stderr.lower(),
        )
        text = found.stdout.strip()
        items = json.loads(text) if text.startswith("[") else []
        return sorted((_state(item) for item in items), key=lambda s: s.service)

    def watch(self, project: str, wake: threading.Event) -> Watch:
        """Follow the project's container events (start, die, health, restart, OOM); ``wake``
        is set on each, so a waiting loop asks for states when something happened instead of
        polling the engine several times a second."""
        return Watch(project, wake)

    def logs_tail(self, container: str, lines: int = 20) -> str:
        """The container's last lines, stdout and stderr (raises when they cannot be read)."""
        return _run(["docker", "logs", "--tail", str(lines), container]).output()

    # -- logs (devenv logs) ----------------------------------------------------------------
    def logs(
        self,
        container: str,
        sink: Callable[[str, list[str] | None], None],
        *,
        follow: bool = False,
        since: str | None = None,
        until: str | None = None,
        tail: int | None = None,
    ) -> LogReader:
        """Read a container's log lines (`docker logs --timestamps`), stdout and stderr kept
        apart: ``sink(stream, lines)`` gets each batch ("stdout"/"stderr", lines without
        their newline, each starting with its RFC 3339 time), ``sink(stream, None)`` the end
        of each stream. Called from reader threads; the caller owns the reader (``end()``)."""
        return LogReader(container, sink, follow=follow, since=since, until=until, tail=tail)

    def log_stream(
        self, container: str, *, since: str | None = None, until: str | None = None, tail: int | None = None
    ) -> LogStream | None:
        """A container's logs so far in one stream, stdout and stderr in the engine's order,
        read from the Engine API on its local socket (see :class:`LogStream`); None when the
        engine is not on a local socket devenv can open (read them with ``logs`` then)."""
        early = _PREFETCHED.pop((container, since, until, tail), None)
        for stale in _PREFETCHED.values():  # a guess that was not this request
            stale.end()
        _PREFETCHED.clear()
        if early is not None:
            return early
        path = local_socket()
        if path is None:
            return None
        try:
            return LogStream(path, container, since=since, until=until, tail=tail)
        except OSError:  # no permission, or nobody listens: the CLI path says why
            return None

    def log_events(self, project: str, sink: Callable[[dict[str, Any] | None], None], since: str) -> EventFeed:
        """The project's container starts, deaths and removals since ``since`` (a docker
        time), one dict each (`docker events` JSON), then ``None`` when the feed ends."""
        return EventFeed(project, sink, since)

    def image_exists(self, tag: str) -> bool:
        found = _run(
            ["docker", "image", "inspect", "--format", "{{.Id}}", tag],
            ok=lambda f: f.code == 0 or "no such image" in f.stderr.lower(),
        )
        return found.code == 0

    def port_holder(self, port: int) -> str | None:
        """The container publishing a host port, as 'container NAME (project P)', if one does."""
        containers = _whales(lambda docker: docker.container.list(filters={"publish": str(port)}))
        for container in containers:
            project = container.config.labels.get(PROJECT_LABEL)
            return f"container {container.name}" + (f" (project {project})" if project else "")
        return None

    def volumes(self, project: str) -> list[str]:
        found = _whales(lambda docker: docker.volume.list(filters={"label": f"{PROJECT_LABEL}={project}"}))
        return sorted(volume.name for volume in found)

    def labelled_volumes(self, project: str, label: str) -> list[Volume]:
        """The project's volumes that carry ``label``, with their creation time and labels."""
        filters = ["--filter", f"label={PROJECT_LABEL}={project}", "--filter", f"label={label}"]
        names = _run_text(["docker", "volume", "ls", "--quiet", *filters]).split()
        if not names:
            return []
        found = json.loads(_run_text(["docker", "volume", "inspect", *names]) or "[]")
        return [Volume(item["Name"], str(item.get("CreatedAt", "")), dict(item.get("Labels") or {})) for item in found]

    def remove_volumes(self, names: list[str]) -> list[str]:
        """Remove these volumes; those still in use, or gone already, are left out of the answer."""
        if not names:
            return []
        removed = _run(["docker", "volume", "rm", *names], ok=lambda f: True)
        return [name for name in removed.stdout.split() if name in names]

    # -- actions ---------------------------------------------------------------------------
    def build(self, files: ComposeFiles, services: list[str]) -> None:
        built = _run(files.command("build", *services), ok=lambda f: True)
        if built.code != 0:
            output = built.output()
            self._remove_failed_step(output)
            raise _build_error(services, output, " ".join(files.command("build", *services)))

    def _remove_failed_step(self, output: str) -> None:
        """The classic builder keeps the container of a failed step; remove that one (named
        in its output), and nothing else."""
        leftovers = failed_step_containers(output)
        if leftovers:
            _run(["docker", "container", "rm", "--force", *leftovers], ok=lambda f: True)

    def create(self, files: ComposeFiles, services: list[str]) -> None:
        """Create (or recreate, when their configuration changed) the services' containers,
        with the project's network and volumes, without starting anything."""
        _run(files.command("create", "--no-build", "--remove-orphans", *services))

    def start(self, container: str) -> Process:
        """Start one container; the caller owns the returned process (poll, error, end)."""
        return Process(["docker", "container", "start", container])

    def down(self, files: ComposeFiles, *, volumes: bool) -> None:
        """`compose down`; the anonymous volumes of the removed containers go with them (Compose
        keeps them without --volumes, orphaned: no later container ever reattaches them)."""
        anonymous = [] if volumes else self._anonymous_volumes(files.name)
        _run(files.command("down", "--remove-orphans", *(["--volumes"] if volumes else [])))
        self.remove_volumes(anonymous)

    def _anonymous_volumes(self, project: str) -> list[str]:
        ids = _run_text(
            ["docker", "container", "list", "--all", "--quiet", "--filter", f"label={PROJECT_LABEL}={project}"]
        ).split()
        if not ids:
            return []
        mounts = _run(
            ["docker", "container", "inspect", "--format", "{{json .Mounts}}", *ids],
            ok=lambda f: f.code == 0 or "no such container" in f.stderr.lower(),
        ).stdout
        names = []
        for line in mounts.splitlines():
            for mount in json.loads(line or "null") or []:
                name = str(mount.get("Name") or "")
                if mount.get("Type") == "volume" and re.fullmatch(r"[0-9a-f]{64}", name):
                    names.append(name)  # the engine names only anonymous volumes this way
        return names

    # -- commands inside containers (data: seeds, reset) --------------------------------------
    def exec(self, container: str, argv: list[str], *, input: str | None = None) -> Executed:
        """Run a command in a running container (``docker exec``), ``input`` on its stdin;
        its exit code is the caller's to judge (engine failures still raise)."""
        return _executed(["docker", "exec", *(["--interactive"] if input is not None else []), container, *argv], input)

    def run_once(self, files: ComposeFiles, service: str, argv: list[str]) -> Executed:
        """Run a command in a one-off container of a service (``docker compose run --rm
        --no-deps``), removed after; its exit code is the caller's to judge."""
        return _executed(files.command("run", "--rm", "--no-deps", "--no-TTY", service, *argv), None)

    # -- doctor, shell and exec ------------------------------------------------------------
    def buildx_version(self) -> str | None:
        """The buildx plugin's version, or None when it is not installed (asked of the plugin
        binary directly where devenv finds it; not found where Compose was: not installed)."""
        plugin = cli_plugin("buildx")
        if plugin is None and cli_plugin("compose") is not None:
            return None
        found = _run([plugin, "version"] if plugin else ["docker", "buildx", "version"], ok=lambda f: True)
        if found.code != 0:
            return None
        match = re.search(r"v?(\d+\.\d+(?:\.\d+)?)", found.stdout)
        return match[1] if match else "?"

    def endpoint(self) -> str:
        """Where the docker CLI talks to: DOCKER_HOST, else the current context's host."""
        host = dockerhost.docker_host()  # the CLI's own files
        if host:
            return host
        return _run_text(["docker", "context", "inspect", "--format", "{{.Endpoints.docker.Host}}"]).strip()

    def root_dir(self) -> str:
        """The engine's data folder (images, volumes), as the engine names it."""
        sock = local_socket()
        if sock is not None:
            return str(api_get(sock, "/info").get("DockerRootDir") or "")
        return _run_text(["docker", "info", "--format", "{{.DockerRootDir}}"]).strip()

    def attach(self, container: str, command: list[str], *, tty: bool) -> int:
        """Run a command in a container attached to the user's terminal; its exit code.

        The one docker command that is not an :class:`Process`: it must share devenv's
        terminal (stdin, the foreground process group) so psql or a shell works. devenv
        waits for it and ignores Ctrl-C meanwhile: the key belongs to the command inside."""
        cmd = ["docker", "exec", "-it" if tty else "-i", container, *command]
        _echo(cmd)
        try:
            child = subprocess.Popen(cmd)
        except FileNotFoundError:
            raise _no_docker() from None
        try:
            previous = signal.signal(signal.SIGINT, lambda signum, frame: None)
        except ValueError:  # not the main thread
            previous = None
        try:
            return child.wait()
        finally:
            if previous is not None:
                signal.signal(signal.SIGINT, previous)

    def compose_up(self, files: ComposeFiles, *, timeout: int = 180) -> None:
        """Plain `docker compose up --wait` of a rendered file (check's throwaway stack)."""
        _run(files.command("up", "--detach", "--wait", "--wait-timeout", str(timeout), "--no-build"))

    def compose_stop(self, files: ComposeFiles, services: list[str]) -> None:
        _run(files.command("stop", "--timeout", "2", *services))

    # -- hot reload (devenv watch) ---------------------------------------------------------
    def copy_into(self, container: str, archive: BinaryIO) -> None:
        """Unpack a tar stream at the container's root: the files land where their names in
        the archive say, owned by root, modes kept. On the local socket one Engine API request
        (PUT /containers/ID/archive, a few ms); elsewhere `docker cp - CONTAINER:/` (the same
        request made by the CLI, which costs a docker process: 20 to 80 ms)."""
        sock = local_socket()
        if sock is not None:
            api_send(sock, "PUT", f"/containers/{container}/archive?path=/", archive.read(), "application/x-tar")
            return
        with tempfile.TemporaryFile(prefix="devenv-copy-") as spool:  # the CLI reads a real file
            shutil.copyfileobj(archive, spool)
            spool.seek(0)
            process = Process(["docker", "cp", "-", f"{container}:/"], stdin=spool)
            try:
                if process.wait() != 0:
                    raise process.error()
            finally:
                process.end()

    def remove_in(self, container: str, paths: list[str]) -> None:
        """Delete files or folders in a running container (as root: synced files are root's)."""
        if paths:
            done = _executed(["docker", "exec", "--user", "0", container, "rm", "-rf", "--", *paths], None)
            if done.code != 0:
                raise EngineError(f"could not delete {', '.join(paths)} in {container}: {done.stderr.strip()}")

    def checksums(self, container: str, folder: str, skip: list[str]) -> dict[str, str] | None:
        """path -> MD5 of every file under a container folder, ``skip`` folders left out; {}
        when the folder is not there; None when the container cannot say (no sh, find or
        md5sum in its image)."""
        prune = " -o ".join(f"-path {shlex.quote(path)}" for path in skip)
        script = f"cd {shlex.quote(folder)} 2>/dev/null || exit 0; "
        script += f"find {shlex.quote(folder)} " + (f"\\( {prune} \\) -prune -o " if prune else "")
        script += "-type f -exec md5sum {} +"
        done = _executed(["docker", "exec", "--user", "0", container, "sh", "-c", script], None)
        if done.code != 0:
            return None
        found = {}
        for line in done.stdout.splitlines():
            digest, _, path = line.partition("  ")
            if len(digest) == 32 and path:
                found[path] = digest
        return found

    def restart(self, container: str, *, timeout: int = 3) -> None:
        """Stop a container (SIGTERM, then SIGKILL after ``timeout`` s) and start it again."""
        sock = local_socket()
        if sock is not None:
            api_send(sock, "POST", f"/containers/{container}/restart?t={timeout}", b"", "")
            return
        _run(["docker", "container", "restart", "--time", str(timeout), container])


class Watch:
    """Whether anything happened to a project's containers (a start, an exit, a restart, a
    health change, an OOM kill) since the last look: `up` asks the engine for their states
    only then. ``wake`` is set on each event."""

    EVENTS = ("start", "die", "restart", "health_status", "oom", "destroy")

    def __init__(self, project: str, wake: threading.Event) -> None:
        self._news = threading.Event()

        def heard(event: dict[str, Any] | None) -> None:
            self._news.set()
            wake.set()

        self._feed = EventFeed(project, heard, since=None, events=self.EVENTS)

    def take(self) -> bool:
        """Whether anything happened since the last call."""
        news = self._news.is_set()
        self._news.clear()
        return news

    def end(self) -> None:
        self._feed.end()


class PipedProcess(Process):
    """A :class:`Process` whose stdout and stderr are both pipes (a container's log
    streams, read apart). Read them with :func:`read_pipe`; ``end()`` closes both."""

    def __init__(self, cmd: list[str]) -> None:
        super().__init__(cmd, pipes=True)

    def pipe(self, stream: str) -> Any:
        return self._popen.stdout if stream == "stdout" else self._popen.stderr

    def stop(self) -> None:
        """End the command but leave its pipes open, so their readers see the end before
        ``end()`` closes them (a closed descriptor's number can be reused by another pipe)."""
        if self._ended or self._popen.poll() is not None:
            return
        _signal_group(self._popen.pid, signal.SIGTERM)
        try:
            self._popen.wait(timeout=END_GRACE)
        except subprocess.TimeoutExpired:
            _signal_group(self._popen.pid, signal.SIGKILL)
            self._popen.wait()

    def end(self) -> None:
        ended = self._ended
        super().end()
        if not ended and self._popen.stderr is not None:
            self._popen.stderr.close()


def read_pipe(pipe: Any, emit: Callable[[list[str]], None]) -> None:
    """Read a pipe in chunks as they come and hand on whole lines, a batch per chunk
    (one call per line would cost more than the lines). UTF-8, bad bytes replaced."""
    fd = pipe.fileno()
    rest = b""
    while True:
        try:
            chunk = os.read(fd, 1 << 16)
        except OSError:  # closed under us: end() was called
            chunk = b""
        if not chunk:
            break
        chunk = rest + chunk
        cut = chunk.rfind(b"\n")
        if cut < 0:
            rest = chunk
            continue
        rest = chunk[cut + 1 :]
        emit(chunk[:cut].decode("utf-8", "replace").split("\n"))
    if rest:
        emit([rest.decode("utf-8", "replace")])


def _stamped(line: str) -> bool:
    """A log line of `docker logs --timestamps` (not docker's own message on stderr)."""
    return line[:4].isdigit() and line[10:11] == "T"


class LogReader:
    """`docker logs --timestamps` of one container, each stream read by a thread of its own
    and handed to a sink. What docker itself says on stderr (no time in front) is kept for
    ``failure()``, not handed on. The process is devenv's: ``end()`` stops it."""

    def __init__(
        self,
        container: str,
        sink: Callable[[str, list[str] | None], None],
        *,
        follow: bool,
        since: str | None,
        until: str | None,
        tail: int | None,
    ) -> None:
        cmd = ["docker", "logs", "--timestamps"]
        cmd += ["--follow"] if follow else []
        cmd += ["--since", since] if since else []
        cmd += ["--until", until] if until else []
        cmd += ["--tail", str(tail)] if tail is not None else []
        self._process = PipedProcess([*cmd, container])
        self._sink = sink
        self._docker_says: list[str] = []
        self._threads = [
            threading.Thread(target=self._read, args=(stream,), name=f"devenv-logs-{stream}", daemon=True)
            for stream in ("stdout", "stderr")
        ]
        for thread in self._threads:
            thread.start()

    def _read(self, stream: str) -> None:
        def emit(lines: list[str]) -> None:
            if stream == "stderr" and not all(_stamped(line) for line in lines):
                self._docker_says.extend(line for line in lines if not _stamped(line))
                lines = [line for line in lines if _stamped(line)]
            if lines:
                self._sink(stream, lines)

        try:
            read_pipe(self._process.pipe(stream), emit)
        finally:
            self._sink(stream, None)

    def failure(self) -> DevenvError | None:
        """Why docker could not read the logs, once both streams ended; None when it could."""
        code = self._process.wait()
        if code == 0:
            return None
        return _translate(
            subprocess.CalledProcessError(code, self._process.command, stderr="\n".join(self._docker_says))
        )

    def end(self) -> None:
        self._process.stop()
        for thread in self._threads:
            thread.join(timeout=2)
        self._process.end()


class EventFeed:
    """`docker events` of one project's containers as dicts, read by a thread of its own;
    ``None`` when the feed ends. ``end()`` stops its process (python-on-whales' event iterator
    would leave it running). ``since``: replay from then (None: from now)."""

    def __init__(
        self,
        project: str,
        sink: Callable[[dict[str, Any] | None], None],
        since: str | None,
        events: tuple[str, ...] = ("start", "die", "destroy"),
    ) -> None:
        self._sink = sink
        self._process = Process(
            [
                "docker",
                "events",
                *(["--since", since] if since else []),
                "--filter",
                "type=container",
                "--filter",
                f"label={PROJECT_LABEL}={project}",
                *(arg for event in events for arg in ("--filter", f"event={event}")),
                "--format",
                "{{json .}}",
            ],
            stream=True,
        )
        self._thread = threading.Thread(target=self._read, name="devenv-log-events", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            for line in self._process.lines():
                if line.startswith("{"):
                    self._sink(json.loads(line))
        except (OSError, ValueError):  # the pipe closed under us: end() was called
            pass
        finally:
            self._sink(None)

    def failure(self) -> DevenvError | None:
        """Why the feed ended (the engine went away, ...), once it did; None if it did not fail."""
        code = self._process.poll()
        if code is None:
            return None
        stderr = self._process.stderr()
        return _translate(subprocess.CalledProcessError(code or 1, self._process.command, stderr=stderr))

    def end(self) -> None:
        self._process.end()
        self._thread.join(timeout=1)


# -- where the engine listens (the docker CLI's own files) --------------------------------------
# -- the Engine API's log stream on the local socket (devenv logs' fast path) ------------------
def _unix_time(stamp: str) -> str:
    """A docker time (RFC 3339, UTC) as the Engine API's ``since``/``until`` take it."""
    whole, _, fraction = stamp.rstrip("Z").partition(".")
    seconds = int(datetime.fromisoformat(whole + "+00:00").timestamp())
    return f"{seconds}.{fraction[:9].ljust(9, '0')}"


_PREFETCHED: dict[tuple[str, str | None, str | None, int | None], LogStream] = {}


def prefetch_logs(container: str, tail: int | None) -> None:
    """Start reading a container's logs before devenv knows it will want them (see
    devenv.logs_early); ``DockerEngine.log_stream`` hands the stream over when asked for the
    same, ``end_all`` drops it otherwise."""
    path = local_socket()
    if path is None:
        return
    try:
        stream = LogStream(path, container, since=None, until=None, tail=tail, early=True)
        _PREFETCHED[(container, None, None, tail)] = stream
    except OSError:
        return


_STREAMS = {0: "stdout", 1: "stdout", 2: "stderr"}  # stdcopy's stream bytes (3: the engine's error)


class LogStream:
    """A container's logs so far, read straight from the Engine API on its local socket (what
    `docker logs` asks for, without the CLI in between). One connection carries stdout and
    stderr in the order the engine stored them, so one container needs no timestamps to order
    its lines. A thread reads the socket in large pieces from the start (the engine, not
    devenv, sets the pace); ``runs()`` takes the stream's 8-byte frame headers off and yields
    ("stdout" | "stderr", bytes), consecutive frames of one stream joined. ``failure()`` says
    why the logs could not be read; ``end()`` closes the connection (the engine stops)."""

    def __init__(
        self, path: str, container: str, *, since: str | None, until: str | None, tail: int | None, early: bool = False
    ) -> None:
        query = "stdout=1&stderr=1"
        query += f"&since={_unix_time(since)}" if since else ""
        query += f"&until={_unix_time(until)}" if until else ""
        query += f"&tail={tail}" if tail is not None else ""
        url = f"/containers/{container}/logs?{query}"  # names and ids need no quoting
        # the command a user would run to see the same, for an error's hint
        self.command = ["docker", "logs", *(["--tail", str(tail)] if tail is not None else []), container]
        _echo(["GET", f"unix://{path}{url}", *(["(started early)"] if early else [])])
        self._problem: str | None = None
        # bounded: a slow reader of devenv's output (a pager) holds the engine back, not memory
        self._chunks: queue.Queue[bytes | None] = queue.Queue(maxsize=64)
        self._closed = False
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self._socket.connect(path)
            # HTTP/1.0: the engine sends the body as it is and closes the connection at its end
            # (no chunked encoding to take apart: one chunk per log line)
            self._socket.sendall(f"GET {url} HTTP/1.0\r\nHost: docker\r\nUser-Agent: devenv\r\n\r\n".encode())
        except OSError:
            self._socket.close()
            raise
        self._thread = threading.Thread(target=self._read, name="devenv-log-stream", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            while chunk := self._socket.recv(1 << 18, socket.MSG_WAITALL):
                self._put(chunk)
        except OSError:  # closed by end()
            pass
        finally:
            self._put(None)

    def _put(self, chunk: bytes | None) -> None:
        while not self._closed:
            try:
                self._chunks.put(chunk, timeout=0.2)
            except queue.Full:
                continue
            return

    def _next(self) -> bytes | None:
        while True:  # a timeout now and then lets Ctrl-C through at once
            try:
                return self._chunks.get(timeout=0.5)
            except queue.Empty:
                continue

    def runs(self) -> Iterator[tuple[str, bytes]]:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = self._next()
            if chunk is None:
                self._problem = "the engine closed the connection before answering"
                return
            data += chunk
        head, _, data = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = lines[0].split(" ", 2)
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        if len(status) < 2 or status[1] != "200":
            while (chunk := self._next()) is not None:
                data += chunk
            try:
                message = json.loads(data)["message"]
            except (ValueError, KeyError, TypeError):
                message = data.decode("utf-8", "replace").strip() or lines[0]
            self._problem = f"Error response from daemon: {message}"
            return
        kind = headers.get("content-type", "")
        raw = kind == "application/vnd.docker.raw-stream" and _api(headers.get("api-version", "")) >= (1, 42)
        if raw or (kind != "application/vnd.docker.multiplexed-stream" and not _framed(data)):
            # a container with a TTY: one stream, no frames (an API before 1.42 does not say)
            while data:
                yield "stdout", data
                data = self._next() or b""
            return
        yield from self._frames(data)

    def _frames(self, data: bytes) -> Iterator[tuple[str, bytes]]:
        number = int.from_bytes
        while True:
            size, pos, current = len(data), 0, -1
            parts: list[bytes] = []
            while pos + 8 <= size:
                end = pos + 8 + number(data[pos + 4 : pos + 8], "big")
                if end > size:
                    break
                stream = data[pos]
                if stream != current:
                    if parts:
                        yield _STREAMS[current], b"".join(parts)
                        parts = []
                    if stream not in _STREAMS:  # the engine's own error, mid-stream
                        self._problem = data[pos + 8 : end].decode("utf-8", "replace").strip()
                        pos = end
                        continue
                    current = stream
                parts.append(data[pos + 8 : end])
                pos = end
            if parts:
                yield _STREAMS[current], b"".join(parts)
            data = data[pos:]
            chunk = self._next()
            if chunk is None:
                break
            data = data + chunk if data else chunk
        if data and self._problem is None:
            self._problem = "the engine ended the log stream in the middle of a line"

    def failure(self) -> DevenvError | None:
        """Why the logs could not be read (read after ``runs()``); None when they could."""
        if self._problem is None:
            return None
        return _translate(subprocess.CalledProcessError(1, self.command, stderr=self._problem))

    def end(self) -> None:
        self._closed = True
        try:
            self._socket.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._socket.close()
        self._thread.join(timeout=2)


def _api(version: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", version)[:2])


def _framed(data: bytes) -> bool:
    """Whether a body starts like a multiplexed one (a stream byte, then three zero bytes)."""
    return len(data) < 8 or (data[0] in (0, 1, 2, 3) and data[1:4] == b"\0\0\0")


# -- short Engine API requests on the local socket (no docker process for a question) -------
def api_get(sock: str, path: str, *, missing: bool = False, timeout: float = 10.0) -> Any:
    """GET an Engine API path on the engine's unix socket and decode its JSON: what the docker
    CLI asks for, without starting a docker process (about 20 ms of CPU each). ``missing``: a
    404 answers None. Failures become the typed errors of the CLI path (see ``_translate``)."""
    _echo(["GET", f"unix://{sock}{path}"])
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.settimeout(timeout)
    data = b""
    try:
        conn.connect(sock)
        # HTTP/1.0: the engine answers with the whole body and closes the connection
        conn.sendall(f"GET {path} HTTP/1.0\r\nHost: docker\r\nUser-Agent: devenv\r\n\r\n".encode())
        while chunk := conn.recv(1 << 16):
            data += chunk
    except OSError as exc:
        reason = exc.strerror or str(exc) or type(exc).__name__
        stderr = f"Cannot connect to the Docker daemon at unix://{sock} ({reason}). Is the docker daemon running?"
        raise _translate(subprocess.CalledProcessError(1, ["GET", path], stderr=stderr)) from None
    finally:
        conn.close()
    head, _, body = data.partition(b"\r\n\r\n")
    status = head.split(b" ", 2)
    code = int(status[1]) if len(status) > 1 and status[1].isdigit() else 0
    if b"\r\ntransfer-encoding: chunked" in head.lower():
        body = _unchunk(body)
    if code == 404 and missing:
        return None
    if code != 200:
        try:
            message = str(json.loads(body)["message"])
        except (ValueError, KeyError, TypeError):
            message = body.decode("utf-8", "replace").strip() or f"HTTP {code}"
        raise _translate(
            subprocess.CalledProcessError(1, ["GET", path], stderr=f"Error response from daemon: {message}")
        )
    return json.loads(body)


def api_send(sock: str, method: str, path: str, body: bytes, content_type: str, *, timeout: float = 60.0) -> None:
    """A request that changes something (PUT an archive, POST a restart) on the engine's unix
    socket; an answer other than 2xx becomes the typed error the CLI path would raise."""
    _echo([method, f"unix://{sock}{path}", f"({len(body)} bytes)"])
    head = f"{method} {path} HTTP/1.0\r\nHost: docker\r\nUser-Agent: devenv\r\nContent-Length: {len(body)}\r\n"
    head += f"Content-Type: {content_type}\r\n" if content_type else ""
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.settimeout(timeout)
    data = b""
    try:
        conn.connect(sock)
        conn.sendall(head.encode() + b"\r\n" + body)
        while chunk := conn.recv(1 << 16):
            data += chunk
    except OSError as exc:
        if b"\r\n\r\n" not in data:  # (answered, then reset: the engine left a tar's end padding unread)
            reason = exc.strerror or str(exc) or type(exc).__name__
            stderr = f"Cannot connect to the Docker daemon at unix://{sock} ({reason}). Is the docker daemon running?"
            raise _translate(subprocess.CalledProcessError(1, [method, path], stderr=stderr)) from None
    finally:
        conn.close()
    answer_head, _, answer = data.partition(b"\r\n\r\n")
    status = answer_head.split(b" ", 2)
    code = int(status[1]) if len(status) > 1 and status[1].isdigit() else 0
    if 200 <= code < 300:
        return
    if b"\r\ntransfer-encoding: chunked" in answer_head.lower():
        answer = _unchunk(answer)
    try:
        message = str(json.loads(answer)["message"])
    except (ValueError, KeyError, TypeError):
        message = answer.decode("utf-8", "replace").strip() or f"HTTP {code}"
    raise _translate(subprocess.CalledProcessError(1, [method, path], stderr=f"Error response from daemon: {message}"))


def _unchunk(body: bytes) -> bytes:
    parts: list[bytes] = []
    pos = 0
    while True:
        line_end = body.find(b"\r\n", pos)
        if line_end < 0:
            break
        size = int(body[pos:line_end].split(b";")[0] or b"0", 16)
        if size == 0:
            break
        parts.append(body[line_end + 2 : line_end + 2 + size])
        pos = line_end + 2 + size + 2
    return b"".join(parts)


def _percent_encode(text: str) -> str:
    """Percent-encode a query value (what urllib.parse.quote does, without importing it)."""
    keep = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
    return "".join(chr(b) if b in keep else f"%{b:02X}" for b in text.encode())


SYSTEM_PLUGIN_DIRS = (  # where the docker CLI looks for its plugins after ~/.docker/cli-plugins
    "/usr/local/lib/docker/cli-plugins",
    "/usr/local/libexec/docker/cli-plugins",
    "/usr/lib/docker/cli-plugins",
    "/usr/libexec/docker/cli-plugins",
)


def cli_plugin(name: str) -> str | None:
    """The docker CLI plugin ``docker-NAME`` where the CLI looks for it: the config folder's
    cli-plugins, its ``cliPluginsExtraDirs``, then the system folders. None when not there."""
    folder = os.environ.get("DOCKER_CONFIG") or os.path.join(os.path.expanduser("~"), ".docker")
    extra: list[str] = []
    try:
        with open(os.path.join(folder, "config.json"), encoding="utf-8") as file:
            extra = [str(d) for d in json.load(file).get("cliPluginsExtraDirs") or []]
    except (OSError, ValueError, AttributeError, TypeError):
        pass
    binary = f"docker-{name}" + (".exe" if os.name == "nt" else "")
    for directory in (os.path.join(folder, "cli-plugins"), *extra, *SYSTEM_PLUGIN_DIRS):
        path = os.path.join(directory, binary)
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    return None


def _run_text(cmd: list[str]) -> str:
    return _run(cmd).stdout


def _whales(call: Callable[[Any], T]) -> T:
    """One python-on-whales call, its failures translated like every other docker call."""
    from python_on_whales import DockerClient

    try:
        return call(DockerClient())
    except Exception as exc:  # noqa: BLE001 - translated; an interrupt is a BaseException
        raise _translate(exc) from None


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
        restart_count=int(inspected.get("RestartCount") or 0),
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
_FAILED = re.compile(
    r"(returned a non-zero code|did not complete successfully|failed to solve|ERROR:|error:|COPY failed"
    r"|failed to compute cache key)",
    re.I,
)


def _build_error(services: list[str], output: str, command: str) -> BuildFailedError:
    """Name the failing Dockerfile step and show the lines it printed."""
    output = _ANSI.sub("", output)
    lines = [line.rstrip() for line in output.splitlines() if line.strip()]
    lines = [line for line in lines if "level=warning" not in line and "Building" not in line]
    step_index = max((i for i, line in enumerate(lines) if _STEP.match(line)), default=None)
    reason = next((line for line in reversed(lines) if _FAILED.search(line)), lines[-1] if lines else "no output")
    step = lines[step_index] if step_index is not None else "(before the first step)"
    tail = lines[step_index + 1 :] if step_index is not None else lines
    details = "\n".join(tail[-15:])
    return BuildFailedError(
        f"building {', '.join(services)} failed at: {step}",
        hint=f"fix that Dockerfile step; the full output: {command}",
        details=details if reason in details else f"{details}\n{reason}",
    )


def _executed(cmd: list[str], input: str | None) -> Executed:
    with tempfile.TemporaryFile("w+", prefix="devenv-stdin-") as feed:
        if input is not None:
            feed.write(input)
            feed.flush()
            feed.seek(0)
        process = Process(cmd, stdin=feed if input is not None else None)
        try:
            code = process.wait()
            done = Executed(code, process.stdout(), process.stderr())
        finally:
            process.end()
    if code != 0 and _engine_failed(done.stderr):
        raise _translate(subprocess.CalledProcessError(code, cmd, stderr=done.stderr))
    return done


def _engine_failed(stderr: str) -> bool:
    """docker itself failed (no engine, no such container), not the command it ran."""
    text = stderr.lower()
    return any(marker in text for marker in _UNREACHABLE) or "no such container" in text or "is not running" in text
