"""The api that does not reconnect, on the real engine: a tiny app holding one Postgres
connection for its life (tests/fixtures/test_apicheck/one-connection). After `devenv reset`
ended that connection, devenv finds its health path failing, restarts it and says so."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.integration.conftest import REPO, http, new_name, run_devenv, status, teardown

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "test_apicheck" / "one-connection"


def test_an_api_that_keeps_its_dead_connection_is_restarted_after_a_reset(tmp_path):
    root = tmp_path / "one-connection"
    shutil.copytree(FIXTURE, root)
    shutil.copy(REPO / "devenv" / "probes.py", root / "probes.py")  # its Postgres login
    name = new_name("apicheck")
    env = {"DEVENV_PROJECT_NAME": name}
    try:
        up = run_devenv("up", cwd=root, env=env)
        assert up.returncode == 0, up.stdout + up.stderr
        # the first up's template copy ended the app's one connection already
        assert "api: no answer on GET /health within 5s after its data changed" in up.stdout
        api = next(u for u in status(root, env)["api"]["urls"] if u.startswith("http"))
        assert http("GET", api + "health") == (200, {"db": "ok"})

        reset = run_devenv("reset", "--yes", cwd=root, env=env)
        assert reset.returncode == 0, reset.stdout + reset.stderr
        assert "api: no answer on GET /health within 5s after its data changed" in reset.stderr
        assert "restarted it, answering again after" in reset.stderr
        # answering at once (devenv waited for it), on its port: engine-picked, so picked again
        api = next(u for u in status(root, env)["api"]["urls"] if u.startswith("http"))
        assert http("GET", api + "health") == (200, {"db": "ok"})
    finally:
        teardown(name)
