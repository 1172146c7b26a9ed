"""Hot reload, set up as data: how the api's source reaches its container, where its
dependencies come from, and what a change needs.

``resolve()`` reads devenv.yaml's ``api.reload:`` block and fills every key it leaves out
from a preset detected in the build context (Node: package.json; Python: pyproject.toml,
requirements*.txt …), so the usual project needs no keys at all. The result,
:class:`ReloadSetup`, is what the rendered compose file mounts (``devenv.project``), what
``devenv up`` fingerprints to know when to rebuild (``devenv.up``) and what ``devenv watch``
acts on. Pure: it reads a few files in the project, never the engine.

Dependency folders (``/app/node_modules``) live in named volumes whose name carries a hash of
the manifests (package.json, the lockfile, the Dockerfile): Docker fills an empty named
volume from the image at its mount point when a container is created, so a changed lockfile
gets a fresh volume from the freshly built image, and switching back finds the old one ready.
"""

from __future__ import annotations

import hashlib
import json
import re
import shlex
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Literal

from devenv import dockerhost

if TYPE_CHECKING:
    from devenv.config import Project
    from devenv.engine_types import Volume
    from devenv.workspace import Workspace

Mode = Literal["mount", "sync"]
Action = Literal["reload", "restart"]  # what a source change needs

SERVICE = "api"
DEPS_PREFIX = "deps_"  # compose volume key: deps_<12 hex>; Docker names it <project>_deps_<12 hex>
DEPS_LABEL = "dev.devenv.dependencies"  # the container path a dependency volume holds
KEEP_DEPENDENCY_VOLUMES = 3  # per dependency folder, the newest ones (the current one included)


@dataclass(frozen=True)
class SourcePath:
    host: Path  # absolute host folder or file
    container: str  # absolute path in the container


@dataclass(frozen=True)
class ReloadSetup:
    service: str  # "api"
    mode: Mode  # mount: bind mounts; sync: copied in by `devenv watch`
    paths: tuple[SourcePath, ...]  # which host paths reach the container
    dependencies: tuple[str, ...]  # container paths whose contents come from the image, as hashed named volumes
    manifests: tuple[Path, ...]  # absolute host files: a change means rebuild + recreate
    on_change: Action  # "reload": the app reloads itself; "restart": restart it
    ignore: tuple[str, ...]  # glob patterns (relative to each host path) never acted on
    preset: str | None  # "node", "python" or None
    debounce_ms: int = 50
    # added beyond the contract:
    volumes: tuple[tuple[str, str], ...] = ()  # (container path, compose volume key) per dependency
    reasons: tuple[str, ...] = ()  # why each detected value was chosen (devenv config)

    def volume_for(self, container: str) -> str | None:
        """The compose volume key that holds a dependency folder."""
        return dict(self.volumes).get(container)

    def ignored(self, relative: str) -> bool:
        """Whether a path, relative to one of ``paths``' host folders, is never acted on: a
        pattern matches the whole path, its file name, or one of its folders."""
        return ignored(relative, self.ignore)

    def describe(self, root: Path | None = None) -> list[str]:
        """The setup as devenv.yaml would spell it out (shown by `devenv config`); host paths
        relative to ``root`` where they are inside it."""

        def show(path: Path) -> str:
            if root is not None and path.is_relative_to(root):
                return "./" + path.relative_to(root).as_posix() if path != root else "."
            return str(path)

        volumes = ", ".join(f"{d} (volume {self.volume_for(d) or '?'})" for d in self.dependencies)
        lines = [
            f"preset: {self.preset or 'none'}",
            f"mode: {self.mode}",
            "paths: [" + ", ".join(f"{show(p.host)}:{p.container}" for p in self.paths) + "]",
            f"dependencies: [{volumes}]",
            "manifests: [" + ", ".join(show(m) for m in self.manifests) + "]",
            f"on_change: {self.on_change}",
            "ignore: [" + ", ".join(self.ignore) + "]",
            f"debounce_ms: {self.debounce_ms}",
        ]
        return lines + [f"({reason})" for reason in self.reasons]


# -- presets ------------------------------------------------------------------------------------

# editors' and tools' scratch files, and folders no app reloads for
COMMON_IGNORE = (".git", ".devenv", "*.swp", "*.swx", "*~", ".#*", "#*#", "4913", ".DS_Store", "*.tmp")


@dataclass(frozen=True)
class Preset:
    name: str
    manifests: tuple[str, ...]  # globs relative to the build context
    dependencies: tuple[str, ...]  # folders relative to the image's WORKDIR
    ignore: tuple[str, ...]
    reloaders: tuple[str, ...]  # words in the command that mean the app reloads itself
    dependencies_when: tuple[str, ...] = ()  # only when one of these files exists (else always)


PRESETS: dict[str, Preset] = {
    "node": Preset(
        "node",
        manifests=(
            "package.json",
            "package-lock.json",
            "npm-shrinkwrap.json",
            "yarn.lock",
            "pnpm-lock.yaml",
            ".npmrc",
            ".yarnrc.yml",
        ),
        dependencies=("node_modules",),
        ignore=("node_modules", "/dist", "/build", "/coverage", "/.next", "/.cache", "npm-debug.log*"),
        reloaders=(
            "--watch",
            "nodemon",
            "node-dev",
            "ts-node-dev",
            "tsx watch",
            "reload",
            "pm2-dev",
            "next dev",
            "vite",
            "webpack serve",
            "supervisor",
        ),
    ),
    "python": Preset(
        "python",
        manifests=(
            "pyproject.toml",
            "requirements*.txt",
            "requirements/*.txt",
            "poetry.lock",
            "uv.lock",
            "Pipfile",
            "Pipfile.lock",
            "setup.py",
            "setup.cfg",
        ),
        dependencies=(".venv",),
        dependencies_when=("uv.lock",),  # uv keeps the environment in the project's .venv
        ignore=("__pycache__", "*.pyc", "*.pyo", ".venv", ".pytest_cache", ".mypy_cache", ".ruff_cache", "*.egg-info"),
        reloaders=(
            "--reload",
            "reload",
            "watchmedo",
            "watchfiles",
            "runserver",
            "--debug",
            "flask run",
            "hupper",
            "adev",
        ),
    ),
}
_PYTHON_FILES = ("pyproject.toml", "setup.py", "setup.cfg", "Pipfile", "poetry.lock", "uv.lock")


def detect_preset(context: Path, stage: Stage | None = None) -> tuple[str | None, str]:
    """The preset for a build context, and why: the Dockerfile's base image first (node:…,
    python:…), else the manifests the context holds."""
    base = (stage.base if stage else "").rsplit("/", 1)[-1]
    for name in ("node", "python"):
        if base.startswith(name) or base.startswith(f"{name}:"):
            return name, f"preset {name}: the Dockerfile starts FROM {stage.base if stage else base}"
    if (context / "package.json").is_file():
        return "node", f"preset node: {context / 'package.json'} exists"
    for name in _PYTHON_FILES:
        if (context / name).is_file():
            return "python", f"preset python: {context / name} exists"
    if any(context.glob("requirements*.txt")):
        return "python", f"preset python: {context}/requirements*.txt exists"
    return None, "no preset: neither package.json nor a Python manifest in the build context"


# -- the Dockerfile, as far as reloading needs it -----------------------------------------------


@dataclass(frozen=True)
class Stage:
    name: str | None
    base: str  # the image this stage starts from (a stage's base resolved to its own base image)
    workdir: str = "/"
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    found: bool = True  # False: no Dockerfile (or no such target) could be read

    @property
    def command(self) -> tuple[str, ...]:
        return (*self.entrypoint, *self.cmd)


def read_stage(dockerfile: Path, target: str | None) -> Stage:
    """The build stage devenv runs: ``target`` or the last one; WORKDIR, ENTRYPOINT and CMD
    inherited from the stage it starts FROM."""
    try:
        text = dockerfile.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return Stage(None, "", found=False)
    named: dict[str, Stage] = {}
    ordered: list[Stage] = []
    for instruction, argument in _instructions(text):
        if instruction == "FROM":
            words = [w for w in argument.split() if not w.startswith("--")]
            image = words[0].lower() if words else ""
            name = words[2].lower() if len(words) >= 3 and words[1].lower() == "as" else None
            parent = named.get(image)
            ordered.append(replace(parent, name=name) if parent else Stage(name, image))
        elif ordered:
            stage = ordered[-1]
            if instruction == "WORKDIR":
                folder = argument.strip().strip("\"'")
                stage = replace(stage, workdir=str(PurePosixPath(stage.workdir) / folder))
            elif instruction == "ENTRYPOINT":
                stage = replace(stage, entrypoint=_words(argument), cmd=())  # ENTRYPOINT resets CMD
            elif instruction == "CMD":
                stage = replace(stage, cmd=_words(argument))
            ordered[-1] = stage
        else:
            continue
        if ordered[-1].name:
            named[ordered[-1].name] = ordered[-1]
    if target:
        return named.get(target.lower(), Stage(target, "", found=False))
    return ordered[-1] if ordered else Stage(None, "", found=False)


def _instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, argument) pairs; continuation lines joined, comments dropped."""
    found: list[tuple[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = pending + line, ""
        keyword, _, argument = line.partition(" ")
        found.append((keyword.upper(), argument.strip()))
    return found


def _words(argument: str) -> tuple[str, ...]:
    if argument.startswith("["):
        try:
            value = json.loads(argument)
            return tuple(str(v) for v in value) if isinstance(value, list) else ()
        except ValueError:
            pass
    try:
        return tuple(shlex.split(argument))
    except ValueError:
        return tuple(argument.split())


# -- the setup ----------------------------------------------------------------------------------


def setup_for(ws: Workspace, *, remote_engine: bool) -> ReloadSetup:
    """The api's reload setup; mode "auto" means sync when the engine is remote. The setup the
    workspace was rendered with is reused when it was rendered for the same kind of engine."""
    rendered = getattr(ws.compose, "reload", None)
    if isinstance(rendered, ReloadSetup) and (
        ws.project.config.api.reload.mode != "auto" or rendered.mode == ("sync" if remote_engine else "mount")
    ):
        return rendered
    return resolve(ws.project, remote_engine=remote_engine)


def resolve(project: Project, *, remote_engine: bool) -> ReloadSetup:
    """devenv.yaml's ``api.reload`` with every key it leaves out filled from the preset."""
    api = project.config.api
    cfg = api.reload
    root = project.root
    context = _absolute(root, api.build.context)
    dockerfile = context / api.build.dockerfile if not api.image else None
    stage = read_stage(dockerfile, api.build.target) if dockerfile else None
    reasons: list[str] = []

    if cfg.preset is not None:
        preset_name: str | None = None if cfg.preset == "none" else cfg.preset
        reasons.append(f"preset {cfg.preset}: set in devenv.yaml")
    else:
        preset_name, why = detect_preset(context, stage)
        reasons.append(why)
    preset = PRESETS.get(preset_name or "")

    mode: Mode
    if cfg.mode == "auto":
        mode = "sync" if remote_engine else "mount"
        reasons.append(f"mode {mode}: auto, and the engine is {'remote' if remote_engine else 'on this machine'}")
    else:
        mode = cfg.mode

    mounts = host_mounts(api.volumes, root)
    if cfg.paths is not None:
        paths = tuple(_source_path(item, root) for item in cfg.paths)
    else:  # mounted folders: a mounted file (a config file, a socket) stays a mount in sync mode too
        paths = tuple(m for m in mounts if not m.host.exists() or m.host.is_dir())

    workdir = stage.workdir if stage and stage.found else "/app"
    anonymous = tuple(v.split(":", 1)[0] for v in api.volumes if is_anonymous(v))
    if cfg.dependencies is not None:
        dependencies = tuple(dict.fromkeys((*cfg.dependencies, *anonymous)))
    else:
        wanted: list[str] = []
        if preset and (
            not preset.dependencies_when or any((context / name).is_file() for name in preset.dependencies_when)
        ):
            for folder in preset.dependencies:
                inside = str(PurePosixPath(workdir) / folder)
                # a mount over it would hide the image's copy: give it a volume from the image
                if mode == "mount" and any(_under(inside, p.container) for p in paths):
                    wanted.append(inside)
                    reasons.append(f"dependencies {inside}: a mount over {workdir} would hide the image's copy")
        dependencies = tuple(dict.fromkeys((*wanted, *anonymous)))

    manifests = _manifests(cfg.manifests, preset, root, context, dockerfile)
    fingerprint = manifest_hash(manifests, root)
    volumes = tuple((folder, f"{DEPS_PREFIX}{_volume_hash(fingerprint, folder)}") for folder in dependencies)

    if cfg.on_change is not None:
        on_change: Action = cfg.on_change
    else:
        command = " ".join(_command(stage, context))
        words = preset.reloaders if preset else PRESETS["node"].reloaders + PRESETS["python"].reloaders
        hit = next((word for word in words if re.search(rf"(?<![\w-]){re.escape(word)}(?![\w-])", command)), None)
        on_change = "reload" if hit else "restart"
        reasons.append(
            f"on_change reload: the api's command ({command}) has a reloader ({hit})"
            if hit
            else f"on_change restart: no reloader in the api's command ({command or 'unknown'})"
        )

    ignore = (
        tuple(cfg.ignore)
        if cfg.ignore is not None
        else tuple(dict.fromkeys((*COMMON_IGNORE, *(preset.ignore if preset else ()))))
    )
    return ReloadSetup(
        service=SERVICE,
        mode=mode,
        paths=paths,
        dependencies=dependencies,
        manifests=manifests,
        on_change=on_change,
        ignore=ignore,
        preset=preset.name if preset else None,
        debounce_ms=cfg.debounce_ms,
        volumes=volumes,
        reasons=tuple(reasons),
    )


def _manifests(
    configured: list[str] | None, preset: Preset | None, root: Path, context: Path, dockerfile: Path | None
) -> tuple[Path, ...]:
    """Existing files matching the manifests' globs (a literal name is kept even before it
    exists, so creating it counts as a change), and the Dockerfile."""
    if configured is not None:
        patterns, base = list(configured), root
    else:
        patterns, base = list(preset.manifests if preset else ()), context
    found: list[Path] = []
    for pattern in patterns:
        path = _absolute(base, pattern)
        if any(ch in pattern for ch in "*?["):
            found += sorted(p for p in path.parent.glob(path.name) if p.is_file())
        elif configured is not None or path.is_file():
            found.append(path)
    if dockerfile is not None:
        found.append(dockerfile)
    return tuple(dict.fromkeys(found))


def manifest_hash(manifests: tuple[Path, ...], root: Path) -> str:
    """A hash of the manifests' names (relative to the project) and contents."""
    digest = hashlib.sha256()
    for path in sorted(manifests):
        try:
            label = path.relative_to(root).as_posix()
        except ValueError:
            label = str(path)
        try:
            content = path.read_bytes()
        except OSError:
            content = b"\0missing"
        digest.update(f"{label}\0{len(content)}\0".encode() + content)
    return digest.hexdigest()


def _volume_hash(fingerprint: str, folder: str) -> str:
    return hashlib.sha256(f"{fingerprint}\0{folder}".encode()).hexdigest()[:12]


def _command(stage: Stage | None, context: Path) -> tuple[str, ...]:
    """The api's command, with `npm run X` / `yarn X` / `npm start` followed into package.json."""
    words = stage.command if stage else ()
    script = None
    if len(words) >= 2 and words[0] in ("npm", "yarn", "pnpm"):
        if words[1] == "run" and len(words) >= 3:
            script = words[2]
        elif words[1] in ("start", "dev", "test") or words[0] != "npm":
            script = words[1]
    if script:
        try:
            scripts = json.loads((context / "package.json").read_text(encoding="utf-8")).get("scripts") or {}
        except (OSError, ValueError, AttributeError):
            scripts = {}
        if isinstance(scripts, dict) and isinstance(scripts.get(script), str):
            return (*words, "->", *scripts[script].split())
    return words


def host_mounts(volumes: list[str], root: Path) -> list[SourcePath]:
    """The bind mounts of host folders or files among the api's volumes (Compose short syntax)."""
    found = []
    for volume in volumes:
        source, sep, rest = volume.partition(":")
        if sep and source.startswith((".", "/", "~")) and rest.startswith("/"):
            found.append(SourcePath(_absolute(root, source), rest.split(":", 1)[0]))
    return found


def _source_path(item: str, root: Path) -> SourcePath:
    host, _, container = item.partition(":")
    return SourcePath(_absolute(root, host), container.split(":", 1)[0])


def is_anonymous(volume: str) -> bool:
    """An anonymous volume in short syntax: a container path alone (`/app/node_modules`)."""
    return volume.startswith("/") and ":" not in volume


def _under(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def _absolute(root: Path, value: str) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else (root / path).resolve() if ".." in path.parts else root / path


def ignored(relative: str, patterns: tuple[str, ...] | list[str]) -> bool:
    """Whether a path relative to a watched folder matches one of the patterns, the way
    .gitignore reads them: a pattern without a `/` matches any one part of the path (a folder
    name or the file name: `node_modules` ignores everything under any node_modules folder); a
    pattern with a `/` (`dist/**`, `/build`, `public/assets`) matches from the top of the
    watched folder, the path or one of its folders."""
    from fnmatch import fnmatchcase

    relative = relative.strip("/")
    parts = relative.split("/")
    for pattern in patterns:
        anchored = "/" in pattern.rstrip("/")
        pattern = pattern.strip("/")
        if pattern.endswith("/**"):
            pattern = pattern[:-3]
        if anchored:
            if any(fnmatchcase("/".join(parts[:end]), pattern) for end in range(1, len(parts) + 1)):
                return True
        elif any(fnmatchcase(part, pattern) for part in parts):
            return True
    return False


# -- where the engine runs -------------------------------------------------------------------


remote_engine = dockerhost.remote_engine  # the engine on another machine: sync instead of mounts


def dependency_volume_labels(container: str) -> dict[str, str]:
    return {DEPS_LABEL: container}


def stale_dependency_volumes(
    volumes: list[Volume], current: set[str], *, keep: int = KEEP_DEPENDENCY_VOLUMES
) -> list[str]:
    """Which dependency volumes to remove: per dependency folder, all but the ``keep`` newest
    (the ones the rendered file names always count among those kept)."""
    by_folder: dict[str, list[Volume]] = {}
    for volume in volumes:
        if DEPS_LABEL in volume.labels:
            by_folder.setdefault(volume.labels[DEPS_LABEL], []).append(volume)
    stale = []
    for found in by_folder.values():
        newest = sorted(found, key=lambda v: (v.name in current, v.created), reverse=True)
        stale += [v.name for v in newest[keep:] if v.name not in current]
    return sorted(stale)
