"""The api check after a data change, without Docker: the wait, the decision to restart, the note."""

import pytest

from devenv import apicheck
from devenv.errors import StartTimeoutError
from devenv.workspace import open_workspace
from tests.conftest import FakeEngine, FakeProcess, state

CONFIG = "name: proj\nprofiles: [api, postgres]\napi:\n  port: 0\n  health_path: /healthz\n"


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_settle_stops_at_the_first_answer_or_when_the_wait_is_over():
    clock = Clock()
    replies = iter([False, False, True])
    found = apicheck.settle(lambda: next(replies), wait=5, clock=clock, sleep=clock.sleep)
    assert found.answered and found.waited == pytest.approx(0.2)
    clock = Clock()
    never = apicheck.settle(lambda: False, wait=5, clock=clock, sleep=clock.sleep)
    assert not never.answered and never.waited == pytest.approx(5.0, abs=0.11)
    clock = Clock()
    assert apicheck.settle(lambda: True, wait=0, clock=clock, sleep=clock.sleep).answered  # asked once at least


class ApiEngine(FakeEngine):
    def __init__(self) -> None:
        api = state("api", ports={3000: 41000}, id="api1")
        super().__init__([[api, state("postgres")]])
        self.containers_after = [api]

    def start(self, container):
        self.calls.append(("start", container))
        return FakeProcess(0)

    def inspect(self, ids):
        self.calls.append(("inspect", tuple(ids)))
        return [state("api", ports={3000: 41999}, id="api1")]  # a new engine-picked port


@pytest.fixture
def ws(make_project):
    return open_workspace(make_project(CONFIG, {"Dockerfile": "FROM scratch\n"}))


def test_an_api_that_answers_is_left_alone(ws):
    engine, clock, asked = ApiEngine(), Clock(), []

    def answers(url):
        asked.append(url)
        return lambda: True

    assert apicheck.after_data_change(ws, engine, answers=answers, clock=clock, sleep=clock.sleep) is None
    assert asked == ["http://127.0.0.1:41000/healthz"]
    assert not any(c[0] in ("compose_stop", "start") for c in engine.calls)


def test_an_api_that_does_not_answer_in_time_is_restarted_and_waited_for(ws):
    engine, clock = ApiEngine(), Clock()
    asked = []

    def answers(url):
        asked.append(url)
        if url.endswith(":41000/healthz"):
            return lambda: False  # the old process: its connection is gone
        replies = iter([False, False, True])  # the restarted one comes up
        return lambda: next(replies)

    note = apicheck.after_data_change(ws, engine, answers=answers, clock=clock, sleep=clock.sleep)
    assert note == (
        "api: no answer on GET /healthz within 5s after its data changed (it kept the ended connections): "
        "restarted it, answering again after 0.5s"
    )
    assert [c for c in engine.calls if c[0] in ("compose_stop", "start")] == [
        ("compose_stop", "proj", ("api",)),
        ("start", "proj-api-1"),
    ]
    assert asked == ["http://127.0.0.1:41000/healthz", "http://127.0.0.1:41999/healthz"]


def test_an_api_that_never_answers_again_is_a_timeout(ws):
    engine, clock = ApiEngine(), Clock()
    with pytest.raises(StartTimeoutError) as caught:
        apicheck.after_data_change(ws, engine, answers=lambda url: lambda: False, clock=clock, sleep=clock.sleep)
    assert caught.value.message.startswith("api did not answer GET /healthz after the data changed")


def test_no_api_or_no_published_port_means_no_check(ws, make_project):
    engine = FakeEngine([[state("api"), state("postgres")]])  # no published port
    assert apicheck.after_data_change(ws, engine, answers=lambda url: pytest.fail("asked")) is None
    plain = open_workspace(make_project("name: plain\nprofiles: [postgres]\n", folder="plain"))
    assert apicheck.after_data_change(plain, FakeEngine([[state("postgres")]])) is None


def test_the_callers_states_save_an_engine_call(ws):
    engine = ApiEngine()
    states = [state("api", ports={3000: 41000}, id="api1")]
    assert apicheck.after_data_change(ws, engine, states=states, answers=lambda url: lambda: True) is None
    assert not any(c[0] == "services" for c in engine.calls)
