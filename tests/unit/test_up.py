"""`devenv up` against a fake engine and fake probes: order, decisions and diagnoses."""

import json
import re
import socket

import pytest

from devenv import hooks
from devenv import state as records
from devenv.engine_types import EngineInfo
from devenv.errors import ExitCode, PortInUseError, ServiceFailedError, StartTimeoutError
from devenv.up import up
from devenv.workspace import open_workspace
from tests.conftest import FakeEngine, FakeProber, FakeProcess, state
from tests.unit.conftest import ALL, PORTS, Recorder, answering, fast, healthy

INFO = EngineInfo("26.1.5", (1, 45))


def starts(engine):
    return [call[1] for call in engine.called("start")]


def test_first_up_builds_creates_and_starts_each_service_once_its_dependencies_answer(ws):
    engine = FakeEngine(ports=PORTS)
    # postgres answers only after a few looks: the api must not start before that
    prober = FakeProber(after={"postgres": 4})
    reporter = Recorder()
    result = up(ws, engine, reporter, INFO, fast(prober))
    assert result.changed and result.built == ["api"]
    assert engine.called("build") == [("build", ("api",))]
    assert engine.called("create") == [("create", ("mailhog", "postgres", "redis", "api"))]
    assert starts(engine) == ["mailhog", "postgres", "redis", "api"]
    api_started = engine.calls.index(("start", "api"))
    assert prober.after["postgres"] <= 0, "the api started before postgres answered its probe"
    assert all(name != "start" for name, *_ in engine.calls[api_started + 1 :])
    assert reporter.steps == ["building api", "starting mailhog, postgres, redis, api"]
    links = {s.service: s.links for s in result.services}
    assert links["postgres"] == ["postgres://app:devenv@127.0.0.1:41001/app"]
    assert links["mailhog"] == ["http://127.0.0.1:41004/", "smtp://127.0.0.1:41003"]
    assert links["api"] == ["http://127.0.0.1:41000/"]
    assert all(s.ready and s.ready_after is not None and s.ready_at for s in result.services)
    # Docker's health is reported as Docker says it, not overwritten
    assert {s.health for s in result.services} == {"starting"}
    assert (ws.project.root / ".devenv" / "state.json").is_file()
    assert (ws.project.root / ".devenv" / "compose.yaml").read_text() == ws.compose.render()


def test_the_api_waits_for_every_dependency_by_its_condition(ws):
    engine = FakeEngine(ports=PORTS)
    prober = FakeProber(never={"redis"})
    with pytest.raises(StartTimeoutError, match="redis did not become ready"):
        up(ws, engine, Recorder(), INFO, fast(prober, timeout=5))
    assert "api" not in starts(engine)


def test_second_up_on_a_ready_unchanged_stack_touches_nothing(ws):
    up(ws, FakeEngine(ports=PORTS), Recorder(), INFO, fast())
    engine = FakeEngine([healthy(*ALL)], images={"proj-api:devenv"})
    result = up(ws, engine, Recorder(), INFO, fast())
    assert not result.changed
    assert [c[0] for c in engine.calls] == ["services"]


def test_the_no_op_is_not_taken_when_a_probe_does_not_answer(ws):
    up(ws, FakeEngine(ports=PORTS), Recorder(), INFO, fast())
    engine = FakeEngine([healthy(*ALL)], images={"proj-api:devenv"})
    result = up(
        ws, engine, Recorder(), INFO, fast(check=lambda rules, states: answering(rules, states, refuse={"api"}))
    )
    assert result.changed and engine.called("create")


def test_up_after_a_service_stopped_starts_it_without_building(ws):
    up(ws, FakeEngine(ports=PORTS), Recorder(), INFO, fast())
    stopped = [*healthy("mailhog", "redis", "api"), state("postgres", "exited", None)]
    engine = FakeEngine([stopped], images={"proj-api:devenv"}, ports=PORTS)
    result = up(ws, engine, Recorder(), INFO, fast())
    assert result.changed and result.built == []
    # what waits for nothing is started by name at once (a no-op for a running container);
    # the running api, which waits for postgres, needs no start
    assert starts(engine) == ["mailhog", "postgres", "redis"]


def test_build_flags(ws):
    engine = FakeEngine(ports=PORTS)
    up(ws, engine, Recorder(), INFO, fast(build=False))
    assert engine.called("build") == []
    engine = FakeEngine(images={"proj-api:devenv"}, ports=PORTS)
    up(ws, engine, Recorder(), INFO, fast(build=True))
    assert engine.called("build") == [("build", ("api",))]


def test_profile_selection_starts_only_that_and_its_dependencies(ws):
    engine = FakeEngine(ports=PORTS)
    result = up(ws, engine, Recorder(), INFO, fast(services=["redis"]))
    assert engine.called("create") == [("create", ("redis",))]
    assert engine.called("build") == []
    assert [s.service for s in result.services] == ["redis"]


def test_a_service_that_exits_fails_at_once_with_its_logs(ws):
    engine = FakeEngine(ports=PORTS, fail={"redis": "exit"}, logs="FATAL: bad config line 3\n")
    with pytest.raises(ServiceFailedError) as info:
        up(ws, engine, Recorder(), INFO, fast())
    error = info.value
    assert error.code == ExitCode.SERVICE_FAILED
    assert error.message == "redis failed: exited with code 1"
    assert "FATAL: bad config line 3" in error.details
    assert "docker compose -p proj logs redis" in error.hint
    assert "api" not in starts(engine)
    assert not (ws.project.root / ".devenv" / "state.json").exists()


def test_a_crash_looping_service_fails_at_once(ws):
    engine = FakeEngine(ports=PORTS, fail={"postgres": "restart"})
    with pytest.raises(ServiceFailedError, match=r"postgres failed: it keeps restarting \(last exit code 2\)"):
        up(ws, engine, Recorder(), INFO, fast())


def test_postgres_refusing_the_configured_credentials_fails_before_the_api_starts(ws):
    engine = FakeEngine(ports=PORTS)
    prober = FakeProber(refuse={"postgres": 'password authentication failed for user "app"'})
    with pytest.raises(ServiceFailedError) as info:
        up(ws, engine, Recorder(), INFO, fast(prober))
    assert (
        info.value.message
        == 'postgres failed: it refused devenv\'s probe: password authentication failed for user "app"'
    )
    assert "devenv down --volumes" in info.value.hint and "POSTGRES_" in info.value.hint
    assert "api" not in starts(engine)


def test_timeout_is_its_own_error_and_ends_the_starts_still_running(ws):
    hanging = FakeProcess(None)
    engine = FakeEngine(ports=PORTS, start={"mailhog": hanging})
    with pytest.raises(StartTimeoutError) as info:
        up(ws, engine, Recorder(), INFO, fast(timeout=5))
    assert info.value.code == ExitCode.TIMEOUT
    assert info.value.message.startswith("mailhog did not become ready: not ready after 5s")
    assert hanging.ended


def test_a_port_taken_when_the_container_starts_is_exit_30(ws):
    taken = FakeProcess(
        1,
        "Error response from daemon: driver failed programming external connectivity: "
        "Bind for 127.0.0.1:41002 failed: port is already allocated\n",
    )
    engine = FakeEngine(ports=PORTS, start={"redis": taken})
    with pytest.raises(PortInUseError) as info:
        up(ws, engine, Recorder(), INFO, fast())
    assert info.value.code == ExitCode.PORT_IN_USE == 30
    assert info.value.message.startswith("redis: a published port is already in use: ")
    assert "127.0.0.1:41002" in info.value.message


def test_a_stalled_service_shows_its_newest_log_lines_while_waiting(ws):
    engine = FakeEngine(ports=PORTS, logs="LOG:  waiting for WAL\nLOG:  still waiting\n")
    reporter = Recorder()
    up(ws, engine, reporter, INFO, fast(FakeProber(after={"postgres": 200})))
    assert reporter.logs["postgres"] == ["LOG:  waiting for WAL", "LOG:  still waiting"]
    assert "redis" not in reporter.logs


def test_after_ready_hooks_run_once_everything_is_ready(ws):
    seen = []

    def seed(ready: hooks.Ready) -> str:
        seen.append({s.service: s.state for s in ready.states})
        return "seeded 3 rows"

    result = up(ws, FakeEngine(ports=PORTS), Recorder(), INFO, fast(hooks=(hooks.Hook("seed", seed),)))
    assert seen == [dict.fromkeys(ALL, "running")]
    assert result.notes == ["seeded 3 rows"]


def test_a_failing_hook_fails_up_and_records_nothing(ws):
    def broken(ready: hooks.Ready) -> str:
        raise ServiceFailedError("seeding failed: seed.sql:3: syntax error")

    with pytest.raises(ServiceFailedError, match="seed.sql:3"):
        up(ws, FakeEngine(ports=PORTS), Recorder(), INFO, fast(hooks=(hooks.Hook("seed", broken),)))
    assert not (ws.project.root / ".devenv" / "state.json").exists()


def test_up_keeps_the_records_of_other_features_in_its_state_file(ws):
    path = ws.project.root / ".devenv" / "state.json"
    path.write_text(json.dumps({"digest": "old", "seeds": {"postgres": "abc"}}))
    up(ws, FakeEngine(ports=PORTS), Recorder(), INFO, fast())
    saved = json.loads(path.read_text())
    assert saved["seeds"] == {"postgres": "abc"} and saved["digest"] != "old"
    assert saved["engine_api"] == [1, 45]


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
        up(redis_on(make_project, port), engine, Recorder(), INFO, fast())
    assert re.fullmatch(rf"port 127.0.0.1:{port} for redis is already in use by \S+ \(pid \d+\)", info.value.message)
    assert "services.redis.ports: {6379: <free port>}" in info.value.hint
    assert engine.called("create") == []


def test_a_port_our_own_running_service_holds_is_fine(make_project, held_port):
    port = held_port
    engine = FakeEngine([[state("redis", health="starting", ports={6379: port})]])
    assert up(redis_on(make_project, port), engine, Recorder(), INFO, fast()).changed


def test_no_build_keeps_the_old_fingerprint_so_the_next_up_builds(ws):
    up(ws, FakeEngine(images={"proj-api:devenv"}, ports=PORTS), Recorder(), INFO, fast(build=False))
    engine = FakeEngine(images={"proj-api:devenv"}, ports=PORTS)
    up(ws, engine, Recorder(), INFO, fast())
    assert engine.called("build") == [("build", ("api",))]


def test_a_changed_dotenv_is_a_change(ws):
    up(ws, FakeEngine(ports=PORTS), Recorder(), INFO, fast())
    (ws.project.root / ".env").write_text("POSTGRES_PASSWORD=new\n")
    engine = FakeEngine([healthy(*ALL)], images={"proj-api:devenv"}, ports=PORTS)
    assert up(ws, engine, Recorder(), INFO, fast()).changed
    assert engine.called("create")


def test_services_from_compose_files_with_a_build_are_built_when_missing(make_project):
    root = make_project(
        "name: proj\nprofiles: [redis]\nservices:\n  redis: {ports: {6379: 0}}\ncompose_files: [more.yaml]\n",
        {"more.yaml": "services:\n  worker:\n    build: ./worker\n", "worker/Dockerfile": "FROM x\n"},
    )
    engine = FakeEngine(ports=PORTS)
    up(open_workspace(root), engine, Recorder(), INFO, fast())
    assert engine.called("build") == [("build", ("worker",))]


def test_a_compose_files_service_is_rebuilt_when_its_inputs_change(make_project):
    root = make_project(
        "name: proj\nprofiles: [redis]\nservices:\n  redis: {ports: {6379: 0}}\ncompose_files: [more.yaml]\n",
        {"more.yaml": "services:\n  worker:\n    build: ./worker\n", "worker/Dockerfile": "FROM x\n"},
    )
    ws = open_workspace(root)
    running = [[state("redis", ports={6379: 41002}), state("worker", health=None)]]
    up(ws, FakeEngine(running), Recorder(), INFO, fast())
    engine = FakeEngine(running, images={"proj-worker"})
    assert not up(ws, engine, Recorder(), INFO, fast()).changed
    (root / "worker" / "Dockerfile").write_text("FROM y\n")
    engine = FakeEngine(running, images={"proj-worker"})
    assert up(ws, engine, Recorder(), INFO, fast()).built == ["worker"]


def test_a_one_shot_job_that_finishes_lets_its_dependent_start(make_project):
    root = make_project(
        "name: proj\nprofiles: [redis]\nservices:\n  redis: {ports: {6379: 0}}\ncompose_files: [more.yaml]\n",
        {
            "more.yaml": "services:\n  migrate: {image: x}\n  web:\n    image: x\n"
            "    depends_on: {migrate: {condition: service_completed_successfully}}\n"
        },
    )
    ws = open_workspace(root)

    class Engine(FakeEngine):
        def start(self, container):
            process = super().start(container)
            job = self.containers["migrate"]
            if job.state == "running":
                self.containers["migrate"] = job.__class__(**{**job.__dict__, "state": "exited", "exit_code": 0})
            return process

    engine = Engine(ports=PORTS)
    up(ws, engine, Recorder(), INFO, fast())
    assert starts(engine).index("web") > starts(engine).index("migrate")


def test_state_records_survive_a_down(ws):
    up(ws, FakeEngine(ports=PORTS), Recorder(), INFO, fast())
    applied = records.read_applied(ws.project.root)
    records.write_applied(ws.project.root, applied.__class__(**{**applied.__dict__, "extra": {"branch": "main"}}))
    records.forget_containers(ws.project.root)
    after = records.read_applied(ws.project.root)
    assert after.extra == {"branch": "main"} and after.services == () and after.fingerprints
