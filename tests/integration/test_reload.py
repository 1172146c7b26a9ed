"""Hot reload on the real engine, the setup half (docs/how-to/hot-reload.md): the example's
reloader sees saves by rename, a manifest change rebuilds the api with its new dependency,
dependency folders live in volumes named by the manifests' hash (fresh after a lockfile
change, the old one reused after switching back), and `down` leaves no anonymous volume."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from tests.integration.conftest import copy_example, http, new_name, run_devenv, status, teardown, volumes, wait_for

# `ms` 2.1.3 as npm's lockfile records it (npm ci fetches it from the configured registry)
MS_LOCK_ENTRY = {
    "version": "2.1.3",
    "integrity": "sha512-6FlzubTLZG3J2a/NVCAleEhjzq5oxgHyaCU9yYXvcLsvoVaHJq/s5xXI6/XXP6tz7R9xAOtHnSO/tXtF3WRTlA==",
    "license": "MIT",
}


@pytest.fixture(scope="module")
def shop(tmp_path_factory, docker_engine):
    name = new_name("reload")
    root = copy_example(tmp_path_factory.mktemp("reload") / "shop")
    env = {"DEVENV_PROJECT_NAME": name}
    first = run_devenv("up", cwd=root, env=env)
    try:
        yield {"name": name, "root": root, "env": env, "first": first}
    finally:
        teardown(name)


def api_url(shop) -> str:
    urls = status(shop["root"], shop["env"])["api"]["urls"]
    return next(u for u in urls if u.startswith("http://"))


def message(url: str) -> str | None:
    try:
        code, body = http("GET", url, timeout=2)
    except OSError:  # restarting
        return None
    return body.get("message") if code == 200 else None


def test_twenty_saves_by_rename_in_a_row_each_reach_the_api(shop):
    assert shop["first"].returncode == 0, shop["first"].stdout + shop["first"].stderr
    url = api_url(shop)
    hello = shop["root"] / "src" / "hello.js"
    original = hello.read_text()
    assert message(url) == "hello from shop"
    try:
        for i in range(20):  # as vim and JetBrains' safe write save: a new file renamed over the old
            temp = hello.with_name(f".hello.js.{i}.tmp")
            temp.write_text(original.replace("hello from shop", f"rename save {i}"))
            os.replace(temp, hello)
            assert wait_for(lambda i=i: message(url) == f"rename save {i}", timeout=20, interval=0.02), (
                f"rename save {i} never reached the api"
            )
        for i in range(3):  # in place, as VS Code saves
            hello.write_text(original.replace("hello from shop", f"in-place save {i}"))
            assert wait_for(lambda i=i: message(url) == f"in-place save {i}", timeout=20, interval=0.02)
    finally:
        hello.write_text(original)
    assert wait_for(lambda: message(url) == "hello from shop", timeout=20, interval=0.02)


def test_a_new_dependency_rebuilds_the_api_which_can_load_it(shop):
    root, env, name = shop["root"], shop["env"], shop["name"]
    api = f"{name}-api-1"
    assert _node(api, "require('ms')").returncode != 0  # not there yet
    package = json.loads((root / "package.json").read_text())
    package["dependencies"]["ms"] = "2.1.3"
    (root / "package.json").write_text(json.dumps(package, indent=2) + "\n")
    lock = json.loads((root / "package-lock.json").read_text())
    lock["packages"][""]["dependencies"]["ms"] = "2.1.3"
    lock["packages"]["node_modules/ms"] = MS_LOCK_ENTRY
    (root / "package-lock.json").write_text(json.dumps(lock, indent=2) + "\n")

    again = run_devenv("up", cwd=root, env=env, timeout=600)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "built api" in again.stdout or "building api" in again.stderr, again.stdout + again.stderr
    loaded = _node(api, "console.log(require('ms')(60000))")
    assert loaded.returncode == 0 and loaded.stdout.strip() == "1m", loaded.stderr
    assert message(api_url(shop)) == "hello from shop"  # and it answers


def _node(container: str, script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", "exec", container, "node", "-e", script], capture_output=True, text=True)


# a project whose whole folder is mounted, with the classic anonymous /app/node_modules; its
# "install" copies package.json into node_modules, so what the api serves shows which one it has
DEPS_PROJECT = {
    "Dockerfile": """
        FROM node:20-alpine
        WORKDIR /app
        COPY package.json ./
        RUN mkdir -p node_modules/deps && cp package.json node_modules/deps/package.json
        COPY . .
        VOLUME /cache
        CMD ["node", "server.js"]
    """,
    "package.json": '{"name": "deps", "version": "1.0.0"}\n',
    "server.js": """
        const fs = require("fs");
        require("http").createServer((req, res) => {
          const installed = JSON.parse(fs.readFileSync("/app/node_modules/deps/package.json", "utf8"));
          res.end(JSON.stringify({version: installed.version}));
        }).listen(3000, "0.0.0.0");
    """,
}
DEPS_CONFIG = """
profiles: [api]
api:
  port: 0
  volumes: ['.:/app', /app/node_modules]
"""


def test_dependency_volumes_follow_the_lockfile_and_down_orphans_nothing(project):
    root, env = project(DEPS_CONFIG, DEPS_PROJECT)
    name = env["DEVENV_PROJECT_NAME"]

    def up_and_read() -> tuple[str, str, list[str]]:
        result = run_devenv("up", cwd=root, env=env)
        assert result.returncode == 0, result.stdout + result.stderr
        url = next(u for u in status(root, env)["api"]["urls"] if u.startswith("http://"))
        deps = _dependency_volumes(name)
        assert len(_mounted_dependency_volume(name)) == 1
        return http("GET", url)[1]["version"], _mounted_dependency_volume(name)[0], deps

    version, first, _ = up_and_read()
    assert version == "1.0.0" and first.startswith(f"{name}_deps_")
    created = _created(first)

    (root / "package.json").write_text('{"name": "deps", "version": "2.0.0"}\n')  # another branch's
    version, second, found = up_and_read()
    assert version == "2.0.0", "the old volume hid the new dependencies"
    assert second != first and set(found) == {first, second}

    (root / "package.json").write_text('{"name": "deps", "version": "1.0.0"}\n')  # and back
    version, back, _ = up_and_read()
    assert (version, back) == ("1.0.0", first)
    assert _created(first) == created, "switching back made a new volume instead of reusing the old one"

    anonymous = _anonymous_volumes(f"{name}-api-1")
    assert len(anonymous) == 1  # the image's VOLUME /cache; node_modules is no longer one
    down = run_devenv("down", cwd=root, env=env)
    assert down.returncode == 0, down.stderr
    for volume in anonymous:
        gone = subprocess.run(["docker", "volume", "inspect", volume], capture_output=True, text=True)
        assert gone.returncode != 0, f"devenv down orphaned the anonymous volume {volume}"
    assert set(_dependency_volumes(name)) == {first, second}  # kept, like the data

    removed = run_devenv("down", "--volumes", "--yes", cwd=root, env=env)
    assert removed.returncode == 0, removed.stderr
    assert volumes(name) == []


def _dependency_volumes(project: str) -> list[str]:
    out = subprocess.run(
        [
            "docker",
            "volume",
            "ls",
            "-q",
            "--filter",
            f"label=com.docker.compose.project={project}",
            "--filter",
            "label=dev.devenv.dependencies",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return sorted(out.split())


def _mounts(container: str) -> list[dict]:
    out = subprocess.run(
        ["docker", "container", "inspect", "--format", "{{json .Mounts}}", container],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(out)


def _mounted_dependency_volume(project: str) -> list[str]:
    return [m["Name"] for m in _mounts(f"{project}-api-1") if m.get("Destination") == "/app/node_modules"]


def _anonymous_volumes(container: str) -> list[str]:
    return [m["Name"] for m in _mounts(container) if m["Type"] == "volume" and len(m["Name"]) == 64]


def _created(volume: str) -> str:
    return subprocess.run(
        ["docker", "volume", "inspect", "--format", "{{.CreatedAt}}", volume],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
