"""The assembled project is checked before anything starts: clashes named on both sides."""

from pathlib import Path

import pytest
import yaml

from devenv.config import Project, parse_config
from devenv.errors import ConfigError
from devenv.preflight import image_role
from devenv.profiles import load_profiles
from devenv.project import assemble

ROOT = Path("/project")
CONFIG = """
name: shop
profiles: [api, postgres, redis, mailhog]
api: {port: 3000}
"""


def build(overlay: str, config: str = CONFIG):
    parsed, _ = parse_config(config)
    project = Project(root=ROOT, config_path=ROOT / "devenv.yaml", config=parsed, name="shop")
    return assemble(
        project, load_profiles(parsed.profiles), [yaml.safe_load(overlay)], extra_names=["docker-compose.yml"]
    )


def test_two_services_publishing_one_host_port_is_an_error_naming_both_and_where_to_change():
    with pytest.raises(ConfigError) as info:
        build("services:\n  cache:\n    image: memcached\n    ports: ['6379:11211']\n")
    assert info.value.message == "redis and cache both publish host port 6379"
    assert info.value.hint == (
        "change one: devenv.yaml (services.redis.ports: {6379: <free port>}) or docker-compose.yml (services.cache.ports)"
    )


def test_a_port_on_another_host_ip_is_no_clash():
    compose = build("services:\n  cache:\n    image: memcached\n    ports: ['127.0.0.2:6379:11211']\n")
    assert any(p.service == "cache" and p.host_port == 6379 for p in compose.ports)


def test_a_dependency_the_project_does_not_have_is_an_error():
    with pytest.raises(ConfigError) as info:
        build("services:\n  worker:\n    image: x\n    depends_on: [queue]\n")
    assert info.value.message == "worker depends on queue, which this project does not have"
    assert info.value.hint == "fix depends_on in docker-compose.yml, or enable the queue profile"


def test_a_compose_file_that_weakens_what_the_api_waits_for_is_a_warning():
    compose = build("services:\n  api:\n    depends_on:\n      redis: {condition: service_started}\n")
    assert compose.notes == (
        "the api waits for redis only with service_started, weaker than devenv's service_healthy "
        "(remove services.api.depends_on.redis from docker-compose.yml: the api may start before redis accepts "
        "connections)",
    )


def test_a_second_postgres_next_to_the_profile_is_a_warning():
    compose = build("services:\n  db:\n    image: postgres:15\n")
    assert compose.notes == (
        "db (docker-compose.yml) runs postgres:15, as the postgres profile does: the project runs two "
        "(remove db from docker-compose.yml, or drop postgres from `profiles:` in devenv.yaml)",
    )


def test_image_roles():
    assert [
        image_role(i)
        for i in (
            "postgres:16-alpine",
            "mirror.example.test/library/redis:7",
            "axllent/mailpit:v1.20",
            "localhost:5000/postgres@sha256:ab",
            "node:20",
            "mypostgres",
        )
    ] == ["postgres", "redis", "mailhog", "postgres", None, None]


def test_a_compose_files_ports_follow_bind_address_unless_the_file_pins_a_host_ip():
    compose = build(
        "services:\n  web:\n    image: nginx\n    ports: ['8080:80', '0.0.0.0:8443:443', {target: 9000, published: 9000}]\n"
    )
    assert compose.compose["services"]["web"]["ports"] == [
        {"target": 80, "published": "8080", "host_ip": "127.0.0.1", "protocol": "tcp"},
        "0.0.0.0:8443:443",
        {"target": 9000, "published": 9000, "host_ip": "127.0.0.1"},
    ]
    assert compose.notes == (
        "docker-compose.yml: services.web publishes port 8443 on 0.0.0.0, not only on this machine: others on your "
        "network can reach it (leave the host IP out to use bind_address)",
    )


def test_a_compose_files_service_gets_links_http_where_devenv_probes_http():
    compose = build(
        "services:\n  web:\n    image: nginx\n    ports: ['8080:80', '8443:443']\n"
        "    x-devenv: {probes: [{protocol: http, port: 80, path: /}]}\n"
    )
    assert compose.links["web"] == ("http://{host}:{port:80}/", "{host}:{port:443}")
