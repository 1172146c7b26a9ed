"""`devenv shell`, `devenv exec` and `devenv open`."""

from __future__ import annotations

import sys
from typing import Annotated, Optional

import typer

from devenv.commands import context
from devenv.commands.completion import complete_service


def _tty() -> bool:
    return sys.stdin.isatty() and sys.stdout.isatty()


def shell(
    service: Annotated[
        Optional[str],
        typer.Argument(help="The service (default: api).", autocompletion=complete_service, show_default=False),
    ] = None,
) -> int:
    """Open the service's natural client: psql for postgres, redis-cli for redis, a shell otherwise.

    psql connects as the app's user to the app's database; other services get bash, or sh
    where there is no bash. Exits with the client's exit code.

    Example: devenv shell postgres
    """
    from devenv import shell as core

    ws = context.workspace()
    engine = context.make_engine()
    name = service or core.default_service(ws)
    container = core.running_container(ws, engine, name)
    return engine.attach(container, core.client_command(name), tty=_tty())


def exec_(
    service: Annotated[str, typer.Argument(help="The service to run in.", autocompletion=complete_service)],
    command: Annotated[list[str], typer.Argument(help="The command and its arguments (after --).")],
) -> int:
    """Run a command in a service's container; exits with the command's exit code.

    Example: devenv exec api -- npm test
    """
    from devenv import shell as core

    ws = context.workspace()
    engine = context.make_engine()
    container = core.running_container(ws, engine, service)
    return engine.attach(container, command, tty=_tty())


def open_(
    service: Annotated[
        Optional[str],
        typer.Argument(help="The service (default: the api).", autocompletion=complete_service, show_default=False),
    ] = None,
) -> int:
    """Open a service's web page (the api, Mailhog's UI) in the browser, or print its URL.

    Where no browser can open (no display, an SSH session), the URL is printed to copy.

    Example: devenv open mailhog
    """
    import webbrowser

    from devenv import console
    from devenv import shell as core

    ws = context.workspace()
    name, url = core.url_of(ws, context.make_engine(), service)
    if core.has_browser() and webbrowser.open(url):
        console.err.print(f"[dim]opened {name} in the browser:[/]")
    console.out.print(url, markup=False)
    return 0
