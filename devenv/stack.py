"""`devenv status` and `devenv down`: describe the stack, and take it away."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from devenv import state
from devenv.errors import AbortedError
from devenv.project import API
from devenv.workspace import Engine, ServiceSummary, Workspace, answering_early, summarize


def status(ws: Workspace, engine: Engine) -> list[ServiceSummary]:
    states = engine.services(ws.name)
    known = list(ws.compose.services) + sorted({s.service for s in states} - set(ws.compose.services))
    rows = summarize(ws, states, known)
    # as in `up`: an api whose health URL answers is healthy, even before Docker's first probe
    if answering_early(ws, states) is not None:
        next(row for row in rows if row.service == API).health = "healthy"
    return rows


@dataclass
class DownResult:
    removed_containers: list[str]
    removed_volumes: list[str] = field(default_factory=list)
    kept_volumes: bool = False


def down(
    ws: Workspace,
    engine: Engine,
    *,
    volumes: bool,
    confirm: Callable[[str], bool],
) -> DownResult:
    states = engine.services(ws.name)
    # `compose down --volumes` removes the volumes the file declares (not external ones);
    # a volume left from a profile since disabled stays, and is not reported as deleted
    declared = {
        (spec or {}).get("name") or f"{ws.name}_{key}"
        for key, spec in (ws.compose.compose.get("volumes") or {}).items()
        if not (spec or {}).get("external")
    }
    doomed_volumes = [v for v in engine.volumes(ws.name) if v in declared] if volumes else []
    if doomed_volumes and not confirm(
        f"Delete {len(doomed_volumes)} volume(s) of project {ws.name} and all their data "
        f"({', '.join(doomed_volumes)})?"
    ):
        raise AbortedError(
            "nothing was removed",
            hint="`devenv down` without --volumes stops the stack and keeps the data",
        )
    if states or doomed_volumes:
        engine.down(ws.files, volumes=volumes)
    state.forget_containers(ws.project.root)
    return DownResult([s.name for s in states], doomed_volumes, kept_volumes=not volumes and bool(declared))
