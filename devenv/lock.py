"""One devenv command at a time per project.

``devenv up`` and ``devenv down`` (and later ``reset`` and ``seed``) run inside
:func:`project_lock`. A second command in the same project waits for the first, or with no
time to wait says who holds it (:class:`~devenv.errors.ProjectBusyError`, exit code 32). Two
never run at once.

How it works:

* The lock is ``fcntl.flock(LOCK_EX)`` on ``<root>/.devenv/lock``. The kernel drops a flock
  when the last descriptor of its open file description closes, so a crashed or SIGKILLed
  holder never leaves a stale lock behind: the next command takes it at once.
* The holder writes who it is (pid, command, start time, as JSON) into the lock file itself
  and empties the file again when it lets go. The file is never replaced by a rename: a new
  inode would be a new, separate lock. Should the file be deleted anyway (say by something
  clearing ``.devenv/``), a waiter that opened the old inode notices after locking it and
  tries again on the file now at the path, so it never runs on an orphaned lock.
* The descriptor is opened close-on-exec (Python's default) and ``subprocess`` closes other
  descriptors too, so ``docker compose`` children never inherit the lock and never keep it
  alive after devenv dies. A child made by a bare ``os.fork`` does share it.
* flock locks belong to open file descriptions, not processes: on Linux a second
  ``open()`` + ``flock()`` of the same file conflicts even inside the process that already
  holds it. That is what makes the lock work between threads too, but it means taking the
  lock again while holding it would wait for itself until ``wait`` runs out. The lock is not
  re-entrant, so a process that asks for a project's lock while it already holds (or waits
  for) it gets a :class:`RuntimeError` at once: that is a bug in devenv, not a busy project.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from devenv.errors import ProjectBusyError
from devenv.state import STATE_DIR, state_dir

LOCK_FILE = "lock"
NAME_WAIT = 1.0  # seconds a waiter waits for the holder's note before saying "another command"
POLL_SECONDS = 0.1
# attempts in a row that may find the lock file replaced under them before one counts as busy
_REPLACED_RETRIES = 5

# the projects this process holds or waits for: (pid, real path of the lock file)
_taken: set[tuple[int, str]] = set()
_taken_guard = threading.Lock()


@dataclass(frozen=True)
class Holder:
    """Who holds a project's lock, as written into the lock file."""

    pid: int
    command: str  # e.g. "devenv up"
    since: float  # time.time() when it took the lock


def lock_path(root: Path) -> Path:
    return root / STATE_DIR / LOCK_FILE


@contextmanager
def project_lock(
    root: Path,
    command: str,
    *,
    wait: float = 600.0,
    on_wait: Callable[[Holder | None], None] = lambda holder: None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[None]:
    """Hold the project's lock for the ``with`` block.

    When another command holds it, ``on_wait`` is called once with that holder (``None`` if
    the lock file cannot be read), then the lock is tried again every 0.1 s for up to ``wait``
    seconds (``0``: not at all) before :class:`ProjectBusyError` is raised. Anything raised
    while waiting (Ctrl-C's ``InterruptedByUser`` too) propagates with the lock file closed.
    """
    key = (os.getpid(), os.path.realpath(lock_path(root)))
    with _taken_guard:
        if key in _taken:
            raise RuntimeError(f"project_lock is not re-entrant: this process already holds or waits for {key[1]}")
        _taken.add(key)
    try:
        fd = _acquire(root, wait, on_wait, clock, sleep)
        try:
            _write_holder(fd, Holder(os.getpid(), command, time.time()))
            yield
        finally:
            try:
                os.ftruncate(fd, 0)
            finally:
                try:
                    fcntl.flock(fd, fcntl.LOCK_UN)
                finally:
                    os.close(fd)
    finally:
        with _taken_guard:
            _taken.discard(key)


def current_holder(root: Path) -> Holder | None:
    """Who holds the project's lock now, or ``None``. Reads the lock file and takes no lock
    (a probe would make a command starting at that moment find the project busy). A holder
    whose process is gone (killed before it could empty the file) counts as no holder."""
    holder = _read_holder(lock_path(root))
    if holder is None or not _alive(holder.pid):
        return None
    return holder


def _acquire(
    root: Path,
    wait: float,
    on_wait: Callable[[Holder | None], None],
    clock: Callable[[], float],
    sleep: Callable[[float], None],
) -> int:
    """The descriptor of the locked lock file; raises ProjectBusyError once ``wait`` has passed."""
    fd = _try_lock(root)
    if fd is not None:
        return fd
    if wait > 0:
        began = clock()
        deadline = began + wait
        # the holder writes who it is just after it takes the lock: give it a moment to
        # do so, so the user is told who holds the project rather than "another command"
        holder = current_holder(root)
        told = holder is not None
        if told:
            on_wait(holder)
        while (left := deadline - clock()) > 0:
            sleep(min(POLL_SECONDS, left))
            fd = _try_lock(root)
            if fd is not None:
                return fd
            if not told:
                holder = current_holder(root)
                if holder is not None or clock() - began >= NAME_WAIT:
                    told = True
                    on_wait(holder)
    raise _busy(current_holder(root))


def _try_lock(root: Path) -> int | None:
    """One attempt without blocking: the locked descriptor, or None while another holds it.
    No descriptor stays open when this returns None or raises."""
    for _ in range(_REPLACED_RETRIES):
        path = state_dir(root) / LOCK_FILE
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        except BaseException:
            os.close(fd)
            raise
        if _same_file(fd, path):
            return fd
        os.close(fd)  # locked an inode no longer at the path: that lock guards nothing
    return None


def _same_file(fd: int, path: Path) -> bool:
    try:
        on_disk = os.stat(path)
    except FileNotFoundError:
        return False
    opened = os.fstat(fd)
    return (on_disk.st_dev, on_disk.st_ino) == (opened.st_dev, opened.st_ino)


def _write_holder(fd: int, holder: Holder) -> None:
    # the same inode, emptied and rewritten in place; a raw descriptor has no buffer to flush
    data = (json.dumps(asdict(holder)) + "\n").encode("utf-8")
    os.ftruncate(fd, 0)
    os.pwrite(fd, data, 0)


def _read_holder(path: Path) -> Holder | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Holder(pid=int(data["pid"]), command=str(data["command"]), since=float(data["since"]))
    except (OSError, ValueError, TypeError, KeyError):  # missing, empty, half-written
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def _busy(holder: Holder | None) -> ProjectBusyError:
    if holder is None:
        return ProjectBusyError(
            "another devenv command holds this project",
            hint="wait for it to finish, or stop it; the lock goes away with its process",
        )
    held = max(0, round(time.time() - holder.since))
    return ProjectBusyError(
        f"another devenv command holds this project: {holder.command} (pid {holder.pid}), for {held}s",
        hint=f"wait for it to finish, or stop it (kill {holder.pid}); the lock goes away with its process",
    )
