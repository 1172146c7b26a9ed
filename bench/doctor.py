#!/usr/bin/env python3
"""Benchmark: `devenv doctor` on a healthy machine, next to the plain docker commands a person
would type to learn the same things by hand (one after the other).

Run from the repo root:

    python bench/doctor.py            # 11 runs of each
    python bench/doctor.py --runs 15

Standard library only. It copies examples/shop to a temp folder (host ports left to the
engine), writes its .env from .env.example, starts it with `devenv up` (untimed), then times
`devenv doctor` (every check, including a Postgres login through the published port) against
`docker version` + `docker compose version` + `docker buildx version` + `docker context inspect`
+ `docker info` run in sequence, and `devenv --version` (Python's start and the CLI: the floor
under any devenv command). The runs alternate. The stack is removed at the end. Nothing is
asserted: the target (under a second) is printed next to the figures.

When PYTHONDONTWRITEBYTECODE is set (devenv then compiles its own modules on every start, as a
source checkout does), doctor is also timed with bytecode written once to a temporary
PYTHONPYCACHEPREFIX: what an installed devenv (pip compiles at install time) spends.
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
TARGET = 1.0  # seconds (printed, never checked)
BY_HAND = [
    ["docker", "version", "--format", "{{.Server.Version}} {{.Server.APIVersion}}"],
    ["docker", "compose", "version", "--short"],
    ["docker", "buildx", "version"],
    ["docker", "context", "inspect", "--format", "{{.Endpoints.docker.Host}}"],
    ["docker", "info", "--format", "{{.DockerRootDir}}"],
]


def devenv_command() -> list[str]:
    local = REPO / ".venv" / "bin" / "devenv"
    return [str(local)] if local.exists() else ["devenv"]


def timed(run) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=11)
    args = parser.parse_args()
    devenv = devenv_command()
    name = f"bench-doctor-{uuid.uuid4().hex[:6]}"
    env = {**os.environ, "DEVENV_PROJECT_NAME": name, "NO_COLOR": "1"}
    with tempfile.TemporaryDirectory(prefix="devenv-bench-") as folder:
        root = Path(folder) / "shop"
        shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns("node_modules", ".devenv", ".env"))
        config = (root / "devenv.yaml").read_text().replace("port: 3000", "port: 0")
        config += "services:\n  postgres: {ports: {5432: 0}}\n  redis: {ports: {6379: 0}}\n"
        config += "  mailhog: {ports: {1025: 0, 8025: 0}}\n"
        (root / "devenv.yaml").write_text(config)
        shutil.copyfile(root / ".env.example", root / ".env")
        try:
            up = subprocess.run([*devenv, "up"], cwd=root, env=env, capture_output=True, text=True)
            if up.returncode != 0:
                print(up.stderr, file=sys.stderr)
                return 1
            cache = Path(folder) / "pycache"
            compiled = None
            if os.environ.get("PYTHONDONTWRITEBYTECODE"):
                compiled = {k: v for k, v in env.items() if k != "PYTHONDONTWRITEBYTECODE"}
                compiled["PYTHONPYCACHEPREFIX"] = str(cache)
                subprocess.run([*devenv, "doctor"], cwd=root, env=compiled, capture_output=True)  # writes it
            doctor_times, compiled_times, hand_times, floor_times = [], [], [], []
            for _ in range(args.runs):
                result = []

                def doctor(result=result, env=env) -> None:
                    result.append(
                        subprocess.run([*devenv, "doctor"], cwd=root, env=env, capture_output=True, text=True)
                    )

                doctor_times.append(timed(doctor))
                if result[0].returncode != 0:
                    print(result[0].stdout, file=sys.stderr)
                    return 1
                if compiled is not None:
                    compiled_times.append(timed(lambda: doctor(env=compiled)))
                floor_times.append(timed(lambda: subprocess.run([*devenv, "--version"], env=env, capture_output=True)))
                hand_times.append(timed(lambda: [subprocess.run(cmd, capture_output=True, env=env) for cmd in BY_HAND]))
            print(result[0].stdout.rstrip())
        finally:
            subprocess.run([*devenv, "down", "--volumes", "--yes"], cwd=root, env=env, capture_output=True)
            subprocess.run(["docker", "image", "rm", "-f", f"{name}-api:devenv"], capture_output=True)
    d, h = statistics.median(doctor_times), statistics.median(hand_times)
    print()
    print(
        f"devenv doctor (whole process, {args.runs} runs): median {d:.3f}s  min {min(doctor_times):.3f}s  "
        f"max {max(doctor_times):.3f}s  (target < {TARGET:.1f}s)"
    )
    if compiled_times:
        c = statistics.median(compiled_times)
        print(
            f"devenv doctor, bytecode compiled (installed): median {c:.3f}s  min {min(compiled_times):.3f}s  "
            f"max {max(compiled_times):.3f}s"
        )
    print(f"the docker commands by hand, in sequence:      median {h:.3f}s")
    print(f"devenv --version (Python start and the CLI):  median {statistics.median(floor_times):.3f}s")
    print(f"ratio doctor / by hand: {d / h:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
