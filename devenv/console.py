"""The one place output goes: stdout for results, stderr for progress, warnings and errors.

rich honours NO_COLOR and drops colour and live displays when the stream is not a terminal.
Written to a pipe or a file, lines are not cut to 80 columns (URLs stay whole to copy).
"""

from __future__ import annotations

import os
import sys
from typing import TextIO

from rich.console import Console
from rich.theme import Theme

_theme = Theme({"ok": "green", "warn": "yellow", "err": "bold red", "dim": "dim", "svc": "bold cyan"})
PIPE_WIDTH = 240  # wide enough for a table of full URLs, when no terminal says otherwise


def _console(stream: TextIO, *, stderr: bool) -> Console:
    terminal = stream.isatty() if hasattr(stream, "isatty") else False
    width = None if terminal or os.environ.get("COLUMNS") else PIPE_WIDTH
    return Console(theme=_theme, highlight=False, stderr=stderr, soft_wrap=True, width=width)


out = _console(sys.stdout, stderr=False)
err = _console(sys.stderr, stderr=True)


def reset() -> None:
    """Re-bind both consoles to the current sys.stdout/sys.stderr (tests capture them)."""
    global out, err
    out = _console(sys.stdout, stderr=False)
    err = _console(sys.stderr, stderr=True)
