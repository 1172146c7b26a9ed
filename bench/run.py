#!/usr/bin/env python3
"""Benchmark: `devenv up` against plain `docker compose up -d --wait` on the example shop stack.

Run from the repo root:

    python bench/run.py            # 5 pairs per scenario
    python bench/run.py --runs 9
    python bench/run.py --quick    # 2 pairs per scenario

Standard library only; devenv is run as a subprocess (the repo's .venv/bin/devenv when it
exists, else `devenv` on PATH). Both sides start the same rendered compose file under the
same project name, with every host port set to 0, so the benchmark never collides with other
stacks. Nothing is asserted about the timings: it measures, it does not judge. See
bench/README.md for what each scenario means and how to read the ratios.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "shop"
COMMAND_TIMEOUT = 300.0  # seconds; a hung command is a failure, not an endless wait
HEALTH_TIMEOUT = 2.0
# Host ports of the four services, all rewritten to 0 (Docker picks a free one).
SERVICE_PORTS = "services: {postgres: {ports: {5432: 0}}, redis: {ports: {6379: 0}}, mailhog: {ports: {1025: 0, 8025: 0}}}"


# -- running commands ----------------------------------------------------------------------


class CommandFailed(Exception):
    def __init__(self, cmd: list[str], returncode: int | None, stdout: str, stderr: str, note: str = "") -> None:
        super().__init__(" ".join(cmd))
        self.cmd, self.returncode, self.stdout, self.stderr, self.note = cmd, returncode, stdout, stderr, note

    def report(self) -> str:
        what = self.note or f"exit code {self.returncode}"
        lines = [f"command failed ({what}): {' '.join(self.cmd)}"]
        text = self.stderr.strip() or self.stdout.strip()
        if text:
            lines.append("its " + ("stderr" if self.stderr.strip() else "stdout") + " (last 40 lines):")
            lines += ["  " + line for line in text.splitlines()[-40:]]
        return "\n".join(lines)


class Interrupted(Exception):
    """SIGTERM, turned into an exception so the teardown still runs."""


@dataclass
class Runner:
    env: dict[str, str]

    def run(self, cmd: list[str], cwd: Path, *, check: bool = True) -> tuple[float, subprocess.CompletedProcess[str]]:
        """Run a command with its output captured; return (seconds it took, the result)."""
        start = time.perf_counter()
        try:
            result = subprocess.run(cmd, check=False, cwd=cwd, env=self.env, capture_output=True, text=True,
                                    stdin=subprocess.DEVNULL, timeout=COMMAND_TIMEOUT)
        except subprocess.TimeoutExpired as exc:
            out = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else (exc.stdout or "")
            err = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else (exc.stderr or "")
            raise CommandFailed(cmd, None, out, err, note=f"no answer after {COMMAND_TIMEOUT:.0f}s") from None
        except FileNotFoundError:
            raise CommandFailed(cmd, None, "", "", note=f"{cmd[0]} not found") from None
        elapsed = time.perf_counter() - start
        if check and result.returncode != 0:
            raise CommandFailed(cmd, result.returncode, result.stdout, result.stderr)
        return elapsed, result


# -- the benchmark's project -----------------------------------------------------------------


@dataclass
class Bench:
    runner: Runner
    devenv: str
    name: str
    tmp: Path
    project: Path = field(init=False)
    rendered: Path = field(init=False)

    def __post_init__(self) -> None:
        self.project = self.tmp / "shop"
        self.rendered = self.tmp / "rendered.yaml"

    # the commands being compared
    def devenv_cmd(self, *args: str) -> list[str]:
        return [self.devenv, *args]

    def compose_cmd(self, *args: str) -> list[str]:
        return ["docker", "compose", "-p", self.name, "-f", str(self.rendered), *args]

    def run(self, cmd: list[str], *, check: bool = True) -> tuple[float, subprocess.CompletedProcess[str]]:
        return self.runner.run(cmd, self.project if self.project.is_dir() else self.tmp, check=check)

    def prepare(self) -> None:
        """Copy the example, zero its host ports, render it once, build the api once."""
        shutil.copytree(EXAMPLE, self.project, ignore=shutil.ignore_patterns(".devenv", "node_modules", ".env"))
        config = self.project / "devenv.yaml"
        config.write_text(zero_ports(config.read_text(encoding="utf-8")), encoding="utf-8")
        _, result = self.run(self.devenv_cmd("config"))
        self.rendered.write_text(result.stdout, encoding="utf-8")
        check_rendered(result.stdout, self.name)
        self.run(self.devenv_cmd("up"))  # builds NAME-api:devenv, untimed
        self.run(self.devenv_cmd("down"))

    def api_answers(self) -> tuple[bool, str, float]:
        """GET the api's /health from the host once: (answered 200, detail, seconds it took)."""
        start = time.perf_counter()
        try:
            _, result = self.run(["docker", "compose", "-p", self.name, "port", "api", "3000"], check=False)
            address = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
            if result.returncode != 0 or ":" not in address:
                return False, f"no published port ({result.stderr.strip() or 'empty answer'})", time.perf_counter() - start
            host, port = address.rsplit(":", 1)
            host = "127.0.0.1" if host in ("0.0.0.0", "", "[::]", "::") else host.strip("[]")
            opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
            try:
                with opener.open(f"http://{host}:{port}/health", timeout=HEALTH_TIMEOUT) as response:
                    return response.status == 200, f"HTTP {response.status}", time.perf_counter() - start
            except urllib.error.HTTPError as exc:
                return False, f"HTTP {exc.code}", time.perf_counter() - start
            except (urllib.error.URLError, OSError) as exc:
                reason = getattr(exc, "reason", exc)
                return False, f"{type(exc).__name__}: {reason}", time.perf_counter() - start
        except CommandFailed as exc:
            return False, exc.note or "port lookup failed", time.perf_counter() - start

    def teardown(self) -> list[str]:
        """Remove everything the benchmark made; return what went wrong (empty when clean)."""
        problems: list[str] = []
        label = f"label=com.docker.compose.project={self.name}"
        steps = [
            ["docker", "compose", "-p", self.name, "down", "-v", "--remove-orphans"],
        ]
        for cmd in steps:
            try:
                self.runner.run(cmd, self.tmp if self.tmp.is_dir() else Path.cwd())
            except CommandFailed as exc:
                problems.append(exc.report())
        # Whatever `down` left (it should leave nothing), removed by label.
        for kind, listing, removal in (
            ("container", ["docker", "ps", "-aq", "--filter", label], ["docker", "rm", "-f", "-v"]),
            ("volume", ["docker", "volume", "ls", "-q", "--filter", label], ["docker", "volume", "rm", "-f"]),
            ("network", ["docker", "network", "ls", "-q", "--filter", label], ["docker", "network", "rm"]),
        ):
            try:
                _, found = self.runner.run(listing, Path.cwd())
                left = found.stdout.split()
                if left:
                    problems.append(f"{len(left)} {kind}(s) were left after `down`; removing them")
                    self.runner.run([*removal, *left], Path.cwd())
            except CommandFailed as exc:
                problems.append(exc.report())
        image = f"{self.name}-api:devenv"
        try:
            _, found = self.runner.run(["docker", "image", "inspect", image], Path.cwd(), check=False)
            if found.returncode == 0:
                self.runner.run(["docker", "image", "rm", image], Path.cwd())
        except CommandFailed as exc:
            problems.append(exc.report())
        shutil.rmtree(self.tmp, ignore_errors=True)
        return problems


def zero_ports(text: str) -> str:
    """devenv.yaml with every host port set to 0 (text edits: the benchmark is stdlib only)."""
    if re.search(r"^services\s*:", text, re.MULTILINE):
        raise SystemExit("bench: examples/shop/devenv.yaml already has `services:`; update zero_ports() in bench/run.py")
    lines = text.splitlines()
    api = next((i for i, line in enumerate(lines) if re.match(r"^api\s*:\s*(#.*)?$", line)), None)
    if api is None:
        lines.append("api: {port: 0}")
    else:
        end = next((i for i in range(api + 1, len(lines)) if lines[i] and not lines[i][0].isspace()
                    and not lines[i].startswith("#")), len(lines))
        port = next((i for i in range(api + 1, end) if re.match(r"^\s+port\s*:", lines[i])
                     and len(lines[i]) - len(lines[i].lstrip()) == _indent(lines, api + 1, end)), None)
        if port is not None:
            lines[port] = re.sub(r"port\s*:.*$", "port: 0", lines[port])
        else:
            lines.insert(api + 1, " " * _indent(lines, api + 1, end) + "port: 0")
    lines.append(SERVICE_PORTS)
    return "\n".join(lines) + "\n"


def _indent(lines: list[str], start: int, end: int) -> int:
    for line in lines[start:end]:
        if line.strip() and not line.lstrip().startswith("#"):
            return len(line) - len(line.lstrip())
    return 2


def check_rendered(text: str, name: str) -> None:
    """The rendered file must publish no fixed host port (port 0 renders without `published:`)
    and carry our project name."""
    fixed = [p for p in re.findall(r"^\s*published:\s*'?(\d+)'?\s*$", text, re.MULTILINE) if p != "0"]
    if fixed or not re.search(r"^\s*- target:", text, re.MULTILINE):
        raise SystemExit(f"bench: the rendered compose file publishes fixed host ports {fixed}; expected none")
    if not re.search(rf"^name:\s*{re.escape(name)}\s*$", text, re.MULTILINE):
        raise SystemExit(f"bench: the rendered compose file is not named {name}")


# -- measuring ---------------------------------------------------------------------------------


@dataclass
class Side:
    times: list[float] = field(default_factory=list)
    answered: list[bool] = field(default_factory=list)
    details: list[str] = field(default_factory=list)
    lags: list[float] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class Scenario:
    title: str
    devenv: Side = field(default_factory=Side)
    compose: Side = field(default_factory=Side)
    checks_api: bool = False


def say(text: str = "") -> None:
    print(text, flush=True)


def cold_start(bench: Bench, runs: int) -> Scenario:
    result = Scenario("1 cold start, fresh volumes", checks_api=True)
    sides = {
        "devenv": (result.devenv, bench.devenv_cmd("down", "--volumes", "--yes"), bench.devenv_cmd("up")),
        "compose": (result.compose, bench.compose_cmd("down", "-v"), bench.compose_cmd("up", "-d", "--wait")),
    }
    for pair in range(runs):
        order = ("devenv", "compose") if pair % 2 == 0 else ("compose", "devenv")
        line = []
        for key in order:
            side, reset, start = sides[key]
            bench.run(reset)
            seconds, done = bench.run(start)
            ok, detail, lag = bench.api_answers()
            side.times.append(seconds)
            side.answered.append(ok)
            side.details.append(detail)
            side.lags.append(lag)
            if key == "devenv":
                side.notes.append("rebuilt" if "(built " in done.stdout else "")
            line.append(f"{key} {seconds:6.3f}s (api: {detail})")
        say(f"  pair {pair + 1}/{runs}: " + ", ".join(line))
    return result


def alternating_pairs(bench: Bench, result: Scenario, devenv_cmd: list[str], compose_cmd: list[str],
                      runs: int, note=None) -> Scenario:
    """Time devenv and compose N times each, in pairs whose order alternates."""
    bench.run(devenv_cmd)  # untimed warm-up of each side
    bench.run(compose_cmd)
    for pair in range(runs):
        order = [(result.devenv, devenv_cmd, "devenv"), (result.compose, compose_cmd, "compose")]
        if pair % 2:
            order.reverse()
        line = []
        for side, cmd, key in order:
            seconds, done = bench.run(cmd)
            side.times.append(seconds)
            if key == "devenv" and note is not None:
                side.notes.append(note(done))
            line.append(f"{key} {seconds:6.3f}s")
        say(f"  pair {pair + 1}/{runs}: " + ", ".join(line))
    return result


def warm_noop(bench: Bench, runs: int) -> Scenario:
    # the warm-up leaves the stack up, healthy and recorded by devenv
    return alternating_pairs(
        bench, Scenario("2 warm no-op"), bench.devenv_cmd("up"), bench.compose_cmd("up", "-d", "--wait"), runs,
        note=lambda done: "nothing changed" if "nothing changed" in done.stdout else "restarted",
    )


def help_text(bench: Bench, runs: int) -> Scenario:
    return alternating_pairs(
        bench, Scenario("3 --help"), bench.devenv_cmd("--help"), ["docker", "compose", "--help"], runs
    )


# -- reporting --------------------------------------------------------------------------------


def spread(times: list[float]) -> str:
    if not times:
        return "-"
    return f"{statistics.median(times):.3f}s ({min(times):.3f}–{max(times):.3f})"


def table(results: list[Scenario]) -> str:
    rows = [("scenario", "pairs", "devenv median (min–max)", "compose median (min–max)",
             "ratio of medians", "median pair ratio")]
    for r in results:
        pairs = min(len(r.devenv.times), len(r.compose.times))
        if pairs:
            ratio = f"{statistics.median(r.devenv.times) / statistics.median(r.compose.times):.2f}x"
            per_pair = [d / c for d, c in zip(r.devenv.times, r.compose.times)]
            pair_ratio = f"{statistics.median(per_pair):.2f}x"
        else:
            ratio = pair_ratio = "-"
        rows.append((r.title, str(pairs), spread(r.devenv.times), spread(r.compose.times), ratio, pair_ratio))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    out = []
    for n, row in enumerate(rows):
        out.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def footnotes(results: list[Scenario]) -> list[str]:
    lines = []
    for r in results:
        if r.checks_api and r.devenv.answered + r.compose.answered:
            for key, side in (("devenv", r.devenv), ("compose", r.compose)):
                lag = f"; GET sent {statistics.median(side.lags) * 1000:.0f} ms (median) after return" if side.lags else ""
                misses = sorted({d for ok, d in zip(side.answered, side.details) if not ok})
                miss = f"; failures: {', '.join(misses)}" if misses else ""
                lines.append(f"scenario {r.title.split()[0]}, {key}: api answered at return: "
                             f"{sum(side.answered)}/{len(side.answered)}{lag}{miss}")
            rebuilt = r.devenv.notes.count("rebuilt")
            lines.append(f"scenario {r.title.split()[0]}, devenv rebuilt the api image (cached build) in "
                         f"{rebuilt}/{len(r.devenv.notes)} runs")
        elif r.devenv.notes:
            lines.append(f"scenario {r.title.split()[0]}, devenv said \"nothing changed\" in "
                         f"{r.devenv.notes.count('nothing changed')}/{len(r.devenv.notes)} runs")
    return lines


def machine_info(runner: Runner, devenv: str) -> list[str]:
    def first_line(cmd: list[str]) -> str:
        try:
            _, result = runner.run(cmd, Path.cwd(), check=False)
            return (result.stdout.strip().splitlines() or [result.stderr.strip() or "?"])[0]
        except CommandFailed as exc:
            return f"? ({exc.note})"

    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:
        cpus = os.cpu_count() or 0
    return [
        f"nproc: {cpus}",
        f"docker server: {first_line(['docker', 'version', '--format', '{{.Server.Version}}'])}",
        f"docker compose: {first_line(['docker', 'compose', 'version', '--short'])}",
        f"devenv: {first_line([devenv, '--version'])} ({devenv})",
        f"python: {platform.python_version()}, {platform.system()} {platform.release()} {platform.machine()}",
    ]


def find_devenv() -> str:
    local = REPO / ".venv" / "bin" / "devenv"
    if local.is_file() and os.access(local, os.X_OK):
        return str(local)
    found = shutil.which("devenv")
    if found:
        return found
    raise SystemExit("bench: devenv not found (no .venv/bin/devenv in the repo, none on PATH)")


# -- main -------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Time `devenv up` against plain `docker compose up --wait`.")
    parser.add_argument("--runs", type=int, default=5, metavar="N", help="pairs per scenario (default 5)")
    parser.add_argument("--quick", action="store_true", help="2 pairs per scenario")
    args = parser.parse_args(argv)
    runs = 2 if args.quick else args.runs
    if runs < 1:
        parser.error("--runs must be at least 1")
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(errors="replace")

    def on_term(signum, frame):
        raise Interrupted()

    signal.signal(signal.SIGTERM, on_term)

    started = time.perf_counter()
    name = f"bench-{secrets.token_hex(4)}"
    runner = Runner({**os.environ, "DEVENV_PROJECT_NAME": name})
    devenv = find_devenv()
    bench = Bench(runner, devenv, name, Path(tempfile.mkdtemp(prefix="devenv-bench-")))
    results: list[Scenario] = []
    failure: CommandFailed | None = None
    interrupted = False

    problems: list[str] = []
    try:
        say("machine")
        for line in machine_info(runner, devenv):
            say(f"  {line}")
        say(f"project {name} in {bench.tmp}; {runs} pair(s) per scenario, order alternates each pair")
        say("setup: copy examples/shop, zero host ports, render, build the api once (untimed)")
        bench.prepare()
        for title, scenario in (("cold start, fresh volumes", cold_start), ("warm no-op", warm_noop),
                                ("--help", help_text)):
            say(f"scenario: {title}")
            results.append(scenario(bench, runs))
    except CommandFailed as exc:
        failure = exc
    except (KeyboardInterrupt, Interrupted):
        interrupted = True
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not skip the cleanup
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if interrupted:
            say("\ninterrupted; removing the benchmark's containers, volumes and image ...")
        problems = bench.teardown()

    say("")
    if results:
        say(table(results))
        for line in footnotes(results):
            say(line)
    say(f"total wall time: {time.perf_counter() - started:.1f}s")
    code = 0
    if failure is not None:
        print(failure.report(), file=sys.stderr)
        code = 1
    if problems:
        print("teardown problems:", file=sys.stderr)
        for problem in problems:
            print(problem, file=sys.stderr)
        code = code or 1
    if interrupted:
        code = 130
    return code


if __name__ == "__main__":
    sys.exit(main())
