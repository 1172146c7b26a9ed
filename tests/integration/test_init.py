"""`devenv init` on three existing compose projects, then `devenv up` on the real engine: the
api answers, the Postgres init scripts ran, and an edit to the mounted source reloads."""

from __future__ import annotations

import json
import subprocess
import textwrap
import urllib.request
from pathlib import Path

import pytest

from tests.integration.conftest import new_name, run_devenv, status, teardown, wait_for

SERVER = """
const http = require("http");
http.createServer((req, res) => {
  if (req.url === "%(health)s") { res.writeHead(200); return res.end("ok"); }
  res.writeHead(200, { "content-type": "text/plain" });
  res.end("version one\\n");
}).listen(process.env.PORT || %(port)s, "0.0.0.0");
"""
DOCKERFILE = """
FROM node:20-alpine
WORKDIR /app
COPY src ./src
USER node
CMD ["node", "--watch", "src/server.js"]
"""
INIT_SQL = "CREATE TABLE items (id serial PRIMARY KEY, name text);\nINSERT INTO items (name) VALUES ('a'), ('b');\n"

PROJECTS = {
    # the classic: v2 `version:`, db with init scripts and a 5 s healthcheck, redis without one,
    # mailhog, the app built from Dockerfile.dev with ./src mounted and an anonymous node_modules
    "classic": {
        "docker-compose.yml": """
            version: "3.8"
            services:
              app:
                build: {context: ., dockerfile: Dockerfile.dev}
                ports: ["0:3000"]
                volumes: ["./src:/app/src:ro", "/app/node_modules"]
                environment:
                  DATABASE_URL: postgres://shop:s3cret@db:5432/shop
                depends_on: [db, redis]
              db:
                image: postgres:16-alpine
                environment: {POSTGRES_USER: shop, POSTGRES_PASSWORD: s3cret, POSTGRES_DB: shop}
                volumes: ["./db:/docker-entrypoint-initdb.d:ro"]
                ports: ["0:5432"]
                healthcheck: {test: ["CMD-SHELL", "pg_isready -h 127.0.0.1 -U shop"], interval: 5s}
              redis:
                image: redis:7-alpine
              mailhog:
                image: mailhog/mailhog:v1.0.1
                ports: ["0:8025"]
        """,
        "Dockerfile.dev": DOCKERFILE,
        "src/server.js": SERVER % {"health": "/health", "port": 3000},
        "db/01-items.sql": INIT_SQL,
        "user": "shop",
        "database": "shop",
    },
    # list environments, a worker next to the api, Postgres under another name, /healthz
    "worker": {
        "compose.yaml": """
            services:
              web:
                build: .
                ports: ["0:8080"]
                volumes: ["./src:/app/src:ro"]
                environment: ["DB_HOST=database", "NODE_ENV=development"]
              worker:
                build: .
                command: ["node", "-e", "setInterval(() => {}, 1000)"]
                environment: ["DB_HOST=database"]
                depends_on: [database]
              database:
                image: postgres:16-alpine
                environment: ["POSTGRES_PASSWORD=pw", "POSTGRES_DB=orders"]
                volumes: ["./init:/docker-entrypoint-initdb.d:ro"]
        """,
        "Dockerfile": DOCKERFILE,
        "src/server.js": SERVER % {"health": "/healthz", "port": 8080},
        "init/01-items.sql": INIT_SQL,
        "user": "app",
        "database": "orders",
    },
    # Mailpit instead of MailHog (mapped to devenv's mailhog profile), no healthchecks at all,
    # the api on 5000 with its health path under /api
    "mailpit": {
        "docker-compose.yml": """
            services:
              backend:
                build: {context: ., dockerfile: docker/Dockerfile}
                ports: ["0:5000"]
                volumes: ["./src:/app/src:ro"]
                environment:
                  SMTP_HOST: mailpit
              maindb:
                image: postgres:16-alpine
                environment: {POSTGRES_USER: u, POSTGRES_PASSWORD: p, POSTGRES_DB: app}
                volumes: ["./sql:/docker-entrypoint-initdb.d:ro"]
              mailpit:
                image: axllent/mailpit:v1.20
                ports: ["0:8025"]
        """,
        "docker/Dockerfile": DOCKERFILE,
        "src/server.js": SERVER % {"health": "/api/health", "port": 5000},
        "sql/01-items.sql": INIT_SQL,
        "user": "u",
        "database": "app",
    },
}


@pytest.fixture
def adopted(tmp_path: Path):
    made: list[str] = []

    def make(kind: str) -> tuple[Path, dict[str, str], dict[str, str]]:
        spec = PROJECTS[kind]
        root = tmp_path / kind
        for name, text in spec.items():
            if name not in ("user", "database"):
                path = root / name
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(textwrap.dedent(text).lstrip())
        name = new_name(f"init-{kind}")
        made.append(name)
        return root, {"DEVENV_PROJECT_NAME": name}, spec

    yield make
    for name in made:
        teardown(name)
        subprocess.run(["docker", "image", "rm", "-f", f"{name}-worker"], capture_output=True)


def _text(url: str) -> str:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.read().decode()
    except OSError:
        return ""


@pytest.mark.parametrize("kind", sorted(PROJECTS))
def test_init_then_up_brings_the_project_up_with_init_scripts_and_hot_reload(adopted, kind):
    root, env, spec = adopted(kind)
    original = {p: p.read_text() for p in root.rglob("*compose*.y*ml")}
    init = run_devenv("init", cwd=root, env=env)
    assert init.returncode == 0, init.stderr + init.stdout
    assert {p: p.read_text() for p in original} == original  # their compose file is untouched
    up = run_devenv("up", "--json", cwd=root, env=env)
    assert up.returncode == 0, up.stderr
    rows = {row["service"]: row for row in json.loads(up.stdout)["services"]}
    assert rows["api"]["ready"] and rows["postgres"]["ready"]
    if kind == "worker":
        assert rows["worker"]["state"] == "running"
    name = env["DEVENV_PROJECT_NAME"]
    count = subprocess.run(
        [
            "docker",
            "exec",
            f"{name}-postgres-1",
            "psql",
            "-U",
            spec["user"],
            "-d",
            spec["database"],
            "-tAc",
            "select count(*) from items",
        ],
        capture_output=True,
        text=True,
    )
    assert count.stdout.strip() == "2", count.stderr
    url = status(root, env)["api"]["urls"][0]
    assert _text(url) == "version one\n"
    server = root / "src" / "server.js"
    server.write_text(server.read_text().replace("version one", "version two"))
    assert wait_for(lambda: _text(url) == "version two\n", timeout=30), "the edit did not reload"
