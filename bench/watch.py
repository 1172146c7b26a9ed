#!/usr/bin/env python3
"""Benchmark: hot reload, edit -> the api's answer shows the edit, side by side in one run.

    python bench/watch.py                 # 20 edits in place + 20 by rename per side
    python bench/watch.py --edits 5       # quicker
    python bench/watch.py --skip-manifest # leave out the dependency change (needs the npm registry)
    python bench/watch.py --parts sync,restart

1. mounted + the app's reloader: the example shop (src/ bind-mounted, its dev target's
   folder-watching reloader), `devenv watch` running; GET / shows src/hello.js' MESSAGE.
2. sync: a small node:http api whose GET /live/<file> reads its source folder per request,
   started by `devenv up` with `api.reload.mode: sync`: host write -> file in the container,
   by `devenv watch` and by `docker compose watch` (action sync) on the same project (the
   rendered compose file plus a generated `develop.watch` section).
3. sync + restart: the same api's GET /boot answers with what it read at start, so the edit
   shows only after a restart: `devenv watch` (on_change: restart) and `docker compose watch`
   (action sync+restart).
4. manifest: a dependency (ms) added to the shop's package.json and lockfile while `devenv
   watch` runs; the time until GET / answers with it, and how much of it the build took (as
   watch's line reports it).

Each edit is timed from the write (in place: one write; by rename: a temporary file renamed
over the file, as vim and JetBrains save) to the first answer showing it; the api is polled
every 10 ms, an edit not seen within 10 s is a miss. Standard library only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "shop"
POLL = 0.010  # seconds between two asks of the api
MISS_AFTER = 10.0  # seconds after which an edit counts as not seen
TARGET_MOUNT = 0.7  # medians printed next to the figures, never asserted
TARGET_SYNC = 0.15
MS_LOCK_ENTRY = {  # `ms` 2.1.3 as npm's lockfile records it
    "version": "2.1.3",  # no "resolved": npm ci fetches from the configured registry
    "integrity": "sha512-6FlzubTLZG3J2a/NVCAleEhjzq5oxgHyaCU9yYXvcLsvoVaHJq/s5xXI6/XXP6tz7R9xAOtHnSO/tXtF3WRTlA==",
    "license": "MIT",
}

SERVER = """
const http = require("http");
const fs = require("fs");
const boot = fs.readFileSync("/app/src/message.txt", "utf8");  // read once: shows an edit after a restart
const server = http.createServer((req, res) => {
  if (req.url === "/health") { res.end("{}"); return; }
  if (req.url === "/boot") { res.end(boot); return; }
  fs.readFile("/app/src/" + req.url.replace(/^\\/live\\//, ""), "utf8", (err, text) => {
    res.statusCode = err ? 404 : 200;
    res.end(err ? "" : text);
  });
});
process.on("SIGTERM", () => process.exit(0));
server.listen(Number(process.env.PORT || 3000));
"""
DOCKERFILE = 'FROM node:20-alpine\nWORKDIR /app\nCOPY src ./src\nCMD ["node", "src/server.js"]\n'


def say(text: str = "") -> None:
    print(text, flush=True)


def find_devenv() -> list[str]:
    local = REPO / ".venv" / "bin" / "devenv"
    return [str(local)] if local.exists() else ["devenv"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run(cmd: list[str], cwd: Path, env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise SystemExit(f"bench: {' '.join(cmd)} failed ({result.returncode}):\n{result.stdout}{result.stderr}")
    return result


def get(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return str(response.read().decode())
    except (OSError, urllib.error.URLError, ValueError):
        return None


class Background:
    """A long-running command (a watcher), its output lines kept; ended as Ctrl-C would."""

    def __init__(self, cmd: list[str], cwd: Path, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True
        )
        self.lines: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_line(self, pattern: str, timeout: float = 120) -> str | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = next((x for x in list(self.lines) if re.search(pattern, x)), None)
            if found:
                return found
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        return None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@dataclass
class Series:
    label: str
    in_place: list[float | None] = field(default_factory=list)
    renamed: list[float | None] = field(default_factory=list)
    note: str = ""


def edit_and_time(path: Path, text: str, shows: callable, *, rename: bool) -> float | None:  # type: ignore[valid-type]
    """Write ``text`` to ``path`` (in place, or by rename) and time until ``shows()`` is true."""
    time.sleep(0.3)  # the previous edit has settled (reloaders, debounces)
    start = time.perf_counter()
    if rename:
        temporary = path.with_name(f".{path.name}.{secrets.token_hex(3)}.tmp")
        temporary.write_text(text)
        os.replace(temporary, path)
    else:
        with path.open("w") as file:
            file.write(text)
    while time.perf_counter() - start < MISS_AFTER:
        if shows():
            return time.perf_counter() - start
        time.sleep(POLL)
    return None


def series(label: str, edits: int, path: Path, make_text: callable, shows_for: callable) -> Series:  # type: ignore[valid-type]
    result = Series(label)
    for rename, into in ((False, result.in_place), (True, result.renamed)):
        for i in range(edits):
            marker = f"{'r' if rename else 'p'}{i}-{secrets.token_hex(3)}"
            into.append(edit_and_time(path, make_text(marker), shows_for(marker), rename=rename))
    return result


# -- 1. mounted + the app's reloader --------------------------------------------------------------


def shop_project(base: Path, name: str) -> tuple[Path, dict[str, str], int]:
    root = base / "shop"
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns("node_modules", ".devenv", ".env"))
    port = free_port()
    text = (root / "devenv.yaml").read_text()
    text = re.sub(r"(?ms)^data:.*?(?=^\S|\Z)", "", text)  # migrations and seeds are not what is timed
    text = text.replace("port: 3000", f"port: {port}")
    text += "services:\n  postgres: {ports: {5432: 0}}\n  redis: {ports: {6379: 0}}\n"
    text += "  mailhog: {ports: {1025: 0, 8025: 0}}\n"
    (root / "devenv.yaml").write_text(text)
    return root, {**os.environ, "NO_COLOR": "1", "DEVENV_PROJECT_NAME": name}, port


def message_shows(port: int) -> callable:  # type: ignore[valid-type]
    def shows_for(marker: str) -> callable:  # type: ignore[valid-type]
        return lambda: marker in (get(f"http://127.0.0.1:{port}/") or "")

    return shows_for


def mounted(devenv: list[str], root: Path, env: dict[str, str], port: int, edits: int) -> Series:
    hello = root / "src" / "hello.js"
    original = hello.read_text()
    watcher = Background([*devenv, "watch"], root, env)
    try:
        watcher.wait_line(r"^watching")
        result = series(
            "devenv watch, mounted + the app's reloader",
            edits,
            hello,
            lambda marker: original.replace("hello from shop", marker),
            message_shows(port),
        )
        said = [x for x in watcher.lines if "reloads it itself" in x]
        result.note = f"devenv watch printed {len(said)} 'api reloads it itself' lines for {2 * edits} edits"
    finally:
        watcher.stop()
        hello.write_text(original)
    return result


def manifest(devenv: list[str], root: Path, env: dict[str, str], port: int) -> tuple[float | None, float | None, str]:
    """Add `ms` to package.json and the lockfile while watching: seconds until GET / answers
    with it, the build's share as watch reports it, and watch's line."""
    hello = root / "src" / "hello.js"
    original = hello.read_text()
    uses = original.replace(
        "sendJson(res, 200, { service: 'shop-api', message: MESSAGE });",
        "let ms = null;\n  try { ms = require('ms')('2 days'); } catch (e) { ms = null; }\n"
        "  sendJson(res, 200, { service: 'shop-api', message: MESSAGE, ms });",
    )
    if uses == original:
        return None, None, "bench: src/hello.js changed shape; update bench/watch.py manifest()"
    hello.write_text(uses)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and '"ms":null' not in (get(f"http://127.0.0.1:{port}/") or ""):
        time.sleep(0.05)
    watcher = Background([*devenv, "watch"], root, env)
    try:
        watcher.wait_line(r"^watching")
        time.sleep(1)
        package = json.loads((root / "package.json").read_text())
        package["dependencies"]["ms"] = "^2.1.3"
        lock = json.loads((root / "package-lock.json").read_text())
        lock["packages"][""]["dependencies"]["ms"] = "^2.1.3"
        lock["packages"]["node_modules/ms"] = MS_LOCK_ENTRY
        start = time.perf_counter()
        (root / "package.json").write_text(json.dumps(package, indent=2) + "\n")
        (root / "package-lock.json").write_text(json.dumps(lock, indent=2) + "\n")
        seen = None
        while time.perf_counter() - start < 600:
            if '"ms":172800000' in (get(f"http://127.0.0.1:{port}/") or ""):
                seen = time.perf_counter() - start
                break
            time.sleep(POLL)
        line = watcher.wait_line(r"changed.* · rebuilt", 60) or ""
        build = re.search(r"\(build (\d+\.\d) s\)", line)
        return seen, float(build[1]) if build else None, line
    finally:
        watcher.stop()


# -- 2 and 3. sync, next to docker compose watch --------------------------------------------------


def sync_project(base: Path, name: str, on_change: str) -> tuple[Path, dict[str, str], int]:
    root = base / "syncapi"
    if not root.exists():
        (root / "src").mkdir(parents=True)
        (root / "src" / "server.js").write_text(SERVER)
        (root / "src" / "message.txt").write_text("start")
        (root / "Dockerfile").write_text(DOCKERFILE)
    port = free_port()
    (root / "devenv.yaml").write_text(
        "profiles: [api]\ntimeout: 120\napi:\n  build: {context: .}\n"
        f"  port: {port}\n  health_path: /health\n  volumes: ['./src:/app/src']\n"
        f"  reload: {{mode: sync, on_change: {on_change}}}\n"
    )
    return root, {**os.environ, "NO_COLOR": "1", "DEVENV_PROJECT_NAME": name}, port


def compose_watch_file(root: Path, action: str) -> Path:
    """An override adding `develop.watch` to the api of the rendered file."""
    path = root / f"compose-watch-{action.replace('+', '-')}.yaml"
    path.write_text(
        "services:\n  api:\n    develop:\n      watch:\n"
        f"        - action: {action}\n          path: ./src\n          target: /app/src\n"
    )
    return path


def sync_sides(devenv: list[str], base: Path, name: str, edits: int, *, restart: bool) -> list[Series]:
    on_change = "restart" if restart else "reload"
    root, env, port = sync_project(base, name, on_change)
    run([*devenv, "up"], root, env)
    message = root / "src" / "message.txt"
    endpoint = "boot" if restart else "live/message.txt"

    def shows_for(marker: str) -> callable:  # type: ignore[valid-type]
        return lambda: get(f"http://127.0.0.1:{port}/{endpoint}") == marker

    results = []
    watcher = Background([*devenv, "watch"], root, env)
    try:
        if not watcher.wait_line(r"initial sync"):
            raise SystemExit("bench: devenv watch did not start:\n" + "\n".join(watcher.lines))
        label = "devenv watch, sync" + (" + restart" if restart else "")
        results.append(series(label, edits, message, lambda marker: marker, shows_for))
    finally:
        watcher.stop()

    action = "sync+restart" if restart else "sync"
    rendered = root / ".devenv" / "compose.yaml"
    override = compose_watch_file(root, action)
    compose = ["docker", "compose", "-p", name, "--project-directory", str(root), "-f", str(rendered)]
    watcher = Background([*compose, "-f", str(override), "watch", "--no-up", "api"], root, env)
    try:
        if not watcher.wait_line(r"(?i)watch (enabled|configured)", 60):
            time.sleep(3)
        results.append(series(f"docker compose watch, {action}", edits, message, lambda marker: marker, shows_for))
    finally:
        watcher.stop()
    return results


# -- the report -----------------------------------------------------------------------------------


def summary(values: list[float | None]) -> str:
    seen = [v for v in values if v is not None]
    if not seen:
        return f"0/{len(values)} seen"
    return f"median {statistics.median(seen):.3f} s, p90 {sorted(seen)[int(0.9 * (len(seen) - 1))]:.3f} s, {len(seen)}/{len(values)} seen"


def report(rows: list[Series], target: float) -> None:
    for row in rows:
        say(f"  {row.label}")
        for what, values in (("in place", row.in_place), ("by rename", row.renamed)):
            seen = [v for v in values if v is not None]
            verdict = ""
            if seen:
                met = "met" if statistics.median(seen) <= target else "NOT met"
                verdict = f" (target ≤ {target:.2f} s: {met})" if target != float("inf") else ""
            say(f"    {what:10} {summary(values)}{verdict}")
        if row.note:
            say(f"    ({row.note})")


def ratio(devenv: Series, compose: Series) -> str:
    def med(values: list[float | None]) -> float | None:
        seen = [v for v in values if v is not None]
        return statistics.median(seen) if seen else None

    a = med(devenv.in_place + devenv.renamed)
    b = med(compose.in_place + compose.renamed)
    return f"{a / b:.2f}" if a and b else "n/a"


def teardown(name: str) -> None:
    subprocess.run(
        ["docker", "compose", "-p", name, "down", "--volumes", "--remove-orphans", "--timeout", "3"],
        capture_output=True,
        timeout=120,
    )
    subprocess.run(["docker", "image", "rm", "-f", f"{name}-api:devenv"], capture_output=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--edits", type=int, default=20, help="edits per side, in place and again by rename")
    parser.add_argument("--skip-manifest", action="store_true", help="leave out the dependency change")
    parser.add_argument(
        "--parts", default="mount,sync,restart,manifest", help="comma-separated: mount, sync, restart, manifest"
    )
    args = parser.parse_args(argv)
    parts = set(args.parts.split(",")) - ({"manifest"} if args.skip_manifest else set())
    devenv = find_devenv()
    base = Path(tempfile.mkdtemp(prefix="bench-watch-"))
    shop_name, sync_name = f"benchw-{secrets.token_hex(3)}", f"benchws-{secrets.token_hex(3)}"
    say(f"bench/watch.py: {args.edits} edits in place + {args.edits} by rename per side; polling every 10 ms")
    try:
        root, env, port = shop_project(base, shop_name)
        if parts & {"mount", "manifest"}:
            run([*devenv, "up"], root, env)
        if "mount" in parts:
            say("\n1. mounted + the app's reloader (examples/shop, src/ bind-mounted)")
            report([mounted(devenv, root, env, port, args.edits)], TARGET_MOUNT)

        if "sync" in parts:
            say("\n2. sync mode: host write -> file in the container (GET /live/<file> reads it per request)")
            sync_rows = sync_sides(devenv, base, sync_name, args.edits, restart=False)
            report(sync_rows, TARGET_SYNC)
            say(f"  devenv / compose (median of all edits): {ratio(sync_rows[0], sync_rows[1])}")

        if "restart" in parts:
            say("\n3. sync + restart (GET /boot answers what the api read at start)")
            restart_rows = sync_sides(devenv, base, sync_name, args.edits, restart=True)
            report(restart_rows, float("inf"))
            say(f"  devenv / compose (median of all edits): {ratio(restart_rows[0], restart_rows[1])}")

        if "manifest" in parts:
            say("\n4. manifest change: ms added to package.json + package-lock.json while devenv watch runs")
            seen, build, line = manifest(devenv, root, env, port)
            if seen is None:
                say(f"  the api never answered with the new dependency ({line or 'watch printed nothing'})")
            else:
                share = f"; the build {build:.1f} s of it ({100 * build / seen:.0f} %)" if build else ""
                say(f"  GET / answers with ms after {seen:.1f} s{share}")
                say(f"  watch: {line}")
    finally:
        teardown(shop_name)
        teardown(sync_name)
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
