"""`devenv logs` against the real engine: filters on real output, 200,000 lines, following
across restarts, crashes, recreations and late starts, Ctrl-C, a closed pipe and an engine
that goes away. Services are small `sh -c` loops in a local image."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

import pytest

from tests.integration.conftest import new_name, run_devenv, teardown, wait_for

IMAGE = "redis:7-alpine"  # a local stand-in with a POSIX sh, seq and sleep


def _service(script: str, **extra: str) -> str:
    script = script.replace("$", "$$")  # compose would interpolate them
    lines = [f"    image: {IMAGE}", "    init: true", f"    command: [sh, -c, {json.dumps(script)}]"]
    lines += [f"    {key}: {value}" for key, value in extra.items()]
    return "\n".join(lines)


@pytest.fixture
def project(tmp_path: Path):
    """A project of compose_files services only, started by `devenv up`, torn down after."""
    made: list[str] = []

    def make(services: dict[str, str]) -> tuple[Path, dict[str, str]]:
        name = new_name("logs")
        made.append(name)
        root = tmp_path / name
        root.mkdir()
        (root / "devenv.yaml").write_text("profiles: []\ncompose_files: [services.yaml]\ntimeout: 60\n")
        write_services(root, services)
        env = {"DEVENV_PROJECT_NAME": name}
        result = run_devenv("up", cwd=root, env=env)
        assert result.returncode == 0, result.stderr
        return root, env

    yield make
    for name in made:
        teardown(name)


def write_services(root: Path, services: dict[str, str]) -> None:
    text = "services:\n" + "".join(f"  {name}:\n{body}\n" for name, body in services.items())
    (root / "services.yaml").write_text(text)


def _printed(container: str, needle: str, timeout: float = 30) -> bool:
    def seen() -> bool:
        out = subprocess.run(["docker", "logs", "--tail", "3", container], capture_output=True, text=True)
        return needle in out.stdout + out.stderr

    return bool(wait_for(seen, timeout=timeout, interval=0.1))


def _follow(root: Path, env: dict[str, str], *args: str, **popen: object) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "devenv", "logs", "-f", *args],
        cwd=root,
        env={**os.environ, "NO_COLOR": "1", **env},
        stdout=popen.pop("stdout", subprocess.PIPE),  # type: ignore[arg-type]
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        **popen,  # type: ignore[call-overload]
    )


class Lines:
    """A follow's stdout read by a thread, to wait on."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.items: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(process,), daemon=True)
        self._thread.start()

    def _read(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            self.items.append(line.rstrip("\n"))

    def wait(self, predicate, timeout: float = 90) -> bool:  # generous: a loaded CI machine
        return bool(wait_for(lambda: any(predicate(item) for item in list(self.items)), timeout, 0.05))

    def json(self) -> list[dict]:
        return [json.loads(item) for item in list(self.items)]


def _children(pid: int) -> list[int]:
    rows = subprocess.run(["ps", "-eo", "pid=,ppid=,args="], capture_output=True, text=True).stdout.splitlines()
    return [int(r.split()[0]) for r in rows if int(r.split()[1]) == pid and "docker" in r]


def _alive(pids: list[int]) -> list[str]:
    rows = subprocess.run(["ps", "-eo", "pid=,stat=,args="], capture_output=True, text=True).stdout.splitlines()
    return [r for r in rows if int(r.split()[0]) in pids and not r.split()[1].startswith("Z")]


def test_filters_and_formats_on_real_output(project):
    app = (
        'echo \'{"level":"info","msg":"starting","port":8080}\'; echo \'plain line\'; '
        'echo \'{"level":"warn","msg":"slow query","ms":812}\'; echo \'error: disk full\' >&2; '
        "echo 'needle here'; echo 'after needle'; sleep infinity"
    )
    other = "echo other-one; sleep 0.3; echo other-two; sleep infinity"
    root, env = project({"app": _service(app), "other": _service(other)})
    name = env["DEVENV_PROJECT_NAME"]
    assert _printed(f"{name}-app-1", "after needle") and _printed(f"{name}-other-1", "other-two")

    unknown = run_devenv("logs", "nope", cwd=root, env=env)
    assert unknown.returncode == 2, unknown.stderr
    assert "error: no service named 'nope' in this project" in unknown.stderr
    assert "hint: the services are: app, other" in unknown.stderr
    bad = run_devenv("logs", "--since", "yesterday", cwd=root, env=env)
    assert bad.returncode == 2 and "cannot read the time 'yesterday'" in bad.stderr and "Traceback" not in bad.stderr

    every = run_devenv("logs", "-t", "--json", cwd=root, env=env)
    assert every.returncode == 0, every.stderr
    items = [json.loads(line) for line in every.stdout.splitlines()]
    assert [i["time"] for i in items] == sorted(i["time"] for i in items)  # RFC 3339 UTC: text order is time order
    assert {i["service"] for i in items} == {"app", "other"}
    warn = next(i for i in items if i["message"].startswith('{"level":"warn"'))
    assert warn["fields"] == {"level": "warn", "msg": "slow query", "ms": 812} and warn["stream"] == "stdout"
    assert next(i for i in items if i["message"] == "error: disk full")["stream"] == "stderr"
    assert warn["container"] == f"{name}-app-1"

    plain = run_devenv("logs", "app", cwd=root, env=env).stdout.splitlines()
    assert "app | plain line" in plain and "app ! error: disk full" in plain

    split = run_devenv("logs", "app", "--no-prefix", cwd=root, env=env)
    assert "plain line\n" in split.stdout and "error: disk full" not in split.stdout
    assert split.stderr.strip() == "error: disk full"

    assert run_devenv("logs", "other", "--tail", "1", cwd=root, env=env).stdout == "other | other-two\n"
    assert run_devenv("logs", "--since", "2099-01-01T00:00:00Z", cwd=root, env=env).stdout == ""
    assert len(run_devenv("logs", "--since", "1h", cwd=root, env=env).stdout.splitlines()) == len(items)

    grep = run_devenv("logs", "app", "--grep", "^needle", "-C", "1", cwd=root, env=env).stdout.splitlines()
    assert grep[-2:] == ["app | needle here", "app | after needle"] and len(grep) == 3

    levels = run_devenv("logs", "--level", "warn", "--no-prefix", cwd=root, env=env)
    assert levels.stdout.splitlines() == ['{"level":"warn","msg":"slow query","ms":812}']
    assert levels.stderr.strip() == "error: disk full"

    subprocess.run(["docker", "rm", "-f", f"{name}-other-1"], capture_output=True, check=True)
    gone = run_devenv("logs", "other", cwd=root, env=env)
    assert (gone.returncode, gone.stdout) == (0, "") and "note: other has no container" in gone.stderr


def test_200000_lines_arrive_once_each_in_order(project):
    mixed = 'i=0; while [ $i -lt 3000 ]; do echo "out $i"; echo "err $i" >&2; i=$((i+1)); done; sleep infinity'
    root, env = project({"bulk": _service("seq 200000; echo done; sleep infinity"), "mixed": _service(mixed)})
    name = env["DEVENV_PROJECT_NAME"]
    assert _printed(f"{name}-bulk-1", "done", timeout=60)

    def mixed_printed() -> bool:
        out = subprocess.run(["docker", "logs", f"{name}-mixed-1"], capture_output=True, text=True)
        return "out 2999\n" in out.stdout and "err 2999\n" in out.stderr

    assert wait_for(mixed_printed, timeout=60, interval=0.2)
    # one service off a terminal: one stream from the engine; devenv.yaml just changed, so the
    # project is loaded through the CLI, and the request was sent as devenv started
    os.utime(root / "devenv.yaml")
    result = run_devenv("logs", "bulk", "--no-prefix", cwd=root, env={**env, "DEVENV_DEBUG": "1"})
    assert result.returncode == 0, result.stderr
    assert result.stdout == "".join(f"{n}\n" for n in range(1, 200001)) + "done\n"
    asked = [line for line in result.stderr.splitlines() if "/logs?" in line]
    assert len(asked) == 1 and f"/containers/{name}-bulk-1/logs?" in asked[0]
    assert asked[0].endswith("(started early)")  # the request made as devenv started was the one used
    # the project's names remembered (the files are older than 2 s): run without the CLI
    old = time.time() - 10
    os.utime(root / "devenv.yaml", (old, old))
    assert run_devenv("status", cwd=root, env=env).returncode == 0  # loads the project: remembers
    assert (root / ".devenv" / "logs.json").is_file()
    tail = run_devenv("logs", "bulk", "--tail", "2", cwd=root, env=env)
    assert tail.stdout == "bulk | 200000\nbulk | done\n"
    again = run_devenv("logs", "bulk", "--no-prefix", cwd=root, env=env)
    assert again.stdout == result.stdout
    # stdout and stderr of one container stay apart, each in its order, none lost
    both = run_devenv("logs", "mixed", cwd=root, env=env)
    lines = both.stdout.splitlines()
    assert [line for line in lines if line.startswith("mixed | ")] == [f"mixed | out {i}" for i in range(3000)]
    assert [line for line in lines if line.startswith("mixed ! ")] == [f"mixed ! err {i}" for i in range(3000)]
    assert len(lines) == 6000
    apart = run_devenv("logs", "mixed", "--no-prefix", cwd=root, env=env)
    assert apart.stdout == "".join(f"out {i}\n" for i in range(3000))
    assert apart.stderr == "".join(f"err {i}\n" for i in range(3000))


def test_follow_survives_restart_crash_recreate_and_a_late_start_then_ctrl_c_ends_it(project):
    ticker = (
        'boot=$(cat /proc/sys/kernel/random/uuid); n=0; while true; do n=$((n+1)); echo "$boot $n"; sleep 0.05; done'
    )
    crasher = (
        "if [ -e /tmp/crashed ]; then echo crash-again-run; sleep infinity; fi; echo crash-run; "
        "while [ ! -e /tmp/crash ]; do sleep 0.1; done; touch /tmp/crashed; exit 3"
    )
    root, env = project(
        {
            "ticker": _service(ticker, environment="{GEN: one}"),
            "crasher": _service(crasher, restart="on-failure"),
            "late": _service("echo late-hello; sleep infinity"),
        }
    )
    name = env["DEVENV_PROJECT_NAME"]
    subprocess.run(["docker", "rm", "-f", f"{name}-late-1"], capture_output=True, check=True)
    follow = _follow(root, env, "--json", "--tail", "5")
    lines = Lines(follow)
    try:
        assert lines.wait(lambda line: '"ticker"' in line), follow.stderr
        subprocess.run(["docker", "restart", "-t", "1", f"{name}-ticker-1"], capture_output=True, check=True)
        assert lines.wait(lambda line: '"ticker restarted"' in line)
        # a change recreates the ticker (a new container id); `up` brings the removed `late` back
        write_services(
            root,
            {
                "ticker": _service(ticker, environment="{GEN: two}"),
                "crasher": _service(crasher, restart="on-failure"),
                "late": _service("echo late-hello; sleep infinity"),
            },
        )
        up = run_devenv("up", cwd=root, env=env)
        assert up.returncode == 0, up.stderr
        assert lines.wait(lambda line: '"ticker recreated"' in line)
        assert lines.wait(lambda line: '"late-hello"' in line)
        # a crash, and the restart policy starting it again
        subprocess.run(["docker", "exec", f"{name}-crasher-1", "touch", "/tmp/crash"], capture_output=True, check=True)
        assert lines.wait(lambda line: '"crash-again-run"' in line)
        time.sleep(0.5)
        children = _children(follow.pid)
        assert children, "the follow runs docker logs/events as its children"
        follow.send_signal(signal.SIGINT)
        assert follow.wait(timeout=20) == 130
    finally:
        if follow.poll() is None:
            follow.kill()
    assert "Traceback" not in follow.stderr.read()
    assert wait_for(lambda: not _alive(children), timeout=10), _alive(children)

    records = lines.json()
    events = [(r["service"], r["message"]) for r in records if r["stream"] == "devenv"]
    assert ("ticker", "ticker exited with code 137") in events or ("ticker", "ticker exited with code 143") in events
    assert ("ticker", "ticker restarted") in events and ("ticker", "ticker recreated") in events
    assert ("late", "late started") in events
    assert events.index(("crasher", "crasher exited with code 3")) < events.index(("crasher", "crasher restarted"))
    crasher_lines = [r["message"] for r in records if r["service"] == "crasher" and r["stream"] == "stdout"]
    assert crasher_lines == ["crash-run", "crash-again-run"]
    # every boot of the ticker counts up by one: none lost or printed twice after the first one seen
    counts: dict[str, list[int]] = defaultdict(list)
    for r in records:
        if r["service"] == "ticker" and r["stream"] == "stdout":
            boot, n = r["message"].split()
            counts[boot].append(int(n))
    assert len(counts) >= 3, counts.keys()  # first run, after the restart, the recreated one
    for boot, numbers in counts.items():
        assert numbers == list(range(numbers[0], numbers[0] + len(numbers))), boot
    later = list(counts.values())[1:]
    assert all(numbers[0] == 1 for numbers in later)  # a restarted or new container from its start


def test_a_closed_pipe_ends_the_follow_quietly(project):
    root, env = project({"chatty": _service("while true; do echo chatter; sleep 0.02; done")})
    command = f"{sys.executable} -m devenv logs -f chatty | head -n 3"
    done = subprocess.run(
        ["bash", "-o", "pipefail", "-c", command],
        cwd=root,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "chatty | chatter\n" * 3
    assert done.stderr == ""
    name = env["DEVENV_PROJECT_NAME"]
    rows = subprocess.run(["ps", "-eo", "args="], capture_output=True, text=True).stdout.splitlines()
    assert not [r for r in rows if r.startswith("docker ") and name in r]


class _Proxy:
    """The engine's socket behind one devenv can lose: stop() is the engine going away."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.server = socket.socket(socket.AF_UNIX)
        self.server.bind(str(path))
        self.server.listen(16)
        self.open: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            engine = socket.socket(socket.AF_UNIX)
            engine.connect("/var/run/docker.sock")
            self.open += [client, engine]
            for a, b in ((client, engine), (engine, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                try:
                    end.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def stop(self) -> None:
        self.server.close()
        self.path.unlink()
        for sock in self.open:
            try:
                sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            except OSError:
                pass


def test_the_engine_going_away_mid_follow_is_a_clear_error(project, tmp_path):
    if not Path("/var/run/docker.sock").exists():
        pytest.fail("this test reaches the engine through /var/run/docker.sock")
    root, env = project({"ticker": _service("while true; do echo tick; sleep 0.1; done")})
    proxy = _Proxy(tmp_path / "engine.sock")
    follow = _follow(root, {**env, "DOCKER_HOST": f"unix://{proxy.path}"})
    lines = Lines(follow)
    try:
        assert lines.wait(lambda line: "tick" in line)
        children = _children(follow.pid)
        proxy.stop()
        code = follow.wait(timeout=30)
    finally:
        if follow.poll() is None:
            follow.kill()
    stderr = follow.stderr.read()
    assert code == 21, stderr
    assert "error: the Docker engine is not reachable" in stderr and "Traceback" not in stderr
    assert wait_for(lambda: not _alive(children), timeout=10), _alive(children)


def test_up_follow_follows_until_ctrl_c_and_leaves_the_stack_running(project):
    root, env = project({"ticker": _service("while true; do echo up-tick; sleep 0.1; done")})
    follow = subprocess.Popen(
        [sys.executable, "-m", "devenv", "up", "--follow"],
        cwd=root,
        env={**os.environ, "NO_COLOR": "1", **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    lines = Lines(follow)
    try:
        assert lines.wait(lambda line: line == "ticker | up-tick")
        follow.send_signal(signal.SIGINT)
        assert follow.wait(timeout=20) == 0
    finally:
        if follow.poll() is None:
            follow.kill()
    assert "Traceback" not in follow.stderr.read()
    state = subprocess.run(
        ["docker", "inspect", "--format", "{{.State.Status}}", f"{env['DEVENV_PROJECT_NAME']}-ticker-1"],
        capture_output=True,
        text=True,
    )
    assert state.stdout.strip() == "running"
