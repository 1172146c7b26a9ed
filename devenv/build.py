"""When the api needs a build: a cheap fingerprint of its build context.

The fingerprint covers what ``docker build`` would send (the context less ``.dockerignore``)
by path, size and modification time, without reading file contents. Folders that are
bind-mounted into the running api are left out: editing them reloads the app in place, and a
rebuild would only restart it.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
from collections.abc import Sequence
from pathlib import Path


def dockerignore_patterns(context: Path) -> list[str]:
    try:
        lines = (context / ".dockerignore").read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    patterns = []
    for line in lines:
        line = line.strip()
        if line and not line.startswith("#"):
            patterns.append(line.strip("/").removeprefix("./"))
    return patterns


def ignored(relative: str, patterns: list[str]) -> bool:
    """Docker's rule, simplified: the last matching pattern wins and '!' re-includes; a pattern
    that matches a folder covers everything below it."""
    result = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        if _matches(relative, pattern[1:] if negate else pattern):
            result = not negate
    return result


def _matches(relative: str, pattern: str) -> bool:
    parts = relative.split("/")
    for end in range(1, len(parts) + 1):
        prefix = "/".join(parts[:end])
        if fnmatch.fnmatchcase(prefix, pattern):
            return True
        if pattern.startswith("**/") and fnmatch.fnmatchcase(prefix.rsplit("/", 1)[-1], pattern[3:]):
            return True
    return False


ALWAYS_SKIPPED = (".git", ".devenv")  # version control, and devenv's own working files


def context_fingerprint(
    context: Path, dockerfile: Path, skip: Sequence[Path] = (), manifests: Sequence[Path] = ()
) -> str:
    """A digest of the build inputs; changes when a file is added, removed or modified.
    ``manifests`` count wherever they are, even inside a folder that ``skip`` leaves out (a
    project folder mounted whole still rebuilds when its package.json changes)."""
    digest = hashlib.sha256()
    patterns = [*ALWAYS_SKIPPED, *dockerignore_patterns(context)]
    skipped = {p.resolve() for p in skip}
    _add(digest, "\0dockerfile", dockerfile)
    for manifest in sorted(manifests):
        _add(digest, f"\0manifest\0{manifest}", manifest)
    for folder, dirs, files in os.walk(context):
        here = Path(folder)
        if here.resolve() in skipped:  # the whole context is mounted
            dirs[:] = []
            continue
        prefix = here.relative_to(context).as_posix()
        prefix = "" if prefix == "." else prefix + "/"
        dirs[:] = sorted(d for d in dirs if (here / d).resolve() not in skipped and not ignored(prefix + d, patterns))
        for name in sorted(files):
            relative = prefix + name
            if not ignored(relative, patterns) and (here / name).resolve() not in skipped:
                _add(digest, relative, here / name)
    return digest.hexdigest()[:16]


def _add(digest: hashlib._Hash, label: str, path: Path) -> None:
    try:
        stat = path.stat()
    except OSError:
        digest.update(f"{label}\0missing\n".encode())
        return
    digest.update(f"{label}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())


def exposed_secrets(context: Path) -> list[Path]:
    """`.env` files a build would send to the engine (and a `COPY . .` would bake in)."""
    patterns = dockerignore_patterns(context)
    return [
        path
        for path in sorted(context.glob(".env*"))
        if path.is_file() and path.name != ".env.example" and not ignored(path.name, patterns)
    ]
