#!/usr/bin/env python3
"""Benchmark: `devenv logs` against `docker compose logs`, side by side in one run.

Run from the repo root:

    python bench/logs.py             # 5 rounds of throughput and start-up, 100 follow samples
    python bench/logs.py --rounds 3 --samples 50

Standard library only. It starts a small project of its own (devenv.yaml with no profiles and
three `sh -c` services in a local image) under a fresh project name, and removes it after:

* throughput: `bulk` printed 200,000 lines (`seq 200000`); the time of
  `devenv logs bulk > /dev/null` and of `docker compose -p NAME logs bulk > /dev/null`,
  alternated, medians and their ratio (target: devenv/compose <= 1.0), after one untimed
  `devenv logs` (which remembers the project's names); once more for devenv right after
  devenv.yaml's modification time changed: the names it remembered are stale then, so it
  loads the project through the CLI, as on the first run after a change;
* follow latency: `pinger` prints `ping <its clock>` every 0.1 s; `devenv logs -f pinger` and
  `docker compose logs -f pinger` run at the same time, and each line's arrival on their
  stdout is compared with the time written in it (same kernel, same clock): median and p95
  over N lines (target: median <= 0.1 s);
* start-up: `devenv logs app --tail 10` and `docker compose -p NAME logs app --tail 10` as
  whole processes, alternated, medians and ratio.

When PYTHONDONTWRITEBYTECODE is set (devenv then compiles its own modules on every start, as a
source checkout does), throughput and start-up are also timed with devenv's bytecode written
once to a temporary PYTHONPYCACHEPREFIX: what an installed devenv (pip compiles at install
time) spends.

Nothing is asserted: targets are printed next to the figures.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
IMAGE = "redis:7-alpine"  # a local image with a POSIX sh, seq, date and sleep
LINES = 200_000
THROUGHPUT_TARGET = 1.0  # devenv / compose
LATENCY_TARGET = 0.1  # s, median
SERVICES = f"""services:
  bulk:
    image: {IMAGE}
    init: true
    command: [sh, -c, "seq {LINES}; echo done; sleep infinity"]
  pinger:
    image: {IMAGE}
    init: true
    command: [sh, -c, "while true; do echo ping $$(date +%s.%N); sleep 0.1; done"]
  app:
    image: {IMAGE}
    init: true
    command: [sh, -c, "seq 500 | sed 's/^/app line /'; sleep infinity"]
"""


def devenv_command() -> list[str]:
    local = REPO / ".venv" / "bin" / "devenv"
    if local.exists():
        return [str(local)]
    found = shutil.which("devenv")
    if found is None:
        sys.exit("bench: no devenv (make the repo's .venv, or put devenv on PATH)")
    return [found]


def timed(cmd: list[str], cwd: Path, env: dict[str, str]) -> float:
    began = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - began


def wait_printed(container: str, needle: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = subprocess.run(["docker", "logs", "--tail", "2", container], capture_output=True, text=True).stdout
        if needle in out:
            return
        time.sleep(0.2)
    sys.exit(f"bench: {container} did not print {needle!r} in {timeout:.0f} s")


class Arrivals:
    """Reads a follow's stdout; for each `ping <time>` line, how late it arrived."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self.delays: list[float] = []
        self.process = process
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for raw in self.process.stdout:
            now = time.time()
            words = raw.decode(errors="replace").split()
            if len(words) >= 2 and words[-2] == "ping":
                try:
                    self.delays.append(now - float(words[-1]))
                except ValueError:
                    continue


def follow_latency(
    devenv: list[str], name: str, cwd: Path, env: dict[str, str], samples: int
) -> dict[str, list[float]]:
    commands = {
        "devenv": [*devenv, "logs", "-f", "--tail", "0", "--no-prefix", "pinger"],
        "compose": ["docker", "compose", "-p", name, "logs", "-f", "--tail", "0", "--no-log-prefix", "pinger"],
    }
    followers = {
        side: subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        for side, cmd in commands.items()
    }
    arrivals = {side: Arrivals(process) for side, process in followers.items()}
    try:
        time.sleep(1.0)  # both attached: count from here
        for found in arrivals.values():
            found.delays.clear()
        deadline = time.monotonic() + samples * 0.1 * 3 + 30
        while time.monotonic() < deadline and min(len(a.delays) for a in arrivals.values()) < samples:
            time.sleep(0.2)
    finally:
        for process in followers.values():
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
    return {side: found.delays[:samples] for side, found in arrivals.items()}


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="pairs of throughput and start-up runs")
    parser.add_argument("--samples", type=int, default=100, help="follow-latency lines per side")
    args = parser.parse_args()
    devenv = devenv_command()
    name = f"bench-logs-{secrets.token_hex(3)}"
    env = {**os.environ, "DEVENV_PROJECT_NAME": name, "NO_COLOR": "1"}
    with (
        tempfile.TemporaryDirectory(prefix="devenv-bench-logs-") as folder,
        tempfile.TemporaryDirectory(prefix="devenv-bench-pycache-") as cache,
    ):
        root = Path(folder)
        (root / "devenv.yaml").write_text("profiles: []\ncompose_files: [services.yaml]\n")
        (root / "services.yaml").write_text(SERVICES)
        try:
            print(f"bench: starting {name} (bulk prints {LINES:,} lines) …", file=sys.stderr)
            subprocess.run([*devenv, "up"], cwd=root, env=env, check=True, stdout=subprocess.DEVNULL)
            wait_printed(f"{name}-bulk-1", "done")
            wait_printed(f"{name}-app-1", "app line 500")
            subprocess.run([*devenv, "logs", "app", "--tail", "1"], cwd=root, env=env, capture_output=True, check=True)
            compiled = None
            if os.environ.get("PYTHONDONTWRITEBYTECODE"):
                compiled = {k: v for k, v in env.items() if k != "PYTHONDONTWRITEBYTECODE"}
                compiled["PYTHONPYCACHEPREFIX"] = str(Path(cache) / "pycache")
                for warm in (["status"], ["logs", "app", "--tail", "1"]):  # writes the bytecode of both paths
                    subprocess.run([*devenv, *warm], cwd=root, env=compiled, capture_output=True, check=True)

            throughput: dict[str, list[float]] = {"devenv": [], "compose": [], "loaded": [], "compiled": []}
            startup: dict[str, list[float]] = {"devenv": [], "compose": [], "compiled": []}
            for _ in range(args.rounds):
                throughput["devenv"].append(timed([*devenv, "logs", "bulk"], root, env))
                throughput["compose"].append(timed(["docker", "compose", "-p", name, "logs", "bulk"], root, env))
                # devenv.yaml changed (a new mtime, seconds ago): the names devenv logs remembered
                # are stale, the project is loaded, and remembered again for the next runs
                moment = time.time() - 10
                os.utime(root / "devenv.yaml", (moment, moment))
                throughput["loaded"].append(timed([*devenv, "logs", "bulk"], root, env))
                if compiled is not None:
                    throughput["compiled"].append(timed([*devenv, "logs", "bulk"], root, compiled))
                startup["devenv"].append(timed([*devenv, "logs", "app", "--tail", "10"], root, env))
                startup["compose"].append(
                    timed(["docker", "compose", "-p", name, "logs", "app", "--tail", "10"], root, env)
                )
                if compiled is not None:
                    startup["compiled"].append(timed([*devenv, "logs", "app", "--tail", "10"], root, compiled))
            latency = follow_latency(devenv, name, root, env, args.samples)
        finally:
            subprocess.run(
                ["docker", "compose", "-p", name, "down", "--timeout", "0", "--remove-orphans"],
                capture_output=True,
            )

    cores = os.cpu_count()
    print(f"devenv logs vs docker compose logs ({cores} cores, {args.rounds} rounds, medians)")
    t_dev, t_com = statistics.median(throughput["devenv"]), statistics.median(throughput["compose"])
    print(
        f"throughput  {LINES:,} lines > /dev/null   devenv {t_dev:6.2f} s   compose {t_com:6.2f} s   "
        f"ratio {t_dev / t_com:4.2f} (target <= {THROUGHPUT_TARGET})"
    )
    t_loaded = statistics.median(throughput["loaded"])
    print(
        f"            devenv.yaml just changed   devenv {t_loaded:6.2f} s   compose {t_com:6.2f} s   "
        f"ratio {t_loaded / t_com:4.2f} (the project loaded, as on a first run)"
    )
    if throughput["compiled"]:
        t_compiled = statistics.median(throughput["compiled"])
        print(
            f"            bytecode compiled          devenv {t_compiled:6.2f} s   compose {t_com:6.2f} s   "
            f"ratio {t_compiled / t_com:4.2f} (as installed)"
        )
    s_dev, s_com = statistics.median(startup["devenv"]), statistics.median(startup["compose"])
    print(
        f"start-up    logs app --tail 10         devenv {s_dev:6.2f} s   compose {s_com:6.2f} s   "
        f"ratio {s_dev / s_com:4.2f}"
    )
    if startup["compiled"]:
        s_compiled = statistics.median(startup["compiled"])
        print(
            f"            bytecode compiled          devenv {s_compiled:6.2f} s   compose {s_com:6.2f} s   "
            f"ratio {s_compiled / s_com:4.2f} (as installed)"
        )
    for side in ("devenv", "compose"):
        delays = latency[side]
        if not delays:
            print(f"follow      {side:8} no lines arrived")
            continue
        print(
            f"follow      {side:8} line -> stdout   median {statistics.median(delays):6.3f} s   "
            f"p95 {p95(delays):6.3f} s   n={len(delays)}"
            + (f" (target median <= {LATENCY_TARGET} s)" if side == "devenv" else "")
        )


if __name__ == "__main__":
    main()
