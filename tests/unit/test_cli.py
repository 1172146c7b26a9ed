"""The real typer app, in-process, with a fake engine: routing, output and exit codes."""

import json
import subprocess
import sys

import pytest

from devenv import cli, readiness
from devenv.commands import context
from devenv.errors import ExitCode, NoDockerError
from tests.conftest import FakeEngine, FakeProber, state
from tests.unit.conftest import answering

CONFIG = "name: proj\nprofiles: [redis]\nservices:\n  redis: {ports: {6379: 0}}\n"


@pytest.fixture
def engine(monkeypatch):
    fake = FakeEngine([[state("redis", ports={6379: 41002})]], ports={"redis": {6379: 41002}})
    monkeypatch.setattr(context, "make_engine", lambda: fake)
    monkeypatch.setattr(readiness, "Prober", FakeProber)
    monkeypatch.setattr(readiness, "check_now", answering)
    return fake


def run(capsys, *argv):
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_help_lists_the_commands(capsys):
    code, out, _ = run(capsys, "--help")
    assert code == 0
    for command in ("up", "down", "status", "config"):
        assert f"  {command} " in out


def test_version(capsys):
    assert run(capsys, "--version")[:2] == (0, "devenv 0.1.0\n")


def test_help_does_not_load_docker_or_pydantic():
    code = (
        "import sys, contextlib, io\n"
        "from devenv.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()): main(['--help'])\n"
        "print(sorted(m for m in ('python_on_whales', 'pydantic', 'yaml') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_usage_error_exits_2(capsys):
    code, _, err = run(capsys, "up", "--bogus")
    assert code == ExitCode.USAGE == 2
    assert "No such option: --bogus" in err


def test_no_project_here(capsys, tmp_path):
    code, _, err = run(capsys, "-C", str(tmp_path), "status")
    assert code == ExitCode.NO_PROJECT
    assert err.splitlines() == [
        f"error: no devenv.yaml in {tmp_path} or any parent folder",
        "hint: run devenv inside a project, or create devenv.yaml (see docs/tutorial/day-one.md)",
    ]


def test_invalid_config_names_file_line_key(capsys, make_project):
    root = make_project("name: proj\napi:\n  port: lots\n")
    code, _, err = run(capsys, "-C", str(root), "config")
    assert code == ExitCode.INVALID_CONFIG
    assert (
        err.splitlines()[0]
        == f"error: {root / 'devenv.yaml'}:3: api.port: Input should be a valid integer, unable to parse string as an integer"
    )
    assert err.splitlines()[1].startswith("hint: ")


def test_config_prints_the_rendered_file_and_warns_about_unknown_keys(capsys, make_project):
    root = make_project(CONFIG + "timeout_s: 3\n")
    code, out, err = run(capsys, "-C", str(root), "config")
    assert code == 0
    assert out == (root / ".devenv" / "compose.yaml").read_text()
    assert out.splitlines()[2] == "name: proj"
    assert (
        err.strip() == f"warning: {root / 'devenv.yaml'}:5: unknown key 'timeout_s' is ignored; did you mean 'timeout'?"
    )


def test_up_prints_the_summary(capsys, make_project, engine):
    root = make_project(CONFIG)
    code, out, err = run(capsys, "-C", str(root), "up")
    assert code == 0, err
    assert out.splitlines()[0].startswith("✔ proj is up in ")
    assert "redis://127.0.0.1:41002/0" in out
    assert "starting redis …" in err
    code, out, _ = run(capsys, "-C", str(root), "up")
    assert out.splitlines()[0] == "✔ proj is already up; nothing changed"


def test_status_json(capsys, make_project, engine):
    root = make_project(CONFIG)
    code, out, _ = run(capsys, "-C", str(root), "status", "--json")
    data = json.loads(out)
    assert code == 0
    assert data["project"] == "proj"
    assert data["services"][0] | {"uptime_seconds": None} == {
        "service": "redis",
        "state": "running",
        "health": "healthy",
        "ready": True,
        "urls": ["redis://127.0.0.1:41002/0"],
        "uptime_seconds": None,
        "ports": [{"container": 6379, "host_ip": "127.0.0.1", "host": 41002}],
    }


def test_down_volumes_without_a_terminal_refuses(capsys, make_project, monkeypatch):
    fake = FakeEngine([[state("redis")]], volumes=["proj_redis-data"])
    monkeypatch.setattr(context, "make_engine", lambda: fake)
    monkeypatch.setattr(sys, "stdin", open("/dev/null"))
    root = make_project(CONFIG)
    code, _, err = run(capsys, "-C", str(root), "down", "--volumes")
    assert code == ExitCode.ABORTED == 50
    assert "hint: add --yes to confirm" in err
    assert fake.called("down") == []
    code, out, _ = run(capsys, "-C", str(root), "down", "--volumes", "--yes")
    assert code == 0 and "deleted volumes: proj_redis-data" in out


def test_ctrl_d_at_the_prompt_is_a_no(capsys, make_project, monkeypatch):
    import io

    fake = FakeEngine([[state("redis")]], volumes=["proj_redis-data"])
    monkeypatch.setattr(context, "make_engine", lambda: fake)

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.setattr(sys, "stdin", Terminal(""))  # EOF at once, as after Ctrl-D
    root = make_project(CONFIG)
    code, _, err = run(capsys, "-C", str(root), "down", "--volumes")
    assert code == ExitCode.ABORTED
    assert "error: nothing was removed" in err
    assert fake.called("down") == []


def test_engine_errors_are_one_line_and_a_hint(capsys, make_project, monkeypatch):
    def no_docker():
        raise NoDockerError("the docker command was not found", hint="install Docker")

    monkeypatch.setattr(context, "make_engine", no_docker)
    root = make_project(CONFIG)
    code, _, err = run(capsys, "-C", str(root), "status")
    assert code == ExitCode.NO_DOCKER
    assert err.splitlines() == ["error: the docker command was not found", "hint: install Docker"]


def test_unexpected_errors_say_so_and_leave_a_log(capsys, make_project, monkeypatch, tmp_path):
    def broken():
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(context, "make_engine", broken)
    monkeypatch.setenv("DEVENV_HOME", str(tmp_path / "home"))
    root = make_project(CONFIG)
    code, _, err = run(capsys, "-C", str(root), "status")
    assert code == ExitCode.UNEXPECTED
    log = tmp_path / "home" / "last-error.log"
    assert err.splitlines() == [
        "error: unexpected ZeroDivisionError: boom",
        f"hint: this is a bug in devenv; the traceback is in {log}",
    ]
    assert "Traceback" in log.read_text() and "ZeroDivisionError: boom" in log.read_text()


def test_ctrl_c_is_rendered_like_any_error(capsys, make_project, monkeypatch):
    import os
    import signal

    def interrupted():
        os.kill(os.getpid(), signal.SIGINT)
        raise AssertionError("SIGINT should have interrupted")

    monkeypatch.setattr(context, "make_engine", interrupted)
    root = make_project(CONFIG)
    code, _, err = run(capsys, "-C", str(root), "status")
    assert code == ExitCode.INTERRUPTED == 130
    assert err.splitlines()[0] == "error: interrupted"
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_ctrl_c_inside_an_engine_call_that_handles_failures_is_still_an_interrupt(capsys, make_project, monkeypatch):
    """The engine module turns `except Exception` into engine errors (exit 23); an interrupt
    that lands in there must still end as 130."""
    import os
    import signal

    from devenv.errors import EngineError

    class Engine(FakeEngine):
        def services(self, project):
            try:
                os.kill(os.getpid(), signal.SIGINT)
                raise AssertionError("SIGINT should have interrupted")
            except Exception as exc:
                raise EngineError(f"docker failed: {exc}") from None

    monkeypatch.setattr(context, "make_engine", Engine)
    root = make_project(CONFIG)
    code, _, err = run(capsys, "-C", str(root), "status")
    assert (code, err.splitlines()[0]) == (130, "error: interrupted")


def test_exit_codes_are_stable():
    assert {c.name: c.value for c in ExitCode} == {
        "OK": 0,
        "UNEXPECTED": 1,
        "USAGE": 2,
        "NO_PROJECT": 10,
        "INVALID_CONFIG": 11,
        "PROJECT_EXISTS": 12,
        "NO_DOCKER": 20,
        "ENGINE_UNREACHABLE": 21,
        "COMPOSE_MISSING": 22,
        "ENGINE_ERROR": 23,
        "PORT_IN_USE": 30,
        "BUILD_FAILED": 31,
        "PROJECT_BUSY": 32,
        "SERVICE_FAILED": 40,
        "TIMEOUT": 41,
        "NOT_RUNNING": 42,
        "SEED_FAILED": 43,
        "ABORTED": 50,
        "CHECKS_FAILED": 60,
        "INTERRUPTED": 130,
    }


def test_assembly_errors_name_the_line_too(capsys, make_project):
    root = make_project("name: proj\nprofiles: [redis]\nservices:\n  redis:\n    ports: {6380: 1}\n")
    code, _, err = run(capsys, "-C", str(root), "config")
    assert code == ExitCode.INVALID_CONFIG
    assert (
        err.splitlines()[0]
        == f"error: {root / 'devenv.yaml'}:5: services.redis.ports: redis publishes no container port 6380"
    )


def test_a_dotenv_the_api_build_would_send_is_warned_about(capsys, make_project):
    root = make_project(
        "name: proj\nprofiles: [api]\n", {".env": "POSTGRES_PASSWORD=s3cret\n", "Dockerfile": "FROM x\n"}
    )
    code, out, err = run(capsys, "-C", str(root), "config")
    assert code == 0
    assert err.startswith(f"warning: {root / '.env'} is in the api's build context and not in .dockerignore")
    assert "s3cret" not in out


def test_publishing_beyond_loopback_is_warned_about(capsys, make_project):
    root = make_project("name: proj\nprofiles: [redis]\nbind_address: 0.0.0.0\n")
    code, _, err = run(capsys, "-C", str(root), "config")
    assert code == 0
    assert err.strip() == (
        f"warning: {root / 'devenv.yaml'}:3: ports are published on 0.0.0.0, not only on this machine: "
        "others on your network can reach the databases (the default is 127.0.0.1)"
    )
