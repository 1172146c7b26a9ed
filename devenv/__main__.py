"""`python -m devenv` and the `devenv` script.

devenv's own Ctrl-C handler is installed once the CLI is imported; a Ctrl-C that comes
during that import (a fraction of a second) ends the same way: exit 130, one line."""

import sys


def main() -> int:
    try:
        from devenv import logs_early

        code = logs_early.run(sys.argv[1:])  # `devenv logs SERVICE` to a pipe or a file: at once
        if code is not None:
            return code
        from devenv.cli import main as run
    except KeyboardInterrupt:
        sys.stderr.write("error: interrupted\nhint: nothing had started yet\n")
        return 130
    return run()


if __name__ == "__main__":
    sys.exit(main())
