"""`devenv up` on the example project: the whole stack, for real, shared by the tests below
in file order (it is started once; the last test takes it down)."""

from __future__ import annotations

import subprocess
import uuid

import pytest

from tests.integration.conftest import (
    containers,
    copy_example,
    http,
    new_name,
    run_devenv,
    status,
    teardown,
    volumes,
    wait_for,
)


@pytest.fixture(scope="module")
def shop(tmp_path_factory, docker_engine):
    name = new_name("shop")
    root = copy_example(tmp_path_factory.mktemp("shop") / "shop")
    secret = f"pw-{uuid.uuid4().hex}"
    (root / ".env").write_text(f"POSTGRES_PASSWORD={secret}\n")  # as a team keeps its secrets
    env = {"DEVENV_PROJECT_NAME": name}
    first = run_devenv("up", cwd=root, env=env)
    try:
        yield {"name": name, "root": root, "env": env, "first": first, "secret": secret}
    finally:
        teardown(name)


def url_of(shop, service: str, prefix: str) -> str:
    urls = status(shop["root"], shop["env"])[service]["urls"]
    return next(u for u in urls if u.startswith(prefix))


def test_up_brings_all_four_services_healthy_and_prints_their_urls(shop):
    first = shop["first"]
    assert first.returncode == 0, first.stdout + first.stderr
    assert f"{shop['name']} is up in" in first.stdout
    assert "postgres://app:***@127.0.0.1:" in first.stdout  # the .env password, not printed
    assert "redis://127.0.0.1:" in first.stdout
    services = status(shop["root"], shop["env"])
    assert {s: (v["state"], v["health"]) for s, v in services.items()} == {
        s: ("running", "healthy") for s in ("api", "postgres", "redis", "mailhog")
    }
    # published on loopback only
    for info in services.values():
        assert all("127.0.0.1" in url for url in info["urls"])


def test_api_health_answers_200_with_db_and_redis_ok(shop):
    code, body = http("GET", url_of(shop, "api", "http://") + "health")
    assert (code, body) == (200, {"status": "ok", "checks": {"db": "ok", "redis": "ok"}})


def test_a_signup_writes_postgres_caches_in_redis_and_mails_through_mailhog(shop):
    api = url_of(shop, "api", "http://")
    code, body = http("POST", api + "signups", {"email": "ada@example.test"})
    assert code == 201 and body["cached"] and body["mailed"], body
    code, row = http("GET", f"{api}signups/{body['id']}")
    assert (code, row["source"], row["email"]) == (200, "cache", "ada@example.test")
    mailhog = url_of(shop, "mailhog", "http://")

    def delivered():
        _, found = http("GET", mailhog + "api/v2/search?kind=to&query=ada@example.test")
        return found if found.get("total") else None

    found = wait_for(delivered, timeout=10)
    assert found, "the welcome mail never reached Mailhog"
    assert found["items"][0]["Content"]["Headers"]["Subject"] == ["Welcome to shop"]


def test_the_secret_from_dotenv_is_used_but_never_written_into_files_or_images(shop):
    secret, name = shop["secret"], shop["name"]
    assert secret not in (shop["root"] / ".devenv" / "compose.yaml").read_text()
    assert secret not in (shop["root"] / ".devenv" / "state.json").read_text()
    for command in (
        ["docker", "image", "inspect", f"{name}-api:devenv"],
        ["docker", "history", "--no-trunc", f"{name}-api:devenv"],
    ):
        assert secret not in subprocess.run(command, capture_output=True, text=True, check=True).stdout
    assert secret not in shop["first"].stdout + shop["first"].stderr
    # ...and the api really connects with it (health said db ok), as a non-root user
    uid = subprocess.run(["docker", "exec", f"{name}-api-1", "id", "-u"], capture_output=True, text=True, check=True)
    assert uid.stdout.strip() != "0"
    database_url = subprocess.run(
        ["docker", "exec", f"{name}-api-1", "printenv", "DATABASE_URL"], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert database_url == f"postgres://app:{secret}@postgres:5432/app"


def test_a_second_up_changes_nothing(shop):
    before = {c["Names"]: c["ID"] for c in containers(shop["name"])}
    again = run_devenv("up", cwd=shop["root"], env=shop["env"])
    assert again.returncode == 0, again.stderr
    assert "is already up; nothing changed" in again.stdout
    assert {c["Names"]: c["ID"] for c in containers(shop["name"])} == before
    assert all(c["State"] == "running" for c in containers(shop["name"]))


def test_stopping_postgres_turns_health_503_and_status_shows_it(shop):
    api = url_of(shop, "api", "http://")
    subprocess.run(["docker", "stop", "-t", "2", f"{shop['name']}-postgres-1"], check=True, capture_output=True)

    def failing():
        answer = http("GET", api + "health")
        return answer if answer[0] == 503 else None

    code, body = wait_for(failing, timeout=15) or (None, {})
    assert code == 503, "the api kept answering 200 with postgres stopped"
    assert body["status"] == "fail" and body["checks"]["db"] != "ok" and body["checks"]["redis"] == "ok"
    assert status(shop["root"], shop["env"])["postgres"]["state"] == "exited"

    # `up` notices and brings it back; the api answers 200 again
    back = run_devenv("up", cwd=shop["root"], env=shop["env"])
    assert back.returncode == 0, back.stderr
    assert "is up in" in back.stdout
    assert wait_for(lambda: http("GET", api + "health")[0] == 200, timeout=15)


def test_the_dev_target_reloads_a_source_edit_without_a_rebuild(shop):
    api = url_of(shop, "api", "http://")
    server = shop["root"] / "src" / "server.js"
    original = server.read_text()
    assert "no route for" in original

    def serving(text: str):
        def check() -> bool:
            try:
                return text in str(http("GET", api + "nope")[1])
            except OSError:  # the server is restarting
                return False

        return check

    server.write_text(original.replace("no route for", "nothing lives at"))
    try:
        assert wait_for(serving("nothing lives at"), timeout=20), "the api did not pick up the edit"
    finally:
        server.write_text(original)
    assert wait_for(serving("no route for"), timeout=20), "the api did not pick up the revert"
    # the source is bind-mounted, so the edit is not a build input: `up` has nothing to do
    again = run_devenv("up", cwd=shop["root"], env=shop["env"])
    assert "nothing changed" in again.stdout, again.stdout + again.stderr


def test_down_keeps_the_data_and_down_volumes_removes_it(shop):
    name, root, env = shop["name"], shop["root"], shop["env"]
    kept = volumes(name)
    assert f"{name}_postgres-data" in kept and f"{name}_redis-data" in kept

    down = run_devenv("down", cwd=root, env=env)
    assert down.returncode == 0, down.stderr
    assert "data kept" in down.stdout
    assert containers(name) == [] and volumes(name) == kept

    up = run_devenv("up", cwd=root, env=env)
    assert up.returncode == 0, up.stderr
    rows = subprocess.run(
        ["docker", "exec", f"{name}-postgres-1", "psql", "-U", "app", "-d", "app", "-tAc", "select email from signups"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert rows == ["ada@example.test"]

    refused = run_devenv("down", "--volumes", cwd=root, env=env)
    assert refused.returncode == 50 and "add --yes" in refused.stderr
    assert volumes(name) == kept

    gone = run_devenv("down", "--volumes", "--yes", cwd=root, env=env)
    assert gone.returncode == 0, gone.stderr
    assert containers(name) == [] and volumes(name) == []
