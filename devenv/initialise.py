"""`devenv init`'s files: read the folder, let ``devenv.adopt`` decide, then write.

``plan()`` reads the compose file (or the Dockerfile and the dependency manifests) and returns
every file's text; ``write()`` writes them, never over an existing devenv.yaml unless forced,
never into the user's compose file; it adds to `.env` only the keys it lacks (mode 0600 when
it creates it), and `.env` to the api's `.dockerignore` when a build would send it.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devenv import build, yamlio
from devenv.adopt import OWN_FILE, Adoption, adopt, find_compose_file, find_health_path
from devenv.config import CONFIG_NAME, default_name, read_dotenv
from devenv.errors import ConfigError, NoProjectError, ProjectExistsError
from devenv.profiles import load_profiles

HEADER = "# devenv.yaml, written by `devenv init` from {source}; see docs/reference/devenv-yaml.md\n"
# dependency names that say which profiles an app without a compose file needs
_NEEDS = {
    "postgres": re.compile(r"^(pg|postgres|pg-promise|knex|sequelize|psycopg2?(-binary)?|psycopg|asyncpg)$", re.I),
    "redis": re.compile(r"^(redis|ioredis|bullmq|bull|aioredis|rq|celery)$", re.I),
    "mailhog": re.compile(r"^(nodemailer|aiosmtplib|flask-mail|django-anymail)$", re.I),
}


@dataclass
class InitPlan:
    folder: Path
    source: str  # the compose file or Dockerfile it was made from
    files: dict[str, str]  # file name -> text to write (the .env additions under ".env")
    mapped: list[str] = field(default_factory=list)
    left: list[str] = field(default_factory=list)
    secrets: list[str] = field(default_factory=list)  # .env keys it adds


def plan(folder: Path, *, name: str | None = None) -> InitPlan:
    profile_images = {
        profile: str(fragment.compose["services"][profile].get("image", ""))
        for profile, fragment in load_profiles(("postgres", "redis", "mailhog")).items()
    }
    compose_path = find_compose_file(folder)
    if compose_path is not None:
        compose = _read_compose(compose_path)
        project = name or _project_name(compose, folder)
        adoption = adopt(
            compose,
            name=project,
            compose_file=compose_path.name,
            health_path=lambda context: find_health_path((folder / context).resolve()),
            profile_images=profile_images,
        )
        source = compose_path.name
    elif (folder / "Dockerfile").is_file():
        adoption = _from_dockerfile(folder, name or default_name(folder))
        source = "Dockerfile"
    else:
        raise NoProjectError(
            f"nothing to adopt in {folder}: no compose file ({', '.join(('compose.yaml', 'docker-compose.yml'))}, ...) "
            "and no Dockerfile",
            hint="run devenv init where your compose file or Dockerfile is, or write devenv.yaml by hand "
            "(docs/tutorial/day-one.md)",
        )
    return _files(folder, source, adoption)


def write(init: InitPlan, *, force: bool) -> None:
    target = init.folder / CONFIG_NAME
    if target.exists() and not force:
        raise ProjectExistsError(
            f"{target} exists already", hint="`devenv init --force` replaces it; `--dry-run` shows what it would write"
        )
    for name, text in init.files.items():
        path = init.folder / name
        if name == ".env" or name.endswith(".dockerignore"):
            _add_to_dotenv(path, text)
        else:
            path.write_text(text, encoding="utf-8")


def _read_compose(path: Path) -> dict[str, Any]:
    import yaml

    try:
        data = yamlio.load(path.read_text(encoding="utf-8"))
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else 0
        raise ConfigError(f"{path}:{line}: {exc.problem}", hint="fix the YAML syntax of the compose file") from None
    if not isinstance(data, dict) or not isinstance(data.get("services"), dict):
        raise ConfigError(f"{path}:1: no services in this compose file", hint="`devenv init` reads `services:`")
    return data


def _project_name(compose: dict[str, Any], folder: Path) -> str:
    given = str(compose.get("name") or "")
    return given if re.fullmatch(r"[a-z0-9][a-z0-9_-]*", given) else default_name(folder)


def _from_dockerfile(folder: Path, name: str) -> Adoption:
    """An app with a Dockerfile and no compose file: the api, and the profiles its
    dependencies point at."""
    needs = _dependencies(folder)
    profiles = ["api"] + [p for p in ("postgres", "redis", "mailhog") if any(_NEEDS[p].match(d) for d in needs)]
    exposed = re.findall(r"(?im)^\s*EXPOSE\s+(\d+)", (folder / "Dockerfile").read_text(encoding="utf-8"))
    port = int(exposed[0]) if exposed else 3000
    found = find_health_path(folder)
    api: dict[str, Any] = {"port": port, "health_path": found or "/health"}
    if port != 3000:
        api["container_port"] = port
    result = Adoption({"name": name, "profiles": profiles, "api": api})
    result.mapped.append(f"Dockerfile -> the api (port {port}" + (f", health {found})" if found else ")"))
    for profile in profiles[1:]:
        result.mapped.append(f"a {profile} client among the dependencies -> the {profile} profile")
    if not found:
        result.left.append("no health path found in the code: /health is assumed (set api.health_path)")
    return result


def _dependencies(folder: Path) -> set[str]:
    names: set[str] = set()
    try:
        package = json.loads((folder / "package.json").read_text(encoding="utf-8"))
        for key in ("dependencies", "devDependencies"):
            names |= set(package.get(key) or {})
    except (OSError, ValueError):
        pass
    for manifest in ("requirements.txt", "pyproject.toml"):
        try:
            text = (folder / manifest).read_text(encoding="utf-8")
        except OSError:
            continue
        names |= {m.lower() for m in re.findall(r"""(?m)^\s*["']?([A-Za-z0-9_.-]+)""", text)}
    return names


def _files(folder: Path, source: str, adoption: Adoption) -> InitPlan:
    files = {CONFIG_NAME: HEADER.format(source=source) + yamlio.dump(adoption.config)}
    if adoption.own_compose is not None:
        files[OWN_FILE] = (
            f"# Your own services from {source}, kept by `devenv init` (devenv.yaml runs the rest).\n"
            + yamlio.dump(adoption.own_compose)
        )
    present = read_dotenv(folder / ".env")
    missing = {key: value for key, value in adoption.dotenv.items() if key not in present}
    mapped = list(adoption.mapped)
    if missing:
        files[".env"] = "".join(f"{key}={value}\n" for key, value in missing.items())
    if ".env" in files or (folder / ".env").is_file():
        api = adoption.config.get("api")
        context = str(((api or {}).get("build") or {}).get("context", ".")) if api is not None else None
        if context is not None and not build.ignored(".env", build.dockerignore_patterns(folder / context)):
            ignore = str(Path(context) / ".dockerignore") if context != "." else ".dockerignore"
            files[ignore] = ".env\n"
            mapped.append(f"{ignore}: .env added, so that no COPY puts its secrets into the api's image")
    return InitPlan(folder, source, files, mapped, adoption.left, sorted(missing))


def _add_to_dotenv(path: Path, lines: str) -> None:
    """Append lines to a file (.env, .dockerignore); a new one is private (0600)."""
    if path.exists():
        text = path.read_text(encoding="utf-8")
        path.write_text(text + ("" if text.endswith("\n") or not text else "\n") + lines, encoding="utf-8")
        return
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(lines)
