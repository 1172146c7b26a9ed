"""`devenv status` and `devenv down` against a fake engine."""

import pytest

from devenv.errors import AbortedError
from devenv.stack import down, status
from devenv.up import up
from tests.conftest import FakeEngine, state
from tests.unit.conftest import ALL, PORTS, Recorder, answering, fast, healthy
from tests.unit.test_up import INFO


def test_down_keeps_volumes_and_asks_before_deleting(ws):
    engine = FakeEngine([healthy("redis")], volumes=["proj_redis-data"])
    with pytest.raises(AbortedError):
        down(ws, engine, volumes=True, confirm=lambda q: False)
    assert engine.called("down") == []
    questions = []
    result = down(ws, engine, volumes=True, confirm=lambda q: questions.append(q) or True)
    assert engine.called("down") == [("down", True)]
    assert result.removed_volumes == ["proj_redis-data"]
    assert "proj_redis-data" in questions[0]


def test_down_volumes_deletes_only_what_the_file_declares(ws):
    engine = FakeEngine([[]], volumes=["proj_postgres-data", "proj_old-profile-data"])
    result = down(ws, engine, volumes=True, confirm=lambda q: True)
    assert result.removed_volumes == ["proj_postgres-data"]


def test_down_on_nothing_does_nothing(ws):
    engine = FakeEngine([[]])
    assert down(ws, engine, volumes=False, confirm=lambda q: True).removed_containers == []
    assert engine.called("down") == []


def test_status_lists_configured_services_and_strangers(ws):
    rows = status(ws, FakeEngine([[state("redis", ports=PORTS["redis"]), state("worker", health=None)]]), answering)
    assert [(r.service, r.state) for r in rows] == [
        ("mailhog", "not created"),
        ("postgres", "not created"),
        ("redis", "running"),
        ("api", "not created"),
        ("worker", "running"),
    ]
    assert rows[2].links == ["redis://127.0.0.1:41002/0"]
    assert 60 < rows[2].uptime < 120


def test_down_keeps_the_api_image_fingerprint(ws):
    up(ws, FakeEngine(ports=PORTS), Recorder(), INFO, fast())
    down(ws, FakeEngine([healthy(*ALL)]), volumes=False, confirm=lambda q: True)
    engine = FakeEngine([[]], images={"proj-api:devenv"}, ports=PORTS)
    result = up(ws, engine, Recorder(), INFO, fast())
    assert result.changed and engine.called("build") == []


def test_status_shows_devenvs_readiness_next_to_dockers_health(ws):
    states = [
        state("api", health="starting", ports=PORTS["api"]),
        state("redis", ports=PORTS["redis"]),
        state("postgres", ports=PORTS["postgres"]),
    ]
    rows = {
        r.service: r
        for r in status(ws, FakeEngine([states]), lambda rules, found: answering(rules, found, refuse={"postgres"}))
    }
    assert (rows["api"].health, rows["api"].ready) == ("starting", True)
    assert (rows["redis"].health, rows["redis"].ready) == ("healthy", True)
    assert (rows["postgres"].health, rows["postgres"].ready, rows["postgres"].detail) == ("healthy", False, "refused")
    assert rows["mailhog"].ready is None


def test_secrets_the_user_set_are_masked_in_urls(ws, monkeypatch):
    monkeypatch.setenv("POSTGRES_USER", "shop")
    (ws.project.root / ".env").write_text("POSTGRES_PASSWORD=hunter2\n")
    rows = status(ws, FakeEngine([[state("postgres", ports=PORTS["postgres"])]]), answering)
    assert rows[1].links == ["postgres://shop:***@127.0.0.1:41001/app"]


def test_masking_matches_secret_words_not_substrings():
    from devenv.workspace import printable_env

    env = {"API_KEY": "k", "GITHUB_TOKEN": "t", "DB_PASS": "p", "KEYSPACE": "ks", "MONKEY": "m", "EMPTY_PASSWORD": ""}
    assert printable_env(env) == {
        "API_KEY": "***",
        "GITHUB_TOKEN": "***",
        "DB_PASS": "***",
        "KEYSPACE": "ks",
        "MONKEY": "m",
        "EMPTY_PASSWORD": "",
    }


DEPS_CONFIG = """
name: proj
profiles: [api]
api: {port: 0, volumes: ['.:/app', /app/node_modules]}
"""
DEPS_FILES = {"Dockerfile": "FROM node:20-alpine\nWORKDIR /app\n", "package.json": "{}"}


def _deps_volume(name: str, created: str):
    from devenv.engine_types import Volume
    from devenv.reload import DEPS_LABEL

    return Volume(name, created, {DEPS_LABEL: "/app/node_modules"})


def test_down_volumes_also_removes_older_dependency_volumes(make_project):
    from devenv.workspace import open_workspace

    ws = open_workspace(make_project(DEPS_CONFIG, DEPS_FILES))
    current = f"proj_{ws.compose.reload.volumes[0][1]}"
    engine = FakeEngine([healthy("api")], volumes=[current, "proj_deps_0123456789ab"])
    engine.volume_records = [_deps_volume(current, "2026-02-01"), _deps_volume("proj_deps_0123456789ab", "2026-01-01")]
    questions = []
    result = down(ws, engine, volumes=True, confirm=lambda q: questions.append(q) or True)
    assert result.removed_volumes == [current, "proj_deps_0123456789ab"]
    assert "proj_deps_0123456789ab" in questions[0]
    assert engine.called("down") == [("down", True)]
    assert engine.called("remove_volumes") == [("remove_volumes", ("proj_deps_0123456789ab",))]


def test_down_keeps_dependency_volumes_without_volumes(make_project):
    from devenv.workspace import open_workspace

    ws = open_workspace(make_project(DEPS_CONFIG, DEPS_FILES))
    engine = FakeEngine([healthy("api")])
    engine.volume_records = [_deps_volume("proj_deps_0123456789ab", "2026-01-01")]
    result = down(ws, engine, volumes=False, confirm=lambda q: True)
    assert result.kept_volumes and engine.called("remove_volumes") == []
