"""`.env` on day one: when a project ships `.env.example` and there is no `.env` yet,
`devenv up` offers to copy it before anything starts (on a terminal), or says how (elsewhere).

Copying it on day one matters: Postgres keeps the credentials its data volume was first
created with, so a `.env` copied after the first `up` would no longer match that volume.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

EXAMPLE = ".env.example"
DOTENV = ".env"


def needs_dotenv(root: Path) -> bool:
    return (root / EXAMPLE).is_file() and not (root / DOTENV).exists()


def offer_example(
    root: Path,
    *,
    interactive: bool,
    confirm: Callable[[str], bool],
    note: Callable[[str], None],
) -> bool:
    """Copy .env.example to .env when the user says so; True when it was copied."""
    if not needs_dotenv(root):
        return False
    if not interactive:
        note(f"no .env here: `cp {EXAMPLE} {DOTENV}` creates it from the example (then edit its values)")
        return False
    if not confirm(f"No .env here. Copy {EXAMPLE} to {DOTENV} (you can edit it after)?"):
        note(f"going on without .env; `cp {EXAMPLE} {DOTENV}` creates it later")
        return False
    shutil.copyfile(root / EXAMPLE, root / DOTENV)
    os.chmod(root / DOTENV, 0o600)  # it holds local secrets
    note(f"created .env from {EXAMPLE}")
    return True
