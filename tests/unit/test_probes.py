"""The readiness probes against fake servers on 127.0.0.1: each speaks just enough of its protocol."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from devenv.probes import ProbeResult, probe_http, probe_postgres, probe_redis, probe_tcp_banner

Handler = Callable[[socket.socket], None]


class FakeServer:
    """Listens on an ephemeral port and runs `handler` for each connection, in a thread."""

    def __init__(self, handler: Handler, host: str = "127.0.0.1") -> None:
        self.handler = handler
        self.host = host
        self.listener = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        self.listener.bind((host, 0))
        self.listener.listen(8)
        self.listener.settimeout(0.05)
        self.port: int = self.listener.getsockname()[1]
        self.errors: list[BaseException] = []
        self.connections = 0
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._acceptor = threading.Thread(target=self._accept, daemon=True)
        self._acceptor.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5)
            try:
                self.handler(conn)
            except Exception as exc:
                self.errors.append(exc)

    def stop(self) -> None:
        self._stop.set()
        self._acceptor.join(timeout=5)
        self.listener.close()
        for thread in self._threads:
            thread.join(timeout=5)


@pytest.fixture
def serve() -> Iterator[Callable[..., FakeServer]]:
    servers: list[FakeServer] = []

    def start(handler: Handler, host: str = "127.0.0.1") -> FakeServer:
        server = FakeServer(handler, host)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
    for server in servers:
        if server.errors:
            raise server.errors[0]


def recv_exact(conn: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            raise AssertionError(f"the client hung up after {data!r}")
        data += chunk
    return data


def drain(conn: socket.socket) -> None:
    """Read until the client hangs up."""
    while conn.recv(4096):
        pass


@contextlib.contextmanager
def hang_up_allowed() -> Iterator[None]:
    """For a server that keeps talking after the client may rightly have gone."""
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        yield


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- a fake Postgres ------------------------------------------------------------------------

USER, DATABASE, PASSWORD = "app", "appdb", "s3cret"
SALT, ITERATIONS = b"sixteen byte slt", 4096


def pg_startup(conn: socket.socket) -> dict[str, str]:
    length = struct.unpack("!i", recv_exact(conn, 4))[0]
    body = recv_exact(conn, length - 4)
    assert struct.unpack("!i", body[:4])[0] == 196608  # protocol 3.0
    words = body[4:].split(b"\0")
    assert words[-2:] == [b"", b""]  # the list of pairs ends with an empty name
    return {words[i].decode(): words[i + 1].decode() for i in range(0, len(words) - 2, 2)}


def pg_send(conn: socket.socket, kind: bytes, body: bytes = b"") -> None:
    conn.sendall(kind + struct.pack("!i", len(body) + 4) + body)


def pg_auth(conn: socket.socket, code: int, data: bytes = b"") -> None:
    pg_send(conn, b"R", struct.pack("!i", code) + data)


def pg_read(conn: socket.socket) -> tuple[bytes, bytes]:
    kind = recv_exact(conn, 1)
    length = struct.unpack("!i", recv_exact(conn, 4))[0]
    return kind, recv_exact(conn, length - 4)


def pg_error(conn: socket.socket, code: str, message: str, severity: str = "FATAL") -> None:
    fields = {"S": severity, "V": severity, "C": code, "M": message, "R": "ProcessStartupPacket"}
    pg_send(conn, b"E", b"".join(k.encode() + v.encode() + b"\0" for k, v in fields.items()) + b"\0")


def pg_ready(conn: socket.socket) -> None:
    """What a server sends after AuthenticationOk, then the client's Terminate."""
    pg_send(conn, b"S", b"server_version\x0016.4\x00")
    pg_send(conn, b"N", b"SNOTICE\x00C00000\x00Mjust a notice\x00\x00")
    pg_send(conn, b"K", struct.pack("!ii", 1234, 5678))
    pg_send(conn, b"Z", b"I")
    assert pg_read(conn) == (b"X", b"")  # Terminate
    drain(conn)


def scram_server(
    conn: socket.socket, password: str, *, server_signature: bytes | None = None, send_final: bool = True
) -> bool:
    """The server side of SCRAM-SHA-256 with a known salt; False (after a 28P01) when the proof is wrong."""
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), SALT, ITERATIONS)
    client_key = hmac.digest(salted, b"Client Key", "sha256")
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.digest(salted, b"Server Key", "sha256")

    pg_auth(conn, 10, b"SCRAM-SHA-256-PLUS\0SCRAM-SHA-256\0\0")
    kind, body = pg_read(conn)
    assert kind == b"p"
    mechanism, _, rest = body.partition(b"\0")
    assert mechanism == b"SCRAM-SHA-256"
    size = struct.unpack("!i", rest[:4])[0]
    client_first = rest[4 : 4 + size].decode()
    assert len(rest) == 4 + size
    assert client_first.startswith("n,,")  # gs2 header: no channel binding
    client_first_bare = client_first[3:]
    client_nonce = dict(p.split("=", 1) for p in client_first_bare.split(","))["r"]
    assert len(client_nonce) >= 18

    nonce = client_nonce + "srv-nonce"
    server_first = f"r={nonce},s={base64.b64encode(SALT).decode()},i={ITERATIONS}"
    pg_auth(conn, 11, server_first.encode())
    kind, body = pg_read(conn)
    assert kind == b"p"
    without_proof, _, proof = body.decode().rpartition(",p=")
    assert without_proof == f"c=biws,r={nonce}"
    auth_message = f"{client_first_bare},{server_first},{without_proof}".encode()
    signature = hmac.digest(stored_key, auth_message, "sha256")
    claimed_key = bytes(a ^ b for a, b in zip(base64.b64decode(proof), signature, strict=True))
    if hashlib.sha256(claimed_key).digest() != stored_key:
        pg_error(conn, "28P01", f'password authentication failed for user "{USER}"')
        drain(conn)
        return False
    if send_final:
        signature = server_signature or hmac.digest(server_key, auth_message, "sha256")
        pg_auth(conn, 12, b"v=" + base64.b64encode(signature))
    pg_auth(conn, 0)
    return True


def test_postgres_trust_is_ready_after_ready_for_query(serve: Callable[..., FakeServer]) -> None:
    seen: dict[str, str] = {}

    def trust(conn: socket.socket) -> None:
        seen.update(pg_startup(conn))
        pg_auth(conn, 0)
        pg_ready(conn)

    server = serve(trust)
    result = probe_postgres("127.0.0.1", server.port, user=USER, password=PASSWORD, database=DATABASE)
    assert result == ProbeResult(True, "accepting connections")
    assert seen == {"user": USER, "database": DATABASE, "application_name": "devenv-probe"}


def test_postgres_is_not_ready_on_authentication_ok_alone(serve: Callable[..., FakeServer]) -> None:
    def ok_then_silence(conn: socket.socket) -> None:
        pg_startup(conn)
        pg_auth(conn, 0)
        drain(conn)

    server = serve(ok_then_silence)
    result = probe_postgres("127.0.0.1", server.port, user=USER, password=PASSWORD, database=DATABASE, timeout=0.3)
    assert not result.ok and not result.fatal
    assert result.detail == "no answer within 0.3 s"


def test_postgres_scram_sha_256_with_the_right_password(serve: Callable[..., FakeServer]) -> None:
    def scram(conn: socket.socket) -> None:
        pg_startup(conn)
        assert scram_server(conn, PASSWORD)
        pg_ready(conn)

    server = serve(scram)
    result = probe_postgres("127.0.0.1", server.port, user=USER, password=PASSWORD, database=DATABASE)
    assert result == ProbeResult(True, "accepting connections")


def test_postgres_scram_sha_256_with_a_wrong_password_is_fatal(serve: Callable[..., FakeServer]) -> None:
    def scram(conn: socket.socket) -> None:
        pg_startup(conn)
        assert not scram_server(conn, PASSWORD)

    server = serve(scram)
    result = probe_postgres("127.0.0.1", server.port, user=USER, password="wrong-pw", database=DATABASE)
    assert result == ProbeResult(False, 'password authentication failed for user "app"', fatal=True)
    assert "wrong-pw" not in repr(result)


def test_postgres_scram_rejects_a_server_that_cannot_prove_it_knows_the_password(
    serve: Callable[..., FakeServer],
) -> None:
    def impostor(conn: socket.socket) -> None:
        pg_startup(conn)
        with hang_up_allowed():  # the probe may stop listening after the bad signature
            scram_server(conn, PASSWORD, server_signature=b"\0" * 32)
            pg_send(conn, b"Z", b"I")
            drain(conn)

    server = serve(impostor)
    result = probe_postgres("127.0.0.1", server.port, user=USER, password=PASSWORD, database=DATABASE)
    assert not result.ok
    assert "did not prove it knows the password" in result.detail


def test_postgres_scram_without_the_server_final_message_is_not_trusted(serve: Callable[..., FakeServer]) -> None:
    def skips_final(conn: socket.socket) -> None:
        pg_startup(conn)
        with hang_up_allowed():
            scram_server(conn, PASSWORD, send_final=False)
            pg_send(conn, b"Z", b"I")
            drain(conn)

    server = serve(skips_final)
    result = probe_postgres("127.0.0.1", server.port, user=USER, password=PASSWORD, database=DATABASE)
    assert not result.ok
    assert "did not prove" in result.detail


def test_postgres_md5_password(serve: Callable[..., FakeServer]) -> None:
    salt = b"\x01\x02\x03\x04"

    def md5(conn: socket.socket) -> None:
        pg_startup(conn)
        pg_auth(conn, 5, salt)
        inner = hashlib.md5((PASSWORD + USER).encode()).hexdigest()
        expected = b"md5" + hashlib.md5(inner.encode() + salt).hexdigest().encode() + b"\0"
        assert pg_read(conn) == (b"p", expected)
        pg_auth(conn, 0)
        pg_ready(conn)

    server = serve(md5)
    result = probe_postgres("127.0.0.1", server.port, user=USER, password=PASSWORD, database=DATABASE)
    assert result == ProbeResult(True, "accepting connections")


def test_postgres_cleartext_password(serve: Callable[..., FakeServer]) -> None:
    def cleartext(conn: socket.socket) -> None:
        pg_startup(conn)
        pg_auth(conn, 3)
        assert pg_read(conn) == (b"p", PASSWORD.encode() + b"\0")
        pg_auth(conn, 0)
        pg_ready(conn)

    server = serve(cleartext)
    result = probe_postgres("127.0.0.1", server.port, user=USER, password=PASSWORD, database=DATABASE)
    assert result.ok


@pytest.mark.parametrize(
    ("code", "message", "fatal"),
    [
        ("57P03", "the database system is starting up", False),
        ("57P03", "the database system is shutting down", False),
        ("3D000", 'database "appdb" does not exist', True),
        ("28000", 'role "app" does not exist', True),
        ("28P01", 'password authentication failed for user "app"', True),
        ("53300", "sorry, too many clients already", False),
    ],
)
def test_postgres_error_responses(serve: Callable[..., FakeServer], code: str, message: str, fatal: bool) -> None:
    def refuses(conn: socket.socket) -> None:
        pg_startup(conn)
        pg_error(conn, code, message)

    server = serve(refuses)
    result = probe_postgres("127.0.0.1", server.port, user=USER, password=PASSWORD, database=DATABASE)
    assert result == ProbeResult(False, message, fatal=fatal)


def test_postgres_missing_database_after_authentication_is_fatal(serve: Callable[..., FakeServer]) -> None:
    def no_database(conn: socket.socket) -> None:
        pg_startup(conn)
        assert scram_server(conn, PASSWORD)
        pg_error(conn, "3D000", 'database "nope" does not exist')

    server = serve(no_database)
    result = probe_postgres("127.0.0.1", server.port, user=USER, password=PASSWORD, database="nope")
    assert result == ProbeResult(False, 'database "nope" does not exist', fatal=True)


@pytest.mark.parametrize("reads_first", [False, True], ids=["closes-at-once", "reads-then-closes"])
def test_postgres_accepted_then_closed_like_dockers_port_proxy(
    serve: Callable[..., FakeServer], reads_first: bool
) -> None:
    # Docker's proxy closes at once, which races the startup message (a reset or an end of stream)
    server = serve(lambda conn: pg_startup(conn) if reads_first else None)
    result = probe_postgres("127.0.0.1", server.port, user=USER, password=PASSWORD, database=DATABASE)
    assert not result.ok and not result.fatal
    assert result.detail == "connection closed before an answer"
    assert server.connections == 1


def test_postgres_nothing_listening(serve: Callable[..., FakeServer]) -> None:
    result = probe_postgres("127.0.0.1", closed_port(), user=USER, password=PASSWORD, database=DATABASE)
    assert result == ProbeResult(False, "connection refused")


def test_postgres_server_that_never_answers_times_out(serve: Callable[..., FakeServer]) -> None:
    server = serve(drain)
    started = time.monotonic()
    result = probe_postgres("127.0.0.1", server.port, user=USER, password=PASSWORD, database=DATABASE, timeout=0.5)
    elapsed = time.monotonic() - started
    assert result == ProbeResult(False, "no answer within 0.5 s")
    assert 0.4 < elapsed < 1.0


def test_postgres_timeout_bounds_the_whole_exchange(serve: Callable[..., FakeServer]) -> None:
    def trickles(conn: socket.socket) -> None:
        pg_startup(conn)
        with hang_up_allowed():  # the probe gives up, as it should
            for _ in range(40):  # a notice every 0.1 s: each read is quick, the whole never ends
                pg_send(conn, b"N", b"SNOTICE\x00Mstill here\x00\x00")
                time.sleep(0.1)

    server = serve(trickles)
    started = time.monotonic()
    result = probe_postgres("127.0.0.1", server.port, user=USER, password=PASSWORD, database=DATABASE, timeout=0.5)
    assert not result.ok
    assert time.monotonic() - started < 1.0


def test_postgres_probe_against_something_else(serve: Callable[..., FakeServer]) -> None:
    def http_server(conn: socket.socket) -> None:
        conn.recv(1024)
        conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")

    server = serve(http_server)
    result = probe_postgres("127.0.0.1", server.port, user=USER, password=PASSWORD, database=DATABASE)
    assert not result.ok and not result.fatal
    assert result.detail.startswith("unexpected answer")


def test_postgres_over_ipv6(serve: Callable[..., FakeServer]) -> None:
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback here")

    def trust(conn: socket.socket) -> None:
        pg_startup(conn)
        pg_auth(conn, 0)
        pg_ready(conn)

    server = serve(trust, host="::1")
    for host in ("::1", "[::1]"):  # as written in a port mapping or url too
        result = probe_postgres(host, server.port, user=USER, password=PASSWORD, database=DATABASE)
        assert result == ProbeResult(True, "accepting connections")


# --- a fake Redis ---------------------------------------------------------------------------


def resp_command(conn: socket.socket) -> list[str]:
    """One RESP array of bulk strings, as clients send commands."""
    reader = conn.makefile("rb")
    header = reader.readline()
    assert header.startswith(b"*"), header
    words = []
    for _ in range(int(header[1:])):
        size = reader.readline()
        assert size.startswith(b"$"), size
        words.append(reader.read(int(size[1:]) + 2)[:-2].decode())
    return words


def redis_server(replies: dict[str, bytes], log: list[list[str]]) -> Handler:
    def handle(conn: socket.socket) -> None:
        while True:
            try:
                command = resp_command(conn)
            except (AssertionError, ValueError):
                return  # the client hung up
            log.append(command)
            conn.sendall(replies[command[0]])

    return handle


def bulk(text: str) -> bytes:
    return b"$%d\r\n%s\r\n" % (len(text), text.encode())


INFO_READY = bulk("# Persistence\r\nloading:0\r\nasync_loading:0\r\nrdb_changes_since_last_save:0\r\n")


def test_redis_pong(serve: Callable[..., FakeServer]) -> None:
    log: list[list[str]] = []
    server = serve(redis_server({"PING": b"+PONG\r\n", "INFO": INFO_READY}, log))
    assert probe_redis("127.0.0.1", server.port) == ProbeResult(True, "PONG")
    assert log == [["PING"], ["INFO", "persistence"]]


def test_redis_auth_first_with_a_password(serve: Callable[..., FakeServer]) -> None:
    log: list[list[str]] = []
    server = serve(redis_server({"AUTH": b"+OK\r\n", "PING": b"+PONG\r\n", "INFO": INFO_READY}, log))
    assert probe_redis("127.0.0.1", server.port, password="pw") == ProbeResult(True, "PONG")
    assert log == [["AUTH", "pw"], ["PING"], ["INFO", "persistence"]]


def test_redis_loading(serve: Callable[..., FakeServer]) -> None:
    log: list[list[str]] = []
    server = serve(redis_server({"PING": b"-LOADING Redis is loading the dataset in memory\r\n"}, log))
    assert probe_redis("127.0.0.1", server.port) == ProbeResult(False, "loading the dataset")


def test_redis_pong_while_info_says_loading(serve: Callable[..., FakeServer]) -> None:
    log: list[list[str]] = []
    info = bulk("# Persistence\r\nloading:1\r\nasync_loading:0\r\n")
    server = serve(redis_server({"PING": b"+PONG\r\n", "INFO": info}, log))
    assert probe_redis("127.0.0.1", server.port) == ProbeResult(False, "loading the dataset")


@pytest.mark.parametrize(
    ("replies", "password"),
    [
        ({"PING": b"-NOAUTH Authentication required.\r\n"}, None),
        ({"AUTH": b"-WRONGPASS invalid username-password pair or user is disabled.\r\n"}, "nope"),
    ],
)
def test_redis_credentials_problems_are_fatal(
    serve: Callable[..., FakeServer], replies: dict[str, bytes], password: str | None
) -> None:
    server = serve(redis_server(replies, []))
    result = probe_redis("127.0.0.1", server.port, password=password)
    assert not result.ok and result.fatal
    assert result.detail.split()[0] in ("NOAUTH", "WRONGPASS")
    assert "nope" not in result.detail


def test_redis_other_error_is_not_fatal(serve: Callable[..., FakeServer]) -> None:
    server = serve(redis_server({"PING": b"-ERR something odd\r\n"}, []))
    assert probe_redis("127.0.0.1", server.port) == ProbeResult(False, "ERR something odd")


@pytest.mark.parametrize("reads_first", [False, True], ids=["closes-at-once", "reads-then-closes"])
def test_redis_accepted_then_closed(serve: Callable[..., FakeServer], reads_first: bool) -> None:
    # closing at once races the client's PING (a reset or an end of stream); after reading it, a clean close
    server = serve(lambda conn: resp_command(conn) if reads_first else None)
    result = probe_redis("127.0.0.1", server.port)
    assert not result.ok and not result.fatal
    assert result.detail == "connection closed before an answer"


def test_redis_nothing_listening() -> None:
    assert probe_redis("127.0.0.1", closed_port()) == ProbeResult(False, "connection refused")


# --- a fake HTTP server ---------------------------------------------------------------------


def http_server(status: str, body: bytes, requests: list[bytes]) -> Handler:
    def handle(conn: socket.socket) -> None:
        request = b""
        while b"\r\n\r\n" not in request:
            chunk = conn.recv(4096)
            if not chunk:
                return
            request += chunk
        requests.append(request)
        conn.sendall(f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)

    return handle


def test_http_200(serve: Callable[..., FakeServer]) -> None:
    requests: list[bytes] = []
    server = serve(http_server("200 OK", b'{"ok": true}', requests))
    assert probe_http(f"http://127.0.0.1:{server.port}/health?deep=1") == ProbeResult(True, "HTTP 200")
    head = requests[0].decode().lower().split("\r\n")
    assert head[0] == "get /health?deep=1 http/1.1"
    assert "connection: close" in head


def test_http_503_shows_the_start_of_the_body(serve: Callable[..., FakeServer]) -> None:
    body = b"database not ready: " + b"x" * 500
    server = serve(http_server("503 Service Unavailable", body, []))
    result = probe_http(f"http://127.0.0.1:{server.port}/health")
    assert not result.ok and not result.fatal
    assert result.detail == "HTTP 503 " + body[:200].decode()


def test_http_ignores_proxies_from_the_environment(
    serve: Callable[..., FakeServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.setenv(name, f"http://127.0.0.1:{closed_port()}")
    for name in ("no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    server = serve(http_server("204 No Content", b"", []))
    assert probe_http(f"http://127.0.0.1:{server.port}/") == ProbeResult(True, "HTTP 204")


def test_http_connection_refused() -> None:
    assert probe_http(f"http://127.0.0.1:{closed_port()}/health") == ProbeResult(False, "connection refused")


def test_http_accepted_then_closed(serve: Callable[..., FakeServer]) -> None:
    server = serve(lambda conn: None)
    result = probe_http(f"http://127.0.0.1:{server.port}/health")
    assert not result.ok
    assert result.detail == "connection closed before an answer"


def test_http_server_that_never_answers_times_out(serve: Callable[..., FakeServer]) -> None:
    server = serve(drain)
    started = time.monotonic()
    assert probe_http(f"http://127.0.0.1:{server.port}/", timeout=0.3) == ProbeResult(False, "no answer within 0.3 s")
    assert time.monotonic() - started < 0.8


# --- SMTP-style greeting --------------------------------------------------------------------


def test_smtp_banner(serve: Callable[..., FakeServer]) -> None:
    server = serve(lambda conn: conn.sendall(b"220 mailhog.example ESMTP MailHog\r\n"))
    assert probe_tcp_banner("127.0.0.1", server.port) == ProbeResult(True, "220 mailhog.example ESMTP MailHog")


def test_banner_that_is_not_the_expected_one(serve: Callable[..., FakeServer]) -> None:
    server = serve(lambda conn: conn.sendall(b"554 no service here\r\n"))
    result = probe_tcp_banner("127.0.0.1", server.port)
    assert result == ProbeResult(False, "unexpected greeting: 554 no service here")


def test_banner_accepted_then_closed(serve: Callable[..., FakeServer]) -> None:
    server = serve(lambda conn: None)
    result = probe_tcp_banner("127.0.0.1", server.port)
    assert not result.ok
    assert result.detail == "connection closed before an answer"


def test_banner_never_sent(serve: Callable[..., FakeServer]) -> None:
    server = serve(drain)
    started = time.monotonic()
    assert probe_tcp_banner("127.0.0.1", server.port, timeout=0.3) == ProbeResult(False, "no answer within 0.3 s")
    assert time.monotonic() - started < 0.8
