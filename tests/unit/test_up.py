"""`devenv up` against a fake engine: ordering, decisions and diagnoses."""

import re
import socket

import pytest

from devenv import health
from devenv.errors import ExitCode, PortInUseError, ServiceFailedError, StartTimeoutError
from devenv.up import up
from devenv.workspace import open_workspace
from tests.conftest import FakeEngine, FakeProcess, state
from tests.unit.conftest import ALL, PORTS, Recorder, fast, healthy


def test_first_up_builds_starts_waits_and_summarizes(ws, api_answers):
    engine = FakeEngine([[], [], [state("postgres", health="starting")], healthy(*ALL)])
    reporter = Recorder()
    result = up(ws, engine, reporter, fast())
    assert result.changed and result.built == ["api"]
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
    up(ws, FakeEngine([healthy(*ALL)]), Recorder(), fast())
    engine = FakeEngine([healthy(*ALL)], images={"proj-api:devenv"})
    result = up(ws, engine, Recorder(), fast())
    assert not result.changed
    assert [c[0] for c in engine.calls] == ["services"]


def test_up_after_a_service_stopped_starts_again_without_building(ws):
    up(ws, FakeEngine([healthy(*ALL)]), Recorder(), fast())
    engine = FakeEngine([healthy("mailhog", "redis", "api"), healthy("mailhog", "redis", "api"), healthy(*ALL)],
                        images={"proj-api:devenv"})
    result = up(ws, engine, Recorder(), fast())
    assert result.changed and result.built == []
    assert engine.called("build") == [] and len(engine.called("up")) == 1


def test_build_flags(ws):
    engine = FakeEngine([healthy(*ALL)])
    up(ws, engine, Recorder(), fast(build=False))
    assert engine.called("build") == []
    engine = FakeEngine([healthy(*ALL)], images={"proj-api:devenv"})
    up(ws, engine, Recorder(), fast(build=True))
    assert engine.called("build") == [("build", ("api",))]


def test_profile_selection_starts_only_that_and_its_dependencies(ws):
    engine = FakeEngine([healthy("redis")])
    result = up(ws, engine, Recorder(), fast(services=["redis"]))
    assert engine.called("up") == [("up", ("redis",))]
    assert engine.called("build") == []
    assert [s.service for s in result.services] == ["redis"]


def test_a_dependency_that_turns_unhealthy_is_diagnosed(ws):
    process = FakeProcess(1, " Container proj-postgres-1  Error\n"
                             "dependency failed to start: container proj-postgres-1 is unhealthy\n")
    sick = state("postgres", health="unhealthy", probe="pg_isready: no response")
    engine = FakeEngine([[], [sick]], up_process=process, logs="FATAL: could not open file\n")
    with pytest.raises(ServiceFailedError) as info:
        up(ws, engine, Recorder(), fast())
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
        up(ws, engine, Recorder(), fast(timeout=5))
    assert info.value.code == ExitCode.TIMEOUT
    assert info.value.message.startswith("mailhog did not become ready: not ready after 5s")
    assert process.terminated


def test_api_that_never_answers_from_the_host_times_out(ws, monkeypatch):
    monkeypatch.setattr(health, "http_ok", lambda url, timeout=2.0: (False, "HTTP 503 {\"db\":\"down\"}"))
    engine = FakeEngine([healthy(*ALL)])
    with pytest.raises(StartTimeoutError, match="api did not become ready: .* HTTP 503"):
        up(ws, engine, Recorder(), fast(timeout=3))


@pytest.fixture
def held_port():
    """A host port something (this test process) listens on."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


def redis_on(make_project, port):
    root = make_project(f"name: proj\nprofiles: [redis]\nservices:\n  redis: {{ports: {{6379: {port}}}}}\n")
    return open_workspace(root)


def test_busy_port_is_reported_before_anything_starts(make_project, held_port):
    port = held_port
    engine = FakeEngine([[]])
    with pytest.raises(PortInUseError) as info:
        up(redis_on(make_project, port), engine, Recorder(), fast())
    assert re.fullmatch(rf"port 127.0.0.1:{port} for redis is already in use by \S+ \(pid \d+\)", info.value.message)
    assert "services.redis.ports: {6379: <free port>}" in info.value.hint
    assert engine.called("up") == []


def test_a_port_our_own_running_service_holds_is_fine(make_project, held_port):
    port = held_port
    engine = FakeEngine([[state("redis", health="starting", ports={6379: port})], [state("redis", ports={6379: port})]])
    assert up(redis_on(make_project, port), engine, Recorder(), fast()).changed


def test_no_build_keeps_the_old_fingerprint_so_the_next_up_builds(ws):
    engine = FakeEngine([healthy(*ALL)], images={"proj-api:devenv"})
    up(ws, engine, Recorder(), fast(build=False))
    engine = FakeEngine([healthy(*ALL)], images={"proj-api:devenv"})
    up(ws, engine, Recorder(), fast())
    assert engine.called("build") == [("build", ("api",))]


def test_a_changed_dotenv_is_a_change(ws):
    up(ws, FakeEngine([healthy(*ALL)]), Recorder(), fast())
    (ws.project.root / ".env").write_text("POSTGRES_PASSWORD=new\n")
    engine = FakeEngine([healthy(*ALL)], images={"proj-api:devenv"})
    assert up(ws, engine, Recorder(), fast()).changed
    assert engine.called("up")


def test_services_from_compose_files_with_a_build_are_built_when_missing(make_project):
    root = make_project("name: proj\nprofiles: [redis]\nservices:\n  redis: {ports: {6379: 0}}\ncompose_files: [more.yaml]\n",
                        {"more.yaml": "services:\n  worker:\n    build: ./worker\n", "worker/Dockerfile": "FROM x\n"})
    ws = open_workspace(root)
    engine = FakeEngine([[state("redis"), state("worker", health=None)]])
    up(ws, engine, Recorder(), fast())
    assert engine.called("build") == [("build", ("worker",))]


def test_the_api_is_ready_when_it_answers_from_the_host_before_docker_says_healthy(ws, api_answers):
    starting_api = [*healthy("mailhog", "postgres", "redis"), state("api", health="starting", ports=PORTS["api"])]
    engine = FakeEngine([[], starting_api])
    result = up(ws, engine, Recorder(), fast())
    assert result.changed
    assert api_answers[0] == "http://127.0.0.1:41000/health"
    assert next(s for s in result.services if s.service == "api").ready_after is not None


def test_the_fast_path_accepts_an_api_that_answers_before_docker_says_healthy(ws):
    stack_up = [*healthy("mailhog", "postgres", "redis"), state("api", health="starting", ports=PORTS["api"])]
    up(ws, FakeEngine([stack_up]), Recorder(), fast())
    engine = FakeEngine([stack_up], images={"proj-api:devenv"})
    result = up(ws, engine, Recorder(), fast())
    assert not result.changed and [c[0] for c in engine.calls] == ["services"]
    assert next(s for s in result.services if s.service == "api").health == "healthy"


def test_the_fast_path_is_not_taken_when_the_api_stopped(ws):
    up(ws, FakeEngine([healthy(*ALL)]), Recorder(), fast())
    stopped = [*healthy("mailhog", "postgres", "redis"), state("api", "exited", None)]
    engine = FakeEngine([stopped, stopped, healthy(*ALL)], images={"proj-api:devenv"})
    assert up(ws, engine, Recorder(), fast()).changed


def test_a_compose_files_service_is_rebuilt_when_its_inputs_change(make_project):
    root = make_project("name: proj\nprofiles: [redis]\nservices:\n  redis: {ports: {6379: 0}}\ncompose_files: [more.yaml]\n",
                        {"more.yaml": "services:\n  worker:\n    build: ./worker\n", "worker/Dockerfile": "FROM x\n"})
    ws = open_workspace(root)
    running = [[state("redis"), state("worker", health=None)]]
    up(ws, FakeEngine(running), Recorder(), fast())
    engine = FakeEngine(running, images={"proj-worker"})
    assert not up(ws, engine, Recorder(), fast()).changed
    (root / "worker" / "Dockerfile").write_text("FROM y\n")
    engine = FakeEngine(running, images={"proj-worker"})
    assert up(ws, engine, Recorder(), fast()).built == ["worker"]
