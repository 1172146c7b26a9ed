"""What `devenv watch` does about a batch of host changes, decided as plain data.

Pure: no Docker, no watching, no clock of its own. ``plan_batch()`` turns one batch of
(change kind, host path) and the api's :class:`~devenv.reload.ReloadSetup` into one
:class:`WatchPlan`, the one action the loop (``devenv.watch``) carries out for it:

- ``none``: nothing devenv acts on changed (ignored files, editor temp files, paths that
  do not reach the container);
- ``reload``: a mounted path changed and the app reloads itself: nothing to do but say so;
- ``restart``: a mounted path changed and the setup says ``on_change: restart``;
- ``sync``: copy the changed files into the container and delete the deleted ones there
  (``mode: sync``), then restart the api when the setup says ``on_change: restart``;
- ``rebuild``: a dependency manifest or the Dockerfile changed: rebuild the image and
  recreate the api (``devenv up``'s path), whatever else changed with it.

A batch is one action, however many files it holds: that is how a burst (a branch switch, a
code generator, ``npm install`` writing under a watched folder) becomes one rebuild, one
restart or one sync. :class:`Batches` decides when a batch is complete: at once for a few
files (the watcher already waited ``debounce_ms`` of quiet), after ``BURST_QUIET`` of quiet
for a burst of ``BURST_FILES`` or more (a branch switch writes for longer than 50 ms), and
after ``SETTLE`` of quiet when it means a restart or a rebuild (an editor that saves in two
steps, truncate then write, would otherwise cost two restarts).

``plan_initial()`` compares the host with the container's files (by checksum) when watching
starts, so changes made while nothing was watching are applied then.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Literal

from devenv.reload import ignored as pattern_match

if TYPE_CHECKING:
    from devenv.reload import ReloadSetup

ChangeKind = Literal["added", "modified", "deleted"]
ActionKind = Literal["none", "reload", "restart", "sync", "rebuild"]

# never acted on, whatever the setup's `ignore:` says: version control, devenv's own files, and
# the temporary files editors write around a save (vim's 4913 probe, swap files and backups,
# JetBrains' safe write, Emacs' lock files, macOS' folder files)
ALWAYS_IGNORED = (
    ".git",
    ".devenv",
    ".hg",
    ".svn",
    "4913",
    "*.swp",
    "*.swx",
    "*.swo",
    "*~",
    ".#*",
    "#*#",
    "*___jb_tmp___",
    "*___jb_old___",
    ".DS_Store",
)

BURST_FILES = 50  # a batch of this many changes or more is a burst ...
BURST_QUIET = 1.0  # ... acted on once the files have been quiet this long (seconds)
LONGEST_WAIT = 10.0  # but never held longer than this, even if writing never stops
SETTLE = 0.25  # a batch that restarts or rebuilds waits for this much quiet first (seconds)


@dataclass(frozen=True)
class Change:
    kind: ChangeKind
    path: Path  # absolute host path


@dataclass(frozen=True)
class Copy:
    host: Path  # a file or a folder (copied with what is below it, ignores applied)
    container: str  # where it goes in the container


@dataclass(frozen=True)
class WatchPlan:
    action: ActionKind
    changed: tuple[Path, ...] = ()  # the host paths acted on (for the message)
    copies: tuple[Copy, ...] = ()
    deletes: tuple[str, ...] = ()  # container paths to remove
    restart: bool = False  # sync: restart the api after copying
    manifests: tuple[Path, ...] = ()  # rebuild: the manifests that changed
    ignored: int = 0  # changes left alone

    @property
    def costly(self) -> bool:
        """A restart or a rebuild: seconds, not milliseconds."""
        return self.action in ("restart", "rebuild") or self.restart

    def what_changed(self, root: Path) -> str:
        """'src/x.js changed', '3 files changed (src/a.js, src/b.js, …)', for the one line."""
        shown = self.manifests or self.changed
        names = [_relative(path, root) for path in shown]
        if len(names) == 1:
            return f"{names[0]} changed"
        head = ", ".join(names[:2]) + (", …" if len(names) > 2 else "")
        return f"{len(names)} files changed ({head})"


def _relative(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


class Sources:
    """Which host paths reach the container where, and what is ignored under them."""

    def __init__(self, setup: ReloadSetup) -> None:
        self.setup = setup
        # the deepest host path first: a nested path wins over its parent
        self._paths = sorted(setup.paths, key=lambda p: len(p.host.parts), reverse=True)
        self._manifests = {path: path for path in setup.manifests}
        self._patterns = [*ALWAYS_IGNORED, *setup.ignore]
        self._dependencies = tuple(PurePosixPath(dep) for dep in setup.dependencies)

    def is_manifest(self, path: Path) -> bool:
        return path in self._manifests

    def container_path(self, path: Path) -> str | None:
        """Where a host path lands in the container; None when it does not reach it or is
        ignored (by the setup's patterns, an editor's temporary file, a dependency folder)."""
        for source in self._paths:
            if path == source.host:
                relative = ""
            elif source.host in path.parents:
                relative = path.relative_to(source.host).as_posix()
            else:
                continue
            if relative and self.ignored(relative):
                return None
            target = str(PurePosixPath(source.container) / relative) if relative else source.container
            if self._in_dependency(PurePosixPath(target)):
                return None
            return target
        return None

    def ignored(self, relative: str) -> bool:
        """A path, relative to its source path (posix), that is never acted on."""
        return pattern_match(relative, self._patterns)

    def _in_dependency(self, target: PurePosixPath) -> bool:
        return any(target == dep or dep in target.parents for dep in self._dependencies)

    def relevant(self, path: Path) -> bool:
        """Whether a change to this path can lead to an action (the watcher's filter)."""
        return self.is_manifest(path) or self.container_path(path) is not None


def plan_batch(
    setup: ReloadSetup, changes: Iterable[Change], *, exists: Callable[[Path], bool] = Path.exists
) -> WatchPlan:
    """The one action for a batch of changes. ``exists``: whether a path is there now (a
    batch can hold a file's deletion and its re-creation: what is there now decides)."""
    sources = Sources(setup)
    batch = list(changes)
    manifests = sorted({c.path for c in batch if sources.is_manifest(c.path)})
    acted = {c.path: sources.container_path(c.path) for c in batch if not sources.is_manifest(c.path)}
    reaching = {path: target for path, target in acted.items() if target is not None}
    ignored = len({c.path for c in batch}) - len(reaching) - len(manifests)
    changed = tuple(sorted(reaching))
    if manifests:
        return WatchPlan("rebuild", changed, manifests=tuple(manifests), ignored=ignored)
    if not reaching:
        return WatchPlan("none", ignored=ignored)
    if setup.mode == "mount":
        return WatchPlan("restart" if setup.on_change == "restart" else "reload", changed, ignored=ignored)
    copies, deletes = [], []
    for path in changed:
        target = reaching[path]
        if exists(path):
            copies.append(Copy(path, target))
        else:
            deletes.append(target)
    copies = _outermost(copies)
    return WatchPlan(
        "sync",
        changed,
        copies=tuple(copies),
        deletes=tuple(_outermost_paths(deletes)),
        restart=setup.on_change == "restart",
        ignored=ignored,
    )


def _outermost(copies: list[Copy]) -> list[Copy]:
    """A folder copied brings what is below it: drop the copies inside another."""
    folders = {copy.host for copy in copies}
    return [copy for copy in copies if not any(parent in folders for parent in copy.host.parents)]


def _outermost_paths(paths: list[str]) -> list[str]:
    chosen = set(paths)
    return sorted(p for p in chosen if not any(str(parent) in chosen for parent in PurePosixPath(p).parents))


# -- initial sync: what changed while nothing watched ---------------------------------------


@dataclass(frozen=True)
class InitialPlan:
    copies: tuple[Copy, ...]
    deletes: tuple[str, ...]
    unchanged: int  # files already the same in the container

    @property
    def empty(self) -> bool:
        return not self.copies and not self.deletes


def host_files(setup: ReloadSetup) -> dict[str, Path]:
    """container path -> host file, for every file the setup syncs (ignores applied)."""
    sources = Sources(setup)
    found: dict[str, Path] = {}
    for source in setup.paths:
        if source.host.is_file():
            target = sources.container_path(source.host)
            if target is not None:
                found.setdefault(target, source.host)
            continue
        for path in _walk(source.host, sources):
            target = sources.container_path(path)
            if target is not None:
                found.setdefault(target, path)
    return found


def _walk(folder: Path, sources: Sources) -> Iterable[Path]:
    for here, dirs, files in os.walk(folder):
        base = Path(here)
        dirs[:] = [d for d in dirs if sources.container_path(base / d) is not None]
        for name in files:
            yield base / name


def plan_initial(
    setup: ReloadSetup, host: Mapping[str, str], container: Mapping[str, str], files: Mapping[str, Path]
) -> InitialPlan:
    """Copies and deletions that make the container's files the host's. ``host`` and
    ``container``: container path -> checksum; ``files``: container path -> host file.
    Container files that the setup ignores (or that are not under a synced path) stay."""
    sources = Sources(setup)
    copies = [Copy(files[path], path) for path in sorted(host) if container.get(path) != host[path]]
    deletes = [path for path in sorted(container) if path not in host and _owned(sources, setup, path)]
    return InitialPlan(tuple(copies), tuple(deletes), len(host) - len(copies))


def _owned(sources: Sources, setup: ReloadSetup, container_path: str) -> bool:
    """Whether a file in the container belongs to a synced path and is not ignored there."""
    target = PurePosixPath(container_path)
    for source in setup.paths:
        root = PurePosixPath(source.container)
        if target == root or root in target.parents:
            relative = target.relative_to(root).as_posix()
            return not (relative != "." and sources.ignored(relative)) and not sources._in_dependency(target)
    return False


def merge(raw: Iterable[tuple[ChangeKind, Path]], *, exists: Callable[[Path], bool] = Path.exists) -> list[Change]:
    """One change per path from the watcher's (kind, path) pairs, which come as a set (no
    order): a path there now was added or modified; one gone was deleted, unless it was also
    added in the same batch (an editor's temporary file, written and renamed away: it never
    reached the container, so there is nothing to delete)."""
    kinds: dict[Path, set[ChangeKind]] = {}
    for kind, path in raw:
        kinds.setdefault(path, set()).add(kind)
    merged = []
    for path, seen in kinds.items():
        if exists(path):
            merged.append(Change("added" if seen == {"added"} else "modified", path))
        elif "added" not in seen:
            merged.append(Change("deleted", path))
    return merged


# -- bursts ----------------------------------------------------------------------------------


@dataclass
class Batches:
    """Gathers the watcher's batches into the one the loop acts on: a few changes at once,
    a burst once it has been quiet for ``quiet`` seconds (never held beyond ``longest``)."""

    burst: int = BURST_FILES
    quiet: float = BURST_QUIET
    longest: float = LONGEST_WAIT
    pending: dict[Path, Change] = field(default_factory=dict)
    first_at: float = 0.0
    last_at: float = 0.0

    def add(self, changes: Iterable[Change], now: float) -> None:
        changes = list(changes)
        if not changes:
            return
        if not self.pending:
            self.first_at = now
        self.last_at = now
        for change in changes:
            before = self.pending.get(change.path)
            if before is not None and before.kind == "deleted" and change.kind != "deleted":
                self.pending[change.path] = Change("modified", change.path)
            else:
                self.pending[change.path] = change

    def due(self, now: float, *, settle: float = 0.0) -> bool:
        """Whether to act now. ``settle``: the quiet a costly action (a restart, a rebuild)
        waits for, so a save written in two steps (truncate, then write) is one restart."""
        if not self.pending:
            return False
        if now - self.first_at >= self.longest:
            return True
        quiet = self.quiet if len(self.pending) >= self.burst else 0.0
        return now - self.last_at >= max(quiet, settle)

    def wait(self, now: float, *, settle: float = 0.0) -> float | None:
        """How long the loop may wait for more changes before this batch is due (None: no
        batch pending, wait for changes as long as you like)."""
        if not self.pending:
            return None
        if self.due(now, settle=settle):
            return 0.0
        quiet = self.quiet if len(self.pending) >= self.burst else 0.0
        return max(0.0, min(self.last_at + max(quiet, settle), self.first_at + self.longest) - now)

    def peek(self) -> list[Change]:
        return list(self.pending.values())

    def take(self) -> list[Change]:
        taken = list(self.pending.values())
        self.pending = {}
        return taken
