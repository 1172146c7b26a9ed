"""The up plan: decided once, as data, without Docker."""

from devenv import state
from devenv.hooks import Hook
from devenv.plan import Facts, plan_up
from devenv.workspace import open_workspace
from tests.unit.conftest import CONFIG


def facts(ws, applied=state.Applied(), images=None, fingerprints=None):
    return Facts(applied, ws.digest(), fingerprints if fingerprints is not None else {"api": "f1"}, images or {})


def test_a_first_plan_builds_the_missing_image_and_orders_the_starts(ws):
    plan = plan_up(ws, facts(ws))
    assert plan.services == ("mailhog", "postgres", "redis", "api")
    assert plan.build == ("api",) and not plan.unchanged
    assert plan.depends["api"] == {
        "postgres": "service_healthy",
        "redis": "service_healthy",
        "mailhog": "service_started",
    }
    assert plan.rules["postgres"].probes[0].password == "devenv"  # resolved, in memory only
    assert plan.record == {"api": "f1"}


def test_an_unchanged_stack_is_a_no_op_candidate_and_builds_nothing(ws):
    applied = state.Applied(ws.digest(), {"api": "f1"}, ("api", "mailhog", "postgres", "redis"))
    plan = plan_up(ws, facts(ws, applied, images={"proj-api:devenv": True}))
    assert plan.unchanged and plan.build == ()
    assert not plan_up(ws, facts(ws, applied), build=True).unchanged


def test_changed_build_inputs_rebuild_and_no_build_keeps_the_old_fingerprint(ws):
    applied = state.Applied(ws.digest(), {"api": "f0"}, ("api",))
    plan = plan_up(ws, facts(ws, applied, images={"proj-api:devenv": True}))
    assert plan.build == ("api",) and not plan.unchanged and plan.record == {"api": "f1"}
    plan = plan_up(ws, facts(ws, applied, images={"proj-api:devenv": True}), build=False)
    assert plan.build == () and plan.record == {"api": "f0"}


def test_a_profile_selection_plans_only_it_and_what_it_waits_for(ws):
    plan = plan_up(ws, facts(ws), services=["redis"])
    assert plan.services == ("redis",) and plan.build == () and set(plan.rules) == {"redis"}


def test_the_plan_in_words(make_project):
    ws = open_workspace(make_project(CONFIG + "timeout: 30\n", {"Dockerfile": "FROM x\n"}))
    plan = plan_up(ws, facts(ws), hooks=(Hook("seed the database", lambda ready: None),))
    assert plan.describe() == [
        "build: api",
        "start mailhog: at once; ready when HTTP GET /api/v2/messages?limit=1 on port 8025 answers",
        "start postgres: at once; ready when a Postgres login as app to app on port 5432 answers",
        "start redis: at once; ready when redis on port 6379 answers",
        "start api: postgres is ready, redis is ready, mailhog has started; ready when HTTP GET /health on port 3000 answers",
        "then: seed the database",
        "give up after 30s",
    ]


def test_a_one_shot_job_is_described_as_finishing(make_project):
    root = make_project(
        "name: proj\nprofiles: [redis]\nservices:\n  redis: {ports: {6379: 0}}\ncompose_files: [more.yaml]\n",
        {
            "more.yaml": "services:\n  migrate: {image: x}\n  web:\n    image: x\n"
            "    depends_on: {migrate: {condition: service_completed_successfully}}\n"
        },
    )
    ws = open_workspace(root)
    lines = plan_up(ws, facts(ws, fingerprints={})).describe()
    assert "start migrate: at once; ready once it has finished with exit code 0" in lines
    assert (
        "start web: migrate has finished; ready by Docker's healthcheck, else once it has kept running for a second"
        in lines
    )
