"""The command line: the typer app, its commands (one module each, in ``devenv.commands``)
and the one error handler.

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
from typing import Annotated, Any, Optional

import typer

from devenv import __version__, interrupts
from devenv.commands import check as check_command
from devenv.commands import config as config_command
from devenv.commands import context
from devenv.commands import data as data_command
from devenv.commands import doctor as doctor_command
from devenv.commands import down as down_command
from devenv.commands import init as init_command
from devenv.commands import logs as logs_command
from devenv.commands import reset as reset_command
from devenv.commands import seed as seed_command
from devenv.commands import shell as shell_command
from devenv.commands import snapshot as snapshot_command
from devenv.commands import status as status_command
from devenv.commands import up as up_command
from devenv.commands import watch as watch_command
from devenv.errors import AbortedError, DevenvError, ExitCode, InterruptedByUser

app = typer.Typer(
    name="devenv",
    help="One command to a working local stack: your api, Postgres, Redis and Mailhog, healthy and wired.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)

app.command("init")(init_command.command)
app.command("up")(up_command.command)
app.command("down")(down_command.command)
app.command("status")(status_command.command)
app.command("config")(config_command.command)
app.command("seed")(seed_command.command)
app.command("reset")(reset_command.command)
app.command("data")(data_command.command)
app.add_typer(snapshot_command.app, name="snapshot")
app.command("logs")(logs_command.command)
app.command("doctor")(doctor_command.command)
app.command("check")(check_command.command)
app.command("shell")(shell_command.shell)
app.command("exec")(shell_command.exec_)
app.command("open")(shell_command.open_)
app.command("watch")(watch_command.command)


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
    context.directory = (directory or Path.cwd()).resolve()


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and turn every outcome into an exit code (the one error handler)."""
    previous = _catch_ctrl_c()
    try:
        from devenv import console

        console.reset()
        command = typer.main.get_command(app)
        result = command.main(args=argv, prog_name="devenv", standalone_mode=False)
        return int(result) if isinstance(result, int) else ExitCode.OK
    except KeyboardInterrupt:  # a Ctrl-C that came before devenv's own handler was in place
        from devenv import display

        display.error(InterruptedByUser())
        return int(InterruptedByUser.code)
    except (DevenvError, InterruptedByUser) as exc:
        from devenv import display

        display.error(exc)
        return int(exc.code)
    except typer.Exit as exc:
        return exc.exit_code
    except typer.TyperException as exc:  # usage errors: unknown option, bad value
        show = getattr(exc, "show", None)  # the usage line and the error, as click prints them
        if callable(show):
            show()
        else:
            sys.stderr.write(f"Error: {exc.format_message()}\n")
        return ExitCode.USAGE
    except typer.Abort:
        from devenv import display

        display.error(AbortedError("aborted", hint="nothing was changed"))
        return int(AbortedError.code)
    except Exception as exc:  # noqa: BLE001 - the one place unexpected errors end up
        return unexpected(exc)
    finally:
        engine = sys.modules.get("devenv.engine")  # loaded only by commands that used docker
        if engine is not None:
            engine.end_all()
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


def unexpected(exc: Exception) -> int:
    """An error nobody raised on purpose (called in its ``except``): one line, and the
    traceback in a log file. Also for `devenv logs` run without the CLI (devenv.logs_early)."""
    from devenv import console

    path = _write_crash_log()
    console.err.print(f"[err]error:[/] unexpected {type(exc).__name__}: {exc}")
    console.err.print(f"[dim]hint:[/] this is a bug in devenv; the traceback is in {path}")
    return ExitCode.UNEXPECTED


def _catch_ctrl_c() -> Any:
    """devenv's own Ctrl-C handler (see devenv.interrupts)."""
    interrupts.reset()
    try:
        return signal.signal(signal.SIGINT, interrupts.handler)
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
