"""Shell completion of service names (typer's completion does commands and options).

Runs on every Tab press: it reads devenv.yaml and the profiles, and never asks Docker."""

from __future__ import annotations

from pathlib import Path

import typer


def complete_service(ctx: typer.Context, incomplete: str) -> list[str]:
    """The project's services that start with what was typed (none outside a project)."""
    root = ctx.find_root()
    directory = root.params.get("directory") or Path.cwd()
    try:
        from devenv.config import load_project
        from devenv.project import load_compose_project

        project = load_project(Path(directory))
        services = load_compose_project(project, start_interval=False).services
    except Exception:  # noqa: BLE001 - a broken devenv.yaml completes nothing, quietly
        return []
    return [service for service in services if service.startswith(incomplete)]
