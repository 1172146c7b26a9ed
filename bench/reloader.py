#!/usr/bin/env python3
"""Benchmark: the example's reloader next to `node --watch`, edit -> the api's answer shows it.

    python bench/reloader.py              # 20 edits in place + 20 by rename per side
    python bench/reloader.py --edits 5    # quicker

Two copies of examples/shop, started one after the other by `devenv up` (src/ bind-mounted):
one with the dev target as it ships (`node scripts/reload.js src/server.js`: folder watches,
the app a cluster worker, the next one started ahead), one with the dev target's CMD replaced
by `node --watch src/server.js`. Each edit changes the message `GET /` answers
(src/hello.js), in place (one write) or by rename (a temporary file renamed over it, as vim
and JetBrains save), and is timed from the write to the first answer showing it; the api is
polled every 10 ms and an edit not seen within 10 s is a miss. No `devenv watch` runs: this
is the mount + the app's own reloader alone (bench/watch.py times it with `devenv watch`).
Standard library only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "shop"
POLL = 0.010
MISS_AFTER = 10.0
SHIPPED = 'CMD ["node", "scripts/reload.js", "src/server.js"]'
NODE_WATCH = 'CMD ["node", "--watch", "src/server.js"]'


def devenv() -> list[str]:
    local = REPO / ".venv" / "bin" / "devenv"
    return [str(local)] if local.exists() else ["devenv"]


def project(base: Path, name: str, command: str) -> tuple[Path, dict[str, str]]:
    root = base / name
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns("node_modules", ".devenv", ".env"))
    dockerfile = root / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text().replace(SHIPPED, command))
    config = (root / "devenv.yaml").read_text().replace("port: 3000", "port: 0")
    config += "services:\n  postgres: {ports: {5432: 0}}\n  redis: {ports: {6379: 0}}\n  mailhog: {ports: {1025: 0, 8025: 0}}\n"
    (root / "devenv.yaml").write_text(config)
    return root, {**os.environ, "DEVENV_PROJECT_NAME": name, "NO_COLOR": "1"}


def message(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return json.loads(response.read()).get("message")
    except (OSError, ValueError):
        return None


def timed_edits(url: str, hello: Path, edits: int, *, rename: bool) -> list[float | None]:
    original = hello.read_text()
    found: list[float | None] = []
    for i in range(edits):
        marker = f"{'rename' if rename else 'in place'} {i} {secrets.token_hex(2)}"
        time.sleep(0.3)  # the previous edit has settled
        start = time.perf_counter()
        if rename:
            temporary = hello.with_name(f".hello.js.{i}.tmp")
            temporary.write_text(original.replace("hello from shop", marker))
            os.replace(temporary, hello)
        else:
            with hello.open("w") as file:
                file.write(original.replace("hello from shop", marker))
        seen = None
        while time.perf_counter() - start < MISS_AFTER:
            if message(url) == marker:
                seen = time.perf_counter() - start
                break
            time.sleep(POLL)
        found.append(seen)
    hello.write_text(original)
    return found


def summary(values: list[float | None]) -> str:
    seen = [v for v in values if v is not None]
    if not seen:
        return f"0/{len(values)} seen"
    return f"median {statistics.median(seen):.3f} s, max {max(seen):.3f} s, {len(seen)}/{len(values)} seen"


def side(base: Path, label: str, command: str, edits: int) -> dict[str, str]:
    name = f"benchr-{secrets.token_hex(3)}"
    root, env = project(base, name, command)
    try:
        up = subprocess.run([*devenv(), "up"], cwd=root, env=env, capture_output=True, text=True, timeout=900)
        if up.returncode != 0:
            return {"label": label, "error": up.stderr.strip().splitlines()[-1] if up.stderr.strip() else "up failed"}
        status = subprocess.run([*devenv(), "status", "--json"], cwd=root, env=env, capture_output=True, text=True)
        api = next(s for s in json.loads(status.stdout)["services"] if s["service"] == "api")
        url = next(u for u in api["urls"] if u.startswith("http://"))
        hello = root / "src" / "hello.js"
        return {
            "label": label,
            "in place": summary(timed_edits(url, hello, edits, rename=False)),
            "by rename": summary(timed_edits(url, hello, edits, rename=True)),
        }
    finally:
        subprocess.run(
            ["docker", "compose", "-p", name, "down", "--volumes", "--remove-orphans", "--timeout", "3"],
            capture_output=True,
        )
        subprocess.run(["docker", "image", "rm", "-f", f"{name}-api:devenv"], capture_output=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--edits", type=int, default=20, help="edits per side, in place and again by rename")
    args = parser.parse_args(argv)
    base = Path(tempfile.mkdtemp(prefix="bench-reloader-"))
    print(f"bench/reloader.py: {args.edits} edits in place + {args.edits} by rename per side; polling every 10 ms")
    try:
        for label, command in (("scripts/reload.js (the example)", SHIPPED), ("node --watch", NODE_WATCH)):
            row = side(base, label, command, args.edits)
            print(f"\n  {row['label']}")
            if "error" in row:
                print(f"    could not start: {row['error']}")
                continue
            print(f"    in place   {row['in place']}")
            print(f"    by rename  {row['by rename']}")
    finally:
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
