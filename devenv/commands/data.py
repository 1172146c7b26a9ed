"""`devenv data`."""

from __future__ import annotations

from typing import Annotated

import typer

from devenv.commands import context
from devenv.errors import ExitCode


def command(
    prune: Annotated[
        bool, typer.Option("--prune", help="Delete the databases of branches that no longer exist (asks first).")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> int:
    """List the Postgres databases devenv keeps, one per git branch, with size and last use.

    Example: devenv data --prune --yes
    """
    from rich.markup import escape

    from devenv import branches, console

    ws = context.workspace()
    engine = context.make_engine()
    with context.exclusive(ws, "devenv data"):
        found = branches.listing(ws, engine, prune=prune, confirm=lambda question: yes or context.confirm(question))
    console.out.print(f"{'branch':32s} {'database':48s} {'size':>9s}  last used")
    for kept in found.databases:
        branch = kept.branch or "(none)"
        used = "in use" if kept.current else kept.used or "?"
        gone = "  (branch deleted)" if kept in found.gone else ""
        size = f"{kept.size / 1048576:.1f} MB"
        console.out.print(escape(f"{branch:32s} {kept.name:48s} {size:>9s}  {used}{gone}"))
    if found.pruned:
        console.out.print(f"[ok]✔[/] deleted {len(found.gone)} database(s) of deleted branches")
    elif found.gone and not prune:
        console.out.print(f"  {len(found.gone)} of deleted branches: `devenv data --prune` deletes them")
    return ExitCode.OK
