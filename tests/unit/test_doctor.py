"""doctor's rules on plain facts, and the command through the fake engine."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from devenv import cli, dockerfile, doctor
from devenv.commands import context
from devenv.engine_types import EngineInfo
from devenv.errors import EngineUnreachableError, ExitCode
from devenv.project import PublishedPort
from devenv.readiness import Report
from tests.conftest import FakeEngine, state


def test_docker_cli():
    assert doctor.rule_docker_cli(None).status == "fail"
    assert doctor.rule_docker_cli("/usr/bin/docker").status == "ok"


def test_engine_says_whether_start_interval_is_honoured():
    new = doctor.rule_engine(EngineInfo("26.1.5", (1, 45)))
    assert (new.status, "honour start_interval" in new.message) == ("ok", True)
    old = doctor.rule_engine(EngineInfo("24.0.7", (1, 43)))
    assert old.status == "warn" and "not honoured" in old.message
    down = doctor.rule_engine(EngineUnreachableError("the Docker engine is not reachable", hint="start Docker"))
    assert (down.status, down.fix) == ("fail", "start Docker")


FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "test_doctor"


def uses(fixture: str, target: str | None = None) -> list[dockerfile.BuildKitUse]:
    return dockerfile.buildkit_uses((FIXTURES / fixture / "Dockerfile").read_text(), "Dockerfile", target)


@pytest.mark.parametrize(
    ("fixture", "target", "expected"),
    [
        ("classic", None, []),
        (
            "buildkit_needed",
            None,
            [(4, "RUN --mount", True), (6, "COPY --chmod", True), (7, "a heredoc (RUN <<)", True)],
        ),
        (
            "buildkit_ignored",
            None,
            [
                (1, "the `# syntax=` directive", False),
                (2, "$BUILDPLATFORM (set by BuildKit only)", False),
                (5, "COPY --link", False),
                (6, "$TARGETARCH (set by BuildKit only)", False),
            ],
        ),
        ("buildkit_after_target", "dev", []),  # the classic builder stops at the target stage
        ("buildkit_after_target", None, [(8, "RUN --mount", True)]),
    ],
)
def test_what_a_dockerfile_needs_buildkit_for(fixture, target, expected):
    assert [(u.line, u.feature, u.breaks) for u in uses(fixture, target)] == expected


def test_buildx_missing_matters_only_when_the_dockerfiles_need_buildkit():
    classic = doctor.rule_buildx(None, uses("classic"))
    assert (classic.status, classic.message) == (
        "ok",
        "classic builder (buildx not installed; this project's Dockerfiles need no BuildKit features)",
    )
    needed = doctor.rule_buildx(None, uses("buildkit_needed"))
    assert needed.status == "fail"
    assert needed.message == (
        "buildx is not installed and the classic builder cannot build Dockerfile:4 (RUN --mount), "
        "Dockerfile:6 (COPY --chmod), Dockerfile:7 (a heredoc (RUN <<)): BuildKit only"
    )
    assert "docker-buildx-plugin" in needed.fix
    ignored = doctor.rule_buildx(None, uses("buildkit_ignored"))
    assert ignored.status == "warn"
    assert ignored.message.startswith("buildx is not installed: the classic builder builds, but ignores Dockerfile:1")
    assert doctor.rule_buildx(None, uses("buildkit_after_target", "dev")).status == "ok"
    nothing = doctor.rule_buildx(None, [], builds=False)
    assert (nothing.status, nothing.message) == (
        "ok",
        "classic builder (buildx not installed; this project builds no image)",
    )
    assert doctor.rule_buildx(None, None).status == "warn"  # the project did not load: not known
    assert doctor.rule_buildx("0.17.1", uses("buildkit_needed")).status == "ok"


def test_doctor_reads_the_dockerfile_the_api_builds(capsys, make_project, monkeypatch):
    root = make_project("name: proj\nprofiles: [api]\napi: {port: 0}\n")
    (root / "Dockerfile").write_text((FIXTURES / "buildkit_needed" / "Dockerfile").read_text())
    fake = FakeEngine()
    monkeypatch.setattr(fake, "buildx_version", lambda: None)
    monkeypatch.setattr(context, "make_engine", lambda: fake)
    assert cli.main(["-C", str(root), "doctor"]) == ExitCode.CHECKS_FAILED
    out = capsys.readouterr().out
    assert "✖ buildx is not installed and the classic builder cannot build Dockerfile:4 (RUN --mount)" in out
    assert "  fix: install the buildx plugin" in out


@pytest.mark.parametrize(
    ("endpoint", "local"),
    [
        ("unix:///var/run/docker.sock", True),
        ("npipe:////./pipe/docker_engine", True),
        ("tcp://127.0.0.1:2375", True),
        ("tcp://build-box:2376", False),
        ("ssh://me@build-box", False),
    ],
)
def test_engine_local_or_remote(endpoint, local):
    assert doctor.is_local(endpoint) is local
    assert doctor.rule_endpoint(endpoint).status == ("ok" if local else "warn")


def test_disk_thresholds():
    assert doctor.rule_disk(500 * 1024**2, "/var/lib/docker").status == "fail"
    assert doctor.rule_disk(3 * 1024**3, "/var/lib/docker").status == "warn"
    assert doctor.rule_disk(50 * 1024**3, "/var/lib/docker").status == "ok"
    assert doctor.rule_disk(None, "remote").status == "warn"


PORTS = [PublishedPort("postgres", 5432, "127.0.0.1", 5432), PublishedPort("redis", 6379, "127.0.0.1", 0)]


def test_ports_free_held_by_us_or_by_someone_else():
    assert doctor.rule_ports(PORTS, lambda ip, port: True, set(), lambda port: None).status == "ok"
    ours = doctor.rule_ports(PORTS, lambda ip, port: False, {5432}, lambda port: None)
    assert ours.status == "ok" and "held by this project" in ours.message
    taken = doctor.rule_ports(PORTS, lambda ip, port: False, set(), lambda port: "postgres (pid 812)")
    assert taken.status == "fail"
    assert taken.message == "127.0.0.1:5432 (postgres) is held by postgres (pid 812)"


def test_inotify_limit_against_files():
    assert doctor.rule_inotify(8192, 9000, ["src"]).status == "fail"
    assert doctor.rule_inotify(8192, 5000, ["src"]).status == "warn"
    assert doctor.rule_inotify(8192, 100, ["src"]).status == "ok"
    assert doctor.rule_inotify(None, 100, ["src"]).status == "ok"


def test_count_files(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.js").write_text("")
    (tmp_path / "y.js").write_text("")
    assert doctor.count_files([tmp_path]) == 4  # two folders, two files


def test_env_keys_against_example():
    assert doctor.rule_env(None, None).status == "ok"
    assert doctor.rule_env(None, {"A": "1"}).fix == "cp .env.example .env"
    missing = doctor.rule_env({"A": "1"}, {"A": "", "B": "", "C": ""})
    assert (missing.status, missing.message) == ("warn", ".env lacks B, C (in .env.example)")
    assert doctor.rule_env({"A": "1", "B": "2"}, {"A": ""}).status == "ok"


def test_postgres_credentials():
    running = state("postgres", ports={5432: 5432})
    assert doctor.rule_postgres(None, None).status == "ok"
    assert doctor.rule_postgres(running, Report(running.id, True)).status == "ok"
    refused = doctor.rule_postgres(
        running, Report(running.id, False, 'password authentication failed for user "app"', True, "postgres")
    )
    assert refused.status == "fail" and "initialised with others" in refused.message
    assert "devenv down --volumes" in refused.fix
    assert doctor.rule_postgres(running, Report(running.id, False, "connection refused")).status == "warn"


def test_exit_ok_only_without_failures():
    assert doctor.exit_ok([doctor.Result("a", "ok", ""), doctor.Result("b", "warn", "")])
    assert not doctor.exit_ok([doctor.Result("a", "fail", "")])


CONFIG = "name: proj\nprofiles: [postgres]\nservices:\n  postgres: {ports: {5432: 0}}\n"


def test_doctor_command_with_the_fake_engine(capsys, make_project, monkeypatch):
    root = make_project(CONFIG, {".env.example": "POSTGRES_PASSWORD=x\n", ".env": "POSTGRES_PASSWORD=y\n"})
    monkeypatch.setattr(context, "make_engine", FakeEngine)
    code = cli.main(["-C", str(root), "doctor", "--json"])
    data = json.loads(capsys.readouterr().out)
    assert code == ExitCode.OK
    assert [c["check"] for c in data["checks"]] == [
        "docker",
        "engine",
        "compose",
        "buildx",
        "endpoint",
        "disk",
        "ports",
        "inotify",
        "env",
        "postgres",
        "config",
    ]
    assert data["ok"] is True


def test_doctor_fails_with_exit_60_and_prints_the_fix(capsys, make_project, monkeypatch):
    root = make_project(CONFIG, {".env.example": "POSTGRES_PASSWORD=x\n", ".env": "POSTGRES_PASSWORD=y\n"})
    fake = FakeEngine([[state("postgres", ports={5432: 40001})]])
    monkeypatch.setattr(context, "make_engine", lambda: fake)
    refused = Report("proj-postgres-container", False, "password authentication failed", True, "postgres")
    monkeypatch.setattr("devenv.readiness.check_now", lambda rules, states: {"postgres": refused})
    code = cli.main(["-C", str(root), "doctor"])
    out = capsys.readouterr().out
    assert code == ExitCode.CHECKS_FAILED == 60
    assert "✖ postgres refuses the configured credentials: password authentication failed" in out
    assert "  fix: put the old POSTGRES_* values back in .env" in out


def test_doctor_reports_a_broken_devenv_yaml_and_still_checks_docker(capsys, make_project, monkeypatch):
    root = make_project("name: proj\napi:\n  port: lots\n")
    monkeypatch.setattr(context, "make_engine", FakeEngine)
    code = cli.main(["-C", str(root), "doctor"])
    out = capsys.readouterr().out
    assert code == ExitCode.CHECKS_FAILED
    assert "✔ engine 26.1.5" in out
    assert "✖ " + str(root / "devenv.yaml") + ":3: api.port" in out


def test_a_postgres_login_that_times_out_is_asked_again(capsys, make_project, monkeypatch):
    root = make_project(CONFIG, {".env.example": "POSTGRES_PASSWORD=x\n", ".env": "POSTGRES_PASSWORD=y\n"})
    monkeypatch.setattr(context, "make_engine", lambda: FakeEngine([[state("postgres", ports={5432: 40001})]]))
    answers = [Report("c", False, "no answer within 1 s"), Report("c", True)]
    monkeypatch.setattr("devenv.readiness.check_now", lambda rules, states: {"postgres": answers.pop(0)})
    assert cli.main(["-C", str(root), "doctor"]) == 0
    assert "✔ postgres: the configured credentials log in" in capsys.readouterr().out
