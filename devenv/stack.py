"""`devenv status` and `devenv down`: describe the stack, and take it away."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from devenv import readiness, reload, state
from devenv.errors import AbortedError
from devenv.interfaces import Engine
from devenv.workspace import ServiceSummary, Workspace, summarize


def status(
    ws: Workspace, engine: Engine, check: Callable[..., dict[str, readiness.Report]] | None = None
) -> list[ServiceSummary]:
    """Each service's container state and Docker's health, and devenv's readiness: its
    probes run once, side by side, as `up` runs them."""
    states = engine.services(ws.name)
    known = list(ws.compose.services) + sorted({s.service for s in states} - set(ws.compose.services))
    return summarize(ws, states, known, (check or readiness.check_now)(ws.rules(), states))


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
    # the api's dependency volumes of other manifests (another branch's lockfile): this
    # project's only, found by their label; the file names just the current one
    older = (
        sorted(v.name for v in engine.labelled_volumes(ws.name, reload.DEPS_LABEL) if v.name not in declared)
        if volumes
        else []
    )
    doomed_volumes += older
    if doomed_volumes and not confirm(
        f"Delete {len(doomed_volumes)} volume(s) of project {ws.name} and all their data ({', '.join(doomed_volumes)})?"
    ):
        raise AbortedError(
            "nothing was removed",
            hint="`devenv down` without --volumes stops the stack and keeps the data",
        )
    if states or doomed_volumes:
        engine.down(ws.files, volumes=volumes)
    engine.remove_volumes(older)
    state.forget_containers(ws.project.root)
    return DownResult([s.name for s in states], doomed_volumes, kept_volumes=not volumes and bool(declared))
