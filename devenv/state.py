"""devenv's files in a project: ``.devenv/`` holds the rendered compose file and what the last
successful ``up`` applied. Written atomically (temp file + rename); git ignores the folder."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

STATE_DIR = ".devenv"


@dataclass(frozen=True)
class Applied:
    """What the last successful `up` started: the rendered project, the build inputs each
    built image was made from (service -> fingerprint), the services it started and the
    engine API it rendered for. Fields this version does not know (written by a newer
    devenv, or by features that keep their own records here) are kept in ``extra`` and
    written back unchanged."""

    digest: str = ""
    fingerprints: dict[str, str] = field(default_factory=dict)
    services: tuple[str, ...] = ()
    engine_api: tuple[int, int] = (0, 0)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        known = {
            "digest": self.digest,
            "fingerprints": self.fingerprints,
            "services": list(self.services),
            "engine_api": list(self.engine_api),
        }
        return {**self.extra, **known}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Applied:
        known = {"digest", "fingerprints", "services", "engine_api"}
        api = data.get("engine_api") or (0, 0)
        return cls(
            str(data.get("digest", "")),
            {str(k): str(v) for k, v in dict(data.get("fingerprints") or {}).items()},
            tuple(data.get("services") or ()),
            (int(api[0]), int(api[1])) if len(api) == 2 else (0, 0),
            {key: value for key, value in data.items() if key not in known},
        )


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
        return Applied.from_json(data) if isinstance(data, dict) else Applied()
    except (OSError, ValueError, AttributeError, TypeError):
        return Applied()


def write_applied(root: Path, applied: Applied) -> None:
    write_atomic(state_dir(root) / "state.json", json.dumps(applied.to_json(), indent=2) + "\n")


def forget_containers(root: Path) -> None:
    """After `down`: nothing runs any more; the built images (and their fingerprints), the
    engine seen last and other features' records remain."""
    applied = read_applied(root)
    write_applied(root, replace(applied, digest="", services=()))
