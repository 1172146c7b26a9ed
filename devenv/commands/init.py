"""`devenv init`."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from devenv.commands import context
from devenv.errors import ExitCode


def command(
    force: Annotated[bool, typer.Option("--force", help="Replace an existing devenv.yaml.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print what would be written, and write nothing.")] = False,
    name: Annotated[
        Optional[str], typer.Option("--name", help="The project name. Default: the compose file's, else the folder's.")
    ] = None,
) -> int:
    """Write a devenv.yaml that brings this folder's compose project (or its Dockerfile) up
    under devenv; your compose file is never changed.

    Example: devenv init --dry-run
    """
    from devenv import display, initialise

    plan = initialise.plan(context.directory, name=name)
    if dry_run:
        display.init_plan(plan, written=False)
        return ExitCode.OK
    initialise.write(plan, force=force)
    display.init_plan(plan, written=True)
    return ExitCode.OK
