"""`devenv up`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from devenv.commands import context
from devenv.errors import ExitCode, UsageError


def command(
    profile: Annotated[
        Optional[list[str]],
        typer.Option("--profile", "-p", help="Start only this profile (and what it waits for). Repeatable."),
    ] = None,
    build: Annotated[
        Optional[bool],
        typer.Option(
            "--build/--no-build",
            help="Always / never build the images the stack builds (the api, and "
            "compose_files services with a build). Default: when missing, or their build inputs changed.",
            show_default=False,
        ),
    ] = None,
    timeout: Annotated[
        Optional[float],
        typer.Option(
            help="Seconds to wait for every service to be ready. Default: devenv.yaml's timeout (180).",
            min=1,
            show_default=False,
        ),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print what up would do, and do nothing.")] = False,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the result as JSON (progress stays on stderr).")
    ] = False,
    follow: Annotated[
        bool,
        typer.Option(
            "--follow", "-f", help="Once ready, follow every service's logs until Ctrl-C (the stack keeps running)."
        ),
    ] = False,
    watch: Annotated[
        bool,
        typer.Option(
            "--watch",
            "-w",
            help="Once ready, go on watching the api's source and manifests (as `devenv watch`) until Ctrl-C.",
        ),
    ] = False,
) -> int:
    """Build what changed, start the stack in dependency order and wait until it answers.

    Example: devenv up --profile postgres
    """
    from devenv import data, display
    from devenv.up import UpOptions, plan, up

    data.register()  # migrations and seeds run once the stack is ready

    ws = context.workspace()  # devenv.yaml's errors come first, before any engine's
    _offer_dotenv(ws.project.root, ask=not dry_run)
    engine = context.make_engine()
    info = engine.info()
    if ws.compose.start_interval != info.start_interval:  # another engine than last time
        ws = context.workspace(start_interval=info.start_interval, quiet=True)
    if watch and follow:
        raise UsageError("--watch and --follow cannot go together", hint="follow the logs in another terminal")
    options = UpOptions(services=profile or None, build=build, timeout=timeout)
    if dry_run:
        display.plan(ws.name, plan(ws, engine, options))
        return ExitCode.OK
    with context.exclusive(ws, "devenv up"):
        result = up(ws, engine, display.reporter(), info, options)
    if not result.changed:  # the branch's database, a changed seed
        result.notes.extend(data.noop_notes(ws, engine))
    (display.up_json if json_output else display.up_result)(ws.name, result)
    if watch:
        from devenv.commands.watch import watch_after

        return watch_after(ws, engine, info)
    if follow:
        from devenv.logs_output import follow_after_up

        return follow_after_up(engine, ws.name, list(ws.compose.compose["services"]), result, as_json=json_output)
    return ExitCode.OK


def _offer_dotenv(root: Path, *, ask: bool) -> None:
    """No .env yet but a .env.example: offer to copy it (a terminal), or say how."""
    import sys

    from devenv import display
    from devenv.envfile import offer_example

    def confirm(question: str) -> bool:
        try:
            return typer.confirm(question, default=True, err=True)
        except typer.Abort:  # Ctrl-D at the prompt: no
            return False

    interactive = ask and sys.stdin.isatty() and sys.stderr.isatty()
    offer_example(root, interactive=interactive, confirm=confirm, note=display.note)
