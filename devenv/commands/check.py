"""`devenv check`."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from devenv.commands import context
from devenv.errors import ExitCode

MARK = {"error": "[err]✖[/]", "warning": "[warn]![/]"}


def command(
    scan: Annotated[
        bool, typer.Option("--scan", help="Also scan the built api image with Trivy (HIGH and CRITICAL).")
    ] = False,
    health: Annotated[
        bool,
        typer.Option(
            "--health",
            help="Also start a throwaway copy of the stack, stop its Postgres and check that the api's "
            "health path stops answering 200 (builds and starts containers: takes a while).",
        ),
    ] = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print the findings as JSON.")] = False,
) -> int:
    """Lint the api's Dockerfile and .dockerignore against good practice; exits 60 on errors.

    Each finding names file:line, why it matters and the fix: multi-stage builds, dependency
    install before `COPY . .`, a non-root user, pinned base images, a .dockerignore that keeps
    out node_modules/.git/.env/.devenv, no secrets in ENV/ARG/copied files, a HEALTHCHECK.

    Example: devenv check --json
    """
    import json

    from rich.markup import escape

    from devenv import check, console
    from devenv.project import API

    ws = context.workspace(quiet=True)
    root = ws.project.root
    api = ws.project.config.api
    spec = ws.compose.compose["services"].get(API, {}) if API in ws.compose.services else {}
    build = spec.get("build")
    if isinstance(build, dict):
        build_context = root / str(build.get("context", "."))
        dockerfile = build_context / str(build.get("dockerfile", "Dockerfile"))
    else:
        build_context, dockerfile = root, root / "Dockerfile"
    if not isinstance(build, dict) and not dockerfile.is_file():
        console.out.print("nothing to check: the project builds no image (no api build, no Dockerfile)")
        return ExitCode.OK
    findings = check.lint(dockerfile, build_context, root=root, target=api.build.target, health_path=api.health_path)
    scanned = _scan(ws) if scan else None
    probed = None
    if health:
        from devenv import healthprobe

        probed = healthprobe.probe(ws, context.make_engine())
        if probed.ok is False:
            line = ws.project.where("api", "health_path").rsplit(":", 1)[1]
            findings.append(
                check.Finding(
                    "health-503",
                    check.ERROR,
                    ws.project.config_path.name,
                    int(line),
                    f"the health path is not honest: {probed.detail}",
                    "a health path that answers 200 while the database is down sends traffic to an api "
                    "that cannot serve it, and devenv counts it ready too early",
                    "check the database and Redis in the health handler (a `SELECT 1`, a `PING`, each with a "
                    "short timeout) and answer 503 when one fails",
                )
            )
    if json_output:
        data = check.as_json(findings, scanned)
        if probed is not None:
            data["health"] = {"ok": probed.ok, "detail": probed.detail}
        console.out.print_json(json.dumps(data))
    else:
        for finding in findings:
            console.out.print(
                f"{MARK[finding.severity]} {escape(finding.where)}: {escape(finding.message)}"
                f" [dim]\\[{finding.rule}][/]"
            )
            console.out.print(f"  [dim]why:[/] {escape(finding.why)}")
            console.out.print(f"  [dim]fix:[/] {escape(finding.fix)}")
        if scanned is not None:
            if not scanned["ran"]:
                console.out.print(f"[warn]![/] {escape(scanned['note'])}")
            for result in scanned["images"]:
                ok, headline, lines = check.describe_scan(result)
                console.out.print(f"{'[ok]✔[/]' if ok else MARK['error']} {escape(headline)}")
                for line in lines:
                    console.out.print(f"  {escape(line)}")
                if result.get("fix"):
                    console.out.print(f"  [dim]fix:[/] {escape(result['fix'])}")
        if probed is not None and probed.ok is not False:
            mark = "[ok]✔[/]" if probed.ok else "[warn]![/]"
            what = "" if probed.ok else "health path not probed: "
            console.out.print(f"{mark} {what}{escape(probed.detail)} (a throwaway copy of the stack)")
        errors = sum(f.severity == "error" for f in findings)
        warnings = len(findings) - errors
        scan_failed = bool(scanned and scanned["failed"])
        if findings:
            failed_scan = "; the scan failed" if scan_failed else ""
            console.out.print(f"[dim]{errors} error(s), {warnings} warning(s){failed_scan}[/]")
        else:
            console.out.print("[err]✖[/] no findings, but the scan failed" if scan_failed else "[ok]✔[/] no findings")
    bad = check.failed(findings) or bool(scanned and scanned["failed"])
    return ExitCode.CHECKS_FAILED if bad else ExitCode.OK


def _scan(ws: Any) -> dict[str, Any]:
    """Trivy on the image of every service that builds one (the api, and compose_files
    services with `build:`); an image not built yet is a failed scan that says how to build it."""
    import shutil

    from devenv import check
    from devenv.plan import image_tag

    if shutil.which("trivy") is None:
        return check.scan([])  # says how to install it
    services = ws.compose.compose.get("services") or {}
    images = [image_tag(ws, name) for name in ws.compose.services if "build" in (services.get(name) or {})]
    if not images:
        return {"ran": False, "failed": False, "note": "nothing to scan: no service builds an image", "images": []}
    engine = context.make_engine()
    built = [image for image in images if engine.image_exists(image)]
    scanned = check.scan(built)
    if not scanned["ran"]:
        return scanned
    for image in images:
        if image not in built:
            scanned["images"].append(
                {
                    "image": image,
                    "exit_code": None,
                    "error": "the image is not built",
                    "vulnerabilities": [],
                    "fix": "`devenv up` builds it; then run `devenv check --scan` again",
                }
            )
            scanned["failed"] = True
    return scanned
