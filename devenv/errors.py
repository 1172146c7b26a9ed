"""Errors raised on purpose, and the exit codes they map to.

Every failure a user can cause or fix is a :class:`DevenvError` carrying a one-line message,
a hint and an exit code. The CLI renders them in one place (``devenv.cli``); anything else is
an unexpected error, reported as such with its traceback written to a log file.

Exit codes are grouped so scripts can branch on the kind of failure; they are documented in
``docs/reference/exit-codes.md`` and tested to stay stable.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    UNEXPECTED = 1
    USAGE = 2
    # the project's files
    NO_PROJECT = 10
    INVALID_CONFIG = 11
    PROJECT_EXISTS = 12  # init: a devenv.yaml is there already (--force replaces it)
    # the engine
    NO_DOCKER = 20
    ENGINE_UNREACHABLE = 21
    COMPOSE_MISSING = 22
    ENGINE_ERROR = 23
    # before starting
    PORT_IN_USE = 30
    BUILD_FAILED = 31
    PROJECT_BUSY = 32  # another devenv command holds this project's lock
    # while starting
    SERVICE_FAILED = 40
    TIMEOUT = 41
    NOT_RUNNING = 42  # shell, exec, open: the service has no running container
    SEED_FAILED = 43  # migrate, a seed or a data command (reset) failed; the stack is left running
    # the user said no
    ABORTED = 50
    # doctor and check found problems
    CHECKS_FAILED = 60
    INTERRUPTED = 130


class DevenvError(Exception):
    """An expected failure: one line of message, one line of hint, one exit code."""

    code: ExitCode = ExitCode.UNEXPECTED

    def __init__(self, message: str, hint: str = "", *, details: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        # extra lines shown under the message (build step output, probe output, logs)
        self.details = details


class NoProjectError(DevenvError):
    code = ExitCode.NO_PROJECT


class ConfigError(DevenvError):
    code = ExitCode.INVALID_CONFIG


class ProjectExistsError(DevenvError):
    code = ExitCode.PROJECT_EXISTS


class NoDockerError(DevenvError):
    code = ExitCode.NO_DOCKER


class EngineUnreachableError(DevenvError):
    code = ExitCode.ENGINE_UNREACHABLE


class ComposeMissingError(DevenvError):
    code = ExitCode.COMPOSE_MISSING


class EngineError(DevenvError):
    """A docker command failed in a way devenv has no more specific name for."""

    code = ExitCode.ENGINE_ERROR


class PortInUseError(DevenvError):
    code = ExitCode.PORT_IN_USE


class BuildFailedError(DevenvError):
    code = ExitCode.BUILD_FAILED


class ProjectBusyError(DevenvError):
    code = ExitCode.PROJECT_BUSY


class ServiceFailedError(DevenvError):
    code = ExitCode.SERVICE_FAILED


class StartTimeoutError(DevenvError):
    code = ExitCode.TIMEOUT


class UsageError(DevenvError):
    """A command line that names something the project does not have (a service)."""

    code = ExitCode.USAGE


class NotRunningError(DevenvError):
    code = ExitCode.NOT_RUNNING


class SeedFailedError(DevenvError):
    """Migrations, seeds or a data command (seed, reset) failed."""

    code = ExitCode.SEED_FAILED


class AbortedError(DevenvError):
    code = ExitCode.ABORTED


class InterruptedByUser(BaseException):
    """Ctrl-C. Raised from devenv's own SIGINT handler, so cleanup code runs and the CLI
    renders it like an error, with exit code 130.

    A ``BaseException``, like ``KeyboardInterrupt``: code that handles failures with
    ``except Exception`` (devenv's engine module, python-on-whales) must never catch it and
    turn an interrupt into an engine error. It is not a ``KeyboardInterrupt`` because the CLI
    framework turns those into a silent abort."""

    code = ExitCode.INTERRUPTED
    message = "interrupted"
    hint = "what had started keeps running: `devenv status` shows it, `devenv down` stops it"
    details = ""
