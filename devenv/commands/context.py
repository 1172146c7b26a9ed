"""What the commands share: the project folder, the engine, the workspace, the lock, prompts.

``make_engine`` is the seam the CLI tests replace with a fake engine.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from devenv.errors import AbortedError

if TYPE_CHECKING:
    from devenv.interfaces import Engine
    from devenv.lock import Holder
    from devenv.workspace import Workspace

directory: Path = Path.cwd()


def make_engine() -> Engine:
    from devenv.engine import DockerEngine

    return DockerEngine()


def workspace(*, start_interval: bool | None = None, quiet: bool = False) -> Workspace:
    from devenv import display, logs_early
    from devenv.workspace import open_workspace

    ws = open_workspace(directory, start_interval=start_interval)
    logs_early.remember_workspace(ws)  # the names `devenv logs` starts from without loading it
    for warning in [] if quiet else ws.warnings:
        display.warning(warning)
    return ws


@contextmanager
def exclusive(ws: Workspace, command: str) -> Iterator[None]:
    """One command that changes the stack at a time per project: a second one waits,
    saying for whom, then goes on."""
    from devenv import display
    from devenv.lock import project_lock

    def waiting(holder: Holder | None) -> None:
        who = f"`{holder.command}` (pid {holder.pid})" if holder else "another devenv command"
        display.note(f"waiting for {who} to finish in this project …")

    with project_lock(ws.project.root, command, on_wait=waiting):
        yield


def confirm(question: str) -> bool:
    if not sys.stdin.isatty():
        raise AbortedError(
            "refusing to delete data without confirmation (no terminal to ask on)",
            hint="add --yes to confirm",
        )
    try:
        return typer.confirm(question, default=False)
    except typer.Abort:  # Ctrl-D at the prompt: the same as no
        return False
