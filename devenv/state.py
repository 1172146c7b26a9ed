"""devenv's files in a project: ``.devenv/`` holds the rendered compose file and what the last
successful ``up`` applied. Written atomically (temp file + rename); git ignores the folder."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

STATE_DIR = ".devenv"


@dataclass(frozen=True)
class Applied:
    """What the last successful `up` started: the rendered project, the build inputs each
    built image was made from (service -> fingerprint) and the services it started."""

    digest: str = ""
    fingerprints: dict[str, str] = field(default_factory=dict)
    services: tuple[str, ...] = ()


def state_dir(root: Path) -> Path:
    folder = root / STATE_DIR
    if not folder.is_dir():
        folder.mkdir(parents=True, exist_ok=True)
        write_atomic(folder / ".gitignore", "# devenv's working files; never commit them\n*\n")
    return folder


def write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_if_changed(path: Path, text: str) -> None:
    try:
        if path.read_text(encoding="utf-8") == text:
            return
    except OSError:
        pass
    write_atomic(path, text)


def read_applied(root: Path) -> Applied:
    try:
        data = json.loads((root / STATE_DIR / "state.json").read_text(encoding="utf-8"))
        return Applied(data.get("digest", ""), dict(data.get("fingerprints", {})), tuple(data.get("services", ())))
    except (OSError, ValueError, AttributeError):
        return Applied()


def write_applied(root: Path, applied: Applied) -> None:
    write_atomic(state_dir(root) / "state.json", json.dumps(asdict(applied), indent=2) + "\n")


def forget_containers(root: Path) -> None:
    """After `down`: nothing runs any more, but the built images (and their fingerprints) remain."""
    applied = read_applied(root)
    if applied.fingerprints:
        write_applied(root, Applied(fingerprints=applied.fingerprints))
    else:
        (root / STATE_DIR / "state.json").unlink(missing_ok=True)
