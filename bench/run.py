#!/usr/bin/env python3
"""Benchmark: `devenv up` against plain `docker compose up -d --wait` on the example shop stack,
and when each service TRULY answers from the host while they run.

Run from the repo root:

    python bench/run.py                         # 5 pairs per scenario
    python bench/run.py --runs 9
    python bench/run.py --quick                 # 2 pairs per scenario
    python bench/run.py --scenarios cold,warm   # only these scenarios

Standard library only; devenv is run as a subprocess (the repo's .venv/bin/devenv when it
exists, else `devenv` on PATH). Both sides start the same rendered compose file under the same
project name. Before every timed run the benchmark picks free host ports itself and writes them
into the project's devenv.yaml, so both sides publish the same, known ports and its own probe
(bench/hostprobe.py, independent of devenv) can ask each service from the host, every 20 ms,
whether it truly answers. Nothing is asserted about the timings: targets are printed next to
the figures, never checked. See bench/README.md for each scenario and figure.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hostprobe import ProbeSet, stack_probes

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "shop"
COMMAND_TIMEOUT = 300.0  # seconds; a hung command is a failure, not an endless wait
PROBE_GRACE = 10.0  # seconds the probes keep asking after a command returned, for late answers
INTERRUPT_GRACE = 20.0  # seconds a command gets to clean up after Ctrl-C before it is killed
SLOW_HEALTH = "slow-health.yaml"
SLOW_HEALTH_TEXT = (
    "# bench: Postgres's healthcheck ticks every 5 s instead of every 1 s\n"
    "services:\n  postgres:\n    healthcheck:\n      interval: 5s\n"
)
SERVICES = ("postgres", "redis", "mailhog", "api")
PORT_KEYS = ("api", "postgres", "redis", "mailhog_smtp", "mailhog_http")

# targets printed next to the figures (never asserted)
LAG_TARGET = 0.15  # s: devenv sees each service ready within this of the probe (median)
RETURN_TARGET = 0.15  # s: devenv returns within this of the api's first true answer (median)


@dataclass(frozen=True)
class ScenarioSpec:
    key: str
    title: str
    ratio_target: float | None = None  # devenv / compose wall time


SPECS = {
    spec.key: spec
    for spec in (
        ScenarioSpec("cold", "cold start, fresh volumes", 0.7),
        ScenarioSpec("warm", "warm from down, data kept", 0.7),
        ScenarioSpec("interval5", "cold start, Postgres healthcheck interval 5s", 0.5),
        ScenarioSpec("noop", "warm no-op"),
        ScenarioSpec("help", "--help"),
    )
}
ALIASES = {"warm-from-down": "warm", "i5": "interval5", "no-op": "noop", "warm-noop": "noop", "--help": "help"}


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
class Timed:
    seconds: float  # wall time of the command
    start: float  # time.perf_counter() just before it was started
    start_wall: float  # time.time() at the same moment (devenv reports unix times)
    result: subprocess.CompletedProcess[str]


@dataclass
class Runner:
    env: dict[str, str]

    def run(self, cmd: list[str], cwd: Path, *, check: bool = True, probes: ProbeSet | None = None) -> Timed:
        """Run a command with its output captured and time it. ``probes`` start polling at the
        same instant the clock starts; they are stopped here only when the command fails."""
        start_wall, start = time.time(), time.perf_counter()
        if probes is not None:
            probes.begin(start, COMMAND_TIMEOUT + PROBE_GRACE)
        try:
            try:
                process = subprocess.Popen(
                    cmd,
                    cwd=cwd,
                    env=self.env,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )
            except FileNotFoundError:
                raise CommandFailed(cmd, None, "", "", note=f"{cmd[0]} not found") from None
            try:
                out, err = process.communicate(timeout=COMMAND_TIMEOUT)
            except subprocess.TimeoutExpired:
                out, err = _end(process)
                raise CommandFailed(cmd, None, out, err, note=f"no answer after {COMMAND_TIMEOUT:.0f}s") from None
            except BaseException:  # Ctrl-C, SIGTERM: let the command clean up after itself first
                _end(process)
                raise
            elapsed = time.perf_counter() - start
        except BaseException:
            if probes is not None:
                probes.stop()
            raise
        result = subprocess.CompletedProcess(cmd, process.returncode, out, err)
        if check and result.returncode != 0:
            if probes is not None:
                probes.stop()
            raise CommandFailed(cmd, result.returncode, out, err)
        return Timed(elapsed, start, start_wall, result)


def _end(process: subprocess.Popen[str]) -> tuple[str, str]:
    """Ask a command to stop as Ctrl-C would (devenv and Compose both clean up on SIGINT),
    then kill it if it does not; return what it printed."""
    if process.poll() is None:
        try:
            process.send_signal(signal.SIGINT)
        except OSError:
            pass
    try:
        return process.communicate(timeout=INTERRUPT_GRACE)
    except BaseException:
        process.kill()
        try:
            return process.communicate(timeout=5)
        except BaseException:
            return "", ""


# -- ports and the project's files --------------------------------------------------------------


def pick_ports() -> dict[str, int]:
    """Free host ports for the five published container ports: bind port 0 on 127.0.0.1, read
    the port, close. All five sockets stay open until the last is bound, so they differ."""
    sockets = []
    try:
        for _ in PORT_KEYS:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sockets.append(sock)
            sock.bind(("127.0.0.1", 0))
        return {key: sock.getsockname()[1] for key, sock in zip(PORT_KEYS, sockets)}
    finally:
        for sock in sockets:
            sock.close()


def _without_block(lines: list[str], key: str) -> list[str]:
    """The lines less a top-level block: the example's `data:` (migrate and seed) is left out,
    so both sides start the same stack and only that (bench/data.py times the data steps)."""
    start = next((i for i, line in enumerate(lines) if re.match(rf"^{key}\s*:", line)), None)
    if start is None:
        return lines
    end = next((i for i in range(start + 1, len(lines)) if lines[i] and not lines[i][0].isspace()), len(lines))
    return lines[:start] + lines[end:]


def project_config(text: str, ports: dict[str, int], compose_files: list[str]) -> str:
    """The example's devenv.yaml with our host ports (and compose files): text edits, the
    benchmark is stdlib only."""
    for key in ("services", "compose_files"):
        if re.search(rf"^{key}\s*:", text, re.MULTILINE):
            raise SystemExit(
                f"bench: examples/shop/devenv.yaml already has `{key}:`; update project_config() in bench/run.py"
            )
    lines = _without_block(text.splitlines(), "data")
    api = next((i for i, line in enumerate(lines) if re.match(r"^api\s*:\s*(#.*)?$", line)), None)
    if api is None:
        lines.append(f"api: {{port: {ports['api']}}}")
    else:
        end = next(
            (
                i
                for i in range(api + 1, len(lines))
                if lines[i] and not lines[i][0].isspace() and not lines[i].startswith("#")
            ),
            len(lines),
        )
        indent = _indent(lines, api + 1, end)
        port = next(
            (
                i
                for i in range(api + 1, end)
                if re.match(r"^\s+port\s*:", lines[i]) and len(lines[i]) - len(lines[i].lstrip()) == indent
            ),
            None,
        )
        if port is not None:
            lines[port] = re.sub(r"port\s*:.*$", f"port: {ports['api']}", lines[port])
        else:
            lines.insert(api + 1, " " * indent + f"port: {ports['api']}")
    lines.append(
        f"services: {{postgres: {{ports: {{5432: {ports['postgres']}}}}}, redis: {{ports: {{6379: {ports['redis']}}}}}, "
        f"mailhog: {{ports: {{1025: {ports['mailhog_smtp']}, 8025: {ports['mailhog_http']}}}}}}}"
    )
    if compose_files:
        lines.append(f"compose_files: [{', '.join(compose_files)}]")
    return "\n".join(lines) + "\n"


def _indent(lines: list[str], start: int, end: int) -> int:
    for line in lines[start:end]:
        if line.strip() and not line.lstrip().startswith("#"):
            return len(line) - len(line.lstrip())
    return 2


def check_rendered(text: str, name: str, ports: dict[str, int], slow: bool) -> None:
    """The rendered file must carry our project name, publish exactly our ports, and (for the
    interval5 scenario) give Postgres a 5 s healthcheck interval."""
    published = sorted(int(p) for p in re.findall(r"^\s*published:\s*'?(\d+)'?\s*$", text, re.MULTILINE))
    if published != sorted(ports.values()):
        raise SystemExit(f"bench: the rendered compose file publishes {published}, expected {sorted(ports.values())}")
    if not re.search(rf"^name:\s*{re.escape(name)}\s*$", text, re.MULTILINE):
        raise SystemExit(f"bench: the rendered compose file is not named {name}")
    block = re.search(r"^  postgres:\n((?:    .*\n|\s*\n)*)", text, re.MULTILINE)
    interval = re.search(r"^      interval:\s*(\S+)", block.group(1), re.MULTILINE) if block else None
    got = interval.group(1) if interval else None
    if slow and got != "5s":
        raise SystemExit(f"bench: {SLOW_HEALTH} did not set Postgres's healthcheck interval to 5s (rendered: {got})")
    if not slow and got == "5s":
        raise SystemExit("bench: Postgres's healthcheck interval is 5s outside the interval5 scenario")


def postgres_login(env: dict[str, str], project: Path) -> tuple[str, str]:
    """The user and database the stack creates: the environment, else the project's .env,
    else the profile's defaults (app, app)."""
    dotenv: dict[str, str] = {}
    try:
        for raw in (project / ".env").read_text(encoding="utf-8").splitlines():
            key, sep, value = raw.strip().removeprefix("export ").partition("=")
            if sep and not key.startswith("#"):
                dotenv[key.strip()] = value.strip().strip("'\"")
    except OSError:
        pass

    def value(key: str) -> str:
        return env.get(key) or dotenv.get(key) or "app"

    return value("POSTGRES_USER"), value("POSTGRES_DB")


# -- devenv's own report (`devenv up --json`) -------------------------------------------------


def devenv_report(stdout: str) -> dict | None:
    """The one JSON object `devenv up --json` prints, or None (no --json yet, or not JSON)."""
    text = stdout.strip()
    if not text:
        return None
    candidates = [text] + [line for line in reversed(text.splitlines()) if line.lstrip().startswith("{")]
    for candidate in candidates:
        try:
            data = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(data, dict) and isinstance(data.get("services"), list):
            return data
    return None


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def seen_ready(report: dict, start_wall: float) -> dict[str, float | None]:
    """When devenv saw each service ready, in seconds after OUR start of the command
    (ready_at is a unix time; ready_after + started_at when ready_at is missing)."""
    started_at = _number(report.get("started_at"))
    seen: dict[str, float | None] = {}
    for row in report.get("services") or []:
        if not isinstance(row, dict) or not isinstance(row.get("service"), str):
            continue
        at = _number(row.get("ready_at"))
        after = _number(row.get("ready_after"))
        if at is None and after is not None and started_at is not None:
            at = started_at + after
        seen[row["service"]] = None if at is None else at - start_wall
    return seen


# -- the benchmark's project -----------------------------------------------------------------


@dataclass
class Run:
    side: str
    seconds: float
    probe: dict[str, float | None] = field(default_factory=dict)  # first true answer, s after start
    probe_last: dict[str, str] = field(default_factory=dict)  # what an unanswered probe last got
    saw: dict[str, float | None] | None = None  # devenv only; None: no JSON report
    note: str = ""

    def api_return_lag(self) -> float | None:
        """How long after the api's first true answer the command returned (negative: before)."""
        api = self.probe.get("api")
        return None if api is None else self.seconds - api

    def brief(self) -> str:
        def cell(value: float | None) -> str:
            return "-" if value is None else f"{value:.2f}"

        parts = ", ".join(f"{s} {cell(self.probe.get(s))}" for s in SERVICES if s in self.probe)
        if self.saw is not None:
            parts += " | saw " + ", ".join(f"{s} {cell(self.saw.get(s))}" for s in SERVICES)
        elif self.side == "devenv" and self.probe:
            parts += " | saw n/a"
        return f"{self.seconds:6.3f}s" + (f" [{parts}]" if parts else "")


@dataclass
class Bench:
    runner: Runner
    devenv: str
    name: str
    tmp: Path
    json_up: bool = False  # does this devenv have `up --json`?
    ports: dict[str, int] = field(default_factory=dict)
    project: Path = field(init=False)
    rendered: Path = field(init=False)
    base_config: str = field(init=False, default="")
    pg_login: tuple[str, str] = ("app", "app")

    def __post_init__(self) -> None:
        self.project = self.tmp / "shop"
        self.rendered = self.tmp / "rendered.yaml"

    # the commands being compared
    def devenv_cmd(self, *args: str) -> list[str]:
        return [self.devenv, *args]

    def devenv_up(self) -> list[str]:
        return self.devenv_cmd("up", "--json") if self.json_up else self.devenv_cmd("up")

    def compose_cmd(self, *args: str) -> list[str]:
        return ["docker", "compose", "-p", self.name, "-f", str(self.rendered), *args]

    def run(self, cmd: list[str], *, check: bool = True, probes: ProbeSet | None = None) -> Timed:
        return self.runner.run(cmd, self.project if self.project.is_dir() else self.tmp, check=check, probes=probes)

    def prepare(self) -> None:
        """Copy the example, add the slow-health overlay, render it, build the api once."""
        shutil.copytree(EXAMPLE, self.project, ignore=shutil.ignore_patterns(".devenv", "node_modules", ".env"))
        config = self.project / "devenv.yaml"
        self.base_config = config.read_text(encoding="utf-8")
        # written before the one build, so it is part of the api's build-input fingerprint from
        # the start and switching the interval5 scenario on never looks like a changed input
        (self.project / SLOW_HEALTH).write_text(SLOW_HEALTH_TEXT, encoding="utf-8")
        self.pg_login = postgres_login(self.runner.env, self.project)
        self.json_up = "--json" in self.run(self.devenv_cmd("up", "--help"), check=False).result.stdout
        self.configure(slow=False)
        self.run(self.devenv_cmd("up"))  # builds NAME-api:devenv, untimed
        self.run(self.devenv_cmd("down"))

    def configure(self, *, slow: bool) -> None:
        """Pick free host ports, write them into devenv.yaml and render the file (untimed)."""
        self.ports = pick_ports()
        text = project_config(self.base_config, self.ports, [SLOW_HEALTH] if slow else [])
        (self.project / "devenv.yaml").write_text(text, encoding="utf-8")
        rendered = self.run(self.devenv_cmd("config")).result.stdout
        check_rendered(rendered, self.name, self.ports, slow)
        self.rendered.write_text(rendered, encoding="utf-8")

    def reset(self, side: str, *, volumes: bool) -> None:
        """Take the stack down before a timed run, each side with its own tool (untimed)."""
        if side == "devenv":
            self.run(self.devenv_cmd("down", "--volumes", "--yes") if volumes else self.devenv_cmd("down"))
        else:
            self.run(self.compose_cmd("down", "-v") if volumes else self.compose_cmd("down"))

    def timed_up(self, side: str) -> Run:
        """One timed `up` with the host probe asking every service next to it."""
        probes = stack_probes(self.ports, pg_user=self.pg_login[0], pg_database=self.pg_login[1], health_path="/health")
        cmd = self.devenv_up() if side == "devenv" else self.compose_cmd("up", "-d", "--wait")
        timed = self.run(cmd, probes=probes)
        probes.wait(time.perf_counter() + PROBE_GRACE)  # late answers still count (after return)
        run = Run(side, timed.seconds, probes.answered(), probes.unanswered())
        if side == "devenv":
            run.note = devenv_note(timed.result)
            report = devenv_report(timed.result.stdout) if self.json_up else None
            if report is not None:
                run.saw = seen_ready(report, timed.start_wall)
        return run

    def teardown(self) -> list[str]:
        """Remove everything the benchmark made; return what went wrong (empty when clean)."""
        problems: list[str] = []
        label = f"label=com.docker.compose.project={self.name}"
        cwd = self.tmp if self.tmp.is_dir() else Path.cwd()
        try:
            self.runner.run(["docker", "compose", "-p", self.name, "down", "-v", "--remove-orphans"], cwd)
        except CommandFailed as exc:
            problems.append(exc.report())
        # Whatever `down` left (it should leave nothing), removed by label.
        for kind, listing, removal in (
            ("container", ["docker", "ps", "-aq", "--filter", label], ["docker", "rm", "-f", "-v"]),
            ("volume", ["docker", "volume", "ls", "-q", "--filter", label], ["docker", "volume", "rm", "-f"]),
            ("network", ["docker", "network", "ls", "-q", "--filter", label], ["docker", "network", "rm"]),
        ):
            try:
                left = self.runner.run(listing, Path.cwd()).result.stdout.split()
                if left:
                    problems.append(f"{len(left)} {kind}(s) were left after `down`; removing them")
                    self.runner.run([*removal, *left], Path.cwd())
            except CommandFailed as exc:
                problems.append(exc.report())
        image = f"{self.name}-api:devenv"
        try:
            if self.runner.run(["docker", "image", "inspect", image], Path.cwd(), check=False).result.returncode == 0:
                self.runner.run(["docker", "image", "rm", image], Path.cwd())
        except CommandFailed as exc:
            problems.append(exc.report())
        shutil.rmtree(self.tmp, ignore_errors=True)
        return problems


def devenv_note(result: subprocess.CompletedProcess[str]) -> str:
    report = devenv_report(result.stdout)
    built = report.get("built") if report is not None else None
    if built or "(built " in result.stdout or "(built " in result.stderr:
        return "rebuilt"
    if (report is not None and report.get("changed") is False) or "nothing changed" in result.stdout:
        return "nothing changed"
    return ""


# -- scenarios ---------------------------------------------------------------------------------


@dataclass
class Side:
    runs: list[Run] = field(default_factory=list)

    @property
    def times(self) -> list[float]:
        return [r.seconds for r in self.runs]


@dataclass
class Scenario:
    spec: ScenarioSpec
    devenv: Side = field(default_factory=Side)
    compose: Side = field(default_factory=Side)
    probed: bool = False

    def side(self, key: str) -> Side:
        return self.devenv if key == "devenv" else self.compose


def say(text: str = "") -> None:
    print(text, flush=True)


def order_of(pair: int) -> tuple[str, str]:
    return ("devenv", "compose") if pair % 2 == 0 else ("compose", "devenv")


def startup_pairs(bench: Bench, result: Scenario, runs: int, *, volumes: bool, slow: bool) -> Scenario:
    """N pairs of timed `up`s from a stack that is down; before each run: `down` (with -v when
    ``volumes``), fresh host ports, a fresh render. The probe runs next to every run."""
    result.probed = True
    for pair in range(runs):
        line = []
        for key in order_of(pair):
            bench.reset(key, volumes=volumes)
            bench.configure(slow=slow)
            run = bench.timed_up(key)
            result.side(key).runs.append(run)
            line.append(f"{key} {run.brief()}")
        say(f"  pair {pair + 1}/{runs}: " + "; ".join(line))
    return result


def cold(bench: Bench, spec: ScenarioSpec, runs: int) -> Scenario:
    return startup_pairs(bench, Scenario(spec), runs, volumes=True, slow=False)


def warm_from_down(bench: Bench, spec: ScenarioSpec, runs: int) -> Scenario:
    # one untimed up from fresh volumes, so Postgres and Redis have data to start from
    bench.reset("compose", volumes=True)
    bench.configure(slow=False)
    bench.run(bench.devenv_cmd("up"))
    return startup_pairs(bench, Scenario(spec), runs, volumes=False, slow=False)


def interval5(bench: Bench, spec: ScenarioSpec, runs: int) -> Scenario:
    return startup_pairs(bench, Scenario(spec), runs, volumes=True, slow=True)


def alternating_pairs(
    bench: Bench,
    result: Scenario,
    devenv_cmd: list[str],
    compose_cmd: list[str],
    runs: int,
    note: Callable[[subprocess.CompletedProcess[str]], str] | None = None,
) -> Scenario:
    """Time devenv and compose N times each, in pairs whose order alternates."""
    bench.run(devenv_cmd)  # untimed warm-up of each side
    bench.run(compose_cmd)
    for pair in range(runs):
        line = []
        for key in order_of(pair):
            timed = bench.run(devenv_cmd if key == "devenv" else compose_cmd)
            result.side(key).runs.append(
                Run(key, timed.seconds, note=note(timed.result) if note and key == "devenv" else "")
            )
            line.append(f"{key} {timed.seconds:6.3f}s")
        say(f"  pair {pair + 1}/{runs}: " + ", ".join(line))
    return result


def warm_noop(bench: Bench, spec: ScenarioSpec, runs: int) -> Scenario:
    # the stack is brought up by the untimed warm-ups (same ports throughout), then left alone
    bench.run(bench.compose_cmd("down"))
    bench.configure(slow=False)
    return alternating_pairs(
        bench, Scenario(spec), bench.devenv_up(), bench.compose_cmd("up", "-d", "--wait"), runs, note=devenv_note
    )


def help_text(bench: Bench, spec: ScenarioSpec, runs: int) -> Scenario:
    return alternating_pairs(bench, Scenario(spec), bench.devenv_cmd("--help"), ["docker", "compose", "--help"], runs)


SCENARIO_RUNNERS = {"cold": cold, "warm": warm_from_down, "interval5": interval5, "noop": warm_noop, "help": help_text}


# -- reporting --------------------------------------------------------------------------------


def median(values: list[float | None]) -> float | None:
    found = [v for v in values if v is not None]
    return statistics.median(found) if found else None


def spread(times: list[float]) -> str:
    if not times:
        return "-"
    return f"{statistics.median(times):.3f}s ({min(times):.3f}–{max(times):.3f})"


def ratios(r: Scenario) -> tuple[float | None, float | None]:
    """(median of the per-pair ratios, ratio of the medians), devenv / compose."""
    pairs = list(zip(r.devenv.times, r.compose.times))
    if not pairs:
        return None, None
    per_pair = statistics.median(d / c for d, c in pairs)
    return per_pair, statistics.median(r.devenv.times) / statistics.median(r.compose.times)


def verdict(value: float | None, limit: float) -> str:
    return "n/a" if value is None else ("met" if value <= limit else "not met")


def ratio_target(r: Scenario) -> str:
    limit = r.spec.ratio_target
    if limit is None:
        return ""
    return f"target ≤ {limit:.2f}×: {verdict(ratios(r)[0], limit)}"


def table(results: list[Scenario]) -> str:
    rows = [
        (
            "scenario",
            "pairs",
            "devenv median (min–max)",
            "compose median (min–max)",
            "median pair ratio",
            "ratio of medians",
            "target",
        )
    ]
    for r in results:
        per_pair, of_medians = ratios(r)
        rows.append(
            (
                f"{r.spec.key}: {r.spec.title}",
                str(min(len(r.devenv.runs), len(r.compose.runs))),
                spread(r.devenv.times),
                spread(r.compose.times),
                "-" if per_pair is None else f"{per_pair:.2f}×",
                "-" if of_medians is None else f"{of_medians:.2f}×",
                ratio_target(r),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    out = []
    for n, row in enumerate(rows):
        out.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def _seconds(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "n/a"
    return f"{value:+.3f}s" if signed else f"{value:.3f}s"


def _with_misses(values: list[float | None], what: str = "never") -> str:
    missing = sum(v is None for v in values)
    text = _seconds(median(values))
    return text + (f" ({missing}/{len(values)} {what})" if missing and len(values) else "")


def readiness(r: Scenario) -> list[str]:
    """Per service: the probe's first true answer, when devenv saw it ready, the lag; then how
    long after the api's first true answer each command returned."""
    d, c = r.devenv.runs, r.compose.runs
    has_json = any(run.saw is not None for run in d)
    rows = [
        (
            "service",
            "true ready (devenv runs)",
            "devenv saw it ready",
            "lag, median",
            f"target ≤ {LAG_TARGET:.2f}s",
            "true ready (compose runs)",
        )
    ]
    for service in SERVICES:
        lags = [
            run.saw.get(service) - run.probe[service]
            for run in d
            if run.saw is not None and run.saw.get(service) is not None and run.probe.get(service) is not None
        ]
        saw = [run.saw.get(service) for run in d if run.saw is not None]
        lag = median(lags)
        rows.append(
            (
                service,
                _with_misses([run.probe.get(service) for run in d]),
                _with_misses(saw, "not reported") if has_json else "n/a",
                _seconds(lag, signed=True),
                verdict(lag, LAG_TARGET),
                _with_misses([run.probe.get(service) for run in c]),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        f"{r.spec.key}: readiness, medians, seconds after the command started"
        + ("" if has_json else " (devenv printed no JSON report: `devenv up --json` is not there yet)")
    ]
    for row in rows:
        lines.append("  " + "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
    parts = []
    for key, runs in (("devenv", d), ("compose", c)):
        lags = [run.api_return_lag() for run in runs]
        early = sum(1 for lag in lags if lag is not None and lag < 0)
        text = f"{key} {_seconds(median(lags), signed=True)}"
        if key == "devenv":
            text += f" (target ≤ {RETURN_TARGET:.2f}s: {verdict(median(lags), RETURN_TARGET)})"
        notes = []
        if early:
            notes.append(f"returned before the api answered in {early}/{len(runs)}")
        if any(lag is None for lag in lags):
            notes.append(f"api never answered in {sum(lag is None for lag in lags)}/{len(runs)}")
        parts.append(text + (f" [{'; '.join(notes)}]" if notes else ""))
    lines.append("  command returned after the api's first true answer, median: " + ", ".join(parts))
    unanswered = sorted({f"{service}: {last}" for run in d + c for service, last in run.probe_last.items()})
    if unanswered:
        lines.append("  probes that never got a true answer, last reply: " + "; ".join(unanswered))
    rebuilt = sum(run.note == "rebuilt" for run in d)
    if rebuilt:
        lines.append(f"  devenv rebuilt the api image in {rebuilt}/{len(d)} runs (it should not)")
    return lines


def footnotes(results: list[Scenario]) -> list[str]:
    lines = []
    for r in results:
        if r.probed:
            lines.append("")
            lines += readiness(r)
        elif r.spec.key == "noop" and r.devenv.runs:
            count = sum(run.note == "nothing changed" for run in r.devenv.runs)
            lines.append("")
            lines.append(f'noop: devenv said "nothing changed" in {count}/{len(r.devenv.runs)} runs')
    return lines


def machine_info(runner: Runner, devenv: str) -> list[str]:
    def first_line(cmd: list[str]) -> str:
        try:
            result = runner.run(cmd, Path.cwd(), check=False).result
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


def find_devenv(given: str | None = None) -> str:
    if given:
        found = shutil.which(given) or (given if os.access(given, os.X_OK) else None)
        if not found:
            raise SystemExit(f"bench: --devenv {given}: not an executable")
        return str(Path(found).resolve())
    local = REPO / ".venv" / "bin" / "devenv"
    if local.is_file() and os.access(local, os.X_OK):
        return str(local)
    found = shutil.which("devenv")
    if found:
        return found
    raise SystemExit("bench: devenv not found (no .venv/bin/devenv in the repo, none on PATH)")


def parse_scenarios(text: str) -> list[str]:
    chosen = []
    for word in (w.strip().lower() for w in text.split(",")):
        if not word:
            continue
        key = ALIASES.get(word, word)
        if key not in SPECS:
            raise argparse.ArgumentTypeError(f"unknown scenario {word!r}; choose from {', '.join(SPECS)}")
        if key not in chosen:
            chosen.append(key)
    if not chosen:
        raise argparse.ArgumentTypeError("no scenario given")
    return [key for key in SPECS if key in chosen]  # always in the documented order


# -- main -------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Time `devenv up` against plain `docker compose up -d --wait`, "
        "with an independent readiness probe next to every start."
    )
    parser.add_argument("--runs", type=int, default=5, metavar="N", help="pairs per scenario (default 5)")
    parser.add_argument("--quick", action="store_true", help="2 pairs per scenario")
    parser.add_argument(
        "--devenv",
        metavar="PATH",
        help="the devenv executable to time (default: the repo's .venv/bin/devenv, else PATH)",
    )
    parser.add_argument(
        "--scenarios",
        type=parse_scenarios,
        default=list(SPECS),
        metavar="LIST",
        help=f"comma-separated, from: {', '.join(SPECS)} (default: all)",
    )
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
    devenv = find_devenv(args.devenv)
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
        say("setup: copy examples/shop, pick host ports, render, build the api once (untimed)")
        bench.prepare()
        say(f"devenv up --json: {'yes' if bench.json_up else 'not in this devenv; devenv-saw figures are n/a'}")
        say(
            f"probe: {', '.join(SERVICES)} every 20 ms from the host; postgres as {bench.pg_login[0]}/{bench.pg_login[1]}"
        )
        say("per run: wall time [each service's first true answer, s after start | when devenv saw it ready]")
        for key in args.scenarios:
            spec = SPECS[key]
            say(f"scenario {key}: {spec.title}")
            results.append(SCENARIO_RUNNERS[key](bench, spec, runs))
    except CommandFailed as exc:
        failure = exc
    except (KeyboardInterrupt, Interrupted):
        interrupted = True
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not skip the cleanup
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if interrupted:
            say("\ninterrupted; removing the benchmark's containers, volumes, image and files ...")
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
