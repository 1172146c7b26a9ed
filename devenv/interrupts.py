"""Ctrl-C, the one way: devenv's SIGINT handler raises InterruptedByUser wherever the main
thread is (so cleanup runs and the CLI reports exit 130), once; later ones are ignored, so the
cleanup the first one started finishes.

While devenv starts a process and takes ownership of it (``deferred()``), an interrupt waits
until the process is owned (and so will be ended), then is raised.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from devenv.errors import InterruptedByUser


@dataclass
class _State:
    depth: int = 0  # deferred() sections open
    pending: bool = False  # an interrupt came inside one
    raised: bool = False  # this command was interrupted already


_state = _State()


def reset() -> None:
    """A new command starts: no interrupt yet."""
    _state.depth, _state.pending, _state.raised = 0, False, False


def handler(signum: int, frame: object) -> None:
    """The SIGINT handler devenv installs."""
    if _state.raised:
        return
    if _state.depth:
        _state.pending = True
        return
    _state.raised = True
    raise InterruptedByUser()


@contextmanager
def deferred() -> Iterator[None]:
    """No InterruptedByUser inside; one that came in the meantime is raised on the way out."""
    _state.depth += 1
    try:
        yield
    finally:
        _state.depth -= 1
    if _state.depth == 0 and _state.pending and not _state.raised:
        _state.pending, _state.raised = False, True
        raise InterruptedByUser()
