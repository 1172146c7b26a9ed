"""engine.LogStream, the Engine API's log stream read on a unix socket, against a stand-in
engine on a socket of the test's own: the HTTP/1.0 request, the frames taken apart however
the reads cut them, a TTY's raw stream, the engine's errors; and where the socket is found."""

from __future__ import annotations

import itertools
import json
import socket
import struct
import threading
from pathlib import Path

import pytest

from devenv import engine
from devenv.errors import EngineError

_numbers = itertools.count()


def frame(stream: int, data: bytes) -> bytes:
    return struct.pack(">BxxxL", stream, len(data)) + data


class StandIn:
    """Answers one request per connection with ``status``, ``headers`` and ``body`` sent in
    pieces of ``piece`` bytes; keeps the request lines it got."""

    def __init__(self, folder: Path, body: bytes, *, status: str = "200 OK", headers: dict[str, str] | None = None):
        self.path = str(folder / f"engine-{next(_numbers)}.sock")
        self.requests: list[str] = []
        self.body, self.status = body, status
        self.headers = headers or {"Content-Type": "application/vnd.docker.multiplexed-stream", "Api-Version": "1.45"}
        self.piece = 7
        self._server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._server.bind(self.path)
        self._server.listen()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._server.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            request = b""
            while b"\r\n\r\n" not in request:
                request += conn.recv(4096)
            self.requests.append(request.decode().split("\r\n")[0])
            head = f"HTTP/1.0 {self.status}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in self.headers.items())
            data = head.encode() + b"\r\n" + self.body
            try:
                for pos in range(0, len(data), self.piece):
                    conn.sendall(data[pos : pos + self.piece])
            except OSError:  # the client hung up: what devenv does with a stream it drops
                pass

    def close(self) -> None:
        self._server.close()


@pytest.fixture
def stand_in(tmp_path: Path):
    made: list[StandIn] = []

    def make(body: bytes, **options) -> StandIn:
        server = StandIn(tmp_path, body, **options)
        made.append(server)
        return server

    yield make
    for server in made:
        server.close()


def read(server: StandIn, **options) -> tuple[list[tuple[str, bytes]], EngineError | None]:
    stream = engine.LogStream(server.path, "p-api-1", since=None, until=None, tail=None, **options)
    try:
        return list(stream.runs()), stream.failure()
    finally:
        stream.end()


def test_frames_are_taken_apart_however_the_reads_cut_them_and_runs_joined(stand_in):
    body = frame(1, b"one\n") + frame(1, b"two\n") + frame(2, b"oops\n") + frame(1, b"three\n")
    for piece in (1, 3, 7, 1000):
        server = stand_in(body)
        server.piece = piece
        runs, problem = read(server)
        assert problem is None
        joined: list[tuple[str, bytes]] = []
        for stream, data in runs:  # a read may end between two frames of one run
            if joined and joined[-1][0] == stream:
                joined[-1] = (stream, joined[-1][1] + data)
            else:
                joined.append((stream, data))
        assert joined == [("stdout", b"one\ntwo\n"), ("stderr", b"oops\n"), ("stdout", b"three\n")]


def test_the_request_is_http_1_0_with_the_options_as_the_engine_takes_them(stand_in):
    server = stand_in(b"")
    stream = engine.LogStream(
        server.path, "p-api-1", since="2025-01-31T09:00:00.5Z", until="2025-01-31T10:00:00.000000Z", tail=5
    )
    assert list(stream.runs()) == [] and stream.failure() is None
    stream.end()
    assert server.requests == [
        "GET /containers/p-api-1/logs?stdout=1&stderr=1&since=1738314000.500000000&until=1738317600.000000000"
        "&tail=5 HTTP/1.0"
    ]


def test_a_container_with_a_tty_is_one_raw_stream(stand_in):
    server = stand_in(
        b"hello\r\nworld\r\n", headers={"Content-Type": "application/vnd.docker.raw-stream", "Api-Version": "1.45"}
    )
    assert read(server) == ([("stdout", b"hello\r\nworld\r\n")], None)


def test_an_old_engine_that_does_not_say_is_told_by_the_first_bytes(stand_in):
    old = {"Content-Type": "application/vnd.docker.raw-stream", "Api-Version": "1.41"}
    assert read(stand_in(b"plain text\n", headers=old))[0] == [("stdout", b"plain text\n")]
    assert read(stand_in(frame(2, b"framed\n"), headers=old))[0] == [("stderr", b"framed\n")]


def test_the_engines_errors_keep_its_message(stand_in, tmp_path):
    server = stand_in(json.dumps({"message": "No such container: p-api-1"}).encode(), status="404 Not Found")
    runs, problem = read(server)
    assert runs == [] and isinstance(problem, EngineError)
    assert "no such container: p-api-1" in (problem.details or problem.message).lower()
    assert "docker logs p-api-1" in problem.hint


def test_an_error_in_the_middle_of_the_stream_and_a_cut_frame_are_failures(tmp_path):
    for body, said in (
        (frame(1, b"one\n") + frame(3, b"error from daemon in stream: broken"), "broken"),
        (frame(1, b"one\n") + frame(1, b"two\n")[:-2], "in the middle of a line"),  # the connection broke
    ):
        server = StandIn(tmp_path, body)
        runs, problem = read(server)
        server.close()
        assert runs[0] == ("stdout", b"one\n")
        assert problem is not None and said in (problem.details or problem.message)
