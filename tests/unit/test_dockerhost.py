"""Where the docker CLI talks to, from its own files (devenv/dockerhost.py)."""

import hashlib
import json
import socket

from devenv import dockerhost


def test_the_socket_is_found_where_the_docker_cli_finds_it(tmp_path, monkeypatch):
    sock = tmp_path / "d.sock"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(sock))
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "cfg"))
    monkeypatch.delenv("DOCKER_CONTEXT", raising=False)
    monkeypatch.setenv("DOCKER_HOST", f"unix://{sock}")
    assert dockerhost.local_socket() == str(sock)
    monkeypatch.setenv("DOCKER_HOST", "tcp://10.0.0.5:2376")
    assert dockerhost.local_socket() is None  # a remote engine: read through the CLI
    monkeypatch.delenv("DOCKER_HOST")
    assert dockerhost.docker_host() == "unix:///var/run/docker.sock"  # no config: the default
    meta = tmp_path / "cfg" / "contexts" / "meta" / hashlib.sha256(b"desk").hexdigest()
    meta.mkdir(parents=True)
    (meta / "meta.json").write_text(json.dumps({"Endpoints": {"docker": {"Host": f"unix://{sock}"}}}))
    (tmp_path / "cfg" / "config.json").write_text(json.dumps({"currentContext": "desk"}))
    assert dockerhost.local_socket() == str(sock)
    monkeypatch.setenv("DOCKER_CONTEXT", "missing")
    assert dockerhost.local_socket() is None
    server.close()


def test_remote_engines_are_told_from_this_machine():
    assert not dockerhost.is_remote("unix:///var/run/docker.sock")
    assert not dockerhost.is_remote("npipe:////./pipe/docker_engine")
    assert not dockerhost.is_remote("tcp://127.0.0.1:2375")
    assert not dockerhost.is_remote("tcp://[::1]:2375")
    assert dockerhost.is_remote("ssh://me@build-box")
    assert dockerhost.is_remote("tcp://10.0.0.5:2376")
