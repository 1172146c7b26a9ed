"""`devenv status`."""

from __future__ import annotations

from typing import Annotated

import typer

from devenv.commands import context
from devenv.errors import ExitCode


def command(
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> int:
    """Each service's state, Docker's health, devenv's readiness, URLs and uptime.

    Example: devenv status --json
    """
    from devenv import display, stack

    ws = context.workspace()
    rows = stack.status(ws, context.make_engine())
    (display.status_json if json_output else display.status)(ws.name, rows)
    return ExitCode.OK
