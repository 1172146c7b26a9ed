"""`devenv watch`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from devenv.commands import context
from devenv.errors import ExitCode, InterruptedByUser

if TYPE_CHECKING:
    from devenv.engine_types import EngineInfo
    from devenv.interfaces import Engine
    from devenv.workspace import Workspace


def command() -> int:
    """Watch the api's source and manifests and apply each change: nothing for a mounted path
    the app reloads itself, a sync into the container, a restart, or a rebuild for a manifest
    or Dockerfile change. One line per change; Ctrl-C stops (the stack keeps running).

    Example: devenv watch
    """
    from devenv import data

    data.register()  # a rebuild runs `up`'s after-ready steps, as `devenv up` does
    ws = context.workspace()
    engine = context.make_engine()
    return watch_after(ws, engine, engine.info())


def watch_after(ws: Workspace, engine: Engine, info: EngineInfo) -> int:
    """Watch until Ctrl-C (also `devenv up --watch`, once the stack is ready): exit 130."""
    import sys

    from devenv.watch import WatchOptions, run

    def out(line: str) -> None:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()

    options = WatchOptions(out=out, open_workspace=lambda: context.workspace(quiet=True))
    try:
        run(ws, engine, info, options)
    except InterruptedByUser:
        sys.stderr.write("stopped watching; the stack keeps running (`devenv down` stops it)\n")
        return ExitCode.INTERRUPTED
    return ExitCode.OK
