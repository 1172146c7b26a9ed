"""`devenv logs`: the services' log lines as an iterator of records, and how they are shown.

Three layers, each testable alone:

* pure parts: :func:`parse_line` (a `docker logs --timestamps` line to a :class:`Record`,
  JSON lines parsed), :func:`merge` (records of several containers in time order),
  :func:`parse_time` (``10m``, ``1h30m``, RFC 3339), :func:`parse_level` and
  :class:`LevelFilter`, :class:`Grep` (matches with context) and :class:`Renderer`
  (prefixed, coloured, structured or JSON text);
* :func:`read` — what the containers printed so far, merged in time order;
* :class:`Follower` — following them across restarts, crashes and recreations, driven by the
  engine's events: every ``docker logs`` it starts ends when it is closed, and a container
  re-read after a restart starts at the last line's time, with the lines already shown at
  that time skipped, so nothing is printed twice or lost.

Nothing here writes to a terminal; the command renders and writes.
"""

from __future__ import annotations

import dataclasses
import heapq
import json
import queue
import re
import time
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from operator import attrgetter
from typing import TYPE_CHECKING, Any, Protocol

from devenv.engine_types import ServiceState
from devenv.errors import DevenvError, EngineError, ExitCode

if TYPE_CHECKING:
    from devenv.interfaces import Engine

MARKER = "devenv"  # the stream of devenv's own lines (exits, restarts, recreations)
SEPARATOR = "separator"  # between two groups of --grep context
LEVELS = {
    "trace": 10,
    "debug": 20,
    "info": 30,
    "log": 30,  # Postgres
    "notice": 35,
    "warn": 40,
    "warning": 40,
    "error": 50,
    "err": 50,
    "fatal": 60,
    "critical": 60,
    "crit": 60,
    "panic": 60,
    "alert": 60,
    "emerg": 60,
}
LEVEL_NAMES = {10: "trace", 20: "debug", 30: "info", 35: "notice", 40: "warn", 50: "error", 60: "fatal"}
MESSAGE_KEYS = ("msg", "message", "event", "@message")  # pino/bunyan, most, structlog, logstash
LEVEL_KEYS = ("level", "lvl", "severity", "levelname", "@level")
TIME_KEYS = ("time", "timestamp", "ts", "@timestamp")
_TEXT_LEVEL = re.compile(
    r"^(?:\S*\d\d:\d\d\S*\s+(?:UTC\s+)?)?(?:\[\d+\]\s+)?\[?(?P<level>trace|debug|info|notice|warn|warning|error|fatal"
    r"|critical|panic)\]?(?::|\s|$)"
    r"|\blevel=\"?(?P<logfmt>\w+)"
    r"|\b(?P<pg>LOG|WARNING|ERROR|FATAL|PANIC):  ",
    re.I,
)


class UnknownServiceError(DevenvError):
    """A service name the project does not have (a usage error)."""

    code = ExitCode.USAGE


class OptionError(DevenvError):
    """An option value devenv cannot read (a time, a level, a regex)."""

    code = ExitCode.USAGE


@dataclass(slots=True)
class Record:
    """One log line (or one of devenv's marker lines)."""

    time: str  # RFC 3339 with nanoseconds, as docker gives it ('' for none)
    service: str
    container: str
    stream: str  # stdout, stderr, devenv (markers), separator
    message: str
    fields: dict[str, Any] | None = None  # the line parsed, when it was a JSON object
    key: str = ""  # time, comparable as text (nanoseconds always written out)
    extra: dict[str, Any] | None = None  # a marker's event and exit code
    text: str = ""  # rendered ahead, by read(render=...)
    to_stderr: bool = False


# -- pure parts --------------------------------------------------------------------------------
def time_key(stamp: str) -> str:
    """Docker's RFC3339Nano trims trailing zeros; write all nine digits so text compares."""
    if len(stamp) == 30:
        return stamp
    if len(stamp) < 20:
        return stamp
    fraction = stamp[20:-1] if stamp[19] == "." else ""
    return f"{stamp[:19]}.{fraction.ljust(9, '0')}Z"


def parse_line(raw: str, service: str, container: str, stream: str) -> Record:
    """A `docker logs --timestamps` line: its time, then the container's own text."""
    stamp, _, message = raw.partition(" ")
    if message.endswith("\r"):
        message = message[:-1]
    fields = None
    if message.startswith("{") and message.endswith("}"):
        try:
            parsed = json.loads(message)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            fields = parsed
    return Record(stamp, service, container, stream, message, fields, stamp if len(stamp) == 30 else time_key(stamp))


def marker(service: str, container: str, text: str, event: str, **extra: Any) -> Record:
    """One of devenv's own lines: what happened to a container."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return Record(stamp, service, container, MARKER, text, None, time_key(stamp), {"event": event, **extra})


def merge(streams: Iterable[Iterable[Record]]) -> Iterator[Record]:
    """Records of several streams, each already in time order, in one time order (stable:
    equal times keep the streams' order)."""
    return heapq.merge(*streams, key=attrgetter("key"))


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_time(text: str, now: datetime | None = None) -> datetime:
    """``--since``/``--until``: a duration back from now (``10m``, ``1h30m``, ``45s``,
    ``2d``) or an RFC 3339 time (``2025-01-31T09:00:00Z``; without a zone, local time)."""
    value = text.strip()
    now = now or datetime.now(UTC)
    if value and _DURATION.sub("", value) == "" and _DURATION.match(value):
        seconds = sum(float(n) * _UNITS[unit] for n, unit in _DURATION.findall(value))
        return now - timedelta(seconds=seconds)
    try:
        moment = datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError:
        raise OptionError(
            f"cannot read the time {text!r}",
            hint="give a duration back from now (10m, 1h30m, 45s, 2d) or an RFC 3339 time (2025-01-31T09:00:00Z)",
        ) from None
    if moment.tzinfo is None:
        moment = moment.astimezone()  # local time
    return moment.astimezone(UTC)


def docker_time(moment: datetime) -> str:
    """A time as `docker logs --since/--until` takes it."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_level(text: str) -> int:
    """``--level``: a level's name (trace, debug, info, warn, error, fatal)."""
    found = LEVELS.get(text.strip().lower())
    if found is None:
        raise OptionError(f"unknown level {text!r}", hint="use one of: trace, debug, info, warn, error, fatal")
    return found


def parse_tail(text: str | None) -> int | None:
    """``--tail``: a number of lines, or ``all``."""
    if text is None or text.strip().lower() == "all":
        return None
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise OptionError(f"--tail takes a number of lines or 'all', not {text!r}", hint="for example: --tail 100")
    return value


def compile_grep(pattern: str | None) -> re.Pattern[str] | None:
    if pattern is None:
        return None
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise OptionError(f"--grep {pattern!r} is not a regular expression: {exc}", hint="Python's re syntax") from None


def level_of(record: Record) -> int | None:
    """The line's level: its JSON level field (names or pino/bunyan numbers), else a level
    word where loggers put it (first, after a time, `level=`, Postgres' `LOG:`)."""
    if record.fields is not None:
        for key in LEVEL_KEYS:
            value = record.fields.get(key)
            if isinstance(value, int | float) and not isinstance(value, bool):
                return int(value)
            if isinstance(value, str) and value.lower() in LEVELS:
                return LEVELS[value.lower()]
    match = _TEXT_LEVEL.search(record.message[:120])
    if match:
        word = (match["level"] or match["logfmt"] or match["pg"] or "").lower()
        return LEVELS.get(word)
    return None


_CONTINUATION = re.compile(r"\s|at |Caused by|Traceback|\.\.\. \d+ more")


class LevelFilter:
    """``--level``: keeps lines at the level or worse. A line with no level of its own is
    left out, unless it continues the line before it in the same container (indented, `at `,
    `Caused by`, `Traceback`: a stack trace goes with its error). Markers always pass."""

    def __init__(self, least: int) -> None:
        self.least = least
        self._last: dict[str, int | None] = {}

    def keep(self, record: Record) -> bool:
        if record.stream == MARKER:
            return True
        level = level_of(record)
        if level is None and _CONTINUATION.match(record.message):
            level = self._last.get(record.container)
        else:
            self._last[record.container] = level
        return level is not None and level >= self.least


class Grep:
    """``--grep`` with ``-C N``: matching lines and N lines around each, per container, with
    a separator record between groups that are not adjacent (as grep does). Markers pass."""

    def __init__(self, pattern: re.Pattern[str], context: int = 0) -> None:
        self.pattern = pattern
        self.context = max(context, 0)
        self._before: dict[str, deque[Record]] = {}
        self._after: dict[str, int] = {}
        self._gap: dict[str, bool] = {}  # a line was left out since the last one shown
        self._shown: set[str] = set()  # containers with a match shown

    def feed(self, record: Record) -> list[Record]:
        if record.stream == MARKER:
            return [record]
        container = record.container
        before = self._before.setdefault(container, deque(maxlen=self.context))
        if self.pattern.search(record.message):
            shown = [*before, record]
            before.clear()
            self._after[container] = self.context
            gap = self._gap.get(container) and container in self._shown
            self._gap[container] = False
            self._shown.add(container)
            if gap and self.context:
                separator = Record(record.time, record.service, container, SEPARATOR, "--", None, record.key)
                return [separator, *shown]
            return shown
        if self._after.get(container, 0) > 0:
            self._after[container] -= 1
            return [record]
        if self.context:
            if len(before) == before.maxlen:
                self._gap[container] = True
            before.append(record)
        elif container in self._gap or container in self._after:
            self._gap[container] = True
        return []


def structured(record: Record) -> tuple[str, str, str, list[tuple[str, Any]]] | None:
    """A JSON line with a message and a level, as (time, level, message, other fields)."""
    fields = record.fields
    if fields is None:
        return None
    message_key = next((k for k in MESSAGE_KEYS if isinstance(fields.get(k), str)), None)
    level_key = next((k for k in LEVEL_KEYS if k in fields), None)
    if message_key is None or level_key is None:
        return None
    raw_level = fields[level_key]
    if isinstance(raw_level, int | float) and not isinstance(raw_level, bool):
        level = LEVEL_NAMES.get(int(raw_level), str(raw_level))
    else:
        level = str(raw_level).lower()
    level = "warn" if level == "warning" else level
    used = {message_key, level_key, *TIME_KEYS}
    rest = [(k, v) for k, v in fields.items() if k not in used]
    return _clock(record.time), level, str(fields[message_key]), rest


def _clock(stamp: str) -> str:
    """HH:MM:SS.mmm in local time, from docker's RFC 3339 time."""
    try:
        moment = datetime.fromisoformat(stamp[:26].rstrip("Z") + "+00:00")
    except ValueError:
        return stamp
    return moment.astimezone().strftime("%H:%M:%S.%f")[:-3]


def _value(value: Any) -> str:
    if isinstance(value, str) and value and not any(c.isspace() or c in '"=' for c in value):
        return value
    return json.dumps(value, ensure_ascii=False)


_COLOURS = ("36", "33", "32", "35", "34", "96", "93", "92", "95", "94")
_LEVEL_COLOURS = {
    "trace": "2",
    "debug": "2",
    "info": "32",
    "notice": "36",
    "warn": "33",
    "error": "31",
    "fatal": "1;31",
}


class Renderer:
    """A record as the text to write, and whether it goes to stderr.

    * default: ``service | message`` (stdout lines), ``service ! message`` (stderr lines),
      ``service * text`` (devenv's markers); names padded to the longest, coloured per service
      when ``colour``; ``timestamps`` puts docker's time before the message;
    * ``pretty`` (on a terminal): a JSON line with a message and a level as
      ``time level message key=value…``;
    * ``prefix=False``: the container's text alone; its stderr lines go to stderr, markers too,
      so stdout holds exactly what the containers printed on theirs;
    * ``as_json``: one JSON object per line (time, service, container, stream, message, and
      the parsed fields of a JSON line).
    """

    def __init__(
        self,
        services: Iterable[str],
        *,
        colour: bool = False,
        prefix: bool = True,
        timestamps: bool = False,
        pretty: bool = False,
        as_json: bool = False,
    ) -> None:
        names = sorted(set(services))
        self.width = max((len(name) for name in names), default=0)
        self.colour = colour
        self.prefix = prefix
        self.timestamps = timestamps
        self.pretty = pretty
        self.as_json = as_json
        self._prefixes: dict[tuple[str, str], str] = {}
        self._palette = {name: _COLOURS[i % len(_COLOURS)] for i, name in enumerate(names)}

    @property
    def simple(self) -> bool:
        """Whether a line's text alone decides its rendering (no JSON, times or structure)."""
        return not (self.as_json or self.pretty or self.timestamps)

    def batch(self, service: str, stream: str, raws: list[str]) -> tuple[str, bool]:
        """Raw `docker logs --timestamps` lines of one stream rendered at once (``simple`` only)."""
        if self.prefix:
            prefix = self._prefix(service, stream)
            return "".join([prefix + raw.partition(" ")[2].removesuffix("\r") + "\n" for raw in raws]), False
        return "".join([raw.partition(" ")[2].removesuffix("\r") + "\n" for raw in raws]), stream != "stdout"

    def block(self, service: str, stream: str, text: str) -> tuple[str, bool]:
        """Whole lines of one stream without times (each ending in a newline) rendered at
        once, as ``batch`` renders them line by line (``simple`` only): no object per line,
        the prefix put in with one ``replace``."""
        text = text.replace("\r\n", "\n")
        if self.prefix:
            prefix = self._prefix(service, stream)
            return prefix + text[:-1].replace("\n", "\n" + prefix) + "\n", False
        return text, stream != "stdout"

    def __call__(self, record: Record) -> tuple[str, bool]:
        if self.as_json:
            return self._json(record), False
        if record.stream == SEPARATOR:
            return "--\n", False
        text = record.message
        if self.pretty and record.fields is not None:
            text = self._structured(record) or text
        if self.timestamps and record.time:
            text = f"{record.time} {text}"
        if record.stream == MARKER and self.colour:
            text = f"\x1b[1m{text}\x1b[0m"
        if not self.prefix:
            return text + "\n", record.stream != "stdout"
        return self._prefix(record.service, record.stream) + text + "\n", False

    def _prefix(self, service: str, stream: str) -> str:
        found = self._prefixes.get((service, stream))
        if found is None:
            self.width = max(self.width, len(service))
            sign = {"stdout": "|", "stderr": "!"}.get(stream, "*")
            name = service.ljust(self.width)
            if self.colour:
                colour = self._palette.setdefault(service, _COLOURS[len(self._palette) % len(_COLOURS)])
                sign_colour = "31" if stream == "stderr" else colour
                found = f"\x1b[{colour}m{name}\x1b[0m \x1b[{sign_colour}m{sign}\x1b[0m "
            else:
                found = f"{name} {sign} "
            self._prefixes[(service, stream)] = found
        return found

    def _structured(self, record: Record) -> str | None:
        found = structured(record)
        if found is None:
            return None
        clock, level, message, rest = found
        pairs = " ".join(f"{k}={_value(v)}" for k, v in rest)
        if self.colour:
            level_text = f"\x1b[{_LEVEL_COLOURS.get(level, '0')}m{level:<5}\x1b[0m"
            pairs = " ".join(f"\x1b[2m{k}=\x1b[0m{_value(v)}" for k, v in rest)
            return f"\x1b[2m{clock}\x1b[0m {level_text} {message}" + (f" {pairs}" if pairs else "")
        return f"{clock} {level:<5} {message}" + (f" {pairs}" if pairs else "")

    def _json(self, record: Record) -> str:
        item: dict[str, Any] = {
            "time": record.time,
            "service": record.service,
            "container": record.container,
            "stream": record.stream,
            "message": record.message,
        }
        if record.fields is not None:
            item["fields"] = record.fields
        if record.extra:
            item.update(record.extra)
        return json.dumps(item, ensure_ascii=False) + "\n"


# -- reading -----------------------------------------------------------------------------------
class LogFeed(Protocol):
    """A `docker logs` or `docker events` process devenv started (engine.LogReader/EventFeed)."""

    def failure(self) -> DevenvError | None: ...
    def end(self) -> None: ...


class LogStream(Protocol):
    """One container's logs so far as the engine stored them (engine.LogStream): runs of
    ("stdout" | "stderr", bytes) in order, no times."""

    def runs(self) -> Iterator[tuple[str, bytes]]: ...
    def failure(self) -> DevenvError | None: ...
    def end(self) -> None: ...


@dataclass(frozen=True)
class LogOptions:
    services: tuple[str, ...] = ()  # () means every service
    since: str | None = None  # docker time (see docker_time)
    until: str | None = None
    tail: int | None = None  # None: every line
    # (service, container name) to read without listing the containers first (read only)
    containers: tuple[tuple[str, str], ...] = ()


def check_services(wanted: Iterable[str], known: Iterable[str]) -> None:
    known = sorted(set(known))
    for name in wanted:
        if name not in known:
            raise UnknownServiceError(
                f"no service named {name!r} in this project",
                hint=f"the services are: {', '.join(known) or '(none)'}",
            )


def _chosen(states: list[ServiceState], options: LogOptions) -> list[ServiceState]:
    return [s for s in states if not options.services or s.service in options.services]


def read(engine: Engine, project: str, options: LogOptions) -> Generator[Record, None, None]:
    """What the chosen services' containers printed so far, merged in time order."""
    batches = read_batches(engine, project, options)
    try:
        for batch in batches:
            yield from batch
    finally:
        batches.close()


def tail_lines(engine: Engine, container: str, lines: int) -> list[str]:
    """A container's last lines, stdout and stderr in time order, as text (``up``'s
    diagnosis); raises the engine's error when they cannot be read."""
    options = LogOptions(tail=lines, containers=((container, container),))
    return [record.message for batch in read_batches(engine, "", options, strict=True) for record in batch]


def read_batches(
    engine: Engine,
    project: str,
    options: LogOptions,
    render: Renderer | None = None,
    *,
    strict: bool = False,
    missing: Callable[[str], None] | None = None,
) -> Generator[list[Record], None, None]:
    """What the chosen services' containers printed so far, in time order, in batches.

    One `docker logs` per container, all at once, each stream read by a thread into a queue
    of raw batches while docker streams. The streams are merged in time order. When only one
    stream has lines (one container that wrote nothing on stderr: the common case, and the
    200,000-line one), its batches pass whole: with a ``render`` that needs nothing but the
    text (``Renderer.simple``), a batch becomes one record whose ``text`` is the batch
    rendered, without a record per line. A container that is gone is skipped (and named to
    ``missing``), unless ``strict``. Every process is ended when the iterator is closed."""
    if options.containers:
        chosen = [(service, name, name) for service, name in options.containers]
    else:
        states = _chosen(engine.services(project), options)
        chosen = [(s.service, s.name, s.id or s.name) for s in sorted(states, key=lambda s: (s.service, s.name))]
    feeds: list[_Feed] = []
    readers: list[LogFeed] = []
    try:
        for service, name, address in chosen:
            pair = {stream: _Feed(service, name, stream) for stream in ("stdout", "stderr")}
            feeds.extend(pair.values())

            def sink(stream: str, lines: list[str] | None, pair: dict[str, _Feed] = pair) -> None:
                pair[stream].queue.put(lines)

            readers.append(engine.logs(address, sink, since=options.since, until=options.until, tail=options.tail))
        yield from _merge_feeds(feeds, render)
        for reader, (service, _, _) in zip(readers, chosen, strict=True):
            problem = reader.failure()
            gone = problem is not None and "no such container" in (problem.details or problem.message).lower()
            if problem is not None and (strict or not gone):
                raise problem
            if gone and missing is not None:
                missing(service)
    finally:
        for reader in readers:
            reader.end()


def read_stream(
    stream: LogStream,
    service: str,
    render: Renderer,
    *,
    missing: Callable[[str], None] | None = None,
) -> Generator[tuple[str, bool], None, None]:
    """One container's logs so far from the engine's single stream, rendered a block at a time
    (``render.simple`` only): the fast way for `devenv logs SERVICE` off a terminal. The same
    text as :func:`read_batches` renders, without a record per line; the lines come in the
    order the engine stored them (as `docker logs` and Compose show them), where the other way
    orders them by their times. A line is assembled per stream, as the engine may store a long
    one in pieces. A container that is gone is named to ``missing``; any other failure raises.
    The connection is closed when the iterator is."""
    rest = {"stdout": b"", "stderr": b""}
    try:
        for name, data in stream.runs():
            data = rest[name] + data if rest[name] else data
            cut = data.rfind(b"\n") + 1
            rest[name] = data[cut:]
            if cut:
                yield render.block(service, name, data[:cut].decode("utf-8", "replace"))
        for name, data in rest.items():
            if data:
                yield render.block(service, name, data.decode("utf-8", "replace") + "\n")
        problem = stream.failure()
        if problem is not None:
            if "no such container" not in (problem.details or problem.message).lower():
                raise problem
            if missing is not None:
                missing(service)
    finally:
        stream.end()


@dataclass
class _Feed:
    """One stream of one container: raw `docker logs --timestamps` lines in batches."""

    service: str
    container: str
    stream: str
    queue: queue.SimpleQueue[list[str] | None] = dataclasses.field(default_factory=queue.SimpleQueue)

    def records(self, batch: list[str] | None) -> Iterator[Record]:
        while batch is not None:
            for raw in batch:
                yield parse_line(raw, self.service, self.container, self.stream)
            batch = _get(self.queue)

    def parsed(self, batch: list[str], render: Renderer | None) -> list[Record]:
        if render is not None and render.simple:
            text, to_stderr = render.batch(self.service, self.stream, batch)
            return [Record("", self.service, self.container, self.stream, "", text=text, to_stderr=to_stderr)]
        records = [parse_line(raw, self.service, self.container, self.stream) for raw in batch]
        if render is not None:
            for record in records:
                record.text, record.to_stderr = render(record)
        return records


def _merge_feeds(feeds: list[_Feed], render: Renderer | None) -> Iterator[list[Record]]:
    """Batches of several time-ordered feeds in one time order."""
    firsts = [(feed, _get(feed.queue)) for feed in feeds]
    live = [(feed, first) for feed, first in firsts if first is not None]
    if len(live) == 1:
        feed, batch = live[0]
        while batch is not None:
            yield feed.parsed(batch, render)
            batch = _get(feed.queue)
        return
    chunk: list[Record] = []
    for record in merge(feed.records(first) for feed, first in live):
        if render is not None:
            record.text, record.to_stderr = render(record)
        chunk.append(record)
        if len(chunk) >= 512:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _get(feed: queue.SimpleQueue[Any]) -> Any:
    """Wait for the next item; a timeout now and then lets Ctrl-C through at once."""
    while True:
        try:
            return feed.get(timeout=0.5)
        except queue.Empty:
            continue


@dataclass
class _Attached:
    """One `docker logs --follow` of a container, and what of it was seen."""

    container: str  # id
    service: str
    name: str
    reader: LogFeed | None = None
    open_streams: int = 2
    skip_key: str = ""  # lines before this time were shown already
    skip_at_key: int = 0  # and this many at exactly that time
    generation: int = 0


class Follower:
    """Follows the chosen services' logs until closed: ``records()`` yields records, and
    ``None`` whenever it has nothing more for now (a moment to flush the output).

    Driven by the project's container events: a container that starts is read from its
    start (a recreated one: its new id) or, when it was read before (a restart), from the
    time of the last line shown, skipping the lines already shown at that time. Its reader
    ends when the container stops (docker's own follow stops there); the die event gives the
    marker's exit code. A feed that fails because the engine went away ends the follow with
    that error."""

    def __init__(self, engine: Engine, project: str, options: LogOptions, *, wall: Callable[[], float] = time.time):
        self.engine = engine
        self.project = project
        self.options = options
        self._inbox: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()
        self._attached: dict[str, _Attached] = {}  # container id -> its current reader
        self._seen: dict[str, tuple[str, int]] = {}  # container id -> (last time shown, lines at it)
        self._service_of: dict[str, str] = {}  # container id -> service
        self._current: dict[str, str] = {}  # service -> its newest container id
        self._exits: dict[str, int] = {}  # died, marker not shown yet
        self._died: set[str] = set()  # died while attached (a start then means a restart)
        self._restart: set[str] = set()  # started again before its reader ended
        self._events: LogFeed | None = None
        self._began = wall()
        self._generation = 0

    def _wanted(self, service: str) -> bool:
        return not self.options.services or service in self.options.services

    def records(self) -> Generator[Record | None, None, None]:
        try:
            since = f"{self._began - 1:.6f}"  # replays what happened while the containers were listed
            self._events = self.engine.log_events(self.project, lambda event: self._inbox.put(("event", event)), since)
            for current in _chosen(self.engine.services(self.project), self.options):
                self._service_of[current.id] = current.service
                self._current[current.service] = current.id
                if current.state in ("exited", "dead"):
                    self._exits[current.id] = current.exit_code
                self._attach(current.id, current.service, current.name, first=True)
            yield None
            while True:
                item = _get(self._inbox)
                yield from self._handle(item)
                while True:  # take what is already there before saying "nothing more for now"
                    try:
                        item = self._inbox.get_nowait()
                    except queue.Empty:
                        break
                    yield from self._handle(item)
                yield None
        finally:
            self.close()

    def close(self) -> None:
        if self._events is not None:
            self._events.end()
        for attached in list(self._attached.values()):
            if attached.reader is not None:
                attached.reader.end()
        self._attached.clear()

    # -- what comes in ---------------------------------------------------------------------
    def _handle(self, item: tuple[Any, ...]) -> Iterator[Record]:
        if item[0] == "event":
            yield from self._event(item[1])
            return
        _, container, generation, stream, lines = item
        attached = self._attached.get(container)
        if attached is None or attached.generation != generation:
            return  # a reader ended already
        if lines is None:
            attached.open_streams -= 1
            if attached.open_streams == 0:
                yield from self._ended(attached)
            return
        yield from self._lines(attached, stream, lines)

    def _lines(self, attached: _Attached, stream: str, lines: list[str]) -> Iterator[Record]:
        last_key, at_last = self._seen.get(attached.container, ("", 0))
        for raw in lines:
            record = parse_line(raw, attached.service, attached.name, stream)
            key = record.key
            if key < attached.skip_key:
                continue
            if key == attached.skip_key and attached.skip_at_key > 0:
                attached.skip_at_key -= 1
                continue
            if key > last_key:
                last_key, at_last = key, 1
            elif key == last_key:
                at_last += 1
            yield record
        self._seen[attached.container] = (last_key, at_last)

    def _ended(self, attached: _Attached) -> Iterator[Record]:
        del self._attached[attached.container]
        container = attached.container
        problem = None
        if attached.reader is not None:
            problem = attached.reader.failure()
            attached.reader.end()
        if problem is not None:
            text = (problem.details or problem.message).lower()
            if "no such container" not in text:
                raise self._engine_problem(problem)
        if container in self._exits:
            code = self._exits.pop(container)
            yield marker(
                attached.service, attached.name, f"{attached.service} exited with code {code}", "exit", code=code
            )
        if container in self._restart:
            self._restart.discard(container)
            self._died.discard(container)
            yield marker(attached.service, attached.name, f"{attached.service} restarted", "restart")
            self._attach(container, attached.service, attached.name)

    def _event(self, event: dict[str, Any] | None) -> Iterator[Record]:
        if event is None:
            raise self._engine_problem(self._events.failure() if self._events is not None else None)
        action = event.get("Action") or event.get("status") or ""
        container = event.get("id") or (event.get("Actor") or {}).get("ID") or ""
        attributes = (event.get("Actor") or {}).get("Attributes") or {}
        service = attributes.get("com.docker.compose.service") or self._service_of.get(container, "")
        name = attributes.get("name") or container[:12]
        if not service or not self._wanted(service) or attributes.get("com.docker.compose.oneoff") == "True":
            return
        if action == "die":
            code = int(attributes.get("exitCode") or 0)
            if container in self._attached:
                self._exits[container] = code
                self._died.add(container)
                self._restart.discard(container)
            elif container in self._seen or container in self._service_of:
                self._exits.pop(container, None)
                yield marker(service, name, f"{service} exited with code {code}", "exit", code=code)
        elif action == "start":
            if container in self._attached:
                if container in self._died:
                    self._restart.add(container)
                return
            before = self._current.get(service)
            known = container in self._seen or container in self._service_of
            self._service_of[container] = service
            self._current[service] = container
            self._exits.pop(container, None)
            if known:
                yield marker(service, name, f"{service} restarted", "restart")
            elif before is not None and before != container:
                yield marker(service, name, f"{service} recreated", "recreate")
            else:
                yield marker(service, name, f"{service} started", "start")
            self._attach(container, service, name)

    def _attach(self, container: str, service: str, name: str, *, first: bool = False) -> None:
        """Start reading a container: the first time as the options say; again (a restart)
        from the last line shown; a container never read before from its start."""
        self._generation += 1
        attached = _Attached(container, service, name, generation=self._generation)
        since, tail = None, None
        if first:
            since, tail = self.options.since, self.options.tail
        elif container in self._seen:
            attached.skip_key, attached.skip_at_key = self._seen[container]
            since = attached.skip_key
        elif container in self._service_of and self._current.get(service) == container:
            since = self.options.since  # restarted before it printed anything
        self._attached[container] = attached
        generation = self._generation

        def sink(stream: str, lines: list[str] | None) -> None:
            self._inbox.put(("log", container, generation, stream, lines))

        attached.reader = self.engine.logs(container, sink, follow=True, since=since, tail=tail)
        if first and tail is not None and container not in self._seen:
            # lines printed after this moment are new; a restart before any was shown reads from here
            self._seen[container] = (time_key(docker_time(datetime.fromtimestamp(self._began, UTC))), 0)

    def _engine_problem(self, problem: DevenvError | None) -> DevenvError:
        """The engine went away (or its feed broke): the clearest error there is."""
        from devenv.errors import EngineUnreachableError

        if isinstance(problem, EngineUnreachableError):
            return problem
        try:
            self.engine.info()  # raises EngineUnreachableError when nobody answers
        except DevenvError as exc:
            return exc
        if problem is not None:
            return problem
        return EngineError(
            "the engine's event stream ended while following the logs",
            hint="run `devenv logs -f` again; `docker info` shows whether the engine is well",
        )
