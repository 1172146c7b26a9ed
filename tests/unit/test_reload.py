"""The reload setup: presets detected from the build context, devenv.yaml's keys over them,
dependency volumes named by the manifests' hash, and where the engine runs."""

import hashlib
import json
import textwrap
from pathlib import Path

import pytest

from devenv import reload
from devenv.config import Project, parse_config
from devenv.errors import ConfigError


def make(root: Path, config: str, files: dict[str, str] | None = None) -> Project:
    for name, text in (files or {}).items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
    parsed, _ = parse_config(textwrap.dedent(config))
    return Project(root=root, config_path=root / "devenv.yaml", config=parsed, name="shop")


NODE_DOCKERFILE = """
FROM node:20-alpine AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci

FROM node:20-alpine AS dev
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
CMD ["node", "scripts/reload.js", "src/server.js"]

FROM dev AS production
CMD ["node", "src/server.js"]
"""
NODE_FILES = {"Dockerfile": NODE_DOCKERFILE, "package.json": "{}", "package-lock.json": "{}", "src/server.js": ""}


def test_node_preset_from_the_dockerfile_needs_no_keys(tmp_path):
    p = make(tmp_path, "api: {build: {target: dev}, volumes: ['./src:/app/src:ro']}", NODE_FILES)
    setup = reload.resolve(p, remote_engine=False)
    assert setup.preset == "node"
    assert setup.mode == "mount"
    assert setup.paths == (reload.SourcePath(tmp_path / "src", "/app/src"),)
    assert setup.manifests == (tmp_path / "package.json", tmp_path / "package-lock.json", tmp_path / "Dockerfile")
    assert setup.dependencies == ()  # ./src does not hide /app/node_modules: the image's copy shows
    assert setup.on_change == "reload"  # scripts/reload.js
    assert "node_modules" in setup.ignore and ".git" in setup.ignore
    assert any("FROM node:20-alpine" in reason for reason in setup.reasons)


def test_a_mount_over_the_workdir_gets_the_dependency_folder_as_a_volume(tmp_path):
    p = make(tmp_path, "api: {build: {target: dev}, volumes: ['.:/app']}", NODE_FILES)
    setup = reload.resolve(p, remote_engine=False)
    assert setup.dependencies == ("/app/node_modules",)
    (key,) = [key for _, key in setup.volumes]
    assert key.startswith("deps_") and len(key) == len("deps_") + 12
    assert setup.volume_for("/app/node_modules") == key


def test_an_anonymous_volume_is_a_dependency_folder(tmp_path):
    p = make(tmp_path, "api: {volumes: ['./src:/app/src:ro', /app/node_modules]}", NODE_FILES)
    setup = reload.resolve(p, remote_engine=False)
    assert setup.dependencies == ("/app/node_modules",)
    assert setup.paths == (reload.SourcePath(tmp_path / "src", "/app/src"),)


def test_the_volume_name_follows_the_manifests_and_comes_back(tmp_path):
    p = make(tmp_path, "api: {volumes: ['.:/app']}", NODE_FILES)
    first = reload.resolve(p, remote_engine=False).volumes
    (tmp_path / "src" / "server.js").write_text("// a source edit")
    assert reload.resolve(p, remote_engine=False).volumes == first  # source is not a manifest
    (tmp_path / "package-lock.json").write_text('{"lockfileVersion": 3}')
    changed = reload.resolve(p, remote_engine=False).volumes
    assert changed != first
    (tmp_path / "package-lock.json").write_text("{}")  # back on the first branch
    assert reload.resolve(p, remote_engine=False).volumes == first
    (tmp_path / "Dockerfile").write_text(NODE_DOCKERFILE + "\n# edited\n")
    assert reload.resolve(p, remote_engine=False).volumes != first


def test_python_preset_from_its_manifests(tmp_path):
    files = {
        "Dockerfile": "FROM base-image\nWORKDIR /srv\nCMD uvicorn app:app --reload\n",
        "requirements.txt": "fastapi\n",
        "requirements-dev.txt": "pytest\n",
        "app.py": "",
    }
    p = make(tmp_path, "api: {volumes: ['.:/srv']}", files)
    setup = reload.resolve(p, remote_engine=False)
    assert setup.preset == "python"
    assert setup.manifests == (
        tmp_path / "requirements-dev.txt",
        tmp_path / "requirements.txt",
        tmp_path / "Dockerfile",
    )
    assert setup.on_change == "reload"  # --reload
    assert setup.dependencies == ()  # pip installs outside the project folder
    assert "__pycache__" in setup.ignore


def test_python_with_uv_keeps_its_environment_in_a_volume(tmp_path):
    files = {
        "Dockerfile": "FROM python:3.12-slim\nWORKDIR /app\nCMD python -m app\n",
        "uv.lock": "",
        "pyproject.toml": "",
    }
    p = make(tmp_path, "api: {volumes: ['.:/app']}", files)
    setup = reload.resolve(p, remote_engine=False)
    assert setup.preset == "python"
    assert setup.dependencies == ("/app/.venv",)
    assert setup.on_change == "restart"  # nothing in `python -m app` reloads
    assert tmp_path / "uv.lock" in setup.manifests and tmp_path / "pyproject.toml" in setup.manifests


def test_no_preset_without_manifests(tmp_path):
    p = make(tmp_path, "api: {}", {"Dockerfile": "FROM busybox\nCMD httpd -f\n"})
    setup = reload.resolve(p, remote_engine=False)
    assert setup.preset is None
    assert setup.manifests == (tmp_path / "Dockerfile",)
    assert setup.on_change == "restart"
    assert setup.paths == ()


def test_npm_run_is_followed_into_package_json(tmp_path):
    files = {
        "Dockerfile": "FROM node:20\nWORKDIR /app\nCMD npm run dev\n",
        "package.json": json.dumps({"scripts": {"dev": "nodemon src/index.js"}}),
    }
    setup = reload.resolve(make(tmp_path, "api: {}", files), remote_engine=False)
    assert setup.on_change == "reload"


def test_keys_in_devenv_yaml_win_over_the_preset(tmp_path):
    config = """
    api:
      volumes: ['./src:/app/src']
      reload:
        mode: sync
        paths: ['./lib:/app/lib', './src:/app/src']
        dependencies: [/app/vendor]
        manifests: ['deps/*.lock', Gemfile]
        on_change: restart
        ignore: ['*.log']
        preset: none
        debounce_ms: 20
    """
    files = {**NODE_FILES, "deps/a.lock": "", "deps/b.txt": ""}
    setup = reload.resolve(make(tmp_path, config, files), remote_engine=False)
    assert setup.mode == "sync"
    assert setup.preset is None
    assert [p.container for p in setup.paths] == ["/app/lib", "/app/src"]
    assert setup.dependencies == ("/app/vendor",)
    assert setup.manifests == (tmp_path / "deps" / "a.lock", tmp_path / "Gemfile", tmp_path / "Dockerfile")
    assert setup.on_change == "restart"
    assert setup.ignore == ("*.log",)
    assert setup.debounce_ms == 20


def test_auto_mode_syncs_on_a_remote_engine(tmp_path):
    p = make(tmp_path, "api: {volumes: ['.:/app']}", NODE_FILES)
    setup = reload.resolve(p, remote_engine=True)
    assert setup.mode == "sync"
    assert setup.dependencies == ()  # nothing hides the image's node_modules when nothing is mounted
    assert reload.resolve(make(tmp_path, "api: {reload: {mode: mount}}"), remote_engine=True).mode == "mount"


@pytest.mark.parametrize(
    "text, message",
    [
        ("api: {reload: {mode: fast}}", "api.reload.mode"),
        ("api: {reload: {paths: [src]}}", "host:container"),
        ("api: {reload: {dependencies: [node_modules]}}", "absolute container path"),
        ("api: {reload: {on_change: rebuild}}", "api.reload.on_change"),
        ("api: {reload: {preset: ruby}}", "api.reload.preset"),
    ],
)
def test_invalid_keys_name_the_key(text, message):
    with pytest.raises(ConfigError) as caught:
        parse_config(text)
    assert message in caught.value.message


def test_unknown_reload_keys_are_warned_about():
    _, warnings = parse_config("api: {reload: {debounce: 5}}")
    assert warnings == ["devenv.yaml:1: unknown key 'api.reload.debounce' is ignored; did you mean 'debounce_ms'?"]


def test_read_stage_follows_the_target_and_its_parents(tmp_path):
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(NODE_DOCKERFILE)
    dev = reload.read_stage(dockerfile, "dev")
    assert (dev.base, dev.workdir, dev.command) == (
        "node:20-alpine",
        "/app",
        ("node", "scripts/reload.js", "src/server.js"),
    )
    last = reload.read_stage(dockerfile, None)
    assert (last.name, last.base, last.workdir, last.command) == (
        "production",
        "node:20-alpine",
        "/app",
        ("node", "src/server.js"),
    )
    assert not reload.read_stage(dockerfile, "nope").found
    dockerfile.write_text('FROM x\nWORKDIR /a\nWORKDIR b\nENTRYPOINT ["tini", "--"]\nCMD \\\n  run \\\n  it\n')
    stage = reload.read_stage(dockerfile, None)
    assert (stage.workdir, stage.command) == ("/a/b", ("tini", "--", "run", "it"))


@pytest.mark.parametrize(
    "relative, hit",
    [
        ("node_modules/pg/index.js", True),
        ("src/.server.js.swp", True),
        ("src/server.js~", True),
        ("src/4913", True),
        ("src/server.js", False),
        ("pkg/__pycache__/x.cpython-312.pyc", True),
        (".git/HEAD", True),
        ("build/x.html", True),
        ("src/build/x.js", False),  # the build output is at the top; a source folder named build is not
    ],
)
def test_ignored(relative, hit):
    patterns = tuple(dict.fromkeys((*reload.COMMON_IGNORE, *reload.PRESETS["node"].ignore, "__pycache__")))
    assert reload.ignored(relative, patterns) is hit


def test_ignored_with_folder_patterns():
    assert reload.ignored("public/assets/x.css", ["public/assets/**"])
    assert reload.ignored("public/assets/x.css", ["public/*/x.css"])
    assert reload.ignored("public/assets/x.css", ["public/assets"])
    assert not reload.ignored("public/x.css", ["public/assets"])
    assert reload.ignored("tmp/a/b", ["/tmp"]) and not reload.ignored("src/tmp/a", ["/tmp"])
    assert reload.ignored("src/tmp/a", ["tmp"])


def test_remote_engine_from_docker_host_and_contexts(tmp_path):
    assert not reload.remote_engine({"DOCKER_HOST": "unix:///var/run/docker.sock"})
    assert reload.remote_engine({"DOCKER_HOST": "ssh://me@build-box"})
    assert reload.remote_engine({"DOCKER_HOST": "tcp://10.0.0.5:2376"})
    assert not reload.remote_engine({"DOCKER_HOST": "tcp://127.0.0.1:2375"})
    assert not reload.remote_engine({"HOME": str(tmp_path)})  # no config: the default context
    meta = tmp_path / "contexts" / "meta" / hashlib.sha256(b"far").hexdigest()
    meta.mkdir(parents=True)
    (meta / "meta.json").write_text(json.dumps({"Name": "far", "Endpoints": {"docker": {"Host": "ssh://far"}}}))
    (tmp_path / "config.json").write_text(json.dumps({"currentContext": "far"}))
    assert reload.remote_engine({"DOCKER_CONFIG": str(tmp_path)})
    assert not reload.remote_engine({"DOCKER_CONFIG": str(tmp_path), "DOCKER_CONTEXT": "default"})


# -- rendering: the api's volumes ----------------------------------------------------------------


def render(p: Project, *, remote_engine: bool = False):
    from devenv.profiles import load_profiles
    from devenv.project import assemble

    return assemble(p, load_profiles(p.config.profiles), remote_engine=remote_engine)


def test_an_anonymous_dependency_volume_is_rendered_as_its_hashed_named_volume(tmp_path):
    p = make(tmp_path, "profiles: [api]\napi: {volumes: ['./src:/app/src:ro', /app/node_modules]}", NODE_FILES)
    compose = render(p)
    (key,) = [key for _, key in compose.reload.volumes]
    assert compose.compose["services"]["api"]["volumes"] == [f"{tmp_path}/src:/app/src:ro", f"{key}:/app/node_modules"]
    assert compose.compose["volumes"] == {key: {"labels": {"dev.devenv.dependencies": "/app/node_modules"}}}


def test_sync_mode_renders_no_bind_mount_of_its_paths(tmp_path):
    config = "profiles: [api]\napi: {volumes: ['.:/app', './lib:/app/lib'], reload: {mode: sync}}"
    compose = render(make(tmp_path, config, NODE_FILES))
    # every host-folder mount is a path by default, so sync mode drops them all
    assert [p.container for p in compose.reload.paths] == ["/app", "/app/lib"]
    assert "volumes" not in compose.compose["services"]["api"]


def test_a_mounted_file_is_not_a_path_by_default_and_stays_mounted(tmp_path):
    config = "profiles: [api]\napi: {volumes: ['./src:/app/src', './config.yml:/etc/app.yml:ro'], reload: {mode: sync}}"
    compose = render(make(tmp_path, config, {**NODE_FILES, "config.yml": "a: 1\n"}))
    assert [p.container for p in compose.reload.paths] == ["/app/src"]
    assert compose.compose["services"]["api"]["volumes"] == [f"{tmp_path}/config.yml:/etc/app.yml:ro"]


def test_sync_mode_keeps_mounts_that_are_not_among_its_paths(tmp_path):
    config = (
        "profiles: [api]\n"
        "api: {volumes: ['.:/app', './config.yml:/etc/app.yml:ro'], reload: {mode: sync, paths: ['.:/app']}}"
    )
    compose = render(make(tmp_path, config, NODE_FILES))
    assert compose.compose["services"]["api"]["volumes"] == [f"{tmp_path}/config.yml:/etc/app.yml:ro"]


def test_mount_mode_mounts_every_path_once(tmp_path):
    config = (
        "profiles: [api]\napi: {volumes: ['./src:/app/src'], reload: {paths: ['./src:/app/src', './lib:/app/lib']}}"
    )
    compose = render(make(tmp_path, config, NODE_FILES))
    assert compose.compose["services"]["api"]["volumes"] == [f"{tmp_path}/src:/app/src", f"{tmp_path}/lib:/app/lib"]


def test_a_whole_project_mount_gets_node_modules_from_the_image(tmp_path):
    compose = render(make(tmp_path, "profiles: [api]\napi: {volumes: ['.:/app']}", NODE_FILES))
    (key,) = [key for _, key in compose.reload.volumes]
    assert compose.compose["services"]["api"]["volumes"] == [f"{tmp_path}:/app", f"{key}:/app/node_modules"]


def test_stale_dependency_volumes_keep_the_newest_few_per_folder():
    from devenv.engine_types import Volume

    def volume(name: str, created: str, folder: str = "/app/node_modules") -> Volume:
        return Volume(name, created, {reload.DEPS_LABEL: folder, "com.docker.compose.project": "p"})

    found = [
        volume("p_deps_a", "2026-01-01T00:00:00Z"),
        volume("p_deps_b", "2026-01-02T00:00:00Z"),
        volume("p_deps_c", "2026-01-03T00:00:00Z"),
        volume("p_deps_d", "2026-01-04T00:00:00Z"),
        volume("p_deps_e", "2026-01-05T00:00:00Z", folder="/app/client/node_modules"),
        Volume("p_postgres-data", "2020-01-01T00:00:00Z", {}),
    ]
    # the current one is kept whatever its age; then the newest others
    assert reload.stale_dependency_volumes(found, {"p_deps_a"}, keep=3) == ["p_deps_b"]
    assert reload.stale_dependency_volumes(found, {"p_deps_d"}, keep=2) == ["p_deps_a", "p_deps_b"]
    assert reload.stale_dependency_volumes(found, {"p_deps_d"}, keep=1) == ["p_deps_a", "p_deps_b", "p_deps_c"]


# -- up: manifests rebuild, old dependency volumes go ------------------------------------------


def test_a_manifest_inside_a_mounted_folder_still_rebuilds_the_api(make_project):
    from devenv.up import _fingerprints
    from devenv.workspace import open_workspace

    root = make_project("name: proj\nprofiles: [api]\napi: {volumes: ['.:/app']}", NODE_FILES)
    ws = open_workspace(root, remote_engine=False)
    before = _fingerprints(ws)["api"]
    (root / "src" / "server.js").write_text("// edited: reaches the api by its mount")
    assert _fingerprints(open_workspace(root, remote_engine=False))["api"] == before
    (root / "package.json").write_text('{"dependencies": {"left-pad": "1.3.0"}}')
    assert _fingerprints(open_workspace(root, remote_engine=False))["api"] != before


def test_sync_mode_source_edits_do_not_rebuild(make_project):
    from devenv.up import _fingerprints
    from devenv.workspace import open_workspace

    root = make_project("name: proj\nprofiles: [api]\napi: {volumes: ['./src:/app/src']}", NODE_FILES)
    ws = open_workspace(root, remote_engine=True)
    assert ws.compose.reload.mode == "sync"
    before = _fingerprints(ws)["api"]
    (root / "src" / "server.js").write_text("// edited: `devenv watch` copies it in")
    assert _fingerprints(open_workspace(root, remote_engine=True))["api"] == before


def test_prune_dependency_volumes_removes_all_but_the_newest(make_project):
    from devenv.engine_types import Volume
    from devenv.up import prune_dependency_volumes
    from devenv.workspace import open_workspace
    from tests.conftest import FakeEngine

    root = make_project("name: proj\nprofiles: [api]\napi: {volumes: ['.:/app']}", NODE_FILES)
    ws = open_workspace(root, remote_engine=False)
    current = f"proj_{ws.compose.reload.volumes[0][1]}"
    engine = FakeEngine()
    label = {reload.DEPS_LABEL: "/app/node_modules"}
    engine.volume_records = [
        Volume(current, "2026-01-01T00:00:00Z", label),
        *(Volume(f"proj_deps_old{i}", f"2026-01-0{i + 2}T00:00:00Z", label) for i in range(4)),
    ]
    assert prune_dependency_volumes(ws, engine) == ["proj_deps_old0", "proj_deps_old1"]


def test_devenv_config_shows_the_resolved_setup_as_comments(capsys, make_project):
    import yaml

    from devenv import cli

    root = make_project("name: proj\nprofiles: [api]\napi: {volumes: ['.:/app', /app/node_modules]}\n", NODE_FILES)
    assert cli.main(["-C", str(root), "config"]) == 0
    out, _ = capsys.readouterr()
    rendered = (root / ".devenv" / "compose.yaml").read_text()
    assert out.startswith(rendered)
    assert yaml.safe_load(out) == yaml.safe_load(rendered)  # still a compose file
    comments = out[len(rendered) :].splitlines()
    assert comments[0].startswith("# api.reload, as resolved")
    assert "#   paths: [.:/app]" in comments
    assert "#   manifests: [./package.json, ./package-lock.json, ./Dockerfile]" in comments
    assert any(line.startswith("#   dependencies: [/app/node_modules (volume deps_") for line in comments)
