"""Three compose projects in the styles real ones use, for `devenv init` on the real engine
(tests/integration/test_init.py) and for bench/adopt.py. Plain data: no pytest here.
Each maps file names to their text; "user" and "database" name what the init script made."""

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
