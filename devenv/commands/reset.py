"""`devenv reset`."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from devenv.commands import context
from devenv.errors import ExitCode


def command(
    services: Annotated[
        Optional[list[str]],
        typer.Argument(help="postgres, redis, mailhog (default: each of them the project has).", show_default=False),
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> int:
    """Put the data back to its freshly seeded state: Postgres from the seeded template,
    Redis flushed and re-seeded, Mailhog's messages deleted (asks first).

    Example: devenv reset --yes
    """
    from devenv import console
    from devenv.reset import reset

    ws = context.workspace()
    engine = context.make_engine()
    with context.exclusive(ws, "devenv reset"):
        result = reset(ws, engine, services, confirm=lambda question: yes or context.confirm(question))
    for note in result.notes:
        console.err.print(f"[dim]{note}[/]")
    console.out.print(f"[ok]✔[/] reset {', '.join(result.services)} of {ws.name} in {result.elapsed:.2f}s")
    return ExitCode.OK
