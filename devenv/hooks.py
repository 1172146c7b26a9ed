"""What runs once the stack is ready: the seam for later steps of `up` (seeding, migrations).

A hook is a named callable that gets the ready stack and returns a line to report (or None).
`up` runs the hooks its plan lists, in order, after every wanted service is ready and before
it records the stack as up; a hook that raises a DevenvError fails `up` with the stack left
running, as any other failure after the start does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from devenv.engine_types import ServiceState
    from devenv.interfaces import Engine
    from devenv.workspace import Workspace


@dataclass(frozen=True)
class Ready:
    """The stack as `up` leaves it: every wanted service ready."""

    ws: Workspace
    engine: Engine
    services: tuple[str, ...]
    states: tuple[ServiceState, ...]
    fresh: tuple[str, ...]  # services whose container this `up` created or started


@dataclass(frozen=True)
class Hook:
    name: str
    run: Callable[[Ready], str | None]
    applies: Callable[[Workspace], bool] = lambda ws: True


_REGISTERED: list[Hook] = []


def register(hook: Hook) -> None:
    """Add a hook to every later `up` (features register theirs when imported)."""
    if any(existing.name == hook.name for existing in _REGISTERED):
        raise ValueError(f"a hook named {hook.name!r} is registered already")
    _REGISTERED.append(hook)


def after_ready(ws: Workspace) -> tuple[Hook, ...]:
    """The hooks that apply to this project, in the order they were registered."""
    return tuple(hook for hook in _REGISTERED if hook.applies(ws))
