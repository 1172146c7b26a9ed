"""Readiness rules: the pure tracker with made-up snapshots and clock, and the prober's thread
against a real little HTTP server on loopback."""

import http.server
import threading
import time
from dataclasses import replace

import pytest

from devenv.readiness import Probe, Prober, Report, Rule, Tracker, Verdict, check_now, failure, probe_host
from tests.conftest import state

PG = Rule("postgres", (Probe("postgres", 5432, user="app", password="pw", database="app"),))
API = Rule("api", (Probe("http", 3000, path="/health"),))
WORKER = Rule("worker")


def tracker(timeout=60.0, **depends):
    rules = {"postgres": PG, "api": API, "worker": WORKER}
    order = ["postgres", "worker", "api"]
    return Tracker(rules, order, {"api": depends or {"postgres": "service_healthy"}}, started=0.0, timeout=timeout)


def launched(t, *states, now=0.0):
    for s in states:
        t.launch(s, now)
    return list(states)


def ok(s, wall=123.0):
    return Report(s.id, True, "answering", wall=wall)


def test_a_dependent_starts_only_once_its_dependency_answers_devenvs_probe():
    t = tracker()
    pg, worker, api = state("postgres", health="starting"), state("worker", health=None), state("api", "created", None)
    assert t.startable([pg, worker, api]) == ["postgres", "worker"]
    launched(t, pg, worker)
    t.observe([pg, worker, api], {}, now=1.0)
    assert t.startable([pg, worker, api]) == []  # Docker says starting and no probe answered
    t.observe([pg, worker, api], {"postgres": ok(pg)}, now=1.5)
    assert t.startable([pg, worker, api]) == ["api"]  # before Docker's next healthcheck tick


def test_service_started_needs_only_a_running_container():
    t = tracker(postgres="service_started")
    pg = state("postgres", health="starting")
    launched(t, pg)
    assert t.startable([pg, state("api", "created", None)]) == ["api"]


def test_ready_by_probe_records_when_and_keeps_docker_health_apart():
    t = tracker()
    pg, worker, api = launched(
        t, state("postgres", health="starting"), state("worker", health=None), state("api", health="starting")
    )
    verdict = t.observe([pg, worker, api], {"postgres": ok(pg), "api": ok(api, wall=99.0)}, now=2.5)
    assert verdict == Verdict("ready")
    assert t.progress["api"].ready_after == 2.5 and t.progress["api"].ready_at == 99.0
    assert t.progress["api"].status == "ready" and t.progress["api"].health == "starting"


def test_a_probe_answer_about_another_container_does_not_count():
    t = tracker()
    pg = launched(t, state("postgres", health="healthy", id="new"))[0]
    t.observe([pg], {"postgres": Report("old", True, "answering")}, now=1.0)
    assert "postgres" not in t.ready


def test_without_a_probe_dockers_health_counts_else_running():
    t = Tracker({"w": Rule("w"), "h": Rule("h")}, ["w", "h"], {}, started=0.0, timeout=60)
    w, h = launched(t, state("w", health=None), state("h", health="starting"))
    assert t.observe([w, h], {}, now=1.0).kind == "waiting"
    assert t.progress["w"].ready_after == 1.0 and t.progress["h"].ready_after is None
    assert t.observe([w, replace(h, health="healthy")], {}, now=2.0) == Verdict("ready")


def test_an_old_exited_container_is_not_a_failure_before_its_start():
    t = tracker()
    old = state("worker", "exited", None, exit_code=137)
    assert t.observe([old], {}, now=1.0).kind == "waiting"
    t.launch(replace(old, state="running"), now=2.0)
    # a snapshot asked for before the start finished still shows the old container
    assert t.observe([old], {}, now=2.1, polled_at=1.9).kind == "waiting"
    assert t.observe([old], {}, now=2.2, polled_at=2.1) == Verdict("failed", "worker", "exited with code 137")


def test_a_crash_loop_fails_at_once():
    t = tracker()
    pg = launched(t, state("postgres", health=None))[0]
    looping = replace(pg, state="running", restart_count=2, exit_code=1)
    assert t.observe([looping], {}, now=1.0) == Verdict("failed", "postgres", "it keeps restarting (last exit code 1)")
    assert t.observe([replace(pg, state="restarting")], {}, now=1.0).kind == "failed"


def test_a_probe_refusal_fails_at_once_with_the_protocols_hint():
    t = tracker()
    pg = launched(t, state("postgres", health="starting"))[0]
    report = Report(pg.id, False, 'password authentication failed for user "app"', fatal=True, protocol="postgres")
    verdict = t.observe([pg], {"postgres": report}, now=1.0)
    assert verdict.kind == "failed" and verdict.reason.endswith('password authentication failed for user "app"')
    assert "devenv down --volumes" in verdict.hint


def test_unhealthy_fails_unless_the_probe_already_answered():
    t = tracker()
    pg = launched(t, state("postgres", health="unhealthy"))[0]
    assert t.observe([pg], {}, now=1.0) == Verdict("failed", "postgres", "its healthcheck keeps failing")
    t = tracker()
    pg = launched(t, state("postgres", health="unhealthy"))[0]
    assert t.observe([pg], {"postgres": ok(pg)}, now=1.0).kind == "waiting"


def test_timeout_names_what_is_not_ready():
    t = tracker(timeout=10)
    pg = launched(t, state("postgres", health="starting"))[0]
    verdict = t.observe([pg], {}, now=10.0)
    assert verdict.kind == "timeout" and verdict.service == "postgres"
    assert verdict.reason == "not ready after 10s: postgres, worker, api"


def test_stalled_services_are_the_started_ones_not_ready_for_a_while():
    t = tracker()
    pg = launched(t, state("postgres", health="starting"), now=1.0)[0]
    t.observe([pg], {}, now=2.0)
    assert t.stalled(3.9) == [] and t.stalled(4.0) == ["postgres"]


def test_a_one_shot_job_is_ready_when_it_finished_well():
    t = Tracker({"migrate": Rule("migrate", completes=True)}, ["migrate"], {}, started=0.0, timeout=60)
    job = launched(t, state("migrate", "exited", None, exit_code=0))[0]
    assert t.observe([job], {}, now=1.0) == Verdict("ready")
    assert t.progress["migrate"].status == "completed"


def test_failure_rules():
    assert failure(state("x", "running", "starting")) == ""
    assert failure(state("x", "dead", None, exit_code=137)) == "exited with code 137"


def test_probe_host_for_each_bind_address():
    assert [probe_host(h) for h in ("", "0.0.0.0", "::", "127.0.0.1", "::1")] == [
        "127.0.0.1",
        "127.0.0.1",
        "::1",
        "127.0.0.1",
        "::1",
    ]


@pytest.fixture
def health_server():
    """A real HTTP server on loopback whose /health answers 503 until `ready` is set."""
    ready = threading.Event()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            code = 200 if ready.is_set() else 503
            self.send_response(code)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], ready
    server.shutdown()
    server.server_close()


def test_the_prober_wakes_the_waiter_the_moment_the_service_answers(health_server):
    port, ready = health_server
    prober = Prober()
    api = state("api", health="starting", ports={3000: port})
    try:
        prober.watch(API, api)
        assert prober.wake.wait(2) and prober.reports()["api"].detail.startswith("HTTP 503")
        prober.wake.clear()
        ready.set()
        answered = time.monotonic()
        assert prober.wake.wait(2)
        assert time.monotonic() - answered < 0.5  # its cadence is 50 ms while starting
        report = prober.reports()["api"]
        assert report.ok and report.container == api.id and report.wall is not None
    finally:
        prober.stop()


def test_check_now_probes_running_services_once(health_server):
    port, ready = health_server
    ready.set()
    reports = check_now(
        {"api": API, "worker": WORKER}, [state("api", ports={3000: port}), state("worker", health=None)]
    )
    assert list(reports) == ["api"] and reports["api"].ok


def test_without_probe_or_healthcheck_it_must_keep_running_a_moment():
    """A crash-looping container is running between its restarts: a glimpse is not ready."""
    t = Tracker({"w": Rule("w")}, ["w"], {}, started=0.0, timeout=60)
    w = launched(t, state("w", health=None), now=5.0)[0]
    assert t.observe([w], {}, now=5.5).kind == "waiting"
    assert t.observe([w], {}, now=6.0) == Verdict("ready")
    t = Tracker({"w": Rule("w")}, ["w"], {}, started=0.0, timeout=60)
    w = launched(t, state("w", health=None), now=5.0)[0]
    assert t.observe([replace(w, restart_count=1)], {}, now=6.5).kind == "failed"
