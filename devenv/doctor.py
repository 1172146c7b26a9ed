"""`devenv doctor`: is this machine and this project ready to run the stack?

Each check is a small pure rule (facts in, one :class:`Result` out: ok, warn or fail, a
message and a fix) and a gatherer that finds the facts. The gatherers that ask docker run side
by side in threads, so doctor takes about as long as the slowest docker call. A check whose
facts cannot be found (no engine, no devenv.yaml) fails or is skipped with the reason; doctor
itself never stops at the first problem.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from devenv.errors import DevenvError

if TYPE_CHECKING:
    from devenv.dockerfile import BuildKitUse
    from devenv.engine_types import EngineInfo, ServiceState
    from devenv.interfaces import Engine
    from devenv.project import PublishedPort
    from devenv.readiness import Report
    from devenv.workspace import Workspace

OK, WARN, FAIL = "ok", "warn", "fail"
MIN_COMPOSE = (2, 24)
DISK_WARN = 5 * 1024**3  # bytes free under the engine's data folder
DISK_FAIL = 1 * 1024**3
INOTIFY_FILE = Path("/proc/sys/fs/inotify/max_user_watches")
POSTGRES_ATTEMPTS = 3  # logins tried before a Postgres that does not answer is a warning


@dataclass(frozen=True)
class Result:
    check: str  # a short stable name: engine, compose, ports, ...
    status: str  # ok | warn | fail
    message: str
    fix: str = ""


# -- the rules (pure) ---------------------------------------------------------------------


def rule_docker_cli(path: str | None) -> Result:
    if path is None:
        return Result(
            "docker",
            FAIL,
            "the docker command was not found",
            "install Docker (Docker Desktop, or the engine and its CLI) and put `docker` on PATH",
        )
    return Result("docker", OK, f"docker CLI: {path}")


def rule_engine(info: EngineInfo | DevenvError) -> Result:
    if isinstance(info, DevenvError):
        return Result("engine", FAIL, info.message + (f" ({info.details})" if info.details else ""), info.hint)
    api = ".".join(map(str, info.api))
    if info.start_interval:
        return Result(
            "engine",
            OK,
            f"engine {info.version}, API {api}: healthchecks honour start_interval (fast checks while starting)",
        )
    return Result(
        "engine",
        WARN,
        f"engine {info.version}, API {api}: start_interval is not honoured (needs Engine 25 / API 1.44); "
        "Docker's healthchecks report late, devenv's own probes are not affected",
        "update Docker Engine to 25 or later",
    )


def rule_compose(version: str | DevenvError) -> Result:
    need = ".".join(map(str, MIN_COMPOSE))
    if isinstance(version, DevenvError):
        return Result("compose", FAIL, version.message, version.hint)
    return Result("compose", OK, f"Docker Compose {version} (devenv needs {need} or later)")


BUILDX_FIX = (
    "install the buildx plugin (the docker-buildx-plugin package from Docker's repository, docker-buildx "
    "in Debian's and Ubuntu's; Docker Desktop has it): Compose then builds with BuildKit"
)


def rule_buildx(version: str | DevenvError | None, uses: list[BuildKitUse] | None, builds: bool = True) -> Result:
    """buildx missing matters only when the project's Dockerfiles need BuildKit: ``uses`` are
    the lines that do (None: not known, the project did not load); ``builds``: any service
    builds an image at all."""
    if isinstance(version, DevenvError):
        return Result("buildx", WARN, f"buildx: not checked ({version.message})")
    if version is not None:
        return Result("buildx", OK, f"buildx {version}")
    if uses is None:
        return Result(
            "buildx",
            WARN,
            "buildx is not installed: images build with the classic builder "
            "(whether this project needs BuildKit is not known: devenv.yaml did not load)",
            BUILDX_FIX,
        )
    if not builds:
        return Result("buildx", OK, "classic builder (buildx not installed; this project builds no image)")
    if not uses:
        return Result(
            "buildx",
            OK,
            "classic builder (buildx not installed; this project's Dockerfiles need no BuildKit features)",
        )
    broken = [use for use in uses if use.breaks]
    listed = ", ".join(f"{use.where} ({use.feature})" for use in (broken or uses))
    if broken:
        return Result(
            "buildx",
            FAIL,
            f"buildx is not installed and the classic builder cannot build {listed}: BuildKit only",
            BUILDX_FIX + ", or build without those features",
        )
    return Result(
        "buildx",
        WARN,
        f"buildx is not installed: the classic builder builds, but ignores {listed} (BuildKit only)",
        BUILDX_FIX + ", or remove those lines",
    )


def is_local(endpoint: str) -> bool:
    """Whether the engine runs on this machine (a bind mount of a local folder works)."""
    if endpoint.startswith(("unix://", "npipe://")) or endpoint == "":
        return True
    if endpoint.startswith("tcp://"):
        host = endpoint[len("tcp://") :].rsplit(":", 1)[0].strip("[]")
        return host in ("localhost", "127.0.0.1", "::1")
    return False  # ssh://, tcp:// to another host


def rule_endpoint(endpoint: str | DevenvError) -> Result:
    if isinstance(endpoint, DevenvError):
        return Result("endpoint", WARN, f"engine location: not checked ({endpoint.message})")
    if is_local(endpoint):
        return Result("endpoint", OK, f"engine on this machine ({endpoint or 'default socket'}): bind mounts work")
    return Result(
        "endpoint",
        WARN,
        f"engine is remote ({endpoint}): bind mounts such as api.volumes see the remote machine's files, not yours",
        "use a local engine (unset DOCKER_HOST, `docker context use default`) for live source mounts",
    )


def rule_disk(free: int | None, where: str) -> Result:
    if free is None:
        return Result("disk", WARN, f"free disk: not checked ({where})")
    gib = free / 1024**3
    text = f"{gib:.1f} GiB free for images and volumes ({where})"
    if free < DISK_FAIL:
        return Result("disk", FAIL, text, "free disk space: `docker system prune` removes unused images and containers")
    if free < DISK_WARN:
        return Result("disk", WARN, text, "`docker system prune` removes unused images and containers")
    return Result("disk", OK, text)


def rule_ports(
    ports: Iterable[PublishedPort],
    free: Callable[[str, int], bool],
    ours: set[int],
    holder: Callable[[int], str | None],
) -> Result:
    """Every fixed host port of the project is free, or published by the project itself."""
    fixed = [p for p in ports if p.host_port]
    busy = []
    for port in fixed:
        if port.host_port in ours or free(port.host_ip, port.host_port):
            continue
        who = holder(port.host_port)
        busy.append(f"{port.host_ip}:{port.host_port} ({port.service}) is held by {who or 'another program'}")
    if busy:
        return Result(
            "ports",
            FAIL,
            "; ".join(busy),
            "stop what holds it, or pick another port in devenv.yaml (api.port, services.NAME.ports)",
        )
    if not fixed:
        return Result("ports", OK, "ports: every published port is left to the engine (0)")
    held = sum(1 for p in fixed if p.host_port in ours)
    return Result(
        "ports",
        OK,
        f"ports: {len(fixed)} published, all free" + (f" or held by this project ({held})" if held else ""),
    )


def rule_inotify(limit: int | None, files: int, paths: list[str]) -> Result:
    if not paths:
        return Result("inotify", OK, "inotify: no bind-mounted source folders to watch")
    if limit is None:
        return Result("inotify", OK, f"inotify: {files} files under watched paths (no limit to compare: not Linux)")
    text = f"inotify: {files} files under watched paths, limit {limit} watches"
    if files >= limit:
        return Result(
            "inotify",
            FAIL,
            text,
            "raise the limit: `sudo sysctl fs.inotify.max_user_watches=524288` "
            "(and in /etc/sysctl.d/ to keep it), or exclude build output from the mounts",
        )
    if files * 2 >= limit:
        return Result("inotify", WARN, text, "`sudo sysctl fs.inotify.max_user_watches=524288` leaves room")
    return Result("inotify", OK, text)


def rule_env(env: Mapping[str, str] | None, example: Mapping[str, str] | None) -> Result:
    if example is None:
        return Result("env", OK, ".env: no .env.example to compare with")
    if env is None:
        return Result("env", WARN, ".env is missing; .env.example lists the keys", "cp .env.example .env")
    missing = [key for key in example if key not in env]
    if missing:
        return Result(
            "env",
            WARN,
            f".env lacks {', '.join(missing)} (in .env.example)",
            "copy those lines from .env.example into .env",
        )
    return Result("env", OK, f".env has every key of .env.example ({len(example)})")


def rule_postgres(state: ServiceState | None, report: Report | None) -> Result:
    if state is None or state.state != "running":
        return Result("postgres", OK, "postgres credentials: not running, not checked (`devenv up` checks at start)")
    if report is None:
        return Result("postgres", OK, "postgres credentials: no published port to log in through, not checked")
    if report.ok:
        return Result("postgres", OK, "postgres: the configured credentials log in")
    if report.fatal:
        return Result(
            "postgres",
            FAIL,
            f"postgres refuses the configured credentials: {report.detail}; its data volume was "
            "initialised with others",
            "put the old POSTGRES_* values back in .env, or start over: `devenv down --volumes` (deletes its data)",
        )
    return Result("postgres", WARN, f"postgres did not answer a login: {report.detail}", "`devenv status`, `devenv up`")


def rule_config(warnings: list[str] | DevenvError) -> Result:
    if isinstance(warnings, DevenvError):
        return Result("config", FAIL, warnings.message, warnings.hint)
    if warnings:
        return Result("config", WARN, "devenv.yaml: " + " | ".join(warnings), "see each warning")
    return Result("config", OK, "devenv.yaml: valid, no warnings")


def exit_ok(results: Iterable[Result]) -> bool:
    return all(r.status != FAIL for r in results)


# -- gathering the facts ------------------------------------------------------------------


def _attempt(call: Callable[[], Any]) -> Any:
    try:
        return call()
    except DevenvError as exc:
        return exc


def count_files(paths: Iterable[Path], limit: int = 2_000_000) -> int:
    """Files and folders under these paths (what a recursive watcher would watch)."""
    total = 0
    for root in paths:
        for _folder, _dirs, files in os.walk(root):
            total += 1 + len(files)
            if total > limit:
                return total
    return total


def _bind_sources(ws: Workspace) -> list[Path]:
    found = []
    for volume in ws.project.config.api.volumes:
        source = volume.split(":", 1)[0]
        if source.startswith((".", "/", "~")):
            path = (ws.project.root / os.path.expanduser(source)).resolve()
            if path.is_dir():
                found.append(path)
    return found


def _inotify_limit() -> int | None:
    try:
        return int(INOTIFY_FILE.read_text().strip())
    except (OSError, ValueError):
        return None


def _disk(engine: Engine, endpoint: Any) -> tuple[int | None, str]:
    if isinstance(endpoint, DevenvError) or not is_local(endpoint):
        return None, "the engine is not on this machine" if not isinstance(endpoint, DevenvError) else "no engine"
    root = _attempt(engine.root_dir)
    if isinstance(root, DevenvError):
        return None, root.message
    path = Path(root)
    while not path.exists() and path != path.parent:  # Docker Desktop names a path in its VM
        path = path.parent
    try:
        return shutil.disk_usage(path).free, root
    except OSError as exc:
        return None, f"{root}: {exc.strerror}"


def _buildkit_uses(ws: Workspace) -> tuple[list[BuildKitUse], bool]:
    """What the project's Dockerfiles (every service that builds) need BuildKit for, and
    whether any service builds at all."""
    from devenv.dockerfile import buildkit_uses

    found: dict[tuple[str, int, str], BuildKitUse] = {}
    builds = False
    for name, spec in (ws.compose.compose.get("services") or {}).items():
        build = spec.get("build") if isinstance(spec, dict) else None
        if build is None:
            continue
        builds = True
        build = {"context": build} if isinstance(build, str) else build
        if build.get("dockerfile_inline"):
            text, label = str(build["dockerfile_inline"]), f"{name}'s dockerfile_inline"
        else:
            context = ws.project.root / str(build.get("context") or ".")
            path = context / str(build.get("dockerfile") or "Dockerfile")
            try:
                text = path.read_text(encoding="utf-8")
            except OSError:
                continue  # `devenv check` and the build say so
            label = os.path.relpath(path, ws.project.root) if path.is_relative_to(ws.project.root) else str(path)
        for use in buildkit_uses(text, label, build.get("target")):
            found.setdefault((use.file, use.line, use.feature), use)
    return list(found.values()), builds


def diagnose(
    directory: Path,
    make_engine: Callable[[], Engine],
    *,
    which: Callable[[str], str | None] = shutil.which,
    check_now: Callable[..., dict[str, Report]] | None = None,
) -> list[Result]:
    """Every check, in a fixed order. The engine is asked first, side by side in threads,
    while the project loads: doctor takes about as long as its slowest part."""
    results: dict[str, Result] = {}
    docker = which("docker")
    results["docker"] = rule_docker_cli(docker)
    engine = _attempt(make_engine) if docker else None
    ws: Any = None  # loaded while the engine answers

    def engine_call(name: str) -> Callable[[], Any]:
        def call() -> Any:
            if engine is None or isinstance(engine, DevenvError):
                return engine if isinstance(engine, DevenvError) else None
            return _attempt(getattr(engine, name))

        return call

    def project_states() -> Any:
        if isinstance(ws, DevenvError) or engine is None or isinstance(engine, DevenvError):
            return []
        found = _attempt(lambda: engine.services(ws.name))
        return [] if isinstance(found, DevenvError) else found

    with ThreadPoolExecutor(max_workers=6) as pool:
        info = pool.submit(engine_call("info"))
        compose = pool.submit(engine_call("compose_version"))
        buildx = pool.submit(engine_call("buildx_version"))
        endpoint = pool.submit(engine_call("endpoint"))
        disk = pool.submit(lambda: _disk(engine, endpoint.result()) if engine else (None, "no docker"))
        from devenv.workspace import open_workspace  # imported while the engine answers

        ws = _attempt(lambda: open_workspace(directory))
        states_future = pool.submit(project_states)
        uses, builds = (None, True) if isinstance(ws, DevenvError) else _buildkit_uses(ws)
        states: list[ServiceState] = states_future.result()

        no_docker = DevenvError("no docker CLI", "install Docker")
        results["engine"] = rule_engine(info.result() or no_docker)
        results["compose"] = rule_compose(compose.result() or no_docker)
        results["buildx"] = rule_buildx(buildx.result() if docker else no_docker, uses, builds)
        results["endpoint"] = rule_endpoint(endpoint.result() or no_docker)
        results["disk"] = rule_disk(*disk.result())

    if isinstance(ws, DevenvError):
        results["config"] = rule_config(ws)
        return list(results.values())

    from devenv import hostports
    from devenv.readiness import check_now as real_check_now

    ours = {p.host_port for s in states if s.state == "running" for p in s.ports}

    def holder(port: int) -> str | None:
        found = None
        if engine is not None and not isinstance(engine, DevenvError):
            found = _attempt(lambda: engine.port_holder(port))
        return (found if isinstance(found, str) else None) or hostports.process_holding(port)

    results["ports"] = rule_ports(ws.compose.ports, hostports.port_is_free, ours, holder)
    sources = _bind_sources(ws)
    results["inotify"] = rule_inotify(_inotify_limit(), count_files(sources), [str(s) for s in sources])
    root = ws.project.root
    from devenv.config import read_dotenv

    results["env"] = rule_env(
        read_dotenv(root / ".env") if (root / ".env").is_file() else None,
        read_dotenv(root / ".env.example") if (root / ".env.example").is_file() else None,
    )
    if "postgres" in ws.compose.services:
        postgres = next((s for s in states if s.service == "postgres"), None)
        rules = ws.rules()
        report = None
        for _ in range(POSTGRES_ATTEMPTS):  # a slow answer (a busy machine) is asked again
            found = (check_now or real_check_now)({"postgres": rules["postgres"]}, [postgres] if postgres else [])
            report = found.get("postgres")
            if report is None or report.ok or report.fatal:
                break
        results["postgres"] = rule_postgres(postgres, report)
    results["config"] = rule_config(ws.warnings)
    return list(results.values())


def run(directory: Path, make_engine: Callable[[], Engine]) -> tuple[list[Result], float]:
    started = time.monotonic()
    results = diagnose(directory, make_engine)
    return results, time.monotonic() - started


def as_json(results: list[Result], seconds: float) -> dict[str, Any]:
    return {"ok": exit_ok(results), "seconds": round(seconds, 3), "checks": [asdict(r) for r in results]}
