"""`devenv logs SERVICE` off a terminal: ask the engine for the container's logs the moment
devenv starts, before the CLI and the project are loaded (a few tenths of a second of Python
on a small machine), so the engine is already streaming them meanwhile.

Only a head start, never a decision: the command then runs as always (devenv.yaml read and
checked, the service and its container resolved from the project) and asks the engine for
that container's logs; :meth:`devenv.engine.DockerEngine.log_stream` hands over the stream
started here only when it is that same request, and drops it otherwise. The guess reads
the compose file the last devenv command rendered (``.devenv/compose.yaml``): its project
name and the service's ``container_name``, if it sets one.

Only the plain form is guessed: ``devenv [-C DIR] logs SERVICE [--tail N] [--no-prefix]``
with stdout not a terminal (what ``logs_output.show`` reads as one stream). Standard library
and ``devenv.engine`` only: this runs before anything else is imported.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

CONFIG_NAME = "devenv.yaml"  # as devenv.config (not imported here: it loads pydantic)
_NAME = re.compile(r"^name: *['\"]?([a-z0-9][a-z0-9_-]*)['\"]? *$", re.M)


def start(argv: list[str]) -> None:
    """Start reading the logs ``argv`` will ask for, when it is the plain form; else nothing."""
    try:
        guess = guess_request(argv, os.isatty(1), os.environ)
    except (OSError, ValueError, UnicodeDecodeError):
        return
    if guess is not None:
        from devenv import engine

        engine.prefetch_logs(*guess)


def guess_request(argv: list[str], terminal: bool, env: Mapping[str, str]) -> tuple[str, int | None] | None:
    """(container, tail) that ``devenv ARGV`` will read as one stream, or None."""
    if terminal:  # a terminal gets the structured rendering, a record per line
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
    service, tail = None, None
    while args:
        arg = args.pop(0)
        if arg in ("--tail", "-n") and args:
            tail = _tail(args.pop(0))
        elif arg.startswith("--tail="):
            tail = _tail(arg.partition("=")[2])
        elif arg == "--no-prefix":
            continue
        elif arg.startswith("-") or service is not None:
            return None  # another option, or a second service: not the plain form
        else:
            service = arg
    if service is None:
        return None
    root = _root(Path(directory))
    if root is None:
        return None
    rendered = (root / ".devenv" / "compose.yaml").read_text(encoding="utf-8")
    found = _NAME.search(rendered)
    project = env.get("DEVENV_PROJECT_NAME") or (found[1] if found else "")
    if not project:
        return None
    return container_name(rendered, service) or f"{project}-{service}-1", tail


def _tail(text: str) -> int | None:
    if text.strip().lower() == "all":
        return None
    value = int(text)
    if value < 0:
        raise ValueError(text)
    return value


def _root(start: Path) -> Path | None:
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
