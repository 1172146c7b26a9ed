"""After the data changed under the api (a reset, a snapshot restore, a branch swap): does the
api still answer, or did it keep the connections devenv ended?

Most database clients (pools) drop a connection the server ended and open a new one on the
next query, so the api answers again at once. An api that holds one connection for its life
answers with errors from then on. devenv asks the api's health path (from the host, as `up`
does) for a short while (``WAIT`` seconds); without a 2xx answer by then it restarts the api's
container, waits until the health path answers again, and says so.

The health path should touch the database (and Redis) for this to tell: a ``/health`` that
answers 200 without them cannot show a dead pool.

The decision (:func:`settle`) is pure, with a clock, a sleep and the probe passed in.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from devenv.errors import StartTimeoutError

if TYPE_CHECKING:
    from devenv.engine_types import ServiceState
    from devenv.interfaces import Engine
    from devenv.workspace import Workspace

API = "api"
WAIT = 5.0  # seconds an api gets to answer with its new data before it is restarted
RESTART_WAIT = 120.0  # seconds a restarted api gets to answer


@dataclass(frozen=True)
class Settled:
    answered: bool
    waited: float  # seconds until the first 2xx answer, or until giving up


def settle(
    answers: Callable[[], bool],
    *,
    wait: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    interval: float = 0.1,
) -> Settled:
    """Ask ``answers()`` until it says yes or ``wait`` seconds passed (asked at least once)."""
    began = clock()
    while True:
        if answers():
            return Settled(True, clock() - began)
        if clock() - began >= wait:
            return Settled(False, clock() - began)
        sleep(interval)


def health_url(ws: Workspace, api: ServiceState) -> str | None:
    """The api's health path on its published port, as `up` probes it (None: not published)."""
    port = api.host_port(ws.compose.api_port)
    if port is None:
        return None
    host = "127.0.0.1" if port.host_ip in ("", "0.0.0.0", "::") else port.host_ip
    return f"http://{host}:{port.host_port}{ws.compose.health_path}"


def _http_answers(url: str) -> Callable[[], bool]:
    from devenv.probes import probe_http

    return lambda: probe_http(url, timeout=2.0).ok


def after_data_change(
    ws: Workspace,
    engine: Engine,
    *,
    states: list[ServiceState] | tuple[ServiceState, ...] | None = None,
    wait: float = WAIT,
    answers: Callable[[str], Callable[[], bool]] = _http_answers,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> str | None:
    """Check the running api answers; restart it when it does not. A line to report, or None
    (no api running, its port not published, or it answered). ``states``: the project's
    containers when the caller has them (one engine call less)."""
    if API not in ws.compose.services:
        return None
    found = states if states is not None else engine.services(ws.name)
    api = next((s for s in found if s.service == API and s.state == "running"), None)
    url = health_url(ws, api) if api is not None else None
    if api is None or url is None:
        return None
    probe = answers(url)
    first = settle(probe, wait=wait, clock=clock, sleep=sleep)
    if first.answered:
        return None
    engine.compose_stop(ws.files, [API])
    starting = engine.start(api.name)
    try:
        while starting.poll() is None:
            sleep(0.05)
        if starting.poll() != 0:
            raise starting.error()
    finally:
        starting.end()
    began = clock()
    # an engine-picked host port (api.port: 0) is picked again when the container starts
    restarted = next((s for s in engine.inspect([api.id or api.name]) if s.service == API), api)
    url = health_url(ws, restarted) or url
    again = settle(answers(url), wait=RESTART_WAIT, clock=clock, sleep=sleep, interval=0.25)
    path = ws.compose.health_path
    if not again.answered:
        raise StartTimeoutError(
            f"api did not answer GET {path} after the data changed, nor {RESTART_WAIT:.0f}s after a restart",
            hint="see why: `devenv logs api`",
        )
    return (
        f"api: no answer on GET {path} within {wait:.0f}s after its data changed (it kept the ended "
        f"connections): restarted it, answering again after {clock() - began:.1f}s"
    )
