"""The per-project lock, on real files. Other holders are real processes (``python -c``),
because a lock that only works inside one process would pass tests run in one process."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from devenv.errors import ExitCode, InterruptedByUser, ProjectBusyError
from devenv.lock import Holder, current_holder, lock_path, project_lock

REPO = Path(__file__).resolve().parents[2]

# takes the lock, says so, and lets go when its stdin closes
HOLD = """
import sys
from pathlib import Path
from devenv.lock import project_lock
with project_lock(Path(sys.argv[1]), sys.argv[2], wait=0):
    print("locked", flush=True)
    sys.stdin.read()
print("released", flush=True)
"""


@pytest.fixture
def other(tmp_path: Path) -> Iterator[Callable[[str], subprocess.Popen[str]]]:
    """Start another process holding tmp_path's lock for a command; it lets go when its stdin closes."""
    started: list[subprocess.Popen[str]] = []

    def start(command: str) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [sys.executable, "-c", HOLD, str(tmp_path), command],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )
        started.append(proc)
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line == "locked\n", proc.stderr.read() if proc.stderr else line
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def release(proc: subprocess.Popen[str]) -> None:
    assert proc.stdin is not None
    proc.stdin.close()


def forbidden(*args: object) -> None:
    pytest.fail(f"called with {args}")


def fds_open_on(path: Path) -> list[str]:
    fds = []
    for name in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{name}") == str(path):
                fds.append(name)
        except OSError:  # the fd listdir itself used, closed by now
            pass
    return fds


def test_uncontended_lock_is_taken_at_once_and_released(tmp_path: Path) -> None:
    before = time.time()
    with project_lock(tmp_path, "devenv up", wait=0, on_wait=forbidden, sleep=forbidden):
        holder = current_holder(tmp_path)
        assert holder is not None
        assert (holder.pid, holder.command) == (os.getpid(), "devenv up")
        assert before <= holder.since <= time.time()
        assert lock_path(tmp_path) == tmp_path / ".devenv" / "lock"
        assert (tmp_path / ".devenv" / ".gitignore").is_file()  # made by state.state_dir
    assert current_holder(tmp_path) is None
    assert lock_path(tmp_path).read_text() == ""  # emptied, not removed
    with project_lock(tmp_path, "devenv down", wait=0):  # free again
        assert current_holder(tmp_path) == Holder(os.getpid(), "devenv down", current_holder(tmp_path).since)


def test_current_holder_is_none_when_nobody_holds_the_lock(tmp_path: Path) -> None:
    assert current_holder(tmp_path) is None
    assert not (tmp_path / ".devenv").exists()  # only reads: makes no folder
    (tmp_path / ".devenv").mkdir()
    for text in ("", "{not json", '{"pid": 1}', "[]"):
        lock_path(tmp_path).write_text(text)
        assert current_holder(tmp_path) is None


@pytest.mark.timeout(30)
def test_waits_for_a_holder_in_another_process_then_takes_the_lock(tmp_path: Path, other) -> None:
    holding = other("devenv down")
    seen: list[Holder | None] = []
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) == 3:  # the first polls find it still held
            release(holding)
        time.sleep(seconds)

    with project_lock(tmp_path, "devenv up", wait=20, on_wait=seen.append, sleep=sleep):
        assert holding.stdout is not None and holding.stdout.readline() == "released\n"
        assert current_holder(tmp_path).pid == os.getpid()
    assert [(h.pid, h.command) for h in seen if h] == [(holding.pid, "devenv down")]
    assert len(seen) == 1
    assert len(sleeps) >= 3 and max(sleeps) <= 0.1
    assert holding.wait(timeout=10) == 0


def test_no_wait_with_a_holder_fails_at_once_naming_command_and_pid(tmp_path: Path, other) -> None:
    holding = other("devenv up")
    busy = pytest.raises(ProjectBusyError)
    with busy as info, project_lock(tmp_path, "devenv down", wait=0, on_wait=forbidden, sleep=forbidden):
        pytest.fail("took a lock another process holds")
    error = info.value
    assert error.code == ExitCode.PROJECT_BUSY == 32
    assert error.message.startswith(f"another devenv command holds this project: devenv up (pid {holding.pid}), for ")
    assert error.message.endswith("s")
    assert f"kill {holding.pid}" in error.hint
    assert current_holder(tmp_path).pid == holding.pid  # untouched by the failed attempt


def test_waiting_gives_up_after_wait_seconds(tmp_path: Path, other) -> None:
    holding = other("devenv up")
    now = [1000.0]
    sleeps: list[float] = []
    seen: list[Holder | None] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        now[0] += seconds

    busy = pytest.raises(ProjectBusyError, match=rf"devenv up \(pid {holding.pid}\)")
    lock = project_lock(tmp_path, "devenv down", wait=5, on_wait=seen.append, clock=lambda: now[0], sleep=sleep)
    with busy, lock:
        pytest.fail("took a lock another process holds")
    assert [h.pid for h in seen if h] == [holding.pid] and len(seen) == 1
    assert sum(sleeps) == pytest.approx(5)
    assert max(sleeps) <= 0.1 and len(sleeps) == pytest.approx(50, abs=1)


def test_a_sigkilled_holder_frees_the_lock_at_once(tmp_path: Path, other) -> None:
    holding = other("devenv up")
    assert current_holder(tmp_path).pid == holding.pid
    holding.kill()  # SIGKILL: no cleanup runs in the holder
    holding.wait()
    assert f'"pid": {holding.pid}' in lock_path(tmp_path).read_text()  # its note is still there...
    assert current_holder(tmp_path) is None  # ...but names a process that is gone
    with project_lock(tmp_path, "devenv down", wait=0, on_wait=forbidden, sleep=forbidden):
        assert current_holder(tmp_path).command == "devenv down"


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc")
def test_an_interrupt_while_waiting_propagates_with_the_file_closed(tmp_path: Path, other) -> None:
    holding = other("devenv up")

    def interrupted(seconds: float) -> None:
        raise InterruptedByUser()

    with pytest.raises(InterruptedByUser), project_lock(tmp_path, "devenv down", wait=30, sleep=interrupted):
        pytest.fail("took a lock another process holds")
    assert fds_open_on(lock_path(tmp_path)) == []
    release(holding)
    holding.wait(timeout=10)
    with project_lock(tmp_path, "devenv down", wait=0):  # this process may try again
        pass


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc")
def test_an_interrupt_inside_flock_propagates_with_the_file_closed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def flock(fd: int, operation: int) -> None:
        raise InterruptedByUser()

    monkeypatch.setattr(fcntl, "flock", flock)
    with pytest.raises(InterruptedByUser), project_lock(tmp_path, "devenv up", wait=0):
        pytest.fail("took a lock while interrupted")
    assert fds_open_on(lock_path(tmp_path)) == []


def test_one_process_cannot_take_a_project_twice(tmp_path: Path) -> None:
    with project_lock(tmp_path, "devenv up"):
        # flock on a second open file description would conflict with our own and wait for itself
        refused = pytest.raises(RuntimeError, match="not re-entrant")
        with refused, project_lock(tmp_path, "devenv seed", on_wait=forbidden, sleep=forbidden):
            pytest.fail("took the lock twice")
        assert current_holder(tmp_path).command == "devenv up"
    with project_lock(tmp_path, "devenv down", wait=0):  # the refused attempt left nothing behind
        pass


def test_a_second_open_of_the_lock_file_conflicts_even_in_the_holding_process(tmp_path: Path) -> None:
    with project_lock(tmp_path, "devenv up"):
        fd = os.open(lock_path(tmp_path), os.O_RDWR)
        try:
            with pytest.raises(BlockingIOError):
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(fd)


def test_a_lock_file_replaced_between_open_and_flock_is_not_trusted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_flock = fcntl.flock
    calls: list[int] = []

    def flock(fd: int, operation: int) -> None:
        if not calls:  # someone clears .devenv/lock just after this attempt opened it
            lock_path(tmp_path).unlink()
        calls.append(operation)
        real_flock(fd, operation)

    monkeypatch.setattr(fcntl, "flock", flock)
    with project_lock(tmp_path, "devenv up", wait=0):
        # held on the file at the path, where the next command looks, not on the orphaned inode
        assert current_holder(tmp_path).pid == os.getpid()


def test_a_waiter_that_looks_before_the_holder_wrote_its_note_still_names_it(tmp_path: Path, monkeypatch) -> None:
    """The holder takes the lock, then writes who it is: a waiter in between must not settle
    for "another command"."""
    from devenv import lock

    lock_path(tmp_path).parent.mkdir(parents=True, exist_ok=True)
    fcntl_fd = os.open(lock_path(tmp_path), os.O_RDWR | os.O_CREAT)
    fcntl.flock(fcntl_fd, fcntl.LOCK_EX)  # held, with no note yet
    notes = iter([None, None, Holder(4242, "devenv up", 0.0)])
    monkeypatch.setattr(lock, "current_holder", lambda root: next(notes, Holder(4242, "devenv up", 0.0)))
    now = [0.0]
    seen: list[Holder | None] = []
    try:
        with (
            pytest.raises(ProjectBusyError),
            project_lock(
                tmp_path,
                "devenv up",
                wait=3,
                on_wait=seen.append,
                clock=lambda: now[0],
                sleep=lambda s: now.__setitem__(0, now[0] + s),
            ),
        ):
            pass
    finally:
        os.close(fcntl_fd)
    assert seen == [Holder(4242, "devenv up", 0.0)]
