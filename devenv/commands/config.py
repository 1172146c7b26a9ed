"""`devenv config`."""

from __future__ import annotations

import sys

from devenv.commands import context
from devenv.errors import ExitCode


def command() -> int:
    """Print the compose file devenv runs; plain Compose runs it too
    (`docker compose --project-directory . -f FILE up`: the project folder's .env is read from there).

    Healthchecks get a short start_interval when the engine honours it (API 1.44+), as the
    last `devenv up` found it.

    Example: devenv config > rendered.yaml
    """
    ws = context.workspace()
    sys.stdout.write(ws.compose.render())
    return ExitCode.OK
