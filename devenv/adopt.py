"""`devenv init`: a devenv.yaml for a project that already has a compose file (or only a
Dockerfile), decided as plain data.

``adopt()`` is pure: from the parsed compose file it recognises Postgres, Redis and a mail
catcher by image and maps them to devenv's profiles with their settings (database, user,
password, init scripts, extra volumes, host ports), takes the service with a build and a
published port as the api (Dockerfile, target, port, volumes, environment, health path), and
keeps every other service as the user's own, in a compose file of devenv's next to theirs
(their file is never edited). References to renamed services (`db` -> `postgres`) are
rewritten. Secrets written literally in the compose file go to `.env`, never to devenv.yaml.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devenv.preflight import image_role
from devenv.profiles import _as_mapping

COMPOSE_NAMES = ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml")
OWN_FILE = "compose.devenv.yaml"
_API_NAMES = ("api", "app", "web", "server", "backend", "service")
_SECRET = re.compile(r"(^|_)(PASSWORD|PASSWD|PASS|SECRET|TOKEN|KEY)(_|$)", re.I)
_VARIABLE = re.compile(r"^\$\{?\w+")
# what each profile's container listens on, and what the api gets from devenv for it
_PROFILE_PORTS = {"postgres": (5432,), "redis": (6379,), "mailhog": (1025, 8025)}
_WIRED = {"postgres": ("DATABASE_URL",), "redis": ("REDIS_URL",), "mailhog": ("SMTP_HOST", "SMTP_PORT")}
_POSTGRES_KEYS = ("POSTGRES_USER", "POSTGRES_DB")
_DATA_PATHS = {"postgres": "/var/lib/postgresql/data", "redis": "/data"}


@dataclass
class Adoption:
    """What `devenv init` writes and says."""

    config: dict[str, Any]  # devenv.yaml
    own_compose: dict[str, Any] | None = None  # the services devenv keeps as the user's own
    dotenv: dict[str, str] = field(default_factory=dict)  # secrets moved out of the compose file
    mapped: list[str] = field(default_factory=list)  # lines: what became what
    left: list[str] = field(default_factory=list)  # lines: what was not carried over, and why


def find_compose_file(folder: Path) -> Path | None:
    """The compose file Compose itself would read in this folder."""
    return next((folder / name for name in COMPOSE_NAMES if (folder / name).is_file()), None)


def adopt(
    compose: dict[str, Any],
    *,
    name: str,
    compose_file: str,
    health_path: Callable[[str], str | None] = lambda context: None,
    bind_address: str = "127.0.0.1",
    profile_images: dict[str, str] | None = None,
) -> Adoption:
    """The devenv.yaml (and own compose file) that brings this compose project up under devenv.
    ``health_path(context)``: the health path found in the api's code, if any;
    ``profile_images``: each profile's own image (an image the file names otherwise is kept)."""
    services: dict[str, Any] = copy.deepcopy(compose.get("services") or {})
    config: dict[str, Any] = {"name": name}
    result = Adoption(config)
    for service in [s for s, spec in services.items() if isinstance(spec, dict) and spec.get("profiles")]:
        result.left.append(
            f"{service}: only in the compose profile(s) {', '.join(services[service]['profiles'])}, which a plain "
            f"`docker compose up` does not start: not carried over (copy it into {OWN_FILE} to run it)"
        )
        del services[service]
    roles: dict[str, str] = {}  # compose service -> profile
    for service, spec in services.items():
        role = image_role(str((spec or {}).get("image") or ""))
        if role is not None and role not in roles.values():
            roles[service] = role
        elif role is not None:
            result.left.append(f"{service}: a second {role} ({spec['image']}) is kept as your own service")
    api = _find_api(services, roles)
    profiles = ([] if api is None else ["api"]) + [p for p in ("postgres", "redis", "mailhog") if p in roles.values()]
    config["profiles"] = profiles
    renames = {service: role for service, role in roles.items()}
    if api is not None and api != "api":
        renames[api] = "api"
    overrides: dict[str, Any] = {}
    for service, role in roles.items():
        overrides[role] = _profile_override(service, role, services[service] or {}, result, profile_images or {})
        result.mapped.append(f"{service} ({services[service].get('image')}) -> the {role} profile")
    if api is not None:
        config["api"] = _api(api, services[api], renames, health_path, result)
    overrides = {role: spec for role, spec in overrides.items() if spec}
    if overrides:
        config["services"] = overrides
    own = {
        service: _rewritten(spec or {}, renames)
        for service, spec in services.items()
        if service not in roles and service != api
    }
    for service in own:
        result.mapped.append(f"{service} -> kept as your own service in {OWN_FILE}")
    if own:
        result.own_compose = {"services": own}
        top_volumes = {key: value for key, value in (compose.get("volumes") or {}).items() if _uses_volume(own, key)}
        if top_volumes:
            result.own_compose["volumes"] = top_volumes
        networks = {
            key: value
            for key, value in (compose.get("networks") or {}).items()
            if any(key in ((spec or {}).get("networks") or ()) for spec in own.values())
        }
        if networks:
            result.own_compose["networks"] = networks
        config["compose_files"] = [OWN_FILE]
    if bind_address != "127.0.0.1":
        config["bind_address"] = bind_address
    if api is None:
        result.left.append("no service with a build and a published port: no api (add `api:` to devenv.yaml)")
    result.left += [
        f"{key}: not carried over (devenv does not read it)"
        for key in compose
        if key not in ("services", "volumes", "version", "name", "networks") and not key.startswith("x-")
    ]
    if compose.get("networks") and not (result.own_compose or {}).get("networks"):
        result.left.append("networks: not carried over (every service shares the project's default network)")
    return result


def _find_api(services: dict[str, Any], roles: dict[str, str]) -> str | None:
    candidates = [
        service
        for service, spec in services.items()
        if service not in roles and isinstance(spec, dict) and spec.get("build") and _container_ports(spec)
    ]
    if not candidates:
        return None
    return min(candidates, key=lambda s: (_API_NAMES.index(s) if s in _API_NAMES else len(_API_NAMES), s))


def _profile_override(
    service: str, role: str, spec: dict[str, Any], result: Adoption, profile_images: dict[str, str]
) -> dict[str, Any]:
    override: dict[str, Any] = {}
    image = str(spec.get("image") or "")
    if role == "mailhog" and image_role(image) == role and not image.startswith("mailhog/"):
        # devenv's probe and docs speak MailHog's API; the SMTP and web ports are the same
        result.mapped.append(f"{service}: {image} is replaced by the mailhog profile's MailHog (SMTP 1025, web 8025)")
    elif image and image != profile_images.get(role, image):
        override["image"] = image  # the version the data was made with
    env = {key: "" if value is None else str(value) for key, value in _as_mapping(spec.get("environment")).items()}
    if role == "postgres":
        pinned = {key: env[key] for key in _POSTGRES_KEYS if env.get(key) and not _VARIABLE.match(env[key])}
        if pinned:
            override["environment"] = pinned
        password = env.get("POSTGRES_PASSWORD", "")
        if password and not _VARIABLE.match(password):
            result.dotenv["POSTGRES_PASSWORD"] = password
            result.mapped.append(f"{service}: its POSTGRES_PASSWORD -> .env (devenv.yaml holds no secrets)")
        elif password and password.strip("${}") != "POSTGRES_PASSWORD":
            result.left.append(f"{service}: POSTGRES_PASSWORD comes from {password}: set POSTGRES_PASSWORD in .env")
    ports = {}
    for container, host in _published(spec):
        if container in _PROFILE_PORTS[role]:
            ports[container] = host
        else:
            result.left.append(f"{service}: port {container} is not one the {role} profile publishes")
    # a port the file kept off the host is published on one the engine picks: it gets a URL
    # without clashing with a database this machine runs already, or with another project
    override["ports"] = {port: ports.get(port, 0) for port in _PROFILE_PORTS[role]}
    volumes = []
    for volume in spec.get("volumes") or []:
        text = volume if isinstance(volume, str) else _long_volume(volume)
        if text is None:
            result.left.append(f"{service}: a volume in a form devenv does not read: {volume!r}")
            continue
        target = text.split(":")[1] if ":" in text else text
        if target.rstrip("/") == _DATA_PATHS.get(role):
            result.left.append(
                f"{service}: its data volume is not carried over (devenv's profile has its own; "
                "copy the data across if you need it)"
            )
            continue
        volumes.append(text)
    if volumes:
        override["volumes"] = volumes
    return override


def _api(
    service: str,
    spec: dict[str, Any],
    renames: dict[str, str],
    health_path: Callable[[str], str | None],
    result: Adoption,
) -> dict[str, Any]:
    build = spec.get("build")
    build = {"context": build} if isinstance(build, str) else dict(build or {})
    api: dict[str, Any] = {}
    wanted = {key: build[key] for key in ("context", "dockerfile", "target") if build.get(key)}
    if wanted and wanted != {"context": "."}:
        api["build"] = wanted
    published = _published(spec)
    container_port = published[0][0] if published else _container_ports(spec)[0]
    host_port = published[0][1] if published else 0  # published without a host port: any free one
    if container_port != 3000:
        api["container_port"] = container_port
    api["port"] = host_port
    found = health_path(str(build.get("context", ".")))
    api["health_path"] = found or "/health"
    if not found:
        result.left.append(f"{service}: no health path found in its code: /health is assumed (set api.health_path)")
    env = {key: "" if value is None else str(value) for key, value in _as_mapping(spec.get("environment")).items()}
    kept = {}
    for key, value in env.items():
        if key == "PORT" or any(key in wired for wired in _WIRED.values()):
            continue  # devenv wires these itself
        if _SECRET.search(key) and value and not _VARIABLE.match(value):
            result.dotenv[key] = value
            kept[key] = f"${{{key}}}"
            continue
        kept[key] = _rename_hosts(value, renames)
    if kept:
        api["environment"] = kept
    volumes = [volume for volume in spec.get("volumes") or [] if isinstance(volume, str)]
    if volumes:
        api["volumes"] = volumes
    env_files = spec.get("env_file")
    for env_file in env_files if isinstance(env_files, list) else [env_files] if env_files else []:
        path = env_file.get("path") if isinstance(env_file, dict) else env_file
        if path != ".env":
            result.left.append(f"{service}: env_file {path} is not carried over (the api reads the project's .env)")
    result.mapped.append(
        f"{service} -> the api (build {build.get('context', '.')}, port {container_port}"
        + (f", health {api['health_path']}" if found else "")
        + ")"
    )
    return api


def _rewritten(spec: dict[str, Any], renames: dict[str, str]) -> dict[str, Any]:
    """A kept service with references to renamed services rewritten."""
    spec = copy.deepcopy(spec)
    depends = spec.get("depends_on")
    if isinstance(depends, list):
        spec["depends_on"] = [renames.get(d, d) for d in depends]
    elif isinstance(depends, dict):
        spec["depends_on"] = {renames.get(d, d): v for d, v in depends.items()}
    if "environment" in spec:
        env = _as_mapping(spec["environment"])
        spec["environment"] = {k: v if v is None else _rename_hosts(str(v), renames) for k, v in env.items()}
    return spec


def _rename_hosts(value: str, renames: dict[str, str]) -> str:
    """`db` -> `postgres` where it stands as a host name (db:5432, @db/, =db)."""
    for old, new in renames.items():
        if old != new:
            value = re.sub(rf"(?<![\w.-]){re.escape(old)}(?![\w-])", new, value)
    return value


def _published(spec: dict[str, Any]) -> list[tuple[int, int]]:
    """(container port, host port) of each published port, in the file's order."""
    found = []
    for port in spec.get("ports") or []:
        if isinstance(port, dict):
            if port.get("published") not in (None, ""):
                found.append((int(port["target"]), int(str(port["published"]).split("-")[0])))
            continue
        parts = str(port).split("/")[0].rsplit(":", 2)
        if len(parts) >= 2 and parts[-1].isdigit() and parts[-2].isdigit():
            found.append((int(parts[-1]), int(parts[-2])))
    return found


def _container_ports(spec: dict[str, Any]) -> list[int]:
    ports = [container for container, _ in _published(spec)]
    ports += [int(str(p).split("/")[0]) for p in spec.get("ports") or [] if str(p).split("/")[0].isdigit()]
    ports += [int(p) for p in spec.get("expose") or [] if str(p).isdigit()]
    return ports


def _long_volume(volume: dict[str, Any]) -> str | None:
    if volume.get("type") in ("bind", "volume") and volume.get("source") and volume.get("target"):
        return f"{volume['source']}:{volume['target']}" + (":ro" if volume.get("read_only") else "")
    return None


def _uses_volume(services: dict[str, Any], name: str) -> bool:
    return any(
        isinstance(v, str) and v.split(":", 1)[0] == name
        for spec in services.values()
        for v in (spec or {}).get("volumes") or []
    )


def find_health_path(context: Path) -> str | None:
    """A health route the app's code names (/health, /healthz, /ready, ...), if one is found."""
    pattern = re.compile(r"""["'`](/(?:api/)?(?:health|healthz|healthcheck|ready|readyz|status|ping))["'`]""")
    skipped = {"node_modules", ".git", ".venv", "venv", "dist", "build", "__pycache__", ".devenv"}
    suffixes = {".js", ".mjs", ".cjs", ".ts", ".py", ".go", ".rb", ".java", ".kt", ".php", ".rs"}
    for path in sorted(context.rglob("*")):
        if any(part in skipped for part in path.relative_to(context).parts) or path.suffix not in suffixes:
            continue
        try:
            match = pattern.search(path.read_text(encoding="utf-8", errors="ignore")[:200_000])
        except OSError:
            continue
        if match:
            return match[1]
    return None
