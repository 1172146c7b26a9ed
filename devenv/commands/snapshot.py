"""`devenv snapshot save | restore | ls | rm`."""

from __future__ import annotations

from typing import Annotated

import typer

from devenv.commands import context
from devenv.errors import ExitCode

app = typer.Typer(
    name="snapshot",
    help="Named snapshots of the project's Postgres and Redis data, kept in its volumes: "
    "save, restore, ls, rm.\n\nExample: devenv snapshot save before-migration",
    no_args_is_help=True,
    rich_markup_mode=None,
)

_NAME = typer.Argument(help="The snapshot's name: letters, digits, '.', '_', '-'.", metavar="NAME", show_default=False)
_YES = typer.Option("--yes", "-y", help="Do not ask for confirmation.")


def _mb(size: int) -> str:
    return f"{size / 1048576:.1f} MB"


@app.command("save")
def save(
    name: Annotated[str, _NAME],
    force: Annotated[bool, typer.Option("--force", "-f", help="Replace a snapshot of that name.")] = False,
) -> int:
    """Save the data of Postgres and Redis, as they are now, under NAME.

    Example: devenv snapshot save before-migration
    """
    from devenv import console, snapshots

    ws = context.workspace()
    engine = context.make_engine()
    with context.exclusive(ws, "devenv snapshot save"):
        done = snapshots.save(ws, engine, name, force=force)
    for note in done.notes or []:
        console.err.print(f"[dim]{note}[/]")
    console.out.print(
        f"[ok]✔[/] saved snapshot {name} of {ws.name} ({', '.join(done.stores)}, {_mb(done.size)}) "
        f"in {done.elapsed:.2f}s"
    )
    return ExitCode.OK


@app.command("restore")
def restore(name: Annotated[str, _NAME], yes: Annotated[bool, _YES] = False) -> int:
    """Put the data of snapshot NAME back in place of the current data (asks first).

    Example: devenv snapshot restore before-migration --yes
    """
    from devenv import console, snapshots

    ws = context.workspace()
    engine = context.make_engine()
    with context.exclusive(ws, "devenv snapshot restore"):
        done = snapshots.restore(ws, engine, name, confirm=lambda question: yes or context.confirm(question))
    for note in done.notes or []:
        console.err.print(f"[dim]{note}[/]")
    console.out.print(
        f"[ok]✔[/] restored snapshot {name} of {ws.name} ({', '.join(done.stores)}) in {done.elapsed:.2f}s"
    )
    return ExitCode.OK


@app.command("ls")
def ls() -> int:
    """List the project's snapshots: name, when taken, size, and the git branch it was taken on.

    Example: devenv snapshot ls
    """
    from rich.markup import escape

    from devenv import console, snapshots

    ws = context.workspace()
    engine = context.make_engine()
    found = snapshots.listing(ws, engine)
    if not found:
        console.err.print("no snapshots yet: `devenv snapshot save NAME` takes one")
        return ExitCode.OK
    console.out.print(f"{'name':24s} {'created':20s} {'size':>9s}  {'branch':24s} holds")
    for snap in found:
        line = (
            f"{snap.name:24s} {snap.created or '?':20s} {_mb(snap.size):>9s}  "
            f"{snap.branch or '-':24s} {', '.join(snap.stores)}"
        )
        console.out.print(escape(line))
    return ExitCode.OK


@app.command("rm")
def rm(name: Annotated[str, _NAME], yes: Annotated[bool, _YES] = False) -> int:
    """Delete snapshot NAME (asks first).

    Example: devenv snapshot rm before-migration --yes
    """
    from devenv import console, snapshots

    ws = context.workspace()
    engine = context.make_engine()
    with context.exclusive(ws, "devenv snapshot rm"):
        snapshots.remove(ws, engine, name, confirm=lambda question: yes or context.confirm(question))
    console.out.print(f"[ok]✔[/] deleted snapshot {name} of {ws.name}")
    return ExitCode.OK
