#!/usr/bin/env python3
"""Benchmark: back to freshly seeded data on the example shop (62,000 rows), three ways, side
by side in one run:

  reset    `devenv reset --yes`
  devenv   `devenv down --volumes --yes && devenv up` (which migrates and seeds)
  compose  `docker compose down -v && docker compose up -d --wait`, then the same migrate and
           seed by hand: `docker compose run --rm --no-deps api npm run migrate`,
           `psql -v ON_ERROR_STOP=1 < db/seed.sql` in the Postgres container, the Redis command

and, the copy being a git repository, a branch switch (`git switch` + `devenv up`, the data
moving to the other branch's database) against a no-op `devenv up`; then `devenv snapshot save`
and `devenv snapshot restore` of the same data (Postgres and Redis), next to the reset figures.

Run from the repo root:

    python bench/data.py            # 3 runs of each
    python bench/data.py --runs 5
    python bench/data.py --no-recreate   # reset, snapshot save/restore and the switch only

Standard library only. Both sides use the same rendered compose file (.devenv/compose.yaml)
under the same project name, in a copy of the example with host ports left to the engine.
Nothing is asserted: the issue's target (reset at least 10x faster than the plain Compose
path) is printed next to the figures. The database's size is printed too.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "shop"
TIMEOUT = 600.0
TARGET = 10.0  # reset at least this many times faster than the plain Compose path


def devenv_bin() -> list[str]:
    local = REPO / ".venv" / "bin" / "devenv"
    return [str(local)] if local.exists() else ["devenv"]


def run(cmd: list[str], cwd: Path, env: dict[str, str], *, stdin: str | None = None) -> float:
    began = time.monotonic()
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT, input=stdin)
    if done.returncode != 0:
        sys.exit(f"failed ({done.returncode}): {' '.join(cmd)}\n{done.stdout}{done.stderr}")
    return time.monotonic() - began


class Bench:
    def __init__(self) -> None:
        self.name = f"bench-data-{uuid.uuid4().hex[:6]}"
        self.folder = Path(tempfile.mkdtemp(prefix="devenv-bench-data-"))
        self.root = self.folder / "shop"
        shutil.copytree(EXAMPLE, self.root, ignore=shutil.ignore_patterns(".devenv", "node_modules", ".env"))
        config = (self.root / "devenv.yaml").read_text().replace("port: 3000", "port: 0")
        config += (
            "services:\n  postgres: {ports: {5432: 0}}\n  redis: {ports: {6379: 0}}\n"
            "  mailhog: {ports: {1025: 0, 8025: 0}}\n"
        )
        (self.root / "devenv.yaml").write_text(config)
        for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "shop"], ["branch", "other"]):
            subprocess.run(
                ["git", "-c", "user.email=bench@example.test", "-c", "user.name=bench", *args],
                cwd=self.root,
                check=True,
                capture_output=True,
            )
        self.env = {**os.environ, "DEVENV_PROJECT_NAME": self.name, "NO_COLOR": "1"}
        self.compose = [
            "docker", "compose", "--project-name", self.name, "--project-directory", str(self.root),
            "--file", str(self.root / ".devenv" / "compose.yaml"),
        ]  # fmt: skip

    def devenv(self, *args: str) -> float:
        return run([*devenv_bin(), *args], self.root, self.env)

    def reset(self) -> float:
        return self.devenv("reset", "--yes")

    def compiled_env(self) -> dict[str, str] | None:
        """When PYTHONDONTWRITEBYTECODE is set (this checkout then compiles devenv's modules on
        every start), the environment of an installed devenv: bytecode written once to a
        temporary PYTHONPYCACHEPREFIX (pip compiles it at install time)."""
        if not os.environ.get("PYTHONDONTWRITEBYTECODE"):
            return None
        env = {k: v for k, v in self.env.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["PYTHONPYCACHEPREFIX"] = str(self.folder / "pycache")
        run([*devenv_bin(), "status"], self.root, env)  # writes the bytecode once
        return env

    def reset_compiled(self, env: dict[str, str]) -> float:
        return run([*devenv_bin(), "reset", "--yes"], self.root, env)

    def devenv_recreate(self) -> float:
        return self.devenv("down", "--volumes", "--yes") + self.devenv("up")

    def compose_recreate(self) -> float:
        seed = (self.root / "db" / "seed.sql").read_text()
        total = run([*self.compose, "down", "-v", "--remove-orphans"], self.root, self.env)
        total += run([*self.compose, "up", "-d", "--wait"], self.root, self.env)
        total += run(
            [*self.compose, "run", "--rm", "--no-deps", "-T", "api", "npm", "run", "migrate"], self.root, self.env
        )
        total += run(
            [*self.compose, "exec", "-T", "postgres", "psql", "-q", "-v", "ON_ERROR_STOP=1", "-U", "app", "-d", "app"],
            self.root,
            self.env,
            stdin=seed,
        )
        total += run(
            [*self.compose, "exec", "-T", "redis", "redis-cli", "SET", "feature:new-checkout", "on"],
            self.root,
            self.env,
        )
        return total

    def snapshot_save(self) -> float:
        return self.devenv("snapshot", "save", "--force", "bench")

    def snapshot_restore(self) -> float:
        return self.devenv("snapshot", "restore", "--yes", "bench")

    def switch_and_up(self, branch: str) -> float:
        return run(["git", "switch", "-q", branch], self.root, self.env) + self.devenv("up")

    def size(self) -> str:
        out = subprocess.run(
            [*self.compose, "exec", "-T", "postgres", "psql", "-U", "app", "-d", "app", "-tAc",
             "select pg_size_pretty(pg_database_size('app')), (select count(*) from orders)"
             " + (select count(*) from customers) + (select count(*) from products)"],
            capture_output=True, text=True, env=self.env,
        )  # fmt: skip
        return out.stdout.strip()

    def teardown(self) -> None:
        subprocess.run([*self.compose, "down", "-v", "--remove-orphans", "--timeout", "3"], capture_output=True)
        subprocess.run(["docker", "image", "rm", "-f", f"{self.name}-api:devenv"], capture_output=True)
        shutil.rmtree(self.folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--no-recreate",
        action="store_true",
        help="leave out the two slow paths (down --volumes + up, plain Compose): reset, snapshots and switch only",
    )
    args = parser.parse_args()
    bench = Bench()
    try:
        print(f"project {bench.name}: first up (builds the api, migrates and seeds) …", flush=True)
        bench.devenv("up")
        size, _, rows = bench.size().partition("|")
        print(f"database: {size}, {rows} seeded rows", flush=True)
        times: dict[str, list[float]] = {
            "reset": [], "compiled": [], "devenv": [], "compose": [], "save": [], "restore": [],
        }  # fmt: skip
        compiled = bench.compiled_env()
        for i in range(args.runs):
            # the two slow paths alternate which goes first; reset always runs on a stack devenv
            # brought up (the template is devenv's)
            order = [] if args.no_recreate else ["devenv", "compose"] if i % 2 == 0 else ["compose", "devenv"]
            for side in order:
                times[side].append(bench.devenv_recreate() if side == "devenv" else bench.compose_recreate())
                print(f"  run {i + 1}: {side:8s} {times[side][-1]:6.2f}s", flush=True)
            if order and order[-1] == "compose":
                bench.devenv("down", "--volumes", "--yes")
                bench.devenv("up")
            times["reset"].append(bench.reset())
            print(f"  run {i + 1}: reset    {times['reset'][-1]:6.2f}s", flush=True)
            # right after the reset, under the same load: a snapshot of the seeded data and back
            times["save"].append(bench.snapshot_save())
            times["restore"].append(bench.snapshot_restore())
            print(
                f"  run {i + 1}: snapshot save {times['save'][-1]:5.2f}s, restore {times['restore'][-1]:5.2f}s",
                flush=True,
            )
            if compiled is not None:  # the reset again, as an installed devenv runs it
                times["compiled"].append(bench.reset_compiled(compiled))
                print(f"  run {i + 1}: reset, bytecode compiled {times['compiled'][-1]:5.2f}s", flush=True)
        switch: list[float] = []
        noop: list[float] = []
        bench.switch_and_up("other")  # `other` seen once: from now on both branches have a database
        for i in range(args.runs * 2):
            noop.append(bench.devenv("up"))
            switch.append(bench.switch_and_up("main" if i % 2 == 0 else "other"))
        med = {key: statistics.median(values) for key, values in times.items() if values}
        print()
        print(f"{'path':44s} {'median':>8s} {'min':>8s} {'max':>8s}")
        labels = {
            "reset": "devenv reset --yes",
            "compiled": "  the same, bytecode compiled (as installed)",
            "devenv": "devenv down --volumes && devenv up",
            "compose": "compose down -v && up --wait + seed by hand",
            "save": "devenv snapshot save (postgres + redis)",
            "restore": "devenv snapshot restore --yes",
        }
        for key, label in labels.items():
            if key not in med:
                continue
            print(f"{label:44s} {med[key]:7.2f}s {min(times[key]):7.2f}s {max(times[key]):7.2f}s")
        print()
        if "compose" in med:
            print(f"compose path / reset: {med['compose'] / med['reset']:.1f}x (target: at least {TARGET:.0f}x)")
            print(f"devenv down -v + up / reset: {med['devenv'] / med['reset']:.1f}x")
            if "compiled" in med:
                print(
                    f"compose path / reset, bytecode compiled (as installed): {med['compose'] / med['compiled']:.1f}x"
                )
        print(f"snapshot restore / reset: {med['restore'] / med['reset']:.1f}x; database {size}, {rows} rows")
        print()
        extra = statistics.median(switch) - statistics.median(noop)
        print(f"no-op devenv up:            median {statistics.median(noop):.2f}s (n={len(noop)})")
        print(f"git switch + devenv up:     median {statistics.median(switch):.2f}s (n={len(switch)})")
        print(f"a branch switch costs {extra:+.2f}s over a no-op up (target: at most +1.00s)")
    finally:
        bench.teardown()


if __name__ == "__main__":
    main()
