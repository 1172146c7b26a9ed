"""`devenv check`: the project's Docker setup against the practices a team wants in every
image, each finding with file:line, why it matters and the fix.

Pure: every rule is a function of the Dockerfile's parse (:mod:`devenv.dockerfile`) and the
`.dockerignore`. Nothing here talks to Docker; ``--scan`` runs Trivy, when it is installed, on
the built images.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from devenv.build import dockerignore_patterns, ignored
from devenv.dockerfile import Instruction, Stage, parse, stages

ERROR, WARNING = "error", "warning"
_SECRET = re.compile(r"(PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|PRIVATE_?KEY|ACCESS_?KEY|CREDENTIALS?)", re.I)
_SECRET_FILE = re.compile(r"(^|/)(\.env(\.[\w.-]+)?|id_rsa|id_ed25519|[\w.-]+\.pem|[\w.-]+\.key|\.npmrc|\.netrc)$")
_INSTALL = re.compile(
    r"\b(npm (ci|install|i)\b|yarn( install)?\b|pnpm (install|i)\b|pip3? install|poetry install|uv sync|"
    r"bundle install|composer install|go mod download|cargo (build|fetch))"
)
MUST_IGNORE = ("node_modules", ".git", ".env", ".devenv")
SECRET_IGNORES = (".env", ".git")  # letting these in is an error; the others a warning


@dataclass(frozen=True)
class Finding:
    rule: str
    severity: str  # error | warning
    file: str  # relative to the project
    line: int  # 0: the file as a whole (or its absence)
    message: str
    why: str
    fix: str

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file


def _finding(rule: str, severity: str, file: str, line: int, message: str, why: str, fix: str) -> Finding:
    return Finding(rule, severity, file, line, message, why, fix)


def rule_multi_stage(all_stages: list[Stage], file: str) -> list[Finding]:
    if len(all_stages) != 1:
        return []
    return [
        _finding(
            "multi-stage",
            WARNING,
            file,
            all_stages[0].line,
            "a single-stage build",
            "build tools, compilers and dev dependencies end up in the image you run and ship",
            "install dependencies in a first stage (FROM ... AS deps) and copy only what runs into the last one",
        )
    ]


def rule_install_after_copy(all_stages: list[Stage], file: str) -> list[Finding]:
    found = []
    for stage in all_stages:
        copied_all = None
        for item in stage.instructions:
            if item.keyword in ("COPY", "ADD") and _copies_everything(item.args):
                copied_all = copied_all or item
            elif item.keyword == "RUN" and copied_all is not None and _INSTALL.search(item.args):
                found.append(
                    _finding(
                        "install-after-copy",
                        ERROR,
                        file,
                        item.line,
                        f"dependencies installed after `COPY . .` (line {copied_all.line})",
                        "any edit of any file busts the cache of this layer: every build reinstalls every dependency",
                        "copy the dependency manifests first (e.g. COPY package.json package-lock.json ./), "
                        "run the install, then COPY the rest",
                    )
                )
    return found


def _copies_everything(args: str) -> bool:
    words = [w for w in args.split() if not w.startswith("--")]
    return len(words) >= 2 and any(w in (".", "./", "*") for w in words[:-1])


def rule_root(all_stages: list[Stage], file: str, target: str | None) -> list[Finding]:
    """The stages that become images (the last one, and the build target) set a non-root USER."""
    chosen = [all_stages[-1]] if all_stages else []
    if target:
        chosen += [s for s in all_stages if s.name == target and s is not all_stages[-1]]
    found = []
    for stage in chosen:
        users = [i.args.split(":")[0].strip() for i in stage.instructions if i.keyword == "USER"]
        if users and users[-1] not in ("root", "0"):
            continue
        where = "" if stage.name is None else f" `{stage.name}`"
        found.append(
            _finding(
                "non-root",
                WARNING,
                file,
                stage.line,
                f"the stage{where} runs as root",
                "a process that is broken into (or a bind mount it writes) acts as root in the container",
                "add a user and switch to it before CMD: `USER node` on node images, or "
                "`RUN adduser -D app` then `USER app`",
            )
        )
    return found


def rule_pinned_base(all_stages: list[Stage], file: str) -> list[Finding]:
    names = {s.name for s in all_stages if s.name}
    found = []
    for stage in all_stages:
        image = stage.image
        if image in names or image == "scratch" or "$" in image or "@sha256:" in image:
            continue
        tag = image.rsplit("/", 1)[-1].partition(":")[2]
        if tag and tag != "latest":
            continue
        found.append(
            _finding(
                "pinned-base",
                ERROR,
                file,
                stage.line,
                f"base image `{image}` is " + ("`latest`" if tag else "not pinned to a tag"),
                "the image changes under you: two builds of the same commit can differ, and an update breaks "
                "the build on a day nobody changed anything",
                "pin a version tag (e.g. node:20-alpine), or a digest (image@sha256:...)",
            )
        )
    return found


def rule_dockerignore(context: Path, file: str) -> list[Finding]:
    if not (context / ".dockerignore").is_file():
        return [
            _finding(
                "dockerignore",
                ERROR,
                file,
                0,
                ".dockerignore is missing",
                "the whole folder is sent to the build: node_modules, .git and .env with it, slow builds and "
                "secrets a COPY can put into the image",
                "create .dockerignore with at least: " + ", ".join(MUST_IGNORE),
            )
        ]
    patterns = dockerignore_patterns(context)
    found = []
    for name in MUST_IGNORE:
        if ignored(name, patterns):
            continue
        found.append(
            _finding(
                "dockerignore",
                ERROR if name in SECRET_IGNORES else WARNING,
                file,
                0,
                f".dockerignore lets in {name}",
                {
                    "node_modules": "the host's node_modules (another OS, another arch) is sent and can be copied "
                    "over the image's",
                    ".git": "the history (and any secret ever committed) is sent and can end up in a layer",
                    ".env": "local secrets are sent and a `COPY . .` puts them into the image",
                    ".devenv": "devenv's working files change on every run and bust the build cache",
                }[name],
                f"add a line `{name}` to .dockerignore",
            )
        )
    return found


def rule_secrets(all_stages: list[Stage], file: str, context: Path) -> list[Finding]:
    found = []
    patterns = dockerignore_patterns(context)
    leaked = [
        p.name
        for p in sorted(context.glob(".env*"))
        if p.is_file() and p.name != ".env.example" and not ignored(p.name, patterns)
    ]
    for stage in all_stages:
        for item in stage.instructions:
            if item.keyword in ("ENV", "ARG"):
                for name, value in _assignments(item):
                    if not _SECRET.search(name) or (item.keyword == "ARG" and not value):
                        continue
                    found.append(
                        _finding(
                            "secrets",
                            ERROR,
                            file,
                            item.line,
                            f"{item.keyword} {name} holds a secret in the image",
                            "ENV and ARG values are stored in the image's layers and history: anyone who can pull "
                            "the image can read them",
                            "pass it at run time (environment, .env read by Compose), or at build time with "
                            "`RUN --mount=type=secret`",
                        )
                    )
            elif item.keyword in ("COPY", "ADD"):
                words = [w for w in item.args.split() if not w.startswith("--")]
                sources = words[:-1]
                named = [s for s in sources if _SECRET_FILE.search(s.rstrip("/"))]
                if _copies_everything(item.args) and leaked and not any("--from" in w for w in item.args.split()):
                    named += [f"{', '.join(leaked)} (through `{item.keyword} {' '.join(words)}`)"]
                if named:
                    found.append(
                        _finding(
                            "secrets",
                            ERROR,
                            file,
                            item.line,
                            f"{item.keyword} puts secrets into the image: {', '.join(named)}",
                            "a file copied into a layer stays in the image even if a later step deletes it",
                            "keep secrets out of the build: list them in .dockerignore and give them at run time",
                        )
                    )
    return found


def _assignments(item: Instruction) -> list[tuple[str, str]]:
    args = item.args
    if "=" not in args.split(" ", 1)[0]:  # legacy `ENV NAME value`, or `ARG NAME`
        name, _, value = args.partition(" ")
        return [(name, value.strip())]
    return [(m[1], m[2]) for m in re.finditer(r"([\w.-]+)=(\"[^\"]*\"|'[^']*'|\S*)", args)]


def rule_healthcheck(all_stages: list[Stage], file: str, context: Path, health_path: str) -> list[Finding]:
    if not all_stages or any(i.keyword == "HEALTHCHECK" for i in all_stages[-1].instructions):
        return []
    if _source_mentions(context, health_path):
        return []
    return [
        _finding(
            "healthcheck",
            WARNING,
            file,
            all_stages[-1].line,
            f"no HEALTHCHECK, and the source never mentions the health path {health_path}",
            "nothing can tell a running api from a working one: orchestrators route traffic to it and devenv "
            "waits on a path that does not answer",
            f"serve {health_path} (checking the database and Redis, 503 when they are down) and add "
            f"`HEALTHCHECK CMD wget -q -O /dev/null http://127.0.0.1:PORT{health_path} || exit 1`",
        )
    ]


_SOURCE_SUFFIXES = {".js", ".mjs", ".cjs", ".ts", ".py", ".go", ".rb", ".java", ".kt", ".php", ".rs", ".cs", ".ex"}


def _source_mentions(context: Path, text: str, limit: int = 2000) -> bool:
    patterns = [*dockerignore_patterns(context), "node_modules", ".git"]
    seen = 0
    for path in sorted(context.rglob("*")):
        relative = path.relative_to(context).as_posix()
        if path.suffix not in _SOURCE_SUFFIXES or ignored(relative, patterns) or not path.is_file():
            continue
        seen += 1
        if seen > limit:
            return True  # too big to read all: give it the benefit of the doubt
        try:
            if f"'{text}'" in (body := path.read_text(encoding="utf-8", errors="replace")) or f'"{text}"' in body:
                return True
        except OSError:
            continue
    return False


def lint(
    dockerfile: Path, context: Path, *, root: Path, target: str | None = None, health_path: str = "/health"
) -> list[Finding]:
    """Every finding for one Dockerfile and its build context, in file and line order."""
    file = _relative(dockerfile, root)
    ignore_file = _relative(context / ".dockerignore", root)
    try:
        text = dockerfile.read_text(encoding="utf-8")
    except OSError:
        return [
            _finding(
                "dockerfile",
                ERROR,
                file,
                0,
                "the Dockerfile cannot be read",
                "devenv builds the api from it",
                "create it, or set api.build.dockerfile in devenv.yaml",
            )
        ]
    all_stages = stages(parse(text))
    found = [
        *rule_multi_stage(all_stages, file),
        *rule_install_after_copy(all_stages, file),
        *rule_root(all_stages, file, target),
        *rule_pinned_base(all_stages, file),
        *rule_secrets(all_stages, file, context),
        *rule_healthcheck(all_stages, file, context, health_path),
        *rule_dockerignore(context, ignore_file),
    ]
    return sorted(found, key=lambda f: (f.file != file, f.file, f.line, f.rule))


def _relative(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)


def failed(findings: list[Finding]) -> bool:
    return any(f.severity == ERROR for f in findings)


def as_json(findings: list[Finding], scan: dict[str, Any] | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "ok": not failed(findings) and not (scan or {}).get("failed"),
        "findings": [{**asdict(f), "where": f.where} for f in findings],
    }
    if scan is not None:
        data["scan"] = scan
    return data


TRIVY_INSTALL = (
    "Trivy is not installed: see https://trivy.dev for its packages (e.g. `brew install trivy`, "
    "the aquasecurity apt/rpm repository, or its install script), then run `devenv check --scan` again"
)
# JSON report (SchemaVersion 2), vulnerabilities only, HIGH and CRITICAL: trivy exits 0 after a
# scan whatever it found, and non-zero only when it could not scan (no database, no image)
TRIVY_ARGS = ("image", "--quiet", "--format", "json", "--scanners", "vuln", "--severity", "HIGH,CRITICAL")
SHOWN = 20  # vulnerabilities printed per image (--json has them all)


def scan(images: list[str], which: Any = shutil.which) -> dict[str, Any]:
    """Trivy on each image (HIGH and CRITICAL vulnerabilities); says how to install it when missing.
    ``failed``: an image has one, or Trivy could not scan it."""
    trivy = which("trivy")
    if trivy is None:
        return {"ran": False, "failed": False, "note": TRIVY_INSTALL, "images": []}
    results = []
    for image in images:
        done = subprocess.run([trivy, *TRIVY_ARGS, image], check=False, capture_output=True, text=True)
        results.append(read_report(image, done.returncode, done.stdout, done.stderr))
    failed = any(r["error"] or r["vulnerabilities"] for r in results)
    return {"ran": True, "failed": failed, "note": "", "images": results}


def read_report(image: str, code: int, stdout: str, stderr: str) -> dict[str, Any]:
    """One image's result from Trivy's JSON report (`trivy image --format json`:
    ``Results[].Vulnerabilities[]`` with ``VulnerabilityID``, ``PkgName``, ``InstalledVersion``,
    ``FixedVersion``, ``Severity``; a Result without vulnerabilities has no such key).
    ``error``: why Trivy could not scan (its exit code is not 0, or it printed no report)."""
    report: Any = None
    if code == 0:
        try:
            report = json.loads(stdout)
        except ValueError:
            report = None
    if isinstance(report, list):  # Trivy before 0.20: the Results list itself
        report = {"Results": report}
    if not isinstance(report, dict):
        said = [line.strip() for line in (stderr or stdout).splitlines() if line.strip()]
        error = said[-1] if said else f"trivy exited with code {code} and printed no report"
        return {"image": image, "exit_code": code, "error": error, "vulnerabilities": []}
    found = []
    for result in report.get("Results") or []:
        for item in result.get("Vulnerabilities") or []:
            found.append(
                {
                    "id": str(item.get("VulnerabilityID", "")),
                    "package": str(item.get("PkgName", "")),
                    "installed": str(item.get("InstalledVersion", "")),
                    "fixed": str(item.get("FixedVersion") or ""),
                    "severity": str(item.get("Severity", "")),
                    "target": str(result.get("Target", "")),
                }
            )
    order = {"CRITICAL": 0, "HIGH": 1}
    found.sort(key=lambda v: (order.get(v["severity"], 2), v["package"], v["id"]))
    return {"image": image, "exit_code": code, "error": "", "vulnerabilities": found}


def describe_scan(result: dict[str, Any], shown: int = SHOWN) -> tuple[bool, str, list[str]]:
    """(ok, headline, detail lines) for one image's scan, as `devenv check` prints it."""
    image = result["image"]
    if result["error"]:
        return False, f"trivy could not scan {image}: {result['error']}", []
    found = result["vulnerabilities"]
    if not found:
        return True, f"trivy {image}: no HIGH or CRITICAL vulnerabilities", []
    critical = sum(v["severity"] == "CRITICAL" for v in found)
    headline = f"trivy {image}: {len(found)} HIGH or CRITICAL vulnerabilities ({critical} CRITICAL)"
    lines = [
        f"{v['severity']} {v['id']} {v['package']} {v['installed']}: "
        + (f"fixed in {v['fixed']}" if v["fixed"] else "no fix yet")
        for v in found[:shown]
    ]
    if len(found) > shown:
        lines.append(f"… and {len(found) - shown} more (`devenv check --scan --json` lists them all)")
    return False, headline, lines
