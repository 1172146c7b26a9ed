"""`devenv down`."""

from __future__ import annotations

from typing import Annotated

import typer

from devenv.commands import context
from devenv.errors import ExitCode


def command(
    volumes: Annotated[
        bool, typer.Option("--volumes", "-v", help="Also delete the data volumes (asks first).")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> int:
    """Stop and remove this project's containers; its data stays unless --volumes.

    Example: devenv down --volumes --yes
    """
    from devenv import display, stack

    ws = context.workspace()
    engine = context.make_engine()
    with context.exclusive(ws, "devenv down"):
        result = stack.down(ws, engine, volumes=volumes, confirm=lambda question: yes or context.confirm(question))
    display.down_result(ws.name, result, volumes=volumes)
    return ExitCode.OK
