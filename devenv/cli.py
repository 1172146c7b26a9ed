"""The command line: options in, one core call, results out, an exit code.

Errors raised on purpose (:class:`DevenvError`) are rendered in one place, ``main()``; anything
else is reported as unexpected with its traceback written to a log file. Heavy modules
(pydantic, python-on-whales) are imported inside the commands so ``devenv --help`` stays fast.
"""

from __future__ import annotations

import os
import signal
import sys
import traceback
from pathlib import Path
from typing import Annotated, Optional

import typer

from devenv import __version__
from devenv.errors import AbortedError, DevenvError, ExitCode, InterruptedByUser

app = typer.Typer(
    name="devenv",
    help="One command to a working local stack: your api, Postgres, Redis and Mailhog, healthy and wired.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)

_directory: Path = Path.cwd()


def make_engine():  # noqa: ANN201 - the seam tests replace with a fake engine
    from devenv.engine import DockerEngine

    return DockerEngine()


def _workspace():  # noqa: ANN202
    from devenv import display
    from devenv.workspace import open_workspace

    ws = open_workspace(_directory)
    for warning in ws.warnings:
        display.warning(warning)
    return ws


def _version(value: bool) -> None:
    if value:
        typer.echo(f"devenv {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    directory: Annotated[
        Optional[Path],
        typer.Option("--directory", "-C", help="Run as if started in this folder.", show_default=False),
    ] = None,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    global _directory
    _directory = (directory or Path.cwd()).resolve()


@app.command()
def up(
    profile: Annotated[
        Optional[list[str]],
        typer.Option("--profile", "-p", help="Start only this profile (and what it waits for). Repeatable."),
    ] = None,
    build: Annotated[
        Optional[bool],
        typer.Option("--build/--no-build", help="Always / never build the images the stack builds (the api, and "
                     "compose_files services with a build). Default: when missing, or the api's build inputs changed.",
                     show_default=False),
    ] = None,
    timeout: Annotated[
        Optional[float], typer.Option(help="Seconds to wait for every service to be healthy. Default: devenv.yaml's timeout (180).",
                                      min=1, show_default=False)
    ] = None,
) -> int:
    """Build what changed, start the stack in dependency order and wait until it answers."""
    from devenv import display
    from devenv.up import UpOptions, up as start

    ws = _workspace()
    result = start(ws, make_engine(), display.reporter(),
                   UpOptions(services=profile or None, build=build, timeout=timeout))
    display.up_result(ws.name, result)
    return ExitCode.OK


@app.command()
def down(
    volumes: Annotated[bool, typer.Option("--volumes", "-v", help="Also delete the data volumes (asks first).")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> int:
    """Stop and remove this project's containers; its data stays unless --volumes."""
    from devenv import display, stack

    ws = _workspace()
    result = stack.down(ws, make_engine(), volumes=volumes, confirm=lambda question: yes or _confirm(question))
    display.down_result(ws.name, result, volumes=volumes)
    return ExitCode.OK


@app.command()
def status(
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> int:
    """Each service's state, health, URLs and uptime."""
    from devenv import display, stack

    ws = _workspace()
    rows = stack.status(ws, make_engine())
    (display.status_json if json_output else display.status)(ws.name, rows)
    return ExitCode.OK


@app.command()
def config() -> int:
    """Print the compose file devenv runs; plain Compose runs it too
    (`docker compose --project-directory . -f FILE up`: the project folder's .env is read from there)."""
    ws = _workspace()
    sys.stdout.write(ws.compose.render())
    return ExitCode.OK


def _confirm(question: str) -> bool:
    if not sys.stdin.isatty():
        raise AbortedError(
            "refusing to delete data without confirmation (no terminal to ask on)",
            hint="add --yes to confirm",
        )
    try:
        return typer.confirm(question, default=False)
    except typer.Abort:  # Ctrl-D at the prompt: the same as no
        return False


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and turn every outcome into an exit code (the one error handler)."""
    from devenv import console

    console.reset()
    command = typer.main.get_command(app)
    previous = _catch_ctrl_c()
    try:
        result = command.main(args=argv, prog_name="devenv", standalone_mode=False)
        return int(result) if isinstance(result, int) else ExitCode.OK
    except (DevenvError, InterruptedByUser) as exc:
        from devenv import display

        display.error(exc)
        return int(exc.code)
    except typer.Exit as exc:
        return exc.exit_code
    except typer.TyperException as exc:  # usage errors: unknown option, bad value
        exc.show()
        return ExitCode.USAGE
    except typer.Abort:
        from devenv import display

        display.error(AbortedError("aborted", hint="nothing was changed"))
        return int(AbortedError.code)
    except Exception as exc:  # noqa: BLE001 - the one place unexpected errors end up
        path = _write_crash_log()
        console.err.print(f"[err]error:[/] unexpected {type(exc).__name__}: {exc}")
        console.err.print(f"[dim]hint:[/] this is a bug in devenv; the traceback is in {path}")
        return ExitCode.UNEXPECTED
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


def _catch_ctrl_c():  # noqa: ANN202
    """The first Ctrl-C raises InterruptedByUser wherever the main thread is; later ones are
    ignored, so the cleanup the first one started (ending compose, a live display) finishes."""
    raised = False

    def interrupted(signum: int, frame: object) -> None:
        nonlocal raised
        if raised:
            return
        raised = True
        raise InterruptedByUser()

    try:
        return signal.signal(signal.SIGINT, interrupted)
    except ValueError:  # not the main thread (an embedding program): leave Ctrl-C alone
        return None


def _write_crash_log() -> Path:
    home = Path(os.environ.get("DEVENV_HOME") or Path.home() / ".cache" / "devenv")
    try:
        home.mkdir(parents=True, exist_ok=True)
        path = home / "last-error.log"
        path.write_text(f"devenv {__version__}\nargv: {sys.argv}\n\n{traceback.format_exc()}", encoding="utf-8")
        return path
    except OSError:
        return Path("(could not write a log)")
