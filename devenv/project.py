"""devenv.yaml + profiles -> one compose project, as plain data.

``assemble()`` is a pure function: the same config and fragments always give the same compose
document, which is what ``devenv config`` prints and what ``devenv up`` hands to Compose. The
document keeps ``${VAR:-default}`` references as they are, so secrets in ``.env`` are read by
Compose at run time and never written into the rendered file.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from devenv import reload, yamlio
from devenv.config import Project
from devenv.errors import ConfigError
from devenv.profiles import META_KEY, Fragment, load_compose_file, load_profiles, merge

API = "api"
_VARIABLE = re.compile(r"\$\{(?P<name>\w+)(?::?-(?P<default>[^}]*))?\}")


@dataclass(frozen=True)
class PublishedPort:
    service: str
    container_port: int
    host_ip: str
    host_port: int  # 0: the engine picks a free one


@dataclass(frozen=True)
class ComposeProject:
    """The assembled project: the compose document and what devenv needs to know about it."""

    name: str
    root: Path
    compose: dict[str, Any]
    services: tuple[str, ...]  # dependency order: a service comes after what it waits for
    depends_on: dict[str, tuple[str, ...]]
    ports: tuple[PublishedPort, ...]
    links: dict[str, tuple[str, ...]] = field(default_factory=dict)
    health_path: str = "/health"
    api_port: int = 3000  # the api's container port
    # service -> {dependency: compose condition}: what each service waits for
    conditions: dict[str, dict[str, str]] = field(default_factory=dict)
    start_interval: bool = False  # rendered for an engine that honours healthcheck start_interval
    notes: tuple[str, ...] = ()  # warnings about the assembled project (see devenv.preflight)
    origins: dict[str, str] = field(default_factory=dict)  # service -> profile, devenv.yaml or file
    # service -> its probes as written (${VAR} templates: resolved at run time, never rendered)
    probes: dict[str, tuple[dict[str, Any], ...]] = field(default_factory=dict)
    reload: reload.ReloadSetup | None = None  # the api's hot-reload setup it was rendered with

    def render(self) -> str:
        return self._rendered

    @cached_property
    def _rendered(self) -> str:
        # every command writes it, and `up` hashes and scans it: dump the YAML once
        header = (
            f"# Rendered by devenv from {self.root / 'devenv.yaml'}; do not edit.\n"
            "# ${VAR:-default} values are read from the environment or .env by Compose.\n"
        )
        return header + yamlio.dump(self.compose)

    def digest(self) -> str:
        return hashlib.sha256(self.render().encode()).hexdigest()[:16]

    def variables(self) -> set[str]:
        """The ${VAR} names the rendered file leaves for Compose to fill in."""
        return {match["name"] for match in _VARIABLE.finditer(self.render())}

    def with_dependencies(self, selected: list[str] | None) -> list[str]:
        """``selected`` services plus everything they wait for; ``None`` means all."""
        if selected is None:
            return list(self.services)
        unknown = [s for s in selected if s not in self.services]
        if unknown:
            raise ConfigError(
                f"profile {unknown[0]!r} is not enabled in this project",
                hint=f"enabled: {', '.join(self.services)} (add it to `profiles:` in devenv.yaml)",
            )
        wanted: set[str] = set()
        stack = list(selected)
        while stack:
            service = stack.pop()
            if service not in wanted:
                wanted.add(service)
                stack.extend(self.depends_on.get(service, ()))
        return [s for s in self.services if s in wanted]


# Docker probes this often during a healthcheck's start period, on engines that honour it
# (API 1.44+); the steady interval stays the profile's
START_INTERVAL = "500ms"


def load_compose_project(
    project: Project,
    profiles_directory: Path | None = None,
    *,
    start_interval: bool = False,
    remote_engine: bool = False,
) -> ComposeProject:
    """Read the profiles and extra compose files a project names, then assemble it."""
    fragments = load_profiles(project.config.profiles, profiles_directory)
    extra = [load_compose_file(_absolute(project.root, name)) for name in project.config.compose_files]
    return assemble(
        project,
        fragments,
        extra,
        start_interval=start_interval,
        extra_names=project.config.compose_files,
        remote_engine=remote_engine,
    )


def assemble(
    project: Project,
    fragments: dict[str, Fragment],
    extra: Sequence[dict[str, Any]] = (),
    *,
    start_interval: bool = False,
    extra_names: Sequence[str] = (),
    remote_engine: bool = False,
) -> ComposeProject:
    """The compose project for a config. ``start_interval``: the engine honours a
    healthcheck's start_interval (API 1.44+), so devenv's own healthchecks get a short one.
    ``extra_names``: where each of ``extra`` comes from, for messages. ``remote_engine``:
    the engine cannot bind-mount this machine's folders (api.reload mode auto -> sync)."""
    name: str
    config = project.config
    doc: dict[str, Any] = {"name": project.name}
    for name in config.profiles:
        doc = merge(doc, fragments[name].compose)
    services: dict[str, Any] = doc.setdefault("services", {})

    for name, override in config.services.items():
        if name == API:
            raise ConfigError(
                f"{project.where('services', name)}: services.api: the api is configured under `api:`",
                hint="move these settings to the top-level `api:` block of devenv.yaml",
            )
        if name not in services:
            raise ConfigError(
                f"{project.where('services', name)}: services.{name} overrides a profile that is not enabled",
                hint=f"add {name} to `profiles:` in devenv.yaml, or remove the override",
            )
        service = services[name]
        if override.image:
            service["image"] = override.image
        if override.environment:
            service["environment"] = {**service.get("environment", {}), **_env(override.environment)}
        if override.volumes:  # a mount onto the same container path replaces the profile's
            service["volumes"] = merge({"volumes": service.get("volumes", [])}, {"volumes": list(override.volumes)})[
                "volumes"
            ]
            for volume in override.volumes:  # a named volume it brings is declared
                source = volume.split(":", 1)[0]
                if ":" in volume and source and not source.startswith((".", "/", "~", "$")):
                    doc.setdefault("volumes", {}).setdefault(source, None)
        known = {p["target"] for p in service.get("ports", [])}
        for container_port in override.ports:
            if container_port not in known:
                raise ConfigError(
                    f"{project.where('services', name, 'ports', container_port)}: services.{name}.ports: "
                    f"{name} publishes no container port {container_port}",
                    hint=f"{name} publishes {', '.join(str(p) for p in sorted(known)) or 'nothing'}",
                )
        service["ports"] = [
            _port(p, config.bind_address, override.ports.get(p["target"])) for p in service.get("ports", [])
        ]

    setup = None
    if API in services:
        setup = reload.resolve(project, remote_engine=remote_engine)
        _wire_api(services[API], project, fragments, setup)
        for folder, key in setup.volumes:  # dependency folders, named by the manifests' hash
            doc.setdefault("volumes", {})[key] = {"labels": reload.dependency_volume_labels(folder)}

    for name, service in services.items():
        if name not in config.services:
            service["ports"] = [_port(p, config.bind_address, None) for p in service.get("ports", [])]
        if not service["ports"]:
            del service["ports"]

    probes: dict[str, tuple[dict[str, Any], ...]] = {
        name: tuple(
            {key: _pin(str(value), _pinned(project, name)) for key, value in probe.items()}
            for probe in fragments[name].probes
        )
        for name in config.profiles
    }
    if API in probes:
        probes[API] = ({"protocol": "http", "port": config.api.container_port, "path": config.api.health_path},)
    origins = {name: f"profile {name}" for name in services}
    edited: dict[str, list[str]] = {}  # service -> the compose files that change it
    if API in services:
        origins[API] = "devenv.yaml api"
    for index, overlay in enumerate(extra):
        source = extra_names[index] if index < len(extra_names) else f"compose_files[{index}]"
        for name in overlay.get("services") or {}:
            origins.setdefault(name, source)
            edited.setdefault(name, []).append(source)
        doc = merge(doc, overlay)
    services = doc.get("services", {})
    notes = []
    for name, service in services.items():
        if not origins.get(name, "").startswith(("profile ", "devenv.yaml")) and service.get("ports"):
            service["ports"], pinned = _own_ports(service["ports"], config.bind_address)
            notes += [
                f"{origins[name]}: services.{name} publishes port {port} on {ip}, not only on this machine: "
                "others on your network can reach it (leave the host IP out to use bind_address)"
                for ip, port in pinned
                if ip in ("0.0.0.0", "::")
            ]
    for name, service in services.items():
        # the enabled profiles are already chosen by devenv.yaml: the rendered file starts
        # everything it holds, so plain `docker compose up` on it needs no --profile flags
        service.pop("profiles", None)
        meta = service.pop(META_KEY, None) or {}
        if meta.get("probes") is not None:
            probes[name] = _probes(meta["probes"], name)
        _absolutize(service, project.root)
    if start_interval:
        _fast_start(services, fragments)

    conditions = {name: _depends_on(service.get("depends_on")) for name, service in services.items()}
    depends = {name: tuple(found) for name, found in conditions.items()}
    published = tuple(_published(services))
    from devenv import preflight

    findings = preflight.check(
        services,
        published,
        conditions,
        origins=origins,
        edited=edited,
        profiles=config.profiles,
        profile_conditions={n: fragments[n].api_condition for n in config.profiles if n != API}
        if API in services
        else {},
    )
    errors = [finding for finding in findings if finding.error]
    if errors:
        raise ConfigError(errors[0].message, hint=errors[0].hint)
    notes += [f"{finding.message} ({finding.hint})" for finding in findings]
    links: dict[str, tuple[str, ...]] = {name: _links(project, fragments[name]) for name in config.profiles}
    for name in services:
        if name not in links:
            links[name] = _own_links(name, published, probes.get(name, ()))
    return ComposeProject(
        name=project.name,
        root=project.root,
        compose=doc,
        services=tuple(_dependency_order(depends)),
        depends_on=depends,
        ports=published,
        links=links,
        health_path=config.api.health_path,
        api_port=config.api.container_port,
        conditions=conditions,
        start_interval=start_interval,
        notes=tuple(notes),
        origins=origins,
        probes={name: found for name, found in probes.items() if name in services},
        reload=setup,
    )


def _probes(value: Any, service: str) -> tuple[dict[str, Any], ...]:
    """A compose file's `x-devenv: {probes: [...]}` for a service, checked."""
    from devenv.readiness import PROTOCOLS

    items = value if isinstance(value, list) else [value]
    for item in items:
        if (
            not isinstance(item, dict)
            or item.get("protocol") not in PROTOCOLS
            or not str(item.get("port", "")).isdigit()
        ):
            raise ConfigError(
                f"services.{service}.x-devenv.probes: each probe needs a protocol "
                f"({', '.join(PROTOCOLS)}) and a container port",
                hint="e.g. `probes: [{protocol: http, port: 8080, path: /health}]` (see docs/reference/profiles.md)",
            )
    return tuple(dict(item) for item in items)


def _fast_start(services: dict[str, Any], fragments: dict[str, Fragment]) -> None:
    """devenv's own healthchecks probe every START_INTERVAL during their start period, so
    plain `docker compose up --wait` on the rendered file is fast as well. A healthcheck
    whose interval a compose file changed keeps the timing its author wrote."""
    for name, fragment in fragments.items():
        check = services.get(name, {}).get("healthcheck")
        original = fragment.compose.get("services", {}).get(name, {}).get("healthcheck") or {}
        if not check or "start_interval" in check or check.get("interval") != original.get("interval"):
            continue
        check.setdefault("start_period", original.get("start_period", "60s"))
        check["start_interval"] = START_INTERVAL


def _wire_api(api: dict[str, Any], project: Project, fragments: dict[str, Fragment], setup: reload.ReloadSetup) -> None:
    cfg = project.config.api
    if cfg.image:
        api.pop("build", None)
        api["image"] = cfg.image
    else:
        build: dict[str, Any] = {"context": cfg.build.context, "dockerfile": cfg.build.dockerfile}
        if cfg.build.target:
            build["target"] = cfg.build.target
        if cfg.build.args:
            build["args"] = _env(cfg.build.args)
        api["build"] = build
        api["image"] = f"{project.name}-api:devenv"

    environment = dict(api.get("environment", {}))
    environment["PORT"] = str(cfg.container_port)
    depends: dict[str, Any] = {}
    for name in project.config.profiles:
        if name == API:
            continue
        pinned = _pinned(project, name)
        environment.update({k: _pin(v, pinned) for k, v in fragments[name].api_environment.items()})
        depends[name] = {"condition": fragments[name].api_condition}
    environment.update(_env(cfg.environment))
    api["environment"] = environment
    if depends:
        api["depends_on"] = depends
    # the project's .env reaches the api's environment at run time; its contents are never rendered
    api["env_file"] = [{"path": ".env", "required": False}]
    api["ports"] = [_port({"target": cfg.container_port}, project.config.bind_address, cfg.port)]
    url = f"http://127.0.0.1:{cfg.container_port}{cfg.health_path}"
    api["healthcheck"] = {
        **api.get("healthcheck", {}),
        "test": ["CMD-SHELL", f"wget -q -O /dev/null {url} || curl -fsS -o /dev/null {url}"],
    }
    volumes = _api_volumes(cfg.volumes, setup)
    if volumes:
        api["volumes"] = volumes


def _api_volumes(configured: list[str], setup: reload.ReloadSetup) -> list[str]:
    """api.volumes as the reload setup wants them: in sync mode without the bind mounts of its
    paths (`devenv watch` copies them in), in mount mode with every path mounted, and each
    dependency folder (an anonymous volume as written) in its hashed named volume."""
    synced = {p.container for p in setup.paths} if setup.mode == "sync" else set()
    volumes = []
    for volume in configured:
        target = volume.split(":")[1] if ":" in volume else volume
        if reload.is_anonymous(volume) or target in setup.dependencies:
            continue  # becomes its dependency volume below
        if target in synced and volume.startswith((".", "/", "~")):
            continue
        volumes.append(volume)
    if setup.mode == "mount":
        mounted = {volume.split(":")[1] for volume in volumes if ":" in volume}
        volumes += [f"{p.host}:{p.container}" for p in setup.paths if p.container not in mounted]
    volumes += [f"{key}:{folder}" for folder, key in setup.volumes]
    return volumes


def _links(project: Project, fragment: Fragment) -> tuple[str, ...]:
    links = tuple(_pin(link, _pinned(project, fragment.name)) for link in fragment.links)
    if fragment.name == API:
        # the profile's links name its default container port; the api may listen elsewhere
        default = fragment.compose["services"][API]["ports"][0]["target"]
        port = project.config.api.container_port
        links = tuple(link.replace(f"{{port:{default}}}", f"{{port:{port}}}") for link in links)
    return links


def _pinned(project: Project, service: str) -> dict[str, str]:
    """Variables a service override sets literally (e.g. POSTGRES_DB: shop)."""
    override = next((found for name, found in project.config.services.items() if name == service), None)
    return _env(override.environment) if override else {}


def _pin(template: str, values: dict[str, str]) -> str:
    """Replace ${VAR:-default} references whose value devenv.yaml fixes, so the api's
    DATABASE_URL names the same database the postgres override creates."""
    return _VARIABLE.sub(lambda m: values[m["name"]] if m["name"] in values else m[0], template)


def _port(port: dict[str, Any], bind: str, host_port: int | None) -> dict[str, Any]:
    published = str(host_port) if host_port is not None else str(port.get("published", ""))
    result = {"target": int(port["target"]), "host_ip": bind}
    if published and published != "0":
        result["published"] = published
    result["protocol"] = port.get("protocol", "tcp")
    return result


def _own_ports(ports: list[Any], bind: str) -> tuple[list[Any], list[tuple[str, str]]]:
    """A compose file's published ports, those without a host IP bound to ``bind_address``;
    also the (host IP, port) pairs the file pins itself."""
    result: list[Any] = []
    pinned: list[tuple[str, str]] = []
    for port in ports:
        if isinstance(port, dict):
            if port.get("published") in (None, "") and "host_ip" not in port:
                result.append(port)  # not published on the host
            elif port.get("host_ip"):
                pinned.append((str(port["host_ip"]), str(port.get("published", ""))))
                result.append(port)
            else:
                result.append({**port, "host_ip": bind})
            continue
        short = _short_port(str(port))
        if short is None or not short[1]:
            result.append(port)  # a range, or a container port alone: left as written
        elif short[0]:
            pinned.append((short[0], short[1]))
            result.append(port)
        else:
            result.append({"target": int(short[2]), "published": short[1], "host_ip": bind, "protocol": short[3]})
    return result, pinned


def _own_links(service: str, published: Sequence[PublishedPort], probes: Sequence[dict[str, Any]]) -> tuple[str, ...]:
    """What `up` prints for a compose file's service: its published ports, as http:// where
    devenv probes that port over HTTP."""
    http = {int(probe["port"]) for probe in probes if probe.get("protocol") == "http"}
    return tuple(
        f"http://{{host}}:{{port:{p.container_port}}}/"
        if p.container_port in http
        else f"{{host}}:{{port:{p.container_port}}}"
        for p in published
        if p.service == service
    )


def _env(values: dict[str, Any]) -> dict[str, str]:
    return {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in values.items()}


def _absolute(root: Path, value: str) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else root / path


def _absolutize(service: dict[str, Any], root: Path) -> None:
    """Relative paths are relative to the project folder, wherever the rendered file goes."""
    build = service.get("build")
    if isinstance(build, str):
        service["build"] = build = {"context": build}
    if isinstance(build, dict) and "context" in build and "://" not in str(build["context"]):
        build["context"] = str(_absolute(root, build["context"]))
    volumes = []
    for volume in service.get("volumes", []):
        if isinstance(volume, str) and volume.startswith((".", "~")):
            source, _, rest = volume.partition(":")
            volume = f"{_absolute(root, source)}:{rest}" if rest else str(_absolute(root, source))
        elif isinstance(volume, dict) and volume.get("type") == "bind":
            volume = {**volume, "source": str(_absolute(root, volume["source"]))}
        volumes.append(volume)
    if volumes:
        service["volumes"] = volumes
    env_file = service.get("env_file")
    entries = env_file if isinstance(env_file, list) else [env_file] if env_file else []
    if entries:
        service["env_file"] = [
            {**entry, "path": str(_absolute(root, entry["path"]))}
            if isinstance(entry, dict)
            else str(_absolute(root, entry))
            for entry in entries
        ]


def _depends_on(value: Any) -> dict[str, str]:
    """depends_on in either form, as {service: condition}."""
    if isinstance(value, dict):
        return {name: (spec or {}).get("condition", "service_started") for name, spec in value.items()}
    return dict.fromkeys(value or [], "service_started")


def _dependency_order(depends: dict[str, tuple[str, ...]]) -> list[str]:
    order: list[str] = []
    visiting: set[str] = set()

    def visit(name: str) -> None:
        if name in order:
            return
        if name in visiting:
            raise ConfigError(
                f"services wait for each other in a cycle through {name!r}",
                hint="remove one depends_on entry from your compose_files",
            )
        visiting.add(name)
        for dep in depends.get(name, ()):
            if dep in depends:
                visit(dep)
        visiting.discard(name)
        order.append(name)

    for name in sorted(depends, key=lambda n: (n == API, n)):
        visit(name)
    return order


def _short_port(text: str) -> tuple[str, str, str, str] | None:
    """Compose's short port syntax, [IP:][HOST:]CONTAINER[/PROTOCOL], as (ip, host, container,
    protocol); None for what devenv does not read (ranges)."""
    spec, _, proto = text.partition("/")
    parts = spec.rsplit(":", 2)
    if not all(part.isdigit() for part in parts[-2:] if part) or not parts[-1]:
        return None
    if len(parts) == 3:
        return parts[0].strip("[]"), parts[1], parts[2], proto or "tcp"
    if len(parts) == 2:
        return "", parts[0], parts[1], proto or "tcp"
    return "", "", parts[0], proto or "tcp"


def _published(services: dict[str, Any]) -> list[PublishedPort]:
    found = []
    for name, service in services.items():
        for port in service.get("ports", []):
            if isinstance(port, dict):
                target, ip, host = port["target"], port.get("host_ip", "0.0.0.0"), port.get("published", "0")
            else:
                short = _short_port(str(port))
                if short is None:
                    continue
                ip, host, target = short[0] or "0.0.0.0", short[1] or "0", short[2]
            if str(host).isdigit():
                found.append(PublishedPort(name, int(target), ip.strip("[]"), int(host)))
    return found


def interpolate(template: str, env: dict[str, str]) -> str:
    """Fill ${VAR} and ${VAR:-default} as Compose does (the default when unset or empty)."""
    return _VARIABLE.sub(lambda m: env.get(m["name"]) or (m["default"] or ""), template)


_PLACEHOLDER = re.compile(r"\{(?P<what>host|port:(?P<port>\d+))\}")


def resolve_link(template: str, env: dict[str, str], bind_address: str, ports: dict[int, int]) -> str | None:
    """Fill a profile's link template; None when a port it names is not published."""
    text = interpolate(template, env)
    missing = False

    def fill(match: re.Match[str]) -> str:
        nonlocal missing
        if match["what"] == "host":
            return "127.0.0.1" if bind_address in ("0.0.0.0", "::", "") else bind_address
        host_port = ports.get(int(match["port"]))
        if not host_port:
            missing = True
            return ""
        return str(host_port)

    text = _PLACEHOLDER.sub(fill, text)
    return None if missing else text
