"""How results and progress look: tables, the live wait display, errors. Rendering only."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.live import Live
from rich.markup import escape
from rich.segment import Segment
from rich.table import Table

from devenv import console
from devenv.errors import DevenvError, InterruptedByUser

if TYPE_CHECKING:
    from devenv.initialise import InitPlan
    from devenv.plan import UpPlan
    from devenv.readiness import Tracker
    from devenv.stack import DownResult
    from devenv.up import UpResult
    from devenv.workspace import ServiceSummary

_STYLE = {
    "healthy": "ok",
    "running": "ok",
    "ready": "ok",
    "completed": "ok",
    "unhealthy": "err",
    "exited": "err",
    "dead": "err",
    "starting": "warn",
    "created": "warn",
    "restarting": "warn",
    "waiting": "dim",
}


def _styled(status: str) -> str:
    style = _STYLE.get(status, "")
    return f"[{style}]{status}[/]" if style else status


def _seconds(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}s"


def _duration(value: float | None) -> str:
    if value is None:
        return ""
    value = int(value)
    if value < 60:
        return f"{value}s"
    if value < 3600:
        return f"{value // 60}m{value % 60:02d}s"
    return f"{value // 3600}h{value % 3600 // 60:02d}m"


class LiveReporter:
    """A per-service table redrawn while `up` waits (terminals)."""

    def __init__(self) -> None:
        self._live: Live | None = None

    def step(self, text: str) -> None:
        console.err.print(f"[dim]•[/] {escape(text)} …")

    def progress(self, tracker: Tracker, now: float) -> None:
        if self._live is None:
            self._live = Live(console=console.err, refresh_per_second=8, transient=True)
            self._live.start()
        table = Table(box=None, pad_edge=False, show_header=True, header_style="dim")
        for column in ("service", "state", "elapsed", "ready in", ""):
            table.add_column(column)
        stalled = []
        for item in tracker.progress.values():
            waiting = item.ready_after is None
            table.add_row(
                f"[svc]{item.service}[/]",
                _styled(item.status),
                _seconds(tracker.elapsed(now)) if waiting else "",
                _seconds(item.ready_after),
                f"[dim]{escape(item.detail)}[/]" if waiting else "",
            )
            if waiting and item.logs:
                stalled.append(item)
        if not stalled:
            self._live.update(table)
            return
        parts: list[Table | str] = [table]
        for item in stalled:
            parts.append(f"[dim]{item.service}, newest log lines:[/]")
            parts += [f"  [dim]{escape(line)}[/]" for line in item.logs]
        self._live.update(Group(*parts))

    def finish(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None


class PlainReporter:
    """One line per change, for logs and pipes; a stalled service's new log lines as they come."""

    def __init__(self) -> None:
        self._seen: dict[str, str] = {}
        self._logged: dict[str, list[str]] = {}

    def step(self, text: str) -> None:
        console.err.print(f"{escape(text)} …")

    def progress(self, tracker: Tracker, now: float) -> None:
        for item in tracker.progress.values():
            if self._seen.get(item.service) != item.status:
                self._seen[item.service] = item.status
                after = f" after {_seconds(item.ready_after)}" if item.ready_after is not None else ""
                console.err.print(f"  {item.service:<10} {item.status}{after}")
            if item.ready_after is None and item.logs and item.logs != self._logged.get(item.service):
                old = self._logged.get(item.service, [])
                self._logged[item.service] = item.logs
                for line in item.logs[_overlap(old, item.logs) :]:
                    console.err.print(f"  {item.service:<10} | {escape(line)}", style="dim")

    def finish(self) -> None:
        pass


def _overlap(old: list[str], new: list[str]) -> int:
    """How many of ``new``'s first lines ``old`` ended with (lines printed already)."""
    for size in range(min(len(old), len(new)), 0, -1):
        if old[-size:] == new[:size]:
            return size
    return 0


def reporter() -> LiveReporter | PlainReporter:
    return LiveReporter() if console.err.is_terminal else PlainReporter()


def _readiness(row: ServiceSummary) -> str:
    """devenv's readiness, with Docker's health beside it where they differ."""
    if row.state != "running":
        return _styled(row.state)
    word = "ready" if row.ready else "starting" if row.health in ("starting", None) else row.health or "running"
    text = _styled(word)
    if row.health and row.health != ("healthy" if row.ready else word):
        text += f" [dim](docker: {row.health})[/]"
    return text


class Trimmed:
    """A renderable drawn without the spaces a table pads its last column with: lines end
    where their text ends (a copied table has no trailing spaces)."""

    def __init__(self, renderable: RenderableType) -> None:
        self.renderable = renderable

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        for line in console.render_lines(self.renderable, options, pad=False):
            while line and not line[-1].control and not line[-1].text.rstrip():
                line.pop()
            if line and not line[-1].control:
                last = line[-1]
                line[-1] = Segment(last.text.rstrip(), last.style, last.control)
            yield from line
            yield Segment.line()


def services_table(rows: list[ServiceSummary], *, uptime: bool = False) -> Table:
    table = Table(box=None, pad_edge=False, show_header=uptime, header_style="dim")
    timed = any(row.ready_after is not None for row in rows)
    table.add_column("service")
    table.add_column("state")
    if uptime:
        table.add_column("uptime")
    if timed:
        table.add_column("ready in", justify="right", style="dim")
    table.add_column("url")
    for row in rows:
        cells = [f"[svc]{row.service}[/]", _readiness(row)]
        if uptime:
            cells.append(_duration(row.uptime))
        if timed:
            cells.append(_seconds(row.ready_after))
        cells.append(escape("  ".join(row.links)) or (f"[dim]{escape(row.detail)}[/]" if row.detail else ""))
        table.add_row(*cells)
    return table


def up_result(name: str, result: UpResult) -> None:
    if result.changed:
        built = f" (built {', '.join(result.built)})" if result.built else ""
        console.out.print(f"[ok]✔[/] {name} is up in {result.elapsed:.1f}s{built}")
    else:
        console.out.print(f"[ok]✔[/] {name} is already up; nothing changed")
    console.out.print(Trimmed(services_table(result.services)))
    for line in result.notes:
        console.out.print(f"  {escape(line)}")


def up_json(name: str, result: UpResult) -> None:
    data = {
        "project": name,
        "changed": result.changed,
        "built": result.built,
        "elapsed": round(result.elapsed, 3),
        "started_at": result.started_at,
        "services": [
            {
                **_row_json(r),
                "ready_at": r.ready_at,
                "ready_after": None if r.ready_after is None else round(r.ready_after, 3),
            }
            for r in result.services
        ],
        "notes": result.notes,
    }
    console.out.print_json(json.dumps(data))


def _row_json(r: ServiceSummary) -> dict[str, object]:
    return {
        "service": r.service,
        "state": r.state,
        "health": r.health,
        "ready": r.ready,
        **({"detail": r.detail} if r.detail else {}),
        "urls": r.links,
        "ports": [{"container": p.container_port, "host_ip": p.host_ip, "host": p.host_port} for p in r.ports],
        "uptime_seconds": None if r.uptime is None else round(r.uptime, 1),
    }


def plan(name: str, the_plan: UpPlan) -> None:
    console.out.print(f"devenv up would, in {name}:")
    for line in the_plan.describe():
        console.out.print(f"  {escape(line)}")


def status(name: str, rows: list[ServiceSummary]) -> None:
    if all(row.state == "not created" for row in rows):
        console.out.print(f"{name}: not running (start it with `devenv up`)")
    console.out.print(Trimmed(services_table(rows, uptime=True)))


def status_json(name: str, rows: list[ServiceSummary]) -> None:
    data = {"project": name, "services": [_row_json(r) for r in rows]}
    console.out.print_json(json.dumps(data))


def down_result(name: str, result: DownResult, *, volumes: bool) -> None:
    if not result.removed_containers and not result.removed_volumes:
        console.out.print(f"{name}: nothing to stop")
        return
    if result.removed_containers:
        console.out.print(f"[ok]✔[/] stopped and removed {len(result.removed_containers)} container(s) of {name}")
    if result.removed_volumes:
        console.out.print(f"[ok]✔[/] deleted volumes: {', '.join(result.removed_volumes)}")
    elif not volumes and result.kept_volumes:
        console.out.print("  data kept in its volumes (`devenv down --volumes` deletes it)")


def note(text: str) -> None:
    console.err.print(f"[dim]{escape(text)}[/]")


def warning(text: str) -> None:
    console.err.print(f"[warn]warning:[/] {escape(text)}")


def error(exc: DevenvError | InterruptedByUser) -> None:
    console.err.print(f"[err]error:[/] {escape(exc.message)}")
    for line in exc.details.splitlines():
        console.err.print(f"  {escape(line)}", style="dim")
    if exc.hint:
        console.err.print(f"[dim]hint:[/] {escape(exc.hint)}")


def init_plan(plan: InitPlan, *, written: bool) -> None:
    """What `devenv init` wrote (or, with --dry-run, would write), what it mapped and left."""
    if not written:
        for name, text in plan.files.items():
            console.out.print(f"[dim]--- {escape(name)}[/]")
            body = "".join(f"{line.split('=', 1)[0]}=***\n" for line in text.splitlines()) if name == ".env" else text
            console.out.print(escape(body.rstrip("\n")))
    verb = "wrote" if written else "would write"
    console.out.print(f"[ok]✔[/] from {escape(plan.source)}: {verb} {', '.join(plan.files)}")
    for line in plan.mapped:
        console.out.print(f"  {escape(line)}")
    for line in plan.left:
        console.out.print(f"  [warn]![/] {escape(line)}")
    if written:
        console.out.print("next: devenv up")
