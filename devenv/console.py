"""The one place output goes: stdout for results, stderr for progress, warnings and errors.

rich honours NO_COLOR and drops colour and live displays when the stream is not a terminal.
"""

from __future__ import annotations

from rich.console import Console
from rich.theme import Theme

_theme = Theme({"ok": "green", "warn": "yellow", "err": "bold red", "dim": "dim", "svc": "bold cyan"})

out = Console(theme=_theme, highlight=False, soft_wrap=True)
err = Console(theme=_theme, highlight=False, stderr=True, soft_wrap=True)


def reset() -> None:
    """Re-bind both consoles to the current sys.stdout/sys.stderr (tests capture them)."""
    global out, err
    out = Console(theme=_theme, highlight=False, soft_wrap=True)
    err = Console(theme=_theme, highlight=False, stderr=True, soft_wrap=True)
