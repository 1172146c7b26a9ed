"""Protocol-level readiness probes, run from the host against a service's published port.

A bare TCP connect proves nothing here: Docker's port proxy accepts a connection before the
service in the container listens, and then closes it. So every probe speaks the service's own
protocol and only says ``ok`` when the service gave a real answer: Postgres logs in (trust,
cleartext, MD5 or SCRAM-SHA-256) and reaches ReadyForQuery, Redis answers PONG and is not loading,
an HTTP endpoint answers 2xx, an SMTP-style server sends its greeting.

Every probe is bounded by its ``timeout`` (the whole exchange, not each step), closes its socket
and never raises: whatever goes wrong comes back as a :class:`ProbeResult`. ``fatal`` marks
answers that waiting will not change (wrong password, missing role or database), so a caller
can stop waiting at once. Passwords never appear in a result.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import socket
import struct
import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported by the HTTP probe only: about 30 ms a process spares (doctor, status)
    import http.client

__all__ = ["ProbeResult", "probe_http", "probe_postgres", "probe_redis", "probe_tcp_banner"]

CLOSED = "connection closed before an answer"
_MAX_MESSAGE = 1 << 20  # no readiness answer is anywhere near this; more means "not the protocol we speak"
_MAX_LINE = 64 * 1024
_MAX_SCRAM_ITERATIONS = 1_000_000  # PBKDF2 cannot be interrupted; Postgres' default is 4096

# Postgres SQLSTATEs (https://www.postgresql.org/docs/current/errcodes-appendix.html)
_PG_STARTING = "57P03"  # cannot_connect_now: starting up, shutting down, not yet accepting connections
_PG_FATAL = {
    "28P01",  # invalid_password
    "28000",  # invalid_authorization_specification: role does not exist, no pg_hba.conf entry
    "3D000",  # invalid_catalog_name: database does not exist
}
_PG_PROTOCOL_3_0 = 196608
_PG_AUTH_OK, _PG_AUTH_CLEARTEXT, _PG_AUTH_MD5 = 0, 3, 5
_PG_AUTH_SASL, _PG_AUTH_SASL_CONTINUE, _PG_AUTH_SASL_FINAL = 10, 11, 12
_SCRAM = "SCRAM-SHA-256"


@dataclass(frozen=True)
class ProbeResult:
    ok: bool  # the service answered as ready
    detail: str  # short human text: "HTTP 200", "PONG", "accepting connections", "connection refused", ...
    fatal: bool = False  # it answered, and waiting will never make it ready (wrong credentials, missing database/role)


class _ProbeError(Exception):
    """The exchange ended without a ready answer; ``args[0]`` is the detail."""

    def __init__(self, detail: str, *, fatal: bool = False) -> None:
        super().__init__(detail)
        self.detail = detail
        self.fatal = fatal


class _TimedOut(Exception):
    pass


class _Conn:
    """A TCP connection whose every read and write shares one deadline."""

    def __init__(self, host: str, port: int, deadline: float) -> None:
        self.deadline = deadline
        self.buffer = bytearray()
        self.sock = _connect(host, port, deadline)

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def _arm(self) -> None:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise _TimedOut
        self.sock.settimeout(remaining)

    def send(self, data: bytes) -> None:
        self._arm()
        self.sock.sendall(data)

    def _fill(self) -> None:
        self._arm()
        chunk = self.sock.recv(65536)
        if not chunk:
            raise _ProbeError(CLOSED)
        self.buffer += chunk

    def read_exact(self, size: int) -> bytes:
        while len(self.buffer) < size:
            self._fill()
        data = bytes(self.buffer[:size])
        del self.buffer[:size]
        return data

    def read_line(self) -> bytes:
        """One line up to and without its CRLF (or LF)."""
        while (end := self.buffer.find(b"\n")) < 0:
            if len(self.buffer) > _MAX_LINE:
                raise _ProbeError("unexpected answer: an endless line")
            self._fill()
        line = bytes(self.buffer[:end]).rstrip(b"\r")
        del self.buffer[: end + 1]
        return line


def _connect(host: str, port: int, deadline: float) -> socket.socket:
    host = host.strip("[]")  # "[::1]" as written in URLs and port mappings
    last: OSError | None = None
    for family, kind, proto, _, address in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        sock = socket.socket(family, kind, proto)
        try:
            sock.settimeout(remaining)
            sock.connect(address)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return sock
        except OSError as exc:
            sock.close()
            last = exc
    if last is None or isinstance(last, TimeoutError):
        raise _TimedOut
    raise last


def _failure(exc: BaseException, timeout: float) -> ProbeResult:
    """The ProbeResult for whatever ended a probe early."""
    if isinstance(exc, _ProbeError):
        return ProbeResult(False, exc.detail, exc.fatal)
    if isinstance(exc, (_TimedOut, TimeoutError)):
        return ProbeResult(False, f"no answer within {timeout:g} s")
    if isinstance(exc, ConnectionRefusedError):
        return ProbeResult(False, "connection refused")
    if isinstance(exc, (ConnectionResetError, ConnectionAbortedError, BrokenPipeError)):
        # Docker's port proxy, with nothing listening behind it, closes or resets by turns: the same news
        return ProbeResult(False, CLOSED)
    if isinstance(exc, socket.gaierror):
        return ProbeResult(False, f"cannot resolve the host: {exc.strerror or exc}")
    ssl = sys.modules.get("ssl")  # loaded when a probe used TLS
    if ssl is not None and isinstance(exc, ssl.SSLError):
        return ProbeResult(False, f"TLS error: {exc.reason or exc}")
    if isinstance(exc, OSError):
        return ProbeResult(False, exc.strerror or str(exc) or type(exc).__name__)
    client = sys.modules.get("http.client")
    if client is not None and isinstance(exc, client.HTTPException):
        return ProbeResult(False, f"not an HTTP answer ({type(exc).__name__})")
    return ProbeResult(False, f"unexpected answer ({type(exc).__name__})")


# what a garbled answer can raise while it is parsed (ValueError covers binascii and Unicode errors)
_PROTOCOL_ERRORS = (
    _ProbeError,
    _TimedOut,
    OSError,
    ValueError,
    struct.error,
    IndexError,
    KeyError,
)


# --- Postgres -------------------------------------------------------------------------------


def probe_postgres(
    host: str, port: int, *, user: str, password: str, database: str, timeout: float = 1.0
) -> ProbeResult:
    """Log in as a client would and wait for ReadyForQuery ("accepting connections")."""
    deadline = time.monotonic() + timeout
    conn: _Conn | None = None
    try:
        conn = _Conn(host, port, deadline)
        result = _postgres_session(conn, user=user, password=password, database=database)
        try:
            conn.send(b"X" + struct.pack("!i", 4))  # Terminate
        except (OSError, _TimedOut):
            pass
        return result
    except _PROTOCOL_ERRORS as exc:
        return _failure(exc, timeout)
    finally:
        if conn is not None:
            conn.close()


def _pg_message(kind: bytes, body: bytes) -> bytes:
    return kind + struct.pack("!i", len(body) + 4) + body


def _pg_read(conn: _Conn) -> tuple[bytes, bytes]:
    header = conn.read_exact(5)
    kind, length = header[:1], struct.unpack("!i", header[1:])[0]
    if length < 4 or length > _MAX_MESSAGE:
        raise _ProbeError("unexpected answer: not the Postgres protocol")
    return kind, conn.read_exact(length - 4)


def _pg_error(body: bytes) -> _ProbeError:
    fields: dict[str, str] = {}
    for part in body.split(b"\0"):
        if part:
            fields[chr(part[0])] = part[1:].decode("utf-8", "replace")
    code = fields.get("C", "")
    message = fields.get("M") or fields.get("V") or fields.get("S") or "error"
    if code == _PG_STARTING:  # the usual answer while it starts: wait
        return _ProbeError(message)
    return _ProbeError(message, fatal=code in _PG_FATAL)  # anything else unknown: not ready, keep waiting


def _postgres_session(conn: _Conn, *, user: str, password: str, database: str) -> ProbeResult:
    params = {"user": user, "database": database, "application_name": "devenv-probe"}
    body = struct.pack("!i", _PG_PROTOCOL_3_0)
    body += b"".join(k.encode() + b"\0" + v.encode() + b"\0" for k, v in params.items()) + b"\0"
    conn.send(struct.pack("!i", len(body) + 4) + body)

    scram: _ScramClient | None = None
    authenticated = False
    while True:
        kind, body = _pg_read(conn)
        if kind == b"E":
            raise _pg_error(body)
        if kind in (b"N", b"S", b"K", b"v"):  # notice, parameter status, backend key, protocol negotiation
            continue
        if kind == b"Z":
            if not authenticated:
                raise _ProbeError("unexpected answer: ready before authentication")
            return ProbeResult(True, "accepting connections")
        if kind != b"R":
            raise _ProbeError(f"unexpected answer: Postgres message {kind!r}")
        code = struct.unpack("!i", body[:4])[0]
        data = body[4:]
        if code == _PG_AUTH_OK:
            if scram is not None and not scram.verified:
                raise _ProbeError("the server did not prove it knows the password (no SCRAM signature)")
            authenticated = True
        elif code == _PG_AUTH_CLEARTEXT:
            conn.send(_pg_message(b"p", password.encode() + b"\0"))
        elif code == _PG_AUTH_MD5:
            inner = hashlib.md5(password.encode() + user.encode()).hexdigest()
            outer = hashlib.md5(inner.encode() + data[:4]).hexdigest()
            conn.send(_pg_message(b"p", b"md5" + outer.encode() + b"\0"))
        elif code == _PG_AUTH_SASL:
            mechanisms = [m.decode() for m in data.split(b"\0") if m]
            if _SCRAM not in mechanisms:
                raise _ProbeError(f"unsupported SASL mechanisms: {', '.join(mechanisms) or 'none'}")
            scram = _ScramClient(password)
            first = scram.client_first()
            conn.send(_pg_message(b"p", _SCRAM.encode() + b"\0" + struct.pack("!i", len(first)) + first))
        elif code == _PG_AUTH_SASL_CONTINUE and scram is not None:
            conn.send(_pg_message(b"p", scram.client_final(data)))
        elif code == _PG_AUTH_SASL_FINAL and scram is not None:
            scram.verify_server_final(data)
        else:
            raise _ProbeError(f"unsupported authentication method ({code})")


class _ScramClient:
    """The client side of SCRAM-SHA-256 (RFC 5802, RFC 7677), without channel binding."""

    def __init__(self, password: str) -> None:
        self.password = password.encode()  # SASLprep is the identity for ASCII passwords
        self.nonce = base64.b64encode(secrets.token_bytes(18)).decode()
        # Postgres takes the user from the startup message, and libpq leaves n= empty too
        self.first_bare = f"n=,r={self.nonce}"
        self.server_signature = b""
        self.verified = False

    def client_first(self) -> bytes:
        return f"n,,{self.first_bare}".encode()  # gs2 header "n,,": no channel binding, no authzid

    def client_final(self, server_first_raw: bytes) -> bytes:
        server_first = server_first_raw.decode()
        attrs = _scram_attributes(server_first)
        nonce, salt, iterations = attrs["r"], base64.b64decode(attrs["s"], validate=True), int(attrs["i"])
        if not nonce.startswith(self.nonce) or nonce == self.nonce:
            raise _ProbeError("unexpected answer: the server's SCRAM nonce does not extend ours")
        if not 0 < iterations <= _MAX_SCRAM_ITERATIONS:
            raise _ProbeError(f"unexpected answer: SCRAM iteration count {iterations}")
        salted = hashlib.pbkdf2_hmac("sha256", self.password, salt, iterations)
        client_key = hmac.digest(salted, b"Client Key", "sha256")
        stored_key = hashlib.sha256(client_key).digest()
        final_without_proof = f"c=biws,r={nonce}"  # biws = base64("n,,")
        auth_message = f"{self.first_bare},{server_first},{final_without_proof}".encode()
        signature = hmac.digest(stored_key, auth_message, "sha256")
        proof = bytes(a ^ b for a, b in zip(client_key, signature, strict=True))
        server_key = hmac.digest(salted, b"Server Key", "sha256")
        self.server_signature = hmac.digest(server_key, auth_message, "sha256")
        return f"{final_without_proof},p={base64.b64encode(proof).decode()}".encode()

    def verify_server_final(self, server_final_raw: bytes) -> None:
        attrs = _scram_attributes(server_final_raw.decode())
        if "e" in attrs:
            raise _ProbeError(f"SCRAM authentication failed: {attrs['e']}")
        signature = base64.b64decode(attrs.get("v", ""), validate=True)
        if not self.server_signature or not hmac.compare_digest(signature, self.server_signature):
            raise _ProbeError("the server did not prove it knows the password (wrong SCRAM signature)")
        self.verified = True


def _scram_attributes(message: str) -> dict[str, str]:
    attrs: dict[str, str] = {}
    for part in message.split(","):
        key, sep, value = part.partition("=")
        if sep and len(key) == 1:
            attrs[key] = value
    return attrs


# --- Redis ----------------------------------------------------------------------------------


def probe_redis(host: str, port: int, *, password: str | None = None, timeout: float = 1.0) -> ProbeResult:
    """AUTH (when a password is given), PING for PONG, and INFO persistence for loading:0."""
    deadline = time.monotonic() + timeout
    conn: _Conn | None = None
    try:
        conn = _Conn(host, port, deadline)
        if password:  # an empty password is no password, as in redis.conf
            _redis_call(conn, "AUTH", password)
        pong = _redis_call(conn, "PING")
        if pong != "PONG":
            raise _ProbeError(f"unexpected answer to PING: {pong[:80]}")
        info = _redis_call(conn, "INFO", "persistence")
        if any(line.strip() == "loading:1" for line in info.splitlines()):
            raise _ProbeError("loading the dataset")
        return ProbeResult(True, "PONG")
    except _PROTOCOL_ERRORS as exc:
        return _failure(exc, timeout)
    finally:
        if conn is not None:
            conn.close()


def _redis_call(conn: _Conn, *args: str) -> str:
    """Send one command as a RESP array; return a simple or bulk string reply, raise on an error reply."""
    request = [f"*{len(args)}\r\n".encode()]
    for arg in args:
        data = arg.encode()
        request.append(b"$%d\r\n%s\r\n" % (len(data), data))
    conn.send(b"".join(request))

    line = conn.read_line()
    kind, rest = line[:1], line[1:].decode("utf-8", "replace")
    if kind == b"+":
        return rest
    if kind == b"$":
        size = int(rest)
        if size < 0:
            return ""
        if size > _MAX_MESSAGE:
            raise _ProbeError("unexpected answer: not the Redis protocol")
        return conn.read_exact(size + 2)[:size].decode("utf-8", "replace")
    if kind == b"-":
        code = rest.split(" ", 1)[0]
        if code == "LOADING":
            raise _ProbeError("loading the dataset")
        # NOAUTH: a password is needed; WRONGPASS (and "ERR invalid password" before Redis 6): wrong one;
        # NOPERM: this user may not run PING or INFO
        fatal = code in ("NOAUTH", "WRONGPASS", "NOPERM") or rest.startswith("ERR invalid password")
        raise _ProbeError(rest.strip(), fatal=fatal)
    raise _ProbeError("unexpected answer: not the Redis protocol")


# --- HTTP -----------------------------------------------------------------------------------


def probe_http(url: str, *, timeout: float = 1.0) -> ProbeResult:
    """GET the url (no proxies from the environment, no redirects): 2xx is ready."""
    import http.client
    import urllib.parse

    deadline = time.monotonic() + timeout
    conn: http.client.HTTPConnection | None = None
    sock: socket.socket | None = None
    response: http.client.HTTPResponse | None = None
    try:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return ProbeResult(False, f"not an http(s) url: {url}")
        host = parts.hostname
        conn = http.client.HTTPConnection(host, parts.port or (443 if parts.scheme == "https" else 80))
        sock = _connect(host, conn.port, deadline)
        if parts.scheme == "https":
            # a local dev server's certificate is usually self-signed; readiness is all this checks
            import ssl

            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            _arm(sock, deadline)
            sock = context.wrap_socket(sock, server_hostname=host)
        conn.sock = sock  # connected by us, under the deadline: http.client will not connect again
        path = parts.path or "/"
        if parts.query:
            path += f"?{parts.query}"
        _arm(sock, deadline)
        conn.request("GET", path, headers={"Connection": "close", "User-Agent": "devenv-probe", "Accept": "*/*"})
        _arm(sock, deadline)
        response = conn.getresponse()
        status = response.status
        if 200 <= status < 300:
            return ProbeResult(True, f"HTTP {status}")
        body = _read_some(response, sock, deadline)
        text = " ".join(body.decode("utf-8", "replace").split())[:200]
        return ProbeResult(False, f"HTTP {status} {text}".rstrip())
    except (*_PROTOCOL_ERRORS, http.client.HTTPException) as exc:
        return _failure(exc, timeout)
    finally:
        for closable in (response, conn, sock):
            if closable is not None:
                try:
                    closable.close()
                except OSError:
                    pass


def _arm(sock: socket.socket, deadline: float) -> None:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise _TimedOut
    sock.settimeout(remaining)


def _read_some(response: http.client.HTTPResponse, sock: socket.socket, deadline: float) -> bytes:
    """Up to ~200 characters of the body, as much as arrives before the deadline."""
    body = b""
    try:
        while len(body) < 800:
            _arm(sock, deadline)
            chunk = response.read1(800 - len(body))
            if not chunk:
                break
            body += chunk
    except _PROTOCOL_ERRORS:
        pass  # the status already says it is not ready; the body is only a hint
    return body


# --- SMTP-style greeting --------------------------------------------------------------------


def probe_tcp_banner(host: str, port: int, *, expect: bytes = b"220", timeout: float = 1.0) -> ProbeResult:
    """Ready when the server's first line (its greeting, as SMTP and FTP send) starts with `expect`."""
    deadline = time.monotonic() + timeout
    conn: _Conn | None = None
    try:
        conn = _Conn(host, port, deadline)
        line = conn.read_line()
        text = line.decode("utf-8", "replace").strip()[:200]
        if line.startswith(expect):
            return ProbeResult(True, text)
        return ProbeResult(False, f"unexpected greeting: {text}" if text else "empty greeting")
    except _PROTOCOL_ERRORS as exc:
        return _failure(exc, timeout)
    finally:
        if conn is not None:
            conn.close()
