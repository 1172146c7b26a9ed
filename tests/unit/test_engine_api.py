"""engine.api_get (the Engine API on a unix socket) against a tiny server speaking HTTP/1.0,
and cli_plugin (where the docker CLI finds its plugins)."""

from __future__ import annotations

import json
import os
import socket
import threading
from pathlib import Path

import pytest

from devenv import engine
from devenv.errors import EngineError, EngineUnreachableError


def serve(path: Path, answers: dict[str, bytes]) -> threading.Thread:
    """Answer each GET on a unix socket with the raw response for its path, then close."""
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen()

    def loop() -> None:
        with server:
            for _ in range(len(answers)):
                conn, _ = server.accept()
                with conn:
                    request = b""
                    while b"\r\n\r\n" not in request:
                        request += conn.recv(4096)
                    target = request.split(b" ")[1].decode()
                    conn.sendall(answers[target])

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    return thread


def response(status: str, body: bytes, *, chunked: bool = False) -> bytes:
    if chunked:
        body = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (body[:5], body[5:]) if part) + b"0\r\n\r\n"
        return f"HTTP/1.1 {status}\r\nTransfer-Encoding: chunked\r\n\r\n".encode() + body
    return f"HTTP/1.0 {status}\r\nContent-Type: application/json\r\n\r\n".encode() + body


@pytest.fixture
def sock(tmp_path_factory):
    return tmp_path_factory.mktemp("s") / "docker.sock"  # short: a unix socket path has a limit


def test_api_get_reads_json_and_says_what_failed(sock):
    version = json.dumps({"Version": "26.1.5", "ApiVersion": "1.45"}).encode()
    thread = serve(
        sock,
        {
            "/version": response("200 OK", version),
            "/info": response("200 OK", b'{"DockerRootDir": "/var/lib/docker"}', chunked=True),
            "/containers/gone/json": response("404 Not Found", b'{"message": "No such container: gone"}'),
            "/containers/bad/json": response("500 Internal Server Error", b'{"message": "it broke"}'),
        },
    )
    assert engine.api_get(str(sock), "/version") == {"Version": "26.1.5", "ApiVersion": "1.45"}
    assert engine.api_get(str(sock), "/info") == {"DockerRootDir": "/var/lib/docker"}
    assert engine.api_get(str(sock), "/containers/gone/json", missing=True) is None
    with pytest.raises(EngineError) as failed:
        engine.api_get(str(sock), "/containers/bad/json")
    assert failed.value.message == "docker failed: Error response from daemon: it broke"
    thread.join(timeout=5)


def test_api_get_on_a_socket_nobody_answers_is_the_engine_unreachable(sock):
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(str(sock))  # a socket file left behind by an engine that stopped: nobody listens
    try:
        with pytest.raises(EngineUnreachableError) as failed:
            engine.api_get(str(sock), "/version")
    finally:
        dead.close()
    assert failed.value.message == "the Docker engine is not reachable"
    assert str(sock) in (failed.value.details or "")


def test_cli_plugin_looks_where_the_docker_cli_does(tmp_path, monkeypatch):
    config = tmp_path / "docker-config"
    extra = tmp_path / "extra"
    for folder in (config / "cli-plugins", extra):
        folder.mkdir(parents=True)
    (config / "config.json").write_text(json.dumps({"cliPluginsExtraDirs": [str(extra)]}))
    monkeypatch.setenv("DOCKER_CONFIG", str(config))
    monkeypatch.setattr(engine, "SYSTEM_PLUGIN_DIRS", ())
    assert engine.cli_plugin("buildx") is None
    buildx = extra / "docker-buildx"
    buildx.write_text("#!/bin/sh\n")
    assert engine.cli_plugin("buildx") is None  # not executable: the CLI would not run it either
    buildx.chmod(0o755)
    assert engine.cli_plugin("buildx") == str(buildx)
    mine = config / "cli-plugins" / "docker-buildx"
    mine.write_text("#!/bin/sh\n")
    mine.chmod(0o755)
    assert engine.cli_plugin("buildx") == str(mine)  # the config folder's own comes first
    assert os.access(engine.cli_plugin("buildx") or "", os.X_OK)
