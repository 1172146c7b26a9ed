import sys

from devenv.cli import main

if __name__ == "__main__":
    sys.exit(main())
