"""Where the docker CLI talks to, read from its own files as the CLI does (no docker process).

``DOCKER_HOST`` wins; else ``DOCKER_CONTEXT`` or the current context of the CLI's
``config.json``, whose endpoint is in ``contexts/meta/<sha256 of the name>/meta.json``. The
engine layer uses it to talk to a local engine's socket directly; the hot-reload setup uses it
to tell an engine on another machine (which cannot bind-mount this machine's folders)."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping

DEFAULT_HOST = "unix:///var/run/docker.sock"


def docker_host(env: Mapping[str, str] | None = None) -> str | None:
    """The engine endpoint the docker CLI uses; None when its context cannot be read."""
    env = os.environ if env is None else env
    if env.get("DOCKER_HOST"):
        return env["DOCKER_HOST"]
    home = env.get("HOME") or os.path.expanduser("~")
    folder = env.get("DOCKER_CONFIG") or os.path.join(home, ".docker")
    name = env.get("DOCKER_CONTEXT")
    try:
        if not name:
            with open(os.path.join(folder, "config.json"), encoding="utf-8") as file:
                name = json.load(file).get("currentContext")
        if not name or name == "default":
            return DEFAULT_HOST
        import hashlib  # only for a named context (it loads OpenSSL)

        digest = hashlib.sha256(name.encode()).hexdigest()
        with open(os.path.join(folder, "contexts", "meta", digest, "meta.json"), encoding="utf-8") as file:
            return str(json.load(file)["Endpoints"]["docker"]["Host"])
    except FileNotFoundError:
        return DEFAULT_HOST if not name or name == "default" else None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def local_socket(env: Mapping[str, str] | None = None) -> str | None:
    """The engine's unix socket when the CLI talks to one on this machine, else None (a
    tcp:// or ssh:// engine, or one devenv cannot place)."""
    host = docker_host(env)
    if not host or not host.startswith("unix://"):
        return None
    path = host.removeprefix("unix://")
    return path if os.path.exists(path) else None


def is_remote(endpoint: str) -> bool:
    """tcp://, ssh:// … are another machine; unix:// and npipe:// are this one. A tcp endpoint
    on a loopback address is this machine too."""
    if endpoint.startswith(("unix://", "npipe://", "fd://")) or not endpoint:
        return False
    host = re.sub(r"^\w+://", "", endpoint).split("/", 1)[0].rsplit("@", 1)[-1]
    host = host.rsplit(":", 1)[0].strip("[]") if host.count(":") <= 1 or host.startswith("[") else host
    return host not in ("localhost", "127.0.0.1", "::1")


def remote_engine(env: Mapping[str, str] | None = None) -> bool:
    """Whether the docker CLI talks to an engine on another machine. A context devenv cannot
    read counts as this machine (bind mounts are the default that works for most)."""
    return is_remote(docker_host(env) or "")
