"""Checks of the assembled project before anything starts: the clashes that Compose would only
report halfway through a start, or never (pure; no Docker).

Each finding names both sides and where to change one: a host port two services publish, a
`depends_on` naming a service the project does not have, a compose file that weakens what a
devenv profile waits for, and a service of the user's that plays a profile's role (a second
Postgres next to the postgres profile).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from devenv.project import API, PublishedPort

# image name (without registry, tag or digest) -> the profile with that role
_ROLES = {
    "postgres": "postgres",
    "postgis/postgis": "postgres",
    "bitnami/postgresql": "postgres",
    "redis": "redis",
    "valkey/valkey": "redis",
    "bitnami/redis": "redis",
    "mailhog/mailhog": "mailhog",
    "axllent/mailpit": "mailhog",
}
_STRENGTH = {"service_started": 0, "service_healthy": 1, "service_completed_successfully": 1}
_ANY = ("", "0.0.0.0", "::")


@dataclass(frozen=True)
class Finding:
    error: bool
    message: str
    hint: str


def image_role(image: str) -> str | None:
    """The profile an image plays the role of, if any ("mirror.example.test/library/postgres:16" -> postgres)."""
    name = re.sub(r"[@:][^/]*$", "", image.strip()).lower()
    parts = name.split("/")
    if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        parts = parts[1:]  # a registry host
    if parts[:1] == ["library"]:
        parts = parts[1:]
    return _ROLES.get("/".join(parts))


def check(
    services: Mapping[str, dict],
    ports: Sequence[PublishedPort],
    conditions: Mapping[str, Mapping[str, str]],
    *,
    origins: Mapping[str, str],
    profiles: Sequence[str],
    profile_conditions: Mapping[str, str],
    edited: Mapping[str, Sequence[str]] | None = None,
) -> list[Finding]:
    """Every finding about the assembled project; ``origins``: service -> where it comes from
    ("profile postgres", "devenv.yaml api", or a compose file's path); ``edited``: service ->
    the compose files that change it; ``profile_conditions``: what the api waits for on each
    profile by devenv's account."""
    found: list[Finding] = []
    found += _same_host_port(ports, origins)
    found += _missing_dependencies(conditions, services, origins)
    found += _weakened_waits(conditions, (edited or {}).get(API, ()), profile_conditions)
    found += _second_of_a_role(services, origins, profiles)
    return found


def _where(service: str, origins: Mapping[str, str], container_port: int | None = None) -> str:
    origin = origins.get(service, "")
    if origin.startswith("profile "):
        key = (
            f"services.{service}.ports: {{{container_port}: <free port>}}" if container_port else f"services.{service}"
        )
        return f"devenv.yaml ({key})"
    if service == API and origin.startswith("devenv.yaml"):
        return "devenv.yaml (api.port)"
    return f"{origin} (services.{service}.ports)" if container_port else f"{origin} (services.{service})"


def _same_host_port(ports: Sequence[PublishedPort], origins: Mapping[str, str]) -> list[Finding]:
    found = []
    seen: list[PublishedPort] = []
    for port in ports:
        if not port.host_port:
            continue
        for other in seen:
            overlap = port.host_ip == other.host_ip or port.host_ip in _ANY or other.host_ip in _ANY
            if (
                other.host_port == port.host_port
                and overlap
                and (other.service, other.container_port) != (port.service, port.container_port)
            ):
                found.append(
                    Finding(
                        True,
                        f"{other.service} and {port.service} both publish host port {port.host_port}",
                        f"change one: {_where(other.service, origins, other.container_port)} or "
                        f"{_where(port.service, origins, port.container_port)}",
                    )
                )
        seen.append(port)
    return found


def _missing_dependencies(
    conditions: Mapping[str, Mapping[str, str]], services: Mapping[str, dict], origins: Mapping[str, str]
) -> list[Finding]:
    return [
        Finding(
            True,
            f"{service} depends on {dependency}, which this project does not have",
            f"fix depends_on in {origins.get(service, 'its compose file')}, or enable the {dependency} profile",
        )
        for service, waits in conditions.items()
        for dependency in waits
        if dependency not in services
    ]


def _weakened_waits(
    conditions: Mapping[str, Mapping[str, str]], files: Sequence[str], profile_conditions: Mapping[str, str]
) -> list[Finding]:
    found = []
    for dependency, wanted in profile_conditions.items():
        actual = conditions.get(API, {}).get(dependency)
        if actual is None or _STRENGTH.get(actual, 0) >= _STRENGTH.get(wanted, 0):
            continue
        changed_by = files[-1] if files else "a compose file"
        found.append(
            Finding(
                False,
                f"the api waits for {dependency} only with {actual}, weaker than devenv's {wanted}",
                f"remove services.api.depends_on.{dependency} from {changed_by}: the api may start before "
                f"{dependency} accepts connections",
            )
        )
    return found


def _second_of_a_role(
    services: Mapping[str, dict], origins: Mapping[str, str], profiles: Sequence[str]
) -> list[Finding]:
    found = []
    for name, spec in services.items():
        origin = origins.get(name, "")
        if origin.startswith(("profile ", "devenv.yaml")) or not isinstance(spec.get("image"), str):
            continue
        role = image_role(spec["image"])
        if role is not None and role in profiles and role != name:
            found.append(
                Finding(
                    False,
                    f"{name} ({origin}) runs {spec['image']}, as the {role} profile does: the project runs two",
                    f"remove {name} from {origin}, or drop {role} from `profiles:` in devenv.yaml",
                )
            )
    return found
