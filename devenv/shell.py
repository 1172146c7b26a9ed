"""`devenv shell`, `exec` and `open`: find a service's running container or URL, and the
natural client to run in it. Pure choices here; the engine runs them (``engine.attach``)."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

from devenv.errors import NotRunningError, UsageError
from devenv.interfaces import Engine
from devenv.project import API
from devenv.workspace import Workspace, summarize

# what `devenv shell SERVICE` runs in the container: its own environment names the database
CLIENTS: dict[str, list[str]] = {
    "postgres": [
        "sh",
        "-c",
        'exec psql -U "${POSTGRES_USER:-postgres}" -d "${POSTGRES_DB:-${POSTGRES_USER:-postgres}}"',
    ],
    "redis": ["redis-cli"],
}
SHELL = ["sh", "-c", "if command -v bash >/dev/null 2>&1; then exec bash; else exec sh; fi"]


def client_command(service: str) -> list[str]:
    """psql for Postgres (as the app's user, in the app's database), redis-cli for Redis,
    bash (or sh, where there is no bash) for the api and every other service."""
    return CLIENTS.get(service, SHELL)


def default_service(ws: Workspace) -> str:
    return API if API in ws.compose.services else ws.compose.services[0]


def running_container(ws: Workspace, engine: Engine, service: str) -> str:
    """The name of the service's running container; a clear error when there is none."""
    states = engine.services(ws.name)
    known = list(ws.compose.services) + sorted({s.service for s in states} - set(ws.compose.services))
    if service not in known:
        raise UsageError(f"{ws.name} has no service {service!r}", hint=f"its services: {', '.join(known)}")
    current = next((s for s in states if s.service == service and s.state == "running"), None)
    if current is None:
        raise NotRunningError(f"{service} is not running", hint="start it with `devenv up`")
    return current.name


def url_of(ws: Workspace, engine: Engine, service: str | None) -> tuple[str, str]:
    """(service, its web URL): the api's, Mailhog's UI, or any service's first http link."""
    states = engine.services(ws.name)
    rows = summarize(ws, states)
    if service is not None:
        row = next((r for r in rows if r.service == service), None)
        if row is None:
            raise UsageError(
                f"{ws.name} has no service {service!r}", hint=f"its services: {', '.join(ws.compose.services)}"
            )
        if row.state != "running":
            raise NotRunningError(f"{service} is not running", hint="start it with `devenv up`")
        web = [link for link in row.links if link.startswith(("http://", "https://"))]
        if not web:
            raise UsageError(f"{service} has no web page to open", hint="`devenv shell` opens its client")
        return service, web[0]
    for row in sorted(rows, key=lambda r: r.service != API):
        web = [link for link in row.links if link.startswith(("http://", "https://"))]
        if row.state == "running" and web:
            return row.service, web[0]
    raise NotRunningError(f"no service of {ws.name} with a web page is running", hint="start it with `devenv up`")


def has_browser(env: Mapping[str, str] | None = None, platform: str | None = None) -> bool:
    """Whether a graphical browser can open here: macOS and Windows always, Linux and the
    BSDs with a display (or BROWSER set). Not over SSH without one, not in a container."""
    env = os.environ if env is None else env
    platform = sys.platform if platform is None else platform
    if env.get("BROWSER"):
        return True
    if platform == "darwin" or platform.startswith(("win", "cygwin")):
        return True
    return bool(env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"))
