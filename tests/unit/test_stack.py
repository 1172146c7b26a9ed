"""The up/down/status flows against a fake engine: ordering, decisions and diagnoses."""

import re
import socket

import pytest

from devenv import health, stack
from devenv.errors import AbortedError, ExitCode, PortInUseError, ServiceFailedError, StartTimeoutError
from tests.conftest import FakeEngine, FakeProcess, state

CONFIG = """
name: proj
api:
  port: 0
services:
  postgres: {ports: {5432: 0}}
  redis: {ports: {6379: 0}}
  mailhog: {ports: {1025: 0, 8025: 0}}
"""
PORTS = {"api": {3000: 41000}, "postgres": {5432: 41001}, "redis": {6379: 41002}, "mailhog": {1025: 41003, 8025: 41004}}


class Recorder:
    def __init__(self):
        self.steps = []
        self.updates = 0

    def step(self, text):
        self.steps.append(text)

    def progress(self, tracker, now):
        self.updates += 1

    def finish(self):
        pass


def healthy(*services):
    return [state(s, ports=PORTS[s]) for s in services]


ALL = ("mailhog", "postgres", "redis", "api")


@pytest.fixture
def ws(make_project):
    root = make_project(CONFIG, {"Dockerfile": "FROM node:20-alpine\n"})
    return stack.open_workspace(root)


@pytest.fixture(autouse=True)
def api_answers(monkeypatch):
    calls = []

    def http_ok(url, timeout=2.0):
        calls.append(url)
        return True, "HTTP 200"

    monkeypatch.setattr(health, "http_ok", http_ok)
    return calls


def fast(**kwargs):
    now = [0.0]

    def sleep(seconds):
        now[0] += seconds

    return stack.UpOptions(clock=lambda: now[0], sleep=sleep, **kwargs)


def test_first_up_builds_starts_waits_and_summarizes(ws, api_answers):
    engine = FakeEngine([[], [], [state("postgres", health="starting")], healthy(*ALL)])
    reporter = Recorder()
    result = stack.up(ws, engine, reporter, fast())
    assert result.changed and result.built
    assert engine.called("build") == [("build", ("api",))]
    assert engine.called("up") == [("up", ("mailhog", "postgres", "redis", "api"))]
    assert reporter.steps == ["building api", "starting mailhog, postgres, redis, api"]
    assert api_answers == ["http://127.0.0.1:41000/health"]
    links = {s.service: s.links for s in result.services}
    assert links["postgres"] == ["postgres://app:devenv@127.0.0.1:41001/app"]
    assert links["mailhog"] == ["http://127.0.0.1:41004/", "smtp://127.0.0.1:41003"]
    assert links["api"] == ["http://127.0.0.1:41000/"]
    assert (ws.project.root / ".devenv" / "state.json").is_file()
    assert (ws.project.root / ".devenv" / "compose.yaml").read_text() == ws.compose.render()


def test_second_up_on_a_healthy_unchanged_stack_touches_nothing(ws):
    stack.up(ws, FakeEngine([healthy(*ALL)]), Recorder(), fast())
    engine = FakeEngine([healthy(*ALL)], images={"proj-api:devenv"})
    result = stack.up(ws, engine, Recorder(), fast())
    assert not result.changed
    assert [c[0] for c in engine.calls] == ["services"]


def test_up_after_a_service_stopped_starts_again_without_building(ws):
    stack.up(ws, FakeEngine([healthy(*ALL)]), Recorder(), fast())
    engine = FakeEngine([healthy("mailhog", "redis", "api"), healthy("mailhog", "redis", "api"), healthy(*ALL)],
                        images={"proj-api:devenv"})
    result = stack.up(ws, engine, Recorder(), fast())
    assert result.changed and not result.built
    assert engine.called("build") == [] and len(engine.called("up")) == 1


def test_build_flags(ws):
    engine = FakeEngine([healthy(*ALL)])
    stack.up(ws, engine, Recorder(), fast(build=False))
    assert engine.called("build") == []
    engine = FakeEngine([healthy(*ALL)], images={"proj-api:devenv"})
    stack.up(ws, engine, Recorder(), fast(build=True))
    assert engine.called("build") == [("build", ("api",))]


def test_profile_selection_starts_only_that_and_its_dependencies(ws):
    engine = FakeEngine([healthy("redis")])
    result = stack.up(ws, engine, Recorder(), fast(services=["redis"]))
    assert engine.called("up") == [("up", ("redis",))]
    assert engine.called("build") == []
    assert [s.service for s in result.services] == ["redis"]


def test_a_dependency_that_turns_unhealthy_is_diagnosed(ws):
    process = FakeProcess(1, " Container proj-postgres-1  Error\n"
                             "dependency failed to start: container proj-postgres-1 is unhealthy\n")
    sick = state("postgres", health="unhealthy", probe="pg_isready: no response")
    engine = FakeEngine([[], [sick]], up_process=process, logs="FATAL: could not open file\n")
    with pytest.raises(ServiceFailedError) as info:
        stack.up(ws, engine, Recorder(), fast())
    error = info.value
    assert error.code == ExitCode.SERVICE_FAILED
    assert error.message == "postgres failed: its healthcheck keeps failing"
    assert "pg_isready: no response" in error.details
    assert "FATAL: could not open file" in error.details
    assert "docker compose -p proj logs postgres" in error.hint
    assert not (ws.project.root / ".devenv" / "state.json").exists()


def test_timeout_is_its_own_error_and_ends_compose(ws):
    process = FakeProcess(None)
    engine = FakeEngine([[state("postgres", health="starting")]], up_process=process)
    with pytest.raises(StartTimeoutError) as info:
        stack.up(ws, engine, Recorder(), fast(timeout=5))
    assert info.value.code == ExitCode.TIMEOUT
    assert info.value.message.startswith("mailhog did not become ready: not ready after 5s")
    assert process.terminated


def test_api_that_never_answers_from_the_host_times_out(ws, monkeypatch):
    monkeypatch.setattr(health, "http_ok", lambda url, timeout=2.0: (False, "HTTP 503 {\"db\":\"down\"}"))
    engine = FakeEngine([healthy(*ALL)])
    with pytest.raises(StartTimeoutError, match="api did not become ready: .* HTTP 503"):
        stack.up(ws, engine, Recorder(), fast(timeout=3))


def test_busy_port_is_reported_before_anything_starts(make_project):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        root = make_project(f"name: proj\nprofiles: [redis]\nservices:\n  redis: {{ports: {{6379: {port}}}}}\n")
        ws = stack.open_workspace(root)
        engine = FakeEngine([[]])
        with pytest.raises(PortInUseError) as info:
            stack.up(ws, engine, Recorder(), fast())
    assert re.fullmatch(rf"port 127.0.0.1:{port} for redis is already in use by \S+ \(pid \d+\)", info.value.message)
    assert "services.redis.ports: {6379: <free port>}" in info.value.hint
    assert engine.called("up") == []


def test_a_port_our_own_running_service_holds_is_fine(make_project):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        root = make_project(f"name: proj\nprofiles: [redis]\nservices:\n  redis: {{ports: {{6379: {port}}}}}\n")
        ws = stack.open_workspace(root)
        engine = FakeEngine([[state("redis", health="starting", ports={6379: port})], [state("redis", ports={6379: port})]])
        assert stack.up(ws, engine, Recorder(), fast()).changed


def test_down_keeps_volumes_and_asks_before_deleting(ws):
    engine = FakeEngine([healthy("redis")], volumes=["proj_redis-data"])
    with pytest.raises(AbortedError):
        stack.down(ws, engine, volumes=True, confirm=lambda q: False)
    assert engine.called("down") == []
    questions = []
    result = stack.down(ws, engine, volumes=True, confirm=lambda q: questions.append(q) or True)
    assert engine.called("down") == [("down", True)]
    assert result.removed_volumes == ["proj_redis-data"]
    assert "proj_redis-data" in questions[0]


def test_down_volumes_deletes_only_what_the_file_declares(ws):
    engine = FakeEngine([[]], volumes=["proj_postgres-data", "proj_old-profile-data"])
    result = stack.down(ws, engine, volumes=True, confirm=lambda q: True)
    assert result.removed_volumes == ["proj_postgres-data"]


def test_no_build_keeps_the_old_fingerprint_so_the_next_up_builds(ws):
    engine = FakeEngine([healthy(*ALL)], images={"proj-api:devenv"})
    stack.up(ws, engine, Recorder(), fast(build=False))
    engine = FakeEngine([healthy(*ALL)], images={"proj-api:devenv"})
    stack.up(ws, engine, Recorder(), fast())
    assert engine.called("build") == [("build", ("api",))]


def test_a_changed_dotenv_is_a_change(ws):
    stack.up(ws, FakeEngine([healthy(*ALL)]), Recorder(), fast())
    (ws.project.root / ".env").write_text("POSTGRES_PASSWORD=new\n")
    engine = FakeEngine([healthy(*ALL)], images={"proj-api:devenv"})
    assert stack.up(ws, engine, Recorder(), fast()).changed
    assert engine.called("up")


def test_services_from_compose_files_with_a_build_are_built_when_missing(make_project):
    root = make_project("name: proj\nprofiles: [redis]\nservices:\n  redis: {ports: {6379: 0}}\ncompose_files: [more.yaml]\n",
                        {"more.yaml": "services:\n  worker:\n    build: ./worker\n", "worker/Dockerfile": "FROM x\n"})
    ws = stack.open_workspace(root)
    engine = FakeEngine([[state("redis"), state("worker", health=None)]])
    stack.up(ws, engine, Recorder(), fast())
    assert engine.called("build") == [("build", ("worker",))]


def test_down_on_nothing_does_nothing(ws):
    engine = FakeEngine([[]])
    assert stack.down(ws, engine, volumes=False, confirm=lambda q: True).removed_containers == []
    assert engine.called("down") == []


def test_status_lists_configured_services_and_strangers(ws):
    rows = stack.status(ws, FakeEngine([[state("redis", ports=PORTS["redis"]), state("worker", health=None)]]))
    assert [(r.service, r.state) for r in rows] == [
        ("mailhog", "not created"), ("postgres", "not created"), ("redis", "running"), ("api", "not created"), ("worker", "running")
    ]
    assert rows[2].links == ["redis://127.0.0.1:41002/0"]
    assert 60 < rows[2].uptime < 120


def test_the_api_is_ready_when_it_answers_from_the_host_before_docker_says_healthy(ws, api_answers):
    starting_api = [*healthy("mailhog", "postgres", "redis"), state("api", health="starting", ports=PORTS["api"])]
    engine = FakeEngine([[], starting_api])
    result = stack.up(ws, engine, Recorder(), fast())
    assert result.changed
    assert api_answers[0] == "http://127.0.0.1:41000/health"
    assert next(s for s in result.services if s.service == "api").ready_after is not None


def test_down_keeps_the_api_image_fingerprint(ws):
    stack.up(ws, FakeEngine([healthy(*ALL)]), Recorder(), fast())
    stack.down(ws, FakeEngine([healthy(*ALL)]), volumes=False, confirm=lambda q: True)
    engine = FakeEngine([[], healthy(*ALL)], images={"proj-api:devenv"})
    result = stack.up(ws, engine, Recorder(), fast())
    assert result.changed and engine.called("build") == []


def test_status_counts_an_answering_api_as_healthy(ws, api_answers):
    rows = stack.status(ws, FakeEngine([[state("api", health="starting", ports=PORTS["api"])]]))
    assert next(r for r in rows if r.service == "api").health == "healthy"
    assert api_answers == ["http://127.0.0.1:41000/health"]
