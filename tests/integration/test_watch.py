"""`devenv watch` on the real engine (docs/how-to/hot-reload.md): in sync mode (forced in
devenv.yaml) saves in place and by rename reach the container, deletions too; changes made
while nothing watched are applied when watching starts; a burst of 2,000 files is one action;
a Dockerfile change rebuilds and recreates the api; Ctrl-C leaves no docker process behind.

The api is a small node:http server (node:20-alpine, a local image; no npm install) that
answers with a file of its source folder, so a test can ask it what the container has."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.integration.conftest import http, run_devenv, status, wait_for

SERVER = """
const http = require("http");
const fs = require("fs");
const server = http.createServer((req, res) => {
  if (req.url === "/health") { res.end("{}"); return; }
  const name = decodeURIComponent(req.url.slice(1));
  fs.readFile("/app/src/" + name, "utf8", (err, text) => {
    res.setHeader("Content-Type", "application/json");
    if (err) { res.statusCode = 404; res.end(JSON.stringify({ missing: name })); return; }
    res.end(JSON.stringify({ text }));
  });
});
process.on("SIGTERM", () => server.close(() => process.exit(0)));
server.listen(Number(process.env.PORT || 3000));
"""

DOCKERFILE = """
FROM node:20-alpine
WORKDIR /app
COPY src ./src
CMD ["node", "src/server.js"]
"""


def config(on_change: str = "reload", mode: str = "sync") -> str:
    return f"""
        profiles: [api]
        timeout: 120
        api:
          build: {{context: .}}
          port: 0
          health_path: /health
          volumes: ["./src:/app/src"]
          reload: {{mode: {mode}, on_change: {on_change}}}
        """


@pytest.fixture
def api(project):
    """make(on_change, mode) -> (root, env, url): the small api, up and answering."""

    def make(on_change: str = "reload", mode: str = "sync") -> tuple[Path, dict[str, str], str]:
        root, env = project(
            config(on_change, mode),
            {"Dockerfile": DOCKERFILE, "src/server.js": SERVER, "src/a.txt": "a1", "src/b.txt": "b1"},
        )
        result = run_devenv("up", cwd=root, env=env)
        assert result.returncode == 0, result.stdout + result.stderr
        url = next(u for u in status(root, env)["api"]["urls"] if u.startswith("http://"))
        return root, env, url.rstrip("/")

    return make


def served(url: str, name: str) -> str | None:
    """What the api answers for a file of its source folder (None: missing or not answering)."""
    try:
        code, body = http("GET", f"{url}/{name}", timeout=2)
    except OSError:
        return None
    return body.get("text") if code == 200 else None


class Watching:
    """`devenv watch` running as a user runs it; its stdout lines read by a thread."""

    def __init__(self, root: Path, env: dict[str, str], *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "devenv", *(args or ("watch",))],
            cwd=root,
            env={**os.environ, "NO_COLOR": "1", **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def line(self, pattern: str, timeout: float = 90) -> str:
        """The first line matching (waiting for it); fails with what was printed."""
        found = wait_for(lambda: next((x for x in list(self.lines) if re.search(pattern, x)), None), timeout, 0.02)
        assert found, (
            f"no line matching {pattern!r} in {timeout}s; printed:\n"
            + "\n".join(self.lines)
            + ("\n" + self.stderr() if self.process.poll() is not None else "")
        )
        return str(found)

    def actions(self) -> list[str]:
        """The lines that report an action (not the first 'watching …' line)."""
        return [x for x in list(self.lines) if re.match(r"\d\d:\d\d:\d\d ", x)]

    def stderr(self) -> str:
        assert self.process.stderr is not None
        return self.process.stderr.read()

    def interrupt(self) -> int:
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(timeout=60)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def watch():
    started: list[Watching] = []

    def start(root: Path, env: dict[str, str], *args: str) -> Watching:
        watching = Watching(root, env, *args)
        started.append(watching)
        return watching

    yield start
    for watching in started:
        watching.close()


def container_has(env: dict[str, str], path: str) -> str | None:
    name = f"{env['DEVENV_PROJECT_NAME']}-api-1"
    found = subprocess.run(["docker", "exec", name, "cat", path], capture_output=True, text=True)
    return found.stdout if found.returncode == 0 else None


def test_sync_mode_saves_in_place_and_by_rename_and_deletes_reach_the_container(api, watch):
    root, env, url = api()
    watching = watch(root, env)
    watching.line(r"initial sync: api has the host's 3 file\(s\) already")
    source = root / "src"

    for i in range(5):  # in place: the same file written again
        (source / "a.txt").write_text(f"in place {i}")
        assert wait_for(lambda i=i: served(url, "a.txt") == f"in place {i}", 20, 0.02), watching.lines
    for i in range(20):  # by rename, as vim and JetBrains save: a new file renamed over the old
        temporary = source / f".a.txt.{i}.tmp"
        temporary.write_text(f"rename {i}")
        os.replace(temporary, source / "a.txt")
        assert wait_for(lambda i=i: served(url, "a.txt") == f"rename {i}", 20, 0.02), watching.lines
    (source / "new").mkdir()
    (source / "new" / "c.txt").write_text("c1")
    assert wait_for(lambda: served(url, "new/c.txt") == "c1", 20, 0.02), watching.lines

    (source / "b.txt").unlink()
    assert wait_for(lambda: container_has(env, "/app/src/b.txt") is None, 20, 0.05), watching.lines
    watching.line(r"src/b\.txt changed · synced into api \(1 deleted\) · \d+\.\d\d s")
    (source / "new" / "c.txt").unlink()
    (source / "new").rmdir()
    assert wait_for(lambda: container_has(env, "/app/src/new/c.txt") is None, 20, 0.05), watching.lines
    # the temporary files of the rename saves never reached the container, and needed no deletion
    assert not any(".tmp" in line for line in watching.actions()), watching.lines
    assert watching.interrupt() == 130


def test_changes_made_while_not_watching_are_applied_when_watching_starts(api, watch):
    root, env, url = api()
    source = root / "src"
    (source / "a.txt").write_text("edited while not watching")
    (source / "b.txt").unlink()
    (source / "c.txt").write_text("created while not watching")
    watching = watch(root, env)
    watching.line(r"initial sync: synced what changed while not watching \(2 copied, 1 deleted\)")
    assert served(url, "a.txt") == "edited while not watching"
    assert served(url, "c.txt") == "created while not watching"
    assert served(url, "b.txt") is None
    assert watching.interrupt() == 130

    # the next start finds nothing to do
    again = watch(root, env)
    again.line(r"initial sync: api has the host's 3 file\(s\) already")
    assert again.interrupt() == 130


def test_an_api_recreated_by_up_while_watching_gets_the_hosts_files_again(api, watch):
    root, env, url = api()
    watching = watch(root, env)
    watching.line(r"initial sync")
    (root / "src" / "a.txt").write_text("edited")
    assert wait_for(lambda: served(url, "a.txt") == "edited", 20, 0.02), watching.lines
    name = env["DEVENV_PROJECT_NAME"]
    subprocess.run(["docker", "rm", "-f", f"{name}-api-1"], capture_output=True, check=True)
    result = run_devenv("up", cwd=root, env=env)  # a new container, from the image's copy
    assert result.returncode == 0, result.stderr
    watching.line(r"api's container is new \(recreated\) · synced what changed while not watching \(1 copied\)")
    url = next(u for u in status(root, env)["api"]["urls"] if u.startswith("http://")).rstrip("/")
    assert served(url, "a.txt") == "edited"
    assert watching.interrupt() == 130


def test_a_burst_of_two_thousand_files_is_one_sync_and_one_restart(api, watch):
    root, env, url = api(on_change="restart")
    watching = watch(root, env)
    watching.line(r"initial sync")
    burst = root / "src" / "burst"
    burst.mkdir()
    for i in range(2000):  # as a branch switch or a code generator writes them
        (burst / f"f{i}.txt").write_text(str(i))
    line = watching.line(r"changed .*synced into api \(2000 copied\), restarted api, answering again")
    time.sleep(3)  # time for a second action, if the burst were split
    assert len(watching.actions()) == 2, watching.lines  # the initial sync, and the burst
    assert "files changed" in line
    url = next(u for u in status(root, env)["api"]["urls"] if u.startswith("http://")).rstrip("/")  # port 0: a new one
    assert served(url, "burst/f1999.txt") == "1999"
    assert watching.interrupt() == 130


def test_mounted_with_the_app_reloading_itself_only_says_so(api, watch):
    root, env, url = api(mode="mount")
    watching = watch(root, env)
    watching.line(r"^watching 1 path\(s\) for api \(mount")
    (root / "src" / "a.txt").write_text("mounted")
    watching.line(r"src/a\.txt changed · api reloads it itself$")
    assert served(url, "a.txt") == "mounted"  # the bind mount brought it
    assert watching.interrupt() == 130


def test_up_watch_starts_the_stack_then_goes_on_watching(project, watch):
    root, env = project(
        config(on_change="restart", mode="mount"),
        {"Dockerfile": DOCKERFILE, "src/server.js": SERVER, "src/a.txt": "a1"},
    )
    watching = watch(root, env, "up", "--watch")
    watching.line(r"^watching 1 path\(s\) for api \(mount", 180)
    assert status(root, env)["api"]["ready"] is True  # up had finished: the stack answers
    (root / "src" / "a.txt").write_text("a2")
    watching.line(r"src/a\.txt changed · restarted api, answering again · \d+\.\d\d s")
    assert watching.interrupt() == 130
    assert status(root, env)["api"]["state"] == "running"  # the stack keeps running


def _docker_processes(name: str) -> list[str]:
    rows = subprocess.run(["ps", "-eo", "pid=,stat=,args="], capture_output=True, text=True).stdout.splitlines()
    return [r for r in rows if "docker" in r and name in r and not r.split()[1].startswith("Z")]


def test_a_dockerfile_change_rebuilds_and_recreates_the_api_and_ctrl_c_leaves_nothing_running(api, watch):
    root, env, _ = api()
    name = env["DEVENV_PROJECT_NAME"]
    watching = watch(root, env)
    watching.line(r"initial sync")
    dockerfile = root / "Dockerfile"
    dockerfile.write_text(DOCKERFILE.replace("WORKDIR /app", "WORKDIR /app\nENV MARKER=rebuilt"))
    watching.line(r"Dockerfile changed · rebuilt api and recreated it, answering again .*\(build \d+\.\d s\)", 180)
    marker = subprocess.run(
        ["docker", "exec", f"{name}-api-1", "printenv", "MARKER"], capture_output=True, text=True
    ).stdout.strip()
    assert marker == "rebuilt"
    url = next(u for u in status(root, env)["api"]["urls"] if u.startswith("http://")).rstrip("/")  # port 0: a new one
    assert served(url, "a.txt") == "a1"

    # Ctrl-C in the middle of the next rebuild: devenv ends the build it started, exit 130
    dockerfile.write_text(DOCKERFILE.replace("WORKDIR /app", "WORKDIR /app\nRUN sleep 30"))
    assert wait_for(lambda: _docker_processes(name), 60, 0.05), watching.lines
    assert watching.interrupt() == 130
    assert "stopped watching" in watching.stderr()
    time.sleep(0.5)
    assert _docker_processes(name) == []
    assert run_devenv("status", cwd=root, env=env).returncode == 0  # the stack keeps running


def test_mounted_with_restart_a_file_changed_while_not_watching_restarts_the_api_at_start(api, watch):
    root, env, _ = api(on_change="restart", mode="mount")
    time.sleep(1.1)  # file times have a second's resolution on some file systems
    (root / "src" / "a.txt").write_text("edited while not watching")
    watching = watch(root, env)
    watching.line(r"src/a\.txt changed while not watching · restarted api, answering again · \d+\.\d\d s")
    assert watching.interrupt() == 130
    again = watch(root, env)  # the api started after the edit: nothing to do
    again.line(r"^watching")
    time.sleep(2)
    assert again.actions() == [], again.lines
    assert again.interrupt() == 130


@pytest.mark.parametrize("path", ["api", "cli"])
def test_the_engines_copy_delete_checksum_and_restart_on_the_api_and_through_the_cli(path, monkeypatch, tmp_path):
    """The Engine API on the local socket, and the docker CLI that remote engines get."""
    import io
    import tarfile

    from devenv import engine as engine_module
    from tests.integration.conftest import new_name

    if path == "cli":
        monkeypatch.setattr(engine_module, "local_socket", lambda: None)
    name = new_name("watchengine")
    subprocess.run(
        ["docker", "run", "-d", "--name", name, "--init", "redis:7-alpine", "sleep", "600"],
        check=True,
        capture_output=True,
    )
    try:
        docker = engine_module.DockerEngine()
        archive = io.BytesIO()
        with tarfile.open(fileobj=archive, mode="w") as tar:
            for file, text in (("srv/app/a.txt", b"alpha"), ("srv/app/deep/b.txt", b"beta")):
                info = tarfile.TarInfo(file)
                info.size = len(text)
                tar.addfile(info, io.BytesIO(text))
        archive.seek(0)
        docker.copy_into(name, archive)
        sums = docker.checksums(name, "/srv/app", [])
        assert sums == {
            "/srv/app/a.txt": "2c1743a391305fbf367df8e4f069f9f9",  # md5("alpha")
            "/srv/app/deep/b.txt": "987bcab01b929eb2c07877b224215c92",  # md5("beta")
        }
        assert docker.checksums(name, "/srv/app", ["/srv/app/deep"]) == {"/srv/app/a.txt": sums["/srv/app/a.txt"]}
        assert docker.checksums(name, "/nowhere", []) == {}
        docker.remove_in(name, ["/srv/app/deep"])
        assert docker.checksums(name, "/srv/app", []) == {"/srv/app/a.txt": sums["/srv/app/a.txt"]}
        before = subprocess.run(
            ["docker", "inspect", "-f", "{{.State.StartedAt}}", name], capture_output=True, text=True
        )
        docker.restart(name, timeout=1)
        after = subprocess.run(
            ["docker", "inspect", "-f", "{{.State.StartedAt}} {{.State.Running}}", name], capture_output=True, text=True
        )
        assert after.stdout.split()[0] != before.stdout.strip() and after.stdout.split()[1] == "true"
        with pytest.raises(engine_module.DevenvError, match=f"{name}-missing"):
            docker.copy_into(f"{name}-missing", io.BytesIO(b""))
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True)
