"""Writing `devenv logs`' records: the options a user gave, the filters they make, the
renderer, and the loop that writes (flushing whenever the source pauses), which ends
quietly when the reader of a pipe goes away (`devenv logs -f | head`) or on Ctrl-C."""

from __future__ import annotations

import os
import sys
from collections.abc import Generator, Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, TextIO

from devenv import logs
from devenv.errors import ExitCode, InterruptedByUser

if TYPE_CHECKING:
    from devenv.interfaces import Engine
    from devenv.up import UpResult


@dataclass(frozen=True)
class LogsView:
    follow: bool = False
    tail: int | None = None
    since: str | None = None  # docker time
    until: str | None = None
    timestamps: bool = False
    grep: logs.re.Pattern[str] | None = None
    context: int = 0
    level: int | None = None
    prefix: bool = True
    as_json: bool = False

    @classmethod
    def from_options(
        cls,
        *,
        follow: bool = False,
        tail: str | None = None,
        since: str | None = None,
        until: str | None = None,
        timestamps: bool = False,
        grep: str | None = None,
        context: int = 0,
        level: str | None = None,
        prefix: bool = True,
        as_json: bool = False,
    ) -> LogsView:
        """The command line's values read and checked (a usage error names the bad one)."""
        if follow and until is not None:
            raise logs.OptionError("--until cannot be used with --follow", hint="drop one of them")
        if context and grep is None:
            raise logs.OptionError("-C/--context needs --grep", hint="for example: --grep ERROR -C 3")
        return cls(
            follow=follow,
            tail=logs.parse_tail(tail),
            since=logs.docker_time(logs.parse_time(since)) if since is not None else None,
            until=logs.docker_time(logs.parse_time(until)) if until is not None else None,
            timestamps=timestamps,
            grep=logs.compile_grep(grep),
            context=context,
            level=logs.parse_level(level) if level is not None else None,
            prefix=prefix,
            as_json=as_json,
        )

    def options(self, services: tuple[str, ...], containers: tuple[tuple[str, str], ...] = ()) -> logs.LogOptions:
        return logs.LogOptions(services, self.since, self.until, self.tail, containers)


def filtered(source: Iterator[logs.Record | None], view: LogsView) -> Iterator[logs.Record | None]:
    """--level, then --grep (its context counts the lines --level kept)."""
    levels = logs.LevelFilter(view.level) if view.level is not None else None
    grep = logs.Grep(view.grep, view.context) if view.grep is not None else None
    for record in source:
        if record is None:
            yield None
            continue
        if levels is not None and not levels.keep(record):
            continue
        if grep is None:
            yield record
        else:
            yield from grep.feed(record)


def colour_wanted(stream: TextIO) -> bool:
    terminal = hasattr(stream, "isatty") and stream.isatty()
    return terminal and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"


def show(
    engine: Engine,
    project: str,
    known: list[str],
    services: tuple[str, ...],
    view: LogsView,
    *,
    containers: tuple[tuple[str, str], ...] = (),
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Read (or follow) and write; the exit code. Every docker process ends before it returns.
    ``containers``: (service, container name) of named services, read without listing first."""
    out = out or sys.stdout
    err = err or sys.stderr
    terminal = hasattr(out, "isatty") and out.isatty()
    renderer = logs.Renderer(
        services or known,
        colour=colour_wanted(out),
        prefix=view.prefix,
        timestamps=view.timestamps,
        pretty=terminal,
        as_json=view.as_json,
    )
    options = view.options(services, containers)
    plain = view.level is None and view.grep is None
    if not view.follow and plain:

        def missing(service: str) -> None:
            err.write(f"note: {service} has no container (`devenv up` starts it)\n")

        if renderer.simple and len(containers) == 1:  # one container: no merge, no times needed
            service, name = containers[0]
            stream = engine.log_stream(name, since=view.since, until=view.until, tail=view.tail)
            if stream is not None:
                return _write_batches(logs.read_stream(stream, service, renderer, missing=missing), out, err)
        return _write_batches(logs.read_batches(engine, project, options, renderer, missing=missing), out, err)
    source = logs.Follower(engine, project, options).records() if view.follow else logs.read(engine, project, options)
    try:
        for record in source if plain else filtered(source, view):
            if record is None:
                out.flush()
                err.flush()
                continue
            text, to_stderr = renderer(record)
            (err if to_stderr else out).write(text)
        out.flush()
    except BrokenPipeError:  # `devenv logs | head`: the reader has all it wanted
        _drop_stdout()
        return ExitCode.OK
    except InterruptedByUser:  # Ctrl-C is how a follow ends
        _flush_quietly(out)
        return ExitCode.INTERRUPTED
    finally:
        source.close()  # ends every docker process it started
    return ExitCode.OK


def _write_batches(
    source: Generator[list[logs.Record], None, None] | Generator[tuple[str, bool], None, None],
    out: TextIO,
    err: TextIO,
) -> int:
    """The fast way for what was printed so far, unfiltered: lines rendered ahead (by the
    readers' threads, or a block at a time from one stream), written a batch at a time."""
    try:
        for batch in source:
            if isinstance(batch, tuple):  # a rendered block: (text, to stderr)
                (err if batch[1] else out).write(batch[0])
            elif any(record.to_stderr for record in batch):
                for record in batch:
                    (err if record.to_stderr else out).write(record.text)
            else:
                out.write("".join([record.text for record in batch]))
        out.flush()
    except BrokenPipeError:
        _drop_stdout()
    except InterruptedByUser:
        _flush_quietly(out)
        return ExitCode.INTERRUPTED
    finally:
        source.close()
    return ExitCode.OK


def _drop_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's last flush does not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


def _flush_quietly(stream: TextIO) -> None:
    try:
        stream.flush()
    except (BrokenPipeError, OSError, ValueError):
        _drop_stdout()


def follow_after_up(engine: Engine, project: str, known: list[str], result: UpResult, *, as_json: bool) -> int:
    """`devenv up --follow`: once the stack is ready, follow every service's logs (what this up
    started, from its start; an unchanged stack from its last 10 lines) until Ctrl-C, which
    ends the follow and leaves the stack running (exit 0)."""
    from datetime import UTC, datetime

    if result.changed:
        view = LogsView(follow=True, since=logs.docker_time(datetime.fromtimestamp(result.started_at, UTC)))
    else:
        view = LogsView(follow=True, tail=10)
    view = replace(view, as_json=as_json)
    sys.stderr.write("following the logs; Ctrl-C stops following (the stack keeps running)\n")
    code = show(engine, project, known, (), view)
    return ExitCode.OK if code == ExitCode.INTERRUPTED else code
