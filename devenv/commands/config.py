"""`devenv config`."""

from __future__ import annotations

import sys

from devenv.commands import context
from devenv.errors import ExitCode


def command() -> int:
    """Print the compose file devenv runs; plain Compose runs it too
    (`docker compose --project-directory . -f FILE up`: the project folder's .env is read from there).

    Healthchecks get a short start_interval when the engine honours it (API 1.44+), as the
    last `devenv up` found it. The api's hot-reload setup (api.reload, with what the preset
    filled in) follows as comments.

    Example: devenv config > rendered.yaml
    """
    ws = context.workspace()
    sys.stdout.write(ws.compose.render())
    setup = ws.compose.reload
    if setup is not None:  # as comments: the output stays a compose file
        lines = ["api.reload, as resolved from devenv.yaml and the preset (see docs/how-to/hot-reload.md):"]
        lines += [f"  {line}" for line in setup.describe(ws.project.root)]
        sys.stdout.write("".join(f"# {line}\n" for line in lines))
    return ExitCode.OK
