"""A user's own compose services on the real engine: bound like devenv's, shown with their
URLs, and clashes refused before anything starts."""

from __future__ import annotations

from tests.integration.conftest import containers, run_devenv, status


def test_a_compose_files_service_is_bound_to_loopback_and_shows_its_url(project):
    root, env = project(
        "profiles: [redis]\nservices:\n  redis: {ports: {6379: 0}}\ncompose_files: [more.yaml]\n",
        {
            "more.yaml": """
            services:
              cache:
                image: redis:7-alpine
                ports: ["0:6379"]
                x-devenv:
                  probes: [{protocol: redis, port: 6379}]
        """
        },
    )
    result = run_devenv("up", cwd=root, env=env)
    assert result.returncode == 0, result.stderr
    cache = status(root, env)["cache"]
    assert cache["ready"] is True
    assert [p["host_ip"] for p in cache["ports"]] == ["127.0.0.1"]
    assert cache["urls"] == [f"127.0.0.1:{cache['ports'][0]['host']}"]


def test_two_services_on_one_host_port_are_refused_before_anything_starts(project):
    root, env = project(
        "profiles: [redis]\nservices:\n  redis: {ports: {6379: 16379}}\ncompose_files: [more.yaml]\n",
        {"more.yaml": "services:\n  cache:\n    image: redis:7-alpine\n    ports: ['16379:6379']\n"},
    )
    result = run_devenv("up", cwd=root, env=env)
    assert result.returncode == 11, result.stderr
    assert result.stderr.splitlines()[0] == "error: redis and cache both publish host port 16379"
    assert containers(env["DEVENV_PROJECT_NAME"]) == []
