"""Does the api's health path tell the truth? `devenv check --health` starts a throwaway
copy of the stack (its own project name, fresh volumes, host ports left to the engine),
stops its Postgres and expects the health path to stop answering 200 (a 503 is the
convention). The copy is removed afterwards, whatever happened; the real stack is not touched.
"""

from __future__ import annotations

import copy
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from devenv import yamlio
from devenv.engine_types import ComposeFiles
from devenv.interfaces import Engine
from devenv.project import API
from devenv.workspace import Workspace

WAIT_FOR_503 = 15.0  # seconds the api gets to notice Postgres is gone


@dataclass(frozen=True)
class HealthProbe:
    ok: bool | None  # None: not probed (no api, no postgres)
    healthy_status: int | None  # what the path answered with everything up
    down_status: int | None  # what it answered with Postgres stopped
    detail: str


def throwaway_compose(compose: dict, name: str) -> dict:
    """The project's compose document for a copy: no fixed host ports, no fixed names."""
    doc = copy.deepcopy(compose)
    doc["name"] = name
    for service in doc.get("services", {}).values():
        service.pop("container_name", None)
        for port in service.get("ports", []) or []:
            if isinstance(port, dict):
                port.pop("published", None)
    return doc


def http_status(url: str, timeout: float = 2.0) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (OSError, ValueError):
        return None


def probe(
    ws: Workspace,
    engine: Engine,
    *,
    status: Callable[[str], int | None] = http_status,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> HealthProbe:
    services = ws.compose.services
    if API not in services or "postgres" not in services:
        return HealthProbe(None, None, None, "needs the api and postgres profiles")
    name = f"{ws.name}-check-{uuid.uuid4().hex[:6]}"
    path = ws.project.config.api.health_path
    api = ws.compose.compose["services"][API]
    with tempfile.TemporaryDirectory(prefix="devenv-check-") as folder:
        file = Path(folder) / "compose.yaml"
        file.write_text(yamlio.dump(throwaway_compose(ws.compose.compose, name)), encoding="utf-8")
        files = ComposeFiles(name, ws.project.root, file)
        try:
            if api.get("build") and not engine.image_exists(api["image"]):
                engine.build(files, [API])
            engine.compose_up(files)
            state = next(s for s in engine.services(name) if s.service == API)
            port = state.host_port(ws.compose.api_port)
            if port is None:
                return HealthProbe(None, None, None, "the api publishes no port")
            url = f"http://127.0.0.1:{port.host_port}{path}"
            healthy = status(url)
            if healthy != 200:
                return HealthProbe(False, healthy, None, f"{path} answered {healthy} with every service up")
            engine.compose_stop(files, ["postgres"])
            deadline = clock() + WAIT_FOR_503
            down = status(url)
            while down == 200 and clock() < deadline:
                sleep(0.5)
                down = status(url)
            if down == 200:
                return HealthProbe(False, 200, 200, f"{path} still answers 200 with Postgres stopped")
            return HealthProbe(True, 200, down, f"{path} answers {down} with Postgres stopped")
        finally:
            engine.down(files, volumes=True)
