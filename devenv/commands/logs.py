"""`devenv logs`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Optional

import typer

from devenv.commands import context

if TYPE_CHECKING:
    from devenv.logs_early import Names


def command(
    services: Annotated[
        Optional[list[str]], typer.Argument(help="Services to show (default: all).", show_default=False)
    ] = None,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep following, across restarts and recreations (Ctrl-C ends).")
    ] = False,
    tail: Annotated[
        Optional[str],
        typer.Option(
            "--tail", "-n", help="Only the last N lines of each container ('all': every line).", show_default=False
        ),
    ] = None,
    since: Annotated[
        Optional[str],
        typer.Option(help="Only lines since this time: 10m, 1h30m, 45s, 2d or RFC 3339.", show_default=False),
    ] = None,
    until: Annotated[
        Optional[str],
        typer.Option(
            help="Only lines before this time (same forms as --since; not with --follow).", show_default=False
        ),
    ] = None,
    timestamps: Annotated[bool, typer.Option("--timestamps", "-t", help="Show each line's time.")] = False,
    grep: Annotated[
        Optional[str], typer.Option(help="Only lines matching this regular expression.", show_default=False)
    ] = None,
    context_lines: Annotated[
        int, typer.Option("--context", "-C", help="Lines of context around each --grep match.", min=0)
    ] = 0,
    level: Annotated[
        Optional[str],
        typer.Option(
            help="Only lines at this level or worse: trace, debug, info, warn, error, fatal.", show_default=False
        ),
    ] = None,
    no_prefix: Annotated[
        bool, typer.Option("--no-prefix", help="No service name; the containers' stderr lines go to stderr.")
    ] = False,
    json_output: Annotated[bool, typer.Option("--json", help="One JSON object per line (for jq).")] = False,
) -> int:
    """Show the services' logs, merged in time order; follow them with -f.

    Example: devenv logs api -f --level warn
    """
    from devenv import logs, logs_early
    from devenv.logs_output import LogsView, show

    view = LogsView.from_options(
        follow=follow,
        tail=tail,
        since=since,
        until=until,
        timestamps=timestamps,
        grep=grep,
        context=context_lines,
        level=level,
        prefix=not no_prefix,
        as_json=json_output,
    )
    names = logs_early.recall(logs_early.project_root(context.directory))
    if names is None or any(service not in names.containers for service in services or ()):
        names = _names()
    known = list(names.containers)
    logs.check_services(services or [], known)
    engine = context.make_engine()
    containers = tuple((s, names.containers[s]) for s in services or ())
    return show(engine, names.project, known, tuple(services or ()), view, containers=containers)


def _names() -> Names:
    """The project loaded and checked as every command loads it (which remembers its names
    for the next `devenv logs`: see devenv.logs_early). Its warnings are left to up, status
    and config."""
    from devenv import logs_early

    return logs_early.names_of(context.workspace(quiet=True))
