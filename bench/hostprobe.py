"""The benchmark's own readiness probe: when does each service TRULY answer from the host?

Independent of devenv on purpose (nothing here imports it or copies its code): it is the
yardstick devenv's own readiness reports are compared with. Standard library only.

Each check is one protocol-level question on 127.0.0.1:<host port>, answered yes or no:

* Postgres: a StartupMessage (protocol 3.0, user and database given) must be answered with
  an 'R' (an authentication request). An 'E' ("the database system is starting up", or the
  first-start init server that listens on the socket only) is not an answer.
* Redis: PING must be answered with +PONG (not -LOADING, not a closed connection).
* HTTP (Mailhog's api, the api's /health): a GET must be answered with a 2xx status.

A bare TCP connect never counts: Docker's port proxy accepts on the host port as soon as the
container runs, before the service inside listens, and then closes the connection.

:class:`ProbeSet` runs one thread per service that starts an attempt every ``INTERVAL`` seconds
from the moment it is started (attempts may overlap), and records when the first true answer
arrived. Every thread ends by itself: on the first true answer, at its deadline, or when asked
to stop; every attempt is bounded by its timeouts.
"""

from __future__ import annotations

import http.client
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

INTERVAL = 0.02  # seconds between the starts of two attempts on one service
CONNECT_TIMEOUT = 0.2  # seconds a TCP connect may take (on loopback it takes well under 1 ms)
ATTEMPT_TIMEOUT = 1.0  # seconds the answer may take once connected
MAX_IN_FLIGHT = 12  # attempts on one service at once (a connect can hang while a container starts)
HOST = "127.0.0.1"

Check = Callable[[], tuple[bool, str]]


# -- the checks ---------------------------------------------------------------------------------


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            break
        data += chunk
    return data


def postgres_check(port: int, user: str, database: str, *, host: str = HOST, timeout: float = ATTEMPT_TIMEOUT) -> Check:
    payload = (
        b"".join(key + b"\0" + value.encode() + b"\0" for key, value in ((b"user", user), (b"database", database)))
        + b"\0"
    )
    startup = struct.pack("!ii", 8 + len(payload), 3 << 16) + payload  # protocol 3.0

    def check() -> tuple[bool, str]:
        try:
            with _connect(host, port, timeout) as sock:
                sock.sendall(startup)
                kind = _recv_exact(sock, 1)
                if kind == b"R":
                    return True, "R (authentication request)"
                if kind == b"E":
                    header = _recv_exact(sock, 4)
                    length = struct.unpack("!i", header)[0] if len(header) == 4 else 0
                    body = _recv_exact(sock, max(0, min(length - 4, 4096)))
                    fields = {part[:1]: part[1:].decode(errors="replace") for part in body.split(b"\0") if part}
                    return False, f"E {fields.get(b'C', '?')}: {fields.get(b'M', 'error')}"
                if not kind:
                    return False, "connection closed without an answer"
                return False, f"unexpected message type {kind!r}"
        except OSError as exc:
            return False, _os_error(exc)

    return check


def redis_check(port: int, *, host: str = HOST, timeout: float = ATTEMPT_TIMEOUT) -> Check:
    def check() -> tuple[bool, str]:
        try:
            with _connect(host, port, timeout) as sock:
                sock.sendall(b"*1\r\n$4\r\nPING\r\n")
                line = b""
                while not line.endswith(b"\r\n") and len(line) < 512:
                    chunk = sock.recv(512)
                    if not chunk:
                        break
                    line += chunk
                if line.startswith(b"+PONG"):
                    return True, "+PONG"
                text = line.split(b"\r\n", 1)[0].decode(errors="replace")
                return False, text or "connection closed without an answer"
        except OSError as exc:
            return False, _os_error(exc)

    return check


def http_check(port: int, path: str, *, host: str = HOST, timeout: float = ATTEMPT_TIMEOUT) -> Check:
    def check() -> tuple[bool, str]:
        connection = http.client.HTTPConnection(host, port, timeout=timeout)
        try:
            connection.sock = _connect(host, port, timeout)
            connection.request("GET", path, headers={"Connection": "close", "Accept": "*/*"})
            response = connection.getresponse()
            response.read(65536)
            return 200 <= response.status < 300, f"HTTP {response.status}"
        except (OSError, http.client.HTTPException) as exc:
            return False, _os_error(exc) if isinstance(exc, OSError) else f"{type(exc).__name__}: {exc}"
        finally:
            connection.close()

    return check


def _connect(host: str, port: int, timeout: float) -> socket.socket:
    """A TCP connection with a short connect timeout and a longer one for the answer. While a
    container starts, a SYN can be dropped and a connect then hangs for the kernel's 1 s
    retransmit: cut short, the next attempts (one every INTERVAL) keep asking meanwhile."""
    sock = socket.create_connection((host, port), timeout=min(CONNECT_TIMEOUT, timeout))
    sock.settimeout(timeout)
    return sock


def _os_error(exc: Exception) -> str:
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return "timed out"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, ConnectionResetError):
        return "connection reset"
    return f"{type(exc).__name__}: {exc}"


# -- polling ------------------------------------------------------------------------------------


@dataclass
class ServiceProbe:
    service: str
    check: Check
    first: float | None = None  # seconds after the start when the first true answer arrived
    attempts: int = 0
    last: str = "not asked yet"  # what the latest unsuccessful attempt got


@dataclass
class ProbeSet:
    """One polling thread per service, timed against ``start`` (a time.perf_counter() value).

    Every ``interval`` the service's thread starts one attempt in a short-lived thread of its
    own, so an attempt that hangs (a dropped SYN while the container starts) does not delay
    the next ones: at most ``MAX_IN_FLIGHT`` run at once, each bounded by its timeouts. The
    first attempt that gets a true answer records when it got it, and the polling stops."""

    probes: list[ServiceProbe]
    interval: float = INTERVAL
    start: float = 0.0
    deadline: float = 0.0  # perf_counter() after which every thread gives up
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _threads: list[threading.Thread] = field(default_factory=list)
    _attempts: list[threading.Thread] = field(default_factory=list)

    def begin(self, start: float, limit: float) -> None:
        """Start polling; ``limit`` bounds each thread's life in seconds after ``start``."""
        self.start, self.deadline = start, start + limit
        for probe in self.probes:
            thread = threading.Thread(target=self._poll, args=(probe,), name=f"probe-{probe.service}", daemon=True)
            self._threads.append(thread)
            thread.start()

    def _poll(self, probe: ServiceProbe) -> None:
        answered = threading.Event()
        slots = threading.BoundedSemaphore(MAX_IN_FLIGHT)

        def attempt() -> None:
            try:
                try:
                    ok, detail = probe.check()
                except Exception as exc:
                    ok, detail = False, f"probe error {type(exc).__name__}: {exc}"
                now = time.perf_counter() - self.start
                with self._lock:
                    if ok:
                        if probe.first is None or now < probe.first:
                            probe.first = now
                        answered.set()
                    elif probe.first is None:
                        probe.last = detail
            finally:
                slots.release()

        next_at = self.start
        while not self._stop.is_set() and not answered.is_set():
            now = time.perf_counter()
            if now >= self.deadline:
                return
            if now < next_at:
                self._stop.wait(min(next_at, self.deadline) - now)
                continue
            next_at = now + self.interval
            if not slots.acquire(blocking=False):
                continue  # every slot hangs: skip this tick
            probe.attempts += 1
            worker = threading.Thread(target=attempt, name=f"probe-{probe.service}-{probe.attempts}", daemon=True)
            with self._lock:
                self._attempts = [t for t in self._attempts if t.is_alive()]
                self._attempts.append(worker)
            worker.start()

    def wait(self, until: float) -> None:
        """Wait until every service has answered or perf_counter() reaches ``until``, then stop."""
        try:
            for thread in self._threads:
                remaining = until - time.perf_counter()
                if remaining > 0:
                    thread.join(remaining)
        finally:
            self.stop()

    def stop(self) -> None:
        """Stop asking; wait (bounded) for the attempts in flight, which end within their timeouts."""
        self._stop.set()
        limit = time.perf_counter() + CONNECT_TIMEOUT + ATTEMPT_TIMEOUT + 1.0
        for thread in self._threads:
            thread.join(max(0.0, limit - time.perf_counter()))
        with self._lock:
            attempts = list(self._attempts)
        for thread in attempts:
            thread.join(max(0.0, limit - time.perf_counter()))

    def answered(self) -> dict[str, float | None]:
        with self._lock:
            return {probe.service: probe.first for probe in self.probes}

    def unanswered(self) -> dict[str, str]:
        with self._lock:
            return {probe.service: probe.last for probe in self.probes if probe.first is None}


def stack_probes(ports: dict[str, int], *, pg_user: str, pg_database: str, health_path: str) -> ProbeSet:
    """The four services of the example stack, on the host ports the benchmark chose."""
    return ProbeSet(
        [
            ServiceProbe("postgres", postgres_check(ports["postgres"], pg_user, pg_database)),
            ServiceProbe("redis", redis_check(ports["redis"])),
            ServiceProbe("mailhog", http_check(ports["mailhog_http"], "/api/v2/messages?limit=1")),
            ServiceProbe("api", http_check(ports["api"], health_path)),
        ]
    )
