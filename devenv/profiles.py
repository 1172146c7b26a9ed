"""The built-in profiles: finding, reading and merging compose fragments.

Each file in ``profiles/`` is a valid compose file holding one service under compose
``profiles:``, plus a top-level ``x-devenv`` block that tells devenv how the api is wired to it
and what to print once it is up. Merging follows the Compose specification's rules for the
keys devenv's users write (mappings merge key by key, list-valued resources append, everything
else is replaced by the later file).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from devenv import yamlio
from devenv.errors import ConfigError

META_KEY = "x-devenv"

# sequences Compose merges by appending (unique) rather than replacing
_APPENDED = frozenset(
    {
        "ports",
        "expose",
        "volumes",
        "env_file",
        "extra_hosts",
        "dns",
        "dns_search",
        "devices",
        "secrets",
        "configs",
        "cap_add",
        "cap_drop",
        "security_opt",
        "tmpfs",
    }
)


@dataclass(frozen=True)
class Fragment:
    """One profile: its compose document (without devenv's metadata) and that metadata."""

    name: str
    compose: dict[str, Any]
    api_environment: dict[str, str] = field(default_factory=dict)
    api_condition: str = "service_healthy"
    links: tuple[str, ...] = ()
    # how devenv probes the service from the host (${VAR} templates, resolved at run time)
    probes: tuple[dict[str, Any], ...] = ()


def profiles_dir() -> Path:
    """Where the built-in profiles live: inside the wheel, or at the top of a source checkout."""
    packaged = resources.files("devenv") / "_profiles"
    if packaged.is_dir():
        return Path(str(packaged))
    return Path(__file__).resolve().parent.parent / "profiles"


def load_fragment(path: Path) -> Fragment:
    data = yamlio.load(path.read_text(encoding="utf-8")) or {}
    meta = data.pop(META_KEY, None) or {}
    return Fragment(
        name=path.stem,
        compose=data,
        api_environment={k: str(v) for k, v in (meta.get("api_environment") or {}).items()},
        api_condition=meta.get("api_condition", "service_healthy"),
        links=tuple(meta.get("links") or ()),
        probes=tuple(dict(probe) for probe in meta.get("probes") or ()),
    )


def load_profiles(names: Sequence[str], directory: Path | None = None) -> dict[str, Fragment]:
    directory = directory or profiles_dir()
    return {name: load_fragment(directory / f"{name}.yaml") for name in names}


def load_compose_file(path: Path) -> dict[str, Any]:
    """A user's extra compose file, read as data; errors name the file and line."""
    try:
        data = yamlio.load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(
            f"{path}: cannot be read: {exc.strerror}",
            hint="fix or remove it from compose_files in devenv.yaml",
        ) from None
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else 0
        raise ConfigError(f"{path}:{line}: {exc.problem}", hint="fix the YAML syntax") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}:1: a compose file must be a mapping", hint="start with `services:`")
    return data


def merge(base: dict[str, Any], overlay: dict[str, Any], *, _key: str = "") -> dict[str, Any]:
    """Overlay one compose document on another (a new dict; neither input changes)."""
    result = copy.deepcopy(base)
    for key, value in overlay.items():
        current = result.get(key)
        if key in ("environment", "labels") and current is not None:
            result[key] = {**_as_mapping(current), **_as_mapping(value)}
        elif isinstance(current, dict) and isinstance(value, dict):
            result[key] = merge(current, value, _key=key)
        elif key == "volumes" and isinstance(current, list) and isinstance(value, list):
            # a later mount onto the same container path replaces the earlier one
            later = {_mount_target(item) for item in value}
            result[key] = [item for item in current if _mount_target(item) not in later] + copy.deepcopy(value)
        elif key in _APPENDED and isinstance(current, list) and isinstance(value, list):
            result[key] = current + [item for item in copy.deepcopy(value) if item not in current]
        else:
            result[key] = copy.deepcopy(value)
    return result


def _mount_target(volume: Any) -> str:
    if isinstance(volume, dict):
        return str(volume.get("target", ""))
    parts = str(volume).split(":")
    return parts[1] if len(parts) > 1 else parts[0]


def _as_mapping(value: Any) -> dict[str, Any]:
    """environment/labels may be a mapping or a list of KEY=VALUE strings."""
    if isinstance(value, dict):
        return dict(value)
    mapping: dict[str, Any] = {}
    for item in value or []:
        key, sep, val = str(item).partition("=")
        mapping[key] = val if sep else None
    return mapping
