"""`devenv watch`: carry out, batch by batch, what the api's reload setup says a change needs.

1. Find the api's running container and the setup (``devenv.reload``); start watching the
   host (watchfiles, in threads of their own) before anything else, so nothing is missed.
2. Apply what changed while nothing watched: a manifest or the Dockerfile newer than the
   api's image rebuilds it (``devenv up``'s plan says so); in sync mode, the host's files are
   compared with the container's by checksum and the differences copied or deleted; a mounted
   app that is restarted on change is restarted when a file is newer than its start.
3. Then, per batch of changes (``devenv.watchplan`` decides): nothing, sync, restart or
   rebuild, and one line saying what was done and how long it took.

Every docker process goes through the engine and is ended on Ctrl-C (exit 130); the watcher
threads are stopped on the way out. An action that fails (a build error, an api that does
not answer after a restart) is reported and watching goes on: the next save tries again.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import queue
import tarfile
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from devenv import readiness, reload, watchplan
from devenv.errors import (
    DevenvError,
    EngineUnreachableError,
    InterruptedByUser,
    NotRunningError,
    ServiceFailedError,
    StartTimeoutError,
)
from devenv.project import API
from devenv.state import STATE_DIR, state_dir, write_atomic
from devenv.watchplan import Change, Copy, InitialPlan, Sources, WatchPlan

if TYPE_CHECKING:
    from devenv.engine_types import EngineInfo, ServiceState
    from devenv.interfaces import Engine
    from devenv.readiness import Tracker
    from devenv.reload import ReloadSetup
    from devenv.workspace import Workspace

MAX_GROUP_MS = 500  # the watcher hands over a batch after this long even if writes go on
RECORD = "watch.json"  # in .devenv/: the api image watch last saw, and its manifests' hash
RESTART_TIMEOUT = 3  # seconds the api gets to stop on SIGTERM before SIGKILL
_KINDS: dict[int, watchplan.ChangeKind] = {1: "added", 2: "modified", 3: "deleted"}


@dataclass
class WatchOptions:
    out: Callable[[str], None] = print
    clock: Callable[[], float] = time.monotonic
    stop: threading.Event | None = None  # set it to end watching (tests); else Ctrl-C ends it
    open_workspace: Callable[[], Workspace] | None = None  # re-read the project before a rebuild
    force_polling: bool | None = None  # None: WATCHFILES_FORCE_POLLING, or a Windows folder under WSL


# -- the host watcher --------------------------------------------------------------------------


class HostWatcher:
    """watchfiles' notifiers, each in a thread of its own, handing batches of relevant changes
    to a queue: the source folders recursively, the manifests' folders (a file is watched
    through its folder: an editor's rename save replaces the file itself)."""

    def __init__(
        self, setup: ReloadSetup, relevant: Callable[[Path], bool], *, force_polling: bool | None = None
    ) -> None:
        from watchfiles._rust_notify import RustNotify

        recursive = sorted({p.host for p in setup.paths if p.host.is_dir()})
        flat = {p.host.parent for p in setup.paths if not p.host.is_dir()} | {m.parent for m in setup.manifests}
        flat = {
            folder
            for folder in flat
            if folder.is_dir() and not any(r == folder or r in folder.parents for r in recursive)
        }
        self.roots = recursive + sorted(flat)
        self.batches: queue.Queue[list[Change]] = queue.Queue()
        self._relevant = relevant
        self.failure: str | None = None  # why a notifier stopped (a watched folder went away …)
        self._stop = threading.Event()
        self._step = max(1, setup.debounce_ms)
        polling = force_polling if force_polling is not None else _needs_polling(self.roots)
        self._threads = []
        for roots, deep in ((recursive, True), (sorted(flat), False)):
            if not roots:
                continue
            notify = RustNotify([str(r) for r in roots], False, polling, 300, deep, True)
            thread = threading.Thread(target=self._run, args=(notify,), name="devenv-watch", daemon=True)
            self._threads.append((notify, thread))
        for _, thread in self._threads:
            thread.start()

    def _run(self, notify: Any) -> None:
        try:
            self._watch(notify)
        except Exception as exc:  # noqa: BLE001 - handed to the loop, which stops with it
            self.failure = f"{type(exc).__name__}: {exc}"
            self.batches.put([])

    def _watch(self, notify: Any) -> None:
        while not self._stop.is_set():
            raw = notify.watch(MAX_GROUP_MS, self._step, 500, self._stop)
            if isinstance(raw, str):  # timeout, stop
                continue
            pairs = [(_KINDS.get(kind, "modified"), Path(path)) for kind, path in raw]
            changes = watchplan.merge([(kind, path) for kind, path in pairs if self._relevant(path)])
            if changes:
                self.batches.put(changes)

    def get(self, timeout: float | None) -> list[Change] | None:
        """The next batch, waiting up to ``timeout`` seconds (None: until one comes). The wait
        is in short slices so Ctrl-C is seen at once."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = 0.25 if deadline is None else min(0.25, deadline - time.monotonic())
            if left <= 0:
                return None
            try:
                return self.batches.get(timeout=left)
            except queue.Empty:
                if deadline is not None and time.monotonic() >= deadline:
                    return None

    def end(self) -> None:
        self._stop.set()
        for notify, thread in self._threads:
            thread.join(timeout=2)
            notify.close()


def _needs_polling(roots: list[Path]) -> bool:
    """inotify sees no changes made from Windows in its folders under WSL 2 (/mnt/c/...)."""
    forced = os.environ.get("WATCHFILES_FORCE_POLLING", "").lower()
    if forced:
        return forced not in ("0", "false", "no")
    if "microsoft" not in platform.release().lower():  # WSL 2's kernel
        return False
    return any(len(r.parts) > 2 and r.parts[1] == "mnt" and len(r.parts[2]) == 1 for r in roots)


# -- acting --------------------------------------------------------------------------------------


class _Steps:
    """A Reporter for up's rebuild that keeps the time of each step, printing nothing."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.times: list[tuple[str, float]] = []

    def step(self, text: str) -> None:
        self.times.append((text, self.clock()))

    def progress(self, tracker: Tracker, now: float) -> None:
        pass

    def finish(self) -> None:
        pass

    def build_seconds(self) -> float | None:
        began = next((t for text, t in self.times if text.startswith("building")), None)
        ended = next((t for text, t in self.times if text.startswith("starting")), None)
        return ended - began if began is not None and ended is not None else None


class Session:
    """One `devenv watch`: the workspace, the setup and the api's container, and the actions."""

    def __init__(self, ws: Workspace, engine: Engine, info: EngineInfo, options: WatchOptions) -> None:
        self.ws, self.engine, self.info, self.options = ws, engine, info, options
        self.setup = reload.setup_for(ws, remote_engine=reload.remote_engine())
        self.sources = Sources(self.setup)
        self.container = _container_name(ws)

    # the container
    def api_state(self) -> ServiceState | None:
        return next((s for s in self.engine.services(self.ws.name) if s.service == API), None)

    def running_api(self) -> ServiceState:
        if API not in self.ws.compose.compose["services"]:
            raise NotRunningError(
                "this project has no api to watch",
                hint="devenv watch acts on the api profile's source (profiles: [api, …])",
            )
        state = self.api_state()
        if state is None or state.state != "running":
            raise NotRunningError(
                "the api is not running: there is nothing to watch for",
                hint="`devenv up --watch` starts the stack and then watches",
            )
        return state

    # what a batch needs
    def act(self, plan: WatchPlan) -> str:
        """Carry out one plan; what was done, for the line."""
        if plan.action == "reload":
            return f"{API} reloads it itself"
        if plan.action == "restart":
            self.restart()
            return f"restarted {API}, answering again"
        if plan.action == "sync":
            done = self.sync(plan.copies, plan.deletes)
            if plan.restart:
                self.restart()
                return f"{done}, restarted {API}, answering again"
            return done
        if plan.action == "rebuild":
            return self.rebuild()
        return "nothing to do"

    def sync(self, copies: tuple[Copy, ...], deletes: tuple[str, ...]) -> str:
        copied = 0
        if copies:
            with tempfile.TemporaryFile(prefix="devenv-sync-") as archive:
                copied = write_archive(archive, copies, self.sources)
                archive.seek(0)
                if copied:
                    self.engine.copy_into(self.container, archive)
        if deletes:
            self.engine.remove_in(self.container, list(deletes))
        parts = [f"{copied} copied"] if copied or not deletes else []
        parts += [f"{len(deletes)} deleted"] if deletes else []
        return f"synced into {API} ({', '.join(parts)})"

    def restart(self) -> None:
        self.engine.restart(self.container, timeout=RESTART_TIMEOUT)
        self.wait_answering()

    def wait_answering(self) -> None:
        """Until the api's probes pass (or it exits, or devenv.yaml's timeout passes)."""
        rule = self.ws.rules().get(API)
        deadline = time.monotonic() + self.ws.project.config.timeout
        prober = readiness.Prober()
        try:
            state = self.running_api()
            while True:
                if rule is None or not rule.probes:
                    if state.ready:
                        return
                else:
                    prober.watch(rule, state)
                    report = prober.reports().get(API)
                    if report is not None and report.container == state.id and report.ok:
                        return
                    if report is not None and report.fatal:
                        raise ServiceFailedError(f"{API} does not answer: {report.detail}")
                if time.monotonic() > deadline:
                    raise StartTimeoutError(f"{API} did not answer again within {self.ws.project.config.timeout:g}s")
                prober.wake.wait(0.5)
                prober.wake.clear()
                found = self.api_state()
                if found is None or readiness.failure(found):
                    why = readiness.failure(found) if found else "its container is gone"
                    raise ServiceFailedError(f"{API} {why}", hint=f"see why: devenv logs {API}; a save tries again")
                state = found
        finally:
            prober.stop()

    def rebuild(self) -> str:
        """Rebuild the api's image and recreate it through `devenv up` (plan, then act)."""
        from devenv.lock import project_lock
        from devenv.up import UpOptions, up

        if self.options.open_workspace is not None:
            self.ws = self.options.open_workspace()  # the manifests name the dependency volume
        manifests = self.manifests_hash()  # before the build reads them
        steps = _Steps(time.monotonic)
        with project_lock(self.ws.project.root, "devenv watch"):
            up(self.ws, self.engine, steps, self.info, UpOptions(services=[API], build=True))
        self.setup = reload.setup_for(self.ws, remote_engine=reload.remote_engine())
        self.sources = Sources(self.setup)
        self.remember(self.running_api().image_id, manifests)
        build = steps.build_seconds()
        done = f"rebuilt {API} and recreated it, answering again"
        if self.setup.mode == "sync":  # the new container has the image's copy: bring it up to date
            initial = self.initial_sync()
            if initial is not None and not initial.empty:
                done += f", then {_initial_words(initial)}"
        return done + (f" (build {build:.1f} s)" if build is not None else "")

    # what changed while nothing watched
    def stale_image(self, state: ServiceState) -> bool:
        """Whether a manifest or the Dockerfile changed since the api's image was built: the
        manifests' hash differs from the one recorded with this image (by the last watch); for
        an image watch has no record of (`up` built it), `up`'s plan tells (its fingerprint
        leaves out what is mounted or synced, and always counts the manifests)."""
        from devenv.up import UpOptions, plan

        services = self.ws.compose.compose["services"]
        if API not in services or "build" not in services[API]:
            return False
        record = _read_record(self.ws.project.root)
        if record.get("image") == state.image_id:
            return record.get("manifests") != self.manifests_hash()
        return API in plan(self.ws, self.engine, UpOptions(services=[API])).build

    def manifests_hash(self) -> str:
        return reload.manifest_hash(self.setup.manifests, self.ws.project.root)

    def remember(self, image: str, manifests: str) -> None:
        """Which manifests this image was built from (or seen current with)."""
        folder = state_dir(self.ws.project.root)
        write_atomic(folder / RECORD, json.dumps({"image": image, "manifests": manifests}) + "\n")

    def initial_sync(self) -> InitialPlan | None:
        """Make the container's synced files the host's; None when the container could not
        list its files (then every file was copied, and nothing deleted)."""
        files = watchplan.host_files(self.setup)
        host = {path: _md5(file) for path, file in files.items()}
        container: dict[str, str] = {}
        for source in self.setup.paths:
            skip = [d for d in self.setup.dependencies if d.startswith(source.container.rstrip("/") + "/")]
            found = self.engine.checksums(self.container, source.container, skip)
            if found is None:
                everything = tuple(Copy(file, path) for path, file in sorted(files.items()))
                self.sync(everything, ())
                return None
            container.update(found)
        plan = watchplan.plan_initial(self.setup, host, container, files)
        if not plan.empty:
            self.sync(plan.copies, plan.deletes)
        return plan

    def changed_since_start(self, state: ServiceState) -> list[Path]:
        """Mounted files newer than the api's start (its process has the old code)."""
        if state.started_at is None:
            return []
        started = state.started_at.timestamp()
        newer = []
        for path in watchplan.host_files(self.setup).values():
            try:
                if path.stat().st_mtime > started:
                    newer.append(path)
            except OSError:
                continue
        return sorted(newer)


def _initial_words(plan: InitialPlan) -> str:
    parts = [f"{len(plan.copies)} copied"] if plan.copies else []
    parts += [f"{len(plan.deletes)} deleted"] if plan.deletes else []
    return f"synced what changed while not watching ({', '.join(parts)})"


def _container_name(ws: Workspace) -> str:
    spec = ws.compose.compose["services"].get(API, {})
    return str(spec.get("container_name") or f"{ws.name}-{API}-1")


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    try:
        with path.open("rb") as file:
            while chunk := file.read(1 << 20):
                digest.update(chunk)
    except OSError:
        return ""
    return digest.hexdigest()


def write_archive(archive: BinaryIO, copies: tuple[Copy, ...], sources: Sources) -> int:
    """A tar of the copies, named by their container paths (owned by root, modes kept); a
    folder brings what is below it that the setup does not ignore. Files that went away
    since are left out. How many files it holds."""
    count = 0
    with tarfile.open(fileobj=archive, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for copy in copies:
            count += _add(tar, copy.host, copy.container, sources)
    return count


def _add(tar: tarfile.TarFile, host: Path, container: str, sources: Sources) -> int:
    try:
        info = tar.gettarinfo(str(host), arcname=container.lstrip("/"))
    except OSError:
        return 0
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    if info.isreg():
        try:
            with host.open("rb") as file:
                tar.addfile(info, file)
        except OSError:
            return 0
        return 1
    tar.addfile(info)
    count = 0
    if info.isdir():
        try:
            children = sorted(host.iterdir())
        except OSError:
            return 0
        for child in children:
            target = sources.container_path(child)
            if target is not None:
                count += _add(tar, child, target, sources)
    return count


# -- the loop ------------------------------------------------------------------------------------


def _stamp() -> str:
    return time.strftime("%H:%M:%S")


def run(ws: Workspace, engine: Engine, info: EngineInfo, options: WatchOptions) -> None:
    """Watch until Ctrl-C (InterruptedByUser) or ``options.stop``."""
    out, clock = options.out, options.clock
    session = Session(ws, engine, info, options)
    setup = session.setup
    state = session.running_api()
    watcher = HostWatcher(setup, session.sources.relevant, force_polling=options.force_polling)
    events = engine.watch(ws.name, threading.Event())  # a recreated api (by `devenv up`) is noticed
    try:
        how = "changes are copied in" if setup.mode == "sync" else "bind-mounted"
        then = "then the api is restarted" if setup.on_change == "restart" else "the app reloads itself"
        out(
            f"watching {len(setup.paths)} path(s) for {API} ({setup.mode}: {how}, {then}; "
            f"a manifest change rebuilds it); Ctrl-C stops"
        )
        try:
            _initial(session, state, out, clock)
        except (EngineUnreachableError, NotRunningError):
            raise
        except DevenvError as exc:  # a build that fails: say so, and watch for the fix
            _failed(out, "bringing api up to date", exc)
        known = session.running_api().id
        batches = watchplan.Batches()
        settle = 0.0
        while options.stop is None or not options.stop.is_set():
            if events.take():
                try:
                    known = _recreated(session, known, out, clock)
                except EngineUnreachableError:
                    raise
                except DevenvError as exc:
                    _failed(out, f"{API}'s new container", exc)
            wait = batches.wait(clock(), settle=settle)
            got = watcher.get(0.25 if wait is None else min(wait, 0.25))
            if watcher.failure:
                raise DevenvError(  # exit 1: not expected, but no bug in devenv either
                    f"watching the files stopped: {watcher.failure}",
                    hint="start `devenv watch` again (a folder deleted and made again is then watched anew)",
                )
            if got:
                batches.add(got, clock())
                settle = watchplan.SETTLE if watchplan.plan_batch(session.setup, batches.peek()).costly else 0.0
            if not batches.due(clock(), settle=settle):
                continue
            plan = watchplan.plan_batch(session.setup, batches.take())
            if plan.action == "none":
                continue
            began = clock()
            what = plan.what_changed(ws.project.root)
            try:
                done = session.act(plan)
            except (EngineUnreachableError, InterruptedByUser):
                raise
            except DevenvError as exc:
                _failed(out, what, exc)
                continue
            seconds = f" · {clock() - began:.2f} s" if plan.action != "reload" else ""
            out(f"{_stamp()} {what} · {done}{seconds}")
            if plan.action == "rebuild":
                events.take()  # its own recreation: already brought up to date
                now_state = session.api_state()
                known = now_state.id if now_state is not None else known
    finally:
        events.end()
        watcher.end()


def _failed(out: Callable[[str], None], what: str, exc: DevenvError) -> None:
    out(f"{_stamp()} {what} · failed: {exc.message}" + (f" ({exc.hint})" if exc.hint else ""))
    for line in exc.details.splitlines()[-10:]:
        out(f"    {line}")


def _recreated(session: Session, known: str, out: Callable[[str], None], clock: Callable[[], float]) -> str:
    """Something happened to the project's containers: in sync mode, a new api container
    (`devenv up` recreated it) starts from the image's copy, so bring it up to date."""
    state = session.api_state()
    if state is None or state.state != "running" or state.id == known:
        return known
    if session.setup.mode == "sync":
        began = clock()
        plan = session.initial_sync()
        did = "copied every file" if plan is None else _initial_words(plan) if not plan.empty else "nothing to sync"
        out(f"{_stamp()} {API}'s container is new (recreated) · {did} · {clock() - began:.2f} s")
    return state.id


def _initial(session: Session, state: ServiceState, out: Callable[[str], None], clock: Callable[[], float]) -> None:
    """Apply what changed while nothing watched, and say what that was."""
    began = clock()
    if session.stale_image(state):
        out(f"{_stamp()} {API}'s build inputs changed since its image was built · rebuilding …")
        done = session.rebuild()
        out(f"{_stamp()} {done} · {clock() - began:.2f} s")
        return
    session.remember(state.image_id, session.manifests_hash())
    if session.setup.mode == "sync":
        plan = session.initial_sync()
        if plan is None:
            out(
                f"{_stamp()} initial sync: copied every file ({API}'s container cannot list its files: "
                f"no sh, find or md5sum; files deleted while not watching stay there) · {clock() - began:.2f} s"
            )
        elif plan.empty:
            same = f"{API} has the host's {plan.unchanged} file(s) already"
            out(f"{_stamp()} initial sync: {same} · {clock() - began:.2f} s")
        else:
            out(f"{_stamp()} initial sync: {_initial_words(plan)} · {clock() - began:.2f} s")
        return
    if session.setup.on_change == "restart":
        newer = session.changed_since_start(state)
        if newer:
            what = WatchPlan("restart", tuple(newer)).what_changed(session.ws.project.root)
            session.restart()
            out(f"{_stamp()} {what} while not watching · restarted {API}, answering again · {clock() - began:.2f} s")


def _read_record(root: Path) -> dict[str, Any]:
    try:
        data = json.loads((root / STATE_DIR / RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
