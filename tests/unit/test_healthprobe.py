"""check --health: the throwaway copy's compose document, and the probe's verdicts (fake engine)."""

from __future__ import annotations

from devenv import healthprobe
from devenv.workspace import open_workspace
from tests.conftest import FakeEngine, state

CONFIG = "name: proj\nprofiles: [api, postgres]\n"


def test_the_copy_has_no_fixed_ports_and_its_own_name():
    doc = {"services": {"postgres": {"container_name": "pg", "ports": [{"target": 5432, "published": "5432"}]}}}
    copy = healthprobe.throwaway_compose(doc, "proj-check-1")
    assert copy["name"] == "proj-check-1"
    assert copy["services"]["postgres"] == {"ports": [{"target": 5432}]}
    assert doc["services"]["postgres"]["ports"][0]["published"] == "5432"  # the original is untouched


def run(make_project, answers):
    root = make_project(CONFIG, {"Dockerfile": "FROM node:20-alpine\n"})
    ws = open_workspace(root)
    fake = FakeEngine([[state("api", ports={3000: 41000}, project="x"), state("postgres", project="x")]])
    seen = list(answers)
    result = healthprobe.probe(
        ws,
        fake,
        status=lambda url: seen.pop(0) if len(seen) > 1 else seen[0],
        sleep=lambda s: None,
        clock=iter(range(100)).__next__,
    )
    return result, fake


def test_an_api_that_answers_503_once_postgres_stops(make_project):
    result, fake = run(make_project, [200, 200, 503])
    assert (result.ok, result.down_status) == (True, 503)
    [(_, name)] = fake.called("compose_up")
    assert name.startswith("proj-check-")
    assert fake.called("compose_stop") == [("compose_stop", name, ("postgres",))]
    assert fake.called("build") == [("build", ("api",))]  # no image yet
    assert fake.called("down") == [("down", True)]  # removed with its volumes


def test_an_api_that_always_answers_200(make_project):
    result, fake = run(make_project, [200])
    assert result.ok is False and result.detail == "/health still answers 200 with Postgres stopped"
    assert fake.called("down") == [("down", True)]


def test_an_api_that_is_not_healthy_to_begin_with(make_project):
    result, _ = run(make_project, [500])
    assert result.ok is False and result.detail == "/health answered 500 with every service up"


def test_nothing_to_probe_without_postgres(make_project):
    root = make_project("name: proj\nprofiles: [api]\n", {"Dockerfile": "FROM node:20-alpine\n"})
    assert healthprobe.probe(open_workspace(root), FakeEngine()).ok is None
