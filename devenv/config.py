"""The devenv.yaml model and its one loader.

``load_config(path)`` returns a validated :class:`Config` and the warnings about keys it did
not know. Every failure is one :class:`~devenv.errors.ConfigError` naming the file, the line
and the key. The schema is a pydantic model: the types, defaults and constraints live there,
not in hand-written checks.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from devenv import yamlio
from devenv.errors import ConfigError, NoProjectError

CONFIG_NAME = "devenv.yaml"
ProfileName = Literal["api", "postgres", "redis", "mailhog"]
PROFILE_NAMES: tuple[ProfileName, ...] = ("api", "postgres", "redis", "mailhog")
_PROJECT_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
Scalar = str | int | float | bool


class _Model(BaseModel):
    # Unknown keys are kept (and warned about) rather than rejected: a typo should not stop
    # a stack from starting, but it should not pass silently either.
    model_config = ConfigDict(extra="allow", frozen=True)


class BuildConfig(_Model):
    context: str = "."
    dockerfile: str = "Dockerfile"
    target: str | None = None
    args: dict[str, Scalar] = Field(default_factory=dict)


class ReloadConfig(_Model):
    """How source changes reach the api (docs/reference/devenv-yaml.md#apireload). A key left
    out takes the detected preset's value; an empty list means none."""

    # mount: bind mounts; sync: `devenv watch` copies changes in; auto: sync on a remote engine
    mode: Literal["auto", "mount", "sync"] = "auto"
    paths: list[str] | None = Field(default=None, description="host:container; default: the api's host-folder mounts")
    dependencies: list[str] | None = Field(default=None, description="container folders filled from the image")
    manifests: list[str] | None = Field(default=None, description="files whose change rebuilds the api (globs)")
    on_change: Literal["reload", "restart"] | None = None
    ignore: list[str] | None = None
    preset: Literal["node", "python", "none"] | None = None
    debounce_ms: int = Field(default=50, ge=0, le=10000)

    @field_validator("paths")
    @classmethod
    def _host_container(cls, value: list[str] | None) -> list[str] | None:
        for item in value or []:
            host, _, container = item.partition(":")
            if not host or not container.startswith("/"):
                raise ValueError(f"{item!r}: each path is host:container, e.g. ./src:/app/src")
        return value

    @field_validator("dependencies")
    @classmethod
    def _container_paths(cls, value: list[str] | None) -> list[str] | None:
        for item in value or []:
            if not item.startswith("/"):
                raise ValueError(f"{item!r}: a dependency folder is an absolute container path, e.g. /app/node_modules")
        return value


class ApiConfig(_Model):
    build: BuildConfig = Field(default_factory=BuildConfig)
    image: str | None = Field(default=None, description="use this image instead of building")
    port: int = Field(default=3000, ge=0, le=65535, description="host port; 0 picks a free one")
    container_port: int = Field(default=3000, ge=1, le=65535)
    health_path: str = "/health"
    environment: dict[str, Scalar] = Field(default_factory=dict)
    volumes: list[str] = Field(default_factory=list)
    reload: ReloadConfig = Field(default_factory=ReloadConfig)

    @field_validator("health_path")
    @classmethod
    def _absolute_path(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError("must start with '/', e.g. /health")
        return value


class ServiceConfig(_Model):
    image: str | None = None
    ports: dict[int, int] = Field(default_factory=dict, description="container port -> host port (0 picks a free one)")
    environment: dict[str, Scalar] = Field(default_factory=dict)
    # extra mounts, in Compose's short syntax: init scripts, config files, a data folder
    volumes: list[str] = Field(default_factory=list)

    @field_validator("ports")
    @classmethod
    def _valid_ports(cls, value: dict[int, int]) -> dict[int, int]:
        for container, host in value.items():
            if not 1 <= container <= 65535 or not 0 <= host <= 65535:
                raise ValueError(f"port out of range in {container}: {host}")
        return value


class SeedStep(_Model):
    """One seed: exactly one of an SQL file, a command in a one-off api container, or Redis
    commands (one per line)."""

    sql: str | None = Field(default=None, description="an SQL file, relative to devenv.yaml, applied with psql")
    run: str | list[str] | None = Field(default=None, description="a command run in a one-off api container")
    redis: str | list[str] | None = Field(default=None, description="Redis commands, one per line or item")

    @model_validator(mode="after")
    def _one_kind(self) -> SeedStep:
        kinds = [name for name in ("sql", "run", "redis") if getattr(self, name) not in (None, "", [])]
        if len(kinds) != 1:
            raise ValueError("each seed needs exactly one of sql, run or redis")
        return self


class DataConfig(_Model):
    """Migrations and seeds (see docs/reference/devenv-yaml.md#data)."""

    migrate: str | list[str] | None = Field(default=None, description="a command run in a one-off api container")
    seeds: list[SeedStep] = Field(default_factory=list)
    per_branch: bool = Field(default=True, description="in a git work tree, a Postgres database per branch")


class Config(_Model):
    name: str | None = None
    profiles: list[ProfileName] = Field(default_factory=lambda: list(PROFILE_NAMES))
    bind_address: str = "127.0.0.1"
    timeout: float = Field(default=180, gt=0, description="seconds `up` waits for health")
    api: ApiConfig = Field(default_factory=ApiConfig)
    services: dict[ProfileName, ServiceConfig] = Field(default_factory=dict)
    compose_files: list[str] = Field(default_factory=list)
    data: DataConfig = Field(default_factory=DataConfig)

    @field_validator("name")
    @classmethod
    def _compose_name(cls, value: str | None) -> str | None:
        if value is not None and not _PROJECT_NAME.match(value):
            raise ValueError("must be lowercase letters, digits, '-' or '_', starting with a letter or digit")
        return value

    @field_validator("profiles")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))


@dataclass(frozen=True)
class Project:
    """A loaded project: where it lives, its settings, and what the loader noticed."""

    root: Path
    config_path: Path
    config: Config
    name: str
    warnings: list[str] = field(default_factory=list)

    def where(self, *keys: str | int) -> str:
        """'file:line' of the deepest of these keys the file spells out (for later errors)."""
        try:
            node = yamlio.compose(self.config_path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError):
            node = None
        lines = _line_index(node) if node is not None else {}
        line = next((lines[keys[:i]] for i in range(len(keys), 0, -1) if keys[:i] in lines), 1)
        return f"{self.config_path}:{line}"


def find_config(start: Path) -> Path:
    """The devenv.yaml in ``start`` or the nearest parent folder."""
    start = start.resolve()
    for folder in (start, *start.parents):
        candidate = folder / CONFIG_NAME
        if candidate.is_file():
            return candidate
    raise NoProjectError(
        f"no {CONFIG_NAME} in {start} or any parent folder",
        hint="run devenv inside a project, or create devenv.yaml (see docs/tutorial/day-one.md)",
    )


def load_project(start: Path, *, env: Mapping[str, str] | None = None) -> Project:
    env = os.environ if env is None else env
    path = find_config(start)
    config, warnings = load_config(path)
    name = env.get("DEVENV_PROJECT_NAME") or config.name or default_name(path.parent)
    if not _PROJECT_NAME.match(name):
        raise ConfigError(
            f"project name {name!r} is not valid for Docker Compose",
            hint=("fix DEVENV_PROJECT_NAME" if env.get("DEVENV_PROJECT_NAME") else "set `name:` in devenv.yaml")
            + " (lowercase letters, digits, '-' or '_')",
        )
    return Project(root=path.parent, config_path=path, config=config, name=name, warnings=warnings)


def default_name(folder: Path) -> str:
    """Compose's own rule: the folder name, lowercased, other characters dropped."""
    name = re.sub(r"[^a-z0-9_-]", "", folder.name.lower()).lstrip("_-")
    return name or "devenv"


def load_config(path: Path) -> tuple[Config, list[str]]:
    """Parse and validate one devenv.yaml; return the config and warnings."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read: {exc.strerror}", hint="check the file's permissions") from None
    return parse_config(text, path)


def parse_config(text: str, path: Path | str = CONFIG_NAME) -> tuple[Config, list[str]]:
    try:
        node = yamlio.compose(text)
        data = yamlio.load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 0
        problem = exc.problem or "invalid YAML"
        raise ConfigError(
            f"{path}:{line}: {problem}",
            hint="fix the YAML syntax (indentation, quotes, a ':' after each key)",
        ) from None
    if data is None:
        data, node = {}, None
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path}:1: the file must be a mapping of keys, not a {type(data).__name__}",
            hint="start with `name: myproject` (see docs/reference/devenv-yaml.md)",
        )
    lines = _line_index(node) if node is not None else {}
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        raise _config_error(exc, lines, path) from None
    unknown = sorted(_unknown_keys(config), key=lambda item: lines.get(item[0], 1))
    return config, [f"{path}:{lines.get(loc, 1)}: {msg}" for loc, msg in unknown]


def _config_error(exc: ValidationError, lines: dict[tuple, int], path: Path | str) -> ConfigError:
    first = exc.errors()[0]
    loc = tuple(part for part in first["loc"] if part != "[key]")
    key = ".".join(str(part) for part in loc) or "(top level)"
    # the deepest part of the key path the YAML has a line for
    line = next((lines[loc[:i]] for i in range(len(loc), 0, -1) if loc[:i] in lines), 1)
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "literal_error" and loc and loc[0] in ("profiles", "services"):
        message = f"unknown profile {first['input']!r}; expected one of {', '.join(PROFILE_NAMES)}"
        close = difflib.get_close_matches(str(first["input"]), PROFILE_NAMES, n=1)
        if close:
            message += f" (did you mean '{close[0]}'?)"
    more = len(exc.errors()) - 1
    suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
    return ConfigError(
        f"{path}:{line}: {key}: {message}{suffix}",
        hint="see docs/reference/devenv-yaml.md for every key and its type",
    )


def _line_index(node: yaml.Node, path: tuple = ()) -> dict[tuple, int]:
    """Map each key path (as pydantic reports it) to its 1-based line in the file."""
    index: dict[tuple, int] = {path: node.start_mark.line + 1}
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key: Any = key_node.value
            # pydantic reports int-keyed dict entries (ports) with int keys
            if isinstance(key, str) and key.isdigit():
                index[(*path, int(key))] = key_node.start_mark.line + 1
            index.update(_line_index(value_node, (*path, key)))
            index[(*path, key)] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            index.update(_line_index(item, (*path, i)))
    return index


def _unknown_keys(model: BaseModel, path: tuple = ()) -> list[tuple[tuple, str]]:
    found: list[tuple[tuple, str]] = []
    for key in model.model_extra or {}:
        known = list(type(model).model_fields)
        close = difflib.get_close_matches(str(key), known, n=1)
        where = ".".join(str(p) for p in (*path, key))
        tip = f"; did you mean '{close[0]}'?" if close else f"; known keys: {', '.join(known)}"
        found.append(((*path, key), f"unknown key '{where}' is ignored{tip}"))
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, BaseModel):
            found += _unknown_keys(value, (*path, name))
        elif isinstance(value, dict):
            for key, item in value.items():
                if isinstance(item, BaseModel):
                    found += _unknown_keys(item, (*path, name, key))
    return found


def read_dotenv(path: Path) -> dict[str, str]:
    """The KEY=VALUE pairs of a .env file, read the way Compose reads them (simple subset)."""
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.removeprefix("export ").partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        elif " #" in value:
            value = value.split(" #", 1)[0].rstrip()
        values[key.strip()] = value
    return values
