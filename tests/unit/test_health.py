from devenv.health import Tracker, Verdict, failure, wait
from tests.conftest import state


def test_ready_when_every_service_is_healthy_or_running_without_healthcheck():
    tracker = Tracker(["postgres", "worker"], started=100.0, timeout=60)
    verdict = tracker.observe([state("postgres"), state("worker", health=None)], now=103.5)
    assert verdict == Verdict("ready")
    assert tracker.progress["postgres"].ready_after == 3.5


def test_waiting_while_starting_and_records_time_to_ready():
    tracker = Tracker(["postgres", "api"], started=0.0, timeout=60)
    assert tracker.observe([state("postgres", health="starting")], now=1.0).kind == "waiting"
    assert tracker.progress["api"].status == "waiting"
    assert tracker.progress["postgres"].status == "starting"
    assert tracker.observe([state("postgres"), state("api", "created", None)], now=2.0).kind == "waiting"
    assert tracker.observe([state("postgres"), state("api")], now=4.0).kind == "ready"
    assert tracker.progress["postgres"].ready_after == 2.0
    assert tracker.progress["api"].ready_after == 4.0


def test_unhealthy_fails_at_once_naming_the_service():
    tracker = Tracker(["postgres", "redis"], started=0.0, timeout=60)
    verdict = tracker.observe([state("postgres"), state("redis", health="unhealthy")], now=1.0)
    assert verdict == Verdict("failed", "redis", "its healthcheck keeps failing")


def test_exited_container_fails_with_its_exit_code():
    tracker = Tracker(["api"], started=0.0, timeout=60)
    assert tracker.observe([state("api", "exited", None, exit_code=3)], now=1.0) == Verdict("failed", "api", "exited with code 3")


def test_timeout_names_what_is_not_ready():
    tracker = Tracker(["postgres", "api"], started=0.0, timeout=10)
    verdict = tracker.observe([state("postgres"), state("api", health="starting")], now=10.0)
    assert verdict.kind == "timeout" and verdict.service == "api"
    assert verdict.reason == "not ready after 10s: api"


def test_a_service_that_drops_out_is_no_longer_ready():
    tracker = Tracker(["redis"], started=0.0, timeout=60)
    tracker.observe([state("redis", health="starting")], now=1.0)
    assert tracker.progress["redis"].ready_after is None


def test_failure_rules():
    assert failure(state("x", "running", "starting")) == ""
    assert failure(state("x", "restarting", None)) == ""
    assert failure(state("x", "dead", None, exit_code=137)) == "exited with code 137"


def test_wait_uses_the_given_clock_and_never_really_sleeps():
    now = [0.0]
    slept = []
    snapshots = iter([[state("redis", health="starting")]] * 3 + [[state("redis")]])

    def sleep(seconds):
        slept.append(seconds)
        now[0] += seconds

    tracker = Tracker(["redis"], started=0.0, timeout=60)
    seen = []
    verdict = wait(tracker, lambda: next(snapshots), clock=lambda: now[0], sleep=sleep,
                   on_change=lambda t, n: seen.append(t.progress["redis"].status))
    assert verdict.kind == "ready"
    assert len(slept) == 3
    assert seen == ["starting", "starting", "starting", "healthy"]


def test_wait_times_out_instantly_with_a_fake_clock():
    now = [0.0]

    def sleep(seconds):
        now[0] += 30

    tracker = Tracker(["postgres"], started=0.0, timeout=120)
    verdict = wait(tracker, lambda: [state("postgres", health="starting")], clock=lambda: now[0], sleep=sleep)
    assert verdict.kind == "timeout" and now[0] == 120


def test_wait_can_be_ended_early():
    tracker = Tracker(["postgres"], started=0.0, timeout=120)
    early = Verdict("failed", "postgres", "it exited")
    verdict = wait(tracker, lambda: [], clock=lambda: 0.0, sleep=lambda s: None, interrupt=lambda: early)
    assert verdict is early


def _aged(service_state, seconds_ago):
    from dataclasses import replace
    from datetime import datetime, timedelta, timezone
    return replace(service_state, started_at=datetime.now(timezone.utc) - timedelta(seconds=seconds_ago))


def test_a_container_stopped_before_up_is_not_judged_until_compose_settles():
    from datetime import datetime, timezone
    tracker = Tracker(["postgres"], started=0.0, timeout=60, since=datetime.now(timezone.utc))
    stale = _aged(state("postgres", "exited", None), 300)
    assert tracker.observe([stale], now=1.0).kind == "waiting"
    tracker.settle(2.0)
    assert tracker.observe([stale], now=2.0) == Verdict("failed", "postgres", "exited with code 0")


def test_a_container_unhealthy_before_up_gets_time_to_recover():
    from datetime import datetime, timezone
    tracker = Tracker(["api"], started=0.0, timeout=60, since=datetime.now(timezone.utc))
    stale = _aged(state("api", health="unhealthy"), 300)
    tracker.settle(1.0)
    assert tracker.observe([stale], now=5.0).kind == "waiting"
    assert tracker.observe([stale], now=11.0).kind == "failed"


def test_a_container_started_during_up_is_judged_at_once():
    from datetime import datetime, timedelta, timezone
    tracker = Tracker(["api"], started=0.0, timeout=60, since=datetime.now(timezone.utc) - timedelta(seconds=5))
    fresh = _aged(state("api", "exited", None, exit_code=1), 1)
    assert tracker.observe([fresh], now=1.0) == Verdict("failed", "api", "exited with code 1")


def test_not_ready_until_compose_is_done_when_it_is_starting_things():
    from datetime import datetime, timezone
    tracker = Tracker(["postgres"], started=0.0, timeout=60, since=datetime.now(timezone.utc))
    old_but_healthy = _aged(state("postgres"), 300)  # may be about to be replaced
    assert tracker.observe([old_but_healthy], now=1.0).kind == "waiting"
    tracker.settle(1.5)
    assert tracker.observe([old_but_healthy], now=2.0).kind == "ready"


def test_a_confirmed_service_is_ready_before_docker_says_healthy():
    tracker = Tracker(["api"], started=0.0, timeout=60)
    assert tracker.observe([state("api", health="starting")], now=0.5).kind == "waiting"
    tracker.confirm(state("api", health="starting"))
    assert tracker.observe([state("api", health="starting")], now=0.6).kind == "ready"
    assert tracker.progress["api"].status == "answering"
    # a recreated container has to answer for itself
    assert tracker.observe([state("api", health="starting", id="new")], now=0.65).kind == "waiting"
    assert tracker.observe([state("api", "exited", None, exit_code=1)], now=0.7).kind == "failed"


def test_an_unhealthy_container_is_not_ready_even_if_it_answered():
    tracker = Tracker(["api"], started=0.0, timeout=60)
    tracker.confirm(state("api", health="starting"))
    assert tracker.observe([state("api", health="unhealthy")], now=1.0).kind == "failed"
