"""devenv logs without Docker: parsing, the merge, filters, the renderer, option parsing and
the follow's state machine driven through the fake engine."""

from __future__ import annotations

import io
import json
import re
from datetime import UTC, datetime, timedelta

import pytest

from devenv import logs
from devenv.logs_output import LogsView, show
from tests.conftest import FakeEngine, state

T = "2025-01-31T09:00:00."


def rec(message: str, *, service: str = "api", stream: str = "stdout", at: int = 1, container: str = "") -> logs.Record:
    return logs.parse_line(f"{T}{at:09d}Z {message}", service, container or f"p-{service}-1", stream)


# -- parsing ---------------------------------------------------------------------------------
def test_a_line_is_split_into_its_time_and_text_and_json_is_parsed():
    record = logs.parse_line('2025-01-31T09:00:00.5Z {"level":"info","msg":"hi","n":1}', "api", "p-api-1", "stdout")
    assert record.time == "2025-01-31T09:00:00.5Z"
    assert record.key == "2025-01-31T09:00:00.500000000Z"
    assert record.fields == {"level": "info", "msg": "hi", "n": 1}
    assert logs.parse_line("2025-01-31T09:00:00Z {not json}", "a", "c", "stdout").fields is None
    assert logs.parse_line("2025-01-31T09:00:00Z [1, 2]", "a", "c", "stdout").fields is None


def test_time_keys_compare_as_text_whatever_docker_trimmed():
    stamps = ["2025-01-31T09:00:00.1Z", "2025-01-31T09:00:00Z", "2025-01-31T09:00:00.099999999Z"]
    assert sorted(stamps, key=logs.time_key) == [stamps[1], stamps[2], stamps[0]]


# -- the merge -------------------------------------------------------------------------------
def test_merge_puts_every_containers_lines_in_time_order():
    api = [rec("a1", at=1), rec("a3", at=3), rec("a5", at=5)]
    db = [rec("d2", service="db", at=2), rec("d4", service="db", at=4)]
    errors = [rec("e3", stream="stderr", at=3)]
    merged = [r.message for r in logs.merge([api, db, errors])]
    assert merged == ["a1", "d2", "a3", "e3", "d4", "a5"]


def test_read_merges_containers_and_streams_and_ends_every_reader():
    engine = FakeEngine([[state("api", id="c-api"), state("db", id="c-db")]])
    engine.log_lines = {
        "c-api": [("stdout", f"{T}000000001Z one"), ("stderr", f"{T}000000003Z three"), ("stdout", f"{T}4Z four")],
        "c-db": [("stdout", f"{T}000000002Z two")],
    }
    records = list(logs.read(engine, "proj", logs.LogOptions()))
    assert [(r.service, r.stream, r.message) for r in records] == [
        ("api", "stdout", "one"),
        ("db", "stdout", "two"),
        ("api", "stderr", "three"),
        ("api", "stdout", "four"),
    ]
    assert all(feed.ended for feed in engine.feeds)


def test_read_only_reads_the_named_services_with_the_options():
    engine = FakeEngine([[state("api", id="c-api"), state("db", id="c-db")]])
    options = logs.LogOptions(("db",), since="2025-01-31T08:00:00.000000Z", tail=5)
    list(logs.read(engine, "proj", options))
    assert engine.called("logs") == [("logs", "c-db", False, "2025-01-31T08:00:00.000000Z", None, 5)]


# -- option parsing ----------------------------------------------------------------------------
NOW = datetime(2025, 1, 31, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "back"),
    [("10m", timedelta(minutes=10)), ("1h30m", timedelta(hours=1, minutes=30)), ("45s", timedelta(seconds=45))],
)
def test_durations_count_back_from_now(text, back):
    assert logs.parse_time(text, NOW) == NOW - back


def test_rfc3339_times_are_read_with_their_zone():
    assert logs.parse_time("2025-01-31T09:00:00Z", NOW) == datetime(2025, 1, 31, 9, tzinfo=UTC)
    assert logs.parse_time("2025-01-31T10:00:00+01:00", NOW) == datetime(2025, 1, 31, 9, tzinfo=UTC)
    assert logs.docker_time(datetime(2025, 1, 31, 9, tzinfo=UTC)) == "2025-01-31T09:00:00.000000Z"


@pytest.mark.parametrize("text", ["yesterday", "10", "10x", "1h 30m", ""])
def test_unreadable_times_are_a_usage_error_with_a_hint(text):
    with pytest.raises(logs.OptionError) as caught:
        logs.parse_time(text, NOW)
    assert caught.value.code == 2
    assert "10m" in caught.value.hint


def test_levels_tails_and_patterns_are_checked():
    assert logs.parse_level("WARN") == logs.parse_level("warning") == 40
    assert logs.parse_tail("all") is None and logs.parse_tail("0") == 0 and logs.parse_tail("25") == 25
    for bad in (lambda: logs.parse_level("loud"), lambda: logs.parse_tail("-1"), lambda: logs.compile_grep("(")):
        with pytest.raises(logs.OptionError):
            bad()


def test_view_options_that_do_not_go_together_are_refused():
    with pytest.raises(logs.OptionError, match="--until cannot be used with --follow"):
        LogsView.from_options(follow=True, until="5m")
    with pytest.raises(logs.OptionError, match="needs --grep"):
        LogsView.from_options(context=2)
    view = LogsView.from_options(since="10m", tail="3", level="error", grep="boom", context=1)
    assert view.tail == 3 and view.level == 50 and view.grep is not None and view.since is not None


def test_an_unknown_service_names_the_known_ones():
    with pytest.raises(logs.UnknownServiceError) as caught:
        logs.check_services(["apii"], ["redis", "api"])
    assert caught.value.message == "no service named 'apii' in this project"
    assert caught.value.hint == "the services are: api, redis"


# -- filters ---------------------------------------------------------------------------------
def test_level_reads_json_fields_numbers_and_common_text_forms():
    assert logs.level_of(rec('{"level":30,"msg":"pino"}')) == 30
    assert logs.level_of(rec('{"level":"warning","event":"structlog"}')) == 40
    assert logs.level_of(rec("2025-01-31T09:00:00.000Z warn  redis: connection lost")) == 40
    assert logs.level_of(rec("time=now level=error msg=x")) == 50
    assert logs.level_of(rec("2025-01-31 09:00:00.000 UTC [1] FATAL:  password authentication failed")) == 60
    assert logs.level_of(rec("[ERROR] it broke")) == 50
    assert logs.level_of(rec("tick 5")) is None
    assert logs.level_of(rec("nothing is an error here")) is None


def test_level_filter_keeps_worse_lines_their_stack_traces_and_markers():
    keep = logs.LevelFilter(40)
    lines = [
        rec('{"level":"info","msg":"fine"}'),
        rec('{"level":"error","msg":"boom"}'),
        rec("    at handler (server.js:10)"),
        rec("tick 1"),
        logs.marker("api", "p-api-1", "api restarted", "restart"),
    ]
    assert [r.message for r in lines if keep.keep(r)] == [lines[1].message, lines[2].message, "api restarted"]


def test_grep_shows_context_and_a_separator_between_groups():
    grep = logs.Grep(re.compile("hit"), context=1)
    messages = ["a", "b", "hit1", "c", "d", "e", "hit2", "f", "g"]
    shown = [r.message for m in messages for r in grep.feed(rec(m))]
    assert shown == ["b", "hit1", "c", "--", "e", "hit2", "f"]
    plain = logs.Grep(re.compile("hit"))
    assert [r.message for m in messages for r in plain.feed(rec(m))] == ["hit1", "hit2"]


# -- rendering -------------------------------------------------------------------------------
def test_plain_lines_are_prefixed_padded_and_stderr_is_told_apart():
    render = logs.Renderer(["api", "postgres"])
    assert render(rec("hello")) == ("api      | hello\n", False)
    assert render(rec("oops", stream="stderr")) == ("api      ! oops\n", False)
    assert render(logs.marker("api", "p-api-1", "api exited with code 1", "exit", code=1)) == (
        "api      * api exited with code 1\n",
        False,
    )


def test_without_a_prefix_stdout_stays_the_containers_and_the_rest_goes_to_stderr():
    render = logs.Renderer(["api"], prefix=False, timestamps=True)
    assert render(rec("hello")) == (f"{T}000000001Z hello\n", False)
    assert render(rec("oops", stream="stderr"))[1] is True


def test_colour_wraps_the_prefix_only_when_asked():
    coloured, _ = logs.Renderer(["api"], colour=True)(rec("hello"))
    assert coloured.startswith("\x1b[") and coloured.endswith("hello\n")
    assert "\x1b[" not in logs.Renderer(["api"])(rec("hello"))[0]


def test_a_structured_line_is_shown_as_time_level_message_and_fields_on_a_terminal():
    line = '{"time":"x","level":"warn","msg":"slow query","ms":812,"sql":"select 1"}'
    text, _ = logs.Renderer(["api"], pretty=True)(rec(line))
    clock = logs._clock(f"{T}000000001Z")
    assert text == f'api | {clock} warn  slow query ms=812 sql="select 1"\n'
    pino, _ = logs.Renderer(["api"], pretty=True)(rec('{"level":50,"time":1,"msg":"down","pid":7}'))
    assert pino.endswith(" error down pid=7\n")
    # not a terminal: the line as the container wrote it, still parseable
    assert logs.Renderer(["api"])(rec(line))[0] == f"api | {line}\n"


def test_json_output_has_the_fields_tools_need():
    text, _ = logs.Renderer(["api"], as_json=True)(rec('{"level":"info","msg":"hi"}', stream="stderr"))
    item = json.loads(text)
    assert item == {
        "time": f"{T}000000001Z",
        "service": "api",
        "container": "p-api-1",
        "stream": "stderr",
        "message": '{"level":"info","msg":"hi"}',
        "fields": {"level": "info", "msg": "hi"},
    }
    marker = json.loads(logs.Renderer(["api"], as_json=True)(logs.marker("api", "c", "api exited", "exit", code=3))[0])
    assert marker["stream"] == "devenv" and marker["event"] == "exit" and marker["code"] == 3


def test_show_writes_filtered_lines_and_ends_at_a_closed_pipe():
    engine = FakeEngine([[state("api", id="c-api")]])
    engine.log_lines = {"c-api": [("stdout", f"{T}{i:09d}Z line {i}") for i in range(1, 6)]}
    out = io.StringIO()
    view = LogsView.from_options(grep="line [24]")
    assert show(engine, "proj", ["api"], (), view, out=out, err=io.StringIO()) == 0
    assert out.getvalue() == "api | line 2\napi | line 4\n"

    class Closed(io.StringIO):
        def write(self, text: str) -> int:
            raise BrokenPipeError

    assert show(engine, "proj", ["api"], (), LogsView(), out=Closed(), err=io.StringIO()) == 0
    assert all(feed.ended for feed in engine.feeds)


# -- following ---------------------------------------------------------------------------------
def _event(action: str, container: str, service: str = "api", **attributes: str) -> dict:
    return {
        "Action": action,
        "id": container,
        "Actor": {
            "ID": container,
            "Attributes": {"com.docker.compose.service": service, "name": f"p-{service}-1", **attributes},
        },
    }


def _until_idle(records) -> list[logs.Record]:
    found = []
    for record in records:
        if record is None:
            return found
        found.append(record)
    return found


def _texts(found: list[logs.Record]) -> list[str]:
    return [r.message for r in found]


def test_follow_reads_again_after_a_restart_from_the_last_line_without_repeating_it():
    engine = FakeEngine([[state("api", id="c1")]])
    engine.log_lines = {"c1": [("stdout", f"{T}000000001Z one"), ("stdout", f"{T}000000002Z two")]}
    records = logs.Follower(engine, "proj", logs.LogOptions()).records()
    assert _texts(_until_idle(records)) == []
    assert _texts(_until_idle(records)) == ["one", "two"]
    sink = engine.log_sinks["c1"]
    engine.event_sink(_event("die", "c1", exitCode="1"))
    sink("stdout", None)
    sink("stderr", None)
    assert _texts(_until_idle(records)) == ["api exited with code 1"]
    engine.log_lines = {}
    engine.event_sink(_event("start", "c1"))
    assert _texts(_until_idle(records)) == ["api restarted"]
    again = engine.called("logs")[-1]
    assert again == ("logs", "c1", True, f"{T}000000002Z", None, None)  # from the last line shown
    engine.log_sinks["c1"]("stdout", [f"{T}000000002Z two", f"{T}000000003Z three"])
    assert _texts(_until_idle(records)) == ["three"]
    records.close()
    assert all(feed.ended for feed in engine.feeds)


def test_follow_skips_only_the_lines_it_showed_at_the_same_instant():
    engine = FakeEngine([[state("api", id="c1")]])
    engine.log_lines = {"c1": [("stdout", f"{T}000000005Z a"), ("stdout", f"{T}000000005Z b")]}
    records = logs.Follower(engine, "proj", logs.LogOptions()).records()
    _until_idle(records)
    assert _texts(_until_idle(records)) == ["a", "b"]
    engine.log_lines = {}
    engine.event_sink(_event("die", "c1", exitCode="0"))
    engine.event_sink(_event("start", "c1"))  # started again before its reader ended
    assert _texts(_until_idle(records)) == []
    engine.log_sinks["c1"]("stdout", None)
    engine.log_sinks["c1"]("stderr", None)
    assert _texts(_until_idle(records)) == ["api exited with code 0", "api restarted"]
    engine.log_sinks["c1"]("stdout", [f"{T}000000005Z a", f"{T}000000005Z b", f"{T}000000005Z c"])
    assert _texts(_until_idle(records)) == ["c"]
    records.close()


def test_follow_marks_a_recreated_container_and_reads_it_from_its_start():
    engine = FakeEngine([[state("api", id="old")]])
    records = logs.Follower(engine, "proj", logs.LogOptions(tail=5)).records()
    _until_idle(records)
    engine.event_sink(_event("die", "old", exitCode="137"))
    engine.log_sinks["old"]("stdout", None)
    engine.log_sinks["old"]("stderr", None)
    engine.event_sink(_event("destroy", "old"))
    engine.event_sink(_event("start", "new"))
    assert _texts(_until_idle(records)) == ["api exited with code 137", "api recreated"]
    assert engine.called("logs")[-1] == ("logs", "new", True, None, None, None)
    records.close()


def test_follow_waits_for_a_named_service_and_ignores_the_others():
    engine = FakeEngine([[state("db", id="c-db")]])
    records = logs.Follower(engine, "proj", logs.LogOptions(("api",))).records()
    _until_idle(records)
    assert engine.called("logs") == []
    engine.event_sink(_event("start", "c-db", service="db"))
    engine.event_sink(_event("start", "c-api"))
    assert _texts(_until_idle(records)) == ["api started"]
    assert [c[1] for c in engine.called("logs")] == ["c-api"]
    records.close()


def test_follow_ends_with_the_engines_error_when_the_event_feed_ends():
    from devenv.errors import EngineUnreachableError

    class Gone(FakeEngine):
        def info(self):
            raise EngineUnreachableError("the Docker engine is not reachable", hint="start Docker")

    engine = Gone([[state("api", id="c1")]])
    records = logs.Follower(engine, "proj", logs.LogOptions()).records()
    _until_idle(records)
    engine.event_sink(None)
    with pytest.raises(EngineUnreachableError):
        _until_idle(records)
    assert all(feed.ended for feed in engine.feeds)


def test_show_without_filters_merges_rendered_batches_and_splits_stderr_without_a_prefix():
    engine = FakeEngine([[state("api", id="c-api"), state("db", id="c-db")]])
    engine.log_lines = {
        "c-api": [("stdout", f"{T}000000001Z one"), ("stderr", f"{T}000000003Z three")],
        "c-db": [("stdout", f"{T}000000002Z two")],
    }
    out, err = io.StringIO(), io.StringIO()
    assert show(engine, "proj", ["api", "db"], (), LogsView(), out=out, err=err) == 0
    assert out.getvalue() == "api | one\ndb  | two\napi ! three\n"
    out, err = io.StringIO(), io.StringIO()
    view = LogsView(prefix=False)
    assert show(engine, "proj", ["api"], ("api",), view, containers=(("api", "c-api"),), out=out, err=err) == 0
    assert (out.getvalue(), err.getvalue()) == ("one\n", "three\n")
    assert engine.called("logs")[-1][1] == "c-api"


def test_tail_lines_for_ups_diagnosis_merges_streams_and_raises_what_docker_said():
    from devenv.errors import EngineError
    from tests.conftest import FakeFeed

    engine = FakeEngine()
    engine.log_lines = {"p-db-1": [("stderr", f"{T}000000002Z FATAL: bad"), ("stdout", f"{T}000000001Z starting")]}
    assert logs.tail_lines(engine, "p-db-1", 15) == ["starting", "FATAL: bad"]
    assert engine.called("logs") == [("logs", "p-db-1", False, None, None, 15)]

    class Failing(FakeEngine):
        def logs(self, container, sink, **options):
            super().logs(container, sink, **options)
            return FakeFeed(EngineError("docker failed: Error: No such container: p-db-1"))

    with pytest.raises(EngineError, match="No such container"):
        logs.tail_lines(Failing(), "p-db-1", 15)


# -- one container as one stream (the fast way off a terminal) -------------------------------
class FakeStream:
    """engine.LogStream's part: runs of (stream, bytes) as the engine stored them."""

    def __init__(self, runs: list[tuple[str, bytes]], problem=None) -> None:
        self._runs = runs
        self.problem = problem
        self.ended = False

    def runs(self):
        yield from self._runs

    def failure(self):
        return self.problem

    def end(self) -> None:
        self.ended = True


LINES = [
    ("stdout", "starting"),
    ("stderr", "warn: slow disk"),
    ("stdout", '{"level":"info","msg":"hi"}'),
    ("stdout", "crlf line\r"),
    ("stdout", "ünïcödé ✓"),
    ("stderr", "Traceback (most recent call last):"),
    ("stderr", "  boom"),
    ("stdout", ""),
    ("stdout", "last"),
]


def _split(data: bytes, sizes: list[int]) -> list[bytes]:
    pieces, pos = [], 0
    for size in sizes:
        pieces.append(data[pos : pos + size])
        pos += size
    return [*pieces, data[pos:]] if data[pos:] else pieces


def _as_stream(lines: list[tuple[str, str]], cuts: list[int]) -> FakeStream:
    """The lines as the engine streams them: consecutive lines of a stream in one run, each
    run cut into pieces (in the middle of lines and of UTF-8 characters)."""
    runs: list[tuple[str, bytes]] = []
    for stream, text in lines:
        data = text.encode() + b"\n"
        if runs and runs[-1][0] == stream:
            runs[-1] = (stream, runs[-1][1] + data)
        else:
            runs.append((stream, data))
    return FakeStream([(stream, piece) for stream, data in runs for piece in _split(data, cuts)])


def _both_ways(lines, view: LogsView, cuts: list[int]) -> tuple[tuple[str, str], tuple[str, str]]:
    """(out, err) of `show` the line-by-line way and the one-stream way, on the same lines."""
    found = []
    for fast in (False, True):
        engine = FakeEngine()
        engine.log_lines = {"p-api-1": [(s, f"{T}{i:09d}Z {text}") for i, (s, text) in enumerate(lines, 1)]}
        if fast:
            engine.streams = {"p-api-1": _as_stream(lines, cuts)}
        out, err = io.StringIO(), io.StringIO()
        assert show(engine, "p", ["api", "db"], ("api",), view, containers=(("api", "p-api-1"),), out=out, err=err) == 0
        assert [c[0] for c in engine.calls] == (["log_stream"] if fast else ["log_stream", "logs"])
        found.append((out.getvalue(), err.getvalue()))
    return found[0], found[1]


@pytest.mark.parametrize("cuts", [[], [1], [3, 5, 7], [len("ünï".encode()) - 1, 2, 1]])
@pytest.mark.parametrize("prefix", [True, False])
def test_one_container_read_as_one_stream_prints_what_the_line_by_line_way_prints(cuts, prefix):
    slow, fast = _both_ways(LINES, LogsView(prefix=prefix), cuts)
    assert fast == slow
    if prefix:
        assert fast[0].splitlines()[:2] == ["api | starting", "api ! warn: slow disk"]
        assert "api | crlf line\n" in fast[0] and "api | \n" in fast[0]
    else:
        assert (
            fast[0].startswith("starting\n")
            and fast[1] == "warn: slow disk\nTraceback (most recent call last):\n  boom\n"
        )


def test_a_last_line_without_a_newline_is_still_a_line():
    stream = FakeStream([("stdout", b"one\ntwo"), ("stderr", b"err")])
    render = logs.Renderer(["api"])
    assert list(logs.read_stream(stream, "api", render)) == [
        ("api | one\n", False),
        ("api | two\n", False),
        ("api ! err\n", False),
    ]
    assert stream.ended


def test_a_line_the_engine_stored_in_pieces_is_one_line():
    # the engine keeps a line longer than 16 KiB as pieces; each stream's pieces are joined
    stream = FakeStream([("stdout", b"x" * 5), ("stderr", b"e\n"), ("stdout", b"y" * 5 + b"\n")])
    text = "".join(text for text, _ in logs.read_stream(stream, "api", logs.Renderer(["api"])))
    assert text == "api ! e\napi | xxxxxyyyyy\n"


def test_one_stream_a_gone_container_is_a_note_and_other_failures_raise():
    from devenv.errors import EngineError

    engine = FakeEngine()
    gone = EngineError("docker failed: Error response from daemon: No such container: p-api-1")
    engine.streams = {"p-api-1": FakeStream([], gone)}
    out, err = io.StringIO(), io.StringIO()
    assert show(engine, "p", ["api"], ("api",), LogsView(), containers=(("api", "p-api-1"),), out=out, err=err) == 0
    assert (out.getvalue(), err.getvalue()) == ("", "note: api has no container (`devenv up` starts it)\n")
    broken = FakeStream(
        [("stdout", b"one\n")], EngineError("docker failed: configured logging driver does not support reading")
    )
    engine.streams = {"p-api-1": broken}
    with pytest.raises(EngineError, match="logging driver"):
        show(engine, "p", ["api"], ("api",), LogsView(), containers=(("api", "p-api-1"),), out=io.StringIO(), err=err)
    assert broken.ended


@pytest.mark.parametrize(
    "view",
    [
        LogsView(timestamps=True),
        LogsView(as_json=True),
        LogsView.from_options(grep="x"),
        LogsView.from_options(level="warn"),
    ],
)
def test_times_json_and_filters_read_line_by_line(view):
    engine = FakeEngine()
    engine.log_lines = {"p-api-1": [("stdout", f"{T}000000001Z x warn")]}
    engine.streams = {"p-api-1": FakeStream([("stdout", b"x warn\n")])}
    show(engine, "p", ["api"], ("api",), view, containers=(("api", "p-api-1"),), out=io.StringIO(), err=io.StringIO())
    assert engine.called("log_stream") == [] and len(engine.called("logs")) == 1


def test_several_services_are_merged_by_time_not_read_as_one_stream():
    engine = FakeEngine()
    engine.log_lines = {"p-api-1": [("stdout", f"{T}000000002Z a")], "p-db-1": [("stdout", f"{T}000000001Z d")]}
    engine.streams = {"p-api-1": FakeStream([("stdout", b"a\n")]), "p-db-1": FakeStream([("stdout", b"d\n")])}
    out = io.StringIO()
    containers = (("api", "p-api-1"), ("db", "p-db-1"))
    show(engine, "p", ["api", "db"], ("api", "db"), LogsView(), containers=containers, out=out, err=io.StringIO())
    assert out.getvalue() == "db  | d\napi | a\n" and engine.called("log_stream") == []


def test_a_terminal_gets_records_line_by_line():
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    engine = FakeEngine()
    engine.log_lines = {"p-api-1": [("stdout", f"{T}000000001Z hello")]}
    engine.streams = {"p-api-1": FakeStream([("stdout", b"hello\n")])}
    out = Terminal()
    show(engine, "p", ["api"], ("api",), LogsView(), containers=(("api", "p-api-1"),), out=out, err=io.StringIO())
    assert engine.called("log_stream") == [] and out.getvalue().endswith("hello\n")
