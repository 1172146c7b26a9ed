"""`devenv check`'s rules on the fixtures in tests/fixtures/test_check/: each bad practice
found exactly once, on its line; the example project is clean."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from devenv import check, cli
from devenv.commands import context
from tests.conftest import FakeEngine

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "test_check"
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "shop"

EXPECTED = {
    "single_stage": [("multi-stage", "warning", "Dockerfile:1")],
    "install_after_copy": [("install-after-copy", "error", "Dockerfile:8")],
    "root_user": [("non-root", "warning", "Dockerfile:6")],
    "unpinned": [("pinned-base", "error", "Dockerfile:1"), ("pinned-base", "error", "Dockerfile:6")],
    "no_dockerignore": [("dockerignore", "error", ".dockerignore")],
    "leaky_dockerignore": [
        ("dockerignore", "error", ".dockerignore"),
        ("dockerignore", "error", ".dockerignore"),
        ("dockerignore", "warning", ".dockerignore"),
    ],
    "secrets": [
        ("secrets", "error", "Dockerfile:3"),
        ("secrets", "error", "Dockerfile:8"),
        ("secrets", "error", "Dockerfile:11"),
    ],
    "no_healthcheck": [("healthcheck", "warning", "Dockerfile:6")],
}


def findings(folder: Path, target: str | None = None) -> list[check.Finding]:
    return check.lint(folder / "Dockerfile", folder, root=folder, target=target)


@pytest.mark.parametrize("fixture", sorted(EXPECTED))
def test_each_bad_practice_is_found_once_on_its_line(fixture):
    found = findings(FIXTURES / fixture)
    assert [(f.rule, f.severity, f.where) for f in found] == EXPECTED[fixture]
    for finding in found:
        assert finding.why and finding.fix


def test_the_example_is_clean():
    assert findings(EXAMPLE, target="dev") == []


def test_messages_say_what_is_wrong():
    [install] = findings(FIXTURES / "install_after_copy")
    assert install.message == "dependencies installed after `COPY . .` (line 6)"
    messages = [f.message for f in findings(FIXTURES / "leaky_dockerignore")]
    assert messages == [".dockerignore lets in .git", ".dockerignore lets in .env", ".dockerignore lets in .devenv"]
    messages = [f.message for f in findings(FIXTURES / "secrets")]
    assert messages == [
        "ARG NPM_TOKEN holds a secret in the image",
        "ENV API_SECRET holds a secret in the image",
        "COPY puts secrets into the image: .env",
    ]
    assert [f.message for f in findings(FIXTURES / "unpinned")] == [
        "base image `node` is not pinned to a tag",
        "base image `node:latest` is `latest`",
    ]


def test_parse_joins_continuations_and_keeps_the_first_line():
    parsed = check.parse("# c\nFROM a:1 AS b\n\nRUN x \\\n  # inside\n  y\nUSER n\n")
    assert [(i.line, i.keyword, i.args) for i in parsed] == [
        (2, "FROM", "a:1 AS b"),
        (4, "RUN", "x y"),
        (7, "USER", "n"),
    ]


def test_a_copy_of_everything_with_an_unignored_env_is_a_secret(tmp_path):
    (tmp_path / "Dockerfile").write_text(
        "FROM node:20-alpine AS a\nFROM node:20-alpine\nCOPY . .\nUSER node\nHEALTHCHECK CMD true\n"
    )
    (tmp_path / ".dockerignore").write_text("node_modules\n.git\n.devenv\n")
    (tmp_path / ".env").write_text("A=1\n")
    found = [(f.rule, f.where) for f in findings(tmp_path)]
    assert ("secrets", "Dockerfile:3") in found and ("dockerignore", ".dockerignore") in found


def test_an_arg_without_a_value_is_not_a_secret_in_the_image():
    item = check.Instruction(1, "ARG", "NPM_TOKEN")
    assert check.rule_secrets([check.Stage(1, "x:1", None, [item])], "Dockerfile", Path("/nonexistent")) == []


def test_the_command_prints_file_line_why_fix_and_exits_60(capsys, tmp_path):
    root = shutil.copytree(FIXTURES / "install_after_copy", tmp_path / "p")
    code = cli.main(["-C", str(root), "check"])
    out = capsys.readouterr().out.splitlines()
    assert code == 60
    assert out[0] == "✖ Dockerfile:8: dependencies installed after `COPY . .` (line 6) [install-after-copy]"
    assert out[1].startswith("  why: any edit of any file busts the cache")
    assert out[2].startswith("  fix: copy the dependency manifests first")
    assert out[-1] == "1 error(s), 0 warning(s)"


def test_warnings_alone_exit_0_and_json(capsys, tmp_path):
    root = shutil.copytree(FIXTURES / "root_user", tmp_path / "p")
    assert cli.main(["-C", str(root), "check", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] is True
    assert [(f["rule"], f["where"]) for f in data["findings"]] == [("non-root", "Dockerfile:6")]


def test_scan_says_how_to_install_trivy_when_missing(capsys, tmp_path, monkeypatch):
    root = shutil.copytree(FIXTURES / "root_user", tmp_path / "p")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert cli.main(["-C", str(root), "check", "--scan"]) == 0
    out = capsys.readouterr().out
    assert "! Trivy is not installed: see https://trivy.dev" in out


TRIVY = Path(__file__).resolve().parents[1] / "fixtures" / "fake_trivy" / "trivy"


def test_scan_reads_trivys_json_report():
    result = check.scan(["shop-clean:1", "shop-api:devenv", "shop-missing:1"], which={"trivy": str(TRIVY)}.get)
    assert result["ran"] and result["failed"]
    clean, vulnerable, missing = result["images"]
    assert (clean["error"], clean["vulnerabilities"]) == ("", [])
    assert vulnerable["error"] == ""
    assert [
        (v["severity"], v["id"], v["package"], v["installed"], v["fixed"]) for v in vulnerable["vulnerabilities"]
    ] == [
        ("CRITICAL", "CVE-2099-1002", "busybox", "1.36.1-r29", ""),
        ("HIGH", "GHSA-0000-0000-0001", "cross-spawn", "7.0.3", "7.0.5, 6.0.6"),
        ("HIGH", "CVE-2099-1001", "libssl3", "3.3.2-r0", "3.3.2-r1"),
    ]
    assert vulnerable["vulnerabilities"][1]["target"] == "Node.js"
    assert missing["exit_code"] == 1
    assert missing["error"].endswith('unable to find the specified image "shop-missing:1"')
    assert check.scan(["shop-clean:1"], which={"trivy": str(TRIVY)}.get)["failed"] is False


def test_a_scan_that_printed_no_report_is_an_error_not_a_clean_image():
    assert check.read_report("x:1", 0, "not json", "")["error"] == "not json"
    assert check.read_report("x:1", 2, "", "")["error"] == "trivy exited with code 2 and printed no report"
    old = check.read_report("x:1", 0, '[{"Target": "x", "Vulnerabilities": [{"VulnerabilityID": "CVE-1"}]}]', "")
    assert [v["id"] for v in old["vulnerabilities"]] == ["CVE-1"]  # Trivy before 0.20: a bare list


def test_scan_prints_each_vulnerability_and_exits_60(capsys, tmp_path, monkeypatch):
    root = shutil.copytree(FIXTURES / "root_user", tmp_path / "p")
    monkeypatch.setenv("PATH", f"{TRIVY.parent}:{os.environ['PATH']}")
    monkeypatch.setenv("DEVENV_PROJECT_NAME", "shop")
    monkeypatch.setattr(context, "make_engine", lambda: FakeEngine(images={"shop-api:devenv"}))
    assert cli.main(["-C", str(root), "check", "--scan"]) == 60
    out = capsys.readouterr().out.splitlines()
    at = out.index("✖ trivy shop-api:devenv: 3 HIGH or CRITICAL vulnerabilities (1 CRITICAL)")
    assert out[at + 1 : at + 4] == [
        "  CRITICAL CVE-2099-1002 busybox 1.36.1-r29: no fix yet",
        "  HIGH GHSA-0000-0000-0001 cross-spawn 7.0.3: fixed in 7.0.5, 6.0.6",
        "  HIGH CVE-2099-1001 libssl3 3.3.2-r0: fixed in 3.3.2-r1",
    ]
    assert out[-1] == "0 error(s), 1 warning(s); the scan failed"
    assert cli.main(["-C", str(root), "check", "--scan", "--json"]) == 60
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] is False and data["scan"]["images"][0]["vulnerabilities"][0]["id"] == "CVE-2099-1002"


def test_scan_of_an_image_not_built_says_how_to_build_it(capsys, tmp_path, monkeypatch):
    root = shutil.copytree(FIXTURES / "root_user", tmp_path / "p")
    monkeypatch.setenv("PATH", f"{TRIVY.parent}:{os.environ['PATH']}")
    monkeypatch.setenv("DEVENV_PROJECT_NAME", "shop")
    monkeypatch.setattr(context, "make_engine", lambda: FakeEngine(images=set()))
    assert cli.main(["-C", str(root), "check", "--scan"]) == 60
    out = capsys.readouterr().out
    assert "✖ trivy could not scan shop-api:devenv: the image is not built\n" in out
    assert "  fix: `devenv up` builds it; then run `devenv check --scan` again" in out


def test_switching_back_to_root_counts_as_root():
    stage = check.Stage(1, "x:1", "final", [check.Instruction(2, "USER", "node"), check.Instruction(3, "USER", "root")])
    assert [f.rule for f in check.rule_root([stage], "Dockerfile", None)] == ["non-root"]
    stage.instructions.append(check.Instruction(4, "USER", "node:node"))
    assert check.rule_root([stage], "Dockerfile", None) == []
