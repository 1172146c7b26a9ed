"""`devenv doctor`."""

from __future__ import annotations

from typing import Annotated

import typer

from devenv.commands import context
from devenv.errors import ExitCode

MARK = {"ok": "[ok]✔[/]", "warn": "[warn]![/]", "fail": "[err]✖[/]"}


def command(
    json_output: Annotated[bool, typer.Option("--json", help="Print the checks as JSON.")] = False,
) -> int:
    """Check this machine and project: Docker, Compose, ports, disk, .env, credentials.

    One line per check (✔ ok, ! warning, ✖ failure, with the fix). Exits 60 when a check fails.

    Example: devenv doctor --json
    """
    import json

    from rich.markup import escape

    from devenv import console, doctor

    results, seconds = doctor.run(context.directory, context.make_engine)
    if json_output:
        console.out.print_json(json.dumps(doctor.as_json(results, seconds)))
    else:
        for result in results:
            console.out.print(f"{MARK[result.status]} {escape(result.message)}")
            if result.status != "ok" and result.fix:
                console.out.print(f"  [dim]fix:[/] {escape(result.fix)}")
        failed = sum(r.status == "fail" for r in results)
        warned = sum(r.status == "warn" for r in results)
        summary = f"{failed} failed, {warned} warning(s)" if failed or warned else "all checks passed"
        console.out.print(f"[dim]{summary} in {seconds:.2f}s[/]")
    return ExitCode.OK if doctor.exit_ok(results) else ExitCode.CHECKS_FAILED
