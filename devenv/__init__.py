"""devenv: one command to a working local stack on Docker Compose."""

__version__ = "0.1.0"
