"""`devenv seed`."""

from __future__ import annotations

from devenv.commands import context
from devenv.errors import ExitCode


def command() -> int:
    """Run the migrate command and the seeds of devenv.yaml's `data:` on the running stack now.

    `devenv up` runs them by itself on new data; this runs them again on the data as it is.

    Example: devenv seed
    """
    from devenv import console, data

    ws = context.workspace()
    engine = context.make_engine()
    with context.exclusive(ws, "devenv seed"):
        result = data.seed(ws, engine)
    steps = f"{result.steps} step{'s' if result.steps != 1 else ''}"
    if result.note:
        console.err.print(f"[dim]{result.note}[/]")
    console.out.print(f"[ok]✔[/] {ws.name}: migrated and seeded in {result.elapsed:.1f}s ({steps})")
    return ExitCode.OK
