"""What `devenv logs` can know before the project is loaded, so its common case starts fast.

* **the project's names, remembered** (:func:`remember`, :func:`recall`): every command that
  loads the project writes its name and each service's container to ``.devenv/logs.json``
  with the size, modification time and inode of the files they came from (devenv.yaml and its
  ``compose_files``), the devenv version and ``DEVENV_PROJECT_NAME``. `devenv logs` uses them
  while all of that is unchanged, instead of loading and validating the whole project (most
  of devenv's start-up: pydantic, the profiles, the compose assembly); anything changed, or a
  service they do not have, and the project is loaded as always (and remembered again).
* **the plain form without the CLI** (:func:`run`, called by ``__main__`` before anything
  else is imported): ``devenv [-C DIR] logs SERVICE [--tail N] [--no-prefix]`` with stdout
  not a terminal is one container read as one stream (see ``logs_output.show``). With the
  names remembered it runs here whole: the same ``show`` the command calls, the outcome
  handled as ``cli.main`` handles it, without importing typer, rich or the project's model.
  Any other command line, including every option this does not read, goes to the CLI.
* **a head start**: the plain form whose names are not remembered yet still sends its
  request to the engine the moment devenv starts, so the engine streams while Python loads
  the CLI and the project; only a head start, never a decision: the command resolves the
  container as always and :meth:`devenv.engine.DockerEngine.log_stream` hands the early
  stream over only when it is that same request, and drops it otherwise. The guess comes
  from the compose file the last devenv command rendered (``.devenv/compose.yaml``: its
  ``name:`` and the service's ``container_name``).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from devenv import __version__

if TYPE_CHECKING:
    from devenv.workspace import Workspace

CONFIG_NAME = "devenv.yaml"  # as devenv.config (not imported here: it loads pydantic)
RECORD = "logs.json"  # in .devenv/
_NAME = re.compile(r"^name: *['\"]?([a-z0-9][a-z0-9_-]*)['\"]? *$", re.M)


@dataclass(frozen=True)
class Request:
    """The plain form: ``devenv [-C DIR] logs SERVICE [--tail N] [--no-prefix]``."""

    directory: str
    service: str
    tail: int | None
    prefix: bool


def run(argv: list[str]) -> int | None:
    """``devenv ARGV`` when it is the plain form written to a pipe or a file: run whole here
    when the project's names are remembered (no CLI, no project to load), else started early
    (the request sent) and left to the CLI (None, as for every other command line)."""
    try:
        request = plain_request(argv, os.isatty(1), os.environ)
        root = project_root(Path(request.directory)) if request is not None else None
        if request is None or root is None:
            return None
        names = recall(root)
        if names is not None and request.service in names.containers:
            return _serve(request, names)
        container = _rendered_guess(root, request.service, os.environ)
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    if container is not None:
        from devenv import engine

        engine.prefetch_logs(container, request.tail)
    return None


def plain_request(argv: list[str], terminal: bool, env: Mapping[str, str]) -> Request | None:
    """``argv`` read as the plain form, or None for any other command line (the CLI reads it)."""
    if terminal or "_DEVENV_COMPLETE" in env:  # a terminal gets a record per line; completion
        return None
    args = list(argv)
    directory = "."
    while args and args[0].startswith("-"):  # the CLI's own options, before the command
        option = args.pop(0)
        if option in ("-C", "--directory") and args:
            directory = args.pop(0)
        elif option.startswith("--directory="):
            directory = option.partition("=")[2]
        else:
            return None
    if not args or args.pop(0) != "logs":
        return None
    service, tail, prefix = None, None, True
    while args:
        arg = args.pop(0)
        if arg in ("--tail", "-n") and args:
            tail = _tail(args.pop(0))
        elif arg.startswith("--tail="):
            tail = _tail(arg.partition("=")[2])
        elif arg == "--no-prefix":
            prefix = False
        elif arg.startswith("-") or service is not None:
            return None  # another option, or a second service: not the plain form
        else:
            service = arg
    return Request(directory, service, tail, prefix) if service is not None else None


def guess_request(argv: list[str], terminal: bool, env: Mapping[str, str]) -> tuple[str, int | None] | None:
    """(container, tail) that ``devenv ARGV`` will read as one stream, or None."""
    request = plain_request(argv, terminal, env)
    root = project_root(Path(request.directory)) if request is not None else None
    if request is None or root is None:
        return None
    names = recall(root, env)
    if names is not None and request.service in names.containers:
        return names.containers[request.service], request.tail
    container = _rendered_guess(root, request.service, env)
    return (container, request.tail) if container is not None else None


def _rendered_guess(root: Path, service: str, env: Mapping[str, str]) -> str | None:
    """The service's container by the compose file the last devenv command rendered."""
    rendered = (root / ".devenv" / "compose.yaml").read_text(encoding="utf-8")
    found = _NAME.search(rendered)
    project = env.get("DEVENV_PROJECT_NAME") or (found[1] if found else "")
    if not project:
        return None
    return container_name(rendered, service) or f"{project}-{service}-1"


def _serve(request: Request, names: Names) -> int:
    """`devenv logs SERVICE` without the CLI: ``logs_output.show`` as the command calls it,
    its outcome handled as ``cli.main`` handles every command's (Ctrl-C, typed errors through
    ``display.error``, anything else through ``cli.unexpected``; every docker stream ended)."""
    import signal

    from devenv import engine, interrupts
    from devenv.errors import DevenvError, InterruptedByUser

    interrupts.reset()
    try:
        previous = signal.signal(signal.SIGINT, interrupts.handler)
    except ValueError:  # not the main thread
        previous = None
    try:
        from devenv.logs_output import LogsView, show

        service = request.service
        view = LogsView(tail=request.tail, prefix=request.prefix)
        containers = ((service, names.containers[service]),)
        known = list(names.containers)
        return show(engine.DockerEngine(), names.project, known, (service,), view, containers=containers)
    except (DevenvError, InterruptedByUser, KeyboardInterrupt) as exc:
        from devenv import display

        error = exc if isinstance(exc, DevenvError | InterruptedByUser) else InterruptedByUser()
        display.error(error)
        return int(error.code)
    except Exception as exc:  # noqa: BLE001 - the CLI's one place for unexpected errors
        from devenv import cli

        return cli.unexpected(exc)
    finally:
        engine.end_all()
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


def _tail(text: str) -> int | None:
    if text.strip().lower() == "all":
        return None
    value = int(text)
    if value < 0:
        raise ValueError(text)
    return value


def project_root(start: Path) -> Path | None:
    """The folder of the devenv.yaml in ``start`` or the nearest parent, as devenv finds it."""
    start = start.resolve()
    for folder in (start, *start.parents):
        if (folder / CONFIG_NAME).is_file():
            return folder
    return None


def container_name(rendered: str, service: str) -> str | None:
    """A service's ``container_name`` in a rendered compose file (devenv writes it with two
    spaces per level), or None."""
    inside = False
    for line in rendered.splitlines():
        if line.startswith("  ") and not line.startswith("   "):  # a key two levels down
            inside = line.strip() == f"{service}:"
        elif not line.startswith(" "):
            inside = False
        elif inside and line.startswith("    container_name:"):
            return line.partition(":")[2].strip().strip("'\"") or None
    return None


# -- the project's names, remembered ------------------------------------------------------------
@dataclass(frozen=True)
class Names:
    """What `devenv logs` needs of a project: its name and each service's container."""

    project: str
    containers: dict[str, str]  # service -> container name


def _stamp(path: Path) -> list[int] | None:
    try:
        found = path.stat()
    except OSError:
        return None
    return [found.st_mtime_ns, found.st_size, found.st_ino]


def remember(root: Path, inputs: list[Path], names: Names, env: Mapping[str, str] | None = None) -> None:
    """Keep a project's names with what they were made from (never fails a command)."""
    import time

    from devenv import state

    env = os.environ if env is None else env
    stamps = {str(path): _stamp(path) for path in inputs}
    if any(stamp and time.time_ns() - stamp[0] < 2_000_000_000 for stamp in stamps.values()):
        return  # changed a moment ago: another change in the same tick would keep its stamp (racy git)
    record = {
        "version": __version__,
        "env_name": env.get("DEVENV_PROJECT_NAME") or None,
        "inputs": stamps,
        "project": names.project,
        "containers": names.containers,
    }
    try:
        state.write_if_changed(state.state_dir(root) / RECORD, json.dumps(record, indent=2) + "\n")
    except OSError:
        pass


def names_of(ws: Workspace) -> Names:
    """A loaded project's name and each service's container (its ``container_name``, else
    Compose's PROJECT-SERVICE-1)."""
    specs = ws.compose.compose["services"]
    return Names(ws.name, {s: str(spec.get("container_name") or f"{ws.name}-{s}-1") for s, spec in specs.items()})


def remember_workspace(ws: Workspace) -> None:
    """A loaded project's names, remembered with the files they came from (every command
    that loads the project calls this, so the first `devenv logs` after `up` is fast too)."""
    root = ws.project.root
    inputs = [ws.project.config_path, *(root / Path(f).expanduser() for f in ws.project.config.compose_files)]
    remember(root, inputs, names_of(ws))


def recall(root: Path | None, env: Mapping[str, str] | None = None) -> Names | None:
    """The names :func:`remember` kept for the project in ``root`` (or a parent), when every
    file they came from, the devenv version and ``DEVENV_PROJECT_NAME`` are as they were."""
    env = os.environ if env is None else env
    if root is None:
        return None
    try:
        record = json.loads((root / ".devenv" / RECORD).read_text(encoding="utf-8"))
        fresh = (
            record["version"] == __version__
            and record["env_name"] == (env.get("DEVENV_PROJECT_NAME") or None)
            and record["inputs"]
            and all(_stamp(Path(path)) == stamp for path, stamp in record["inputs"].items())
        )
        if not fresh or "$" in "".join(record["containers"].values()):  # interpolated: Compose decides
            return None
        return Names(str(record["project"]), {str(k): str(v) for k, v in record["containers"].items()})
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
