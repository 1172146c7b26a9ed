"""Assembly: devenv.yaml + profiles -> compose document. Golden files hold the full output;
set UPDATE_GOLDEN=1 to rewrite them after an intended change (and review the diff)."""

import os
from pathlib import Path

import pytest
import yaml

from devenv.config import Project, parse_config
from devenv.errors import ConfigError
from devenv.profiles import load_profiles, merge, profiles_dir
from devenv.project import PublishedPort, assemble, resolve_link

GOLDEN = Path(__file__).parent.parent / "fixtures" / "test_project"
ROOT = Path("/project")


def project(text: str, name: str = "shop") -> Project:
    config, _ = parse_config(text)
    return Project(root=ROOT, config_path=ROOT / "devenv.yaml", config=config, name=name)


def build(text: str, extra: list[dict] = ()):
    p = project(text)
    return assemble(p, load_profiles(p.config.profiles), list(extra))


def check_golden(name: str, rendered: str) -> None:
    path = GOLDEN / f"{name}.yaml"
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(rendered)
    assert rendered == path.read_text()


EXAMPLE = """
name: shop
profiles: [api, postgres, redis, mailhog]
api:
  build: {context: ., dockerfile: Dockerfile, target: dev}
  port: 3000
  health_path: /health
  volumes: [./src:/app/src:ro]
  environment: {LOG_LEVEL: debug}
"""


def test_full_stack_golden():
    check_golden("full_stack", build(EXAMPLE).render())


def test_overrides_golden():
    text = """
    name: shop
    profiles: [api, postgres]
    bind_address: 0.0.0.0
    api:
      image: shop-api:1.2
      port: 8080
      container_port: 8000
      health_path: /healthz
    services:
      postgres:
        image: postgres:15-alpine
        ports: {5432: 15432}
        environment: {POSTGRES_DB: shop}
    """
    check_golden("overrides", build(text.replace("\n    ", "\n")).render())


def test_profiles_are_valid_compose_files_on_their_own():
    for path in sorted(profiles_dir().glob("*.yaml")):
        data = yaml.safe_load(path.read_text())
        (service,) = data["services"]
        assert service == path.stem
        assert data["services"][service]["profiles"] == [path.stem]
        assert "healthcheck" in data["services"][service]
        for port in data["services"][service].get("ports", []):
            assert port["host_ip"] == "127.0.0.1"


def test_api_gets_the_connection_settings_of_enabled_services_only():
    env = build("profiles: [api, redis]\n").compose["services"]["api"]["environment"]
    assert env["REDIS_URL"] == "redis://redis:6379/0"
    assert "DATABASE_URL" not in env and "SMTP_HOST" not in env
    assert env["PORT"] == "3000"


def test_user_environment_wins_over_injected():
    env = build("api:\n  environment:\n    REDIS_URL: redis://elsewhere:1/0\n    DEBUG: true\n").compose["services"][
        "api"
    ]["environment"]
    assert env["REDIS_URL"] == "redis://elsewhere:1/0"
    assert env["DEBUG"] == "true"


def test_api_waits_for_data_services_healthy_and_mail_started():
    result = build(EXAMPLE)
    assert result.compose["services"]["api"]["depends_on"] == {
        "postgres": {"condition": "service_healthy"},
        "redis": {"condition": "service_healthy"},
        "mailhog": {"condition": "service_started"},
    }
    assert result.services[-1] == "api"
    assert result.with_dependencies(["api"]) == list(result.services)
    assert result.with_dependencies(["redis"]) == ["redis"]


def test_service_override_flows_into_the_api_wiring():
    result = build("profiles: [api, postgres]\nservices:\n  postgres:\n    environment: {POSTGRES_DB: shop}\n")
    url = result.compose["services"]["api"]["environment"]["DATABASE_URL"]
    assert url == "postgres://${POSTGRES_USER:-app}:${POSTGRES_PASSWORD:-devenv}@postgres:5432/shop"
    assert result.links["postgres"][0].endswith("/shop")


def test_secrets_stay_references_and_dotenv_is_not_inlined():
    rendered = build(EXAMPLE).render()
    assert "${POSTGRES_PASSWORD:-devenv}" in rendered
    api = build(EXAMPLE).compose["services"]["api"]
    assert api["env_file"] == [{"path": "/project/.env", "required": False}]


def test_every_published_port_binds_to_loopback_by_default():
    result = build(EXAMPLE)
    assert {p.host_ip for p in result.ports} == {"127.0.0.1"}
    assert PublishedPort("mailhog", 8025, "127.0.0.1", 8025) in result.ports


def test_port_zero_lets_the_engine_choose():
    result = build("profiles: [redis]\nservices:\n  redis:\n    ports: {6379: 0}\n")
    assert result.compose["services"]["redis"]["ports"] == [{"target": 6379, "host_ip": "127.0.0.1", "protocol": "tcp"}]
    assert result.ports == (PublishedPort("redis", 6379, "127.0.0.1", 0),)


def test_override_of_a_port_the_service_does_not_publish():
    with pytest.raises(ConfigError, match="postgres publishes no container port 5433"):
        build("services:\n  postgres:\n    ports: {5433: 5433}\n")


def test_override_of_a_disabled_profile():
    with pytest.raises(ConfigError, match="services.redis overrides a profile that is not enabled"):
        build("profiles: [postgres]\nservices:\n  redis:\n    image: redis:6\n")


def test_unknown_selected_profile():
    with pytest.raises(ConfigError, match="profile 'redis' is not enabled"):
        build("profiles: [postgres]\n").with_dependencies(["redis"])


def test_extra_compose_files_merge_last_with_absolute_paths():
    extra = {
        "services": {
            "api": {"environment": {"FEATURE": "on"}, "ports": ["127.0.0.1:9229:9229"]},
            "worker": {"build": "./worker", "depends_on": ["redis"], "volumes": ["./data:/data"]},
        }
    }
    result = build(EXAMPLE, [extra])
    services = result.compose["services"]
    assert services["api"]["environment"]["FEATURE"] == "on"
    assert services["api"]["environment"]["LOG_LEVEL"] == "debug"
    assert "127.0.0.1:9229:9229" in services["api"]["ports"] and len(services["api"]["ports"]) == 2
    assert services["worker"]["build"] == {"context": "/project/worker"}
    assert services["worker"]["volumes"] == ["/project/data:/data"]
    assert result.services.index("redis") < result.services.index("worker")
    assert PublishedPort("api", 9229, "127.0.0.1", 9229) in result.ports


def test_dependency_cycle_is_an_error():
    extra = {"services": {"a": {"image": "x", "depends_on": ["b"]}, "b": {"image": "x", "depends_on": ["a"]}}}
    with pytest.raises(ConfigError, match="cycle"):
        build("profiles: [redis]\n", [extra])


def test_merge_rules():
    base = {"services": {"s": {"command": ["a"], "environment": ["A=1"], "ports": ["1:1"]}}}
    over = {"services": {"s": {"command": ["b"], "environment": {"B": "2"}, "ports": ["1:1", "2:2"]}}}
    merged = merge(base, over)["services"]["s"]
    assert merged == {"command": ["b"], "environment": {"A": "1", "B": "2"}, "ports": ["1:1", "2:2"]}
    assert base["services"]["s"]["command"] == ["a"]  # inputs untouched


def test_digest_follows_the_rendered_document():
    assert build(EXAMPLE).digest() == build(EXAMPLE).digest()
    assert build(EXAMPLE).digest() != build(EXAMPLE.replace("port: 3000", "port: 3001")).digest()


def test_resolve_link():
    template = "postgres://${POSTGRES_USER:-app}:${POSTGRES_PASSWORD:-devenv}@{host}:{port:5432}/db"
    assert (
        resolve_link(template, {"POSTGRES_PASSWORD": "pw"}, "127.0.0.1", {5432: 15432})
        == "postgres://app:pw@127.0.0.1:15432/db"
    )
    assert resolve_link(template, {}, "0.0.0.0", {5432: 5432}) == "postgres://app:devenv@127.0.0.1:5432/db"
    assert resolve_link(template, {}, "127.0.0.1", {}) is None


def test_api_link_follows_its_container_port():
    result = build("profiles: [api]\napi:\n  container_port: 8000\n")
    assert result.links["api"] == ("http://{host}:{port:8000}/",)


def test_services_api_is_rejected_with_the_right_place():
    with pytest.raises(ConfigError, match="the api is configured under `api:`"):
        build("services:\n  api:\n    image: x\n")


def test_a_later_mount_on_the_same_path_replaces_the_earlier():
    extra = {"services": {"api": {"volumes": ["./lib:/app/src", "cache:/cache"]}}}
    volumes = build(EXAMPLE, [extra]).compose["services"]["api"]["volumes"]
    assert volumes == ["/project/lib:/app/src", "cache:/cache"]


def test_full_stack_golden_for_an_engine_that_honours_start_interval():
    p = project(EXAMPLE)
    rendered = assemble(p, load_profiles(p.config.profiles), start_interval=True).render()
    check_golden("full_stack_start_interval", rendered)
    services = yaml.safe_load(rendered)["services"]
    assert {name: s["healthcheck"].get("start_interval") for name, s in services.items()} == dict.fromkeys(
        ("api", "postgres", "redis", "mailhog"), "500ms"
    )
    older = yaml.safe_load(build(EXAMPLE).render())["services"]
    assert all("start_interval" not in s["healthcheck"] for s in older.values())


def test_a_healthcheck_whose_interval_a_compose_file_changed_keeps_its_timing():
    p = project(EXAMPLE)
    slow = {"services": {"postgres": {"healthcheck": {"interval": "5s"}}}}
    doc = assemble(p, load_profiles(p.config.profiles), [slow], start_interval=True).compose
    assert "start_interval" not in doc["services"]["postgres"]["healthcheck"]
    assert doc["services"]["redis"]["healthcheck"]["start_interval"] == "500ms"


def test_probes_come_from_the_profiles_with_the_api_on_its_own_port_and_path():
    compose = build(EXAMPLE.replace("health_path: /health", "health_path: /ready\n  container_port: 8080"))
    assert compose.probes["api"] == ({"protocol": "http", "port": 8080, "path": "/ready"},)
    assert compose.probes["postgres"][0]["password"] == "${POSTGRES_PASSWORD:-devenv}"
    assert [p["protocol"] for p in compose.probes["mailhog"]] == ["http"]


def test_a_pinned_database_name_reaches_the_postgres_probe():
    compose = build(EXAMPLE + "services:\n  postgres: {environment: {POSTGRES_DB: shop}}\n")
    assert compose.probes["postgres"][0]["database"] == "shop"


def test_a_compose_files_service_declares_its_probe_in_x_devenv():
    extra = {"services": {"worker": {"image": "x", "x-devenv": {"probes": [{"protocol": "http", "port": 9000}]}}}}
    compose = build(EXAMPLE, [extra])
    assert compose.probes["worker"] == ({"protocol": "http", "port": 9000},)
    assert "x-devenv" not in compose.compose["services"]["worker"]


def test_a_malformed_probe_is_a_config_error():
    extra = {"services": {"worker": {"image": "x", "x-devenv": {"probes": [{"protocol": "gopher", "port": 1}]}}}}
    with pytest.raises(ConfigError, match="services.worker.x-devenv.probes: each probe needs a protocol"):
        build(EXAMPLE, [extra])


def test_conditions_of_each_dependency():
    compose = build(EXAMPLE, [{"services": {"worker": {"image": "x", "depends_on": ["redis"]}}}])
    assert compose.conditions["api"] == {
        "postgres": "service_healthy",
        "redis": "service_healthy",
        "mailhog": "service_started",
    }
    assert compose.conditions["worker"] == {"redis": "service_started"}


def test_a_profile_takes_extra_volumes_from_devenv_yaml_relative_to_the_project():
    compose = build(
        EXAMPLE
        + "services:\n  postgres:\n    volumes: ['./db:/docker-entrypoint-initdb.d:ro', 'pg:/var/lib/postgresql/data']\n"
    )
    assert compose.compose["services"]["postgres"]["volumes"] == [
        "/project/db:/docker-entrypoint-initdb.d:ro",
        "pg:/var/lib/postgresql/data",
    ]
    assert "pg" in compose.compose["volumes"]


def test_dependency_volume_golden():
    """An anonymous /app/node_modules (as adopted projects have) is rendered as a named volume
    whose name carries the manifests' hash, declared with its label; the mounts stay."""
    text = """
    name: shop
    profiles: [api]
    api:
      build: {context: ., target: dev}
      volumes: ['.:/app', /app/node_modules]
    """
    check_golden("dependency_volume", build(text.replace("\n    ", "\n")).render())
