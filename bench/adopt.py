#!/usr/bin/env python3
"""Benchmark: three existing compose projects, `devenv init` then `devenv up`, against
`docker compose up -d --wait` on their original file.

    python bench/adopt.py            # 3 pairs per project
    python bench/adopt.py --runs 5

Standard library only. Each project (tests/integration/adopt_projects.py) is written to a temp
folder, adopted with `devenv init`, and its images built once (untimed). Then, in alternating
order, each side starts it from nothing (containers and volumes removed before every run):
devenv returns when every service answers its probe, the api's health path included; Compose
returns when its containers run (and are healthy where the file has a healthcheck). Both
publish host ports the engine picks. Nothing is asserted: it measures.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.integration.adopt_projects import PROJECTS  # noqa: E402 - the repo root first


def devenv_command() -> list[str]:
    local = REPO / ".venv" / "bin" / "devenv"
    return [str(local)] if local.exists() else ["devenv"]


def run(cmd: list[str], cwd: Path, env: dict[str, str]) -> float:
    began = time.monotonic()
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    took = time.monotonic() - began
    if result.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{result.stdout}{result.stderr}")
    return took


def _missing_images(root: Path, env: dict[str, str]) -> list[str]:
    """Images the original compose file names that are not on this machine (nothing is pulled)."""
    listed = subprocess.run(
        ["docker", "compose", "config", "--images"], cwd=root, env=env, capture_output=True, text=True
    ).stdout.split()
    return [i for i in listed if subprocess.run(["docker", "image", "inspect", i], capture_output=True).returncode]


def clean(name: str, cwd: Path, env: dict[str, str]) -> None:
    subprocess.run(
        ["docker", "compose", "-p", name, "down", "--volumes", "--remove-orphans", "--timeout", "3"],
        cwd=cwd,
        env=env,
        capture_output=True,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="pairs per project (default 3)")
    args = parser.parse_args(argv)
    devenv = devenv_command()
    rows = []
    with tempfile.TemporaryDirectory(prefix="devenv-bench-adopt-") as tmp:
        for kind, spec in sorted(PROJECTS.items()):
            root = Path(tmp) / kind
            for file, text in spec.items():
                if file not in ("user", "database"):
                    path = root / file
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_text(textwrap.dedent(text).lstrip())
            name = f"bench-adopt-{kind}-{uuid.uuid4().hex[:6]}"
            env = {**os.environ, "DEVENV_PROJECT_NAME": name, "COMPOSE_PROJECT_NAME": name, "NO_COLOR": "1"}
            try:
                run([*devenv, "init"], root, env)
                run(["docker", "compose", "build"], root, env)
                run([*devenv, "up"], root, env)  # builds devenv's api image; untimed
                missing = _missing_images(root, env)
                if missing:
                    print(
                        f"  {kind}: compose side skipped: {', '.join(missing)} is not on this machine (devenv "
                        "runs its own profile's image instead)",
                        flush=True,
                    )
                times: dict[str, list[float]] = {"devenv": [], "compose": []}
                for pair in range(args.runs):
                    order = ["devenv", "compose"] if pair % 2 == 0 else ["compose", "devenv"]
                    for side in [s for s in order if not (missing and s == "compose")]:
                        clean(name, root, env)
                        if side == "devenv":
                            times[side].append(run([*devenv, "up"], root, env))
                        else:
                            times[side].append(run(["docker", "compose", "up", "-d", "--wait"], root, env))
                    theirs = f"{times['compose'][-1]:.2f}s" if times["compose"] else "n/a"
                    print(f"  {kind} pair {pair + 1}: devenv {times['devenv'][-1]:.2f}s, compose {theirs}", flush=True)
                medians = {side: statistics.median(found) if found else None for side, found in times.items()}
                rows.append((kind, medians["devenv"], medians["compose"]))
            finally:
                clean(name, root, env)
                subprocess.run(
                    [
                        "docker",
                        "image",
                        "rm",
                        "-f",
                        f"{name}-api:devenv",
                        *(f"{name}-{s}" for s in ("app", "web", "worker", "backend")),
                    ],
                    capture_output=True,
                )
            shutil.rmtree(root, ignore_errors=True)
    print(f"\n{'project':<10} {'devenv up':>10} {'compose up --wait':>18} {'ratio':>7}")
    for kind, mine, theirs in rows:
        if theirs is None or mine is None:
            print(f"{kind:<10} {mine or 0:>9.2f}s {'n/a':>18}")
        else:
            print(f"{kind:<10} {mine:>9.2f}s {theirs:>17.2f}s {mine / theirs:>6.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
